"""Renderers: turn analyses into a terminal table, JSON, markdown or CSV."""
