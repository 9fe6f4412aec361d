"""Finite differences: stencils, Richardson extrapolation and the complex step.

Pure NumPy and independent of the rest of dualdiff (the one exception is
:func:`error_vs_step`, which asks :mod:`dualdiff.operators` for a reference value
when none is given, importing it lazily).

Methods
-------
``"forward"`` / ``"backward"``
    One-sided differences, first order in the step.
``"central"``, ``"central4"``, ``"central6"``
    Symmetric stencils of order 2, 4 and 6.
``"richardson"``
    Central differences at a decreasing sequence of steps, extrapolated to zero
    step with Neville's tableau (Ridders' method); gives an error estimate.
``"complex"``
    The complex step ``Im f(x + i h) / h``: no subtractive cancellation, so it
    is accurate to machine precision, but ``f`` must accept complex input.

Step selection
--------------
A stencil for the ``m``-th derivative with ``sum |w_k| = R`` and truncation
error ``C h**p |f^(m+p)|`` has total error about ``C h**p + m R noise / h**m``
when ``f`` is computed with relative noise ``noise`` (default machine epsilon)
and varies on the scale of ``x``.  The minimum lies at::

    h_i = (m R noise / (p C)) ** (1 / (p + m)) * max(|x_i|, scale_i)

with ``scale_i = 1`` by default (the SciPy convention: relative steps for large
coordinates, absolute ones near zero).  This gives ``2 sqrt(eps)`` for forward,
``(3 eps)**(1/3)`` for central and ``(11.25 eps)**(1/5)`` for central4
differences.  Steps are rounded so that ``x + h`` is exact (``h = (x+h) - x``).
When a coordinate is small *and* ``f`` varies on that small scale (physical
units), pass ``scale`` (typical magnitudes) or ``step``.  Hessians use the
same rule for their second-derivative stencils (``h ~ noise**(1/(p+2))``).

Richardson extrapolation starts at ``h0 = 0.1 * max(|x_i|, scale_i)`` and
halves the step, extrapolating each new central difference through Neville's
tableau.  Every entry carries a propagated bound on its rounding error; the
entry whose distance to its neighbours plus rounding bound is smallest wins,
and that sum is the error estimate.  Steps stop once rounding alone exceeds
the best estimate; leading steps that give non-finite values (the step left
f's domain) are skipped.  The estimate bounded the true error on every smooth
test function tried (see tests), typically by a factor 10-30.  Like any
sampling method it can be fooled by functions that oscillate on a scale much
shorter than ``h0`` (aliasing); pass a smaller ``step`` for those.

The complex step needs ``f`` to be analytic in the code path taken: ``abs``,
``conj`` or ``real`` silently break it; ``math`` functions, ``float()`` or
assignment into float arrays are detected and reported.

Every public function returns float64 results (NumPy scalars for scalar
outputs) and, with ``full_output=True``, a pair ``(result, info)`` where
``info`` is an :class:`FDInfo` holding an error estimate.
"""

from dataclasses import dataclass, field
from fractions import Fraction
from math import factorial
import threading
import warnings

import numpy as np

__all__ = [
    "FDInfo",
    "ErrorCurve",
    "METHODS",
    "derivative",
    "gradient",
    "jacobian",
    "hessian",
    "jvp",
    "error_vs_step",
    "plot_error_vs_step",
]

EPS = float(np.finfo(np.float64).eps)

_COMPLEX_STEP_LOCK = threading.RLock()  # see _Caller._call_complex

METHODS = ("forward", "backward", "central", "central4", "central6",
           "richardson", "complex")

# Central accuracy order of each symmetric method.
_CENTRAL_ORDER = {"central": 2, "central4": 4, "central6": 6}

# Complex step: the imaginary step relative to the scale of x.  Its truncation
# error is O(h**2) relative, so any h far below sqrt(eps) is exact in float64.
_COMPLEX_STEP = 1e-20

# Richardson (Ridders) parameters: first step relative to the scale of x,
# ratio between successive steps, the most rows of the tableau, and how many
# too-large leading steps (non-finite values) may be skipped.
_RICH_FIRST_STEP = 0.1
_RICH_RATIO = 2.0
_RICH_MAX_ROWS = 30
_RICH_MAX_SKIP = 20


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


@dataclass
class ErrorCurve:
    """Data of an error-versus-step plot, as returned by :func:`error_vs_step`.

    Attributes
    ----------
    x : float
        The point.
    reference : float or numpy.ndarray
        The derivative the errors are measured against.
    steps : numpy.ndarray
        The steps, increasing.
    errors : dict of str to numpy.ndarray
        Absolute error (max over outputs) of each method at each step.
    auto_steps : dict of str to float
        The step each method would choose automatically.

    Examples
    --------
    >>> import numpy as np
    >>> from dualdiff import fd
    >>> data = fd.error_vs_step(np.exp, 0.0, reference=1.0, steps=[1e-3, 1e-6])
    >>> sorted(data.errors), data.steps.tolist()
    (['central', 'complex', 'forward'], [1e-06, 0.001])
    """

    x: float
    reference: object
    steps: np.ndarray
    errors: dict = field(default_factory=dict)
    auto_steps: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------
# Stencils
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class _Stencil:
    """Weights ``w`` at integer offsets ``o`` so that
    ``sum_k w_k f(x + o_k h) / h**deriv`` approximates ``f^(deriv)(x)``."""

    offsets: tuple
    weights: tuple
    deriv: int       # m, the derivative order
    accuracy: int    # p, the error is C h**p f^(m+p)
    trunc: float     # C
    rounding: float  # R = sum |w_k|
    slope: tuple     # first-derivative weights on the same offsets
    exact: tuple = ()  # the weights as Fractions


def _solve_exact(a, b):
    """Solve a small linear system exactly in rationals (Gauss-Jordan)."""
    n = len(b)
    rows = [list(map(Fraction, a[i])) + [Fraction(b[i])] for i in range(n)]
    for col in range(n):
        pivot = next(r for r in range(col, n) if rows[r][col] != 0)
        rows[col], rows[pivot] = rows[pivot], rows[col]
        rows[col] = [v / rows[col][col] for v in rows[col]]
        for r in range(n):
            if r != col and rows[r][col] != 0:
                factor = rows[r][col]
                rows[r] = [v - factor * c for v, c in zip(rows[r], rows[col])]
    return [rows[i][n] for i in range(n)]


def _make_stencil(offsets, deriv):
    """The unique stencil on ``offsets`` that is exact for polynomials of
    degree < len(offsets)."""
    k = len(offsets)
    moments = [[Fraction(o) ** j for o in offsets] for j in range(k)]
    rhs = [factorial(deriv) if j == deriv else 0 for j in range(k)]
    return _describe(offsets, _solve_exact(moments, rhs), deriv)


def _describe(offsets, weights, deriv):
    """A _Stencil from exact weights: zero weights dropped, accuracy and
    error constants from the first non-vanishing moment."""
    kept = [(Fraction(o), Fraction(w)) for o, w in zip(offsets, weights) if w]
    offs = [o for o, _ in kept]
    j = deriv + 1
    while sum(w * o ** j for o, w in kept) == 0:
        j += 1
    trunc = abs(sum(w * o ** j for o, w in kept)) / factorial(j)
    # f' from the same values, for the rounding estimate
    slope = _solve_exact([[o ** i for o in offs] for i in range(len(offs))],
                         [int(i == 1) for i in range(len(offs))])
    return _Stencil(
        offsets=tuple(int(o) for o in offs),
        weights=tuple(float(w) for _, w in kept),
        deriv=deriv,
        accuracy=j - deriv,
        trunc=float(trunc),
        rounding=float(sum(abs(w) for _, w in kept)),
        slope=tuple(float(w) for w in slope),
        exact=tuple(w for _, w in kept),
    )


def _stencil(method, deriv):
    """Stencil of a named method for the ``deriv``-th derivative."""
    if method == "forward":
        return _make_stencil(list(range(0, deriv + 1)), deriv)
    if method == "backward":
        return _make_stencil(list(range(-deriv, 1)), deriv)
    if deriv == 0:  # the identity: F(x) itself (complex step, 1st order)
        return _Stencil((0,), (1.0,), 0, 2, 0.0, 1.0, (0.0,))
    half = (deriv - 1) // 2 + _CENTRAL_ORDER.get(method, 2) // 2
    return _make_stencil(list(range(-half, half + 1)), deriv)


def _square(st):
    """Tensor product of a first-derivative stencil with itself, collapsed
    onto one axis: the second-derivative stencil of the Hessian diagonal."""
    acc = {}
    for oi, wi in zip(st.offsets, st.exact):
        for oj, wj in zip(st.offsets, st.exact):
            acc[oi + oj] = acc.get(oi + oj, 0) + wi * wj
    offsets = sorted(acc)
    return _describe(offsets, [acc[o] for o in offsets], 2)


def _step_factor(st, noise):
    """Optimal step relative to the scale: minimises C h**p + m R noise/h**m."""
    m, p = st.deriv, st.accuracy
    return (m * st.rounding * noise / (p * st.trunc)) ** (1.0 / (p + m))


# ---------------------------------------------------------------------------
# Input checking and calling f
# ---------------------------------------------------------------------------

def _check_method(method, allowed=METHODS):
    if method not in allowed:
        raise ValueError(
            f"unknown method {method!r}; expected one of {', '.join(allowed)}")


def _as_args(args):
    return args if isinstance(args, tuple) else (args,)


def _as_real_array(x, name="x"):
    """Copy of ``x`` as a finite float64 array, or a TypeError/ValueError."""
    try:
        arr = np.array(x)
    except Exception as exc:  # ragged nesting and the like
        raise TypeError(f"{name} must be a real number or array of real "
                        f"numbers; could not convert it ({exc})") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be real numbers (float or int), got "
                        f"dtype {arr.dtype} from {type(x).__name__}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {arr}")
    return arr


def _as_vector(x, name="x"):
    arr = _as_real_array(x, name)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape "
                         f"{arr.shape}; use derivative() for scalar x")
    return arr


def _as_scalar(x):
    arr = _as_real_array(x)
    if arr.ndim != 0:
        raise ValueError(f"x must be a scalar for derivative(), got shape "
                         f"{arr.shape}; use gradient() or jacobian()")
    return arr.reshape(1)


class _Caller:
    """Calls ``f`` on copies of points, counts calls and checks the output
    (numeric, same shape every time, complex for the complex step)."""

    def __init__(self, f, args, scalar_input, complex_step=False):
        if not callable(f):
            raise TypeError(f"f must be callable, got {type(f).__name__}")
        self.f, self.args = f, _as_args(args)
        self.scalar_input = scalar_input
        self.complex_step = complex_step
        self.n_calls = 0
        self.shape = None

    def __call__(self, point):
        arg = point[0].item() if self.scalar_input else point.copy()
        self.n_calls += 1
        if self.complex_step:
            out = self._call_complex(arg)
        else:
            out = self.f(arg, *self.args)
        return self._check(out)

    def _call_complex(self, arg):
        # warnings.catch_warnings swaps the process-wide filter list: two
        # threads inside it at once could leave a filter behind, or run f
        # without the ComplexWarning-as-error filter and return a derivative
        # from a discarded imaginary part.  Complex-step calls take turns.
        with _COMPLEX_STEP_LOCK, warnings.catch_warnings():
            warnings.simplefilter("error", np.exceptions.ComplexWarning)
            try:
                return self.f(arg, *self.args)
            except np.exceptions.ComplexWarning:
                raise ValueError(
                    "method='complex': f discarded the imaginary part of its "
                    "input (complex cast to real); use a real method such as "
                    "'central'") from None
            except TypeError as exc:
                raise TypeError(
                    "method='complex' needs f to accept complex input, but f "
                    f"raised TypeError: {exc}") from exc

    def _check(self, out):
        arr = np.asarray(out)
        if arr.dtype.kind not in "biufc":
            raise TypeError("f must return a number or an array of numbers, "
                            f"got {type(out).__name__} (dtype {arr.dtype})")
        if self.complex_step and arr.dtype.kind != "c":
            raise ValueError(
                "method='complex': f returned real values for complex input, "
                "so the imaginary part was dropped (float(), math functions or "
                "assignment into a float array do this); use a real method "
                "such as 'central'")
        if not self.complex_step and arr.dtype.kind == "c":
            raise TypeError("f returned complex values; finite differences "
                            "need real-valued f (method='complex' aside)")
        if self.shape is None:
            self.shape = arr.shape
        elif arr.shape != self.shape:
            raise ValueError(f"f returned shape {arr.shape} at one point and "
                             f"{self.shape} at another; it must not change")
        return arr.astype(np.complex128 if self.complex_step else np.float64)


def _scale(x, scale):
    if scale is None:
        return np.maximum(np.abs(x), 1.0)
    s = _steplike(scale, x.size, "scale")
    return np.maximum(np.abs(x), s)


def _steplike(value, n, name):
    """A positive finite scalar or (n,) array, broadcast to (n,)."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a positive number or an array of "
                        f"{n} positive numbers, got {value!r}") from None
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.shape != (n,):
        raise ValueError(f"{name} must be a positive number or an array of "
                         f"shape ({n},), got shape {arr.shape}")
    if not np.all(np.isfinite(arr) & (arr > 0)):
        raise ValueError(f"{name} must be positive and finite, got {arr}")
    return arr


def _representable(x, h):
    """Round steps so that x + h is exact: h = (x + h) - x."""
    exact = (x + h) - x
    return np.where(exact > 0, exact, h)


def _noise(noise):
    if noise is None:
        return EPS
    noise = float(noise)
    if not (EPS * 0.5 <= noise < 1.0):
        raise ValueError(f"noise must be a relative accuracy in [eps, 1), "
                         f"got {noise}")
    return noise


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
# Richardson extrapolation (Ridders)
# ---------------------------------------------------------------------------

def _ridders(estimate_at, ratio=_RICH_RATIO, max_rows=_RICH_MAX_ROWS):
    """Extrapolate central estimates to step zero (Ridders' method).

    ``estimate_at(j)`` returns ``(D, r)``: the central estimate at step
    ``h0 / ratio**j`` (its error is even in h) and a bound ``r`` on its
    rounding error.  Neville's tableau is built one row per step; every entry
    carries its value and a rounding bound propagated through the same linear
    combination.  An entry's error estimate is the larger of its distances to
    the two entries it was built from, plus its rounding bound; the entry with
    the smallest estimate wins, element by element.  An element stops once the
    rounding bound of a new row exceeds its best estimate (smaller steps can
    only be worse).  Leading steps whose values are not all finite (a step
    that crossed a singularity) are skipped.  Returns (value, error estimate).
    """
    start = 0
    first, first_rnd = estimate_at(0)
    while not np.all(np.isfinite(first)) and start < _RICH_MAX_SKIP:
        start += 1
        first, first_rnd = estimate_at(start)
    prev, prev_rnd = [first], [first_rnd]
    best = first.copy()
    best_err = np.full(first.shape, np.inf)
    active = np.ones(first.shape, dtype=bool)
    for j in range(start + 1, start + max_rows):
        value, rnd = estimate_at(j)
        row, row_rnd = [value], [rnd]
        fac = ratio ** 2
        for k in range(1, len(prev) + 1):
            new = (fac * row[k - 1] - prev[k - 1]) / (fac - 1.0)
            new_rnd = (fac * row_rnd[k - 1] + prev_rnd[k - 1]) / (fac - 1.0)
            fac *= ratio ** 2
            err = np.maximum(np.abs(new - row[k - 1]),
                             np.abs(new - prev[k - 1])) + new_rnd
            better = active & (err <= best_err)
            best = np.where(better, new, best)
            best_err = np.where(better, err, best_err)
            row.append(new)
            row_rnd.append(new_rnd)
        active &= ~(rnd > best_err)
        prev, prev_rnd = row, row_rnd
        if not np.any(active):
            break
    return best, best_err + 2.0 * EPS * np.abs(best)


# ---------------------------------------------------------------------------
# Shared driver for derivatives along directions
# ---------------------------------------------------------------------------

def _along(call, x, method, step, scale, noise, full_output,
                 direction=None, deriv=1):
    """Derivatives of order ``deriv`` along each coordinate (or along
    ``direction``).  Returns (D, error estimate or None, steps)."""
    noise = _noise(noise)
    if direction is None:
        sc = _scale(x, scale)
        xmag = np.abs(x)
        rep = lambda h: _representable(x, h)  # noqa: E731
    else:  # one direction v: no coordinate moves more than its own step
        nz = direction != 0
        sc = np.array([np.min(_scale(x, scale)[nz] / np.abs(direction[nz]))])
        xmag = np.array([np.max(np.abs(x[nz] / direction[nz]))])
        rep = lambda h: h  # noqa: E731
    user = None if step is None else _steplike(step, sc.size, "step")

    if method == "richardson":
        st = _stencil("central", deriv)
        h0 = _RICH_FIRST_STEP * sc if user is None else user
        cache = {}

        def at(j):
            h = rep(h0 / _RICH_RATIO ** j)
            d, mag = _stencil_sweep(call, x, h, st, xmag, None, direction,
                                    cache)
            return d, _rounding(st, noise, mag, h)

        with np.errstate(all="ignore"):  # the first steps may leave f's domain
            d, err = _ridders(at)
        return d, err, h0

    hc = None
    if method == "complex":  # real stencil of order deriv-1 on Im f(.+ihc)/hc
        st = _stencil("central", deriv - 1)
        hc = _COMPLEX_STEP * sc
        if deriv == 1:
            hc = hc if user is None else user
            user = np.ones(sc.size)  # the identity stencil ignores h
    else:
        st = _stencil(method, deriv)
    h = rep(_step_factor(st, noise) * sc) if user is None else rep(user)
    if full_output:
        d, err = _plain_estimate(call, x, h, st, noise, xmag, hc, direction)
    else:
        d, err = _stencil_sweep(call, x, h, st, xmag, hc, direction)[0], None
    return d, err, hc if st.deriv == 0 else h


def _finish(value, err, method, steps, call, full_output):
    if not full_output:
        return value
    return value, FDInfo(method=method, step=np.asarray(steps, dtype=float),
                         error_estimate=err, n_calls=call.n_calls)


def _scalar_or_array(arr):
    return np.float64(arr) if np.ndim(arr) == 0 else arr


# ---------------------------------------------------------------------------
# Public API: derivative, gradient, jacobian, jvp
# ---------------------------------------------------------------------------

def derivative(f, x, args=(), method="central", step=None, order=1, *,
               scale=None, noise=None, full_output=False):
    """Finite-difference derivative of a function of one scalar.

    Parameters
    ----------
    f : callable
        ``f(x, *args)`` with ``x`` a float; returns a float or an array.
    x : float
        The point.
    args : tuple, optional
        Extra arguments passed to ``f``.
    method : str, optional
        One of ``"forward"``, ``"backward"``, ``"central"``, ``"central4"``,
        ``"central6"``, ``"richardson"``, ``"complex"``.
    step : float, optional
        Overrides the automatic step (see the module docstring).  For
        ``"richardson"`` the first step of the sequence; for ``"complex"``
        the imaginary step when ``order == 1``, else the real step.
    order : int, optional
        Derivative order, 1 to 4.
    scale : float, optional
        Typical magnitude of ``x``; the step is relative to ``max(|x|, scale)``
        (default ``scale = 1``).
    noise : float, optional
        Relative accuracy of the values of ``f`` (default machine epsilon).
    full_output : bool, optional
        Also return an :class:`FDInfo` with an error estimate.

    Returns
    -------
    numpy.float64 or numpy.ndarray
        The derivative, shaped like ``f(x)``; with ``full_output`` the pair
        ``(derivative, info)``.

    Examples
    --------
    >>> import numpy as np
    >>> from dualdiff import fd
    >>> d = fd.derivative(np.exp, 1.0, method="richardson")
    >>> bool(abs(d - np.e) < 1e-12)
    True
    >>> d, info = fd.derivative(np.sin, 0.5, method="richardson", full_output=True)
    >>> bool(abs(d - np.cos(0.5)) <= info.error_estimate)
    True
    """
    _check_method(method)
    if not isinstance(order, (int, np.integer)) or not 1 <= order <= 4:
        raise ValueError(f"order must be an integer from 1 to 4, got {order!r}")
    x = _as_scalar(x)
    call = _Caller(f, args, scalar_input=True,
                   complex_step=method == "complex")
    d, err, steps = _along(call, x, method, step, scale, noise,
                                 full_output, deriv=int(order))
    value = _scalar_or_array(d[0])
    err = None if err is None else _scalar_or_array(err[0])
    return _finish(value, err, method, steps, call, full_output)


def gradient(f, x, args=(), method="central", step=None, *, scale=None,
             noise=None, full_output=False):
    """Finite-difference gradient of a scalar function of a vector.

    Costs ``n`` calls of ``f`` (plus one) for ``"forward"``/``"backward"``,
    ``2n`` for ``"central"``, ``4n``/``6n`` for ``"central4"``/``"central6"``,
    ``n`` for ``"complex"`` and about ``2n`` per step for ``"richardson"``;
    twice that with ``full_output`` (except ``"richardson"``).

    Parameters
    ----------
    f : callable
        ``f(x, *args)`` with ``x`` a 1-D float array; returns a scalar.
    x : array_like, shape (n,)
        The point (never modified; ``f`` gets copies).
    args : tuple, optional
        Extra arguments passed to ``f``.
    method : str, optional
        See :func:`derivative`.
    step : float or array_like of shape (n,), optional
        Overrides the automatic per-coordinate steps.
    scale : float or array_like of shape (n,), optional
        Typical magnitude of each coordinate (default 1).
    noise : float, optional
        Relative accuracy of the values of ``f`` (default machine epsilon).
    full_output : bool, optional
        Also return an :class:`FDInfo` with an error estimate.

    Returns
    -------
    numpy.ndarray, shape (n,)
        The gradient; with ``full_output`` the pair ``(gradient, info)``.

    Examples
    --------
    >>> import numpy as np
    >>> from dualdiff import fd
    >>> g = fd.gradient(lambda x: x[0] ** 2 * x[1], [3.0, 2.0])
    >>> np.allclose(g, [12.0, 9.0])
    True
    """
    _check_method(method)
    x = _as_vector(x)
    call = _Caller(f, args, scalar_input=False,
                   complex_step=method == "complex")
    d, err, steps = _along(call, x, method, step, scale, noise,
                                 full_output)
    if d.ndim > 1 and d[0].size != 1:
        raise ValueError(f"gradient needs a scalar-valued f, but f returned "
                         f"shape {call.shape}; use jacobian()")
    d = d.reshape(x.size)
    err = None if err is None else err.reshape(x.size)
    return _finish(d, err, method, steps, call, full_output)


def jacobian(f, x, args=(), method="central", step=None, *, scale=None,
             noise=None, full_output=False):
    """Finite-difference Jacobian of a function of a vector.

    Parameters
    ----------
    f : callable
        ``f(x, *args)`` with ``x`` a 1-D float array; returns a scalar or an
        array (flattened: ``m`` is its size).
    x : array_like, shape (n,)
        The point.
    args, method, step, scale, noise, full_output
        As for :func:`gradient`.

    Returns
    -------
    numpy.ndarray, shape (m, n)
        ``J[i, j] = d f_i / d x_j`` (``m = 1`` for scalar ``f``); with
        ``full_output`` the pair ``(J, info)``.

    Examples
    --------
    >>> import numpy as np
    >>> from dualdiff import fd
    >>> J = fd.jacobian(lambda x: np.array([x[0] * x[1], np.sin(x[0])]),
    ...                 [1.0, 2.0], method="complex")
    >>> np.allclose(J, [[2.0, 1.0], [np.cos(1.0), 0.0]], atol=1e-15)
    True
    """
    _check_method(method)
    x = _as_vector(x)
    call = _Caller(f, args, scalar_input=False,
                   complex_step=method == "complex")
    d, err, steps = _along(call, x, method, step, scale, noise,
                                 full_output)
    jac = d.reshape(x.size, -1).T.copy()
    err = None if err is None else err.reshape(x.size, -1).T.copy()
    return _finish(jac, err, method, steps, call, full_output)


def jvp(f, x, v, args=(), method="central", step=None, *, scale=None,
        noise=None, full_output=False):
    """Finite-difference Jacobian-vector product ``J(x) v`` (a directional
    derivative), at the cost of one derivative (2 calls for central).

    Unlike :func:`dualdiff.jvp` this returns ``J v`` only, not ``f(x)``.

    Parameters
    ----------
    f : callable
        ``f(x, *args)`` returning a scalar or an array.
    x, v : array_like, shape (n,)
        The point and the direction.
    args, method, noise, full_output
        As for :func:`gradient`.
    step : float, optional
        Step ``t`` along ``v`` (points ``x + t v``).  By default ``t`` is the
        largest step that moves no coordinate by more than its own automatic
        step: ``t = c * min_i max(|x_i|, scale_i) / |v_i|`` over ``v_i != 0``.
    scale : float or array_like of shape (n,), optional
        Typical magnitude of each coordinate (default 1).

    Returns
    -------
    numpy.float64 or numpy.ndarray
        ``J v``, shaped like ``f(x)``; with ``full_output`` ``(J v, info)``.

    Examples
    --------
    >>> import numpy as np
    >>> from dualdiff import fd
    >>> float(round(fd.jvp(lambda x: x @ x, [1.0, 2.0], [1.0, 1.0]), 8))
    6.0
    """
    _check_method(method)
    x = _as_vector(x)
    v = _as_real_array(v, "v")
    if v.shape != x.shape:
        raise ValueError(f"v must have the shape of x {x.shape}, got {v.shape}")
    call = _Caller(f, args, scalar_input=False,
                   complex_step=method == "complex")
    if not np.any(v):
        zero = np.zeros(_Caller(f, args, False)(x).shape)
        return _finish(_scalar_or_array(zero), _scalar_or_array(zero.copy()),
                       method, [0.0], call, full_output)
    if step is not None and np.ndim(step) != 0:
        raise ValueError(f"step for jvp must be a scalar (the step along v), "
                         f"got shape {np.shape(step)}")
    d, err, steps = _along(call, x, method, step, scale, noise,
                                 full_output, direction=v)
    err = None if err is None else _scalar_or_array(err[0])
    return _finish(_scalar_or_array(d[0]), err, method, steps, call,
                   full_output)


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
    call = _Caller(f, args, scalar_input=False, complex_step=True)
    hc = _COMPLEX_STEP * sc

    def grad(y):
        d = _along(call, y, "complex", hc, None, noise, False)[0]
        if d[0].size != 1:
            raise ValueError(f"hessian needs a scalar-valued f, but f "
                             f"returned shape {call.shape}")
        return d.reshape(-1)

    h = _step_factor(_stencil("central", 1), noise) * sc if step is None \
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
    _check_method(method)
    x = _as_vector(x)
    noise_ = _noise(noise)
    sc = _scale(x, scale)
    user = None if step is None else _steplike(step, x.size, "step")
    call = _Caller(f, args, scalar_input=False)

    if method == "complex":
        hess, err, steps, n = _complex_hessian(f, x, _as_args(args), user, sc,
                                               noise_, full_output)
        call.n_calls = n
        return _finish(hess, err, method, steps, call, full_output)

    st = _stencil("central" if method == "richardson" else method, 1)
    terms = _tensor_terms(x.size, st)
    diag = _square(st)
    if method == "richardson":
        h0 = _RICH_FIRST_STEP * sc if user is None else user

        def at(j):
            h = _representable(x, h0 / _RICH_RATIO ** j)
            hess, mag = _tensor_hessian(call, x, h, terms, {}, diag)
            return hess, st.rounding ** 2 * noise_ * mag / np.outer(h, h)

        with np.errstate(all="ignore"):  # the first steps may leave f's domain
            hess, err = _ridders(at)
        hess, err = 0.5 * (hess + hess.T), np.maximum(err, err.T)
        return _finish(hess, err, method, h0, call, full_output)

    h = _step_factor(diag, noise_) * sc if user is None else user
    h = _representable(x, h)
    hess, mag = _tensor_hessian(call, x, h, terms, {}, diag)
    if not full_output:
        return hess
    hess2, mag2 = _tensor_hessian(call, x, _representable(x, 2.0 * h),
                                  terms, {}, diag)
    rounding = st.rounding ** 2 * noise_ * np.maximum(mag, mag2) / np.outer(
        h, h)
    err = 2.0 * np.abs(hess - hess2) / (2.0 ** st.accuracy - 1.0) + rounding
    return _finish(hess, err, method, h, call, full_output)


# ---------------------------------------------------------------------------
# Error versus step
# ---------------------------------------------------------------------------

def error_vs_step(f, x, reference=None, steps=None,
                  methods=("forward", "central", "complex"), args=()):
    """Absolute error of finite-difference derivatives over a range of steps:
    the data of the classic log-log "V" plot (truncation error falling as
    ``h**p`` to the right, rounding error rising as ``1/h`` to the left).

    Parameters
    ----------
    f : callable
        ``f(x, *args)`` of a scalar ``x``.
    x : float
        The point.
    reference : float or array_like, optional
        The exact derivative.  By default the automatic-differentiation value
        ``dualdiff.operators.derivative(f, x, args)``.
    steps : array_like, optional
        Steps to try (default ``logspace(-20, 0, 81) * max(|x|, 1)``).
    methods : sequence of str, optional
        Methods to compare.
    args : tuple, optional
        Extra arguments passed to ``f``.

    Returns
    -------
    ErrorCurve
        ``steps``, ``errors[method]`` (max over outputs), ``reference`` and
        the automatic ``auto_steps[method]``.

    Examples
    --------
    >>> import numpy as np
    >>> from dualdiff import fd
    >>> data = fd.error_vs_step(np.sin, 1.0, reference=np.cos(1.0),
    ...                         steps=[1e-2, 1e-5, 1e-8])
    >>> bool(data.errors["central"][1] < data.errors["central"][0])
    True
    """
    for m in methods:
        _check_method(m)
    x0 = float(_as_scalar(x)[0])
    if reference is None:
        try:
            from . import operators
        except ImportError as exc:
            raise ImportError("error_vs_step needs dualdiff.operators for the "
                              "reference derivative; pass reference= "
                              f"explicitly ({exc})") from exc
        reference = operators.derivative(f, x0, args=_as_args(args))
    reference = np.asarray(reference, dtype=np.float64)
    if steps is None:
        steps = np.logspace(-20, 0, 81) * max(abs(x0), 1.0)
    steps = np.sort(_as_real_array(steps, "steps").ravel())
    if steps.size == 0 or np.any(steps <= 0):
        raise ValueError("steps must be positive")
    curve = ErrorCurve(x=x0, reference=reference, steps=steps)
    with np.errstate(all="ignore"):
        for m in methods:
            errs = [np.max(np.abs(derivative(f, x0, args, m, h) - reference))
                    for h in steps]
            curve.errors[m] = np.array(errs, dtype=np.float64)
            auto = derivative(f, x0, args, m, full_output=True)[1].step
            curve.auto_steps[m] = float(np.ravel(auto)[0])
    return curve


def plot_error_vs_step(data, ax=None):
    """Log-log plot of :func:`error_vs_step` data (needs matplotlib).

    Parameters
    ----------
    data : ErrorCurve
        From :func:`error_vs_step`.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on (default: a new figure).

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import numpy as np
    >>> from dualdiff import fd
    >>> data = fd.error_vs_step(np.exp, 0.5, reference=np.exp(0.5))
    >>> ax = fd.plot_error_vs_step(data)  # doctest: +SKIP
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError("plot_error_vs_step needs matplotlib; install it "
                          "with 'pip install matplotlib'") from exc
    if ax is None:
        _, ax = plt.subplots()
    for m, errs in data.errors.items():
        shown = np.where(errs > 0, errs, np.nan)  # log axes cannot show 0
        (line,) = ax.loglog(data.steps, shown, marker=".", label=m)
        if m in data.auto_steps:
            ax.axvline(data.auto_steps[m], color=line.get_color(),
                       linestyle=":", linewidth=0.8)
    ax.set_xlabel("step h")
    ax.set_ylabel("absolute error")
    ax.set_title(f"finite-difference error at x = {data.x:g}")
    ax.legend()
    return ax
