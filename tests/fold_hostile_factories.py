"""Hostile torch models for `convcost import`'s folding of repeated modules into blocks (tests/test_import.py).

Each factory is a model that tempts the folder into a wrong spec: a skip that reads a repeat's middle
iteration, modules named like ops and spec variables, an nn.Sequential whose middle unit differs, gates and
residuals written in the other order, per-iteration floats and booleans, outputs from inside repeats, a
module class whose instances have different structures. The import must write a spec with the torch
module's exact counts, whichever way it folds (or does not fold) them.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def cbr(cin: int, cout: int, k: int = 3, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class Basic(nn.Module):
    """conv-bn-relu-conv-bn, + x (or + a projection), relu; ``swap`` writes the add ``identity + out``."""

    def __init__(self, cin: int, cout: int, stride: int = 1, k: int = 3, groups: int = 1, swap: bool = False) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)) \
            if stride != 1 or cin != cout else None
        self.swap = swap

    def forward(self, x: Tensor) -> Tensor:
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        identity = self.down(x) if self.down is not None else x
        out = identity + out if self.swap else out + identity
        return self.relu(out)


class Head(nn.Module):
    def __init__(self, c: int, classes: int = 10) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(torch.flatten(self.pool(x), 1))


# ---- a skip reads a repeat's middle iteration ----------------------------------------------------
class SkipIntoRepeat(nn.Module):
    """A stage of 3 blocks; the head concatenates stage.1's output with stage.2's (a `from:` into an iteration)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = cbr(3, 8)
        self.stage = nn.Sequential(*(Basic(8, 8) for _ in range(3)))
        self.fuse = nn.Conv2d(16, 8, 1)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem(x)
        a = self.stage[0](x)
        b = self.stage[1](a)
        c = self.stage[2](b)
        return self.fuse(torch.cat([b, c], 1))


def skip_into_repeat() -> nn.Module:
    return SkipIntoRepeat()


class ReadInsideBlock(nn.Module):
    """A later layer reads a layer inside a repeated module (stage.1.bn1): the module is not a closed block."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = cbr(3, 8)
        self.stage = nn.Sequential(*(Basic(8, 8) for _ in range(3)))
        self.fuse = nn.Conv2d(16, 8, 1)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem(x)
        u1 = self.stage[0]
        a = u1(x)
        u = self.stage[1]
        mid = u.bn1(u.conv1(a))
        b = u.relu(a + u.bn2(u.conv2(u.relu(mid))))
        c = self.stage[2](b)
        return self.fuse(torch.cat([mid, c], 1))


def read_inside_block() -> nn.Module:
    return ReadInsideBlock()


# ---- two projection residuals in one module ----------------------------------------------------------
class TwoProjections(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.body1 = cbr(cin, cout)
        self.proj1 = nn.Conv2d(cin, cout, 1)
        self.body2 = cbr(cout, cout * 2)
        self.proj2 = nn.Conv2d(cout, cout * 2, 1)

    def forward(self, x: Tensor) -> Tensor:
        y = self.body1(x) + self.proj1(x)
        return self.body2(y) + self.proj2(y)


def two_projections() -> nn.Module:
    return nn.Sequential(cbr(3, 8), TwoProjections(8, 8), TwoProjections(16, 8), TwoProjections(16, 4), Head(8))


# ---- the first (or a middle) iteration differs in groups / kernel / structure -------------------------
def first_differs() -> nn.Module:
    """Unit 0 a grouped 5x5, the others plain 3x3; then a stage whose middle unit has kernel 5."""
    stage1 = nn.Sequential(Basic(8, 8, k=5, groups=4), Basic(8, 8), Basic(8, 8), Basic(8, 8))
    stage2 = nn.Sequential(Basic(8, 16, 2), Basic(16, 16), Basic(16, 16, k=5), Basic(16, 16))
    return nn.Sequential(cbr(3, 8), stage1, stage2, Head(16))


class Plain(nn.Module):
    def __init__(self, c: int, extra: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)
        self.act = nn.ReLU()
        self.extra = nn.Conv2d(c, c, 1) if extra else None

    def forward(self, x: Tensor) -> Tensor:
        y = self.act(self.conv(x))
        return self.extra(y) if self.extra is not None else y


def middle_differs() -> nn.Module:
    """An nn.Sequential of 5 Plain whose middle one has an extra layer (the same class, another structure)."""
    return nn.Sequential(cbr(3, 8), nn.Sequential(*(Plain(8, k == 2) for k in range(5))), Head(8))


# ---- modules that read across their boundary -----------------------------------------------------------
class TwoInputs(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)
        self.bn = nn.BatchNorm2d(c)

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        return self.bn(self.conv(x)) + skip


class CrossBoundary(nn.Module):
    """Repeated modules each adding the stem's output (a value from outside the module) back."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = cbr(3, 8)
        self.blocks = nn.ModuleList(TwoInputs(8) for _ in range(4))
        self.head = Head(8)

    def forward(self, x: Tensor) -> Tensor:
        s = self.stem(x)
        y = s
        for b in self.blocks:
            y = b(y, s)
        return self.head(y)


def cross_boundary() -> nn.Module:
    return CrossBoundary()


class InputCat(nn.Module):
    """cat([out, x]) (the input last), then cat([x, out, x]) (the input twice)."""

    def __init__(self, c: int, g: int) -> None:
        super().__init__()
        self.body = cbr(c, g)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.body(x), x], 1)


class InputTwice(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.body = cbr(c, 4)
        self.post = nn.Conv2d(2 * c + 4, c, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.post(torch.cat([x, self.body(x), x], 1))


def input_cat() -> nn.Module:
    return nn.Sequential(cbr(3, 8), InputCat(8, 4), InputCat(12, 4), InputCat(16, 4), InputTwice(20), InputTwice(20),
                         Head(20))


# ---- names that are ops, structures or spec variables --------------------------------------------------
class conv(nn.Module):  # a module class named like an op
    def __init__(self, c: int, stride: int) -> None:
        super().__init__()
        self.i = nn.Conv2d(c, c, 3, stride, 1, bias=False)
        self.in_channels = nn.BatchNorm2d(c)
        self.add = nn.ReLU()
        self.shortcut = nn.Conv2d(c, c, 1, stride)

    def forward(self, x: Tensor) -> Tensor:
        return self.add(self.in_channels(self.i(x)) + self.shortcut(x))


class residual(nn.Module):  # a module class named like a structure
    def __init__(self, c: int, expand: int) -> None:
        super().__init__()
        self.input = nn.Conv2d(c, c * expand, 1)
        self.true = nn.ReLU()
        self.layers = nn.Conv2d(c * expand, c, 1)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.layers(self.true(self.input(x)))


def op_names() -> nn.Module:
    return nn.Sequential(cbr(3, 8), conv(8, 1), conv(8, 2), conv(8, 1), residual(8, 2), residual(8, 3), residual(8, 2),
                         Head(8))


# ---- nested repeats, other orders -----------------------------------------------------------------------
def nested_repeats() -> nn.Module:
    """A stage of stages: Sequential(Sequential(Basic, Basic) x 3), the first of each inner one downsampling."""
    outer = nn.Sequential(*(nn.Sequential(Basic(8 * 2 ** k, 8 * 2 ** (k + 1), 2), Basic(8 * 2 ** (k + 1), 8 * 2 ** (k + 1)))
                            for k in range(3)))
    return nn.Sequential(cbr(3, 8), outer, Head(64))


def nested_same() -> nn.Module:
    """A stage of identical stages: Sequential(Sequential(Basic x 2) x 3), all of width 8."""
    return nn.Sequential(cbr(3, 8), nn.Sequential(*(nn.Sequential(Basic(8, 8), Basic(8, 8)) for _ in range(3))), Head(8))


def swapped_adds() -> nn.Module:
    """Residual adds written identity + out in some units and out + identity in others."""
    return nn.Sequential(cbr(3, 8), nn.Sequential(Basic(8, 16, 2, swap=True), Basic(16, 16), Basic(16, 16, swap=True),
                                                  Basic(16, 16)), Head(16))


class Gate(nn.Module):
    def __init__(self, c: int, left: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Conv2d(c, c, 1)
        self.sig = nn.Sigmoid()
        self.left = left

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(x)
        s = self.sig(self.fc(self.pool(x)))
        return s * x if self.left else x * s


def gates() -> nn.Module:
    return nn.Sequential(cbr(3, 8), nn.Sequential(Gate(8, True), Gate(8, False), Gate(8, True)), Head(8))


# ---- values that vary per iteration ---------------------------------------------------------------------
class Floaty(nn.Module):
    def __init__(self, c: int, p: float, eps: float, bias: bool, slope: float) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1, bias=bias)
        self.bn = nn.BatchNorm2d(c, eps=eps)
        self.act = nn.LeakyReLU(slope)
        self.drop = nn.Dropout(p)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.drop(self.act(self.bn(self.conv(x))))


def floats() -> nn.Module:
    """Dropout p, bn eps, leaky slope and conv bias varying per iteration (one list each, or in `first`)."""
    units = [Floaty(8, 0.1 * k, 1e-5 if k else 1e-3, k % 2 == 0, 0.01 * (k + 1)) for k in range(4)]
    return nn.Sequential(cbr(3, 8), nn.Sequential(*units), Head(8))


class Up(nn.Module):
    def __init__(self, c: int, scale: float) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 1)
        self.up = nn.Upsample(scale_factor=scale, mode="nearest")

    def forward(self, x: Tensor) -> Tensor:
        return self.up(self.conv(x))


def upsample_scales() -> nn.Module:
    return nn.Sequential(cbr(3, 8), nn.Sequential(Up(8, 2.0), Up(8, 1.5), Up(8, 0.5)), Head(8))


class MaybeSE(nn.Module):
    def __init__(self, c: int, se: bool) -> None:
        super().__init__()
        self.conv = cbr(c, c)
        self.se = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(c, c // 2, 1), nn.ReLU(), nn.Conv2d(c // 2, c, 1),
                                nn.Sigmoid()) if se else None

    def forward(self, x: Tensor) -> Tensor:
        y = self.conv(x)
        if self.se is not None:
            y = y * self.se(y)
        return x + y


def some_se() -> nn.Module:
    return nn.Sequential(cbr(3, 8), nn.Sequential(*(MaybeSE(8, k % 2 == 1) for k in range(4))), Head(8))


# ---- outputs from inside repeats, depth ----------------------------------------------------------------
class Outputs(nn.Module):
    """Returns the outputs of stage.1 and stage.3 (inside a repeat) and of stage.2.bn1 (inside a block)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = cbr(3, 8)
        self.stage = nn.Sequential(*(Basic(8, 8) for _ in range(4)))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x = self.stem(x)
        outs = []
        for k, u in enumerate(self.stage):
            x = u(x)
            if k in (1, 3):
                outs.append(x)
        return outs[0], outs[1]


def outputs() -> nn.Module:
    return Outputs()


def deep(units: int = 100) -> nn.Module:
    return nn.Sequential(cbr(3, 8), nn.Sequential(*(Basic(8, 8) for _ in range(units))), Head(8))


def deep_varied(units: int = 100) -> nn.Module:
    """100 units, every 7th a different kernel (a list indexed by i would have 100 entries)."""
    return nn.Sequential(cbr(3, 8), nn.Sequential(*(Basic(8, 8, k=5 if u % 7 == 3 else 3) for u in range(units))), Head(8))


# ---- inputs read twice, modules returning more than their output --------------------------------------
class Twice(nn.Module):
    """x + x, x * x and cat([x, x]) inside a repeated module (a join that reads one value twice)."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)
        self.post = nn.Conv2d(2 * c, c, 1)

    def forward(self, x: Tensor) -> Tensor:
        y = self.conv(x)
        y = y + y
        y = y * y
        return self.post(torch.cat([y, y], 1))


def twice() -> nn.Module:
    return nn.Sequential(cbr(3, 8), nn.Sequential(Twice(8), Twice(8), Twice(8)), Head(8))


class TwoOut(nn.Module):
    """Returns (out, mid): the caller reads a layer inside the module."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.act = nn.ReLU()
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mid = self.act(self.conv1(x))
        return self.conv2(mid), mid


class InnerReads(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = cbr(3, 8)
        self.units = nn.ModuleList(TwoOut(8) for _ in range(3))
        self.fuse = nn.Conv2d(32, 8, 1)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem(x)
        mids = []
        for u in self.units:
            x, m = u(x)
            mids.append(m)
        return self.fuse(torch.cat([x, *mids], 1))


def inner_reads() -> nn.Module:
    return InnerReads()


class DeadEnd(nn.Module):
    """Computes a layer it does not return: the module's output is not its last layer."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)
        self.bn = nn.BatchNorm2d(c)
        self.unused = nn.Conv2d(c, c, 1)

    def forward(self, x: Tensor) -> Tensor:
        y = self.bn(self.conv(x))
        self.unused(y)
        return y


def dead_end() -> nn.Module:
    return nn.Sequential(cbr(3, 8), nn.Sequential(DeadEnd(8), DeadEnd(8), DeadEnd(8)), Head(8))


class InnerOutputs(nn.Module):
    """The model's outputs are layers inside repeated modules (stage.1.bn1) and a repeat's iteration."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = cbr(3, 8)
        self.units = nn.ModuleList(TwoOut(8) for _ in range(3))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        x = self.stem(x)
        y, m1 = self.units[0](x)
        y, _ = self.units[1](y)
        z, _ = self.units[2](y)
        return m1, y, z


def inner_outputs() -> nn.Module:
    return InnerOutputs()


# ---- module classes named like spec keys ---------------------------------------------------------------
def _named(name: str) -> type:
    def forward(self: nn.Module, x: Tensor) -> Tensor:
        return self.b(self.a(x))

    def init(self: nn.Module, c: int, k: int) -> None:
        nn.Module.__init__(self)
        self.a = nn.Conv2d(c, c, k, padding=k // 2)
        self.b = nn.ReLU()

    return type(name, (nn.Module,), {"__init__": init, "forward": forward})


def key_names() -> nn.Module:
    """Module classes called input, layers, from, name, repeat, first, when, seq, blocks, Unit-2 and 0abc."""
    mods: list[nn.Module] = [cbr(3, 8)]
    for name in ("input", "layers", "from", "name", "repeat", "first", "when", "seq", "blocks", "Unit-2", "0abc", "bn"):
        cls = _named(name)
        mods += [cls(8, 3), cls(8, 1)]
    return nn.Sequential(*mods, Head(8))


class Skip(nn.Module):
    """A stage of stages whose head reads an inner iteration (stages.1.0) and the stem (across everything)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = cbr(3, 8)
        self.stages = nn.Sequential(*(nn.Sequential(Basic(8, 8), Basic(8, 8)) for _ in range(3)))
        self.fuse = nn.Conv2d(24, 8, 1)

    def forward(self, x: Tensor) -> Tensor:
        s = self.stem(x)
        y = self.stages[0](s)
        a = self.stages[1][0](y)
        y = self.stages[1][1](a)
        y = self.stages[2](y)
        return self.fuse(torch.cat([s, a, y], 1))


def skip_nested() -> nn.Module:
    return Skip()


# ---- names the writer predicts or the spec reserves -----------------------------------------------------
class Shadow(nn.Module):
    """Layers named like the spec's automatic names (add1, mul1, cat1, shortcut) and call keys (when, first,
    repeat, name, from) around a recovered residual with a projection shortcut named ``when``."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.add1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.repeat = nn.BatchNorm2d(cout)
        self.when = nn.Sequential(nn.Conv2d(cin, cout, 1), nn.BatchNorm2d(cout)) if cin != cout else None
        self.add2 = nn.ReLU()
        self.first = nn.Conv2d(cout, cout, 1)

    def forward(self, x: Tensor) -> Tensor:
        y = self.repeat(self.add1(x)) + (self.when(x) if self.when is not None else x)
        return self.first(self.add2(y))


def shadow() -> nn.Module:
    return nn.Sequential(cbr(3, 8), nn.Sequential(Shadow(8, 16), Shadow(16, 16), Shadow(16, 16)),
                         nn.Sequential(Shadow(16, 8), Shadow(8, 8)), Head(8))


class ReLU(nn.Module):
    """A user's module class named like torch's (and a block named like an op's spelling)."""

    def __init__(self, c: int, k: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, k, padding=k // 2)
        self.act = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.conv(x))


class Stage(nn.Module):
    """A stage reading its own units' middle output (`from:` into a repeat inside a block); stages repeat."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.units = nn.Sequential(*(ReLU(c, 3) for _ in range(3)))
        self.fuse = nn.Conv2d(2 * c, c, 1)

    def forward(self, x: Tensor) -> Tensor:
        a = self.units[0](x)
        b = self.units[1](a)
        c = self.units[2](b)
        return self.fuse(torch.cat([a, c], 1))


def stage_skip() -> nn.Module:
    return nn.Sequential(cbr(3, 8), ReLU(8, 5), ReLU(8, 1), Stage(8), Stage(8), Stage(8), Head(8))


# ---- optional parts that vary in the middle of a stage, scopes entered twice ---------------------------------
def middle_down() -> nn.Module:
    """Projection shortcuts on units 1 and 3 of one nn.Sequential (a `when` flag that is a list over i)."""
    return nn.Sequential(cbr(3, 8), nn.Sequential(Basic(8, 8), Basic(8, 16, 2), Basic(16, 16), Basic(16, 32, 2)), Head(32))


class Inverted(nn.Module):
    """MobileNetV2's unit: adds its input back only where the shapes allow (a residual in some units only)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(cbr(cin, cin * 2, 1), cbr(cin * 2, cin * 2, 3, stride, cin * 2),
                                  nn.Conv2d(cin * 2, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.res = stride == 1 and cin == cout

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv(x) if self.res else self.conv(x)


def connect_varies() -> nn.Module:
    """Residual, plain (stride 2), residual, plain (wider), residual in one nn.Sequential."""
    return nn.Sequential(cbr(3, 8), nn.Sequential(Inverted(8, 8, 1), Inverted(8, 8, 2), Inverted(8, 8, 1),
                                                  Inverted(8, 16, 1), Inverted(16, 16, 1)), Head(16))


class Interleaved(nn.Module):
    """stage.0, then a layer outside it, then stage.1 and stage.2: the scope `stage` is entered twice."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = cbr(3, 8)
        self.stage = nn.Sequential(*(Basic(8, 8) for _ in range(3)))
        self.mid = nn.Conv2d(8, 8, 1)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stage[0](self.stem(x))
        x = self.mid(x)
        return self.stage[2](self.stage[1](x))


def interleaved() -> nn.Module:
    return Interleaved()



class Sub(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)
        self.act = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.conv(x))


class Flex(nn.Module):
    """One class, two wirings: its sub-module (a block call) reads conv's output, or (``late``) wide's, which has
    twice the channels; the module's layers and their arguments are the same either way."""

    def __init__(self, c: int, late: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)
        self.wide = nn.Conv2d(c, 2 * c, 1)
        self.sub = Sub(2 * c if late else c, c)
        self.post = nn.Conv2d(4 * c, c, 1)
        self.late = late

    def forward(self, x: Tensor) -> Tensor:
        a = self.conv(x)
        b = self.wide(a)
        c = self.sub(b if self.late else a)
        return self.post(torch.cat([a, b, c], 1))


def flex() -> nn.Module:
    return nn.Sequential(cbr(3, 8), nn.Sequential(Flex(8, False), Flex(8, True), Flex(8, False)), Head(8))


class Resize(nn.Module):
    def __init__(self, c: int, mode: str) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 1)
        self.up = nn.Upsample(scale_factor=2, mode=mode, align_corners=None if mode == "nearest" else False)
        self.down = nn.AvgPool2d(2)

    def forward(self, x: Tensor) -> Tensor:
        return self.down(self.up(self.conv(x)))


def resize_modes() -> nn.Module:
    """Upsample modes per unit: align_corners is None (nearest) in most, False (bilinear) in one."""
    return nn.Sequential(cbr(3, 8), nn.Sequential(Resize(8, "nearest"), Resize(8, "bilinear"), Resize(8, "nearest")),
                         Resize(8, "nearest"), Head(8))


def resize_first() -> nn.Module:
    """align_corners None on the first iteration only (`first: {up_align_corners: ~}`)."""
    return nn.Sequential(cbr(3, 8), nn.Sequential(Resize(8, "nearest"), Resize(8, "bilinear"), Resize(8, "bilinear")),
                         Head(8))


class Spare(nn.Module):
    """A stage of units, each holding a module its forward never calls (an auxiliary head), and a model-level buffer
    never read: their tensors are in the torch module's totals but in no layer that runs."""

    def __init__(self) -> None:
        super().__init__()
        self.stage = nn.Sequential(*(Basic(8, 8) for _ in range(2)))
        self.aux = nn.Linear(8, 10)
        self.register_buffer("seen", torch.zeros(3))

    def forward(self, x: Tensor) -> Tensor:
        return self.stage(x)


def spare() -> nn.Module:
    return nn.Sequential(cbr(3, 8), Spare(), Head(8))
