"""`convcost import` of users' subclasses of the classes it keeps whole (issue 20): a subclass whose forward is its
base's is read as the base, exactly (params, buffers and MACs torch's, verify --reference passes); one that overrides
forward is traced through, and where that fails the refusal says why it was not read as the base.

Every expected number is torch's (tests/zoo.py: numel sums and FlopCounterMode / 2)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from convcost.cli import app

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")
pytest.importorskip("fvcore")

TESTS = Path(__file__).resolve().parent
runner = CliRunner()


@pytest.mark.parametrize(("how", "lines"), [
    ("pass", ("window_attention: {name: attn, heads: $attn_heads, window: [3, 3], shift: $attn_shift}",
              "patch_merging: {name: 2}")),
    ("subsub", ("window_attention: {name: attn, heads: $attn_heads, window: [3, 3], shift: $attn_shift}",)),
    ("v2", ("window_attention_v2: {name: attn, heads: $attn_heads, window: [3, 3], shift: $attn_shift}",
            "patch_merging_v2: {name: 2}")),
])
def test_swin_subclasses_keeping_the_forward_import_exactly(how: str, lines: tuple[str, ...], tmp_path: Path) -> None:
    from zoo import imports_exactly

    text = imports_exactly("import_subclass_factories:small_swin", {"how": how}, (3, 16, 16), tmp_path).read_text()
    for line in lines:
        assert line in text, text


def test_mvit_subclasses_import_exactly(tmp_path: Path) -> None:
    from zoo import imports_exactly

    text = imports_exactly("import_subclass_factories:small_mvit", {}, (3, 4, 16, 16), tmp_path).read_text()
    for op in ("spacetime_embed:", "pooling_attention:", "grid_pool:"):
        assert op in text, text


def test_multihead_attention_subclass_imports_exactly(tmp_path: Path) -> None:
    from zoo import imports_exactly

    text = imports_exactly("import_subclass_factories:mha_subclass", {}, (3, 16, 16), tmp_path).read_text()
    assert "attention: {name: attn, heads: 2" in text, text


def test_a_subclass_overriding_forward_is_traced_and_the_refusal_says_why(tmp_path: Path) -> None:
    """Its forward is its own (here: the base's times 1.0), so it is traced through, not read as the base; the window
    partition inside cannot be written, and the refusal names the class and what it overrides. The second block reads
    the first's unsupported output: its parts are counted among those after it (its shifted windows' torch.roll, once
    refused whatever it read, is a `roll` now)."""
    r = runner.invoke(app, ["import", f"{TESTS / 'import_subclass_factories.py'}:small_swin", "--reference-arg",
                            "how=forward", "--input", "3,16,16", "-o", str(tmp_path / "s.yaml")])
    assert r.exit_code == 2, r.output
    assert "window_attention" not in r.output and not (tmp_path / "s.yaml").exists()
    notes = [line for line in r.output.splitlines() if line.startswith("convcost: note:")]
    assert notes == [
        "convcost: note: features.1.0.attn: MyAttnOwnForward overrides the forward of "
        "torchvision.models.swin_transformer.ShiftedWindowAttention, which convcost reads whole, so its own forward was "
        "traced (the parts above are in it); a subclass keeping the base's forward is read as the base"], r.output
    assert "features.1.0.attn." in r.output.split("convcost: note:")[0]  # the parts it cannot write are inside it


def test_module_op_reads_a_subclass_as_its_torch_base() -> None:
    from import_subclass_factories import MyAttn, MyAttnOwnForward, MyMHA
    from torchvision.models.swin_transformer import ShiftedWindowAttention

    from convcost.importer.trace import kept_whole_class, module_op

    class MyLinear(torch.nn.Linear):
        pass

    assert module_op(MyLinear(8, 3)) == ("linear", {"out": 3, "bias": True})
    assert module_op(MyMHA(8, 2)) == ("attention", {"heads": 2, "qkv_bias": True, "bias": True})
    assert kept_whole_class(MyAttn(8, [3, 3], [1, 1], 2)) is ShiftedWindowAttention
    assert kept_whole_class(MyAttnOwnForward(8, [3, 3], [1, 1], 2)) is None
    assert kept_whole_class(MyLinear(8, 3)) is None  # torch.nn's leaves are recognised from their aten ops
