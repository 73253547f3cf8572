"""Does the spec compute what the model computes? Two convcost graphs compared op by op, matched by data flow.

`verify --reference` has two graphs of the same vocabulary: the spec's, and the user's model as the importer reads
it (model_graph.py), each a list of *steps* (steps.py: pass-through layers dropped, compositions lowered).

**Matching follows the data flow, not the order layers run in.** The spec's steps are taken in the spec's order;
each is paired with a model step not yet paired that reads the model steps its own inputs were paired with (the
model's inputs pair with the spec's), preferring one with the same op, arguments and output size. So a model that
runs a residual's projection before its body, or its branches in another order than the spec, pairs every step.
Two such candidates with the same op and arguments (Q, K and V projections) are told apart by what reads them
(a label of each step's readers, their readers' readers and so on, like Weisfeiler-Lehman's).

Where no candidate is the same, the alignment looks a few steps ahead before calling it a difference: a chain of
model steps the spec lacks (a residual's add, a whole squeeze-excite gate) or spec steps the model lacks are
reported as *extra* and stepped over, so what comes after them pairs again; otherwise the closest candidate (same
op, then same category) is paired with what differs named: "spec relu, model gelu (GELU)", "heads: spec 4,
model 2", "output: spec 64×28×28, model 64×56×56". An opaque model step (the importer could not read it) pairs with
whatever the spec has there as *not compared*, and so do the spec steps after it, or beside it, that nothing else
in the model reads (its *group*: reference.py compares their counts, added up, with the part's). The first pair that
differs, in the spec's order, is the divergence.

Torch-free: it reads graphs only.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..ops.registry import rule
from ..ops.shapes import fmt_shape, numel
from .counters import Status
from .steps import Side, Step, compared_values, readers_of, same_op

COMMUTATIVE = frozenset({"add", "multiply"})  # joins whose inputs may come in any order
LOOK_AHEAD = 3  # how many extra steps in a row the alignment steps over before calling a pair different


@dataclass(frozen=True)
class StepPair:
    """A spec step and the model step it pairs with (None: that side has nothing there) and how they compare."""

    spec: Step | None
    model: Step | None
    status: Status
    differences: tuple[str, ...] = ()  # what differs (MISMATCH), or why it is not compared (NOT_COMPARED)
    group: tuple[Step, ...] = ()  # an opaque model step's pair: every spec step it stands for (their counts add up)

    @property
    def ok(self) -> bool:
        return self.status != Status.MISMATCH


@dataclass(frozen=True)
class Alignment:
    pairs: tuple[StepPair, ...]
    outputs: tuple[str, ...] = ()  # how the outputs differ ('' when each spec output pairs with the model's)

    @property
    def divergence(self) -> StepPair | None:
        return next((p for p in self.pairs if not p.ok), None)


# ---- matching -------------------------------------------------------------------------------------------
def _down_labels(steps: Sequence[Step], outputs: Sequence[int]) -> list[int]:
    """Each step's label of what reads it, transitively (its op and arguments, and its readers' labels with the
    input slot they read it in): equal for steps whose futures look alike."""
    readers = readers_of(steps)
    outs = {o: k for k, o in enumerate(outputs)}
    labels = [0] * len(steps)
    for st in reversed(steps):
        below = sorted((labels[r], -1 if steps[r].op in COMMUTATIVE else steps[r].inputs.index(st.index))
                       for r in readers.get(st.index, ()))
        labels[st.index] = hash((st.op, _hashable(compared_values(st.args)), tuple(below), outs.get(st.index, -1)))
    return labels


def _hashable(args: Any) -> Any:
    try:
        hash(args)
        return args
    except TypeError:  # pragma: no cover - every argument record is a frozen dataclass of hashable values
        return repr(args)


class _Aligner:
    def __init__(self, spec: Side, model: Side) -> None:
        self.s, self.m = spec.steps, model.steps
        self.spec_outputs, self.model_outputs = spec.outputs, model.outputs
        self.to_model: dict[int, int] = {}  # spec step -> the model step (or input) standing for it
        self.alias: dict[int, int] = {}  # model step the spec lacks -> what it passes on
        self.paired: set[int] = set()
        self.groups: dict[int, list[int]] = defaultdict(list)  # opaque model step -> the spec steps it stands for
        self.readers = readers_of(self.m)
        self.spec_readers = readers_of(self.s)
        self.down_s = _down_labels(self.s, spec.outputs)
        self.down_m = _down_labels(self.m, model.outputs)
        self.out: list[StepPair] = []

    # -- correspondences
    def corr(self, a: int) -> int | None:
        return a if a < 0 else self.to_model.get(a)

    def canon(self, i: int) -> int:
        while i in self.alias:
            i = self.alias[i]
        return i

    def reads(self, m: Step, also: Mapping[int, int] | None = None) -> tuple[int, ...]:
        also = also or {}
        return tuple(self.canon(also.get(i, i)) for i in m.inputs)

    @staticmethod
    def fits(got: tuple[int | None, ...], want: tuple[int | None, ...], commutative: bool) -> bool:
        if commutative:
            return sorted(got, key=str) == sorted(want, key=str)
        return got == want

    def free(self, i: int) -> bool:
        return i not in self.paired and i not in self.alias

    def candidates(self, ins: tuple[int | None, ...]) -> list[int]:
        found = {r for i in ins if i is not None for r in self.readers.get(i, ()) if self.free(r)}
        return sorted(found)

    # -- the walk
    def run(self) -> Alignment:
        for s in self.s:
            self.step(s)
        self.leftovers()
        out = [dataclasses.replace(p, group=tuple(self.s[i] for i in self.groups[p.model.index]))
               if p.model is not None and p.model.index in self.groups and p.spec is not None else p for p in self.out]
        return Alignment(tuple(out), self.outputs_differ())

    def step(self, s: Step) -> None:
        ins = tuple(self.corr(a) for a in s.inputs)
        comm = s.op in COMMUTATIVE
        cands = self.candidates(ins)
        fit = [c for c in cands if self.fits(self.reads(self.m[c]), ins, comm or self.m[c].op in COMMUTATIVE)]
        same = [c for c in fit if same_op(s, self.m[c])]
        if same:
            self.pair(s, self._best(s, same), ins)
            return
        ahead = self.model_extra(s, ins, cands)
        if ahead is not None:
            chain, c, t = ahead
            for e in chain:
                self.extra_model(e, t, s)
            self.pair(s, c, ins)
            return
        t = self.spec_extra(s, ins, cands)
        if t is not None:
            if t >= 0 and self.m[t].opaque:  # what s passes on is the unread part's: it may be part of it
                self.absorb(s, t)
            else:
                self.extra_spec(s, t)
            return
        opaque = [c for c in cands if self.m[c].opaque]
        if opaque:
            self.pair(s, opaque[0], ins)
            return
        if cands:
            c = min(cands, key=lambda c: (c not in fit, self.m[c].op != s.op,
                                          rule(self.m[c].op).category != rule(s.op).category, c))
            self.pair(s, c, ins)
            return
        unread = self.unread_around(s, ins)
        if unread is not None:
            self.absorb(s, unread)
            return
        self.extra_spec(s, next((i for i in ins if i is not None), None))

    def _best(self, s: Step, same: list[int]) -> int:
        return next((c for c in same if self.down_m[c] == self.down_s[s.index]), same[0])

    def model_extra(self, s: Step, ins: tuple[int | None, ...], cands: list[int]) -> tuple[list[int], int, int] | None:
        """Model steps the spec lacks, then a step the same as ``s``: (the chain, that step, what the chain passes on)."""
        for c in cands:
            first = self.m[c]
            if first.opaque:
                continue
            t = next((i for i in self.reads(first) if i in ins), None)
            if t is None:
                continue
            chain = [c]
            frontier = [chain]
            for _ in range(LOOK_AHEAD):
                grown = []
                for ch in frontier:
                    for r in self.readers.get(ch[-1], ()):
                        if not self.free(r) or self.m[r].opaque:
                            continue
                        also = {e: t for e in ch}
                        got = self.reads(self.m[r], also)
                        if same_op(s, self.m[r]) and self.fits(got, ins, s.op in COMMUTATIVE):
                            return ch, r, t
                        grown.append([*ch, r])
                frontier = grown
        return None

    def spec_extra(self, s: Step, ins: tuple[int | None, ...], cands: list[int]) -> int | None:
        """Whether ``s`` (and maybe a few spec steps after it) is missing from the model: a later spec step is the
        same as a candidate here. Returns what ``s`` passes on in the model."""
        for t in ins:
            if t is None:
                continue
            frontier = [[s.index]]
            for _ in range(LOOK_AHEAD):
                grown = []
                for ch in frontier:
                    for r in self.spec_readers.get(ch[-1], ()):
                        nxt = self.s[r]
                        want = tuple(t if a in ch else self.corr(a) for a in nxt.inputs)
                        comm = nxt.op in COMMUTATIVE
                        for c in cands:
                            if same_op(nxt, self.m[c]) and self.fits(self.reads(self.m[c]), want, comm):
                                return t
                        grown.append([*ch, r])
                frontier = grown
        return None

    # -- recording
    def unread_around(self, s: Step, ins: tuple[int | None, ...]) -> int | None:
        """An opaque model step ``s`` may be part of: one it reads (the spec says in several steps what the model
        does in one it cannot read), or one that reads what ``s`` reads (a branch of it)."""
        for i in ins:
            if i is not None and i >= 0 and self.m[i].opaque:
                return i
        return next((r for i in ins if i is not None for r in self.readers.get(i, ()) if self.m[r].opaque), None)

    def absorb(self, s: Step, c: int) -> None:
        self.to_model[s.index] = c
        self.groups[c].append(s.index)
        self.out.append(StepPair(s, None, Status.NOT_COMPARED,
                                 (f"part of what the model's '{self.m[c].name}' computes, which convcost cannot read",)))

    def pair(self, s: Step, c: int, ins: tuple[int | None, ...]) -> None:
        m = self.m[c]
        self.to_model[s.index] = c
        self.paired.add(c)
        if m.opaque:
            self.groups[c].append(s.index)
            self.out.append(StepPair(s, m, Status.NOT_COMPARED, (unread(m),)))
            return
        diffs = differences(s, m)
        got = self.reads(m)
        if not self.fits(got, ins, s.op in COMMUTATIVE or m.op in COMMUTATIVE):
            diffs.append(f"reads: spec {self._names_s(s)}, model {self._names_m(got)}")
        self.out.append(StepPair(s, m, Status.MISMATCH if diffs else Status.OK, tuple(diffs)))

    def extra_model(self, c: int, passes: int, before: Step) -> None:
        m = self.m[c]
        reads = self._names_m(self.reads(m))
        self.alias[c] = passes
        self.readers[passes].extend(r for r in self.readers.get(c, ()) if r not in self.readers[passes])
        if m.opaque:
            self.out.append(self._model_only(m))
            return
        self.out.append(StepPair(None, m, Status.MISMATCH, (
            f"the spec has no {m.op} here: the model's '{m.name}' reads {reads} before its {before.op}; the spec's "
            f"'{before.name}' ({before.op}) reads {self._names_s(before)}",)))

    def extra_spec(self, s: Step, passes: int | None) -> None:
        if passes is not None:
            self.to_model[s.index] = passes
        self.out.append(StepPair(s, None, Status.MISMATCH, (f"the model has no {s.op} here (after {self._names_s(s)})",)))

    def _model_only(self, m: Step) -> StepPair:
        if m.opaque:
            return StepPair(None, m, Status.NOT_COMPARED, (unread(m),))
        return StepPair(None, m, Status.MISMATCH,
                        (f"the spec has no {m.op} here (the model's '{m.name}', reading {self._names_m(self.reads(m))})",))

    def leftovers(self) -> None:
        """Model steps nothing paired with: each placed after the pair of the model step it reads."""
        rest = [c for c in range(len(self.m)) if self.free(c)]
        if not rest:
            return
        where: dict[int, int] = {}
        for k, p in enumerate(self.out):
            if p.model is not None:
                where[p.model.index] = k
        after: dict[int, list[StepPair]] = defaultdict(list)
        for c in rest:
            first = self.canon(self.m[c].inputs[0]) if self.m[c].inputs else -1
            after[where.get(first, -1)].append(self._model_only(self.m[c]))
            where[c] = where.get(first, -1)
        out: list[StepPair] = list(after.get(-1, []))
        for k, p in enumerate(self.out):
            out.append(p)
            out.extend(after.get(k, []))
        self.out = out

    def outputs_differ(self) -> tuple[str, ...]:
        spec = tuple(self.corr(o) for o in self.spec_outputs)
        model = tuple(self.canon(o) for o in self.model_outputs)
        if spec == model or any(i is not None and i >= 0 and self.m[i].opaque for i in (*spec, *model)):
            return ()  # the same, or an unread part's: not known
        return (f"the spec's outputs {self._names_s_outputs()} are not the model's {self._names_m(model)}",)

    # -- names for messages
    def _names_s(self, s: Step) -> str:
        return ", ".join("the input" if a < 0 else f"'{self.s[a].name}'" for a in s.inputs) or "nothing"

    def _names_s_outputs(self) -> str:
        return ", ".join("the input" if a < 0 else f"'{self.s[a].name}'" for a in self.spec_outputs)

    def _names_m(self, ins: Sequence[int | None]) -> str:
        return ", ".join("the input" if i is not None and i < 0 else "?" if i is None else f"'{self.m[i].name}'"
                         for i in ins) or "nothing"


def unread(m: Step) -> str:
    """Why an opaque model step is not compared (the importer's identity-row note, without its preamble)."""
    return f"convcost cannot read it: {m.opaque.removeprefix('unsupported, kept as identity: ')}"


def differences(s: Step, m: Step) -> list[str]:
    """What differs between a spec step and a model step: the op, each argument, the output."""
    out: list[str] = []
    if s.op != m.op:
        model = m.op if m.kind == m.op else f"{m.op} ({m.kind})"
        out.append(f"spec {s.op}, model {model} at '{m.name}'")
    else:
        for (name, a), (_, b) in zip(compared_values(s.args), compared_values(m.args)):
            if a != b:
                out.append(f"{s.op} {name}: spec {_show(a)}, model {_show(b)} at '{m.name}'")
    if not m.unsure and numel(s.shape) != numel(m.shape):
        out.append(f"output: spec {fmt_shape(s.shape)}, model {fmt_shape(m.shape)}")
    return out


def _show(v: Any) -> str:
    if isinstance(v, tuple) and v and all(isinstance(x, int) for x in v):
        return fmt_shape(v) if len(set(v)) > 1 else str(v[0])
    if isinstance(v, bool) or v is None:
        return str(v).lower() if v is not None else "none"
    return str(v)


def align(spec: Side, model: Side) -> Alignment:
    """Pair the spec's steps with the model's (see the module docstring)."""
    return _Aligner(spec, model).run()
