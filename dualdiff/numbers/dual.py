"""Python-side dual numbers.

:class:`Dual` is the number type you can build and print at the prompt, that
crosses the Numba boundary (boxed and unboxed as the compiled ``Dual[T, N]``)
and that runs a user's function when Numba cannot compile it (the fallback
path).  Every elementary function comes from :mod:`dualdiff.rules`.

Nesting and tags
----------------
``value`` may itself be a :class:`Dual`: that is how second derivatives are
formed.  Each differentiation gets its own integer ``tag``; when two duals
with different tags meet, the one with the larger (more recent, inner) tag is
the outer number and the other is a constant to it.  This keeps nested
differentiation free of perturbation confusion.
"""

import math
import operator

import numpy as np

from .. import rules

__all__ = ["Dual", "primal"]

_REAL_SCALARS = (float, int, np.floating, np.integer, bool, np.bool_)


def _is_real(x):
    return isinstance(x, _REAL_SCALARS)


def primal(x):
    """Return the primal (plain float) value of ``x``, dropping all derivatives.

    Works on floats, Python-side duals (nested or not) and inside compiled
    code.  Use it where dropping derivatives is intended; ``float(dual)``
    refuses, so that it never happens by accident.

    Examples
    --------
    >>> import dualdiff as dd
    >>> dd.primal(dd.Dual(2.0, 1.0) ** 3)
    8.0
    """
    while isinstance(x, Dual):
        x = x.value
    return float(x)


def _scale(partials, d, nan_safe):
    """``partials * d``; with ``nan_safe`` a zero partial stays zero."""
    with np.errstate(all="ignore"):
        out = partials * d
        if nan_safe and partials.dtype != object and not _is_finite(d):
            out = np.where(partials == 0.0, 0.0, out)
    return out


def _is_finite(d):
    return _is_real(d) and math.isfinite(d) or isinstance(d, Dual) and math.isfinite(primal(d))


def _split(a, b):
    """View ``a`` and ``b`` at the outermost tag: (tag, av, ap, bv, bp).

    ``ap``/``bp`` are None for an operand that is a constant at that level.
    """
    ta = a.tag if isinstance(a, Dual) else -1
    tb = b.tag if isinstance(b, Dual) else -1
    tag = max(ta, tb)
    if ta == tag:
        av, ap = a.value, a.partials
    else:
        av, ap = a, None
    if tb == tag:
        bv, bp = b.value, b.partials
    else:
        bv, bp = b, None
    if ap is not None and bp is not None and ap.shape != bp.shape:
        if ap.shape == (0,):
            ap = None
        elif bp.shape == (0,):
            bp = None
        else:
            raise ValueError(f"cannot combine dual numbers with {ap.shape[0]} and "
                             f"{bp.shape[0]} partials (same tag {tag})")
    return tag, av, ap, bv, bp


def _combine(ap, da, bp, db):
    """``da * ap + db * bp`` where either side may be absent (None)."""
    with np.errstate(all="ignore"):
        if ap is None:
            return bp * db
        if bp is None:
            return ap * da
        return ap * da + bp * db


def _div(a, b):
    with np.errstate(all="ignore"):
        if _is_real(a) and _is_real(b):
            return float(np.float64(a) / np.float64(b))
    return a / b


def _pow_values(a, b):
    if _is_real(a) and _is_real(b):
        with np.errstate(all="ignore"):
            return float(np.power(np.float64(a), np.float64(b)))
    return a ** b


class Dual:
    """A dual number: a value and a vector of partial derivatives.

    Parameters
    ----------
    value : float or Dual
        The primal value (a :class:`Dual` for nested, higher-order numbers).
    *partials : float, or one sequence of floats
        The partial derivatives ``d value / d seed_k``.
    tag : int, optional
        Which differentiation the partials belong to (see module notes).

    Examples
    --------
    >>> import dualdiff as dd
    >>> x = dd.Dual(2.0, 1.0)
    >>> x ** 3
    Dual(8.0, 12.0)
    >>> import numpy as np
    >>> np.sin(dd.Dual(0.0, 1.0, 2.0))
    Dual(0.0, 1.0, 2.0)
    """

    __slots__ = ("value", "partials", "tag")
    __array_priority__ = 1000

    def __init__(self, value, *partials, tag=0):
        if len(partials) == 1 and not _is_real(partials[0]) \
                and not isinstance(partials[0], Dual):
            partials = partials[0]
        if isinstance(partials, np.ndarray) and partials.dtype != object:
            p = partials.astype(np.float64).ravel()
        elif any(isinstance(q, Dual) for q in partials):
            p = np.empty(len(partials), dtype=object)
            p[:] = list(partials)
        else:
            try:
                p = np.array(partials, dtype=np.float64).ravel()
            except (TypeError, ValueError):
                raise TypeError("Dual partials must be real numbers or duals, got "
                                f"{partials!r}") from None
        if not (_is_real(value) or isinstance(value, Dual)):
            raise TypeError(f"Dual value must be a real number or a Dual, got "
                            f"{type(value).__name__}")
        self.value = float(value) if _is_real(value) else value
        self.partials = p
        self.tag = int(tag)

    # -- construction helpers ------------------------------------------------
    @classmethod
    def _make(cls, value, partials, tag):
        self = object.__new__(cls)
        self.value = float(value) if _is_real(value) else value
        self.partials = partials
        self.tag = tag
        return self

    @classmethod
    def _from_numba(cls, value, partials, tag):
        # called by the boxing code: partials arrive as a tuple
        return cls(value, *partials, tag=tag)

    def _partials_tuple(self):
        # called by the unboxing code
        return tuple(float(p) if _is_real(p) else p for p in self.partials)

    # -- printing ------------------------------------------------------------
    def __repr__(self):
        parts = ", ".join(repr(float(p)) if _is_real(p) else repr(p) for p in self.partials)
        sep = ", " if parts else ""
        tag = f", tag={self.tag}" if self.tag else ""
        value = repr(float(self.value)) if _is_real(self.value) else repr(self.value)
        return f"Dual({value}{sep}{parts}{tag})"

    # -- conversions ---------------------------------------------------------
    def __float__(self):
        raise TypeError(
            "float() of a dual number would silently drop its derivatives; "
            "use dualdiff.primal(x) (or x.value) if that is what you mean. "
            "If this came from storing a dual into an array made with "
            "np.zeros(n, dtype=float), drop the dtype, or allocate it with "
            "dualdiff.arrays.zeros(n, like=x)")

    def __int__(self):
        return int(primal(self))

    def __bool__(self):
        return primal(self) != 0.0

    def __floor__(self):
        return math.floor(primal(self))

    def __ceil__(self):
        return math.ceil(primal(self))

    def __trunc__(self):
        return math.trunc(primal(self))

    def __round__(self, ndigits=None):
        return round(primal(self), ndigits)

    # -- comparisons: primal values only ---------------------------------------
    def __eq__(self, other):
        return primal(self) == _primal_or(other)

    def __ne__(self, other):
        return primal(self) != _primal_or(other)

    def __lt__(self, other):
        return primal(self) < _primal_or(other)

    def __le__(self, other):
        return primal(self) <= _primal_or(other)

    def __gt__(self, other):
        return primal(self) > _primal_or(other)

    def __ge__(self, other):
        return primal(self) >= _primal_or(other)

    __hash__ = None

    # -- arithmetic (hand-written special cases) -------------------------------
    def __pos__(self):
        return self

    def __neg__(self):
        return Dual._make(-self.value, -self.partials, self.tag)

    def __add__(self, other):
        if not _is_operand(other):
            return NotImplemented
        tag, av, ap, bv, bp = _split(self, other)
        parts = ap + bp if ap is not None and bp is not None else (ap if bp is None else bp)
        return Dual._make(av + bv, parts, tag)

    __radd__ = __add__

    def __sub__(self, other):
        if not _is_operand(other):
            return NotImplemented
        return _sub(self, other)

    def __rsub__(self, other):
        if not _is_operand(other):
            return NotImplemented
        return _sub(other, self)

    def __mul__(self, other):
        if not _is_operand(other):
            return NotImplemented
        tag, av, ap, bv, bp = _split(self, other)
        return Dual._make(av * bv, _combine(ap, bv, bp, av), tag)

    __rmul__ = __mul__

    def __truediv__(self, other):
        if not _is_operand(other):
            return NotImplemented
        return _truediv(self, other)

    def __rtruediv__(self, other):
        if not _is_operand(other):
            return NotImplemented
        return _truediv(other, self)

    def __pow__(self, other):
        if not _is_operand(other):
            return NotImplemented
        return _pow(self, other)

    def __rpow__(self, other):
        if not _is_operand(other):
            return NotImplemented
        return _pow(other, self)

    def __abs__(self):
        return rules.absolute(self)

    # -- rule application (called by the generic functions of the rule table) --
    def _dd_with_value(self, value):
        """This dual with its innermost value replaced (:func:`dualdiff.rules.with_value`)."""
        return Dual._make(rules.with_value(self.value, value), self.partials, self.tag)

    def _dd_apply_unary(self, rule):
        v = self.value
        if _is_real(v):  # np.float64: IEEE results (1/0 = inf) as in compiled code
            v = np.float64(v)
            y = np.float64(rules.float_value(rule, v))
        else:
            y = rule.generic(v)
        if rule.constant and self.partials.dtype != object:
            return Dual._make(y, np.zeros(self.partials.shape), self.tag)
        with np.errstate(all="ignore"):
            d = rule.d1(v, y)
        return Dual._make(y, _scale(self.partials, d, rule.singular or rule.constant), self.tag)

    @staticmethod
    def _dd_apply_binary(rule, a, b):
        for operand in (a, b):  # a subclass (HyperDual) handles its own operands
            if isinstance(operand, Dual) and type(operand) is not Dual:
                return type(operand)._dd_apply_binary(rule, a, b)
        tag, av, ap, bv, bp = _split(a, b)
        av = np.float64(av) if _is_real(av) else av
        bv = np.float64(bv) if _is_real(bv) else bv
        if _is_real(av) and _is_real(bv):
            with np.errstate(all="ignore"):
                z = np.float64(getattr(np, rule.numpy_name)(av, bv)) if rule.numpy_name \
                    else np.float64(rule.value(float(av), float(bv)))
        else:
            z = rule.generic(av, bv)
        if rule.constant_second and bp is not None:  # the b term is identically 0
            if ap is None:
                return Dual._make(z, np.zeros_like(bp), tag)
            bp = None
        with np.errstate(all="ignore"):
            da = rule.d_first(av, bv, z) if ap is not None else 0.0
            db = rule.d_second(av, bv, z) if bp is not None else 0.0
        if rule.singular:
            ap = None if ap is None else _scale(ap, da, True)
            bp = None if bp is None else _scale(bp, db, True)
            return Dual._make(z, _combine(ap, 1.0, bp, 1.0), tag)
        return Dual._make(z, _combine(ap, da, bp, db), tag)

    # -- NumPy protocol: np.sin(dual), np.maximum(dual, 0.0), object arrays ----
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        scalar_op = _UFUNC_SCALAR.get(ufunc)
        if scalar_op is None:  # other libraries' ufuncs (scipy.special.erf ...)
            scalar_op = _UFUNC_BY_NAME.get(getattr(ufunc, "__name__", None))
        if scalar_op is None:
            raise TypeError(f"dualdiff has no derivative rule for the ufunc "
                            f"{getattr(ufunc, '__name__', ufunc)!r}; write it with functions "
                            "of the rule table (dualdiff.rules) or NumPy")
        if method != "__call__" or kwargs:
            return NotImplemented
        if any(isinstance(i, np.ndarray) and i.ndim > 0 for i in inputs):
            return _elementwise(scalar_op, inputs)
        # NumPy scalars become Python numbers, or np.float64 * dual would
        # come straight back here
        plain = [i[()] if isinstance(i, np.ndarray) else i for i in inputs]
        plain = [float(i) if isinstance(i, (np.floating, np.integer)) else i for i in plain]
        return scalar_op(*plain)

    def __array_function__(self, func, types, args, kwargs):
        scalar_op = _ARRAY_FUNCTION_SCALAR.get(func)
        if scalar_op is None or kwargs:
            return func._implementation(*args, **kwargs)
        if any(isinstance(a, np.ndarray) and a.ndim > 0 for a in args):
            return _elementwise(scalar_op, args)
        return scalar_op(*args)


def _elementwise(scalar_op, inputs):
    """Apply a scalar operation over arrays (as Python objects) and scalars.

    The result is an object array, or a bool array when every element is a
    bool (comparisons, ``np.isnan``), so that it can index an array.
    """
    arrays = [np.asarray(i).astype(object) if isinstance(i, np.ndarray) else None
              for i in inputs]
    shape = np.broadcast_shapes(*[a.shape for a in arrays if a is not None])
    views = [np.broadcast_to(a, shape) if a is not None else None for a in arrays]
    out = np.empty(shape, dtype=object)
    for idx in np.ndindex(shape):
        out[idx] = scalar_op(*[v[idx] if v is not None else i for v, i in zip(views, inputs)])
    if out.size and all(isinstance(o, (bool, np.bool_)) for o in out.flat):
        return out.astype(bool)
    return out


class DualObjectArray(np.ndarray):
    """An object array of duals that applies every NumPy ufunc elementwise.

    The Python path hands user functions arrays of this class.  Plain object
    arrays only reach a dual's ``__array_ufunc__`` when the dual itself is an
    operand, and NumPy has no object loop for some ufuncs (``np.logaddexp``,
    ``np.copysign``).  This subclass routes each elementwise ufunc call through
    the scalar rules instead; reductions, ``@`` and indexing are NumPy's own.

    Examples
    --------
    >>> import numpy as np, dualdiff as dd
    >>> from dualdiff.numbers.dual import as_dual_array
    >>> x = as_dual_array([dd.Dual(0.0, 1.0), dd.Dual(1.0, 2.0)])
    >>> np.logaddexp(x, 0.0)[0]
    Dual(0.6931471805599453, 0.5)
    """

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        plain = [i.view(np.ndarray) if isinstance(i, DualObjectArray) else i for i in inputs]
        scalar_op = _UFUNC_SCALAR.get(ufunc)
        if scalar_op is not None and method == "__call__" and not kwargs:
            return _wrap_objects(_elementwise(scalar_op, plain))
        if "out" in kwargs:
            kwargs["out"] = tuple(o.view(np.ndarray) if isinstance(o, DualObjectArray) else o
                                  for o in kwargs["out"])
        return _wrap_objects(getattr(ufunc, method)(*plain, **kwargs))

    def __array_function__(self, func, types, args, kwargs):
        scalar_op = _ARRAY_FUNCTION_SCALAR.get(func)
        if scalar_op is not None and not kwargs:
            plain = [a.view(np.ndarray) if isinstance(a, DualObjectArray) else a for a in args]
            return _wrap_objects(_elementwise(scalar_op, plain))
        return _wrap_objects(super().__array_function__(func, types, args, kwargs))


def _wrap_objects(result):
    if isinstance(result, np.ndarray) and result.dtype == object:
        return result.view(DualObjectArray)
    if isinstance(result, tuple):
        return tuple(_wrap_objects(r) for r in result)
    return result


def as_dual_array(items):
    """An array of duals (nested sequences allowed) as a :class:`DualObjectArray`.

    Examples
    --------
    >>> import dualdiff as dd
    >>> from dualdiff.numbers.dual import as_dual_array
    >>> as_dual_array([dd.Dual(1.0, 1.0), 2.0]).shape
    (2,)
    """
    if isinstance(items, np.ndarray):
        out = items.astype(object)
    else:
        out = np.empty(np.shape(items), dtype=object)
        out[...] = items
    return out.view(DualObjectArray)


def _primal_or(x):
    return primal(x) if isinstance(x, Dual) else x


def _is_operand(x):
    return isinstance(x, Dual) or _is_real(x)


def _sub(a, b):
    tag, av, ap, bv, bp = _split(a, b)
    if bp is None:
        parts = ap
    elif ap is None:
        parts = -bp
    else:
        parts = ap - bp
    return Dual._make(av - bv, parts, tag)


def _truediv(a, b):
    # exact formula (a' - q b') / b rather than a * (1/b): see rules.py notes
    tag, av, ap, bv, bp = _split(a, b)
    q = _div(av, bv)
    with np.errstate(all="ignore"):
        if bp is None:
            parts = ap / bv
        elif ap is None:
            parts = -(bp * q) / bv
        else:
            parts = (ap - bp * q) / bv
    return Dual._make(q, parts, tag)


def _pow(a, b):
    tag, av, ap, bv, bp = _split(a, b)
    av = np.float64(av) if _is_real(av) else av
    bv = np.float64(bv) if _is_real(bv) else bv
    z = _pow_values(av, bv)
    with np.errstate(all="ignore"):  # the partials: rules.power_d_base and _exponent
        if ap is not None:
            ap = _scale(ap, rules.power_d_base(av, bv), True)
        if bp is not None:
            bp = _scale(bp, rules.power_d_exponent(z, av, bv), True)
    return Dual._make(z, _combine(ap, 1.0, bp, 1.0), tag)


_UFUNC_SCALAR = {
    np.add: operator.add,
    np.subtract: operator.sub,
    np.multiply: operator.mul,
    np.true_divide: operator.truediv,
    np.divide: operator.truediv,
    np.power: operator.pow,
    np.negative: operator.neg,
    np.positive: operator.pos,
    np.absolute: rules.absolute,
    np.fabs: rules.absolute,
    np.maximum: rules.select_max,
    np.minimum: rules.select_min,
    np.fmax: rules.select_fmax,
    np.fmin: rules.select_fmin,
    np.greater: operator.gt,
    np.greater_equal: operator.ge,
    np.less: operator.lt,
    np.less_equal: operator.le,
    np.equal: operator.eq,
    np.not_equal: operator.ne,
    np.isnan: lambda x: math.isnan(_primal_or(x)),
    np.isinf: lambda x: math.isinf(_primal_or(x)),
    np.isfinite: lambda x: math.isfinite(_primal_or(x)),
}
# every NumPy spelling of the rule table (np.deg2rad and np.radians ...)
_NUMPY_SPELLINGS = [(r, name.rpartition(".")[2]) for r in rules.UNARY + rules.BINARY
                    for name in rules.spelling_names(r, arrays=True)
                    if name.startswith("numpy.")]
for _r, _name in _NUMPY_SPELLINGS:
    _UFUNC_SCALAR[getattr(np, _name)] = _r.generic
del _r, _name

# NumPy functions that are not ufuncs (np.sinc would otherwise substitute 1e-20
# for 0 and lose the derivative; np.clip would call methods Dual lacks)
_ARRAY_FUNCTION_SCALAR = {np.sinc: rules.sinc, np.clip: rules.select_clip}

# ufuncs of other libraries, by name (scipy.special's erf, gammaln, psi ...)
_UFUNC_BY_NAME = {name.rpartition(".")[2]: r.generic for r in rules.UNARY + rules.BINARY
                  for name in [r.name] + rules.spelling_names(r, arrays=True)}


# Ufunc-named methods: NumPy applies ufuncs to object arrays element by element
# by calling the method of the same name (np.sin(objects) calls x.sin()).
def _unary_method(rule, name):
    def method(self):
        return rule.generic(self)
    method.__name__ = name
    return method


def _binary_method(rule, name):
    def method(self, other):
        return rule.generic(self, other)
    method.__name__ = name
    return method


for _r, _name in _NUMPY_SPELLINGS:
    _make = _unary_method if isinstance(_r, rules.UnaryRule) else _binary_method
    setattr(Dual, _name, _make(_r, _name))
del _r, _name, _make
