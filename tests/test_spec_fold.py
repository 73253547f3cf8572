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


def flat_pairs(start: int, count: int, out: int, entry: str) -> tuple[list[ImportedLayer], str]:
    """``count`` (conv, ReLU) pairs of a flat nn.Sequential ``s`` from index ``start``: s.<start>, s.<start + 1>..."""
    layers = []
    for k in range(start, start + 2 * count, 2):
        layers += [layer(f"s.{k}", "conv", (entry,), {"out": out, "kernel": 1}), layer(f"s.{k + 1}", "relu", (f"s.{k}",))]
        entry = f"s.{k + 1}"
    return layers, entry


def test_groups_repeated_in_a_flat_sequential_fold_with_their_names(tmp_path: Path) -> None:
    """VGG's features: (conv, ReLU) ×3, a max pool, (conv, ReLU) ×3, all children of one nn.Sequential named by index.
    One block names its layers by a parameter; each run is one call with `scope: false`; every layer keeps its name."""
    first, entry = flat_pairs(0, 3, 8, INPUT)
    pool = layer("s.6", "maxpool", (entry,), {"kernel": 2})
    second, last = flat_pairs(7, 3, 16, "s.6")
    layers = [*first, pool, *second]
    text = write_spec(layers, (8, 4, 4), [last], [])
    assert "at: '${2 * i}', repeat: 3, scope: false" in text and "at: '${7 + 2 * i}', repeat: 3, scope: false" in text, text
    assert "name: $at" in text and "name: '${at + 1}'" in text, text
    # convs: 8→8 ×3 on 4×4 (8·8 + 8 params, 16·8·8 MACs each), after the 2×2 pool 8→16 then 16→16 ×2 on 2×2
    assert counts(text, tmp_path) == (3 * 72 + (8 * 16 + 16) + 2 * (16 * 16 + 16), 3 * 16 * 64 + 4 * 8 * 16 + 2 * 4 * 16 * 16)
    assert [lc.node.name for lc in analyze_file(tmp_path / "spec.yaml")[0].layers] == [ly.key for ly in layers]
    assert len(text.splitlines()) < len(write_spec(layers, (8, 4, 4), [last], [], fold_blocks=False).splitlines())


def test_a_run_that_does_not_pay_for_its_block_stays_written_out() -> None:
    """One run of 3 pairs saves 5 lines and its block costs 6: not folded."""
    layers, last = flat_pairs(0, 3, 8, INPUT)
    assert "scope:" not in write_spec(layers, (8, 4, 4), [last], [])


def test_a_flat_layer_read_from_outside_its_run_keeps_its_name(tmp_path: Path) -> None:
    """A later layer reads s.3 (inside the first run) by name: the flat call names it there, so `from: s.3` resolves."""
    first, entry = flat_pairs(0, 3, 8, INPUT)
    second, last = flat_pairs(6, 3, 8, entry)
    layers = [*first, *second, layer("cat", "concat", (last, "s.3"))]
    text = write_spec(layers, (8, 4, 4), ["cat"], [])
    assert "scope: false" in text and "from: [s.11, s.3]" in text, text
    assert counts(text, tmp_path) == (6 * 72, 6 * 1024)  # six 8→8 1×1 convs on 4×4
    assert tuple(analyze_file(tmp_path / "spec.yaml")[0].layers[-1].node.shape) == (16, 4, 4)


def test_iterations_named_with_a_prefix_fold_with_each(tmp_path: Path) -> None:
    """RegNet's stage: units named blk-0, blk-1, blk-2 in one nn.Sequential `st`: one call, `each: 'blk-${i}'`."""
    layers: list[ImportedLayer] = []
    entry = INPUT
    for k in range(3):
        layers += unit(f"st.blk-{k}", entry, CONV)
        entry = f"st.blk-{k}.act"
    text = write_spec(layers, (8, 4, 4), [entry], [], {"st": "AnyStage", **{f"st.blk-{k}": "Unit" for k in range(3)}})
    assert "- Unit: {name: st, repeat: 3, each: 'blk-${i}'}" in text, text
    assert counts(text, tmp_path) == (3 * 72, 3 * 1024)
    assert [lc.node.name for lc in analyze_file(tmp_path / "spec.yaml")[0].layers] == [ly.key for ly in layers]


def test_a_layer_reading_past_the_one_before_starts_a_new_run(tmp_path: Path) -> None:
    """s.8 reads s.6, not s.7 (a skip in a flat Sequential): the run of 4 pairs ends at s.7 and the run from s.8 reads
    `from: 6`, as the model does."""
    first, _ = flat_pairs(0, 4, 8, INPUT)
    second, last = flat_pairs(8, 2, 8, "s.6")
    text = write_spec([*first, *second], (8, 4, 4), [last], [])
    assert text.count("scope: false") == 2 and "repeat: 2, scope: false, from: 6}" in text, text
    assert counts(text, tmp_path) == (6 * 72, 6 * 1024)  # six 8→8 1×1 convs on 4×4


def test_modules_lacking_an_activation_or_an_item_fold_into_one_block(tmp_path: Path) -> None:
    """Three `Row` modules (nn.Sequential children numbered 0, 1, ...) in a chain: [conv, bn, relu, conv] (the template),
    [conv, bn, conv] (no activation: `act: ~`) and [conv, relu, conv] (no bn: a `when:` flag, and its last conv
    numbered 2, not 3: named by a parameter). One block, three calls, every layer keeps its torch name.
    Params: 6 convs 8→8 with bias (8·8 + 8 = 72 each) + 2 bns (2·8 each); MACs: 6 · 4·4·8·8 (the bns' are norm ops)."""
    def row(name: str, entry: str, kinds: tuple[str, ...]) -> list[ImportedLayer]:
        out, prev = [], entry
        for k, op in enumerate(kinds):
            out.append(layer(f"{name}.{k}", op, (prev,), CONV if op == "conv" else {}))
            prev = f"{name}.{k}"
        return out

    layers = [*row("a", INPUT, ("conv", "batchnorm", "relu", "conv")), *row("b", "a.3", ("conv", "batchnorm", "conv")),
              *row("c", "b.2", ("conv", "relu", "conv"))]
    classes = {"a": "Row", "b": "Row", "c": "Row"}
    text = write_spec(layers, (8, 4, 4), ["c.2"], [], classes)
    assert text.count("  Row:") == 1 and text.count("- Row: {") == 3, text
    assert "act: ~" in text and "when: $with_batchnorm" in text and "name: $at" in text, text
    assert counts(text, tmp_path) == (6 * 72 + 2 * 16, 6 * 16 * 64)
    assert [lc.node.name for lc in analyze_file(tmp_path / "spec.yaml")[0].layers] == [ly.key for ly in layers]
    flat = write_spec(layers, (8, 4, 4), ["c.2"], [], classes, fold_blocks=False)
    assert len(text.splitlines()) < len(flat.splitlines())


def test_a_member_lacking_more_than_two_items_is_not_folded_with_the_others() -> None:
    """[conv, bn, relu, conv, bn, relu] and [conv, relu, conv] (3 fewer): written as two scopes, not one block with
    three items under `when:` (MAX_ABSENT = 2)."""
    layers, prev = [], INPUT
    for name, kinds in (("a", ("conv", "batchnorm", "relu", "conv", "batchnorm", "relu")), ("b", ("conv", "relu", "conv"))):
        for k, op in enumerate(kinds):
            layers.append(layer(f"{name}.{k}", op, (prev,), CONV if op == "conv" else {}))
            prev = f"{name}.{k}"
    text = write_spec(layers, (8, 4, 4), [prev], [], {"a": "Row", "b": "Row"})
    assert "blocks:" not in text and "when:" not in text, text


def test_a_member_lacking_an_item_is_placed_where_its_values_agree() -> None:
    """Inverted residuals as MobileNetV3 writes them: [1×1 expand, 3×3 depthwise, 1×1 project] twice, and a row with no
    expansion [3×3 depthwise, 1×1 project]. Its depthwise conv is placed at the others' depthwise conv (kernel and
    padding agree), not at their expanding conv (the first position), so the `when:` flag is on the expanding conv."""
    def conv(out: int, kernel: int, groups: int) -> dict:
        return {"out": out, "kernel": kernel, "padding": kernel // 2, "groups": groups}

    rows = {"a": (conv(16, 1, 1), conv(16, 3, 16), conv(8, 1, 1)), "b": (conv(16, 1, 1), conv(16, 3, 16), conv(8, 1, 1)),
            "c": (conv(8, 3, 8), conv(8, 1, 1))}
    layers, prev = [], INPUT
    for name, convs in rows.items():
        for k, args in enumerate(convs):
            layers.append(layer(f"{name}.{k}", "conv", (prev,), args))
            prev = f"{name}.{k}"
    text = write_spec(layers, (8, 4, 4), [prev], [], dict.fromkeys(rows, "Row"))
    block = text.split("input:")[0].splitlines()
    assert [ln for ln in block if "when:" in ln] == [next(ln for ln in block if "- conv: {name: 0," in ln)], text
