"""The tools of the ``peers`` suite: what a user would pick instead of dualdiff.

Each tool is a :class:`Variant`: a label, the family it belongs to (for
``--tools``), and ``make(problem, data)``, which does the one-time set-up
(importing the peer, defining its version of the problem, transforming it)
and returns ``(call, to_numpy)``: ``call()`` computes the derivative once and
waits for the result; ``to_numpy(result)`` turns it into the float64 array
the accuracy column is measured on.  ``make`` raises :class:`Unsupported`
when the tool cannot do the problem (the reason is printed in the tables),
and :class:`NotInstalled` when the peer is missing.

The peers' code is what a competent user of each writes: array code (no
loops), float64 throughout (``jax_enable_x64``), JAX transformations under
``jax.jit``, ``torch.func`` transforms in eager mode, ``autograd`` and
``numdifftools`` on ``autograd.numpy`` / NumPy functions, SciPy's finite
differences with their default settings.  Inputs are converted to each
peer's array type once, outside the timing (the peer's best case); results
are left in the peer's array type inside the timing, and JAX results are
waited for with ``block_until_ready``.
"""

import functools
import importlib

import numpy as np

from . import _peers_problems as P

__all__ = ["Variant", "Unsupported", "NotInstalled", "variants", "versions", "FAMILIES"]

#: family -> the module whose presence decides whether the family runs
FAMILIES = {"dualdiff": "dualdiff", "numba": "numba", "jax": "jax", "torch": "torch",
            "autograd": "autograd", "numdifftools": "numdifftools", "scipy": "scipy"}


# labels used elsewhere (no commas: --tools takes a comma-separated list)
PLAIN = "plain @njit f (no derivative)"
LOOP_HAND = "hand-written in an @njit loop (per point)"
LOOP_DD = "dualdiff Dual[1] in an @njit loop (per point)"


class Unsupported(Exception):
    """This tool cannot compute this problem (the message says why)."""


class NotInstalled(Exception):
    """The peer is not importable."""


class Variant:
    """One tool on one problem.  ``kind``: "ad", "fd" (finite differences),
    "floor" (hand-written), "plain" (the function itself, no derivative) or
    "rewrite" (the problem had to be rewritten for the tool)."""

    def __init__(self, label, family, kind, make, max_n=None, note="", per=1):
        self.label, self.family, self.kind = label, family, kind
        self._make, self.max_n, self.note, self.per = make, max_n, note, per

    def make(self, problem, data):
        """``max_n``: an int, or a dict problem -> int (problems not in it: no cap)."""
        cap = self.max_n.get(problem) if isinstance(self.max_n, dict) else self.max_n
        if cap is not None and data["n"] > cap:
            raise Unsupported(f"skipped above n = {cap} ({self.note or 'too slow'})")
        return self._make(problem, data)


def _import(module):
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise NotInstalled(f"{module} is not installed ({exc})") from None


def versions():
    """family -> installed version (None when not installed)."""
    from importlib import metadata
    out = {}
    for family, module in FAMILIES.items():
        try:
            out[family] = metadata.version(module)
        except metadata.PackageNotFoundError:
            out[family] = None
    return out


def _asarray(r):
    return np.asarray(r, dtype=np.float64)


# ===========================================================================
# dualdiff and the Numba floor
# ===========================================================================

def _dd_call(problem, data, mode):
    dd = _import("dualdiff")
    x = data.get("x")
    if problem == "scalar":
        if mode == "reverse":
            raise Unsupported("one input; reverse mode does not apply")
        return lambda: dd.derivative(P.example, x)
    if problem in ("rosenbrock_grad", "kepler_grad"):
        f = P.rosenbrock if problem == "rosenbrock_grad" else P.kepler
        return lambda: dd.gradient(f, x, mode=mode)
    if problem == "mlp_grad":
        theta, X, y = data["theta"], data["X"], data["y"]
        return lambda: dd.gradient(P.mlp_loss, theta, args=(X, y), mode=mode)
    if problem == "broyden_jac":
        return lambda: dd.jacobian(P.broyden, x, mode=mode)
    if problem in ("rosenbrock_hess", "logsumexp_hess"):
        if mode == "reverse":
            raise Unsupported("dd.hessian is forward-over-forward (nested duals)")
        if problem == "rosenbrock_hess":
            return lambda: dd.hessian(P.rosenbrock, x)
        A = data["A"]
        return lambda: dd.hessian(P.logsumexp, x, args=(A,))
    raise Unsupported(f"no dualdiff call for {problem}")


def _dualdiff_arrays(problem, data):
    """dualdiff on the array-code MLP with structured parameters (reverse
    mode records matmuls as block nodes)."""
    dd = _import("dualdiff")
    if problem != "mlp_grad":
        raise Unsupported("only the MLP is written as array code")
    params, X, y = P.mlp_unflatten(data["theta"]), data["X"], data["y"]
    return (lambda: dd.gradient(P.mlp_loss_arrays, params, args=(X, y), mode="reverse"),
            lambda grads: P.mlp_flatten(grads))


def _dualdiff_jit(problem, data):
    """dd.jit: the derivative as a Numba dispatcher (no Python-side checks)."""
    dd = _import("dualdiff")
    x = data.get("x")
    if problem == "scalar":
        d = dd.jit.derivative(P.example)
        return (lambda: d(x)), _asarray
    if problem == "rosenbrock_grad":
        g = dd.jit.gradient(P.rosenbrock)
        return (lambda: g(x)), _asarray
    raise Unsupported("dd.jit has derivative and gradient only")


def _dualdiff(mode):
    def make(problem, data):
        # mode="reverse" may raise NotImplementedError on its first call; the
        # suite records that as "n/a" with the message
        return _dd_call(problem, data, mode), _asarray
    return make


def _numba_floor(problem, data):
    x = data.get("x")
    if problem == "scalar":
        return (lambda: P.example_derivative_jit(x)), _asarray
    if problem == "rosenbrock_grad":
        return (lambda: P.rosenbrock_gradient_jit(x)), _asarray
    if problem == "broyden_jac":
        return (lambda: P.broyden_jacobian_jit(x)), _asarray
    if problem == "rosenbrock_hess":
        return (lambda: P.rosenbrock_hessian_jit(x)), _asarray
    if problem == "logsumexp_hess":
        A = data["A"]
        return (lambda: P.logsumexp_hessian_jit(x, A)), _asarray
    if problem == "mlp_grad":
        theta, X, y = data["theta"], data["X"], data["y"]
        return (lambda: P.mlp_gradient_jit(theta, X, y)), _asarray
    if problem == "kepler_grad":
        return (lambda: P.kepler_gradient_jit(x)), _asarray
    raise Unsupported(problem)


@functools.lru_cache(maxsize=None)
def _loops():
    """(hand-written, dualdiff) derivative of the example summed over
    LOOP_POINTS points inside one @njit loop: the cost per point with no
    Python call around it (dualdiff builds its Dual numbers directly)."""
    from numba import njit
    try:
        from dualdiff._compiled.dual import make_dual
    except ImportError as exc:  # internal moved
        raise Unsupported(f"dualdiff._compiled.dual.make_dual not importable ({exc})") from None
    f, df = P.example_jit, P.example_derivative_jit

    @njit
    def hand(xs):
        acc = 0.0
        for i in range(xs.shape[0]):
            acc += df(xs[i])
        return acc

    @njit
    def dual(xs):
        acc = 0.0
        for i in range(xs.shape[0]):
            acc += f(make_dual(xs[i], (1.0,), 0)).partials[0]
        return acc

    return hand, dual


LOOP_POINTS = 1000


def _in_loop(which):
    def make(problem, data):
        if problem != "scalar":
            raise Unsupported("scalar only")
        fn = _loops()[which]
        xs = np.linspace(0.1, 1.3, LOOP_POINTS)
        return (lambda: fn(xs)), None
    return make


def _numba_plain(problem, data):
    x = data.get("x")
    f = {"scalar": P.example_jit, "rosenbrock_grad": P.rosenbrock_jit,
         "broyden_jac": P.broyden_jit, "rosenbrock_hess": P.rosenbrock_jit,
         "kepler_grad": P.kepler_jit}.get(problem)
    if f is not None:
        return (lambda: f(x)), None
    if problem == "logsumexp_hess":
        A = data["A"]
        return (lambda: P.logsumexp_jit(x, A)), None
    if problem == "mlp_grad":
        theta, X, y = data["theta"], data["X"], data["y"]
        return (lambda: P.mlp_loss_jit(theta, X, y)), None
    raise Unsupported(problem)


# ===========================================================================
# JAX (float64, jit of the transformed function, results waited for)
# ===========================================================================

@functools.lru_cache(maxsize=None)
def _jax():
    jax = _import("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    from jax import lax
    from jax.scipy.special import logsumexp

    def example(x):
        u = x * x + jnp.exp(x * x)
        return jnp.sqrt(u) + jnp.cos(u)

    def rosenbrock(x):
        return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)

    def broyden(x):
        zero = jnp.zeros(1)
        left = jnp.concatenate([zero, x[:-1]])
        right = jnp.concatenate([x[1:], zero])
        return (3.0 - 2.0 * x) * x - left - 2.0 * right + 1.0

    def lse(x, A):
        return logsumexp(A @ x)

    def mlp_loss(params, X, y):
        W1, b1, W2, b2, W3, b3 = params
        h1 = jnp.tanh(X @ W1 + b1)
        h2 = jax.nn.sigmoid(h1 @ W2 + b2)
        out = (h2 @ W3 + b3)[:, 0]
        return jnp.mean((out - y) ** 2)

    def kepler(x):  # the dualdiff user's loop, as is
        e, M = x[0], x[1]
        E = M + e * jnp.sin(M)
        step, it = 1.0, 0
        while abs(step) > P.KEPLER_TOL and it < P.KEPLER_MAX_IT:
            step = (E - e * jnp.sin(E) - M) / (1.0 - e * jnp.cos(E))
            E = E - step
            it += 1
        return E

    def kepler_lax(x):  # the rewrite jit needs: lax.while_loop
        e, M = x[0], x[1]

        def cond(state):
            _, step, it = state
            return (jnp.abs(step) > P.KEPLER_TOL) & (it < P.KEPLER_MAX_IT)

        def body(state):
            E, _, it = state
            step = (E - e * jnp.sin(E) - M) / (1.0 - e * jnp.cos(E))
            return E - step, step, it + 1

        E, _, _ = lax.while_loop(cond, body, (M + e * jnp.sin(M), jnp.ones_like(M), 0))
        return E

    fns = dict(example=example, rosenbrock=rosenbrock, broyden=broyden, lse=lse,
               mlp_loss=mlp_loss, kepler=kepler, kepler_lax=kepler_lax)
    return jax, jnp, fns


def _jax_variant(transform, jit=True, rewrite=False):
    """transform: 'grad' | 'jacfwd' | 'jacrev' | 'hessian'."""
    def make(problem, data):
        jax, jnp, F = _jax()
        t = getattr(jax, transform)
        wrap = jax.jit if jit else (lambda g: g)
        block = jax.block_until_ready
        if problem == "scalar":
            if transform != "grad":
                raise Unsupported("jax.grad is the scalar derivative")
            g, x = wrap(t(F["example"])), jnp.asarray(data["x"])
            return (lambda: block(g(x))), _asarray
        x = jnp.asarray(data["x"]) if "x" in data else None
        if problem == "rosenbrock_grad" and transform in ("grad", "jacfwd"):
            g = wrap(t(F["rosenbrock"]))
        elif problem == "broyden_jac" and transform in ("jacfwd", "jacrev"):
            g = wrap(t(F["broyden"]))
        elif problem == "rosenbrock_hess" and transform == "hessian":
            g = wrap(t(F["rosenbrock"]))
        elif problem == "logsumexp_hess" and transform == "hessian":
            A = jnp.asarray(data["A"])
            h = wrap(t(F["lse"]))
            return (lambda: block(h(x, A))), _asarray
        elif problem == "mlp_grad" and transform == "grad":
            params = tuple(jnp.asarray(p) for p in P.mlp_unflatten(data["theta"]))
            X, y = jnp.asarray(data["X"]), jnp.asarray(data["y"])
            h = wrap(t(F["mlp_loss"]))
            return (lambda: block(h(params, X, y))), P.mlp_flatten
        elif problem == "kepler_grad" and transform in ("grad", "jacfwd"):
            g = wrap(t(F["kepler_lax" if rewrite else "kepler"]))
        else:
            raise Unsupported(f"jax.{transform} does not apply to {problem}")
        return (lambda: block(g(x))), _asarray
    return make


# ===========================================================================
# PyTorch (torch.func transforms, float64 tensors, eager)
# ===========================================================================

@functools.lru_cache(maxsize=None)
def _torch():
    torch = _import("torch")
    import torch.func  # noqa: F401

    def example(x):
        u = x * x + torch.exp(x * x)
        return torch.sqrt(u) + torch.cos(u)

    def rosenbrock(x):
        return torch.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)

    def broyden(x):
        zero = x.new_zeros(1)
        left = torch.cat([zero, x[:-1]])
        right = torch.cat([x[1:], zero])
        return (3.0 - 2.0 * x) * x - left - 2.0 * right + 1.0

    def lse(x, A):
        return torch.logsumexp(A @ x, dim=0)

    def mlp_loss(params, X, y):
        W1, b1, W2, b2, W3, b3 = params
        h1 = torch.tanh(X @ W1 + b1)
        h2 = torch.sigmoid(h1 @ W2 + b2)
        out = (h2 @ W3 + b3)[:, 0]
        return torch.mean((out - y) ** 2)

    def kepler(x):
        e, M = x[0], x[1]
        E = M + e * torch.sin(M)
        step, it = 1.0, 0
        while abs(step) > P.KEPLER_TOL and it < P.KEPLER_MAX_IT:
            step = (E - e * torch.sin(E) - M) / (1.0 - e * torch.cos(E))
            E = E - step
            it += 1
        return E

    fns = dict(example=example, rosenbrock=rosenbrock, broyden=broyden, lse=lse,
               mlp_loss=mlp_loss, kepler=kepler)
    return torch, fns


def _torch_variant(transform):
    def make(problem, data):
        torch, F = _torch()
        t = getattr(torch.func, transform)

        def tensor(a):
            return torch.as_tensor(np.asarray(a, dtype=np.float64))

        def out(r):
            return np.asarray(r.detach().numpy(), dtype=np.float64)

        if problem == "scalar":
            if transform != "grad":
                raise Unsupported("torch.func.grad is the scalar derivative")
            g, x = t(F["example"]), tensor(data["x"])
            return (lambda: g(x)), out
        x = tensor(data["x"]) if "x" in data else None
        if problem == "rosenbrock_grad" and transform in ("grad", "jacfwd"):
            g = t(F["rosenbrock"])
        elif problem == "broyden_jac" and transform in ("jacfwd", "jacrev"):
            g = t(F["broyden"])
        elif problem == "rosenbrock_hess" and transform == "hessian":
            g = t(F["rosenbrock"])
        elif problem == "logsumexp_hess" and transform == "hessian":
            A, h = tensor(data["A"]), t(F["lse"])
            return (lambda: h(x, A)), out
        elif problem == "mlp_grad" and transform == "grad":
            params = tuple(tensor(p) for p in P.mlp_unflatten(data["theta"]))
            X, y, h = tensor(data["X"]), tensor(data["y"]), t(F["mlp_loss"])
            return (lambda: h(params, X, y)), (lambda r: P.mlp_flatten([out(p) for p in r]))
        elif problem == "kepler_grad" and transform == "grad":
            g = t(F["kepler"])
        else:
            raise Unsupported(f"torch.func.{transform} does not apply to {problem}")
        return (lambda: g(x)), out
    return make


# ===========================================================================
# autograd (HIPS), on autograd.numpy
# ===========================================================================

@functools.lru_cache(maxsize=None)
def _autograd():
    ag = _import("autograd")
    anp = importlib.import_module("autograd.numpy")
    from autograd.scipy.special import logsumexp

    def example(x):
        u = x * x + anp.exp(x * x)
        return anp.sqrt(u) + anp.cos(u)

    def rosenbrock(x):
        return anp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)

    def broyden(x):
        zero = anp.zeros(1)
        left = anp.concatenate([zero, x[:-1]])
        right = anp.concatenate([x[1:], zero])
        return (3.0 - 2.0 * x) * x - left - 2.0 * right + 1.0

    def lse(x, A):
        return logsumexp(anp.dot(A, x))

    def mlp_loss(params, X, y):
        W1, b1, W2, b2, W3, b3 = params
        h1 = anp.tanh(anp.dot(X, W1) + b1)
        h2 = 1.0 / (1.0 + anp.exp(-(anp.dot(h1, W2) + b2)))
        out = (anp.dot(h2, W3) + b3)[:, 0]
        return anp.mean((out - y) ** 2)

    def kepler(x):
        e, M = x[0], x[1]
        E = M + e * anp.sin(M)
        step, it = 1.0, 0
        while abs(step) > P.KEPLER_TOL and it < P.KEPLER_MAX_IT:
            step = (E - e * anp.sin(E) - M) / (1.0 - e * anp.cos(E))
            E = E - step
            it += 1
        return E

    fns = dict(example=example, rosenbrock=rosenbrock, broyden=broyden, lse=lse,
               mlp_loss=mlp_loss, kepler=kepler)
    return ag, fns


def _autograd_variant(problem, data):
    ag, F = _autograd()
    x = data.get("x")
    if problem == "scalar":
        g = ag.grad(F["example"])
        return (lambda: g(x)), _asarray
    if problem in ("rosenbrock_grad", "kepler_grad"):
        g = ag.grad(F["rosenbrock" if problem == "rosenbrock_grad" else "kepler"])
    elif problem == "broyden_jac":
        g = ag.jacobian(F["broyden"])
    elif problem == "rosenbrock_hess":
        g = ag.hessian(F["rosenbrock"])
    elif problem == "logsumexp_hess":
        A, h = data["A"], ag.hessian(F["lse"])
        return (lambda: h(x, A)), _asarray
    elif problem == "mlp_grad":
        params = tuple(np.array(p) for p in P.mlp_unflatten(data["theta"]))
        X, y, h = data["X"], data["y"], ag.grad(F["mlp_loss"])
        return (lambda: h(params, X, y)), P.mlp_flatten
    else:
        raise Unsupported(problem)
    return (lambda: g(x)), _asarray


# ===========================================================================
# NumPy versions for the finite-difference tools
# ===========================================================================

def np_example(x):
    u = x * x + np.exp(x * x)
    return np.sqrt(u) + np.cos(u)


def np_rosenbrock(x):
    """Works on x of shape (n,) and, column by column, (n, k)."""
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2, axis=0)


def np_broyden(x):
    zero = np.zeros_like(x[:1])
    left = np.concatenate([zero, x[:-1]])
    right = np.concatenate([x[1:], zero])
    return (3.0 - 2.0 * x) * x - left - 2.0 * right + 1.0


def np_logsumexp(x, A):
    z = np.tensordot(A, x, axes=1)
    big = z.max(axis=0)
    return big + np.log(np.sum(np.exp(z - big), axis=0))


def np_mlp_loss(theta, X, y):
    W1, b1, W2, b2, W3, b3 = P.mlp_unflatten(theta)
    h1 = np.tanh(X @ W1 + b1)
    h2 = 1.0 / (1.0 + np.exp(-(h1 @ W2 + b2)))
    out = (h2 @ W3 + b3)[:, 0]
    return np.mean((out - y) ** 2)


def _numdifftools_variant(problem, data):
    nd = _import("numdifftools")
    x = data.get("x")
    if problem == "scalar":
        g = nd.Derivative(np_example)
    elif problem == "rosenbrock_grad":
        g = nd.Gradient(np_rosenbrock)
    elif problem == "kepler_grad":
        g = nd.Gradient(P.kepler)
    elif problem == "broyden_jac":
        g = nd.Jacobian(np_broyden)
    elif problem == "rosenbrock_hess":
        g = nd.Hessian(np_rosenbrock)
    elif problem == "logsumexp_hess":
        A = data["A"]
        g = nd.Hessian(lambda v: np_logsumexp(v, A))
    else:
        raise Unsupported(f"{problem} is too large for numdifftools here")
    return (lambda: g(x)), _asarray


def _scipy_approx_fprime(problem, data):
    opt = _import("scipy.optimize")
    x = data.get("x")
    if problem == "scalar":
        x1 = np.array([data["x"]])
        return (lambda: opt.approx_fprime(x1, lambda v: np_example(v[0]))), _asarray
    if problem == "rosenbrock_grad":
        return (lambda: opt.approx_fprime(x, np_rosenbrock)), _asarray
    if problem == "kepler_grad":
        return (lambda: opt.approx_fprime(x, P.kepler)), _asarray
    if problem == "broyden_jac":
        return (lambda: opt.approx_fprime(x, np_broyden)), _asarray
    if problem == "mlp_grad":
        theta, X, y = data["theta"], data["X"], data["y"]
        return (lambda: opt.approx_fprime(theta, np_mlp_loss, 1.4901161193847656e-08, X, y)), \
            _asarray
    raise Unsupported("approx_fprime is first order (a Hessian would need it twice)")


def _scipy_differentiate(problem, data):
    sd = _import("scipy.differentiate")
    x = data.get("x")
    if problem == "scalar":
        return (lambda: sd.derivative(np_example, data["x"])), lambda r: _asarray(r.df)
    if problem == "rosenbrock_grad":
        return (lambda: sd.jacobian(np_rosenbrock, x)), lambda r: _asarray(r.df)
    if problem == "broyden_jac":
        return (lambda: sd.jacobian(np_broyden, x)), lambda r: _asarray(r.df)
    if problem == "rosenbrock_hess":
        return (lambda: sd.hessian(np_rosenbrock, x)), lambda r: _asarray(r.ddf)
    if problem == "logsumexp_hess":
        A = data["A"]
        return (lambda: sd.hessian(lambda v: np_logsumexp(v, A), x)), lambda r: _asarray(r.ddf)
    raise Unsupported("scipy.differentiate needs a vectorised f "
                      "(evaluated on many points at once)")


def _first_line(exc):
    text = str(exc).strip().splitlines()
    return text[0][:160] if text else type(exc).__name__


# ===========================================================================
# The table of tools
# ===========================================================================

def _all_variants():
    return [
        Variant("dualdiff forward", "dualdiff", "ad", _dualdiff("forward")),
        Variant("dualdiff reverse", "dualdiff", "ad", _dualdiff("reverse")),
        Variant("dualdiff reverse (array code)", "dualdiff", "ad", _dualdiff_arrays),
        Variant("dualdiff dd.jit", "dualdiff", "ad", _dualdiff_jit),
        Variant("hand-written @njit", "numba", "floor", _numba_floor),
        Variant(PLAIN, "numba", "plain", _numba_plain),
        Variant(LOOP_HAND, "numba", "floor",
                _in_loop(0), per=LOOP_POINTS),
        Variant(LOOP_DD, "dualdiff", "ad",
                _in_loop(1), per=LOOP_POINTS),
        Variant("jax.jit(grad)", "jax", "ad", _jax_variant("grad")),
        Variant("jax.jit(jacfwd)", "jax", "ad", _jax_variant("jacfwd"),
                max_n={"rosenbrock_grad": 1000},
                note="jacfwd of a scalar function pushes an n x n identity through f"),
        Variant("jax.jit(jacrev)", "jax", "ad", _jax_variant("jacrev")),
        Variant("jax.jit(hessian)", "jax", "ad", _jax_variant("hessian")),
        Variant("torch.func.grad", "torch", "ad", _torch_variant("grad")),
        Variant("torch.func.jacfwd", "torch", "ad", _torch_variant("jacfwd"),
                max_n={"rosenbrock_grad": 1000},
                note="jacfwd of a scalar function pushes an n x n identity through f"),
        Variant("torch.func.jacrev", "torch", "ad", _torch_variant("jacrev")),
        Variant("torch.func.hessian", "torch", "ad", _torch_variant("hessian")),
        Variant("autograd", "autograd", "ad", _autograd_variant),
        Variant("numdifftools", "numdifftools", "fd", _numdifftools_variant,
                max_n={"rosenbrock_grad": 1000, "broyden_jac": 100, "mlp_grad": 1000},
                note="numdifftools evaluates f O(n) times per step size"),
        Variant("scipy approx_fprime", "scipy", "fd", _scipy_approx_fprime),
        Variant("scipy.differentiate", "scipy", "fd", _scipy_differentiate,
                max_n={"rosenbrock_grad": 1000, "broyden_jac": 100},
                note="adaptive stencils on an (n, n*k) batch"),
    ]


#: extra variants for the control-flow problem only
def _control_flow_variants():
    return [
        Variant("jax.grad (no jit)", "jax", "ad", _jax_variant("grad", jit=False)),
        Variant("jax.jit(jacfwd) [rewrite: lax.while_loop]", "jax", "rewrite",
                _jax_variant("jacfwd", rewrite=True)),
        Variant("jax.jit(grad) [rewrite: lax.while_loop]", "jax", "rewrite",
                _jax_variant("grad", rewrite=True)),
    ]


# which labels run on which problem (the rest print as n/a in no table)
_APPLIES = {
    "scalar": {"dualdiff forward", "dualdiff dd.jit", "hand-written @njit", PLAIN,
               LOOP_HAND,
               LOOP_DD,
               "jax.jit(grad)", "torch.func.grad", "autograd", "numdifftools",
               "scipy approx_fprime", "scipy.differentiate"},
    "rosenbrock_grad": {"dualdiff forward", "dualdiff reverse", "dualdiff dd.jit",
                        "hand-written @njit",
                        PLAIN, "jax.jit(grad)", "jax.jit(jacfwd)",
                        "torch.func.grad", "autograd", "numdifftools",
                        "scipy approx_fprime", "scipy.differentiate"},
    "broyden_jac": {"dualdiff forward", "dualdiff reverse", "hand-written @njit",
                    PLAIN, "jax.jit(jacfwd)", "jax.jit(jacrev)",
                    "torch.func.jacfwd", "torch.func.jacrev", "autograd", "numdifftools",
                    "scipy approx_fprime", "scipy.differentiate"},
    "rosenbrock_hess": {"dualdiff forward", "hand-written @njit",
                        PLAIN, "jax.jit(hessian)",
                        "torch.func.hessian", "autograd", "numdifftools", "scipy.differentiate"},
    "logsumexp_hess": {"dualdiff forward", "hand-written @njit",
                       PLAIN, "jax.jit(hessian)",
                       "torch.func.hessian", "autograd", "numdifftools", "scipy.differentiate"},
    "mlp_grad": {"dualdiff forward", "dualdiff reverse", "dualdiff reverse (array code)",
                 "hand-written @njit",
                 PLAIN, "jax.jit(grad)", "torch.func.grad",
                 "autograd", "numdifftools", "scipy approx_fprime"},
    "kepler_grad": {"dualdiff forward", "dualdiff reverse", "hand-written @njit",
                    PLAIN, "jax.jit(grad)", "torch.func.grad",
                    "autograd", "numdifftools", "scipy approx_fprime", "scipy.differentiate",
                    "jax.grad (no jit)", "jax.jit(jacfwd) [rewrite: lax.while_loop]",
                    "jax.jit(grad) [rewrite: lax.while_loop]"},
}


def variants(problem, tools=None):
    """The variants that apply to ``problem``, filtered by ``tools`` (labels
    or family names; None for all)."""
    out = []
    for v in _all_variants() + _control_flow_variants():
        if v.label not in _APPLIES[problem]:
            continue
        if tools and v.family not in tools and v.label not in tools:
            continue
        out.append(v)
    return out
