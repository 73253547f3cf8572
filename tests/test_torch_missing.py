"""Without the torch extra, the commands that need it say how to install it: exit 2, no traceback.

``sys.modules[name] = None`` makes ``import name`` fail as if the package were not installed.
These tests need neither torch nor fvcore.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import CONFIGS
from typer.testing import CliRunner

from convcost.cli import app
from convcost.crosscheck.torch_deps import INSTALL_HINT, require
from convcost.errors import UsageError

runner = CliRunner()
SPEC = str(CONFIGS / "inception_naive_vs_bottleneck.yaml")


def _hide(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    for name in names:
        monkeypatch.setitem(sys.modules, name, None)


@pytest.mark.parametrize(
    ("hidden", "args", "message"),
    [
        (("torch",), ["profile", SPEC, "--quick"], "profile needs torch ('torch' is not installed)"),
        (("torch",), ["compare", SPEC, "--profile"], "compare --profile needs torch ('torch' is not installed)"),
        (("torch",), ["verify", SPEC], "verify needs torch and fvcore ('torch' is not installed)"),
        (("fvcore", "fvcore.nn"), ["verify", SPEC], "verify needs torch and fvcore ('fvcore' is not installed)"),
    ],
)
def test_missing_package_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, hidden: tuple[str, ...], args: list[str], message: str
) -> None:
    _hide(monkeypatch, *hidden)
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert message in result.stderr
    assert INSTALL_HINT in result.stderr
    assert "Traceback" not in result.output


def test_analytic_commands_do_not_need_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    _hide(monkeypatch, "torch", "fvcore", "fvcore.nn")
    for args in (["roofline", SPEC], ["compare", SPEC]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output


def test_require_names_the_command(monkeypatch: pytest.MonkeyPatch) -> None:
    _hide(monkeypatch, "torch")
    with pytest.raises(UsageError, match=r"^profile needs torch \('torch' is not installed\); install the torch extra"):
        require("profile")


def test_the_api_on_a_torch_target_says_how_to_install_torch(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A torch target given to the Python API without torch: a UsageError naming the install, nothing printed; a spec
    given to the same function still analyses."""
    from convcost import api

    _hide(monkeypatch, "torch")
    (tmp_path / "model.py").write_text("import torch\n\n\ndef net():\n    return torch.nn.Linear(4, 2)\n")
    monkeypatch.setenv("CONVCOST_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match=r"^import needs torch \('torch' is not installed\)") as e:
        api.analyze("model.py:net", input=(4,))
    assert INSTALL_HINT in str(e.value)
    assert api.analyze(SPEC, "naive").total.macs == 120_422_400  # the spec's naive 5x5 conv: 28*28*32*192*25
