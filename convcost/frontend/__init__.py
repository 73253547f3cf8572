"""Spec front end: YAML with locations, the validated spec, and its expression language."""
