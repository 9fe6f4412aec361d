"""The forward-mode API on unmodified loop code, against closed forms."""

import math
import warnings

import numpy as np
import pytest
import scipy.special

import dualdiff as dd
from functions import (
    branchy, broyden, broyden_jacobian, example, example_derivative, iterate_and_collect,
    newton_sqrt, rosenbrock, rosenbrock_gradient, weighted_sum, NESTED_DD, on_the_python_path,
)

RNG = np.random.default_rng(20261121)


# ---------------------------------------------------------------------------
# Closed forms
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("x", [-1.3, -0.2, 0.0, 0.7, 1.5])
def test_derivative_of_example(x):
    got = dd.derivative(example, x)
    assert got == pytest.approx(example_derivative(x), rel=1e-14, abs=1e-300)


@pytest.mark.parametrize("n", [2, 10, 37])
def test_rosenbrock_gradient(n):
    x = RNG.uniform(-2, 2, n)
    np.testing.assert_allclose(dd.gradient(rosenbrock, x), rosenbrock_gradient(x),
                               rtol=1e-14, atol=1e-12)


def test_rosenbrock_gradient_is_zero_at_the_minimum():
    assert np.all(dd.gradient(rosenbrock, np.ones(5)) == 0.0)


@pytest.mark.parametrize("n", [1, 3, 12])
def test_broyden_jacobian(n):
    x = RNG.uniform(-1, 1, n)
    # AD evaluates (3 - 2x) - 2x, the closed form 3 - 4x: equal up to an ulp
    np.testing.assert_allclose(dd.jacobian(broyden, x), broyden_jacobian(x), rtol=4e-16, atol=0)


def test_value_and_jacobian_value_is_the_function_value():
    x = RNG.uniform(-1, 1, 6)
    value, J = dd.value_and_jacobian(broyden, x)
    np.testing.assert_array_equal(value, broyden.__wrapped__(x) if hasattr(broyden, "__wrapped__")
                                  else broyden(x))
    assert J.shape == (6, 6)


def test_branches_follow_the_primal_value():
    x = np.array([1.5, -0.5, 2.0, -3.0])
    expected = np.where(x > 0, 2 * x, -np.cos(x))
    np.testing.assert_allclose(dd.gradient(branchy, x), expected, rtol=1e-15)


@pytest.mark.parametrize("a", [0.25, 2.0, 1e6])
def test_while_loop_with_data_dependent_exit(a):
    assert dd.derivative(newton_sqrt, a) == pytest.approx(0.5 / math.sqrt(a), rel=1e-14)


def test_extra_arguments():
    x = RNG.uniform(-1, 1, 5)
    w = RNG.uniform(-1, 1, 5)
    value, grad = dd.value_and_gradient(weighted_sum, x, args=(w, 0.5))
    assert value == pytest.approx(0.5 + np.sum(w * np.tanh(x)), rel=1e-15)
    np.testing.assert_allclose(grad, w / np.cosh(x) ** 2, rtol=1e-14)


def test_iteration_and_tuple_output():
    x = np.array([0.5, -2.0, 1.5])
    value, J = dd.value_and_jacobian(iterate_and_collect, x)
    np.testing.assert_array_equal(value, [0.25 + 4.0 + 2.25, 1.5, 3.0])
    np.testing.assert_array_equal(J, [[1.0, -4.0, 3.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]])


def test_jvp_and_vjp_agree_with_the_jacobian():
    x = RNG.uniform(-1, 1, 7)
    v = RNG.normal(size=7)
    u = RNG.normal(size=7)
    J = broyden_jacobian(x)
    value, Jv = dd.jvp(broyden, x, v)
    np.testing.assert_allclose(Jv, J @ v, rtol=1e-14, atol=1e-14)
    value2, uJ = dd.vjp(broyden, x, u)
    np.testing.assert_allclose(uJ, u @ J, rtol=1e-14, atol=1e-14)
    # the adjoint identity <u, J v> = <J^T u, v>
    assert np.dot(u, Jv) == pytest.approx(np.dot(uJ, v), rel=1e-13)


def test_scalar_jvp_and_vector_valued_derivative():
    value, tangent = dd.jvp(example, 0.7, 2.0)
    assert tangent == pytest.approx(2.0 * example_derivative(0.7), rel=1e-14)
    d = dd.derivative(lambda t: (math.sin(t), t * t), 0.3)
    np.testing.assert_allclose(d, [math.cos(0.3), 0.6], rtol=1e-15)


# ---------------------------------------------------------------------------
# Chunking: every chunk size gives the same gradient, bit for bit
# ---------------------------------------------------------------------------

def test_chunk_sizes_give_identical_gradients():
    n = 12
    x = RNG.uniform(-2, 2, n)
    reference = dd.gradient(rosenbrock, x, chunk=n)
    for chunk in (1, n // 3, n // 2, n + 1, None):
        np.testing.assert_array_equal(dd.gradient(rosenbrock, x, chunk=chunk), reference)


def test_chunk_choice_is_balanced_and_capped():
    assert dd.choose_chunk(10) == 5
    assert dd.choose_chunk(8) == 8
    assert dd.choose_chunk(100) == 8
    assert dd.choose_chunk(17) == 6
    with pytest.raises(ValueError, match="chunk"):
        dd.choose_chunk(10, 0)
    with pytest.raises(TypeError, match="chunk"):
        dd.choose_chunk(10, 2.5)


# ---------------------------------------------------------------------------
# Curried forms, decorators, SciPy
# ---------------------------------------------------------------------------

def test_curried_forms_and_decorator():
    grad = dd.gradient(rosenbrock)
    x = RNG.uniform(-1, 1, 4)
    np.testing.assert_array_equal(grad(x), dd.gradient(rosenbrock, x))

    @dd.derivative
    def d_example(x):
        return example(x)
    assert d_example(0.4) == pytest.approx(example_derivative(0.4), rel=1e-14)


def test_curried_form_accepts_scipy_calling_convention():
    from scipy.optimize import minimize
    w = np.array([1.0, 2.0, 3.0])
    result = minimize(weighted_sum, np.zeros(3), args=(w, 0.0), method="BFGS",
                      jac=dd.gradient(weighted_sum), options={"maxiter": 3})
    # the jac was called with (x, w, 0.0): check it is the exact gradient at the end
    np.testing.assert_allclose(result.jac, w / np.cosh(result.x) ** 2, rtol=1e-14)


def test_minimize_rosenbrock_with_exact_gradient():
    from scipy.optimize import minimize
    result = minimize(rosenbrock, np.full(6, -0.5), jac=dd.gradient(rosenbrock), method="BFGS",
                      options={"gtol": 1e-10})
    np.testing.assert_allclose(result.x, np.ones(6), atol=1e-7)


# ---------------------------------------------------------------------------
# The Python fallback
# ---------------------------------------------------------------------------

def uses_scipy_special(x):
    return scipy.special.erf(x) * x


def uses_a_dict(x, table):
    return table["scale"] * math.sin(x[0]) * x[1]


def test_scipy_special_spellings_compile_and_are_exact():
    """scipy.special.erf is a spelling of the table's erf: compiled, no fallback."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", dd.FallbackWarning)
        got = dd.derivative(uses_scipy_special, 0.3)
    expected = math.erf(0.3) + 0.3 * 2 / math.sqrt(math.pi) * math.exp(-0.09)
    assert got == pytest.approx(expected, rel=1e-15)


def test_fallback_for_a_python_dict_uses_math_module_and_warns_once():
    x = np.array([0.4, 1.5])
    with pytest.warns(dd.FallbackWarning, match="no Numba type"):
        g = dd.gradient(uses_a_dict, x, args=({"scale": 2.0},))
    np.testing.assert_allclose(g, [2 * math.cos(0.4) * 1.5, 2 * math.sin(0.4)], rtol=1e-15)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the second call must not warn again
        np.testing.assert_array_equal(dd.gradient(uses_a_dict, x, args=({"scale": 2.0},)), g)


# ---------------------------------------------------------------------------
# Nested differentiation: no perturbation confusion
# ---------------------------------------------------------------------------
# A dd call inside f runs on the Python path (dualdiff's own operators do not
# compile), so these are tests of that path: its warning is expected.

def test_perturbation_confusion_is_avoided():
    with on_the_python_path(NESTED_DD):
        got = dd.derivative(lambda x: x * dd.derivative(lambda y: x + y, 1.0), 1.0)
    assert got == 1.0


def test_gradient_of_a_function_that_calls_gradient():
    # f(x) = sum(grad(g)(x)) with g = sum(x_i^3) -> f = 3 sum x_i^2, grad f = 6 x
    def inner(y):
        return np.sum(y * y * y)

    def outer(x):
        return np.sum(dd.gradient(inner, x))

    x = np.array([0.5, -1.0, 2.0])
    with on_the_python_path(NESTED_DD):
        np.testing.assert_allclose(dd.gradient(outer, x), 6 * x, rtol=1e-15)


# ---------------------------------------------------------------------------
# Bad input: clear errors, never a Numba traceback; inputs never modified
# ---------------------------------------------------------------------------

def returns_string(x):
    return "not a number"


def returns_vector(x):
    return broyden(x)


@pytest.mark.parametrize("bad, error, match", [
    ("1.0, 2.0", TypeError, "string"),
    (np.array([{}, 1.0], dtype=object), TypeError, "object array"),
    (np.ones((2, 2)), ValueError, "1-D"),
    (np.array([1 + 2j]), TypeError, "complex"),
    (np.array([]), ValueError, "at least one"),
])
def test_bad_x_for_gradient(bad, error, match):
    with pytest.raises(error, match=match):
        dd.gradient(rosenbrock, bad)


def test_bad_x_for_derivative():
    with pytest.raises(TypeError, match="real number"):
        dd.derivative(example, "0.5")
    with pytest.raises(TypeError, match="gradient"):
        dd.derivative(example, np.ones(3))


def test_f_returning_a_string_is_a_type_error():
    with pytest.raises(TypeError, match="must return"):
        dd.gradient(returns_string, np.ones(3))


def test_gradient_of_a_vector_function_is_a_value_error():
    with pytest.raises(ValueError, match="jacobian"):
        dd.gradient(returns_vector, np.ones(3))


def test_bad_arguments():
    with pytest.raises(TypeError, match="callable"):
        dd.gradient(42, np.ones(3))
    with pytest.raises(TypeError, match="tuple"):
        dd.gradient(rosenbrock, np.ones(3), args=[1.0])
    with pytest.raises(ValueError, match="mode"):
        dd.gradient(rosenbrock, np.ones(3), mode="sideways")
    with pytest.raises(ValueError, match="shape of x"):
        dd.jvp(broyden, np.ones(3), np.ones(4))


def test_inputs_are_never_modified():
    x = np.array([0.3, -0.2, 1.1])
    before = x.copy()
    dd.gradient(rosenbrock, x)
    dd.jacobian(broyden, x)
    dd.jvp(broyden, x, x)
    np.testing.assert_array_equal(x, before)


def test_non_finite_x_propagates():
    # NaN in x: the value is NaN and so is every partial it touches (a zero
    # partial times a NaN derivative is NaN, as in plain floating point)
    value, g = dd.value_and_gradient(rosenbrock, np.array([np.nan, 1.0, 1.0]))
    assert np.isnan(value) and np.isnan(g[0]) and np.isnan(g[1]) and g.shape == (3,)
    d = dd.derivative(example, np.inf)
    assert not np.isfinite(d)


def test_index_out_of_range_raises_instead_of_reading_garbage():
    def reads_past_the_end(x):
        return x[len(x)]
    with pytest.raises(IndexError):
        dd.gradient(reads_past_the_end, np.ones(3))


# ---------------------------------------------------------------------------
# What users pass: builtins, and functions that call plain helpers
# ---------------------------------------------------------------------------

def test_builtins_and_ufuncs_are_differentiable():
    with warnings.catch_warnings():
        warnings.simplefilter("error", dd.FallbackWarning)
        assert dd.derivative(math.exp, 0.5) == math.exp(0.5)
        assert dd.derivative(np.sin, 0.5) == math.cos(0.5)


def _helper_square(v):
    return v * v


def calls_a_plain_helper(x):
    return _helper_square(x[0]) * x[1]


def test_plain_python_helpers_are_compiled_too():
    with warnings.catch_warnings():
        warnings.simplefilter("error", dd.FallbackWarning)  # no fallback needed
        np.testing.assert_array_equal(dd.gradient(calls_a_plain_helper, np.array([3.0, 2.0])),
                                      [12.0, 9.0])


def test_helpers_defined_in_a_script_or_notebook_are_compiled_too():
    # code typed into a notebook or run as a script lives in module "__main__"
    namespace = {"__name__": "__main__", "math": math}
    exec("def squash(v):\n    return math.tanh(v) * v\n\n"
         "def model(x):\n    return squash(x[0]) + x[1]\n", namespace)
    model = namespace["model"]
    assert model.__module__ == "__main__"
    with warnings.catch_warnings():
        warnings.simplefilter("error", dd.FallbackWarning)
        g = dd.gradient(model, np.array([0.5, 2.0]))
    t = math.tanh(0.5)
    np.testing.assert_allclose(g, [(1 - t * t) * 0.5 + t, 1.0], rtol=1e-15)


def doubles_its_input_in_place(x):
    x[0] = 2.0 * x[0]
    s = 0.0
    for i in range(len(x)):
        s += x[i] * x[i]
    return s


def test_a_function_that_writes_into_x_is_refused_not_answered_wrongly():
    # forward sweeps reuse one input buffer: the second sweep would start from
    # the doubled x[0]; reverse mode records on a fresh copy and is right
    x = np.linspace(0.5, 1.4, 10)
    for run in (lambda: dd.gradient(doubles_its_input_in_place, x, mode="forward"),
                lambda: dd.hessian(doubles_its_input_in_place, x, mode="forward"),
                lambda: dd.hvp(doubles_its_input_in_place, x, np.ones(10), mode="forward"),
                lambda: dd.jit.gradient(doubles_its_input_in_place)(x)):
        with pytest.raises(ValueError, match="modified its input x"):
            run()
    expected = 2 * x
    expected[0] = 8 * x[0]
    np.testing.assert_allclose(dd.gradient(doubles_its_input_in_place, x, mode="reverse"),
                               expected, rtol=1e-15)
    # the tape Hessian also records on a copy
    hessian = np.diag(np.r_[8.0, np.full(9, 2.0)])
    np.testing.assert_array_equal(
        dd.hessian(doubles_its_input_in_place, x, mode="reverse"), hessian)
    np.testing.assert_array_equal(
        dd.hvp(doubles_its_input_in_place, x, np.ones(10), mode="reverse"),
        hessian @ np.ones(10))
    np.testing.assert_array_equal(x, np.linspace(0.5, 1.4, 10))  # never modified
