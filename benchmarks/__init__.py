"""Benchmarks for dualdiff.  Run ``python -m benchmarks [suite ...] [--quick]``.

Every suite is a module of this package with a
``run(quick=False, clock="cpu") -> dict`` function that prints its own table
and returns what it measured (written to ``benchmarks/results/<suite>.json``
by the runner).  Register a new suite
(for example a comparison against JAX or PyTorch) by adding it to ``SUITES``.

These are measurements printed for people, never timed tests: nothing here
fails because a machine is slow.
"""

#: suite name -> (module, one-line description); run in this order by default
SUITES = {
    "core": ("benchmarks.core",
             "dualdiff against plain Numba and hand-written Numba derivatives"),
    "fd_vs_ad": ("benchmarks.fd_vs_ad", "finite differences (dualdiff.fd) against AD: accuracy and cost"),
    "arrays": ("benchmarks.arrays", "vectorized dual-array code against loop-style dual code"),
    "reverse": ("benchmarks.reverse", "reverse mode against forward mode and hand-written gradients / backprop"),
    "hessian": ("benchmarks.hessian", "dd.hessian against the plain function and a hand-written Hessian"),
    "crossover": ("benchmarks.crossover", "the measurements behind the auto-mode thresholds and the automatic Hessian block size"),
    "latency": ("benchmarks.latency", "compile latency: the first result in fresh processes, cold and warm on-disk cache"),
    "peers": ("benchmarks.peers", "against JAX, PyTorch, autograd, numdifftools, SciPy (needs the bench extra; only when named)"),
}

__all__ = ["SUITES"]
