"""streamkit's benchmark suite: ``python -m benchmarks [--quick | --full]``.

See ``benchmarks/README.md``. Not part of the installed package.
"""
