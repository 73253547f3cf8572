"""CI: budgets, baselines and what a CI log reader understands."""
