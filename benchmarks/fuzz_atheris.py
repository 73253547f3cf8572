"""Coverage-guided fuzzing of the analytic path with atheris (libFuzzer), beside tests/test_fuzz.py.

Not part of CI (atheris is optional: `pip install atheris`). Any exception other than ConvcostError
is a finding; libFuzzer stops and writes the input to crash-*. Seeds: the shipped configs and the
bad-spec corpus.

    python benchmarks/fuzz_atheris.py -max_total_time=600 -timeout=10 -rss_limit_mb=1024 \\
        /tmp/convcost-corpus configs tests/bad_specs
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

with atheris.instrument_imports():
    from hostile import run_pipeline

    from convcost.errors import ConvcostError


def one_input(data: bytes) -> None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return  # decoding is convcost.frontend.source.read_text's job, fuzzed in tests/test_fuzz.py
    try:
        run_pipeline(text)
    except ConvcostError:
        pass


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
