"""The directional stencil engine of :mod:`dualdiff.fd`: a stencil applied
along every coordinate (or one direction), its error estimate (a second sweep
at twice the step, or Ridders' tableau), and the :class:`FDInfo` that
``full_output=True`` returns.
"""

from dataclasses import dataclass

import numpy as np

from .inputs import noise_level, representable, scales, steplike
from .stencils import (COMPLEX_STEP, RICH_FIRST_STEP, RICH_RATIO, ridders,
                       stencil, step_factor)


# ---------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------

@dataclass
class FDInfo:
    """Details of one finite-difference computation (``full_output=True``).

    Attributes
    ----------
    method : str
        The method used.
    step : numpy.ndarray
        The step per coordinate (per direction for :func:`jvp`).  For
        ``"richardson"`` the first (largest) step of the sequence; for
        ``"complex"`` first derivatives the imaginary step.
    error_estimate : numpy.ndarray or numpy.float64
        Estimated absolute error of each entry of the result, same shape.
        For ``"richardson"``: from the extrapolation tableau, the distance of
        the chosen entry to its two neighbours plus a propagated bound on
        rounding (tested to bound the true error on smooth functions).  For
        the other methods: from a second evaluation at twice the step,
        twice the Richardson estimate ``|D(h) - D(2h)| / (2**p - 1)``, plus
        the rounding bound ``R * noise * (max|f| + |x| |f'|) / h**m`` (an
        estimate, not a bound; it doubles the number of calls).
    n_calls : int
        Number of calls of ``f``.

    Examples
    --------
    >>> import numpy as np
    >>> from dualdiff import fd
    >>> g, info = fd.gradient(lambda x: x @ x, [1.0, 2.0], full_output=True)
    >>> info.method, info.error_estimate.shape, info.n_calls
    ('central', (2,), 8)
    """

    method: str
    step: np.ndarray
    error_estimate: np.ndarray
    n_calls: int


# ---------------------------------------------------------------------------
# Directional stencil engine
# ---------------------------------------------------------------------------
#
# Every first- or higher-derivative method below evaluates, for each of k
# directions u_i (a coordinate axis, or v for jvp), the sum
#     D_i = sum_j w_j F(x + o_j h_i u_i) / h_i**m
# where F is f, or Im f(. + i hc_i u_i) / hc_i for the complex step.

def _displace(x, i, amount, direction):
    """x + amount * u_i as a new array (u_i = e_i, or ``direction``)."""
    dtype = np.complex128 if isinstance(amount, complex) else np.float64
    if direction is None:
        point = x.astype(dtype)
        point[i] += amount
    else:
        point = x + amount * direction
    return point


def _stencil_sweep(call, x, h, st, xmag, hc=None, direction=None,
                   cache=None):
    """Apply stencil ``st`` along every direction.

    Returns ``D`` of shape (k,) + out_shape and, for rounding estimates, the
    magnitude ``max |F| + xmag |F'|`` met on each direction's stencil (``F'``
    estimated from the same values).  ``cache`` holds f(x) between sweeps.
    """
    k = 1 if direction is not None else x.size
    cache = {} if cache is None else cache
    rows, mags = [], []
    for i in range(k):
        acc, peak, slope = 0.0, 0.0, 0.0
        for o, w, ws in zip(st.offsets, st.weights, st.slope):
            if hc is not None:
                value = call(_displace(x, i, complex(o * h[i], hc[i]),
                                       direction)).imag / hc[i]
            elif o == 0:
                if "f0" not in cache:
                    cache["f0"] = call(x.copy())
                value = cache["f0"]
            else:
                value = call(_displace(x, i, o * h[i], direction))
            acc = acc + w * value
            slope = slope + ws * value
            peak = np.maximum(peak, np.abs(value))
        rows.append(acc / h[i] ** st.deriv)
        mags.append(peak + xmag[i] * np.abs(slope) / h[i])
    return np.array(rows), np.array(mags)


def _expand(vec, like):
    """Reshape a (k,) per-direction vector to broadcast against (k,) + out."""
    return vec.reshape(vec.shape + (1,) * (like.ndim - 1))


def _rounding(st, noise, mag, h):
    """Rounding bound of a stencil estimate: ``R noise M / h**m`` where M is
    the largest |F| on the stencil plus ``|x| |F'|`` (rounding x inside f
    shifts F by about ``noise |x F'|``)."""
    return st.rounding * noise * mag / _expand(h, mag) ** st.deriv


def _plain_estimate(call, x, h, st, noise, xmag, hc=None, direction=None):
    """D(h) and an error estimate from a second sweep at twice the step."""
    cache = {}
    d1, mag1 = _stencil_sweep(call, x, h, st, xmag, hc, direction, cache)
    h2 = 2.0 * h if st.deriv > 0 else h
    hc2 = None if hc is None else 2.0 * hc
    d2, mag2 = _stencil_sweep(call, x, h2, st, xmag, hc2, direction, cache)
    if st.deriv == 0:  # complex step: O(hc**2) truncation, no cancellation
        return d1, np.abs(d1 - d2) / 3.0 + 2.0 * noise * np.abs(d1)
    trunc = 2.0 * np.abs(d1 - d2) / (2.0 ** st.accuracy - 1.0)
    return d1, trunc + _rounding(st, noise, np.maximum(mag1, mag2), h)


# ---------------------------------------------------------------------------
# Shared driver for derivatives along directions
# ---------------------------------------------------------------------------

def along(call, x, method, step, scale, noise, full_output,
                 direction=None, deriv=1):
    """Derivatives of order ``deriv`` along each coordinate (or along
    ``direction``).  Returns (D, error estimate or None, steps)."""
    noise = noise_level(noise)
    if direction is None:
        sc = scales(x, scale)
        xmag = np.abs(x)
        rep = lambda h: representable(x, h)  # noqa: E731
    else:  # one direction v: no coordinate moves more than its own step
        nz = direction != 0
        sc = np.array([np.min(scales(x, scale)[nz] / np.abs(direction[nz]))])
        xmag = np.array([np.max(np.abs(x[nz] / direction[nz]))])
        rep = lambda h: h  # noqa: E731
    user = None if step is None else steplike(step, sc.size, "step")

    if method == "richardson":
        st = stencil("central", deriv)
        h0 = RICH_FIRST_STEP * sc if user is None else user
        cache = {}

        def at(j):
            h = rep(h0 / RICH_RATIO ** j)
            d, mag = _stencil_sweep(call, x, h, st, xmag, None, direction,
                                    cache)
            return d, _rounding(st, noise, mag, h)

        with np.errstate(all="ignore"):  # the first steps may leave f's domain
            d, err = ridders(at)
        return d, err, h0

    hc = None
    if method == "complex":  # real stencil of order deriv-1 on Im f(.+ihc)/hc
        st = stencil("central", deriv - 1)
        hc = COMPLEX_STEP * sc
        if deriv == 1:
            hc = hc if user is None else user
            user = np.ones(sc.size)  # the identity stencil ignores h
    else:
        st = stencil(method, deriv)
    h = rep(step_factor(st, noise) * sc) if user is None else rep(user)
    if full_output:
        d, err = _plain_estimate(call, x, h, st, noise, xmag, hc, direction)
    else:
        d, err = _stencil_sweep(call, x, h, st, xmag, hc, direction)[0], None
    return d, err, hc if st.deriv == 0 else h


def finish(value, err, method, steps, call, full_output):
    if not full_output:
        return value
    return value, FDInfo(method=method, step=np.asarray(steps, dtype=float),
                         error_estimate=err, n_calls=call.n_calls)


def scalar_or_array(arr):
    return np.float64(arr) if np.ndim(arr) == 0 else arr
