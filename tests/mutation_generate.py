"""Generate mutmut's mutants (its "Generating mutants" step alone: no stats, no clean run, no mutant run).

`mutmut run` always collects its stats (the whole test selection under tracing) after generating, which a shared
machine may not finish in the time there is; `mutmut show`, `tests/mutation_sample.py` and
`tests/mutation_rerun.py --against` need only the generated mutants. Run from the repository root (docs/testing.md):

    python tests/mutation_generate.py     # mutants/ as `mutmut run` makes it (mutmut 3.8.1's own functions)
"""

from __future__ import annotations

import os
from datetime import datetime

from mutmut.__main__ import create_mutants, set_mutant_under_test, store_lines_covered_by_tests
from mutmut.utils.file_utils import copy_also_copy_files, copy_src_dir, setup_source_paths


def main() -> None:
    set_mutant_under_test("mutant_generation")
    start = datetime.now()
    os.makedirs("mutants", exist_ok=True)
    copy_src_dir()
    copy_also_copy_files()
    setup_source_paths()
    store_lines_covered_by_tests()
    stats = create_mutants(1)
    print(f"done in {datetime.now() - start} ({stats.mutated} files mutated, {stats.ignored} ignored, "
          f"{stats.unmodified} unmodified)")


if __name__ == "__main__":
    main()
