"""Build (and optionally execute) ``05-ad-versus-finite-differences.ipynb``.

The notebook is generated from the cells below so that its source stays
reviewable as ordinary Python.  Usage, from the repository root::

    python notebooks/_build_05.py            # write and execute
    python notebooks/_build_05.py --no-run   # write only (no outputs)

Executing needs ``nbclient`` and ``ipykernel`` (the ``test`` extra); the
notebook is run with the ``python3`` kernel and its outputs are saved.  The
notebook itself needs dualdiff, NumPy and mpmath (in the ``test`` extra);
matplotlib is optional: without it the plots are replaced by tables.
"""

from _nbbuild import Notebook

nb = Notebook("05-ad-versus-finite-differences.ipynb")
md, code = nb.md, nb.code

# ---------------------------------------------------------------------------

md(r"""
# Automatic differentiation versus finite differences

Finite differences approximate a derivative from function values at nearby
points.  Every such formula carries two errors that pull in opposite
directions, so the step size must be *chosen* and the result is never
exact.  Forward-mode automatic differentiation (AD) with dual numbers, as in
`dualdiff`, has neither error: it applies the chain rule to each operation
the program performs, so the derivative is as accurate as the function
value itself.

This notebook shows:

1. the classic error-versus-step curves of forward, central and complex-step
   differences, and why they look like a "V";
2. that AD matches a 50-digit reference to rounding level;
3. exact second derivatives (nested dual numbers) against finite-difference
   second derivatives, which lose even more digits;
4. what a gradient costs with each method as the number of variables grows.

The finite differences come from `dualdiff.fd`, a careful implementation
with automatic step selection, so the comparison is fair to them.
""")

code(r"""
import math
import time

import mpmath
import numpy as np
import numba

import dualdiff as dd
from dualdiff import fd
from dualdiff.examples import rosenbrock, rosenbrock_gradient

try:                                   # plots are optional; tables are printed without them
    import matplotlib.pyplot as plt
    HAVE_MPL = True
except ImportError:
    HAVE_MPL = False

np.set_printoptions(precision=4, linewidth=100)
print("dualdiff", dd.__version__, "| numpy", np.__version__, "| mpmath", mpmath.__version__,
      "| matplotlib", "yes" if HAVE_MPL else "not installed (tables instead of plots)")
""")

# ---------------------------------------------------------------------------

md(r"""
## 1. The running example

$$f(x) = \sqrt{x^2 + e^{x^2}} + \cos\left(x^2 + e^{x^2}\right), \qquad x_0 = 0.7 .$$

It is written with `np.*` functions so the same code accepts floats, complex
numbers (for the complex step) and `dd.Dual` numbers (for nested duals at
the prompt).  dualdiff compiles it with Numba on the first call.
""")

code(r"""
def f(x):
    u = x * x + np.exp(x * x)
    return np.sqrt(u) + np.cos(u)

x0 = 0.7
d_ad = dd.derivative(f, x0)
print(f"f(x0)           = {float(f(x0))!r}")
print(f"f'(x0), AD      = {d_ad!r}")
""")

md(r"""
A 50-digit reference from mpmath.  The point is the float64 number nearest
0.7, converted exactly (`mpf(0.7)`), so the reference is the derivative at
the very point float64 arithmetic sees.  `mpmath.diff` differentiates
numerically, but at 50 digits of working precision (and with its own extra
guard digits); its result is accurate far beyond float64.
""")

code(r"""
mpmath.mp.dps = 50

def f_mp(x):
    u = x * x + mpmath.exp(x * x)
    return mpmath.sqrt(u) + mpmath.cos(u)

X0 = mpmath.mpf(x0)                     # exactly the float64 value of 0.7
ref1 = mpmath.diff(f_mp, X0, 1)
ref2 = mpmath.diff(f_mp, X0, 2)

# cross-check the first derivative against the analytic formula, in 50 digits
u = X0**2 + mpmath.exp(X0**2)
analytic1 = 2 * X0 * (1 + mpmath.exp(X0**2)) * (1 / (2 * mpmath.sqrt(u)) - mpmath.sin(u))
print("f'(x0)  reference:", mpmath.nstr(ref1, 30))
print("f''(x0) reference:", mpmath.nstr(ref2, 30))
print("analytic f' - mpmath.diff:", mpmath.nstr(analytic1 - ref1, 3))
""")

# ---------------------------------------------------------------------------

md(r"""
## 2. Error versus step: the "V"

A finite difference with step $h$ has two errors:

* **truncation**: the formula is exact only as $h \to 0$.  Taylor expansion
  gives an error of about $\tfrac{h}{2}|f''|$ for the forward difference
  $\frac{f(x+h)-f(x)}{h}$ and $\tfrac{h^2}{6}|f'''|$ for the central
  difference $\frac{f(x+h)-f(x-h)}{2h}$.  It *falls* as $h$ shrinks.
* **rounding**: $f(x+h)$ and $f(x)$ each carry a relative rounding error of
  about $\varepsilon \approx 2.2\times10^{-16}$.  Their difference is small,
  so those errors survive the subtraction (*cancellation*) and are then
  divided by $h$: about $\varepsilon |f| / h$.  It *grows* as $h$ shrinks.

On a log-log plot the two make a "V".  Balancing them gives the best step
and the best attainable error: $h \approx \sqrt{\varepsilon} \approx 10^{-8}$
with error $\approx 10^{-8}$ for forward differences, $h \approx
\varepsilon^{1/3} \approx 6\times10^{-6}$ with error $\approx 10^{-11}$ for
central differences.  Half or a third of the 16 digits are lost at best, and
the best step depends on derivatives of $f$ that one doesn't know.

The **complex step** $\operatorname{Im} f(x + ih)/h$ involves no subtraction,
so there is no cancellation: the error falls as $h^2$ and then stays at
rounding level for any tiny $h$ (here down to $10^{-20}$).  It needs $f$ to
accept complex input and to be analytic (no `abs`, no comparisons on the
value, no `math.*` functions, which reject complex numbers).

`fd.error_vs_step` computes each method at 81 steps from $10^{-20}$ to 1 and
measures the error against a reference; we give it the 50-digit reference
rounded to float64 (so an error of 0 means "the correctly rounded value").
AD has no step; its exact error against the 50-digit value is drawn as a
horizontal line.
""")

code(r"""
ref1_f = float(ref1)                      # the reference rounded to float64
curve = fd.error_vs_step(f, x0, reference=ref1_f, methods=("forward", "central", "complex"))
err_ad = float(abs(mpmath.mpf(d_ad) - ref1))   # exact error of the AD float64 value

for m in curve.errors:
    errs = curve.errors[m]
    k = int(np.argmin(errs))
    print(f"{m:8s}: smallest error {errs[k]:.1e} at h = {curve.steps[k]:.0e};"
          f" automatic step {curve.auto_steps[m]:.1e}")
print(f"AD      : error {err_ad:.1e} (no step)")
""")

code(r"""
if HAVE_MPL:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    fd.plot_error_vs_step(curve, ax=ax)
    ax.axhline(max(err_ad, 1e-18), color="k", linewidth=1.5,   # log axes cannot show 0
               label=f"AD (error {err_ad:.0e})")
    ax.axhline(np.finfo(float).eps * abs(ref1_f), color="gray", linestyle="--",
               linewidth=0.8, label="eps * |f'|")
    ax.set_ylim(1e-18, 10)
    ax.set_title(r"error of $f'(0.7)$; dotted lines: automatic steps")
    ax.legend(loc="lower left", fontsize=8)
    plt.show()
else:
    print(f"{'h':>8} " + " ".join(f"{m:>10}" for m in curve.errors))
    for i in range(0, len(curve.steps), 4):
        print(f"{curve.steps[i]:8.0e} " + " ".join(f"{curve.errors[m][i]:10.1e}" for m in curve.errors))
""")

md(r"""
Reading the curves from right to left: the forward difference's error falls
with slope 1 and the central difference's with slope 2 (truncation), until
rounding takes over and both rise again with slope $-1$, to an error of
order 1 once $x + h$ rounds to $x$ (every step below about $10^{-16}$).
The complex step follows the central difference down (it is also second
order) but never turns up: from $h \approx 10^{-8}$ on it sits at rounding
level.  AD's error is at the same level without any step at all, and for
any function Numba can compile, not only analytic ones that accept complex
numbers.
""")

# ---------------------------------------------------------------------------

md(r"""
## 3. AD is exact to rounding

All methods at their automatic step (Richardson extrapolation uses a
sequence of steps), against the 50-digit reference.  "ulps" is the error in
units of the spacing of float64 numbers at $f'(x_0)$.
""")

code(r"""
ulp = np.spacing(abs(ref1_f))

def row(name, value):
    err = abs(mpmath.mpf(float(value)) - ref1)       # exact error of the float64 result
    print(f"{name:22s} {float(value): .17f} {mpmath.nstr(err, 2):>10} {float(err / ulp):>14,.1f}")

print(f"{'method':22s} {'value':>20} {'|error|':>10} {'ulps':>14}")
for m in ("forward", "central", "central4", "central6", "richardson", "complex"):
    row(f"fd, {m}", fd.derivative(f, x0, method=m))
row("AD (dd.derivative)", d_ad)
print(f"{'reference (50 digits)':22s} {mpmath.nstr(ref1, 20)}")
""")

md(r"""
AD lands within a few ulps of the true derivative: what is left is the
rounding of the same floating-point operations that compute $f$ itself.
There is no truncation term, so there is nothing to tune.  Among finite
differences only the complex step (when it applies) and Richardson
extrapolation (at several times the cost) come close.

Note also that the higher-order stencils are *not* better here: `central6`
is worse than `central4`.  The automatic step assumes that $f$ varies on the
scale of $\max(|x|, 1)$, i.e. that its higher derivatives are of order
$|f|$.  This $f$ has $\cos(x^2 + e^{x^2})$ in it, whose higher derivatives
grow quickly, so the automatic steps of the high-order stencils are too
large and truncation dominates.  (`full_output=True` returns an error
estimate that does flag this; passing `scale=` or `step=` fixes it.  AD
needs neither.)
""")

# ---------------------------------------------------------------------------

md(r"""
## 4. Second derivatives

Finite differences get worse with every order: a second difference
$\frac{f(x+h) - 2f(x) + f(x-h)}{h^2}$ divides rounding by $h^2$, so the best
step is about $\varepsilon^{1/4} \approx 10^{-4}$ and the best error about
$10^{-8}$: half the digits are gone.

With dual numbers a second derivative is exact too.  Nest them: a dual
number whose value and partial are themselves dual numbers (with a
different `tag`, so the two levels don't get mixed up).  At the prompt:
seed $x_0 + \epsilon_1 + \epsilon_2$ and read $f''$ from the
$\epsilon_1\epsilon_2$ coefficient, `.partials[0].partials[0]`.
""")

code(r"""
xx = dd.Dual(dd.Dual(x0, 1.0, tag=1), dd.Dual(1.0, 0.0, tag=1), tag=2)
y = f(xx)
print(y)
d2_nested = float(y.partials[0].partials[0])
print(f"f''(x0), nested duals = {d2_nested!r}")

try:                                   # the compiled path, in versions that have it
    d2_api = dd.derivative(f, x0, order=2)
    print(f"f''(x0), dd.derivative(f, x0, order=2) = {d2_api!r}")
except NotImplementedError as exc:
    d2_api = None
    print("dd.derivative(order=2) is not available in this version:", exc)
""")

code(r"""
ref2_f = float(ref2)
ulp2 = np.spacing(abs(ref2_f))

def row2(name, value):
    err = abs(mpmath.mpf(float(value)) - ref2)
    print(f"{name:30s} {float(value): .17f} {mpmath.nstr(err, 2):>10} {float(err / ulp2):>14,.1f}")

print(f"{'method':30s} {'value':>20} {'|error|':>10} {'ulps':>14}")
for m in ("forward", "central", "central4", "central6", "richardson", "complex"):
    row2(f"fd, {m}, order=2", fd.derivative(f, x0, method=m, order=2))
row2("AD, nested duals", d2_nested)
if d2_api is not None:
    row2("AD, dd.derivative(order=2)", d2_api)
print(f"{'reference (50 digits)':30s} {mpmath.nstr(ref2, 20)}")
""")

md(r"""
(For `order=2` the complex step in `dualdiff.fd` is a real-step difference
of complex-step first derivatives, so it has a truncation error again.)

The "V" for the central second difference, step by step:
""")

code(r"""
steps2 = np.logspace(-8, -1, 29)
err2 = np.array([abs(fd.derivative(f, x0, method="central", step=h, order=2) - ref2_f)
                 for h in steps2])
err2_ad = abs(d2_nested - ref2_f)
k = int(np.argmin(err2))
print(f"central second difference: best error {err2[k]:.1e} at h = {steps2[k]:.1e}; "
      f"AD: {err2_ad:.1e}")

if HAVE_MPL:
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.loglog(steps2, np.where(err2 > 0, err2, np.nan), marker=".", label="central, order 2")
    ax.axhline(max(err2_ad, 1e-18), color="k", label="AD, nested duals")
    ax.set_xlabel("step h")
    ax.set_ylabel("absolute error")
    ax.set_title(r"error of $f''(0.7)$")
    ax.legend()
    plt.show()
else:
    for h, e in zip(steps2[::4], err2[::4]):
        print(f"  h = {h:8.1e}   error = {e:.1e}")
""")

# ---------------------------------------------------------------------------

md(r"""
## 5. Cost of a gradient as n grows

For a function of $n$ variables a finite-difference gradient needs one or
more calls of $f$ *per variable*: $n+1$ (forward), $2n$ (central), $4n$
(fourth-order central), $n$ complex calls (complex step) and about $10n$
for Richardson extrapolation.  Forward-mode AD also scales with $n$, but
each sweep carries up to 8 partials at once, so $\lceil n/8 \rceil$ sweeps of
the function on dual numbers, compiled, with no Python in the loop.

Below: the Rosenbrock gradient at $n = 10, 100, 1000$.  The real
finite-difference methods call the `@njit`-compiled loop Rosenbrock (the
cheapest function they can call), the complex step a NumPy-vectorised
version (Numba's loop version would work too, but this is what people
usually write), and AD gets the plain Python loop.  Each gradient's error is
measured against the analytic gradient, relative to its largest entry.
Times are the best of a few repeats, on whatever machine runs this notebook;
`python -m benchmarks fd_vs_ad` does the careful measurement.
""")

code(r"""
rosenbrock_jit = numba.njit(rosenbrock)

def rosenbrock_np(x):            # complex-safe: no math.*, no float() casts
    head, tail = x[:-1], x[1:]
    return np.sum(100.0 * (tail - head * head) ** 2 + (1.0 - head) ** 2)

class Counted:                   # counts calls of f (used outside the timing)
    def __init__(self, f):
        self.f, self.calls = f, 0
    def __call__(self, x):
        self.calls += 1
        return self.f(x)

def best_time(fn, budget=0.1, repeat=3):
    # best over `repeat` rounds of the mean time per call, each round ~budget/repeat
    t = time.perf_counter(); fn(); once = time.perf_counter() - t
    number = max(1, int(budget / repeat / max(once, 1e-7)))
    best = math.inf
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t) / number)
    return best

METHODS = [  # (label, function FD differentiates, fd method) ; None = AD
    ("fd forward", rosenbrock_jit, "forward"),
    ("fd central", rosenbrock_jit, "central"),
    ("fd central4", rosenbrock_jit, "central4"),
    ("fd richardson", rosenbrock_jit, "richardson"),
    ("fd complex", rosenbrock_np, "complex"),
    ("AD dd.gradient", rosenbrock, None),
]
NS = [10, 100, 1000]
times = {label: [] for label, _, _ in METHODS}
results = []
for n in NS:
    x = np.linspace(-1.2, 1.1, n)
    g_exact = rosenbrock_gradient(x)
    rosenbrock_jit(x)
    for label, func, method in METHODS:
        if method is None:
            run = lambda: dd.gradient(func, x, mode="forward")
            run()                                        # compile outside the timing
            calls = f"{math.ceil(n / dd.choose_chunk(n))} sweeps"
        else:
            run = lambda: fd.gradient(func, x, method=method)
            counted = Counted(func)
            fd.gradient(counted, x, method=method)
            calls = f"{counted.calls} calls"
        err = np.max(np.abs(run() - g_exact)) / np.max(np.abs(g_exact))
        t = best_time(run)
        times[label].append(t)
        results.append((label, n, t, err, calls))

print(f"{'method':16s} {'n':>5} {'time/gradient':>14} {'x AD':>7} {'rel. error':>10}  evaluations")
for label, n, t, err, calls in results:
    t_ad = times["AD dd.gradient"][NS.index(n)]
    print(f"{label:16s} {n:5d} {1e6 * t:11,.0f} µs {t / t_ad:6.0f}x {err:10.1e}  {calls}")
""")

code(r"""
if HAVE_MPL:
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, ts in times.items():
        style = dict(color="k", linewidth=2) if label.startswith("AD") else {}
        ax.loglog(NS, 1e6 * np.array(ts), marker="o", label=label, **style)
    ax.set_xlabel("n (number of variables)")
    ax.set_ylabel("µs per gradient")
    ax.set_title("Rosenbrock gradient: time per call")
    ax.legend(fontsize=8)
    plt.show()
else:
    print("(matplotlib not installed: see the table above)")
""")

md(r"""
Every finite-difference method loops over the $n$ coordinates in Python
with one or more calls of $f$ each.  Even with a compiled $f$ the cost is
dominated by the per-call overhead (microseconds per call, against well under
a microsecond for the compiled Rosenbrock itself), and the accurate methods
multiply it: Richardson by about ten.  AD runs one compiled sweep per 8
variables with no Python in between, so here it is tens to hundreds of
times faster, and exact.

The gap narrows as $n$ grows (compare $n = 100$ and $n = 1000$): the
finite-difference cost is still mostly per-call overhead, which grows like
$n$, while the AD sweeps do real work, $\lceil n/8\rceil$ sweeps over a
function whose own cost grows like $n$, so about $n^2$.  Eventually both are
$O(n \cdot \text{cost}(f))$.  For a scalar function of very many variables,
reverse mode (a gradient at a small multiple of the cost of one call of $f$)
is the tool to reach for.

**Summary**

| | truncation error | rounding error | step to choose | calls per gradient |
|---|---|---|---|---|
| forward difference | $O(h)$ | $O(\varepsilon/h)$, ~8 digits lost | yes | $n+1$ |
| central difference | $O(h^2)$ | $O(\varepsilon/h)$, ~5 digits lost | yes | $2n$ |
| Richardson | extrapolated away | grows with the table | first step | ~$10n$ |
| complex step | $O(h^2)$, negligible | none from cancellation | any tiny $h$ | $n$ complex; analytic $f$ only |
| forward AD (dualdiff) | none | same as computing $f$ | none | $\lceil n/8\rceil$ compiled sweeps |
""")


if __name__ == "__main__":
    nb.main(__doc__.split("\n")[0])
