"""Op modules load on demand (convcost/ops/registry.py): a run pays only for the ops its spec uses, and
`convcost --help` for none; yet the registry's tables behave as complete dicts."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from convcost.cli import COMMANDS, SUMMARIES, invoked
from convcost.ops import registry
from convcost.ops.registry import ALIASES, MACROS, ORIGINS, REGISTRY, SPELLINGS, defining_modules, load_all

ROOT = Path(__file__).resolve().parent.parent


def fresh(code: str) -> dict:  # type: ignore[type-arg]
    """Run ``code`` in a new interpreter (nothing imported yet); it prints one JSON document."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


OP_MODULES = "sorted(m.rpartition('.')[2] for m in sys.modules if m.startswith('convcost.ops.'))"


def test_every_registered_name_is_found_in_the_module_that_registers_it() -> None:
    load_all()
    names = [*REGISTRY, *ALIASES, *SPELLINGS, *MACROS]
    assert len(names) > 60  # every op, alias, spelling and macro (46 ops and counting)
    missing = {n: ORIGINS.get(n) for n in names if ORIGINS.get(n, "?").rpartition(".")[2] not in defining_modules(n)}
    assert missing == {}, "the lazy lookup cannot find these names in their modules' sources"


def test_every_registered_name_has_its_origin() -> None:
    load_all()
    assert {n for n in [*REGISTRY, *ALIASES, *SPELLINGS, *MACROS] if n not in ORIGINS} == set()
    assert ORIGINS["conv"] == "convcost.ops.conv" and ORIGINS["relu"] == "convcost.ops.activations"
    assert ORIGINS["bn"] == "convcost.ops.basic" and ORIGINS["dwsep"] == "convcost.ops.macros"


def test_a_decorated_op_is_looked_for_first_in_the_module_that_declares_it() -> None:
    # 'linear' is also a category and a part's op in attention.py (before basic.py by name): @op("linear" first
    assert defining_modules("linear")[0] == "basic"
    assert defining_modules("bn")[0] == "basic"  # an alias: aliases=("bn",)
    assert defining_modules("no_such_op_anywhere") == []


def test_analyzing_a_resnet_imports_only_the_ops_it_uses() -> None:
    got = fresh(
        "import sys, json\nfrom convcost.api import analyze_file\n"
        "a = analyze_file('configs/resnet50.yaml')[0]\n"
        f"print(json.dumps({{'macs': a.total.macs, 'ops': {OP_MODULES}}}))"
    )
    assert got["macs"] == 4_089_184_256  # torchvision's ResNet-50 (docs/nets.md), unchanged by lazy loading
    assert "conv" in got["ops"] and "pool" in got["ops"] and "join" in got["ops"]
    for unused in ("attention", "windows", "tokens", "resample", "shuffle", "norm", "conv_transpose", "macros"):
        assert unused not in got["ops"], f"{unused} imported for a ResNet"


def test_the_tables_look_complete_in_a_fresh_process() -> None:
    load_all()
    expected = {"ops": len(REGISTRY), "aliases": sorted(ALIASES), "macros": sorted(MACROS)}
    got = fresh(
        "import json\nfrom convcost.ops.registry import REGISTRY, ALIASES, MACROS\n"
        "print(json.dumps({'ops': len(REGISTRY), 'aliases': sorted(ALIASES), 'macros': sorted(MACROS)}))"
    )
    assert got == expected


@pytest.mark.parametrize("probe", ["'swish' in ALIASES", "REGISTRY.get('maxpool') is not None", "'gap' in ALIASES",
                                   "REGISTRY['window_attention'].name == 'window_attention'", "'dwsep' in MACROS",
                                   "SPELLINGS.get('deconv') == 'conv_transpose'", "lookup('fc').name == 'linear'"])
def test_a_name_asked_for_first_is_found(probe: str) -> None:
    got = fresh(
        "import json\nfrom convcost.ops.registry import REGISTRY, ALIASES, MACROS, SPELLINGS, lookup\n"
        f"print(json.dumps({{'ok': {probe}}}))"
    )
    assert got == {"ok": True}


def test_an_unknown_name_loads_nothing_more() -> None:
    got = fresh(
        "import sys, json\nfrom convcost.ops.registry import REGISTRY, lookup\n"
        f"before = {OP_MODULES}\n"
        "miss = [lookup('bottleneck'), REGISTRY.get('my_block'), 'unet' in REGISTRY]\n"
        f"print(json.dumps({{'miss': miss, 'same': before == {OP_MODULES}}}))"
    )
    assert got == {"miss": [None, None, False], "same": True}


def test_an_unknown_op_still_gets_a_did_you_mean(tmp_path: Path) -> None:
    spec = tmp_path / "t.yaml"
    spec.write_text("input: [3, 8, 8]\nlayers:\n  - window_atention: {heads: 1, window: 2}\n")
    out = subprocess.run([sys.executable, "-m", "convcost", "analyze", str(spec)], capture_output=True, text=True,
                         cwd=ROOT)
    assert out.returncode == 2
    assert "unknown op 'window_atention' (did you mean 'window_attention'?)" in out.stderr


def test_help_imports_no_command() -> None:
    got = fresh(
        "import sys, json, io, contextlib\nsys.argv = ['convcost', '--help']\nfrom convcost.cli import run\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        "    try:\n        run()\n    except SystemExit:\n        pass\n"
        "print(json.dumps([out.getvalue(), sorted(m for m in sys.modules if m.startswith('convcost.') or m == 'yaml')]))"
    )
    shown, modules = got
    pipeline = ("commands", "ops", "frontend", "graph", "render", "ci", "api")
    heavy = [m for m in modules if m == "yaml" or m.split(".")[1] in pipeline]
    assert heavy == []
    listed = [line.split()[0] for line in shown.split("Commands:")[1].splitlines() if line.strip()]
    assert listed == sorted(COMMANDS)  # every command is listed, by name


def help_of(code: str) -> str:
    env = {**os.environ, "COLUMNS": "100"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, check=True).stdout


def test_help_lists_each_command_by_its_own_summary() -> None:
    """`convcost --help` lists the commands from cli.SUMMARIES without importing them: the same text as the
    commands' own docstrings give (a docstring edited without its summary fails here)."""
    from convcost.cli import app

    own = {c.name or c.callback.__name__: " ".join((inspect.getdoc(c.callback) or "").split("\n\n")[0].split())
           for c in app.registered_commands if c.callback is not None}
    assert own == SUMMARIES
    listed = help_of("import sys\nsys.argv = ['convcost', '--help']\nfrom convcost.cli import run\nrun()")
    whole = help_of("from convcost.cli import app\napp(['--help'], prog_name='convcost')")
    assert listed == whole


def test_a_misspelled_command_gets_a_did_you_mean_from_the_summaries() -> None:
    out = subprocess.run([sys.executable, "-m", "convcost", "analyse"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 2
    assert "No such command 'analyse'. Did you mean 'analyze'?" in out.stderr


def test_the_word_after_a_double_dash_is_the_command_run() -> None:
    assert invoked(["--", "ops"]) == "ops"
    assert invoked(["--version", "analyze", "x.yaml"]) == "analyze"
    assert invoked(["--", "--help"]) is None
    assert invoked(["analyse"]) is None
    out = subprocess.run([sys.executable, "-m", "convcost", "--", "ops", "relu"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0 and "relu" in out.stdout


def test_a_command_registers_only_itself() -> None:
    """(A line typer reads: --depth; the plain lines import no command module but analyze_run, test_plain_analyze.py.)"""
    got = fresh(
        "import sys, json, io, contextlib\n"
        "sys.argv = ['convcost', 'analyze', 'configs/resnet18.yaml', '-f', 'json', '--depth', '2']\n"
        "from convcost.cli import run\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n        run()\n    except SystemExit:\n        pass\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('convcost.commands.'))))"
    )
    # _targets: the shared helper that tells a torch target (`file.py:factory`) from a spec path (stdlib only)
    assert got == ["convcost.commands._convention", "convcost.commands._options", "convcost.commands._output",
                   "convcost.commands._targets", "convcost.commands.analyze", "convcost.commands.analyze_run"]


def test_registering_a_duplicate_of_a_lazily_loaded_name_is_refused() -> None:
    load_all()
    with pytest.raises(ValueError, match="already registered"):
        registry.register(REGISTRY["relu"])


def test_an_argument_type_is_made_a_dataclass_when_first_used() -> None:
    """ops/registry.py's lazy_args: importing an op module creates no dataclass for its argument types; the first
    look at one (dataclasses.fields), or its first instance (made, or unpickled in a new process), makes it one."""
    got = fresh(
        "import sys, json, dataclasses, pickle\n"
        "from convcost.ops import activations as a\n"
        "made = lambda c: not type(c.__dict__['__dataclass_fields__']).__name__.startswith('_Lazy')\n"
        "before = [made(a.LeakyArgs), made(a.EluArgs), made(a.GeluArgs)]\n"
        "fields = [f.name for f in dataclasses.fields(a.LeakyArgs)]\n"
        "x = a.EluArgs(alpha=0.5)\n"
        "try:\n    x.alpha = 1.0\n    frozen = False\nexcept dataclasses.FrozenInstanceError:\n    frozen = True\n"
        "after = [made(a.LeakyArgs), made(a.EluArgs), made(a.GeluArgs)]\n"
        "print(json.dumps([before, fields, repr(x), x == a.EluArgs(0.5), frozen, after, pickle.dumps(a.GeluArgs()).hex()]))"
    )
    before, fields, shown, equal, frozen, after, pickled = got
    assert before == [False, False, False]
    assert fields == ["slope"] and shown == "EluArgs(alpha=0.5)" and equal and frozen
    assert after == [True, True, False]
    # an instance unpickled where its class was never used: a frozen dataclass all the same
    code = ("import sys, json, pickle, dataclasses\nx = pickle.loads(bytes.fromhex(sys.argv[1]))\n"
            "print(json.dumps([repr(x), dataclasses.is_dataclass(x), hash(x) == hash(type(x)())]))")
    out = subprocess.run([sys.executable, "-c", code, pickled], capture_output=True, text=True, cwd=ROOT, check=True)
    assert json.loads(out.stdout) == ["GeluArgs(approximate='none')", True, True]
