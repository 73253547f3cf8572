"""Small helpers with no knowledge of specs: atomic writes, GC pause, write errors."""
