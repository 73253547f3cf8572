"""Op definitions, one module per family (conv, norm, pool, ...). Importing this package registers
nothing yet: registry.py's tables import an op module the first time one of its names is asked for,
and every op module before they are iterated (``load_all``), so a spec pays only for the ops it uses."""

from .registry import ALIASES, REGISTRY, OpRule, Shape, ShapeError, all_names, all_rules, load_all, lookup

__all__ = ["ALIASES", "REGISTRY", "OpRule", "Shape", "ShapeError", "all_names", "all_rules", "load_all", "lookup"]
