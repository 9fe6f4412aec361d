"""Input checks and calling ``f`` for :mod:`dualdiff.fd`: the method names,
``x``, ``step``, ``scale`` and ``noise`` as float64 arrays (or clear errors),
and :class:`Caller`, which counts calls and checks what ``f`` returns (the
complex step included).  :func:`as_args` and :func:`as_vector` are also used
by :mod:`dualdiff.check`.
"""

import threading
import warnings

import numpy as np

from .stencils import EPS


_COMPLEX_STEP_LOCK = threading.RLock()  # see Caller._call_complex

METHODS = ("forward", "backward", "central", "central4", "central6",
           "richardson", "complex")


# ---------------------------------------------------------------------------
# Input checking and calling f
# ---------------------------------------------------------------------------

def check_method(method, allowed=METHODS):
    if method not in allowed:
        raise ValueError(
            f"unknown method {method!r}; expected one of {', '.join(allowed)}")


def as_args(args):
    return args if isinstance(args, tuple) else (args,)


def as_real_array(x, name="x"):
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


def as_vector(x, name="x"):
    arr = as_real_array(x, name)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape "
                         f"{arr.shape}; use derivative() for scalar x")
    return arr


def as_scalar(x):
    arr = as_real_array(x)
    if arr.ndim != 0:
        raise ValueError(f"x must be a scalar for derivative(), got shape "
                         f"{arr.shape}; use gradient() or jacobian()")
    return arr.reshape(1)


class Caller:
    """Calls ``f`` on copies of points, counts calls and checks the output
    (numeric, same shape every time, complex for the complex step)."""

    def __init__(self, f, args, scalar_input, complex_step=False):
        if not callable(f):
            raise TypeError(f"f must be callable, got {type(f).__name__}")
        self.f, self.args = f, as_args(args)
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


def scales(x, scale):
    if scale is None:
        return np.maximum(np.abs(x), 1.0)
    s = steplike(scale, x.size, "scale")
    return np.maximum(np.abs(x), s)


def steplike(value, n, name):
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


def representable(x, h):
    """Round steps so that x + h is exact: h = (x + h) - x."""
    exact = (x + h) - x
    return np.where(exact > 0, exact, h)


def noise_level(noise):
    if noise is None:
        return EPS
    noise = float(noise)
    if not (EPS * 0.5 <= noise < 1.0):
        raise ValueError(f"noise must be a relative accuracy in [eps, 1), "
                         f"got {noise}")
    return noise
