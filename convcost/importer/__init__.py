"""`convcost import`: a user's torch module into a spec, in stages, each on the result of the last.

- trace (trace.py, placement.py; fx_nodes.py reads fx nodes): the model runs, for real or on the meta
  device, and every call is seen;
- recognise (recognise.py, patterns.py, windows.py: timm's Swin windows, aten_ops.py, general.py; torch modules by
  each op's ``from_torch``): the calls
  become convcost layers (:class:`~.tree.ImportedLayer`);
- fold (tree.py, fold.py; torch-free): layers nest into module scopes, joins into structures, repeated
  modules into blocks;
- write (write.py; torch-free): the spec's text.
"""
