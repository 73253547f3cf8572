"""The whole analytic path of one spec text, as the fuzz tests and the atheris harness drive it.

``run_pipeline`` does what the analytic commands do with a spec: parse, build every model's graph,
analyse it, render every output format and the roofline. It may raise ConvcostError (a clear
message for the user); any other exception is a bug.
"""

from __future__ import annotations

from convcost.costmodel.analysis import analyze
from convcost.frontend.spec import parse_spec
from convcost.graph.build import build_graph


def run_pipeline(text: str, filename: str = "fuzz.yaml", render: bool = True) -> int:
    """Number of layers analysed; raises ConvcostError on bad input."""
    from convcost.costmodel.roofline import resolve_profile
    from convcost.crosscheck.profiling import analytic_profile
    from convcost.render.csv_out import render_csv
    from convcost.render.json_out import render_json
    from convcost.render.markdown import render_markdown
    from convcost.render.table import render_table

    spec = parse_spec(text, filename)
    layers = 0
    graphs = [build_graph(spec, name) for name in spec.models]  # all first, as the commands do
    for graph in graphs:
        a = analyze(graph)
        layers += len(a.layers)
        if render:
            for out in (render_json([a]), render_csv([a]), render_markdown([a], 2), render_table([a], None, False)):
                assert isinstance(out, str)
            analytic_profile(graph, "fp32", resolve_profile("cpu"))
    return layers


# ---- the worst inputs for time and memory (tests/test_limits.py, benchmarks/bench_limits.py) --------
def _billion_laughs() -> str:
    levels = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for k in range(1, 9):
        prev, name = chr(96 + k), chr(97 + k)
        levels += f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]\n"
    return "description: lol\nvars:\n" + "".join("  " + line + "\n" for line in levels.splitlines()) + (
        "input: [3, 8, 8]\nlayers: [relu]\n"
    )


def _alias_bomb_with_repeat() -> str:
    x8 = ", ".join(["relu"] * 8)
    return (
        "blocks:\n"
        f"  a: {{layers: &x8 [{x8}]}}\n"
        "  b: {layers: &x64 [" + ", ".join(["seq: *x8"] * 8) + "]}\n"
        "  c: {layers: &x512 [" + ", ".join(["seq: *x64"] * 8) + "]}\n"
        "input: [3, 8, 8]\nlayers:\n  - seq: {layers: *x512, repeat: 10000}\n"
    )


def _nested_repeats(leaf: str) -> str:
    """repeat inside repeat inside blocks: 10,000^4 instances of ``leaf`` if nothing stopped it."""
    return (
        "blocks:\n"
        f"  a: {{layers: [{leaf}]}}\n"
        "  b: {layers: [a: {repeat: 10000}]}\n"
        "  c: {layers: [b: {repeat: 10000}]}\n"
        "  d: {layers: [c: {repeat: 10000}]}\n"
        "input: [3, 8, 8]\nlayers:\n  - d: {repeat: 10000}\n"
    )


def _long_expressions() -> str:
    expr = "${" + " + ".join(["in_channels"] * 25) + " == 0}"  # ~360 characters, under the 400 limit
    return (
        "blocks:\n"
        f"  a: {{layers: [seq: {{layers: [relu: {{when: \"{expr}\"}}], repeat: 10000}}]}}\n"
        "input: [3, 8, 8]\nlayers:\n  - relu\n  - a: {repeat: 10000}\n"
    )


def _many_models() -> str:
    model = "  m0: &m\n    input: [3, 8, 8]\n    layers:\n      - seq: {layers: [relu: {repeat: 10000}], repeat: 4}\n"
    return "models:\n" + model + "".join(f"  m{k}: *m\n" for k in range(1, 2000))


def _big_environment() -> str:
    names = "".join(f"  v{k}: {k}\n" for k in range(3000))
    skipped = "seq: {layers: [relu: {when: false}], repeat: 10000}"
    return "vars:\n" + names + f"input: [3, 8, 8]\nlayers:\n  - seq: {{layers: [{skipped}], repeat: 10000}}\n"


def _long_names_nested() -> str:
    """Names at the length limit, in blocks nested as deep as the limit allows: each layer's dotted name
    is ~6,000 characters; 30,000 of them would be 200 MB of names (and a CSV of it) if nothing stopped them."""
    name = "n" * 100
    blocks = "".join(f"  b{k}: {{layers: [b{k + 1}: {{name: n{k:02d}{name[3:]}}}]}}\n" for k in range(58))
    blocks += f"  b58: {{layers: [relu: {{name: {name}, repeat: 10000}}]}}\n"
    return f"blocks:\n{blocks}input: [3, 8, 8]\nlayers:\n  - b0: {{name: {name}, repeat: 10}}\n"


def _big_list(use: str, where: str = "file") -> str:
    """A 190,000-item list in 'vars' (under the YAML node limit), used 10^8 times by a skipped layer."""
    items = "[" + ", ".join(["1"] * 190_000) + "]"
    skipped = f"seq: {{layers: [relu: {{when: \"{use}\"}}], repeat: 10000}}"
    if where == "block":  # the list is built again at every call of the block
        return (f"blocks:\n  a: {{vars: {{l: {items}}}, layers: [relu: {{when: false}}]}}\n"
                "input: [3, 8, 8]\nlayers:\n  - seq: {layers: [a: {repeat: 10000}], repeat: 10000}\n")
    return f"vars:\n  l: {items}\ninput: [3, 8, 8]\nlayers:\n  - seq: {{layers: [{skipped}], repeat: 10000}}\n"


# name: (spec text, the start of the message it must stop with)
WORST_CASES: dict[str, tuple[str, str]] = {
    # built-in calls and comparisons over a big list used to cost one step however long the list: 36 s and more
    "big_list_max": (_big_list("${max(l) == 0}"), "model 'fuzz' takes more than 1,000,000 steps"),
    "big_list_compare": (_big_list("${l < l}"), "model 'fuzz' takes more than 1,000,000 steps"),
    "big_list_in_block_vars": (_big_list("", "block"), "model 'fuzz' takes more than 1,000,000 steps"),
    # a 100,000-character name on a layer repeated 10,000 times: every layer held its own 100 KB name (10 GB)
    "long_layer_name_repeated": (
        "input: [3, 8, 8]\nlayers:\n  - relu: {name: " + "n" * 100_000 + ", repeat: 10000}\n",
        "layer name is longer than 100 characters",
    ),
    "long_names_nested": (_long_names_nested(), "model 'fuzz' takes more than 1,000,000 steps"),
    "billion_laughs": (_billion_laughs(), "spec expands to more than 200,000 YAML nodes"),
    "alias_bomb_with_repeat": (_alias_bomb_with_repeat(), "model has more than 50,000 layers"),
    "nested_repeats": (_nested_repeats("relu"), "model has more than 50,000 layers"),
    "nested_repeats_skipped": (_nested_repeats("relu: {when: false}"), "model 'fuzz' takes more than 1,000,000 steps"),
    "long_expressions": (_long_expressions(), "model 'fuzz' takes more than 1,000,000 steps"),
    "many_models": (_many_models(), "the models of this spec (up to model 'm"),
    "big_environment": (_big_environment(), "model 'fuzz' takes more than 1,000,000 steps"),
    "flat_layers": ("input: [3, 8, 8]\nlayers:\n" + "  - relu\n" * 60_000, "model has more than 50,000 layers"),
    "many_nodes": ("input: [3, 8, 8]\nlayers: [" + "relu, " * 250_000 + "]\n", "spec has more than 200,000 YAML nodes"),
    "deep_yaml": ("input: [3, 8, 8]\nlayers: " + "[" * 100_000 + "]" * 100_000 + "\n", "YAML nesting is deeper than 100"),
    "deep_blocks": (
        "blocks:\n" + "".join(f"  b{k}: {{layers: [b{k + 1}]}}\n" for k in range(2000)) + "  b2000: {layers: [relu]}\n"
        "input: [3, 8, 8]\nlayers: [b0]\n",
        "layers are nested more than 64 levels deep",
    ),
    "long_integer": ("input: [3, 8, " + "9" * 3_000_000 + "]\nlayers: [relu]\n", "integer '9999"),
    "long_op_name": ("input: [3, 8, 8]\nlayers:\n  - " + "x" * 3_000_000 + "\n", "unknown op 'xxxx"),
    "long_string_value": (
        "input: [3, 8, 8]\nlayers:\n  - conv: {out: 4, kernel: 1, padding: " + "n" * 3_000_000 + "}\n",
        "conv 'conv1': 'padding' must be",
    ),
}
