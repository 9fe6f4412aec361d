"""Build (and by default execute) ``03-hessians-and-newton.ipynb``.

The notebook is generated from the cells below so that its source stays
reviewable as ordinary Python.  Usage, from the repository root::

    python notebooks/_build_03.py            # write and execute
    python notebooks/_build_03.py --no-run   # write only (no outputs)

Executing needs ``nbclient`` and ``ipykernel`` (the ``test`` extra).  The
notebook needs dualdiff, NumPy, SciPy and mpmath; matplotlib is optional
(without it the plot is replaced by a table).
"""

from _nbbuild import Notebook

nb = Notebook("03-hessians-and-newton.ipynb")
md, code = nb.md, nb.code

# ---------------------------------------------------------------------------

md(r"""
# Hessians and Newton's method

`dd.hessian(f, x)` gives the exact matrix of second derivatives of an
ordinary Python function, compiled with Numba.  It runs the function on
*nested* dual numbers (a dual number whose value and partials are dual
numbers again: hyper-duals), fills the matrix by blocks on or above the
diagonal and mirrors them, so the result is exactly symmetric.

This notebook:

1. minimises Rosenbrock's function with Newton's method (exact gradient and
   Hessian), gradient descent and BFGS, and draws their paths;
2. uses the Hessian's eigenvalues to tell a minimum from a saddle point;
3. compares exact second derivatives (hyper-duals) with finite differences;
4. hands `dd.gradient`, `dd.hessian` and `dd.hvp` to `scipy.optimize.minimize`
   (`trust-exact` and `Newton-CG`).
""")

code(r"""
import math

import mpmath
import numpy as np
from scipy.optimize import minimize

import dualdiff as dd
from dualdiff import fd

try:                                   # plots are optional; a table is printed without them
    import matplotlib.pyplot as plt
    HAVE_MPL = True
except ImportError:
    HAVE_MPL = False

np.set_printoptions(precision=5, linewidth=100)
""")

# ---------------------------------------------------------------------------

md(r"""
## 1. Rosenbrock: Newton against gradient descent and BFGS

$$f(x) = \sum_{i=1}^{n-1} 100\,(x_{i+1} - x_i^2)^2 + (1 - x_i)^2,$$

minimum $f = 0$ at $x = (1, \dots, 1)$, at the end of a long curved valley.
Written as a loop, as one would for Numba; dualdiff differentiates it as is.
""")

code(r"""
def rosenbrock(x):
    s = 0.0
    for i in range(len(x) - 1):
        s += 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2
    return s

x0 = np.array([-1.2, 1.0])
print("f(x0)       =", rosenbrock(x0))
print("gradient    =", dd.gradient(rosenbrock, x0))
print("Hessian     =\n", dd.hessian(rosenbrock, x0))
""")

md(r"""
**Newton's method** models $f$ near $x_k$ by its second-order Taylor
polynomial and jumps to that model's minimum: solve $H(x_k)\,p = -\nabla
f(x_k)$.  Far from the minimum $H$ may not be positive definite (then $p$
need not point downhill), so we shift its eigenvalues up when needed and
halve the step until $f$ decreases enough (Armijo backtracking).  **Gradient
descent** uses the same line search along $-\nabla f$.
""")

code(r"""
def backtrack(f, x, fx, g, p):
    t = 1.0
    while f(x + t * p) > fx + 1e-4 * t * (g @ p) and t > 1e-12:
        t *= 0.5
    return t

def newton(f, x0, tol=1e-10, max_iter=100):
    x, path = x0.copy(), [x0.copy()]
    for k in range(max_iter):
        value, g, H = dd.value_gradient_and_hessian(f, x)
        if np.linalg.norm(g) < tol:
            return x, np.array(path), k
        lowest = np.linalg.eigvalsh(H)[0]
        if lowest <= 1e-8:                       # not positive definite: shift the spectrum
            H = H + (1e-3 - lowest) * np.eye(len(x))
        p = np.linalg.solve(H, -g)
        x = x + backtrack(f, x, value, g, p) * p
        path.append(x.copy())
    return x, np.array(path), max_iter

def gradient_descent(f, x0, tol=1e-10, max_iter=3000):
    x, path = x0.copy(), [x0.copy()]
    for k in range(max_iter):
        value, g = dd.value_and_gradient(f, x)
        if np.linalg.norm(g) < tol:
            return x, np.array(path), k
        x = x + backtrack(f, x, value, g, -g) * -g
        path.append(x.copy())
    return x, np.array(path), max_iter

x_newton, path_newton, it_newton = newton(rosenbrock, x0)
x_gd, path_gd, it_gd = gradient_descent(rosenbrock, x0)

path_bfgs = [x0.copy()]
res_bfgs = minimize(rosenbrock, x0, jac=dd.gradient(rosenbrock), method="BFGS",
                    callback=lambda xk: path_bfgs.append(xk.copy()), options={"gtol": 1e-10})
path_bfgs = np.array(path_bfgs)

print(f"{'method':18s} {'iterations':>10} {'|x - x*|':>10}")
for name, x, its in [("Newton", x_newton, it_newton), ("gradient descent", x_gd, it_gd),
                     ("BFGS (SciPy)", res_bfgs.x, res_bfgs.nit)]:
    print(f"{name:18s} {its:10d} {np.linalg.norm(x - 1.0):10.1e}")
""")

md(r"""
Newton needs a couple of dozen steps, most of them spent following the
valley; once close, each step roughly squares the error (quadratic
convergence).  Gradient descent zig-zags across the narrow valley (the
Hessian's condition number at the minimum is about 2500) and is still far
from the minimum when we stop it after 3000 steps.  BFGS builds an
approximation of the Hessian from successive gradients and lands in
between.
""")

code(r"""
if HAVE_MPL:
    X, Y = np.meshgrid(np.linspace(-1.6, 1.6, 300), np.linspace(-0.6, 1.6, 300))
    Z = (1 - X) ** 2 + 100 * (Y - X ** 2) ** 2
    fig, ax = plt.subplots(figsize=(7.5, 5))
    ax.contour(X, Y, Z, levels=np.logspace(-1, 3, 15), cmap="Greys", linewidths=0.7)
    ax.plot(*path_gd.T, ".-", color="tab:orange", ms=2, lw=0.8,
            label=f"gradient descent ({it_gd} steps)")
    ax.plot(*path_bfgs.T, "s-", color="tab:blue", ms=4, label=f"BFGS ({res_bfgs.nit} steps)")
    ax.plot(*path_newton.T, "o-", color="tab:red", ms=5, label=f"Newton ({it_newton} steps)")
    ax.plot(1, 1, "k*", ms=14, label="minimum (1, 1)")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_title("Rosenbrock from (-1.2, 1)")
    ax.legend(loc="lower right", fontsize=8)
    plt.show()
else:
    for name, path in [("Newton", path_newton), ("BFGS", path_bfgs), ("GD", path_gd)]:
        print(name, path[:: max(1, len(path) // 8)].round(3).tolist())
""")

# ---------------------------------------------------------------------------

md(r"""
## 2. Minimum or saddle point?  Ask the eigenvalues

A point where $\nabla f = 0$ is a minimum if the Hessian there is positive
definite (all eigenvalues $> 0$), a maximum if negative definite, and a
saddle point if it has eigenvalues of both signs.  Pure Newton's method
(without the safeguards above) is attracted to *any* stationary point, so
the check matters.  Take

$$g(x, y) = (x^2 - 1)^2 + y^2 + \tfrac{1}{2} x y^2,$$

and run pure Newton steps from a few starting points.
""")

code(r"""
def g(x):
    return (x[0] ** 2 - 1.0) ** 2 + x[1] ** 2 + 0.5 * x[0] * x[1] ** 2

def pure_newton(f, x, steps=30):
    for _ in range(steps):
        x = x - np.linalg.solve(dd.hessian(f, x), dd.gradient(f, x))
    return x

print(f"{'start':>14} {'stationary point':>22} {'|grad|':>9} {'eigenvalues of H':>22}  kind")
for start in [(1.5, 0.5), (-1.4, -0.3), (0.2, 0.4), (-0.3, 0.1)]:
    x = pure_newton(g, np.array(start))
    lam = np.linalg.eigvalsh(dd.hessian(g, x))
    kind = ("minimum" if lam.min() > 0 else "maximum" if lam.max() < 0
            else "saddle point" if lam.min() < 0 < lam.max() else "degenerate")
    print(f"{str(start):>14} {np.array2string(x, precision=6):>22} "
          f"{np.linalg.norm(dd.gradient(g, x)):9.1e} {np.array2string(lam, precision=4):>22}  {kind}")
""")

md(r"""
The starts near $x = \pm 1$ reach the two minima; the ones near the origin
converge just as fast to $(0, 0)$, where the gradient vanishes too, but the
Hessian there is $\operatorname{diag}(-4, 2)$: a saddle point, downhill
along $x$.
""")

# ---------------------------------------------------------------------------

md(r"""
## 3. Exact second derivatives versus finite differences

A hyper-dual number $a + b\,\varepsilon_1 + c\,\varepsilon_2 + d\,\varepsilon_1\varepsilon_2$
(with $\varepsilon_1^2 = \varepsilon_2^2 = 0$) carries the second derivative
in its $\varepsilon_1\varepsilon_2$ part:
$f(x + \varepsilon_1 + \varepsilon_2) = f(x) + f'(x)\,\varepsilon_1 + f'(x)\,\varepsilon_2
+ f''(x)\,\varepsilon_1\varepsilon_2$.  No step, no subtraction, so no
cancellation.  `dd.HyperDual` can be used at the prompt with NumPy
functions:
""")

code(r"""
def h(x):
    u = x * x + np.exp(x * x)
    return np.sqrt(u) + np.cos(u)

xh = dd.HyperDual(0.7, 1.0, 1.0, 0.0)
y = h(xh)
print(y)

mpmath.mp.dps = 40
def h_mp(t):
    u = t * t + mpmath.exp(t * t)
    return mpmath.sqrt(u) + mpmath.cos(u)
ref = mpmath.diff(h_mp, mpmath.mpf(0.7), 2)

print(f"{'method':34s} {'f_xx(0.7)':>22} {'rel. error':>10}")
for name, value in [("hyper-dual (Python)", y.eps12),
                    ("dd.derivative(order=2), compiled", dd.derivative(h, 0.7, order=2)),
                    ("fd central, order=2", fd.derivative(h, 0.7, order=2)),
                    ("fd richardson, order=2", fd.derivative(h, 0.7, method="richardson", order=2))]:
    print(f"{name:34s} {value:22.16f} {float(abs((value - ref) / ref)):10.1e}")
""")

md(r"""
The same for a whole Hessian: log-sum-exp of $A x$, whose Hessian is known
in closed form, $A^\top(\operatorname{diag}(p) - p p^\top)A$ with
$p = \operatorname{softmax}(Ax)$.
""")

code(r"""
def logsumexp(x, A):
    total = 0.0
    for i in range(A.shape[0]):
        s = 0.0
        for j in range(A.shape[1]):
            s += A[i, j] * x[j]
        total += math.exp(s)
    return math.log(total)

rng = np.random.default_rng(3)
A = rng.normal(size=(20, 6))
x = rng.normal(size=6) * 0.3
z = A @ x
p = np.exp(z - z.max()); p /= p.sum()
H_exact = A.T @ (np.diag(p) - np.outer(p, p)) @ A

def rel_err(H):
    return np.abs(H - H_exact).max() / np.abs(H_exact).max()

H_dd = dd.hessian(logsumexp, x, args=(A,))
print(f"dd.hessian                 rel. error {rel_err(H_dd):.1e}   symmetric: {np.array_equal(H_dd, H_dd.T)}")
for method in ("forward", "central", "richardson"):
    H_fd = fd.hessian(logsumexp, x, args=(A,), method=method)
    print(f"fd.hessian({method + ')':12s}    rel. error {rel_err(H_fd):.1e}")
""")

# ---------------------------------------------------------------------------

md(r"""
## 4. SciPy's second-order methods

The curried forms follow SciPy's conventions (`jac(x, *args)`,
`hess(x, *args)`, `hessp(x, p, *args)`), so they are passed as they are.
`trust-exact` solves the trust-region subproblem with the full Hessian;
`Newton-CG` only needs Hessian-vector products, which `dd.hvp` computes
without forming $H$.  Rosenbrock in 10 dimensions, from the origin
(`chunk=2` reuses the code compiled for the 2-D problem above; the default
chunk would compile a wider one):
""")

code(r"""
x0 = np.zeros(10)
grad = dd.gradient(rosenbrock, chunk=2)
runs = {
    "BFGS (gradient only)": dict(method="BFGS", jac=grad, options={"gtol": 1e-10}),
    "trust-exact (hess)": dict(method="trust-exact", jac=grad,
                               hess=dd.hessian(rosenbrock, chunk=2), options={"gtol": 1e-10}),
    "Newton-CG (hessp)": dict(method="Newton-CG", jac=grad,
                              hessp=dd.hvp(rosenbrock, chunk=2), options={"xtol": 1e-12}),
}
print(f"{'method':22s} {'iterations':>10} {'f evals':>8} {'grad evals':>10} {'H/Hv evals':>10} {'|x - 1|':>9}")
for name, options in runs.items():
    res = minimize(rosenbrock, x0, **options)
    print(f"{name:22s} {res.nit:10d} {res.nfev:8d} {res.get('njev', 0):10d} "
          f"{res.get('nhev', 0):10d} {np.linalg.norm(res.x - 1):9.1e}")
""")

md(r"""
With exact second derivatives the Newton-type methods converge in a few
dozen iterations and reach the minimum to high accuracy.  `Newton-CG`
uses many Hessian-vector products (one per inner conjugate-gradient step),
each one forward-over-forward sweep per chunk of inputs; for large $n$ that
is far cheaper than forming and factorising $H$.
""")


if __name__ == "__main__":
    nb.main(__doc__.split("\n")[0])
