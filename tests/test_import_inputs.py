"""`convcost import` of a forward of several inputs: `--input` once per input, in the forward's order, written as the
spec's `inputs:` (named after the forward's parameters), and `verify --reference` reading the model the same way.

Every expected number is torch's (the module's parameter sums, FlopCounterMode over one forward) or derived by hand."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

torch = pytest.importorskip("torch")
pytest.importorskip("fvcore")

import import_inputs_factories as factories  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from convcost.api import analyze_file  # noqa: E402
from convcost.cli import app  # noqa: E402

FILE = Path(factories.__file__)
runner = CliRunner()


def _torch_counts(model: torch.nn.Module, *shapes: tuple[int, ...]) -> tuple[int, int]:
    """(params, FlopCounterMode FLOPs / 2) of one forward on zero inputs of these shapes (batch 1)."""
    with FlopCounterMode(display=False) as fc:
        model(*(torch.zeros(1, *s) for s in shapes))
    return sum(p.numel() for p in model.parameters()), fc.get_total_flops() // 2


def _import(factory: str, spec: Path, *shapes: str) -> str:
    r = runner.invoke(app, ["import", f"{FILE}:{factory}", *(o for s in shapes for o in ("--input", s)), "-o", str(spec)])
    assert r.exit_code == 0, r.output
    v = runner.invoke(app, ["verify", str(spec), "--reference", f"{FILE}:{factory}"])
    assert v.exit_code == 0, v.output
    assert "layers matched by structure" in v.output, v.output
    return spec.read_text()


def test_two_inputs_are_named_after_the_forward_each_read_by_name_and_count_as_torch(tmp_path: Path) -> None:
    spec = tmp_path / "two.yaml"
    text = _import("two", spec, "3,16,16", "3,16,16")
    assert "inputs:\n  x: [3, 16, 16]\n  y: [3, 16, 16]\nlayers:\n" in text, text
    assert "conv: {name: a, out: 8, kernel: 3, from: x}" in text and "conv: {name: b, out: 8, kernel: 3, from: y}" in text
    assert "--input 3,16,16 --input 3,16,16`" in text.splitlines()[0]  # the header says how to import it again
    t = analyze_file(spec)[0].total
    assert (t.params, t.macs) == _torch_counts(factories.two(), (3, 16, 16), (3, 16, 16))
    assert (t.params, t.macs) == (2 * (8 * 27 + 8), 2 * 14 * 14 * 8 * 27)  # two convs 3→8, 3×3, on 16×16: 14² outputs


def test_a_map_and_a_vector_with_an_optional_argument_and_the_input_returned(tmp_path: Path) -> None:
    spec = tmp_path / "mixed.yaml"
    text = _import("mixed", spec, "3,16,16", "5")
    assert "inputs:\n  image: [3, 16, 16]\n  meta: [5]\n" in text and "scale" not in text, text
    assert "identity: {name: output_1, from: image}" in text and "outputs: [add, output_1]" in text, text
    t = analyze_file(spec)[0].total
    assert (t.params, t.macs) == _torch_counts(factories.mixed(), (3, 16, 16), (5,))
    assert (t.params, t.macs) == (8 * 27 + 8 + 5 * 8 + 8, 16 * 16 * 8 * 27 + 5 * 8)  # conv 'same' on 16², linear 5→8


def test_one_backbone_on_two_inputs_is_tied(tmp_path: Path) -> None:
    spec = tmp_path / "siamese.yaml"
    text = _import("siamese", spec, "3,16,16", "3,12,12")
    assert "from: left" in text and "from: right, tied: {weight: backbone.0, bias: backbone.0}" in text, text
    t = analyze_file(spec)[0].total
    assert (t.params, t.macs) == _torch_counts(factories.siamese(), (3, 16, 16), (3, 12, 12))
    # the conv 3→8 (224 params) counted once, and the linear 16→4; MACs: 14²·8·27 + 10²·8·27 + 16·4
    assert (t.params, t.macs) == (8 * 27 + 8 + 16 * 4 + 4, (14 * 14 + 10 * 10) * 8 * 27 + 16 * 4)


def test_an_input_named_like_a_layer_takes_another_name(tmp_path: Path) -> None:
    spec = tmp_path / "named.yaml"
    text = _import("named_like_a_layer", spec, "3,8,8", "4,8,8")
    assert "inputs:\n  input_0: [3, 8, 8]\n  b: [4, 8, 8]\n" in text and "from: input_0}" in text, text


@pytest.mark.parametrize(("factory", "shapes", "line"), [
    ("two", ["3,16,16"], "Two.forward(x, y) takes 2 inputs (x, y), and 1 --input shape was given"),
    ("two", ["3,16,16"] * 3, "Two.forward(x, y) takes 2 inputs (x, y), and 3 --input shapes were given"),
    ("mixed", ["3,16,16"], "Mixed.forward(image, meta, scale) takes 2 inputs (image, meta) and 1 optional, and 1 --input "
                           "shape was given"),
])
def test_a_forward_given_another_number_of_inputs_says_how_many_it_takes(factory: str, shapes: list[str], line: str) -> None:
    r = runner.invoke(app, ["import", f"{FILE}:{factory}", *(o for s in shapes for o in ("--input", s))])
    assert r.exit_code == 2, r.output
    assert line in r.output and "`convcost import` takes --input once per input, in the forward's order" in r.output, r.output
    assert "missing 1 required positional argument" not in r.output and "Traceback" not in r.output
