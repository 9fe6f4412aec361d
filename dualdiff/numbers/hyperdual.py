"""Python-side hyper-dual numbers: exact second derivatives at the prompt.

A hyper-dual number ``a + b ε₁ + c ε₂ + d ε₁ε₂`` (with ``ε₁² = ε₂² = 0`` and
``ε₁ε₂ ≠ 0``) carries a value, two first-order parts and the mixed part.
For a smooth ``f``::

    f(a + b ε₁ + c ε₂ + d ε₁ε₂) = f(a) + f'(a) b ε₁ + f'(a) c ε₂
                                 + (f'(a) d + f''(a) b c) ε₁ε₂

so seeding ``x + ε₁ + ε₂`` gives ``f''(x)`` exactly in the ``ε₁ε₂`` part.

:class:`HyperDual` has two forms:

* scalar: ``HyperDual(value, eps1, eps2, eps12)`` with four real numbers;
* chunked: ``eps1`` of ``N1`` lanes, ``eps2`` of ``N2`` lanes and ``eps12``
  an ``(N1, N2)`` block; seeding ``eps1`` and ``eps2`` with two identities
  gives a whole Hessian block in ``eps12`` (what :func:`dualdiff.hessian`
  computes, compiled).

Every elementary function comes from :mod:`dualdiff.rules`: the unary rules
with their first and second derivatives ``d1`` and ``d2`` from the table; the
binary rules (whose table rows hold first partials only) with second partials
obtained by differentiating those first partials on :class:`~dualdiff.Dual`
numbers, so nothing is written twice.  Division and powers are hand-written,
as for :class:`~dualdiff.Dual`.

Representation and the Numba boundary
-------------------------------------
A :class:`HyperDual` *is* a nested dual number: it subclasses
:class:`~dualdiff.Dual`, and its ``value``/``partials`` are the nested view
``Dual(a, b) + Σ_j Dual(c_j, d[:, j]) ε₂_j`` (tag 0 at both levels).  So it
crosses into compiled code as the Numba type ``Dual[Dual[float64, N1], N2]``,
the type the compiled Hessian drivers use, with no boxing code of its own.
Compiled code returns nested :class:`~dualdiff.Dual` numbers; wrap one in
``HyperDual(result)`` to read it as a hyper-dual again.  ``primal``,
comparisons, ``int()`` and the NumPy ufuncs work as for :class:`Dual`; like
``Dual``, ``float()`` refuses (it would drop the derivatives).

Mixing a :class:`HyperDual` with a plain :class:`~dualdiff.Dual` in one
operation is ambiguous (which ε would the dual's partials be?) and raises
``TypeError`` (also as either argument of a two-argument rule such as
``arctan2``); mix it with real numbers only.
"""

import math

import numpy as np

from .. import rules
from .dual import Dual, _is_real

__all__ = ["HyperDual"]


def _as_lanes(x, what):
    a = np.array(x, dtype=np.float64) if not isinstance(x, np.ndarray) else x.astype(np.float64)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"{what} must be a real number or a non-empty 1-D sequence, "
                         f"got shape {a.shape}")
    return a


def _checked_real(x, what):
    if isinstance(x, Dual) or not _is_real(x):
        raise TypeError(f"HyperDual {what} must be real numbers, got {type(x).__name__}")
    return float(x)


def _safe_mul(p, d):
    """``p * d`` where an exactly-zero ``p`` stays zero even if ``d`` is inf/nan
    (sqrt at 0: the rule table's ``singular`` convention), and a zero ``d``
    keeps an infinite ``p`` zero (floor(sqrt(x)) at 0)."""
    with np.errstate(all="ignore"):
        out = p * d
    if not math.isfinite(d):
        out = np.where(p == 0.0, 0.0, out)
    elif d == 0.0:
        out = np.zeros(np.shape(out))
    return out


class HyperDual(Dual):
    """A hyper-dual number ``value + eps1 ε₁ + eps2 ε₂ + eps12 ε₁ε₂``.

    Parameters
    ----------
    value : float or Dual
        The real part; or a nested :class:`~dualdiff.Dual` ``Dual[Dual[float, N1], N2]``
        (what compiled code returns) to convert, with no other argument.
    eps1 : float or sequence of N1 floats
        First-order part along ε₁ (the inner lanes).
    eps2 : float or sequence of N2 floats
        First-order part along ε₂ (the outer lanes).
    eps12 : float or array of shape (N1, N2)
        The mixed part; defaults to zero.

    Scalars for ``eps1`` and ``eps2`` give the scalar form (``N1 = N2 = 1``,
    attributes read back as floats); sequences give the chunked form.

    Examples
    --------
    Second derivative of ``x³`` at 2 (``6 x = 12``):

    >>> import dualdiff as dd
    >>> x = dd.HyperDual(2.0, 1.0, 1.0, 0.0)
    >>> x ** 3
    HyperDual(8.0, 12.0, 12.0, 12.0)
    >>> import numpy as np
    >>> import math
    >>> np.sin(x).eps12 == -math.sin(2.0)        # sin'' = -sin
    True

    A Hessian block of ``x0² x1`` at (1, 2), chunked with two lanes each:

    >>> x0 = dd.HyperDual(1.0, [1.0, 0.0], [1.0, 0.0])
    >>> x1 = dd.HyperDual(2.0, [0.0, 1.0], [0.0, 1.0])
    >>> (x0 ** 2 * x1).eps12
    array([[4., 2.],
           [2., 0.]])
    """

    __slots__ = ("_v", "_e1", "_e2", "_e12", "_scalar")

    def __init__(self, value, eps1=None, eps2=None, eps12=None):
        if isinstance(value, Dual):
            if eps1 is not None or eps2 is not None or eps12 is not None:
                raise TypeError("HyperDual(dual) converts a nested dual number and takes "
                                "no other argument")
            v, e1, e2, e12 = _from_nested(value)
            self._set(v, e1, e2, e12, scalar=e12.shape == (1, 1))
            return
        eps1 = 0.0 if eps1 is None else eps1
        eps2 = 0.0 if eps2 is None else eps2
        eps12 = 0.0 if eps12 is None else eps12
        v = _checked_real(value, "value")
        scalar = _is_real(eps1) and _is_real(eps2)
        if scalar:
            e1 = np.array([_checked_real(eps1, "eps1")])
            e2 = np.array([_checked_real(eps2, "eps2")])
        else:
            e1 = _as_lanes(eps1, "eps1") if not _is_real(eps1) else None
            e2 = _as_lanes(eps2, "eps2") if not _is_real(eps2) else None
            if e1 is None or e2 is None:
                raise ValueError("the chunked form needs eps1 and eps2 as sequences "
                                 "(a scalar pair gives the scalar form)")
        shape = (e1.size, e2.size)
        if _is_real(eps12):
            e12 = np.full(shape, float(eps12))
        else:
            e12 = np.array(eps12, dtype=np.float64)
            if e12.shape != shape:
                raise ValueError(f"eps12 must have shape (len(eps1), len(eps2)) = {shape}, "
                                 f"got {e12.shape}")
        self._set(v, e1.copy(), e2.copy(), e12.copy(), scalar)

    def _set(self, v, e1, e2, e12, scalar):
        self._v, self._e1, self._e2, self._e12, self._scalar = v, e1, e2, e12, scalar

    @classmethod
    def _new(cls, v, e1, e2, e12, scalar):
        self = object.__new__(cls)
        self._set(float(v), e1, e2, e12, scalar)
        return self

    # -- the hyper-dual parts ------------------------------------------------------
    @property
    def real(self):
        """The real part ``a`` (a float)."""
        return self._v

    @property
    def eps1(self):
        """The ε₁ part: a float (scalar form) or an array of N1 lanes."""
        return float(self._e1[0]) if self._scalar else self._e1.copy()

    @property
    def eps2(self):
        """The ε₂ part: a float (scalar form) or an array of N2 lanes."""
        return float(self._e2[0]) if self._scalar else self._e2.copy()

    @property
    def eps12(self):
        """The ε₁ε₂ part: a float (scalar form) or an (N1, N2) array."""
        return float(self._e12[0, 0]) if self._scalar else self._e12.copy()

    # -- the nested-dual view (what Numba boxes and unboxes) -----------------------
    @property
    def value(self):
        """``Dual(real, eps1)``: the inner dual of the nested view."""
        return Dual._make(self._v, self._e1.copy(), 0)

    @property
    def partials(self):
        """Object array of N2 inner duals ``Dual(eps2[j], eps12[:, j])``."""
        out = np.empty(self._e2.size, dtype=object)
        for j in range(self._e2.size):
            out[j] = Dual._make(float(self._e2[j]), self._e12[:, j].copy(), 0)
        return out

    @property
    def tag(self):
        return 0

    def to_dual(self):
        """The equivalent nested :class:`~dualdiff.Dual` (tag 0 at both levels)."""
        return Dual._make(self.value, self.partials, 0)

    # -- printing ------------------------------------------------------------------
    def __repr__(self):
        if self._scalar:
            return f"HyperDual({self._v!r}, {self.eps1!r}, {self.eps2!r}, {self.eps12!r})"
        return (f"HyperDual({self._v!r}, eps1={self._e1.tolist()!r}, "
                f"eps2={self._e2.tolist()!r}, eps12={self._e12.tolist()!r})")

    # -- operands ------------------------------------------------------------------
    def _parts(self, other):
        """``other`` as (v, e1, e2, e12) matching self's lanes, or None."""
        if isinstance(other, HyperDual):
            if other._e12.shape != self._e12.shape:
                raise ValueError(f"cannot combine hyper-duals with {self._e12.shape} and "
                                 f"{other._e12.shape} lanes (N1, N2)")
            return other._v, other._e1, other._e2, other._e12
        if isinstance(other, Dual):
            raise TypeError(_MIXING)
        if _is_real(other):
            return (float(other), np.zeros_like(self._e1), np.zeros_like(self._e2),
                    np.zeros_like(self._e12))
        return None

    def _result(self, v, e1, e2, e12, other=None):
        scalar = self._scalar and (not isinstance(other, HyperDual) or other._scalar)
        return HyperDual._new(v, e1, e2, e12, scalar)

    # -- arithmetic (hand-written) -------------------------------------------------
    def __pos__(self):
        return self

    def __neg__(self):
        return self._result(-self._v, -self._e1, -self._e2, -self._e12)

    def __add__(self, other):
        b = self._parts(other)
        if b is None:
            return NotImplemented
        return self._result(self._v + b[0], self._e1 + b[1], self._e2 + b[2],
                            self._e12 + b[3], other)

    __radd__ = __add__

    def __sub__(self, other):
        b = self._parts(other)
        if b is None:
            return NotImplemented
        return self._result(self._v - b[0], self._e1 - b[1], self._e2 - b[2],
                            self._e12 - b[3], other)

    def __rsub__(self, other):
        return (-self).__add__(other)

    def __mul__(self, other):
        b = self._parts(other)
        if b is None:
            return NotImplemented
        a = (self._v, self._e1, self._e2, self._e12)
        e12 = a[0] * b[3] + b[0] * a[3] + np.outer(a[1], b[2]) + np.outer(b[1], a[2])
        return self._result(a[0] * b[0], a[0] * b[1] + b[0] * a[1],
                            a[0] * b[2] + b[0] * a[2], e12, other)

    __rmul__ = __mul__

    def __truediv__(self, other):
        b = self._parts(other)
        if b is None:
            return NotImplemented
        return _divide((self._v, self._e1, self._e2, self._e12), b, self, other)

    def __rtruediv__(self, other):
        b = self._parts(other)
        if b is None:
            return NotImplemented
        return _divide(b, (self._v, self._e1, self._e2, self._e12), self, other)

    def __pow__(self, other):
        b = self._parts(other)
        if b is None:
            return NotImplemented
        if _is_real(other):
            return self._pow_constant(float(other))
        return _pow_both(self, other)

    def __rpow__(self, other):
        if not _is_real(other):
            return NotImplemented
        c, p = np.float64(other), np.float64(self._v)
        with np.errstate(all="ignore"):
            z = np.power(c, p)
            d1 = rules.power_d_exponent(z, c, p)
            d2 = rules.power_second_partials(z, c, p)[2]
        return self._chain(float(z), float(d1), float(d2), singular=True)

    def _pow_constant(self, p):
        v, p = np.float64(self._v), np.float64(p)
        with np.errstate(all="ignore"):
            z = np.power(v, p)
            d1 = rules.power_d_base(v, p)
            d2 = rules.power_second_partials(z, v, p)[0]
        return self._chain(float(z), float(d1), float(d2), singular=True)

    def __abs__(self):
        return rules.absolute(self)

    # -- the chain rule with the table's d1 and d2 ----------------------------------
    def _chain(self, y, d1, d2, singular):
        """The chain rule; ``singular``: an exactly-zero part stays zero against
        an infinite derivative (and a piecewise-constant rule's zero
        derivative keeps an infinite part zero: see ``_safe_mul``)."""
        mul = _safe_mul if singular else (lambda p, d: p * d)
        e1 = mul(self._e1, d1)
        e2 = mul(self._e2, d1)
        e12 = mul(self._e12, d1) + mul(np.outer(self._e1, self._e2), d2)
        return self._result(y, e1, e2, e12)

    def _dd_apply_unary(self, rule):
        x = np.float64(self._v)
        y = np.float64(rules.float_value(rule, x))
        with np.errstate(all="ignore"):
            d1 = float(rule.d1(x, y))
            if rule.d2 is not None:
                d2 = float(rule.d2(x, y, np.float64(d1)))
            elif not np.any(np.outer(self._e1, self._e2)):
                d2 = 0.0   # not needed: no ε₁ε₂ term from the first parts
            else:
                raise NotImplementedError(
                    f"the rule table has no second derivative for {rule.name}; "
                    "its hyper-dual second derivative is not available")
        return self._chain(float(y), d1, d2, rule.singular or rule.constant)

    @staticmethod
    def _dd_apply_binary(rule, a, b):
        for operand in (a, b):
            if not isinstance(operand, HyperDual) and not _is_real(operand):
                if isinstance(operand, Dual):
                    raise TypeError(_MIXING)
                raise TypeError(f"{rule.name}() expects real numbers or hyper-duals, got "
                                f"{type(operand).__name__}")
        return _binary(rule, a, b)


_MIXING = ("cannot mix a HyperDual with a Dual in one operation; convert one of them "
           "(HyperDual(nested_dual) or hyperdual.to_dual())")


# ===========================================================================
# Hand-written division, powers and binary rules
# ===========================================================================

def _divide(x, y, like, other):
    """x / y on (v, e1, e2, e12) tuples: c = a / b, then solve x = c y for the
    parts (exact quotient, not multiplication by a reciprocal)."""
    with np.errstate(all="ignore"):
        b = np.float64(y[0])
        q = float(np.float64(x[0]) / b)
        c1 = (x[1] - q * y[1]) / b
        c2 = (x[2] - q * y[2]) / b
        c12 = (x[3] - q * y[3] - np.outer(c1, y[2]) - np.outer(y[1], c2)) / b
    return like._result(q, c1, c2, c12, other)


def _second_partials(d_first, d_second, a, b, z):
    """(f_aa, f_ab, f_bb) by differentiating the table's first partials on
    duals seeded along a and b."""
    da = Dual(a, 1.0, 0.0)
    db = Dual(b, 0.0, 1.0)
    fa = d_first(da, db, z)
    fb = d_second(da, db, z)
    pa = fa.partials if isinstance(fa, Dual) else np.zeros(2)
    pb = fb.partials if isinstance(fb, Dual) else np.zeros(2)
    return float(pa[0]), float(pa[1]), float(pb[1])


def _bivariate(a, b, z, fa, fb, faa, fab, fbb):
    """f(a, b) on two hyper-duals (either may be a real constant) from its
    first and second partials; singular-safe for zero first-order parts."""
    like = a if isinstance(a, HyperDual) else b
    other = b if like is a else a
    pa = like._parts(a)
    pb = like._parts(b)
    e1 = _safe_mul(pa[1], fa) + _safe_mul(pb[1], fb)
    e2 = _safe_mul(pa[2], fa) + _safe_mul(pb[2], fb)
    e12 = (_safe_mul(pa[3], fa) + _safe_mul(pb[3], fb)
           + _safe_mul(np.outer(pa[1], pa[2]), faa)
           + _safe_mul(np.outer(pa[1], pb[2]) + np.outer(pb[1], pa[2]), fab)
           + _safe_mul(np.outer(pb[1], pb[2]), fbb))
    return like._result(z, e1, e2, e12, other)


def _binary(rule, a, b):
    av = np.float64(a._v if isinstance(a, HyperDual) else a)
    bv = np.float64(b._v if isinstance(b, HyperDual) else b)
    with np.errstate(all="ignore"):
        z = np.float64(getattr(np, rule.numpy_name)(av, bv)) if rule.numpy_name \
            else np.float64(rule.value(float(av), float(bv)))
        fa = float(rule.d_first(av, bv, z))
        fb = float(rule.d_second(av, bv, z))
        z_dual = rule.generic(Dual(float(av), 1.0, 0.0), Dual(float(bv), 0.0, 1.0))
        faa, fab, fbb = _second_partials(rule.d_first, rule.d_second, float(av), float(bv),
                                         z_dual)
    return _bivariate(a, b, float(z), fa, fb, faa, fab, fbb)


def _pow_both(a, b):
    """a ** b with both hyper-dual: the partials of z = a^b from the rule
    table's power rule (:func:`dualdiff.rules.power_d_base` and friends)."""
    v, p = np.float64(a._v), np.float64(b._v)
    with np.errstate(all="ignore"):
        z = np.power(v, p)
        fa = rules.power_d_base(v, p)
        fb = rules.power_d_exponent(z, v, p)
        faa, fab, fbb = rules.power_second_partials(z, v, p)
    return _bivariate(a, b, float(z), float(fa), float(fb), float(faa), float(fab), float(fbb))


# ===========================================================================
# Conversion from the nested representation
# ===========================================================================

def _from_nested(d):
    """(v, e1, e2, e12) of a nested ``Dual[Dual[float, N1], N2]``."""
    inner = d.value
    if not isinstance(inner, Dual) or isinstance(inner.value, Dual) or len(d.partials) == 0:
        raise TypeError("HyperDual(dual) needs a nested dual Dual[Dual[float, N1], N2] "
                        f"(two levels), got {d!r}")
    n1, n2 = len(inner.partials), len(d.partials)
    e12 = np.zeros((n1, n2))
    e2 = np.zeros(n2)
    for j, p in enumerate(d.partials):
        if isinstance(p, Dual):
            if isinstance(p.value, Dual) or len(p.partials) not in (0, n1):
                raise TypeError(f"outer partial {j} of {d!r} is not a Dual of {n1} partials")
            e2[j] = p.value
            if len(p.partials):
                e12[:, j] = np.asarray(p.partials, dtype=np.float64)
        else:
            e2[j] = float(p)
    return float(inner.value), np.asarray(inner.partials, dtype=np.float64).copy(), e2, e12
