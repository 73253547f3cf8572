"""`convcost calibrate`: micro-benchmarks of what this machine sustains, as a device profile.

Each micro-benchmark is a small model written as a spec -- a few layers of the kind it measures, in the
company they keep in networks (a batch norm after a conv, an activation after a batch norm) -- built with
the same torch modules `profile` times (convcost/crosscheck/torch_build.py). It runs as a model, and the
clock is read between its layers (timing.LayerProbe), so each layer is timed as it runs in a network: its
input fresh from the layer before, the weights of the others passing through the caches. Alone in a
loop, a layer keeps its input and weights warm, and a batch norm reading what a 3×3 conv just wrote runs
at half the speed of one reading another batch norm's output. Each layer's FLOPs and bytes come from the
same analytic model (costmodel/memory.py), so the rates measured are rates of exactly the layers the
prediction is for. The per-op overhead is the time of a layer that moves nothing (a view: flatten,
dropout, to_tokens, chunk), measured the same way where such layers sit in networks.
All benchmarks are timed together in interleaved rounds (crosscheck/timing.py).

torch is imported inside the functions only.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from .. import __version__
from ..costmodel.analysis import analyze
from ..costmodel.calibration import AfterPoint, Calibration, Curve, Point, Probe, ProbeTimes, excess_time
from ..costmodel.kinds import KINDS, VIEW, curve_bytes, layer_kind, score_passes
from ..costmodel.memory import analyze_memory, dtype_bytes
from ..errors import UsageError
from ..frontend.spec import parse_spec
from ..graph.build import Graph, Node, build_graph
from .timing import PROBE_PASSES, LayerProbe, check_clock, method_text, settle_cpu_allocator, time_interleaved

MIN_NET_SHARE = 0.05  # a rate is size / max(time − overhead, this share of the time)

# The op whose layers make up a kind's own curve; a layer of any other op of that kind has a curve of its own.
# Conv kinds (dense, 1×1, depthwise, grouped) are conv layers.
REPRESENTATIVE = {
    "linear": "linear", "attention": "attention", "pool": "maxpool", "elementwise": "relu", "norm": "batchnorm",
    "reduce": "global_avgpool", "copy": "concat",
}


def curve_key(node: Node) -> str:
    """The curve a layer is a point of: its kind's when it is the kind's representative op, else its op's."""
    kind = layer_kind(node)
    return kind if node.op == REPRESENTATIVE.get(kind, "conv") else node.op


@dataclass(frozen=True)
class Bench:
    """A small model; its layers whose curve (see curve_key) is one of ``feeds`` are points of that curve."""

    layers: tuple[str, ...]  # YAML flow text, one per layer
    input: tuple[int, ...]
    what: str
    feeds: tuple[str, ...]

    def spec(self) -> str:
        return f"input: {list(self.input)}\nlayers: [{', '.join(self.layers)}]\n"


# Views where networks have them, after real work: their median time in the model is the per-op overhead.
OVERHEAD_BENCHES = (
    Bench(("{conv: {out: 64, kernel: 1}}", "bn", "relu", "gap", "flatten", "dropout", "{linear: {out: 64}}", "dropout"),
          (64, 14, 14), "a classifier head: conv 1×1, bn, relu, gap, flatten, dropout, linear, dropout", (VIEW,)),
    Bench(("{conv: {out: 64, kernel: 1}}", "to_tokens", "layernorm"), (64, 14, 14), "conv 1×1, to_tokens, layernorm",
          (VIEW,)),
    Bench(("{conv: {out: 64, kernel: 1}}", "{channel_shuffle: {groups: 2}}", "{chunk: {index: 0, parts: 2}}",
           "{conv: {out: 32, kernel: 1}}"), (64, 14, 14), "conv 1×1, channel_shuffle, chunk, conv 1×1", (VIEW,)),
)


AFTER = "overhead_after"  # what the benchmarks below feed: the time of a view right after a layer that moved much
# Views right after layers that move 0.4 to 26 MB (weights or activations): the per-op time after them (Calibration.overhead_at).
AFTER_BENCHES = (
    Bench(("{conv: {out: 64, kernel: 1}}", "dropout"), (64, 28, 28), "dropout after conv 1×1 on 64×28×28", (AFTER,)),
    Bench(("{conv: {out: 64, kernel: 1}}", "flatten"), (64, 56, 56), "flatten after conv 1×1 on 64×56×56", (AFTER,)),
    Bench(("{conv: {out: 256, kernel: 3, padding: 1, bias: false}}", "flatten"), (256, 14, 14),
          "flatten after conv 3×3 on 256×14×14", (AFTER,)),
    Bench(("to_tokens", "{linear: {out: 768}}", "dropout"), (768, 14, 14), "dropout after linear 768→768 on 196 tokens",
          (AFTER,)),
    Bench(("relu", "flatten"), (64, 112, 112), "flatten after relu on 64×112×112", (AFTER,)),
    Bench(("{conv: {out: 512, kernel: 3, padding: 1, bias: false}}", "flatten"), (512, 7, 7),
          "flatten after conv 3×3 on 512×7×7", (AFTER,)),
    Bench(("relu", "flatten"), (64, 224, 224), "flatten after relu on 64×224×224", (AFTER,)),
)


def _conv(out: int, k: int, groups: int = 1, stride: int = 1) -> str:
    groups_arg = f", groups: {groups}" if groups > 1 else ""
    return f"{{conv: {{out: {out}, kernel: {k}, stride: {stride}, padding: {k // 2}{groups_arg}, bias: false}}}}"


def _on(c: int, hw: int) -> str:
    return f"on {c}×{hw}×{hw}"


def conv_benches() -> list[Bench]:
    """Convolutions of every kind, each followed by a batch norm and a ReLU as in ResNets and MobileNets."""
    out = []
    for c, hw in ((8, 7), (16, 28), (32, 56), (64, 56), (128, 28), (256, 14), (512, 7), (128, 56)):
        out.append(Bench((_conv(c, 3), "bn", "relu") * 2, (c, hw, hw), f"conv 3×3 {_on(c, hw)}, bn, relu",
                         ("conv_dense", "norm", "elementwise")))
    out.append(Bench((_conv(64, 7, stride=2), "bn", "relu", "{maxpool: {kernel: 3, stride: 2, padding: 1}}"),
                     (3, 224, 224), "stem: conv 7×7 /2 on 3×224×224, bn, relu, maxpool 3×3 /2",
                     ("conv_dense", "norm", "elementwise", "pool")))
    for c, hw in ((8, 7), (16, 28), (32, 56), (64, 56), (256, 14), (512, 7)):
        out.append(Bench((_conv(4 * c, 1), "bn", "relu", _conv(c, 1), "bn", "relu"), (c, hw, hw),
                         f"conv 1×1 {c}→{4 * c}→{c} {_on(c, hw)}, each with bn, relu", ("conv_1x1", "norm", "elementwise")))
    # after a 1×1 conv with its batch norm and ReLU, as in MobileNets and ResNeXts
    for c, hw in ((32, 14), (96, 28), (144, 56), (96, 112)):
        layers = (_conv(c, 1), "bn", "relu", _conv(c, 3, c), "bn", "relu") * 2
        out.append(Bench(layers, (c, hw, hw), f"1×1 conv, bn, relu, depthwise 3×3 {_on(c, hw)}, bn, relu",
                         ("conv_depthwise",)))
    out.append(Bench((_conv(96, 1), "bn", "relu", _conv(96, 3, 96, 2), "bn", "relu"), (96, 112, 112),
                     f"1×1 conv, bn, relu, depthwise 3×3 /2 {_on(96, 112)}", ("conv_depthwise",)))
    for c, hw in ((96, 56), (384, 14), (768, 7)):  # ConvNeXt: after the previous block's linear (a 1×1 conv here)
        out.append(Bench((_conv(c, 1), _conv(c, 7, c), "layernorm") * 2, (c, hw, hw),
                         f"1×1 conv, depthwise 7×7 {_on(c, hw)}, layernorm", ("conv_depthwise_large", "layernorm")))
    for c, hw, g in ((64, 14, 8), (128, 28, 32), (256, 28, 32), (64, 56, 4), (64, 32, 4), (1024, 7, 32)):
        layers = (_conv(c, 1), "bn", "relu", _conv(c, 3, g), "bn", "relu") * 2
        out.append(Bench(layers, (c, hw, hw), f"1×1 conv, bn, relu, conv 3×3 groups {g} {_on(c, hw)}, bn, relu",
                         ("conv_grouped",)))
    return out


def token_benches() -> list[Bench]:
    """Transformer layers on tokens: an MLP (linear, GELU, linear, LayerNorm) and attention after a LayerNorm."""
    out = []
    # ... and at the four stages of ConvNeXt-T and Swin-T: 231 MFLOP each, from 3,136 tokens × 96 to 49 × 768 (byte_rates)
    for d, hw in ((64, 7), (192, 14), (768, 14), (96, 56), (192, 28), (384, 14), (768, 7)):
        mlp = ("to_tokens", f"{{linear: {{out: {4 * d}}}}}", "gelu", f"{{linear: {{out: {d}}}}}", "layernorm")
        out.append(Bench(mlp, (d, hw, hw), f"MLP {d}→{4 * d}→{d} on {hw * hw} tokens, layernorm",
                         ("linear", "gelu", "layernorm")))
    out.append(Bench(("flatten", "{linear: {out: 1000}}", "{linear: {out: 512}}"), (512, 1, 1), "linear 512→1000→512",
                     ("linear",)))
    for d, hw, heads in ((64, 8, 2), (128, 14, 4), (768, 14, 12)):
        layers = ("to_tokens", *("layernorm", f"{{attention: {{heads: {heads}}}}}") * 2)
        out.append(Bench(layers, (d, hw, hw), f"attention, {heads} heads, on {hw * hw} tokens × {d}", ("attention",)))
    # Swin's window attentions (torchvision's modules: their copies, bias adds and batched matmuls of small windows run
    # far below nn.MultiheadAttention's rate), each op a curve of its own: window 7 (49 tokens) at Swin-T's four stages
    # (stage 1 also shifted) and a small one below them; video Swin-T's windows of 8×7×7 = 392 tokens (scores of 7.4 MB)
    for d, hw, heads, shift in ((32, 14, 1, 0), (96, 56, 3, 0), (96, 56, 3, 3), (192, 28, 6, 0), (384, 14, 12, 0),
                                (768, 7, 24, 0)):
        wa = f"{{window_attention: {{heads: {heads}, window: 7, shift: {shift}}}}}"
        out.append(Bench(("{to_tokens: {grid: true}}", "layernorm", wa), (d, hw, hw), f"window attention, {heads} heads, "
                         f"window 7, shift {shift}, on {hw}×{hw} tokens × {d}", ("window_attention",)))
    wa3 = "{window_attention_3d: {heads: 3, window: [8, 7, 7]}}"
    out.append(Bench(("{permute: {dims: [0, 2, 3, 4, 1]}}", "layernorm", wa3), (96, 8, 14, 14),
                     "3-D window attention, 3 heads, window 8×7×7, on 8×14×14 tokens × 96", ("window_attention_3d",)))
    return out


def memory_benches() -> list[Bench]:
    """Pools, reductions, copies, the residual add, the squeeze-excitation gate's multiply; each activation after a
    conv and a batch norm."""
    out = [
        Bench(("bn", "{maxpool: {kernel: 3, stride: 1, padding: 1}}") * 2, (192, 28, 28), f"maxpool 3×3 /1 {_on(192, 28)}",
              ("pool",)),
        Bench(("bn", "{maxpool: {kernel: 2, stride: 2}}"), (64, 28, 28), f"maxpool 2×2 /2 {_on(64, 28)}", ("pool",)),
    ]
    for c, hw in ((512, 7), (1024, 14)):  # at the end of a network: after a conv, its batch norm and ReLU
        out.append(Bench((_conv(c, 1), "bn", "relu", "gap"), (c, hw, hw), f"conv 1×1, bn, relu, global average pool "
                         f"{_on(c, hw)}", ("reduce",)))
    for c, hw in ((64, 14), (64, 28), (64, 56)):  # an Inception module's: the first branch's output waits for the other's
        short, long = f"{_conv(c, 1)}, bn, relu", f"{_conv(c // 2, 1)}, bn, relu, {_conv(c, 3)}, bn, relu"
        cat = f"{{concat: {{branches: [[{short}], [{long}]]}}}}"
        out.append(Bench((cat,), (c, hw, hw), f"concat of a 1×1 and a 1×1, 3×3 branch {_on(c, hw)}", ("copy",)))
    # the residual add as in ResNets and MobileNets: the shortcut read again after the block's convs
    for c, hw in ((32, 14), (64, 28), (64, 56), (64, 112)):
        body = f"{_conv(c, 1)}, bn, relu, {_conv(c, 1)}, bn"
        out.append(Bench((f"{{residual: {{body: [{body}]}}}}", "relu"), (c, hw, hw),
                         f"residual add around conv 1×1, bn, relu, conv 1×1, bn {_on(c, hw)}", ("add",)))
    # the squeeze-excitation gate (EfficientNet, MobileNetV3, RegNetY): the map times a per-channel sigmoid
    for c, hw in ((64, 14), (96, 28), (144, 56)):
        gate = f"{{gate: [gap, {{conv: {{out: {c // 4}, kernel: 1}}}}, relu, {{conv: {{out: {c}, kernel: 1}}}}, sigmoid]}}"
        out.append(Bench((_conv(c, 1), "bn", "relu", gate), (c, hw, hw), f"conv 1×1, bn, relu, squeeze-excitation gate "
                         f"{_on(c, hw)}", ("multiply",)))
    for c, hw in ((16, 320), (64, 160)):  # batch norm and ReLU on maps larger than the caches, after a 1×1 conv
        out.append(Bench((_conv(c, 1), "bn", "relu") * 2, (c, hw, hw), f"conv 1×1 {_on(c, hw)}, bn, relu",
                         ("norm", "elementwise")))
    for c, hw in ((64, 14), (64, 112)):  # as they run in networks: after a conv and a batch norm
        ops = [*_activation_ops(), "layer_scale", "instancenorm"]
        out += [Bench((_conv(c, 1), "bn", op) * 2, (c, hw, hw), f"conv 1×1, bn, {op} {_on(c, hw)}", (op,)) for op in ops]
        out += [
            Bench(("bn", "{avgpool: {kernel: 3, stride: 1, padding: 1}}") * 2, (c, hw, hw), f"avgpool 3×3 /1 {_on(c, hw)}",
                  ("avgpool",)),
            Bench(("bn", "{channel_shuffle: {groups: 2}}") * 2, (c, hw, hw), f"channel_shuffle {_on(c, hw)}",
                  ("channel_shuffle",)),
            Bench(("bn", "{upsample: {scale: 2}}"), (c, hw // 2, hw // 2), f"nearest upsample ×2 {_on(c, hw // 2)}",
                  ("upsample",)),
        ]
    return out


def _activation_ops() -> list[str]:
    """Every registered activation but ReLU (the elementwise kind's own) that needs no arguments."""
    import dataclasses

    from ..ops.registry import REGISTRY

    out = []
    for name, rule in REGISTRY.items():
        required = [f for f in dataclasses.fields(rule.args) if f.default is dataclasses.MISSING]
        if rule.category == "activation" and name != REPRESENTATIVE["elementwise"] and not required:
            out.append(name)
    return sorted(out)


def cpu_benches(quick: bool = False) -> list[Bench]:
    """Sizes span those of the layers of the configs/ networks at batch 1 (a few kFLOP to ~0.5 GFLOP, a few kB
    to ~10 MB), each a shape such networks use. ``quick``: the first and the last benchmark of each curve, and the
    speed probe's."""
    benches = [*conv_benches(), *token_benches(), *memory_benches()]
    if not quick:
        return benches
    by_key: dict[str, list[Bench]] = {}
    for b in benches:
        by_key.setdefault(b.feeds[0], []).append(b)
    ends = [b for bs in by_key.values() for b in (bs[0], bs[-1])]
    return list(dict.fromkeys([*ends, *(b for b in benches if b.what in PROBE_BENCHES)]))


# The speed probe: benchmarks `profile` times again beside the models, in the same interleaved rounds, to say how
# fast the machine runs during the measurement against the calibration (roofline.Speed): a dense 3×3 and a 1×1 conv
# (compute), the batch norms, ReLUs and a depthwise conv after them (memory), a classifier head's views (overhead).
PROBE_BENCHES = (
    "conv 3×3 on 64×56×56, bn, relu",
    "1×1 conv, bn, relu, depthwise 3×3 on 144×56×56, bn, relu",
    "a classifier head: conv 1×1, bn, relu, gap, flatten, dropout, linear, dropout",
)


def probe_benches(names: tuple[str, ...] = PROBE_BENCHES) -> list[Bench] | None:
    """The benchmarks named (as a calibration's probe names them), or None when one is not among this version's."""
    known = {b.what: b for b in (*OVERHEAD_BENCHES, *cpu_benches())}
    found = [known.get(name) for name in names]
    return None if any(b is None for b in found) else [b for b in found if b is not None]


def probe_graph(bench: Bench) -> Graph:
    return _graph(bench.spec(), f"<speed probe {bench.what}>")


def _probe_class(node: Node) -> str:
    kind = layer_kind(node)
    return "overhead_s" if kind == VIEW else "compute_s" if KINDS[kind].compute else "memory_s"


def probe_times(graphs: list[Graph], times: list[list[list[float]]], dtype: str) -> ProbeTimes:
    """The probe's layers' median times summed by class (views: the overhead; compute kinds; memory kinds);
    ``times[b][i]``: layer i of benchmark b, one time per round."""
    sums = {"compute_s": 0.0, "memory_s": 0.0, "overhead_s": 0.0}
    for graph, layer_lists in zip(graphs, times):
        for node, ts in zip(graph.nodes, layer_lists):
            if ts:
                sums[_probe_class(node)] += statistics.median(ts)
    return ProbeTimes(**sums)


def probe_spread(graphs: list[Graph], times: list[list[list[float]]]) -> ProbeTimes | None:
    """Each class's spread over the rounds: the interquartile range of its per-round sums / their median (a fraction;
    0 for a class with no time); None with under two rounds."""
    rounds = min((len(ts) for layer_lists in times for ts in layer_lists), default=0)
    if rounds < 2:
        return None
    per_round = [{"compute_s": 0.0, "memory_s": 0.0, "overhead_s": 0.0} for _ in range(rounds)]
    for graph, layer_lists in zip(graphs, times):
        for node, ts in zip(graph.nodes, layer_lists):
            for r in range(rounds):
                per_round[r][_probe_class(node)] += ts[r]
    out = {}
    for field in ("compute_s", "memory_s", "overhead_s"):
        pct = spread_pct(tuple(sums[field] for sums in per_round))
        out[field] = 0.0 if pct is None else pct / 100
    return ProbeTimes(**out)


@dataclass(frozen=True)
class CalibrateOptions:
    device: str = "cpu"
    threads: int | None = None
    dtype: str = "fp32"
    channels_last: bool = False
    min_time: float = 0.25  # seconds of timed calls per benchmark, over all repeats
    repeats: int = 5
    warmup: int = 3
    quick: bool = False
    cudnn_benchmark: bool = True
    clock: str = "wall"  # CPU: 'wall' or 'cpu' (the thread's CPU time; one thread only)
    # True: every benchmark runs once per pass over all of them, in turn, as the layers of one long model (each
    # benchmark's data and code pushed out of the caches by the others, as a layer's are by the rest of a network);
    # False: each benchmark runs in a loop of its own (its few layers' data and code stay warm between calls)
    chain: bool = False


@dataclass(frozen=True)
class LayerTime:
    """One layer of a benchmark: the curve it is a point of, its work (FLOPs for a compute kind, bytes moved for a
    memory kind: also where on the curve it sits) and its times (one per round)."""

    key: str
    compute: bool
    work: float
    times_s: tuple[float, ...]
    what: str
    after: float | None = None  # the bytes the layer before it moved (None: the benchmark's first layer)
    scores: tuple[tuple[str, int], ...] = ()  # an attention's passes over its scores in memory (kinds.score_passes)
    weight_bytes: float = 0.0  # the bytes of its weights (a compute kind pays for them on top: byte_rates)
    activation_bytes: float = 0.0  # the bytes of its inputs and outputs (the same)

    @property
    def median_s(self) -> float:
        return statistics.median(self.times_s)

    @property
    def spread_pct(self) -> float | None:
        return spread_pct(self.times_s)


def spread_pct(times_s: tuple[float, ...]) -> float | None:
    """The interquartile range of the times, in % of their median (None: under two times, or a zero median)."""
    median = statistics.median(times_s)
    if len(times_s) < 2 or median <= 0:
        return None
    q = statistics.quantiles(times_s, n=4, method="inclusive")
    return 100 * (q[2] - q[0]) / median


def _graph(text: str, name: str, batch: int = 1) -> Graph:
    spec = parse_spec(text, name)
    return build_graph(spec, next(iter(spec.models)), batch)


def _load() -> tuple[float, ...]:
    try:
        return tuple(round(x, 2) for x in os.getloadavg())
    except (AttributeError, OSError):
        return ()


def benches_for(options: CalibrateOptions) -> list[tuple[Bench, int]]:
    """(benchmark, batch): on CUDA each also at batch 32, where a GPU leaves the launch-bound regime."""
    benches = cpu_benches(options.quick)
    batches = (1, 32) if options.device == "cuda" else (1,)
    return [(b, n) for n in batches for b in benches]


def calibrate(options: CalibrateOptions, step: Callable[[str], None] | None = None) -> Calibration:
    """Run the micro-benchmarks and return what they measured."""
    import torch

    from .options import ProfileOptions
    from .runner import ModelRunner, cpu_model, device_name
    from .torch_deps import TORCH_ERRORS

    check_clock(options.clock, options.device, (options.threads or torch.get_num_threads()) if options.device == "cpu" else None)
    started = time.time()
    load = _load()
    threads_before = torch.get_num_threads()
    bench_before = torch.backends.cudnn.benchmark
    popts = ProfileOptions(device=options.device, dtype=options.dtype, channels_last=options.channels_last,
                           clock=options.clock)
    try:
        if options.device == "cpu" and options.threads:
            torch.set_num_threads(options.threads)
        if options.device == "cuda":
            torch.backends.cudnn.benchmark = options.cudnn_benchmark
        else:
            settle_cpu_allocator()
        with torch.inference_mode():
            plan: list[tuple[Bench, Graph, LayerProbe]] = []
            for bench, batch in [*((b, 1) for b in (*OVERHEAD_BENCHES, *AFTER_BENCHES)), *benches_for(options)]:
                what = bench.what if batch == 1 else f"{bench.what}, batch {batch}"
                graph = _graph(bench.spec(), f"<calibrate {what}>", batch)
                plan.append((replace(bench, what=what), graph, ModelRunner(graph, popts).probe()))
            probes = [p for _, _, p in plan]
            per_layer: list[list[list[float]]] = [[[] for _ in g.nodes] for _, g, _ in plan]
            names = [b.what for b, _, _ in plan]
            # the probes each timed unit runs: one benchmark each, or all of them in one chain
            units = [list(range(len(probes)))] if options.chain else [[k] for k in range(len(probes))]
            fns: list[Callable[[], Any]] = [_chain([probes[k] for k in ks]) if len(ks) > 1 else probes[ks[0]] for ks in units]

            def before(i: int, r: int) -> None:
                for k in units[i]:
                    probes[k].take()  # forget the warm-up and estimate passes
                if step is not None:
                    what = "every benchmark, one after the other" if options.chain else names[i]
                    step(f"{what} ({r + 1}/{options.repeats})")

            def after(i: int, r: int) -> None:
                for k in units[i]:
                    for times, t in zip(per_layer[k], probes[k].take()):
                        times.append(t)

            time_interleaved(
                fns, device=options.device, min_time=options.min_time * (len(probes) if options.chain else 1),
                repeats=options.repeats, warmup=options.warmup, step=before, after=after, clock=options.clock,
                min_calls=[PROBE_PASSES] * len(fns),
            )
    except TORCH_ERRORS as e:
        text = str(e).strip().splitlines()
        raise UsageError(
            f"torch {torch.__version__} cannot run the calibration in {options.dtype} on {options.device}: "
            f"{text[0] if text else type(e).__name__}" + ("; try --dtype fp32" if options.dtype != "fp32" else "")
        ) from None
    finally:
        torch.set_num_threads(threads_before)
        torch.backends.cudnn.benchmark = bench_before
    overhead = statistics.median(
        statistics.median(times)
        for (bench, graph, _), layer_lists in zip(plan, per_layer) if VIEW in bench.feeds
        for node, times in zip(graph.nodes, layer_lists) if layer_kind(node) == VIEW
    )
    after = after_points(
        [(bench, graph, times) for (bench, graph, _), times in zip(plan, per_layer) if {VIEW, AFTER} & set(bench.feeds)],
        options.dtype,
    )
    probed = [(graph, times) for (bench, graph, _), times in zip(plan, per_layer) if bench.what in PROBE_BENCHES]
    probe = Probe(PROBE_BENCHES, probe_times([g for g, _ in probed], [t for _, t in probed], options.dtype)) \
        if len(probed) == len(PROBE_BENCHES) else None  # (a set of benchmarks without them: no probe)
    partial = Calibration(options.device, None, options.dtype, options.channels_last, overhead, {}, {}, overhead_after=after)
    layers = [
        lt for (bench, graph, _), times in zip(plan, per_layer) for lt in layer_times(bench, graph, times, options.dtype)
    ]
    cuda = options.device == "cuda"
    memory = curves_of(layers, partial.overhead_at, compute=False)
    score_time = replace(partial, memory=memory).score_time
    weights, activations = byte_rates(layers, lambda lt: partial.overhead_at(lt.after) + score_time(lt.scores))
    return Calibration(
        device=options.device,
        threads=(options.threads or threads_before) if not cuda else None,
        dtype=options.dtype,
        channels_last=options.channels_last,
        overhead_s=overhead,
        compute=curves_of(layers, partial.overhead_at, compute=True, score_time=score_time, weights=weights,
                          activations=activations),
        memory=memory,
        weights=weights,
        activations=activations,
        overhead_after=after,
        probe=probe,
        device_name=device_name("cuda") if cuda else cpu_model(),
        torch=torch.__version__,
        convcost=__version__,
        date=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        method=method_text(options.device, options.repeats, options.cudnn_benchmark if cuda else None, options.clock)
        + (", each layer timed in its benchmark model, every benchmark once per pass over all of them in turn (a chain "
           "of benchmarks: caches as cold as in a network)" if options.chain else
           f", each layer timed in its benchmark model; ≥{options.min_time:g} s per benchmark"),
        repeats=options.repeats,
        warmup=options.warmup,
        cudnn_benchmark=options.cudnn_benchmark if cuda else None,
        load=load,
        duration_s=round(time.time() - started, 1),
        clock=options.clock,
    )


def _chain(probes: list[LayerProbe]) -> Callable[[], None]:
    """One pass of each probe, in turn."""

    def run() -> None:
        for probe in probes:
            probe()

    return run


def layer_times(bench: Bench, graph: Graph, times: list[list[float]], dtype: str) -> list[LayerTime]:
    """The layers of one benchmark that are points of the curves it feeds."""
    out = []
    mem = analyze_memory(analyze(graph), dtype).layers
    for i, (lt, ts) in enumerate(zip(mem, times)):
        kind = layer_kind(lt.node)
        key = curve_key(lt.node)
        if kind == VIEW or key not in bench.feeds:
            continue
        compute = KINDS[kind].compute
        work = lt.flops if compute else curve_bytes(kind, lt.node, lt.traffic)
        after = float(mem[i - 1].traffic.total) if i else None
        scores = score_passes(lt.node, graph.batch, dtype_bytes(dtype))
        out.append(LayerTime(key, compute, float(work), tuple(ts), f"{lt.node.op} in {bench.what}", after, scores,
                             float(lt.traffic.weight_bytes), float(lt.traffic.input_bytes + lt.traffic.output_bytes)))
    return out


def after_points(benches: list[tuple[Bench, Graph, list[list[float]]]], dtype: str) -> tuple[AfterPoint, ...]:
    """The overhead_after curve: each view's median time, at the bytes the layer before it moved (views after a
    layer that moved nothing are the plain overhead's); one point per (5-digit) size, the median of its times."""
    by_after: dict[float, list[tuple[float, float | None, str]]] = {}
    for bench, graph, times in benches:
        mem = analyze_memory(analyze(graph), dtype).layers
        for i in range(1, len(mem)):
            before = mem[i - 1]
            if layer_kind(mem[i].node) != VIEW or before.traffic.total <= 0 or not times[i]:
                continue
            what = f"{mem[i].node.op} after {before.node.op} in {bench.what}"
            by_after.setdefault(float(f"{before.traffic.total:.5g}"), []).append(
                (statistics.median(times[i]), spread_pct(tuple(times[i])), what))
    points = []
    for after in sorted(by_after):
        got = by_after[after]
        spreads = [s for _, s, _ in got if s is not None]
        points.append(AfterPoint(after, statistics.median(t for t, _, _ in got), max(spreads) if spreads else None,
                                 "; ".join(dict.fromkeys(w for _, _, w in got))))
    return tuple(points)


def net_rate(work: float, time_s: float, overhead_s: float) -> float:
    """work (FLOPs or bytes) / the time beyond the overhead (at least MIN_NET_SHARE of the time)."""
    return work / max(time_s - overhead_s, MIN_NET_SHARE * time_s)


def _size_key(work: float) -> float:
    """A size as the file writes it (5 significant digits)."""
    return float(f"{work:.5g}")


EQUAL_SIZE = 0.01  # layers whose sizes differ by at most this share are of one size (a bias's adds: a linear's FLOPs)


def _equal_size_groups(layers: list[LayerTime]) -> list[list[LayerTime]]:
    """The layers in groups of one size (each within EQUAL_SIZE of its group's smallest), smallest first."""
    groups: list[list[LayerTime]] = []
    for lt in sorted(layers, key=lambda lt: lt.work):
        if groups and lt.work <= groups[-1][0].work * (1 + EQUAL_SIZE):
            groups[-1].append(lt)
        else:
            groups.append([lt])
    return groups


def _by_curve(layers: list[LayerTime], compute: bool) -> dict[str, list[LayerTime]]:
    """The timed layers of one section (compute or memory) with work, by the curve they are points of."""
    by_key: dict[str, list[LayerTime]] = {}
    for lt in layers:
        if lt.compute == compute and lt.work > 0 and lt.median_s > 0:
            by_key.setdefault(lt.key, []).append(lt)
    return by_key


def _slopes(rows: list[tuple[float, float, float]], use: tuple[bool, bool]) -> tuple[float, float]:
    """Least-squares slopes of t on w and a (the ``use``d ones; the other 0) over rows (w, a, t) already centred within
    their groups; (0, 0) where the system is singular."""
    sww = sum(w * w for w, _, _ in rows)
    saa = sum(a * a for _, a, _ in rows)
    swa = sum(w * a for w, a, _ in rows)
    swt = sum(w * t for w, _, t in rows)
    sat = sum(a * t for _, a, t in rows)
    if use == (True, True):
        det = sww * saa - swa * swa
        if det <= 1e-12 * sww * saa:
            return 0.0, 0.0
        return (swt * saa - sat * swa) / det, (sat * sww - swt * swa) / det
    if use == (True, False):
        return (swt / sww if sww > 0 else 0.0), 0.0
    return 0.0, (sat / saa if saa > 0 else 0.0)


def byte_rates(layers: list[LayerTime], fixed_s: Callable[[LayerTime], float]) -> tuple[dict[str, float], dict[str, float]]:
    """The bandwidths at which each compute curve's layers pay, beyond their FLOPs, for their weight bytes and for
    their activation bytes (inputs and outputs): the least-squares slopes of time (less ``fixed_s``: the overhead and
    score passes) against both among its layers of equal FLOPs, inverted. A 3×3 conv of 231 MFLOP takes 2.6 ms on
    128×28×28 and 4.7 ms on 512×7×7 (16× the weights: CPU convolutions reorder their weights on every call), 2.8 ms on
    64×56×56 (twice the activations). Both slopes where both are positive, else the one that is positive alone, else
    none: (weights, activations), each {curve key: B/s}; a curve with no equal-FLOP layers of different bytes is in
    neither."""
    weights, activations = {}, {}
    for key, lts in _by_curve(layers, compute=True).items():
        rows: list[tuple[float, float, float]] = []
        for group in _equal_size_groups(lts):
            if len(group) < 2:
                continue
            points = [(lt.weight_bytes, lt.activation_bytes, lt.median_s - fixed_s(lt)) for lt in group]
            mw, ma, mt = (statistics.fmean(p[i] for p in points) for i in range(3))
            rows += [(w - mw, a - ma, t - mt) for w, a, t in points]
        if not rows:
            continue
        for use in ((True, True), (True, False), (False, True)):
            bw, ba = _slopes(rows, use)
            if (bw > 0 or not use[0]) and (ba > 0 or not use[1]):
                break
        else:
            continue
        if bw > 0:
            weights[key] = 1 / bw
        if ba > 0:
            activations[key] = 1 / ba
    return weights, activations


def curves_of(layers: list[LayerTime], overhead_at: Callable[[float | None], float], compute: bool,
              score_time: Callable[[tuple[tuple[str, int], ...]], float] | None = None,
              weights: dict[str, float] | None = None, activations: dict[str, float] | None = None) -> dict[str, Curve]:
    """The curves of one section (compute or memory), kinds first, then ops; a point per size, the layers of one
    curve within 1 % of one size (EQUAL_SIZE: a bias's adds) merged at their mean size (the geometric mean of their
    rates, the median of their times). ``score_time``:
    the time of an attention's passes over its scores (Calibration.score_time, from the memory curves), which its rate
    is net of as of the overhead; ``weights``, ``activations``: each curve's byte_rates: each layer's time is brought
    down to the fewest weight and activation bytes among its point's layers at those rates, and the point keeps those
    bytes (the prediction charges a layer's bytes beyond them: Calibration.bytes_time)."""
    weights, activations = weights or {}, activations or {}
    by_key = _by_curve(layers, compute)
    keys = [k for k in KINDS if k in by_key] + sorted(k for k in by_key if k not in KINDS)
    curves: dict[str, Curve] = {}
    for key in keys:
        points = []
        w_rate, a_rate = weights.get(key), activations.get(key)
        for lts in _equal_size_groups(by_key[key]):
            size = _size_key(statistics.fmean(lt.work for lt in lts))
            # a curve with byte rates: each layer's time brought down to the fewest bytes among the point's layers
            ref_w = min(lt.weight_bytes for lt in lts) if w_rate else None
            ref_a = min(lt.activation_bytes for lt in lts) if a_rate else None
            rates = [net_rate(lt.work, lt.median_s - excess_time(((w_rate, ref_w, lt.weight_bytes),
                                                                  (a_rate, ref_a, lt.activation_bytes))),
                              overhead_at(lt.after) + (score_time(lt.scores) if score_time else 0.0)) for lt in lts]
            spreads = [s for s in (lt.spread_pct for lt in lts) if s is not None]
            points.append(
                Point(
                    size,
                    math.exp(statistics.fmean(math.log(r) for r in rates)),
                    statistics.median(lt.median_s for lt in lts),
                    max(spreads) if spreads else None,
                    "; ".join(dict.fromkeys(lt.what for lt in lts)),
                    ref_w,
                    ref_a,
                )
            )
        curves[key] = Curve(tuple(points))
    return curves
