"""The general tensor ops' shape and cost, derived by hand (tests/test_ops.py runs them with its OpCase table).

Each row: (op under test, the spec's layers, input, batch, the op's output shape, its cost). Dims are torch's
(the batch is 0); `input` names the model's input, so `from: [input, input]` reads it twice.
"""

from __future__ import annotations

from convcost.cost import Cost
from convcost.ops.shapes import TokenGrid, Tokens


def _math(op: str) -> tuple[object, ...]:
    # one op per element of 2 × 3×4×5 = 120
    return (op, op, "[3, 4, 5]", 2, (3, 4, 5), Cost(elementwise_ops=120, activations=120))


X = "[4, 6, 5]"  # 120 values per sample
CASES: list[tuple[object, ...]] = [
    # ---- views: no arithmetic, their output elements only ----
    ("reshape", "reshape: {shape: [4, -1]}", X, 2, (4, 30), Cost(activations=2 * 120)),  # -1 = 120 / 4
    ("reshape", "view: {shape: [120]}", X, 1, (120,), Cost(activations=120)),  # the alias
    # tokens 6×4 (to_tokens of 4×2×3) to [2, 3, 4]: the width 4 stays last, so a 2×3 grid of 4-wide tokens
    ("reshape", "to_tokens\n  - reshape: {shape: [2, 3, 4]}", "[4, 2, 3]", 2, TokenGrid(2, 3, 4), Cost(activations=2 * 24)),
    ("reshape", "reshape: {shape: [6, 20], layout: tokens}", X, 1, Tokens(6, 20), Cost(activations=120)),
    ("flatten", "flatten: {start: 2}", X, 2, (4, 30), Cost(activations=2 * 120)),  # 6·5 = 30
    ("flatten", "flatten", X, 1, (120,), Cost(activations=120)),  # start 1, end -1: the whole sample
    # a 2×3 grid of 4-wide tokens, H and W flattened: a sequence of 6 tokens
    ("flatten", "to_tokens: {grid: true}\n  - flatten: {start: 1, end: 2}", "[4, 2, 3]", 1, Tokens(6, 4),
     Cost(activations=24)),
    ("unflatten", "unflatten: {dim: 1, sizes: [2, -1]}", X, 2, (2, 2, 6, 5), Cost(activations=2 * 120)),  # 4 = 2·2
    # channels moved last: an H×W grid of C-wide tokens (ConvNeXt's permute(0, 2, 3, 1))
    ("permute", "permute: {dims: [0, 2, 3, 1]}", X, 2, TokenGrid(6, 5, 4), Cost(activations=2 * 120)),
    ("permute", "permute: {dims: [0, 3, 1, 2], layout: map}", X, 1, (5, 4, 6), Cost(activations=120)),
    ("permute", "permute: {dims: [0, -1, -3, -2]}", X, 1, (5, 4, 6), Cost(activations=120)),  # the same, from the end
    ("transpose", "transpose: {dim0: 2, dim1: 3}", X, 2, (4, 5, 6), Cost(activations=2 * 120)),
    # tokens 6×4 transposed: 4×6, the width no longer last: a map
    ("transpose", "to_tokens\n  - transpose: {dim0: 1, dim1: 2}", "[4, 2, 3]", 1, (4, 6), Cost(activations=24)),
    ("slice", "slice: {dim: 2, start: 1, stop: 5, step: 2}", X, 2, (4, 2, 5), Cost(activations=2 * 40)),  # rows 1, 3
    ("slice", "slice: {dim: -1, start: -2}", X, 1, (4, 6, 2), Cost(activations=48)),  # the last two columns
    # x[:, 1:] of 6 tokens: 5 tokens (a ViT without its class token)
    ("slice", "to_tokens\n  - slice: {dim: 1, start: 1}", "[4, 2, 3]", 2, Tokens(5, 4), Cost(activations=2 * 20)),
    ("select", "select: {dim: 1, index: -1}", X, 2, (6, 5), Cost(activations=2 * 30)),  # the last channel
    ("select", "to_tokens\n  - select: {dim: 1, index: 0}", "[4, 2, 3]", 1, (4,), Cost(activations=4)),  # x[:, 0]
    # pad [left, right, top, bottom]: W 5 + 1 + 2 = 8, H 6 + 0 + 3 = 9; a copy, no arithmetic
    ("pad", "pad: {pad: [1, 2, 0, 3]}", X, 2, (4, 9, 8), Cost(activations=2 * 4 * 9 * 8)),
    ("pad", "pad: {pad: [-1, -1], value: 2}", X, 1, (4, 6, 3), Cost(activations=72)),  # negative crops: 5 - 2
    ("pad", "pad: {pad: [2, 2], mode: reflect}", "[4, 6]", 2, (4, 10), Cost(activations=2 * 40)),  # 1-D: 6 + 4
    ("pad", "pad: {pad: [1, 1, 1, 1], mode: circular}", X, 1, (4, 8, 7), Cost(activations=4 * 56)),
    ("pad", "pad: {pad: [0, 1, 0, 1, 2, 0], mode: replicate}", "[2, 3, 4, 5]", 1, (2, 5, 5, 6), Cost(activations=300)),
    # ---- tile (x.repeat), flip, roll: copies, no arithmetic; their output elements only ----
    # 4×6×5 repeated [1, 2, 3] times: 4×12×15 = 720 per sample
    ("tile", "tile: {sizes: [1, 2, 3]}", X, 2, (4, 12, 15), Cost(activations=2 * 720)),
    # 6 tokens of width 4 repeated twice along the sequence: 12 tokens (tokens stay tokens)
    ("tile", "to_tokens\n  - tile: {sizes: [2, 1]}", "[4, 2, 3]", 1, Tokens(12, 4), Cost(activations=48)),
    # a view: [B, 1, 6, 5] (a channel mean) broadcast to 4 channels, 120 values per sample
    ("expand", "mean: {dims: 1, keepdim: true}\n  - expand: {sizes: [4, -1, -1]}", X, 2, (4, 6, 5),
     Cost(activations=2 * 120)),
    ("flip", "flip: {dims: [2, -1]}", X, 2, (4, 6, 5), Cost(activations=2 * 120)),
    ("roll", "roll: {shifts: [1, -2], dims: [2, 3]}", X, 1, (4, 6, 5), Cost(activations=120)),
    # index_select: a copy of 3 channels (per sample 3·6·5 = 90), or 7 columns by a buffer index (4·6·7 = 168; its 7
    # elements are buffers)
    ("index_select", "index_select: {dim: 1, index: 3}", X, 2, (3, 6, 5), Cost(activations=2 * 90)),
    ("index_select", "index_select: {dim: -1, index: 7, buffer: true}", X, 1, (4, 6, 7), Cost(buffers=7, activations=168)),
    # topk reads all 120 values of a sample once (1 pool op each) and keeps 2 of the 6 along dim 2: 4·2·5 = 40
    ("topk", "topk: {k: 2, dim: 2}", X, 2, (4, 2, 5), Cost(pool_ops=2 * 120, activations=2 * 40)),
    # grid_sample of a 4×6×5 map at a 6×5 grid made from it (a 1×1 conv to 2 channels, moved last): bilinear, 4 taps
    # per output element and channel: 4 · 2·4·6·5 = 960; the conv is another layer
    ("grid_sample", "conv: {name: g, out: 2, kernel: 1}\n  - permute: {name: gp, dims: [0, 2, 3, 1]}\n"
                    "  - grid_sample: {from: [input, gp]}", X, 2, (4, 6, 5), Cost(pool_ops=960, activations=240)),
    # a learned 3×7 grid ([1, 3, 7, 2]: 42 params), nearest: a copy, 0 taps counted
    ("grid_sample", "grid_sample: {grid: [3, 7], mode: nearest}", X, 1, (4, 3, 7), Cost(params=42, activations=84)),
    # bicubic, 16 taps: 16 · 2·4·2·2 = 512; grid [1, 2, 2, 2]: 8 params
    ("grid_sample", "grid_sample: {grid: [2, 2], mode: bicubic, align_corners: true, padding_mode: border}", X, 2,
     (4, 2, 2), Cost(params=8, pool_ops=512, activations=32)),
    # ---- elementwise binary ops: one op per output element; a learned tensor's elements are params ----
    ("add", "add: {scalar: 1.5}", X, 2, (4, 6, 5), Cost(elementwise_ops=240, activations=240)),
    ("add", "add: {param: [1, 6, 5]}", X, 2, (4, 6, 5), Cost(params=30, elementwise_ops=240, activations=240)),
    # a [1, 6, 4] position embedding on 6 tokens of width 4 (to_tokens of 4×2×3)
    ("add", "to_tokens\n  - add: {param: [1, 6, 4]}", "[4, 2, 3]", 2, Tokens(6, 4),
     Cost(params=24, elementwise_ops=48, activations=48)),
    # broadcast: 4×6×5 + 4×1×1 (a mean over H×W); one op per output element
    ("add", "mean: {name: m, dims: [2, 3], keepdim: true}\n  - add: {from: [input, m]}", X, 2, (4, 6, 5),
     Cost(elementwise_ops=240, activations=240)),
    # timm's layer-scale gamma [C] on a channels-last grid: C params, one multiply per element
    ("multiply", "permute: {dims: [0, 2, 3, 1]}\n  - mul: {param: [4]}", X, 2, TokenGrid(6, 5, 4),
     Cost(params=4, elementwise_ops=240, activations=240)),
    ("multiply", "multiply: {scalar: 0.5}", X, 1, (4, 6, 5), Cost(elementwise_ops=120, activations=120)),
    ("multiply", "mul: {from: [input, input, input]}", X, 1, (4, 6, 5), Cost(elementwise_ops=240, activations=120)),
    ("sub", "sub: {from: [input, input]}", X, 2, (4, 6, 5), Cost(elementwise_ops=240, activations=240)),
    ("sub", "sub: {scalar: 1, reverse: true}", X, 1, (4, 6, 5), Cost(elementwise_ops=120, activations=120)),  # 1 − x
    ("div", "div: {param: [4, 1, 1]}", X, 2, (4, 6, 5), Cost(params=4, elementwise_ops=240, activations=240)),
    ("div", "div: {scalar: 2, reverse: true}", X, 1, (4, 6, 5), Cost(elementwise_ops=120, activations=120)),  # 2 / x
    ("pow", "pow: {scalar: 2}", X, 2, (4, 6, 5), Cost(elementwise_ops=240, activations=240)),
    # a [6, 1] param broadcast over W (and C): out 4×6×5
    ("maximum", "maximum: {param: [6, 1]}", X, 1, (4, 6, 5), Cost(params=6, elementwise_ops=120, activations=120)),
    ("minimum", "minimum: {from: [input, input]}", X, 1, (4, 6, 5), Cost(elementwise_ops=120, activations=120)),
    # [B, 1, 1, 5] times a learned [6, 5] (aligned at the right): [B, 1, 6, 5], 30 params, 30 products
    ("multiply", "mul: {param: [6, 5]}", "[1, 1, 5]", 1, (1, 6, 5), Cost(params=30, elementwise_ops=30, activations=30)),
    # a buffer's elements are buffers, not params: an input normalisation's (x - mean) / std, [C, 1, 1] and [1, C, 1, 1]
    ("sub", "sub: {buffer: [4, 1, 1]}", X, 2, (4, 6, 5), Cost(buffers=4, elementwise_ops=240, activations=240)),
    ("div", "div: {buffer: [1, 4, 1, 1]}", X, 1, (4, 6, 5), Cost(buffers=4, elementwise_ops=120, activations=120)),
    # mean − x with a [5] buffer on the left, broadcast over C and H
    ("sub", "sub: {buffer: [5], reverse: true}", X, 1, (4, 6, 5), Cost(buffers=5, elementwise_ops=120, activations=120)),
    # ---- comparisons: one op per output element (a bool mask); where: one pick per output element ----
    ("gt", "gt: {scalar: 0.5}", X, 2, (4, 6, 5), Cost(elementwise_ops=240, activations=240)),
    ("lt", "lt: {from: [input, input]}", X, 1, (4, 6, 5), Cost(elementwise_ops=120, activations=120)),
    ("ge", "ge: {buffer: [4, 1, 1]}", X, 1, (4, 6, 5), Cost(buffers=4, elementwise_ops=120, activations=120)),
    ("le", "le: {scalar: 0}", X, 1, (4, 6, 5), Cost(elementwise_ops=120, activations=120)),
    ("eq", "eq: {from: [input, input]}", X, 1, (4, 6, 5), Cost(elementwise_ops=120, activations=120)),
    ("ne", "ne: {scalar: 1}", X, 1, (4, 6, 5), Cost(elementwise_ops=120, activations=120)),
    ("where", "gt: {name: m, scalar: 0.5}\n  - where: {from: [m, input, input]}", X, 2, (4, 6, 5),
     Cost(elementwise_ops=240, activations=240)),
    ("where", "gt: {name: m, scalar: 0.5}\n  - where: {from: [m, input], scalar: 0}", X, 1, (4, 6, 5),
     Cost(elementwise_ops=120, activations=120)),
    # ---- unary math: one op per element ----
    *(_math(op) for op in ("sqrt", "rsqrt", "exp", "log", "abs", "neg", "reciprocal", "square", "sin", "cos", "erf")),
    ("clamp", "clamp: {min: 0.1}", "[3, 4, 5]", 2, (3, 4, 5), Cost(elementwise_ops=120, activations=120)),
    # ---- reductions: pool ops per input element (2 × 120): 1 each, 2 for var and std ----
    ("mean", "mean: {dims: [2, 3], keepdim: true}", X, 2, (4, 1, 1), Cost(pool_ops=240, activations=8)),
    ("mean", "to_tokens\n  - mean: {dims: 1}", "[4, 2, 3]", 2, (4,), Cost(pool_ops=48, activations=8)),  # over 6 tokens
    # a grid's H×W, kept: a 1×1 grid of 4-wide tokens
    ("mean", "to_tokens: {grid: true}\n  - mean: {dims: [1, 2], keepdim: true}", "[4, 2, 3]", 1, TokenGrid(1, 1, 4),
     Cost(pool_ops=24, activations=4)),
    ("sum", "sum: {dims: 1}", X, 2, (6, 5), Cost(pool_ops=240, activations=60)),
    ("amax", "amax: {dims: -1}", X, 2, (4, 6), Cost(pool_ops=240, activations=48)),
    ("amin", "amin: {dims: [1, 3]}", X, 1, (6,), Cost(pool_ops=120, activations=6)),
    ("norm", "norm: {dims: [2, 3], keepdim: true}", X, 2, (4, 1, 1), Cost(pool_ops=240, activations=8)),  # GRN's
    ("norm", "norm: {dims: 1, p: 1}", X, 1, (6, 5), Cost(pool_ops=120, activations=30)),
    ("var", "var: {dims: 1}", X, 2, (6, 5), Cost(pool_ops=2 * 240, activations=60)),
    ("std", "std: {dims: [2, 3], correction: 0, keepdim: true}", X, 1, (4, 1, 1), Cost(pool_ops=2 * 120, activations=4)),
    # ---- softmax over any dim: an exp, its share of the sum, a divide (log_softmax: a subtract) per element ----
    ("softmax", "softmax: {dim: -1}", X, 2, (4, 6, 5), Cost(act_ops=3 * 240, activations=240)),
    ("log_softmax", "log_softmax: {dim: 2}", X, 1, (4, 6, 5), Cost(act_ops=3 * 120, activations=120)),
    # ---- products: MACs of the contraction ----
    # [3, 4, 4] @ [3, 4, 4], batch 2: 2 · 3 · 4·4 outputs · 4 each
    ("matmul", "matmul: {from: [input, input]}", "[3, 4, 4]", 2, (3, 4, 4), Cost(macs=2 * 3 * 4 * 4 * 4, activations=96)),
    ("matmul", "matmul: {from: [input, input], call: bmm}", "[4, 4]", 2, (4, 4), Cost(macs=2 * 4 * 4 * 4, activations=32)),
    # 6 tokens of width 4 @ a learned [4, 7]: 6 tokens of width 7, 6·4·7 MACs per sample, 28 params
    ("matmul", "to_tokens\n  - matmul: {param: [4, 7]}", "[4, 2, 3]", 2, Tokens(6, 7),
     Cost(params=28, macs=2 * 6 * 4 * 7, activations=2 * 42)),
    # a learned [5, 6] @ each [6, 4] of 3: 3×5×4, 5·6·4 MACs each
    ("matmul", "matmul: {param: [5, 6], reverse: true, call: matmul}", "[3, 6, 4]", 2, (3, 5, 4),
     Cost(params=30, macs=2 * 3 * 5 * 6 * 4, activations=2 * 60)),
    ("matmul", "matmul: {param: [12, 3]}", "[12]", 3, (3,), Cost(params=36, macs=3 * 12 * 3, activations=9)),  # flat
    # b c i j, b c k j -> b c i k on [3, 4, 5], batch 2: letters b c i j k all take part, j contracted
    ("einsum", "einsum: {from: [input, input], equation: 'bcij,bckj->bcik'}", "[3, 4, 5]", 2, (3, 4, 4),
     Cost(macs=2 * 3 * 4 * 5 * 4, activations=2 * 48)),
    # an outer product contracts nothing: torch multiplies elementwise, one op per output element
    ("einsum", "einsum: {from: [input, input], equation: 'bi,bj->bij'}", "[4]", 2, (4, 4),
     Cost(elementwise_ops=2 * 16, activations=32)),
    # 'k' is only in the second operand and not in the output: torch sums it away first (reading 2·3·3 values),
    # then contracts j: 2·3·3 MACs
    ("einsum", "einsum: {from: [input, input], equation: 'bij,bjk->bi'}", "[3, 3]", 2, (3,),
     Cost(macs=2 * 3 * 3, pool_ops=2 * 3 * 3, activations=6)),
    # j is contracted but of size 1: torch squeezes it and multiplies elementwise, one op per output element
    ("einsum", "einsum: {from: [input, input], equation: 'bij,bij->bi'}", "[3, 1]", 2, (3,),
     Cost(elementwise_ops=2 * 3, activations=6)),
    # tokens 6×4 with a learned [4, 7]: 6·4·7 MACs, 28 params; tokens 6×7
    ("einsum", "to_tokens\n  - einsum: {equation: 'bnd,de->bne', param: [4, 7]}", "[4, 2, 3]", 2, Tokens(6, 7),
     Cost(params=28, macs=2 * 6 * 4 * 7, activations=2 * 42)),
    # three operands, contracted left to right as torch does: on [4, 4], batch 2, 'bij,bjk' contracts j over b, i, j, k
    # (2·4·4·4 = 128 MACs), then '·,bkl' contracts k over b, i, k, l (128 more)
    ("einsum", "einsum: {from: [input, input, input], equation: 'bij,bjk,bkl->bil'}", "[4, 4]", 2, (4, 4),
     Cost(macs=2 * 128, activations=2 * 16)),
    # l is only in the third operand and not in the output: summed away first (2·4·4 = 32 values read), then k is
    # contracted over b, i, k: 2·4·4 = 32 MACs; the first step as above, 128
    ("einsum", "einsum: {from: [input, input, input], equation: 'bij,bjk,bkl->bi'}", "[4, 4]", 2, (4,),
     Cost(macs=128 + 32, pool_ops=32, activations=8)),
    # j is in all three and not in the output: the first step multiplies elementwise (2·3·4 = 24 products), the second
    # contracts j over b, i, j (24 MACs)
    ("einsum", "einsum: {from: [input, input, input], equation: 'bij,bij,bij->bi'}", "[3, 4]", 2, (3,),
     Cost(macs=24, elementwise_ops=24, activations=6)),
    # nothing contracted: two elementwise multiplies of 2·5 values each
    ("einsum", "einsum: {from: [input, input, input], equation: 'bi,bi,bi->bi'}", "[5]", 2, (5,),
     Cost(elementwise_ops=2 * 10, activations=10)),
    # the last operand a learned [4, 6]: 128 MACs, then k contracted over b, i, k, l: 2·4·4·6 = 192; 24 params
    ("einsum", "einsum: {from: [input, input], equation: 'bij,bjk,kl->bil', param: [4, 6]}", "[4, 4]", 2, (4, 6),
     Cost(params=24, macs=128 + 192, activations=2 * 24)),
    # 2 heads of 5 queries and keys of width 4, batch 2: 2·2·5·5 = 100 scores; q·kᵀ 100·4 and a·v 100·4 MACs;
    # q scaled (2·2·5·4 = 80), softmax 3 per score
    ("scaled_dot_product_attention", "scaled_dot_product_attention: {from: [input, input, input]}", "[2, 5, 4]", 2,
     (2, 5, 4), Cost(macs=2 * 100 * 4, elementwise_ops=80, act_ops=300, activations=80)),
    # causal: the mask added to every score (100 more ops); torch computes every score
    ("scaled_dot_product_attention", "sdpa: {from: [input, input, input], is_causal: true}", "[2, 5, 4]", 2,
     (2, 5, 4), Cost(macs=2 * 100 * 4, elementwise_ops=80 + 100, act_ops=300, activations=80)),
    # a mask [2, 5, 1] (a mean, broadcast over the keys) added to the 2·5·5 = 50 scores of one sample
    ("scaled_dot_product_attention",
     "mean: {name: m, dims: -1, keepdim: true}\n  - sdpa: {from: [input, input, input, m], scale: 0.5}", "[2, 5, 4]", 1,
     (2, 5, 4), Cost(macs=2 * 50 * 4, elementwise_ops=40 + 50, act_ops=150, activations=40)),
    # a learned mask [1, 2, 5, 5] (held by the model, no fourth input): its 50 elements are params, one add per score
    ("scaled_dot_product_attention", "sdpa: {from: [input, input, input], mask: [1, 2, 5, 5]}", "[2, 5, 4]", 2,
     (2, 5, 4), Cost(params=50, macs=2 * 100 * 4, elementwise_ops=80 + 100, act_ops=300, activations=80)),
    # the same mask gathered from a table [9, 2] by an index [25] (a relative position bias): 18 params, 25 buffers
    ("scaled_dot_product_attention", "sdpa: {from: [input, input, input], mask: [1, 2, 5, 5], table: [9, 2], index: [25]}",
     "[2, 5, 4]", 1, (2, 5, 4), Cost(params=18, buffers=25, macs=2 * 50 * 4, elementwise_ops=40 + 50, act_ops=150,
                                     activations=40)),
    # ---- a constant made from its input's shape alone: its elements, no arithmetic ----
    # (each added to what it reads the batch of, so the model's output needs a gradient)
    ("constant", "constant: {name: grid, shape: [4, 6, 5]}\n  - add: {from: [input, grid]}", X, 2, (4, 6, 5),
     Cost(activations=2 * 120)),
    # 6 tokens of width 4 (to_tokens of 4×2×3)
    ("constant", "to_tokens\n  - constant: {name: grid, shape: [6, 4], layout: tokens}\n  - add: {from: [to_tokens1, grid]}",
     "[4, 2, 3]", 1, Tokens(6, 4), Cost(activations=24)),
    # ---- joins along any dim ----
    ("concat", "concat: {from: [input, input], dim: -1}", X, 2, (4, 6, 10), Cost(activations=2 * 240)),
    # tokens joined along their width: 6 tokens of 4 + 4
    ("concat", "to_tokens\n  - concat: {from: [to_tokens1, to_tokens1], dim: 2}", "[4, 2, 3]", 1, Tokens(6, 8),
     Cost(activations=48)),
    ("stack", "stack: {from: [input, input]}", "[4, 6]", 2, (2, 4, 6), Cost(activations=2 * 48)),
    ("stack", "stack: {from: [input, input, input], dim: -1}", "[4, 6]", 1, (4, 6, 3), Cost(activations=72)),
    ("chunk", "chunk: {index: 1, dim: 2}", X, 2, (4, 3, 5), Cost(activations=2 * 60)),  # H 6 in 2 parts: rows 3..5
    # 6 tokens of width 4, their width split in 2: 6 tokens of width 2
    ("chunk", "to_tokens\n  - chunk: {index: 0, dim: -1}", "[4, 2, 3]", 1, Tokens(6, 2), Cost(activations=12)),
]
