"""``Dual[T, N]`` as a Numba extension type.

A struct of a value of type ``T`` and a tuple of ``N`` partials of type ``T``,
passed by value (no heap allocation).  ``T`` is ``float64`` or another dual
type, so nesting gives second and higher derivatives.

Layers, in order:

1. the type, its data model, boxing/unboxing and unification with numbers
   (``s = 0.0; s += x[i] * y`` types without edits);
2. the partials layer: tuple arithmetic generated per ``N`` (add, scale,
   axpby, NaN-safe scale);
3. hand-written arithmetic (``+ - * / **``), then the number protocol of
   :mod:`.protocol` (comparisons, conversions, predicates, ``min``/``max``);
4. every rule of :mod:`dualdiff.rules`, registered for all its spellings
   (``math.sin``, ``np.sin`` and the generic ``dualdiff.rules.sin``).
"""

import operator

import numpy as np

from .. import rules
from . import registrar
from .protocol import primal_value, register_number_protocol
from .compat import (
    Conversion, NativeValue, box, cgutils, intrinsic, lower_cast,
    make_attribute_wrapper, models, overload, overload_attribute, register_jitable,
    register_model, typeof_impl, types, unbox,
)
from ..numbers.dual import Dual

__all__ = ["DualType", "make_dual", "is_dual_type", "primal_value"]

_IEEE = {"error_model": "numpy", "forceinline": True}
_jitable = register_jitable(**_IEEE)
_REALS = (types.Integer, types.Float, types.Boolean)


# ===========================================================================
# 1. The type
# ===========================================================================

class DualType(types.Type):
    """Numba type ``Dual[base, n]``: a value of type ``base`` and ``n`` partials."""

    def __init__(self, base, n, tag=0):
        self.base = base
        self.n = int(n)
        self.tag = int(tag)
        suffix = f", tag={self.tag}" if self.tag else ""
        super().__init__(name=f"Dual[{base}, {self.n}{suffix}]")

    @property
    def partials_type(self):
        return types.UniTuple(self.base, self.n)

    @property
    def width(self):
        """How many float64 numbers one value of this type holds."""
        return (self.n + 1) * scalar_width(self.base)

    def unify(self, typingctx, other):
        if is_lower(other, self):
            return self
        if isinstance(other, DualType) and is_lower(self, other):
            return other
        return None

    def can_convert_from(self, typingctx, other):
        if is_lower(other, self):
            return Conversion.safe
        return None


def is_dual_type(t):
    return isinstance(t, DualType)


def is_lower(t, dual):
    """True if values of type ``t`` are constants to duals of type ``dual``."""
    if isinstance(t, _REALS):
        return True
    base = dual.base
    while isinstance(base, DualType):
        if t == base:
            return True
        base = base.base
    return False


def scalar_width(t):
    return t.width if isinstance(t, DualType) else 1


@register_model(DualType)
class _DualModel(models.StructModel):
    def __init__(self, dmm, fe_type):
        members = [("value", fe_type.base), ("partials", fe_type.partials_type)]
        super().__init__(dmm, fe_type, members)


make_attribute_wrapper(DualType, "value", "value")
make_attribute_wrapper(DualType, "partials", "partials")


@overload_attribute(DualType, "n_partials")
def _dual_n_partials(x):
    n = x.n
    return lambda x: n


# --- construction ----------------------------------------------------------

def _build_dual(context, builder, dual_type, value, value_type, items, item_types):
    s = cgutils.create_struct_proxy(dual_type)(context, builder)
    s.value = context.cast(builder, value, value_type, dual_type.base)
    casted = [context.cast(builder, v, t, dual_type.base) for v, t in zip(items, item_types)]
    s.partials = context.make_tuple(builder, dual_type.partials_type, casted)
    return s._getvalue()


def _tuple_items(builder, tup, tup_type):
    types_ = list(tup_type) if isinstance(tup_type, types.BaseTuple) else []
    return [builder.extract_value(tup, i) for i in range(len(types_))], types_


@intrinsic
def _new(typingctx, like, value, partials):
    """A dual of the same type as ``like`` from a value and a partials tuple."""
    if not isinstance(like, DualType) or not isinstance(partials, types.BaseTuple):
        return None
    if len(partials) != like.n:
        return None

    def codegen(context, builder, sig, args):
        items, item_types = _tuple_items(builder, args[2], sig.args[2])
        return _build_dual(context, builder, like, args[1], sig.args[1], items, item_types)

    return like(like, value, partials), codegen


@intrinsic
def make_dual(typingctx, value, partials, tag):
    """``make_dual(value, (p0, ..., pN-1), tag)`` with a literal integer tag."""
    if not isinstance(partials, types.BaseTuple) or len(partials) == 0:
        return None
    if not isinstance(tag, types.IntegerLiteral):
        return None
    base = value if isinstance(value, DualType) else types.float64
    dual_type = DualType(base, len(partials), tag.literal_value)

    def codegen(context, builder, sig, args):
        items, item_types = _tuple_items(builder, args[1], sig.args[1])
        return _build_dual(context, builder, dual_type, args[0], sig.args[0], items, item_types)

    return dual_type(value, partials, tag), codegen


@intrinsic
def convert_to(typingctx, value, like):
    """``value`` converted to the type of ``like`` (a number becomes a constant dual)."""
    if isinstance(like, types.TypeRef):
        target = like.instance_type
    else:
        target = like
    if value != target and not (isinstance(target, DualType) and is_lower(value, target)) \
            and not (isinstance(target, types.Float) and isinstance(value, _REALS)):
        return None

    def codegen(context, builder, sig, args):
        return context.cast(builder, args[0], sig.args[0], target)

    return target(value, like), codegen


def _zero_of(context, builder, t):
    if isinstance(t, DualType):
        z = _zero_of(context, builder, t.base)
        return _build_dual(context, builder, t, z, t.base, [z] * t.n, [t.base] * t.n)
    return context.get_constant(t, 0)


def _cast_number_to_dual(context, builder, fromty, toty, val):
    value = context.cast(builder, val, fromty, toty.base)
    z = _zero_of(context, builder, toty.base)
    return _build_dual(context, builder, toty, value, toty.base, [z] * toty.n, [toty.base] * toty.n)


for _from in _REALS:
    lower_cast(_from, DualType)(_cast_number_to_dual)


@lower_cast(DualType, DualType)
def _cast_dual_to_dual(context, builder, fromty, toty, val):
    if fromty == toty:
        return val
    if not is_lower(fromty, toty):
        raise TypeError(f"cannot convert {fromty} to {toty}")
    return _cast_number_to_dual(context, builder, fromty, toty, val)


# --- boxing -----------------------------------------------------------------

@typeof_impl.register(Dual)
def _typeof_dual(val, c):
    if len(val.partials) == 0:
        raise ValueError("a Dual with no partials cannot be passed to compiled code")
    if isinstance(val.value, Dual):
        base = _typeof_dual(val.value, c)
    else:
        base = types.float64
    return DualType(base, len(val.partials), val.tag)


@unbox(DualType)
def _unbox_dual(typ, obj, c):
    value_obj = c.pyapi.object_getattr_string(obj, "value")
    value = c.unbox(typ.base, value_obj)
    c.pyapi.decref(value_obj)
    tuple_obj = c.pyapi.call_method(obj, "_partials_tuple", ())
    partials = c.unbox(typ.partials_type, tuple_obj)
    c.pyapi.decref(tuple_obj)
    s = cgutils.create_struct_proxy(typ)(c.context, c.builder)
    s.value = value.value
    s.partials = partials.value
    is_error = c.builder.or_(value.is_error, partials.is_error)
    return NativeValue(s._getvalue(), is_error=is_error)


@box(DualType)
def _box_dual(typ, val, c):
    s = cgutils.create_struct_proxy(typ)(c.context, c.builder, value=val)
    value_obj = c.box(typ.base, s.value)
    tuple_obj = c.box(typ.partials_type, s.partials)
    tag_obj = c.pyapi.long_from_longlong(c.context.get_constant(types.int64, typ.tag))
    cls_obj = c.pyapi.unserialize(c.pyapi.serialize_object(Dual))
    res = c.pyapi.call_method(cls_obj, "_from_numba", (value_obj, tuple_obj, tag_obj))
    for o in (value_obj, tuple_obj, tag_obj, cls_obj):
        c.pyapi.decref(o)
    return res


# ===========================================================================
# 2. Code generation: one straight-line implementation per (op, types, N)
# ===========================================================================
# Each operation is described by a value expression and a per-partial
# expression; the generator writes the N-element tuple out in full, so each
# dual operation is ONE small compiled function (few compile units keeps the
# first call fast) and LLVM sees straight-line code it can vectorise.
#
# Names in the expressions: ``av, ap`` (value and partials of a dual ``a``),
# ``bv, bp`` likewise, ``a``/``b`` for an operand that is a constant.
# ``SAFE(p, d)`` multiplies NaN-safely: an exactly-zero partial stays zero
# even where the derivative ``d`` is inf or nan (sqrt at 0).  A nested
# partial is a dual: it is exactly zero when its value and all its partials
# are.  (Multiplying such a zero plainly by sqrt's derivative at 0, an inner
# dual (inf, nan...), put NaN in every outer lane, so the whole Hessian of
# sqrt(x0) + g(x1, x2) at x0 = 0 came out NaN in forward mode.)  On
# first-order duals every product of a partial, and every quotient, is
# written so (``_local``, issue 18): a NaN or an overflow in one value then
# reaches only the partials that depend on it, as in reverse mode (the
# gradient of sum(x**2) at [1, nan, 2] is [2, nan, 4], not all nan;
# x0 * exp(-x1) at [1, -1000] gives [inf, -inf]).

_impl_cache = {}


def _safe(base, p, d):
    if isinstance(base, types.Float):
        return f"({p} * {d} if {p} != 0.0 else 0.0)"
    return f"({p} * {d} if {_nonzero(base, p)} else {p})"


def _safe_divide(base, p, d):
    """``p / d``, NaN-safely on first-order duals: an exactly-zero partial
    stays zero even where the divisor is 0 or nan."""
    if isinstance(base, types.Float):
        return f"({p} / {d} if {p} != 0.0 else 0.0)"
    return f"{p} / {d}"


def _local(base, p, d):
    """``p * d`` NaN-safely on first-order duals (every rule and product, so a
    NaN or overflow in one value reaches only the partials that depend on
    it); plainly on nested ones, where the test of every leaf made the first
    Hessian compile 0.35 s slower (1.5-1.6 s -> 1.95 s, /tmp/first.py in the
    issue 18 note) and its sweeps 12-25% slower: there only singular rules
    and powers multiply NaN-safely."""
    if isinstance(base, types.Float):
        return _safe(base, p, d)
    return f"{p} * {d}"


def _by_constant(base, p, c):
    """``p * c`` for a constant ``c`` (a float that does not depend on x): a
    zero constant makes the product identically 0, so its partials are 0
    even where ``p`` is inf or nan (``0.0 * sqrt(x)`` at 0).  First order;
    nested duals multiply plainly (see _local)."""
    if isinstance(base, types.Float):
        return f"({p} * {c} if ({p} != 0.0) & ({c} != 0.0) else 0.0)"
    return f"{p} * {c}"


def _nonzero(base, p):
    """An expression: whether ``p`` (of type ``base``) has a nonzero value or
    partial at any depth (NaN counts as nonzero), branch-free and written out:
    a helper function would be one more compile unit per nested type."""
    return "(" + " + ".join(f"abs({leaf})" for leaf in _leaves(base, p)) + ") != 0.0"


def _leaves(base, p):
    if not isinstance(base, DualType):
        return [p]
    out = _leaves(base.base, f"{p}.value")
    for k in range(base.n):
        out += _leaves(base.base, f"{p}.partials[{k}]")
    return out


def _generate(key, kind, n, base, prelude, value, element, namespace):
    """Write, compile (as Python) and cache ``impl(a, b)`` or ``impl(a)``."""
    cache_key = (key, kind, n, base)
    if cache_key in _impl_cache:
        return _impl_cache[cache_key]
    unary = kind == "unary"
    lines = ["def impl(a):" if unary else "def impl(a, b):"]
    if kind in ("unary", "both", "left"):
        lines.append("    av = a.value\n    ap = a.partials")
    if kind in ("both", "right"):
        lines.append("    bv = b.value\n    bp = b.partials")
    lines += [f"    {line}" for line in prelude]
    like = "b" if kind == "right" else "a"
    elements = ", ".join(element(f"[{i}]") for i in range(n))
    lines.append(f"    return _new({like}, {value}, ({elements},))")
    src = "\n".join(lines) + "\n"
    ns = dict(namespace, _new=_new)
    exec(compile(src, f"<dualdiff {key} {kind} N={n}>", "exec"), ns)
    _impl_cache[cache_key] = ns["impl"]
    return ns["impl"]


def _dual_of(a, b):
    return a if isinstance(a, DualType) and _classify(a, b) != "right" else b


# ===========================================================================
# 3. Hand-written arithmetic
# ===========================================================================

def _classify(a, b):
    """'both', 'left' (b is a constant to a), 'right' (a constant to b) or None."""
    if isinstance(a, DualType) and a == b:
        return "both"
    if isinstance(a, DualType) and is_lower(b, a):
        return "left"
    if isinstance(b, DualType) and is_lower(a, b):
        return "right"
    return None


# op: {kind: (prelude lines, value expression, element(i) -> expression)}
# Division is not multiplication by a reciprocal in floating point (x / 3
# must give the exact quotient's partials), so every division case divides.
def _arithmetic_table(base):
    S = lambda p, d: _safe(base, p, d)  # noqa: E731
    L = lambda p, d: _local(base, p, d)  # noqa: E731
    D = lambda p, d: _safe_divide(base, p, d)  # noqa: E731
    C = lambda p, c: _by_constant(base, p, c)  # noqa: E731
    return {
        "add": {"both": ((), "av + bv", lambda i: f"ap{i} + bp{i}"),
                "left": ((), "av + b", lambda i: f"ap{i}"),
                "right": ((), "a + bv", lambda i: f"bp{i}")},
        "sub": {"both": ((), "av - bv", lambda i: f"ap{i} - bp{i}"),
                "left": ((), "av - b", lambda i: f"ap{i}"),
                "right": ((), "a - bv", lambda i: f"-bp{i}")},
        "mul": {"both": ((), "av * bv", lambda i: f"{L('ap' + i, 'bv')} + {L('bp' + i, 'av')}"),
                "left": ((), "av * b", lambda i: C("ap" + i, "b")),
                "right": ((), "a * bv", lambda i: C("bp" + i, "a"))},
        "div": {"both": (("q = av / bv",), "q",
                         lambda i: D(f"(ap{i} - {L('bp' + i, 'q')})", "bv")),
                "left": ((), "av / b", lambda i: D(f"ap{i}", "b")),
                "right": (("q = a / bv",), "q", lambda i: D(f"(-{L('bp' + i, 'q')})", "bv"))},
        "pow": {"both": (("z = av ** bv", "da = _ped(av, bv)", "db = _pbd(z, av, bv)"), "z",
                         lambda i: f"{S('ap' + i, 'da')} + {S('bp' + i, 'db')}"),
                "left": (("z = av ** b", "da = _ped(av, b)"), "z", lambda i: S("ap" + i, "da")),
                "right": (("z = a ** bv", "db = _pbd(z, a, bv)"), "z", lambda i: S("bp" + i, "db"))},
        "neg": {"unary": ((), "-av", lambda i: f"-ap{i}")},
    }


# the power rule's partials, from the rule table
_ARITH_NAMESPACE = {"_ped": rules.power_d_base, "_pbd": rules.power_d_exponent}


# x ** 2 is the most common power in user code (squared losses, Rosenbrock):
# the general path computes two pow calls and a NaN-safe select per partial;
# the literal square is one product and an exact 2x (helper-measured: ~35% of a
# Rosenbrock sweep).
_SQUARE = (("z = av * av", "t = av + av"), "z")


def _arithmetic_overload(ops, name):
    def typer(a, b):
        kind = _classify(a, b)
        if kind is None:
            return None
        dual = _dual_of(a, b)
        if name == "pow" and kind == "left" and isinstance(b, types.IntegerLiteral) \
                and b.literal_value == 2:
            prelude, value = _SQUARE
            return _generate("square", kind, dual.n, dual.base, prelude, value,
                             lambda i: _local(dual.base, f"ap{i}", "t"), {})
        prelude, value, element = _arithmetic_table(dual.base)[name][kind]
        return _generate(name, kind, dual.n, dual.base, prelude, value, element,
                         _ARITH_NAMESPACE)
    for op in ops:
        overload(op, jit_options=_IEEE, prefer_literal=(name == "pow"))(typer)


# the ufunc spellings on scalars too (np.power(x[0], x[1]))
_arithmetic_overload((operator.add, operator.iadd, np.add), "add")
_arithmetic_overload((operator.sub, operator.isub, np.subtract), "sub")
_arithmetic_overload((operator.mul, operator.imul, np.multiply), "mul")
_arithmetic_overload((operator.truediv, operator.itruediv, np.true_divide), "div")
_arithmetic_overload((operator.pow, operator.ipow, pow, np.power), "pow")


@overload(operator.neg, jit_options=_IEEE)
def _neg(a):
    if isinstance(a, DualType):
        prelude, value, element = _arithmetic_table(a.base)["neg"]["unary"]
        return _generate("neg", "unary", a.n, a.base, prelude, value, element, {})


@overload(operator.pos)
def _pos(a):
    if isinstance(a, DualType):
        return lambda a: a


@overload(rules.with_value, jit_options=_IEEE)
def _with_value(x, value):
    """rules.with_value: the innermost value replaced, the partials kept."""
    if isinstance(x, DualType):
        tag = x.tag
        return lambda x, value: make_dual(rules.with_value(x.value, value), x.partials, tag)
    if isinstance(x, (types.Float, types.Integer)):
        return lambda x, value: float(value)


# --- the number protocol: comparisons, conversions, predicates, selections ---
# Shared with the tape's Var (see .protocol), but _classify also pairs a dual
# with a dual nested inside it (a constant to it), and primal_value steps
# through nested duals.  A selection picks a plain number as it is: the
# ternary in rules.select_* unifies it with the dual (DualType.unify), which
# casts it to a constant dual.
register_number_protocol(
    DualType, _classify,
    "float() of a dual number would silently drop its derivatives; "
    "use dualdiff.primal(x) (or x.value) if that is what you mean")


# ===========================================================================
# 4. The rule table, registered for every spelling
# ===========================================================================

def _value_call(base, args):
    """Call the float value function directly on float bases (one compile unit
    fewer); nested bases go through the generic function, which recurses."""
    fn = "value_fn" if isinstance(base, types.Float) else "generic"
    return f"{fn}({args})"


def _register_unary(rule):
    namespace = {"generic": rule.generic, "d1": rule.d1, "value_fn": rule.value,
                 "convert_to": convert_to}

    def dual_impl(x):
        call = _value_call(x.base, "av")
        if rule.constant:  # zero partials, not 0 * partial (nan where one is inf)
            return _generate(rule.name, "unary", x.n, x.base,
                             (f"y = {call}", "zero = convert_to(0.0, av)"), "y",
                             lambda i: "zero", namespace)
        safe = _safe if rule.singular else _local
        element = lambda i: safe(x.base, f"ap{i}", "d")  # noqa: E731
        return _generate(rule.name, "unary", x.n, x.base, (f"y = {call}", "d = d1(av, y)"),
                         "y", element, namespace)

    value = rule.value

    def on_float(a):
        return value(float(a))

    def generic_typer(a):
        if isinstance(a, DualType):
            return dual_impl(a)
        if isinstance(a, _REALS):
            return on_float

    overload(rule.generic, jit_options=_IEEE)(generic_typer)

    def spelling_typer(a):
        if isinstance(a, DualType):
            return dual_impl(a)

    _TYPERS[1, rule.name] = spelling_typer, generic_typer


def _register_binary(rule):
    namespace = {"generic": rule.generic, "da_fn": rule.d_first, "db_fn": rule.d_second,
                 "value_fn": rule.value, "convert_to": convert_to}

    def dual_impl(a, b, kind):
        dual = _dual_of(a, b)
        if rule.constant_second and kind == "right":  # zero partials, as a constant rule
            return _generate(rule.name, kind, dual.n, dual.base,
                             ("z = generic(a, bv)", "zero = convert_to(0.0, z)"), "z",
                             lambda i: "zero", namespace)
        S = lambda p, d: (_safe if rule.singular else _local)(dual.base, p, d)  # noqa: E731
        av = "a" if kind == "right" else "av"
        bv = "b" if kind == "left" else "bv"
        # with a constant operand the arguments may be of mixed types: let the
        # generic function sort them out
        call = _value_call(dual.base, f"{av}, {bv}") \
            if kind == "both" else f"generic({av}, {bv})"
        prelude = [f"z = {call}"]
        if kind in ("both", "left"):
            prelude.append(f"da = da_fn({av}, {bv}, z)")
        if kind in ("both", "right") and not rule.constant_second:
            prelude.append(f"db = db_fn({av}, {bv}, z)")
        terms = "left" if rule.constant_second else kind  # the b term is identically 0
        element = {"both": lambda i: f"{S('ap' + i, 'da')} + {S('bp' + i, 'db')}",
                   "left": lambda i: S("ap" + i, "da"),
                   "right": lambda i: S("bp" + i, "db")}[terms]
        return _generate(rule.name, kind, dual.n, dual.base, prelude, "z", element, namespace)

    value = rule.value

    def on_floats(a, b):
        return value(float(a), float(b))

    def generic_typer(a, b):
        kind = _classify(a, b)
        if kind is not None:
            return dual_impl(a, b, kind)
        if isinstance(a, _REALS) and isinstance(b, _REALS):
            return on_floats

    overload(rule.generic, jit_options=_IEEE)(generic_typer)

    def spelling_typer(a, b):
        kind = _classify(a, b)
        if kind is not None:
            return dual_impl(a, b, kind)

    _TYPERS[2, rule.name] = spelling_typer, generic_typer


# (arity, rule name) -> (typer of a spelling Numba knows on floats, typer that
# also takes floats): a math./numpy. spelling on floats is Numba's own
_TYPERS = {}


def _register_spelling(arity):
    def register(rule, function, native):
        spelling_typer, generic_typer = _TYPERS[arity, rule.name]
        overload(function, jit_options=_IEEE)(spelling_typer if native else generic_typer)
    return register


for _rule in rules.UNARY:
    _register_unary(_rule)
for _rule in rules.BINARY:
    _register_binary(_rule)
registrar.each_spelling(1, False, _register_spelling(1))
registrar.each_spelling(2, False, _register_spelling(2))
