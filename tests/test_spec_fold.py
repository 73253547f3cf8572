"""How `convcost import` writes layers as structures and blocks, on imported layers made by hand (no torch).

Each spec written here must analyze; the counts are derived by hand beside them."""

from __future__ import annotations

from pathlib import Path

from convcost.api import analyze_file
from convcost.importer.write import INPUT, ImportedLayer, write_spec

CONV = {"out": 8, "kernel": 1}  # 8→8 1×1 conv with bias on 8×4×4: 8·8 + 8 = 72 params, 4·4·8·8 = 1,024 MACs


def layer(key: str, op: str, inputs: tuple[str, ...], args: dict | None = None) -> ImportedLayer:
    return ImportedLayer(key, tuple(key.split(".")), op, dict(args or {}), inputs)


def counts(text: str, tmp_path: Path) -> tuple[int, int]:
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    total = analyze_file(spec)[0].total
    return total.params, total.macs


def test_two_projection_shortcuts_in_one_module(tmp_path: Path) -> None:
    """A scope holds one residual shortcut (the spec names its scope 'shortcut'): the second stays a layer
    with `from:`."""
    layers = [
        layer("m.a", "conv", (INPUT,), CONV), layer("m.p", "conv", (INPUT,), CONV), layer("m.add", "add", ("m.a", "m.p")),
        layer("m.b", "conv", ("m.add",), CONV), layer("m.q", "conv", ("m.add",), CONV),
        layer("m.add_1", "add", ("m.b", "m.q")),
    ]
    text = write_spec(layers, (8, 4, 4), ["m.add_1"], [])
    assert text.count("shortcut:") == 1 and "from: [b, q]" in text
    assert counts(text, tmp_path) == (4 * 72, 4 * 1024)


def test_a_join_whose_branch_is_read_later_stays_a_layer(tmp_path: Path) -> None:
    """y + x is no residual when y is also read after the add (the skip would leave the structure)."""
    layers = [
        layer("x", "conv", (INPUT,), CONV), layer("y", "conv", ("x",), CONV), layer("s", "add", ("y", "x")),
        layer("z", "concat", ("s", "y")),
    ]
    text = write_spec(layers, (8, 4, 4), ["z"], [])
    assert "residual" not in text and "from: [y, x]" in text
    assert counts(text, tmp_path) == (2 * 72, 2 * 1024)


def test_recovered_join_is_named_as_the_spec_names_it(tmp_path: Path) -> None:
    """A later layer reads a residual's output by name: the writer uses the spec's own name for it (add1)."""
    layers = [
        layer("a", "conv", (INPUT,), CONV), layer("b", "conv", ("a",), CONV), layer("s", "add", ("b", "a")),
        layer("c", "conv", ("s",), CONV), layer("d", "concat", ("c", "s")),
    ]
    text = write_spec(layers, (8, 4, 4), ["d"], [])
    assert "residual:" in text and "from: [c, add1]" in text
    assert counts(text, tmp_path) == (3 * 72, 3 * 1024)


def unit(scope: str, entry: str, cls_args: dict) -> list[ImportedLayer]:
    return [layer(f"{scope}.conv", "conv", (entry,), cls_args), layer(f"{scope}.act", "relu", (f"{scope}.conv",))]


def test_block_names_avoid_ops_and_parameters_avoid_variables(tmp_path: Path) -> None:
    """Modules of a class named like an op ('conv') give a block 'conv_block'; a flag named after a shortcut
    scope 'i' (the repeat index) is 'i_2'."""
    layers = [*unit("a", INPUT, CONV), *unit("b", "a.act", CONV)]
    text = write_spec(layers, (8, 4, 4), ["b.act"], [], {"a": "conv", "b": "conv"})
    assert "  conv_block:" in text and "- conv_block: {name: a}" in text
    assert counts(text, tmp_path) == (2 * 72, 2 * 1024)
    shortcut = [layer("u.i.0", "conv", ("u.conv",), CONV)]
    layers = [
        layer("u.conv", "conv", (INPUT,), CONV), layer("u.body", "relu", ("u.conv",)), *shortcut,
        layer("u.add", "add", ("u.body", "u.i.0")),
        layer("v.conv", "conv", ("u.add",), CONV), layer("v.body", "relu", ("v.conv",)),
        layer("v.add", "add", ("v.body", "v.conv")),
    ]
    text = write_spec(layers, (8, 4, 4), ["v.add"], [], {"u": "Unit", "v": "Unit"})
    assert "when: $i_2" in text, text
    assert counts(text, tmp_path) == (3 * 72, 3 * 1024)


def test_values_varying_per_iteration_are_a_list_indexed_by_i(tmp_path: Path) -> None:
    """An nn.Sequential of three units whose widths are 8, 16, 24: one call, `out: '${[8, 16, 24][i]}'`."""
    layers: list[ImportedLayer] = []
    entry = INPUT
    for k, out in enumerate((8, 16, 24)):
        layers += unit(f"s.{k}", entry, {"out": out, "kernel": 1})
        entry = f"s.{k}.act"
    text = write_spec(layers, (8, 4, 4), [entry], [], {"s": "Sequential", **{f"s.{k}": "Unit" for k in range(3)}})
    assert "'${[8, 16, 24][i]}'" in text and "repeat: 3" in text, text
    # params 8·8+8 + 8·16+16 + 16·24+24; MACs 16·(8·8 + 8·16 + 16·24)
    assert counts(text, tmp_path) == (72 + 144 + 408, 16 * (64 + 128 + 384))


def test_uneven_split_is_a_split_structure(tmp_path: Path) -> None:
    """x.split([2, 6], 1): part 0 passes, part 1 through a module `b` (one conv) → `split` with sizes [2, 6],
    the branch named after the module. Params 6·8 + 8 (b's 1×1 conv 6→8); MACs 16·6·8; output 2 + 8 channels."""
    sizes = {"sizes": (2, 6)}
    layers = [
        layer("p0", "chunk", (INPUT,), {"index": 0, **sizes}), layer("p1", "chunk", (INPUT,), {"index": 1, **sizes}),
        layer("b.conv", "conv", ("p1",), CONV), layer("cat", "concat", ("p0", "b.conv")),
    ]
    text = write_spec(layers, (8, 4, 4), ["cat"], [])
    assert "- split:" in text and "sizes: [2, 6]" in text and "b:" in text and "chunk:" not in text, text
    assert counts(text, tmp_path) == (6 * 8 + 8, 16 * 6 * 8)
    spec = tmp_path / "spec.yaml"
    assert tuple(analyze_file(spec)[0].layers[-1].node.shape) == (10, 4, 4)
    swapped = [*layers[:3], layer("cat", "concat", ("b.conv", "p0"))]  # parts joined out of order: not a split
    assert "split" not in write_spec(swapped, (8, 4, 4), ["cat"], [])
