"""CLI commands; each module registers itself on convcost.app.app (convcost/cli.py imports them all)."""
