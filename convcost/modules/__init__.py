"""The torch.nn modules that op definitions build (convcost/ops/, each op's ``build``) besides torch.nn's own.

Every module here imports torch at the top: op definitions import them lazily, inside ``build``, so the
analytic path never imports torch. They know nothing of specs or graphs (crosscheck/torch_build.py nests them).
"""
