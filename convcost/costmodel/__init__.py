"""The analytic cost model: per-layer cost records, memory, roofline, comparisons. Never imports torch."""
