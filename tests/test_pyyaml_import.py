"""frontend/pyyaml.py: yaml imported with its regular expressions compiled where first used. The patterns must match
exactly as the real ones do, the pure-Python reader's must stay uncompiled through an analyze run (the work saved), and
nothing outside yaml's modules may see the lazy ``re``. Runs in a fresh Python: this session has imported yaml."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = r"""
import json, re, sys
sys.argv = ["convcost", "analyze", "configs/resnet50.yaml", "-f", "json"]
import io, contextlib
from convcost.cli import run
with contextlib.redirect_stdout(io.StringIO()) as out:
    run()
import yaml
from convcost.frontend.pyyaml import LazyPattern

patterns = [("reader", yaml.reader.Reader.NON_PRINTABLE), ("constructor", yaml.constructor.SafeConstructor.timestamp_regexp)]
patterns += [(f"resolver {tag}", p) for rs in yaml.resolver.Resolver.yaml_implicit_resolvers.values() for tag, p in rs]
lazy = [isinstance(p, LazyPattern) for _, p in patterns]
compiled = {name: p._compiled is not None for name, p in patterns}
SCALARS = ["yes", "No", "on", "OFF", "true", "y", "1", "-1_000", "0b101", "0x1F", "017", "1:30", "190:20:30", "1.5", "-.5",
           "1e3", "1.0e+3", ".inf", "-.Inf", ".NaN", "~", "null", "Null", "", "2001-12-14", "2001-12-14t21:59:43.10-05:00",
           "2002-12-14 21:59:43.10 Z", "<<", "=", "!", "&", "*", "relu", "$planes", "${planes * 4}", "3x3", "\x01", "\ud7ff",
           "\ufffe", "ok\U0001f600"]
same = all(
    [m.span() if m else None for m in (p.match(s), p.search(s))] ==
    [m.span() if m else None for m in (re.compile(*p._args).match(s), re.compile(*p._args).search(s))]
    for _, p in patterns for s in SCALARS
)
print(json.dumps({"lazy": lazy, "compiled": compiled, "same": same, "n": len(patterns) * len(SCALARS),
                  "yaml_re": type(yaml.resolver.re).__name__, "re": sys.modules["re"] is re and type(re).__name__,
                  "sub": yaml.reader.Reader.NON_PRINTABLE.sub("?", "a\x01b"),
                  "params": json.loads(out.getvalue())["models"][0]["totals"]["params"]}))
"""


def test_yaml_patterns_compile_where_used_and_match_as_the_real_ones() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.splitlines()[-1])
    assert out["params"] == 25_557_032  # torchvision's ResNet-50 (configs/resnet50.yaml's header)
    assert all(out["lazy"]) and len(out["lazy"]) >= 10
    compiled = out["compiled"]
    assert compiled["reader"] is False  # libyaml parsed the spec: the Unicode pattern was never compiled
    assert compiled["constructor"] is False and compiled["resolver tag:yaml.org,2002:timestamp"] is False
    assert compiled["resolver tag:yaml.org,2002:int"] is True  # the spec's numbers asked for it
    assert out["same"] is True and out["n"] >= 400
    assert out["yaml_re"] == "_LazyRe" and out["re"] == "module"  # only yaml's modules bind the stand-in
    assert out["sub"] == "a?b"  # a method without its own wrapper: the compiled pattern's


def test_a_spec_with_a_control_character_is_still_refused_where_it_is(tmp_path: Path) -> None:
    """libyaml refuses it; the pure-Python reader (its pattern compiled on this first use) words the message."""
    spec = tmp_path / "bad.yaml"
    spec.write_text("input: [3, 8, 8]\nlayers:\n  - relu: {name: a\x01}\n")
    done = subprocess.run([sys.executable, "-m", "convcost", "analyze", str(spec)], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2
    # line 3, column 19: '  - relu: {name: a' is 18 characters
    assert done.stderr == f"{spec}:3:19: character U+0001 is not allowed in YAML; remove it\n"
