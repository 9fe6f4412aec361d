"""Build (and optionally execute) ``01-quickstart.ipynb``.

The notebook is generated from the cells below so that its source stays
reviewable as ordinary Python.  Usage, from the repository root::

    python notebooks/_build_quickstart.py            # write and execute
    python notebooks/_build_quickstart.py --no-run   # write only (no outputs)

Executing needs ``nbclient`` and ``ipykernel`` (the ``test`` extra); the
notebook is run with the ``python3`` kernel and its outputs are saved.  The
notebook itself only needs dualdiff, NumPy and SciPy.
"""

from _nbbuild import Notebook

nb = Notebook("01-quickstart.ipynb")
md, code = nb.md, nb.code

# ---------------------------------------------------------------------------

md(r"""
# dualdiff quickstart

`dualdiff` gives you **exact** derivatives of ordinary numeric Python code —
the kind you would write for Numba: loops, indexing, `s += ...`
accumulations, branches, while-loops, `math.*` and `np.*` calls.  You don't
choose a step size and you don't rewrite anything.

How it works: dual numbers.  A dual number carries a value and its partial
derivatives, and every arithmetic operation and elementary function updates
both by the chain rule.  dualdiff teaches Numba a dual-number type and
compiles your function for it, so derivatives run at compiled speed.  The
results are exact up to floating-point rounding of the same operations; there
is no truncation error.

This notebook covers:

1. a first derivative, checked against finite differences
2. dual numbers at the prompt
3. gradients: Rosenbrock, and passing `jac=` to `scipy.optimize.minimize`
4. Jacobians: the Broyden tridiagonal function
5. branches and while-loops: a hand-written Newton square root
6. Jacobian-vector and vector-Jacobian products
7. what it costs
8. the fallback path for code Numba can't compile
""")

code(r"""
import math
import time
import warnings

import numpy as np
import scipy
from scipy.optimize import minimize, root

import dualdiff as dd
from dualdiff import fd   # finite differences, used here only for comparison

np.set_printoptions(precision=4, suppress=True, linewidth=100)
print("dualdiff", dd.__version__, "| numpy", np.__version__, "| scipy", scipy.__version__)
""")

# ---------------------------------------------------------------------------

md(r"""
## 1. A first derivative

Take

$$f(x) = \sqrt{x^2 + e^{x^2}} + \cos\left(x^2 + e^{x^2}\right).$$

Write it the way you normally would.  `dd.derivative(f, x)` returns $f'(x)$.
The first call compiles `f` for dual numbers, which takes about a second.
After that the compiled version is cached.
""")

code(r"""
def f(x):
    u = x * x + math.exp(x * x)
    return math.sqrt(u) + math.cos(u)

dd.derivative(f, 1.0)
""")

md(r"""
To check the result we need a reference.  With $u = x^2 + e^{x^2}$ and
$u' = 2x(1 + e^{x^2})$, the chain rule gives
$f'(x) = u'\left(\frac{1}{2\sqrt{u}} - \sin u\right)$.  Below we compare
dualdiff and a central finite difference (`fd.derivative`, step about
$(3\varepsilon)^{1/3}\max(|x|, 1)$) with that formula.  The table shows
relative errors.
""")

code(r"""
def f_prime(x):                      # derived by hand, for reference only
    u = x * x + math.exp(x * x)
    du = 2.0 * x * (1.0 + math.exp(x * x))
    return du * (0.5 / math.sqrt(u) - math.sin(u))

print(f"{'x':>5} {'f_prime(x)':>22} {'dualdiff rel. err':>18} {'central FD rel. err':>20}")
for x in [0.3, 0.5, 0.8, 1.0, 1.2]:
    exact = f_prime(x)
    err_dd = abs(dd.derivative(f, x) - exact) / abs(exact)
    err_fd = abs(fd.derivative(f, x) - exact) / abs(exact)
    print(f"{x:5.1f} {exact:22.16f} {err_dd:18.1e} {err_fd:20.1e}")
""")

md(r"""
dualdiff agrees with the formula to within rounding, about $10^{-16}$
relative (often exactly).  The finite difference is off by $10^{-12}$ to
$10^{-9}$, typically around $10^{-10}$.  It trades truncation error against
cancellation, and even the best step loses about a third of the digits.
The error grows where $f$ varies faster.
""")

# ---------------------------------------------------------------------------

md(r"""
## 2. Dual numbers at the prompt

`dd.Dual(value, partial)` is a number whose derivative travels with it.
Seed the partial with 1 to differentiate with respect to that number:
$(2 + \epsilon)^3 = 8 + 12\epsilon$, so $\frac{d}{dx}x^3 = 12$ at $x = 2$.
""")

code(r"""
x = dd.Dual(2.0, 1.0)
print(x ** 3)                       # d/dx x^3 = 3 x^2 = 12
print(np.sin(dd.Dual(0.0, 1.0)))    # sin(0) = 0, cos(0) = 1
print(np.sqrt(x), 1.0 / x)          # NumPy functions and operators all work
""")

md(r"""
A dual number can carry several partials.  Seed one per input to get a
whole gradient in one evaluation:
""")

code(r"""
a = dd.Dual(3.0, 1.0, 0.0)   # seeded for d/da
b = dd.Dual(2.0, 0.0, 1.0)   # seeded for d/db
z = a * b + np.sin(a)
print(z)                     # value, d/da = b + cos(a), d/db = a
print(z.value, z.partials)
""")

md(r"""
`dd.primal(z)` extracts the plain value.  `float(z)` raises a `TypeError`
on purpose, because it would silently drop the derivatives.  For the same
reason, at the prompt use `np.sin` and not `math.sin` (which calls
`float()`).  Inside a function you pass to dualdiff, `math.*` is fine: it is
compiled for dual numbers.
""")

code(r"""
print(dd.primal(z))
try:
    float(z)
except TypeError as exc:
    print("TypeError:", exc)
""")

# ---------------------------------------------------------------------------

md(r"""
## 3. Gradients: Rosenbrock

Here is the Rosenbrock function as a plain loop with an accumulator, exactly
as you would write it for Numba.  `dd.gradient` differentiates it as is.
""")

code(r"""
def rosenbrock(x):
    s = 0.0
    for i in range(x.shape[0] - 1):
        s += 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return s

x0 = np.linspace(-1.2, 1.2, 10)          # a starting point in 10 dimensions

t = time.perf_counter()
g = dd.gradient(rosenbrock, x0)
print(f"first call (includes compilation): {time.perf_counter() - t:.1f} s")
t = time.perf_counter()
g = dd.gradient(rosenbrock, x0)
print(f"second call:                       {1e6 * (time.perf_counter() - t):.0f} µs")
print("gradient:", g)
print("largest difference from central FD:", np.max(np.abs(g - fd.gradient(rosenbrock, x0))))
print("gradient at the minimum (all ones):", dd.gradient(rosenbrock, np.ones(10)))
""")

md(r"""
Called with only the function, `dd.gradient(rosenbrock)` returns a gradient
function.  It takes SciPy's `(x, *args)` calling convention, so it can be
passed straight to `scipy.optimize.minimize` as `jac`.  (It also works as a
decorator.)  Compare BFGS with and without it.  Without `jac`, SciPy
estimates the gradient with forward differences, at $n$ extra function
evaluations per gradient.
""")

code(r"""
grad_rosenbrock = dd.gradient(rosenbrock)

runs = {
    "SciPy finite differences": minimize(rosenbrock, x0, method="BFGS"),
    "jac=dd.gradient(rosenbrock)": minimize(rosenbrock, x0, jac=grad_rosenbrock, method="BFGS"),
}
print(f"{'':28} {'iterations':>10} {'f evals':>8} {'grad evals':>10} {'f(x*)':>9} {'max|x* - 1|':>12}")
for name, r in runs.items():
    print(f"{name:28} {r.nit:10d} {r.nfev:8d} {r.njev:10d} {r.fun:9.1e} "
          f"{np.max(np.abs(r.x - 1.0)):12.1e}")
""")

md(r"""
Both runs take about the same number of iterations.  With the exact
gradient, each iteration costs one function evaluation and one gradient
instead of $n + 1$ function evaluations, so the run uses about ten times
fewer.  It also ends much closer to the minimum at $(1, \dots, 1)$: the
finite-difference gradient is too noisy to push the iteration further.
""")

# ---------------------------------------------------------------------------

md(r"""
## 4. Jacobians: the Broyden tridiagonal function

For a vector-valued function, fill an output array in a loop, again as for
Numba.  `dd.jacobian(F, x)` has shape `F(x).shape + (n,)`.
""")

code(r"""
def broyden_tridiagonal(x):
    n = x.shape[0]
    out = np.empty_like(x)
    for i in range(n):
        left = x[i - 1] if i > 0 else 0.0
        right = x[i + 1] if i < n - 1 else 0.0
        out[i] = (3.0 - 2.0 * x[i]) * x[i] - left - 2.0 * right + 1.0
    return out

x = np.linspace(-1.0, 1.0, 8)
J = dd.jacobian(broyden_tridiagonal, x)
print(J)
print("diagonal 3 - 4x:", 3.0 - 4.0 * x)
print("largest difference from central FD:",
      np.max(np.abs(J - fd.jacobian(broyden_tridiagonal, x))))
""")

md(r"""
The diagonal is exactly $3 - 4x_i$ and the off-diagonals are exactly $-1$
and $-2$.  Finite differences only get these constants approximately.

`dd.jacobian(F)` also has a curried form, so it can be passed to
`scipy.optimize.root`:
""")

code(r"""
sol = root(broyden_tridiagonal, -np.ones(50), jac=dd.jacobian(broyden_tridiagonal))
print(sol.success, "| residual", np.max(np.abs(sol.fun)), "| F evals", sol.nfev, "| J evals", sol.njev)
""")

# ---------------------------------------------------------------------------

md(r"""
## 5. Branches and while-loops

The derivative follows the path the code actually takes.  Comparisons
(`if`, `while`) look at values only.  Here is a square root computed by
Newton's iteration, with a branch for the starting guess and a `while` loop
that runs until the residual is small:
""")

code(r"""
def newton_sqrt(a):
    if a == 0.0:
        return 0.0 * a
    y = a if a > 1.0 else 1.0            # starting guess: a branch
    while abs(y * y - a) > 1e-15 * a:    # stopping test: a while-loop
        y = 0.5 * (y + a / y)
    return y

print(f"{'a':>8} {'newton_sqrt(a)':>18} {'derivative':>20} {'1/(2 sqrt a)':>20} {'difference':>11}")
for a in [0.25, 2.0, 10.0, 1e6]:
    d = dd.derivative(newton_sqrt, a)
    exact = 0.5 / math.sqrt(a)
    print(f"{a:8g} {newton_sqrt(a):18.15f} {d:20.17f} {exact:20.17f} {d - exact:11.1e}")
""")

md(r"""
The derivative of the iteration converges together with its value, so on
exit it equals $1/(2\sqrt{a})$ to within rounding.  No step size is
involved, and the number of loop iterations needn't be known in advance.
""")

# ---------------------------------------------------------------------------

md(r"""
## 6. Jacobian-vector and vector-Jacobian products

Sometimes you only need $J v$ or $u^\top J$:

* `dd.jvp(F, x, v)` returns `(F(x), J v)` from one forward sweep, without
  forming $J$.  The cost is a small multiple of one evaluation of `F`,
  whatever $n$ is.
* `dd.vjp(F, x, u)` returns `(F(x), uᵀJ)`.  For 56 inputs or more it runs
  the function once on reverse-mode numbers, recording a tape, and sweeps
  it backwards once; below that it uses forward sweeps.
""")

code(r"""
x = np.linspace(-1.0, 1.0, 8)
v = np.ones(8)
u = np.arange(8.0)
J = dd.jacobian(broyden_tridiagonal, x)

Fx, Jv = dd.jvp(broyden_tridiagonal, x, v)
print("J v  :", Jv, "  matches J @ v:", np.allclose(Jv, J @ v, rtol=0, atol=1e-15))
Fx, uJ = dd.vjp(broyden_tridiagonal, x, u)
print("uᵀ J :", uJ, "  matches u @ J:", np.allclose(uJ, u @ J, rtol=0, atol=1e-15))
""")

# ---------------------------------------------------------------------------

md(r"""
## 7. What it costs

Compilation happens once per function and argument types.  After that, a
forward-mode gradient of a function of $n$ variables takes about $n/8$
sweeps.  Each sweep evaluates the function once on dual numbers carrying up
to 8 partials.  From 56 inputs on, `dd.gradient` switches to reverse mode:
one recorded run of the function and one backward sweep, whatever $n$ is.
A central-difference gradient takes $2n$ calls.  Below we
time a compiled Rosenbrock (`numba.njit`), its dualdiff gradient, and a
central-difference gradient of the same compiled function.  Timings vary
from machine to machine and from run to run; the trend is what matters.
""")

code(r"""
import numba

def best_time(fn, repeat=5, number=10):
    # Best over `repeat` rounds of the mean time of `number` calls, in seconds.
    best = math.inf
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t) / number)
    return best

rosenbrock_jit = numba.njit(rosenbrock)

print(f"{'n':>6} {'f(x), compiled':>16} {'dd.gradient':>13} {'central FD':>13}")
for n in [10, 100, 1000]:
    x = np.linspace(-1.2, 1.2, n)
    rosenbrock_jit(x)                     # compile (first n only) before timing
    dd.gradient(rosenbrock, x)
    t_f = best_time(lambda: rosenbrock_jit(x))
    t_dd = best_time(lambda: dd.gradient(rosenbrock, x))
    t_fd = best_time(lambda: fd.gradient(rosenbrock_jit, x), number=2)
    print(f"{n:6d} {1e6 * t_f:13.1f} µs {1e6 * t_dd:10.0f} µs {1e6 * t_fd:10.0f} µs")
""")

md(r"""
Both gradients cost more as $n$ grows, as forward-mode and finite-difference
gradients do.  dualdiff stays faster and has no step-size error.  The
per-call overhead of the Python-level finite-difference loop is a large part
of its cost at small $n$.
""")

# ---------------------------------------------------------------------------

md(r"""
## 8. When Numba can't compile the function: the fallback path

Some code isn't valid Numba, for example code that reads an arbitrary
Python object.  dualdiff then runs the function in plain Python on
`dd.Dual` numbers (with `math.*` swapped for dual-aware versions) and emits
a `dd.FallbackWarning`.  The derivatives are still exact, just much slower.
""")

code(r"""
class Settings:                      # an ordinary Python object: Numba can't type it
    def __init__(self, k):
        self.k = k

settings = Settings(3.0)

def model(x):
    return settings.k * math.sin(x) + np.tanh(x)

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always", dd.FallbackWarning)
    d = dd.derivative(model, 0.3)

for w in caught:
    print(f"{w.category.__name__}: {w.message}\n")
exact = 3.0 * math.cos(0.3) + 1.0 / math.cosh(0.3) ** 2
print("derivative:", d, "| exact:", exact, "| difference:", d - exact)
""")

md(r"""
To treat the slow path as an error (in tests, say), add
`warnings.simplefilter("error", dd.FallbackWarning)`.

## Summary

| you want | call |
|---|---|
| $f'(x)$, scalar $x$ | `dd.derivative(f, x)` |
| $\nabla f(x)$ | `dd.gradient(f, x)`, or `dd.value_and_gradient(f, x)` |
| $J_F(x)$ | `dd.jacobian(F, x)`, or `dd.value_and_jacobian(F, x)` |
| $J v$ / $u^\top J$ | `dd.jvp(F, x, v)` / `dd.vjp(F, x, u)` |
| a function for SciPy | `dd.gradient(f)`, `dd.jacobian(F)` |

Extra arguments go in `args=(...)`, as in SciPy.
""")


if __name__ == "__main__":
    nb.main(__doc__.split("\n")[0])
