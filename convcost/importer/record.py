"""`convcost import`'s trace: one eager forward of the user's model, recorded at the aten level.

The model runs as its user runs it (eval mode, no autograd), on the meta device or the CPU
(placement.py chooses), under three recorders:

- a ``TorchDispatchMode`` sees every aten op torch dispatches: however the code spelled a convolution
  (nn.Conv2d, a subclass of it, ``F.conv2d``, timm's Conv2dSame), torch runs ``aten.convolution``;
- a ``TorchFunctionMode`` names each aten op after the torch function the user's code called (``chunk``
  for an aten split, ``adaptive_avg_pool2d`` for an aten mean): layers are named after what the code says.
  It also keeps a few functions whole that torch decomposes differently per device and shape (``F.linear``,
  ``F.scaled_dot_product_attention``, ``matmul``, ``einsum``, ``F.instance_norm``): each is one node, the aten
  op of its name, as ``torch.export`` shows them;
- global module hooks keep the module stack (torch's nn_module_stack): each node knows the module call it ran
  in, its path and class. nn.MultiheadAttention is kept whole (one node), as its op definition reads it.

Tensors are followed by identity: each tensor the forward reads is the model's input, a parameter or buffer
(by its paths), a tensor made outside the forward, or an earlier node's output. Nothing is traced
symbolically, so Python control flow, dict outputs and optional arguments are the forward's own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .graph import ModuleCall, Node, Recording, V, Value
from .meta_kernels import fast
from .nodynamo import without_dynamo
from .nosympy import without_sympy

if TYPE_CHECKING:
    import torch
    from torch import nn

# torch functions recorded as one node: torch decomposes them per device and shape (F.linear on a 3-D input is a
# view, an addmm and a view; scaled_dot_product_attention on meta is the math path's matmuls)
WHOLE = ("linear", "scaled_dot_product_attention", "matmul", "einsum", "instance_norm")
# torch.nn.functional functions recorded as one node, bound to their Python signature (no aten op of the name): F.lp_pool*d
# is pow, avg_pool, sign, abs, relu and two muls at the aten level; F.fractional_max_pool*d draws its windows' offsets
# with torch.rand (random values a trace would refuse) before its aten op: one op of convcost's each
# the 1-D pools, recorded as the aten op of their name: torch runs each as its 2-D op between an unsqueeze and a squeeze
POOLS_1D = ("max_pool1d", "max_pool1d_with_indices", "avg_pool1d", "adaptive_avg_pool1d", "adaptive_max_pool1d")
PYTHON_WHOLE = ("lp_pool1d", "lp_pool2d", "lp_pool3d", "fractional_max_pool2d", "fractional_max_pool3d",
                "fractional_max_pool2d_with_indices", "fractional_max_pool3d_with_indices")

_ARITH = {"radd": "add", "iadd": "add", "rmul": "mul", "imul": "mul", "rsub": "sub", "isub": "sub", "rmatmul": "matmul",
          "itruediv": "truediv", "rtruediv": "truediv", "rdiv": "div", "idiv": "div"}
CONTAINERS = ("Sequential", "ModuleList", "ModuleDict")


def python_signature(name: str, func: Any) -> Any:
    """The signature a PYTHON_WHOLE function's call is bound to: F.fractional_max_pool2d is a boolean dispatch taking
    ``*args``; its ``_with_indices`` form has the parameters."""
    import inspect

    from torch.nn import functional

    if name.startswith("fractional_max_pool"):
        func = getattr(functional, name.removesuffix("_with_indices") + "_with_indices")
    return inspect.signature(func)


def fn_name(func: Any) -> str:
    """The name of a torch function as code calls it: 'chunk' for x.chunk and torch.chunk, 'add' for x + y."""
    name = str(getattr(func, "__name__", "") or type(func).__name__).strip("_")
    return _ARITH.get(name, name)


def qualname(cls: type) -> str:
    return f"{cls.__module__.replace('torch.nn.modules', 'torch.nn')}.{cls.__name__}"


def spelled(func: Any, name: str) -> str:
    """How the code spelled a torch function: 'F.relu' (torch.nn.functional, its C functions included: F.gelu),
    'torch.relu', or 'x.relu' (a Tensor method); '' for anything else."""
    module = getattr(func, "__module__", None) or ""
    if module in ("torch.nn.functional", "torch._C._nn"):
        return f"F.{name}"
    if module == "torch":
        return f"torch.{name}"
    owner = str(getattr(func, "__qualname__", "")).partition(".")[0]
    return f"x.{name}" if owner in ("Tensor", "TensorBase") else ""


def _bind(schema: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    names = [a.name for a in schema.arguments]
    bound = dict(zip(names, args))
    bound.update(kwargs)
    return bound


class _Recorder:
    def __init__(self, model: nn.Module, leaf: Any) -> None:
        import torch

        self.torch = torch
        self.rec = Recording()
        self.ids: dict[int, int] = {}  # id(tensor) -> value id
        self.keep: list[Any] = []  # every tensor seen, alive: an id is never reused while recording
        self.stack: list[int] = []  # module calls in progress
        self.fn = ""  # the torch function in progress (the outermost)
        self.spelled = ""  # ... as the code spelled it ('F.relu')
        self.pause = 0  # inside a module kept whole
        self.padding = ""  # padding='same' or 'valid' of the F.conv*d call in progress (aten sees numbers)
        self.size = ""  # 'int' or 'list': the size of the F.interpolate call in progress as written (aten sees a list)
        self.leaf = leaf
        self.names: dict[int, str] = {}
        for name, m in model.named_modules(remove_duplicate=False):
            self.names.setdefault(id(m), name)
        self.known: dict[int, tuple[str, tuple[str, ...]]] = {}
        for kind, named in (("param", model.named_parameters(remove_duplicate=False)),
                            ("buffer", model.named_buffers(remove_duplicate=False))):
            for name, t in named:
                k, paths = self.known.get(id(t), (kind, ()))
                self.known[id(t)] = (k, (*paths, name))
                self.keep.append(t)
                self.rec.tensors[name] = (kind, tuple(t.shape))
        for _, paths in self.known.values():
            for p in paths[1:]:
                self.rec.tied[p] = paths[0]
        for name, m in model.named_modules():
            self.rec.classes[name] = type(m).__name__
            self.rec.qualnames[name] = qualname(type(m))
            self.rec.bases[name] = tuple(qualname(c) for c in type(m).__mro__[1:] if c is not object)

    # ---- values --------------------------------------------------------------------------------------------
    def value(self, t: torch.Tensor) -> int:
        v = self.ids.get(id(t))
        if v is not None:
            return v
        kind, paths = self.known.get(id(t), ("const", ()))
        return self._new(t, kind, paths=paths)

    def _new(self, t: torch.Tensor, kind: str, node: int = -1, index: int = 0, paths: tuple[str, ...] = ()) -> int:
        v = len(self.rec.values)
        self.rec.values.append(Value(v, tuple(t.shape), str(t.dtype).replace("torch.", ""), kind, node, index, paths))
        self.ids[id(t)] = v
        self.keep.append(t)
        return v

    def plain(self, a: Any) -> Any:
        """An argument as data: tensors as V, lists and tuples walked, torch objects (dtype, device) as text."""
        if isinstance(a, self.torch.Tensor):
            return V(self.value(a))
        if isinstance(a, (list, tuple)):
            return [self.plain(x) for x in a]
        if isinstance(a, dict):
            return {str(k): self.plain(x) for k, x in a.items()}
        if a is None or isinstance(a, (bool, int, float, str)):
            return a
        return str(a)

    def node(self, kind: str, op: str, args: dict[str, Any], out: Any, overload: str = "default") -> None:
        index = len(self.rec.nodes)
        bound = {k: self.plain(a) for k, a in args.items()}
        flat = out if isinstance(out, (list, tuple)) else [out]
        outs = tuple(self._new(t, "node", index, k) for k, t in enumerate(flat) if isinstance(t, self.torch.Tensor))
        self.rec.nodes.append(Node(index, kind, op, self.fn or op, self.stack[-1] if self.stack else -1, bound, outs, overload,
                                  self.spelled if self.fn else ""))

    # ---- module calls -------------------------------------------------------------------------------------
    def enter(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        if self.pause:
            self.pause += self.leaf(module) is not None
            return
        cls = type(module)
        nn_own = cls.__module__.startswith("torch.nn.") and cls.__name__ not in CONTAINERS
        ins = tuple(self.value(a) for a in args if isinstance(a, self.torch.Tensor))
        call = ModuleCall(len(self.rec.calls), self.names.get(id(module), "?"), cls.__name__, qualname(cls),
                          self.stack[-1] if self.stack else -1, nn_own, ins, first=len(self.rec.nodes))
        self.rec.calls.append(call)
        self.stack.append(call.index)
        if self.leaf(module) is not None:
            self.pause += 1

    def exit(self, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> None:
        found = self.leaf(module)
        if self.pause > 1 or (self.pause == 1 and found is None):
            self.pause -= found is not None
            return
        if found is not None:
            self.pause -= 1
            call = self.rec.calls[self.stack[-1]]
            self.node("module", "module", {"found": found, "args": list(args), "kwargs": dict(kwargs)}, out)
        if not self.stack:  # pragma: no cover - a hook without its pre-hook (a module entered before recording)
            return
        call = self.rec.calls[self.stack.pop()]
        call.last = len(self.rec.nodes)
        flat = out if isinstance(out, (list, tuple)) else [out]
        call.outs = tuple(self.ids[id(t)] for t in flat if isinstance(t, self.torch.Tensor) and id(t) in self.ids)

    # ---- outputs --------------------------------------------------------------------------------------------
    def outputs(self, out: Any, label: str = "") -> None:
        torch = self.torch
        if isinstance(out, torch.Tensor):
            self.rec.outputs.append((label or "0", self.ids.get(id(out), self.value(out))))
        elif isinstance(out, dict):
            for k, x in out.items():
                self.outputs(x, f"{label}.{k}" if label else str(k))
        elif isinstance(out, (list, tuple)):
            for k, x in enumerate(out):
                self.outputs(x, f"{label}.{k}" if label else str(k))
        # anything else (a number, a string, None) is no tensor: no layer makes it, nothing to count


def record(model: nn.Module, inputs: tuple[torch.Tensor, ...], leaf: Any) -> Recording:
    """Run ``model(*inputs)`` once (no autograd) and record it. ``leaf(module)``: what to make of a module kept
    whole (one node holding it), or None to record inside it. Raises what the forward raises."""
    import torch
    from torch.nn.modules import module as module_hooks
    from torch.overrides import TorchFunctionMode
    from torch.utils._python_dispatch import TorchDispatchMode

    r = _Recorder(model, leaf)

    class Functions(TorchFunctionMode):
        def __torch_function__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None) -> Any:
            kwargs = kwargs or {}
            if r.fn or r.pause:
                return func(*args, **kwargs)
            name = fn_name(func)
            circular = name == "pad" and kwargs.get("mode", args[2] if len(args) > 2 else "") == "circular"
            if name in WHOLE or name in POOLS_1D or name in PYTHON_WHOLE or circular:
                # F.pad(mode='circular') (a conv's padding_mode='circular'): torch fills a new tensor in place, slice by
                # slice, which traces as a tensor made from nothing; aten.pad of the call is what the code asked for
                r.pause += 1
                try:
                    out = func(*args, **kwargs)
                finally:
                    r.pause -= 1
                if name in PYTHON_WHOLE:
                    bound = dict(python_signature(name, func).bind(*args, **kwargs).arguments)
                elif name == "einsum":
                    ops = list(args[1:]) if len(args) > 2 or not isinstance(args[1], (list, tuple)) else list(args[1])
                    bound = {"equation": args[0], "tensors": ops}
                else:
                    aten = getattr(torch.ops.aten, name).default
                    if func.__name__ == "__rmatmul__":
                        args = (args[1], args[0])
                    bound = _bind(aten._schema, args, kwargs)
                r.fn, r.spelled = name, spelled(func, name)
                try:
                    r.node("function", name, bound, out)
                finally:
                    r.fn = ""
                return out
            r.fn, r.spelled = name, spelled(func, name)
            given = kwargs.get("padding", args[4] if len(args) > 4 else None) if name in ("conv1d", "conv2d", "conv3d") else None
            r.padding = given if isinstance(given, str) else ""
            size = kwargs.get("size", args[1] if len(args) > 1 else None) if name == "interpolate" else None
            r.size = "" if size is None else "list" if isinstance(size, (list, tuple)) else "int"
            try:
                return func(*args, **kwargs)
            finally:
                r.fn, r.padding, r.size = "", "", ""

    class Aten(TorchDispatchMode):
        def __torch_dispatch__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None) -> Any:
            kwargs = kwargs or {}
            out = fast(func, args, kwargs)  # torch's own result; a meta batch norm without its slow decomposition
            if not r.pause:
                bound = _bind(func._schema, args, kwargs)
                if r.padding and func._opname in ("convolution", "_convolution", "constant_pad_nd"):
                    # F.conv2d(..., padding='same'), as the code wrote it; with an even kernel torch pads the extra row and
                    # column itself (a constant_pad_nd inside the call), then convolves
                    bound = {**bound, "padding_written": r.padding}
                if r.size and "upsample_" in func._opname:  # upsample_*, _upsample_nearest_exact*, _upsample_*_aa
                    bound = {**bound, "size_written": r.size}  # F.interpolate(x, size=(8, 8)): calflops counts a list's product
                r.node("aten", func._opname, bound, out, func._overloadname)
            return out

    for x in inputs:
        r.rec.inputs = (*r.rec.inputs, r._new(x, "input"))
    r.rec.device = str(inputs[0].device) if inputs else "cpu"
    pre = module_hooks.register_module_forward_pre_hook(lambda m, a: r.enter(m, a))
    post = module_hooks.register_module_forward_hook(lambda m, a, k, o: r.exit(m, a, k, o), with_kwargs=True)
    try:
        with without_dynamo(), without_sympy(), torch.no_grad(), Functions(), Aten():
            out = model(*inputs)
    finally:
        pre.remove()
        post.remove()
    r.outputs(out)
    return r.rec
