"""The row machinery of the CPU kernels (:mod:`warpkit.backends.cpu`), one pass per module."""
