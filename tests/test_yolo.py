"""configs/yolov8n.yaml against a reference YOLOv8n written in torch here, module for module as
ultralytics builds it (ultralytics/nn/modules conv.py Conv, block.py Bottleneck/C2f/SPPF/DFL,
head.py Detect; cfg/models/v8/yolov8.yaml at scale n). ultralytics is not a dependency: its
structure is re-typed below. Its model summary prints 3,157,200 parameters for YOLOv8n.
"""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
from torch import Tensor, nn  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from convcost.api import load_graphs  # noqa: E402
from convcost.costmodel.analysis import analyze  # noqa: E402
from convcost.crosscheck.torch_build import build_model  # noqa: E402

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "yolov8n.yaml"


# ---- the reference, as ultralytics builds it --------------------------------------------------
class Conv(nn.Module):
    def __init__(self, c1: int, c2: int, k: int = 1, s: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(c2, eps=0.001, momentum=0.03)
        self.act = nn.SiLU()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.bn(self.conv(x)))


class Bottleneck(nn.Module):
    def __init__(self, c1: int, c2: int, shortcut: bool) -> None:
        super().__init__()
        self.cv1 = Conv(c1, c2, 3)  # e=1.0, k=(3, 3) in C2f
        self.cv2 = Conv(c2, c2, 3)
        self.add = shortcut and c1 == c2

    def forward(self, x: Tensor) -> Tensor:
        return x + self.cv2(self.cv1(x)) if self.add else self.cv2(self.cv1(x))


class C2f(nn.Module):
    def __init__(self, c1: int, c2: int, n: int = 1, shortcut: bool = False) -> None:
        super().__init__()
        self.c = int(c2 * 0.5)
        self.cv1 = Conv(c1, 2 * self.c, 1)
        self.cv2 = Conv((2 + n) * self.c, c2, 1)
        self.m = nn.ModuleList(Bottleneck(self.c, self.c, shortcut) for _ in range(n))

    def forward(self, x: Tensor) -> Tensor:
        y = list(self.cv1(x).chunk(2, 1))
        y.extend(m(y[-1]) for m in self.m)
        return self.cv2(torch.cat(y, 1))


class SPPF(nn.Module):
    def __init__(self, c1: int, c2: int, k: int = 5) -> None:
        super().__init__()
        c_ = c1 // 2
        self.cv1 = Conv(c1, c_, 1)
        self.cv2 = Conv(c_ * 4, c2, 1)
        self.m = nn.MaxPool2d(kernel_size=k, stride=1, padding=k // 2)

    def forward(self, x: Tensor) -> Tensor:
        y = [self.cv1(x)]
        y.extend(self.m(y[-1]) for _ in range(3))
        return self.cv2(torch.cat(y, 1))


class Concat(nn.Module):
    def forward(self, xs: list[Tensor]) -> Tensor:
        return torch.cat(xs, 1)


class DFL(nn.Module):
    """Integral of the box distribution: a fixed 1×1 conv with weights 0..15 (not trained)."""

    def __init__(self, c1: int = 16) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c1, 1, 1, bias=False).requires_grad_(False)
        self.conv.weight.data[:] = torch.arange(c1, dtype=torch.float).view(1, c1, 1, 1)
        self.c1 = c1

    def forward(self, x: Tensor) -> Tensor:
        b, _, a = x.shape
        return self.conv(x.view(b, 4, self.c1, a).transpose(2, 1).softmax(1)).view(b, 4, a)


class Detect(nn.Module):
    def __init__(self, nc: int, ch: tuple[int, ...]) -> None:
        super().__init__()
        self.nc, self.reg_max = nc, 16
        c2, c3 = max((16, ch[0] // 4, self.reg_max * 4)), max(ch[0], min(nc, 100))
        self.cv2 = nn.ModuleList(nn.Sequential(Conv(x, c2, 3), Conv(c2, c2, 3), nn.Conv2d(c2, 4 * self.reg_max, 1)) for x in ch)
        self.cv3 = nn.ModuleList(nn.Sequential(Conv(x, c3, 3), Conv(c3, c3, 3), nn.Conv2d(c3, nc, 1)) for x in ch)
        self.dfl = DFL(self.reg_max)

    def forward(self, xs: list[Tensor]) -> list[Tensor]:
        """The raw maps (training mode): box distribution and class scores per level."""
        return [torch.cat((self.cv2[i](x), self.cv3[i](x)), 1) for i, x in enumerate(xs)]

    def decode_boxes(self, maps: list[Tensor]) -> Tensor:
        """Inference's DFL step on the box distributions of all anchors (without the anchor arithmetic)."""
        b = maps[0].shape[0]
        box = torch.cat([m.view(b, -1, m.shape[2] * m.shape[3]) for m in maps], 2)[:, : 4 * self.reg_max]
        return self.dfl(box)


class YOLOv8(nn.Module):
    # (from, module) rows of cfg/models/v8/yolov8.yaml at scale n: widths ×0.25 (64 → 16 ...), depths 3 → 1, 6 → 2
    def __init__(self, nc: int = 80) -> None:
        super().__init__()
        rows: list[tuple[int | list[int], nn.Module]] = [
            (-1, Conv(3, 16, 3, 2)),
            (-1, Conv(16, 32, 3, 2)),
            (-1, C2f(32, 32, 1, True)),
            (-1, Conv(32, 64, 3, 2)),
            (-1, C2f(64, 64, 2, True)),
            (-1, Conv(64, 128, 3, 2)),
            (-1, C2f(128, 128, 2, True)),
            (-1, Conv(128, 256, 3, 2)),
            (-1, C2f(256, 256, 1, True)),
            (-1, SPPF(256, 256, 5)),
            (-1, nn.Upsample(None, 2, "nearest")),
            ([-1, 6], Concat()),
            (-1, C2f(384, 128, 1)),
            (-1, nn.Upsample(None, 2, "nearest")),
            ([-1, 4], Concat()),
            (-1, C2f(192, 64, 1)),
            (-1, Conv(64, 64, 3, 2)),
            ([-1, 12], Concat()),
            (-1, C2f(192, 128, 1)),
            (-1, Conv(128, 128, 3, 2)),
            ([-1, 9], Concat()),
            (-1, C2f(384, 256, 1)),
            ([15, 18, 21], Detect(nc, (64, 128, 256))),
        ]
        self.froms = [f for f, _ in rows]
        self.model = nn.Sequential(*(m for _, m in rows))

    def forward(self, x: Tensor) -> list[Tensor]:
        outs: list[Tensor] = []
        for f, m in zip(self.froms, self.model):
            if f != -1:
                x = outs[f] if isinstance(f, int) else [x if j == -1 else outs[j] for j in f]  # type: ignore[assignment]
            x = m(x)
            outs.append(x)
        return x  # type: ignore[return-value]


@pytest.fixture(scope="module")
def reference() -> YOLOv8:
    return YOLOv8().eval()


@pytest.fixture(scope="module")
def graph():  # type: ignore[no-untyped-def]
    (g,) = load_graphs(CONFIG)
    return g


def test_the_reference_is_ultralytics_yolov8n(reference: YOLOv8) -> None:
    # the parameter count ultralytics prints for YOLOv8n ("3157200 parameters, 3157184 gradients")
    assert sum(p.numel() for p in reference.parameters()) == 3_157_200
    assert sum(p.numel() for p in reference.parameters() if p.requires_grad) == 3_157_184


def test_params_and_buffers_are_exact(reference: YOLOv8, graph) -> None:  # type: ignore[no-untyped-def]
    from convcost.costmodel.training import analyze_training

    total = analyze(graph).total
    dfl = reference.model[22].dfl
    assert sum(p.numel() for p in dfl.parameters()) == 16  # 16 bins → 1, no bias, frozen
    assert total.params == sum(p.numel() for p in reference.parameters())
    assert total.buffers == sum(b.numel() for b in reference.buffers())
    t = analyze_training(analyze(graph))
    assert (t.trainable, t.frozen) == (3_157_184, 16)  # DFL's conv is frozen in the spec, as in ultralytics


def test_params_and_gradients_equal_ultralytics_own_model(graph) -> None:  # type: ignore[no-untyped-def]
    """ultralytics' DetectionModel('yolov8n.yaml') (ultralytics 8.4.190, when installed): '3157200 parameters,
    3157184 gradients', its DFL conv the only frozen tensor."""
    tasks = pytest.importorskip("ultralytics.nn.tasks")
    from convcost.costmodel.training import analyze_training

    real = tasks.DetectionModel("yolov8n.yaml", verbose=False)
    params = sum(p.numel() for p in real.parameters())
    trainable = sum(p.numel() for p in real.parameters() if p.requires_grad)
    assert (params, trainable) == (3_157_200, 3_157_184)
    assert [n for n, p in real.named_parameters() if not p.requires_grad] == ["model.22.dfl.conv.weight"]
    t = analyze_training(analyze(graph))
    assert (t.trainable + t.frozen, t.trainable) == (params, trainable)
    assert [lt.node.name for lt in t.layers if lt.frozen] == ["model.22.dfl.conv"]


def test_macs_are_flop_counter_mode_over_two(reference: YOLOv8, graph) -> None:  # type: ignore[no-untyped-def]
    x = torch.zeros(1, 3, 640, 640, device="meta")
    model = YOLOv8().to("meta").eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        maps = model(x)
    assert counter.get_total_flops() % 2 == 0
    # inference's DFL step: 16 bins · 4 coordinates · (80² + 40² + 20²) anchors MACs
    dfl = FlopCounterMode(display=False)
    with dfl, torch.no_grad():
        boxes = model.model[22].decode_boxes(maps)
    assert dfl.get_total_flops() // 2 == 16 * 4 * 8400 == 537_600
    assert analyze(graph).total.macs == counter.get_total_flops() // 2 + dfl.get_total_flops() // 2
    *raw, box, scores = graph.output_nodes
    assert [tuple(m.shape) for m in maps] == [(1, *n.shape) for n in raw]
    assert (tuple(boxes.shape), (1, *box.shape), (1, *scores.shape)) == ((1, 4, 8400), (1, 4, 8400), (1, 80, 8400))


def test_layer_names_are_ultralytics_module_paths(reference: YOLOv8, graph) -> None:  # type: ignore[no-untyped-def]
    """Every conv and batch norm of the spec is the module of that name in the reference, same size."""
    ref = dict(reference.named_modules())
    built = build_model(graph, "meta")
    weighted = [n for n in graph.nodes if n.op in ("conv", "batchnorm")]
    assert len(weighted) == sum(isinstance(m, (nn.Conv2d, nn.BatchNorm2d)) for m in ref.values())  # DFL's conv too
    for node in weighted:
        assert node.name in ref, node.name
        ours, theirs = built.module_for(node.name), ref[node.name]
        assert [tuple(p.shape) for p in ours.parameters()] == [tuple(p.shape) for p in theirs.parameters()], node.name


def test_verify_agrees_on_every_layer(graph) -> None:  # type: ignore[no-untyped-def]
    from convcost.crosscheck.verify import verify_graph

    report = verify_graph(graph, max_bytes=0)  # shapes, params and FlopCounterMode on the meta device
    assert report.ok, [(lr.name, c) for lr in report.layers for c in lr.checks.values() if c.status == "mismatch"]
