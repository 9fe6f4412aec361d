"""The finite-difference Hessian: tensor-product stencils sharing one cache
of values, their Richardson extrapolation, and central differences of the
complex-step gradient.
"""

import numpy as np

from .first import jacobian
from .inputs import (Caller, as_args, as_vector, check_method, noise_level,
                     representable, scales, steplike)
from .stencils import (COMPLEX_STEP, RICH_FIRST_STEP, RICH_RATIO, ridders,
                       square, stencil, step_factor)
from .sweeps import along, finish


# ---------------------------------------------------------------------------
# Hessian
# ---------------------------------------------------------------------------

def _tensor_terms(n, st):
    """For each (i, j), i <= j: {point key: weight}; a key is a tuple of
    (coordinate, integer offset) pairs with zero offsets dropped, so points
    shared between entries (f(x), f(x + h_i e_i), ...) are evaluated once."""
    terms = {}
    for i in range(n):
        for j in range(i, n):
            entry = {}
            for oi, wi in zip(st.offsets, st.exact):
                for oj, wj in zip(st.offsets, st.exact):
                    if i == j:
                        key = ((i, oi + oj),) if oi + oj else ()
                    else:
                        key = tuple((c, o) for c, o in ((i, oi), (j, oj)) if o)
                    entry[key] = entry.get(key, 0) + wi * wj
            terms[i, j] = {k: float(w) for k, w in entry.items() if w != 0}
    return terms


def _tensor_hessian(call, x, h, terms, values, diag):
    """H_ij = sum w f(point) / (h_i h_j) with a shared cache of values.

    Also returns, for rounding estimates, ``max |f| + |x_i g_i| + |x_j g_j|``
    over each entry's points, with the slopes ``g`` estimated from the
    diagonal points (``diag`` is the diagonal stencil)."""
    n = x.size
    hess = np.empty((n, n))
    peak = np.zeros((n, n))
    for (i, j), entry in terms.items():
        acc = 0.0
        for key, w in entry.items():
            if key not in values:
                point = x.copy()
                for c, o in key:
                    point[c] += o * h[c]
                out = call(point)
                if out.size != 1:
                    raise ValueError(f"hessian needs a scalar-valued f, but f "
                                     f"returned shape {out.shape}")
                values[key] = float(out.reshape(()))
            acc += w * values[key]
            peak[i, j] = max(peak[i, j], abs(values[key]))
        hess[i, j] = hess[j, i] = acc / (h[i] * h[j])
        peak[j, i] = peak[i, j]
    slopes = np.array([
        sum(w * values[((i, o),) if o else ()]
            for o, w in zip(diag.offsets, diag.slope)) / h[i]
        for i in range(n)])
    xg = np.abs(x * slopes)
    return hess, peak + xg[:, None] + xg[None, :]


def _complex_hessian(f, x, args, step, sc, noise, full_output):
    """Central differences (in the real direction) of the complex-step
    gradient, symmetrised.  The gradient is exact to rounding, so the real
    step is the central first-derivative step for noise ``noise``.
    Returns (H, error estimate or None, real steps, calls of f)."""
    call = Caller(f, args, scalar_input=False, complex_step=True)
    hc = COMPLEX_STEP * sc

    def grad(y):
        d = along(call, y, "complex", hc, None, noise, False)[0]
        if d[0].size != 1:
            raise ValueError(f"hessian needs a scalar-valued f, but f "
                             f"returned shape {call.shape}")
        return d.reshape(-1)

    h = step_factor(stencil("central", 1), noise) * sc if step is None \
        else step
    out = jacobian(grad, x, method="central", step=h, noise=noise,
                   full_output=full_output)
    jac, info = out if full_output else (out, None)
    hess = 0.5 * (jac + jac.T)
    if not full_output:
        return hess, None, h, call.n_calls
    err = np.maximum(info.error_estimate, info.error_estimate.T)
    return hess, err + 0.5 * np.abs(jac - jac.T), info.step, call.n_calls


def hessian(f, x, args=(), method="central", step=None, *, scale=None,
            noise=None, full_output=False):
    """Finite-difference Hessian of a scalar function of a vector.

    For the stencil methods each entry is the tensor product of the
    first-derivative stencil with itself: for ``"central"`` the standard
    4-point formula ``[f(x+hi+hj) - f(x+hi-hj) - f(x-hi+hj) + f(x-hi-hj)] /
    (4 hi hj)`` off the diagonal and ``[f(x+2hi) - 2f(x) + f(x-2hi)] / (4
    hi**2)`` on it (1 + 2n + 2n(n-1) calls).  The step is optimal for a
    second derivative: ``h ~ noise**(1/(p+2))`` times the scale.
    ``"richardson"`` extrapolates that central formula over decreasing steps;
    ``"complex"`` takes central differences of the complex-step gradient
    (2n**2 calls).  The result is exactly symmetric.

    Parameters
    ----------
    f : callable
        ``f(x, *args)`` with ``x`` a 1-D float array; returns a scalar.
    x : array_like, shape (n,)
        The point.
    args, method, scale, noise, full_output
        As for :func:`gradient`.
    step : float or array_like of shape (n,), optional
        Overrides the automatic steps (for ``"complex"``, the real step).

    Returns
    -------
    numpy.ndarray, shape (n, n)
        The Hessian; with ``full_output`` the pair ``(H, info)``.

    Examples
    --------
    >>> import numpy as np
    >>> from dualdiff import fd
    >>> H = fd.hessian(lambda x: x[0] ** 2 * x[1], [1.0, 3.0])
    >>> np.allclose(H, [[6.0, 2.0], [2.0, 0.0]], atol=1e-6)
    True
    """
    check_method(method)
    x = as_vector(x)
    noise_ = noise_level(noise)
    sc = scales(x, scale)
    user = None if step is None else steplike(step, x.size, "step")
    call = Caller(f, args, scalar_input=False)

    if method == "complex":
        hess, err, steps, n = _complex_hessian(f, x, as_args(args), user, sc,
                                               noise_, full_output)
        call.n_calls = n
        return finish(hess, err, method, steps, call, full_output)

    st = stencil("central" if method == "richardson" else method, 1)
    terms = _tensor_terms(x.size, st)
    diag = square(st)
    if method == "richardson":
        h0 = RICH_FIRST_STEP * sc if user is None else user

        def at(j):
            h = representable(x, h0 / RICH_RATIO ** j)
            hess, mag = _tensor_hessian(call, x, h, terms, {}, diag)
            return hess, st.rounding ** 2 * noise_ * mag / np.outer(h, h)

        with np.errstate(all="ignore"):  # the first steps may leave f's domain
            hess, err = ridders(at)
        hess, err = 0.5 * (hess + hess.T), np.maximum(err, err.T)
        return finish(hess, err, method, h0, call, full_output)

    h = step_factor(diag, noise_) * sc if user is None else user
    h = representable(x, h)
    hess, mag = _tensor_hessian(call, x, h, terms, {}, diag)
    if not full_output:
        return hess
    hess2, mag2 = _tensor_hessian(call, x, representable(x, 2.0 * h),
                                  terms, {}, diag)
    rounding = st.rounding ** 2 * noise_ * np.maximum(mag, mag2) / np.outer(
        h, h)
    err = 2.0 * np.abs(hess - hess2) / (2.0 ** st.accuracy - 1.0) + rounding
    return finish(hess, err, method, h, call, full_output)
