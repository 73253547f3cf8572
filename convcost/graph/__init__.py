"""The layer graph: a validated spec expanded into op nodes with shapes."""
