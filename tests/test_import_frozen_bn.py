"""torchvision's FrozenBatchNorm2d: `batchnorm: {fixed: true}` (its scale, shift and statistics are buffers; its forward
is x * scale + bias), imported exactly, built as a module the counters count as the real one.

Every expected number is measured on torch's own modules (torchvision's FrozenBatchNorm2d, parameter and buffer sums,
FlopCounterMode, fvcore, ptflops, thop) or derived by hand beside it."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")
pytest.importorskip("fvcore")

import frozen_bn_factories  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402
from torchvision.ops.misc import FrozenBatchNorm2d  # noqa: E402

from convcost.api import analyze, analyze_file  # noqa: E402
from convcost.cli import app  # noqa: E402

FACTORIES = Path(frozen_bn_factories.__file__)
runner = CliRunner()


def _torch_counts(model: torch.nn.Module, shape: tuple[int, ...]) -> tuple[int, int, int]:
    """(params, buffers, FlopCounterMode FLOPs / 2) as torch counts them."""
    with FlopCounterMode(display=False) as fc:
        model(torch.zeros(1, *shape))
    return sum(p.numel() for p in model.parameters()), sum(b.numel() for b in model.buffers()), fc.get_total_flops() // 2


def _import(target: str, shape: str, spec: Path, *more: str) -> str:
    r = runner.invoke(app, ["import", target, "--input", shape, "-o", str(spec), *more])
    assert r.exit_code == 0, r.output
    return spec.read_text()


@pytest.mark.parametrize(("eps", "written"), [("0.00001", "fixed: true}"), ("0.001", "eps: 0.001, fixed: true}")])
def test_frozen_batch_norms_import_exactly_and_verify(eps: str, written: str, tmp_path: Path) -> None:
    """(eps written as YAML reads a float: --reference-arg reads 1e-05 as a string)"""
    target = f"{FACTORIES}:small"
    spec = tmp_path / "small.yaml"
    text = _import(target, "3,16,16", spec, "--reference-arg", f"eps={eps}")
    assert f"batchnorm: {{name: 1, {written}" in text and f"batchnorm: {{name: 4, {written}" in text, text
    t = analyze_file(spec)[0].total
    model = frozen_bn_factories.small(float(eps)).eval()
    assert (t.params, t.buffers, t.macs) == _torch_counts(model, (3, 16, 16))
    # by hand: params conv 8·3·9 + 8 and 4·8 (the norms hold none); buffers 4·8 + 4·4; MACs 14·14·(8·27 + 4·8)
    assert (t.params, t.buffers, t.macs) == (8 * 3 * 9 + 8 + 4 * 8, 4 * 8 + 4 * 4, 14 * 14 * (8 * 27 + 4 * 8))
    v = runner.invoke(app, ["verify", str(spec), "--reference", target, "--reference-arg", f"eps={eps}"])
    assert v.exit_code == 0, v.output
    v = runner.invoke(app, ["verify", str(spec)])  # every counter's prediction against the built module
    assert v.exit_code == 0, v.output


def test_a_copy_that_reshapes_after_computing_is_the_same_batch_norm(tmp_path: Path) -> None:
    target = f"{FACTORIES}:reshaped_later"
    spec = tmp_path / "later.yaml"
    text = _import(target, "3,12,12", spec)
    assert "batchnorm: {name: 1, eps: 0.001, fixed: true}" in text, text
    t = analyze_file(spec)[0].total
    assert (t.params, t.buffers) == (6 * 3 * 9 + 6, 4 * 6)  # the conv's 168; FrozenBatchNorm's 4 buffers of 6
    v = runner.invoke(app, ["verify", str(spec), "--reference", target])
    assert v.exit_code == 0, v.output


@pytest.mark.parametrize(("how", "line"), [
    ("param", "mul: a tensor mul reads computed from 2 tensors (bn.running_var, bn.weight)"),
    ("other_scale", "mul: a tensor mul reads computed from 2 tensors (bn.running_var, bn.weight)"),
    ("two_modules", "mul: a tensor mul reads computed from 2 tensors (bn.weight, other.running_var)"),
])
def test_near_misses_are_not_a_batch_norm(how: str, line: str) -> None:
    """A shift that is a parameter, a mean scaled by another tensor, statistics of another module: refused, exit 2."""
    r = runner.invoke(app, ["import", f"{FACTORIES}:not_frozen_bn", "--input", "3,12,12", "--reference-arg", f"how={how}"])
    assert r.exit_code == 2, r.output
    assert line in r.output and "batchnorm" not in r.output, r.output


def _fixed_bn_module(c: int, shape: tuple[int, ...]) -> torch.nn.Module:
    """The module convcost builds for `batchnorm: {fixed: true}` on a C×... input."""
    a = analyze({"input": list(shape), "layers": [{"batchnorm": {"fixed": True, "eps": 1e-3}}]})
    node = a.layers[0].node
    assert node.shape == shape
    return node.rule.build(node)


@pytest.mark.parametrize("shape", [(8, 5, 5), (8, 3, 4, 5), (8, 7), (8,)])
def test_the_built_module_counts_as_torchvisions(shape: tuple[int, ...]) -> None:
    """Same buffers (names and sizes), same output for the same buffers, and what FlopCounterMode, fvcore, ptflops
    and thop report of it is what they report of torchvision's FrozenBatchNorm2d (2-D; other ranks: the same ops)."""
    from fvcore.nn import FlopCountAnalysis

    c = shape[0]
    built = _fixed_bn_module(c, shape).eval()
    real = FrozenBatchNorm2d(c, eps=1e-3).eval()
    for b in real.buffers():
        b.copy_(torch.rand(c) + 0.5)
    built.load_state_dict(real.state_dict(), strict=True)
    assert sum(p.numel() for p in built.parameters()) == 0
    assert {n: tuple(b.shape) for n, b in built.named_buffers()} == {n: (c,) for n in ("weight", "bias", "running_mean",
                                                                                       "running_var")}
    x = torch.randn(2, *shape)
    x4 = x.reshape(2, c, -1, 1)  # torchvision's module takes N×C×H×W only
    assert torch.allclose(built(x).reshape(x4.shape), real(x4))

    def counted(m: torch.nn.Module, inp: torch.Tensor) -> tuple[int, int, Counter[str]]:
        with FlopCounterMode(display=False) as fc:
            m(inp)
        fv = FlopCountAnalysis(m, inp)
        fv.unsupported_ops_warnings(False)
        return fc.get_total_flops(), fv.total(), Counter(fv.unsupported_ops())

    assert counted(built, x) == counted(real, x4) == (0, 0, Counter({"aten::mul": 3, "aten::add": 2, "aten::rsqrt": 1,
                                                                     "aten::sub": 1}))


def test_module_hook_counters_see_nothing_of_either() -> None:
    pytest.importorskip("ptflops")
    pytest.importorskip("thop")
    import ptflops
    import thop

    built, real = _fixed_bn_module(8, (8, 5, 5)), FrozenBatchNorm2d(8)
    for m in (built, real):
        assert ptflops.get_model_complexity_info(m, (8, 5, 5), as_strings=False, print_per_layer_stat=False) == (0, 0)
        assert thop.profile(m, (torch.zeros(1, 8, 5, 5),), verbose=False) == (0, 0)


def test_the_spec_counts_buffers_not_params() -> None:
    a = analyze({"input": [8, 14, 14], "layers": [{"batchnorm": {"fixed": True}}, {"batchnorm": None}]})
    fixed, plain = a.layers[0].cost, a.layers[1].cost
    assert (fixed.params, fixed.buffers) == (0, 4 * 8)  # weight, bias, running_mean, running_var of 8 channels
    assert (plain.params, plain.buffers) == (2 * 8, 2 * 8 + 1)  # nn.BatchNorm2d: γ, β; mean, var, num_batches_tracked
    assert fixed.norm_ops == plain.norm_ops == 2 * 8 * 14 * 14  # the folded scale and shift, 2 per element


def test_fixed_without_affine_is_refused_at_its_line(tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("input: [8, 5, 5]\nlayers:\n  - batchnorm: {fixed: true, affine: false}\n")
    r = runner.invoke(app, ["analyze", str(spec)])
    assert r.exit_code == 2, r.output
    assert f"{spec.name}:3:" in r.output and "needs affine: true" in r.output, r.output
    assert "Traceback" not in r.output
