"""Without the torch extra, the commands that need it say how to install it: exit 2, no traceback.

``sys.modules[name] = None`` makes ``import name`` fail as if the package were not installed.
These tests need neither torch nor fvcore.
"""

from __future__ import annotations

import sys

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
