"""CLI commands; each module registers itself on convcost.cli.app."""
