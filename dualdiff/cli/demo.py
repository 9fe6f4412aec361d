"""``python -m dualdiff``: a demo on built-in problems; ``check`` for your own.

    python -m dualdiff                                # the demo
    python -m dualdiff check "sin(x)*exp(y)" --at x=1,y=2
    python -m dualdiff check mypkg.mymod:func --at 1,2
"""

import sys
import time

import numpy as np


def _time_per_call(fn, budget=0.2):
    """Median seconds per call over batches filling about ``budget`` seconds."""
    fn()
    reps = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        elapsed = time.perf_counter() - t0
        if elapsed > budget / 10 or reps > 1_000_000:
            break
        reps *= 4
    batches = []
    for _ in range(7):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        batches.append((time.perf_counter() - t0) / reps)
    return float(np.median(batches))


def _rel(a, b):
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1.0)))


def _us(seconds):
    return f"{seconds * 1e6:9.2f} us"


def demo(out=print):
    import numba

    import dualdiff as dd
    from dualdiff import fd
    from dualdiff.examples import (
        broyden, broyden_jacobian, example, example_derivative, rosenbrock,
        rosenbrock_gradient,
    )

    out(f"dualdiff {dd.__version__}: exact derivatives of ordinary numeric Python code")
    out(f"(numpy {np.__version__}, numba {numba.__version__})\n")

    out("1. f(x) = sqrt(x^2 + exp(x^2)) + cos(x^2 + exp(x^2)), written with math.* calls")
    t0 = time.perf_counter()
    dd.derivative(example, 0.0)
    out(f"   first call (compiles f for dual numbers): {time.perf_counter() - t0:.2f} s")
    out(f"   {'x':>6}  {'dualdiff f(x)':>22}  {'central FD':>22}  {'|AD - exact|':>12}  {'|FD - exact|':>12}")
    for x in (-1.0, 0.0, 0.7, 1.3):
        ad = dd.derivative(example, x)
        num = fd.derivative(example, x, method="central")
        exact = example_derivative(x)
        out(f"   {x:6.2f}  {ad:22.16f}  {num:22.16f}  {abs(ad - exact):12.1e}  {abs(num - exact):12.1e}")
    out(f"   time per call: dualdiff {_us(_time_per_call(lambda: dd.derivative(example, 0.7)))}, "
        f"central FD {_us(_time_per_call(lambda: fd.derivative(example, 0.7)))}\n")

    out("2. Rosenbrock gradient (a loop with s = 0.0 accumulation, unmodified)")
    for n in (10, 100):
        x = np.linspace(-1.2, 1.2, n)
        ad = dd.gradient(rosenbrock, x)
        num = fd.gradient(rosenbrock, x)
        exact = rosenbrock_gradient(x)
        out(f"   n = {n:4d}: max rel. error AD {_rel(ad, exact):.1e}, "
            f"central FD {_rel(num, exact):.1e}; time per gradient: "
            f"dualdiff {_us(_time_per_call(lambda: dd.gradient(rosenbrock, x)))}, "
            f"central FD {_us(_time_per_call(lambda: fd.gradient(rosenbrock, x)))}")
    out("")

    out("3. Jacobian of the Broyden tridiagonal function (fills out = np.empty_like(x))")
    x = np.linspace(-0.5, 0.5, 8)
    J = dd.jacobian(broyden, x)
    num = fd.jacobian(broyden, x)
    out(f"   n = 8: max rel. error AD {_rel(J, broyden_jacobian(x)):.1e}, "
        f"central FD {_rel(num, broyden_jacobian(x)):.1e}")
    out(f"   first row of J: {np.array2string(J[0], precision=3, suppress_small=True)}")
    out(f"   time per Jacobian: dualdiff {_us(_time_per_call(lambda: dd.jacobian(broyden, x)))}, "
        f"central FD {_us(_time_per_call(lambda: fd.jacobian(broyden, x)))}\n")
    out("Check your own function: python -m dualdiff check \"sin(x)*exp(y)\" --at x=1,y=2")
    return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0
    if argv and argv[0] == "check":
        from .check import main as check_main
        return check_main(argv[1:])
    if argv:
        print(f"dualdiff: unknown command {argv[0]!r}; try: python -m dualdiff --help",
              file=sys.stderr)
        return 2
    return demo()
