"""Tests of the whitelist expression parser and of the ``check`` command."""

import math
import subprocess
import sys
import types

import numpy as np
import pytest

import dualdiff
from dualdiff import fd
from dualdiff.cli.expr import (
    FUNCTIONS, ExpressionError, parse_assignments, parse_expression,
    parse_values)
from dualdiff.cli.check import main

try:  # the AD-path tests below skip only while dualdiff.forward is missing
    import dualdiff.forward  # noqa: F401
    HAVE_AD = True
except ImportError:
    HAVE_AD = False

REFUSED = [
    "__import__('os').system('echo hi')",
    "x.real",
    "x[0]",
    "lambda: 1",
    '"a"',
    "(lambda: 1)()",
    "open('/etc/passwd')",
    "sin.__globals__",
    "[c for c in ()]",
    "sin(x=1)",
    "x if x else 1",
    "x < 1",
    "x // 2",
    "x @ x",
    "1j * x",
    "True + x",
    "_v",
    "__builtins__",
    "sin",
    "f(x)",
    "sin(x, x)",
    "x; x",
    "",
    "(" * 300 + "x" + ")" * 300,
    "-" * 1500 + "x",
    "sin(" * 120 + "x" + ")" * 120,
]


# ---------------------------------------------------------------------------
# The parser
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("text, point, expected", [
    ("sin(x)*exp(y)", {"x": 1.0, "y": 2.0}, math.sin(1) * math.exp(2)),
    ("x**2 / 3 - -y + +x", {"x": 1.5, "y": 2.0}, 1.5 ** 2 / 3 + 2 + 1.5),
    ("2**-1 * pi * e", {"x": 0.0}, 0.5 * math.pi * math.e),
    ("atan2(y, x) + hypot(x, y)", {"x": -1.0, "y": 2.0},
     math.atan2(2, -1) + math.hypot(-1, 2)),
    ("erf(x) + erfc(x) + lgamma(y)", {"x": 0.3, "y": 4.5},
     1.0 + math.lgamma(4.5)),
    ("log1p(x) + expm1(x) + cbrt(y) + exp2(x) + log2(y) + log10(y)",
     {"x": 0.25, "y": 8.0},
     math.log1p(0.25) + math.expm1(0.25) + 2.0 + 2 ** 0.25 + 3.0
     + math.log10(8.0)),
    ("arcsinh(x) + acosh(y) + atanh(x) + abs(-x) + sqrt(y)",
     {"x": 0.5, "y": 2.0},
     math.asinh(0.5) + math.acosh(2.0) + math.atanh(0.5) + 0.5 + math.sqrt(2)),
    ("tan(x) * cosh(x) - sinh(x) / tanh(x)", {"x": 0.4},
     math.tan(0.4) * math.cosh(0.4) - math.sinh(0.4) / math.tanh(0.4)),
    ("arcsin(x) + acos(x) + arctan(x) + asin(x)", {"x": 0.2},
     2 * math.asin(0.2) + math.acos(0.2) + math.atan(0.2)),
])
def test_valid_expressions_evaluate(text, point, expected):
    expr = parse_expression(text, variables=list(point))
    value = expr([point[name] for name in expr.variables])
    assert value == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize("text", REFUSED)
def test_refused(text):
    with pytest.raises(ExpressionError) as excinfo:
        parse_expression(text)
    message = str(excinfo.value)
    assert message and "\n" not in message


def test_refusal_messages_name_the_problem():
    cases = {"x.real": "attribute access", "x[0]": "indexing",
             "lambda: 1": "lambda", '"a"': "strings",
             "(lambda: 1)()": "calling anything but a function by name",
             "__import__('os').system('echo hi')": "calling anything",
             "foo(x)": "unknown function 'foo'", "sin(x=1)": "keyword"}
    for text, fragment in cases.items():
        with pytest.raises(ExpressionError, match=fragment):
            parse_expression(text)


def test_expression_error_is_a_value_error():
    assert issubclass(ExpressionError, ValueError)


def test_compiled_function_has_no_builtins():
    f = parse_expression("sin(x) + y").function
    assert f.__globals__["__builtins__"] == {}
    assert set(f.__globals__) - {"__builtins__", "expression"} <= set(FUNCTIONS)


def test_numbers_become_floats_so_huge_powers_overflow_fast():
    f = parse_expression("10**10**10 * x").function
    with pytest.raises(OverflowError):
        f(np.array([1.0]))


def test_variable_order():
    expr = parse_expression("b * 10 + a")
    assert expr.variables == ("a", "b")
    assert expr([1.0, 2.0]) == 21.0
    expr = parse_expression("b * 10 + a", variables=["b", "a", "c"])
    assert expr([1.0, 2.0, 99.0]) == 12.0
    with pytest.raises(ExpressionError, match="no value given for variable 'b'"):
        parse_expression("b + a", variables=["a"])


def test_parse_assignments_and_values():
    assert parse_assignments("x=1, y=-2.5e-3,z=pi/4") == {
        "x": 1.0, "y": -2.5e-3, "z": math.pi / 4}
    assert list(parse_assignments("b=1,a=2")) == ["b", "a"]
    assert parse_assignments("w=atan2(1, 2)")["w"] == math.atan2(1, 2)
    np.testing.assert_array_equal(parse_values("1, -2,3e2"), [1.0, -2.0, 300.0])
    for bad in ["x", "x=1,x=2", "x=y", "sin=1", "x=1/0", "x=", "=1",
                "x=1,,y=2", "x=__import__('os')", "1x=2", "x=10**400"]:
        with pytest.raises(ExpressionError):
            parse_assignments(bad)
    for bad in ["", "1,,2", "a", "1;2"]:
        with pytest.raises(ExpressionError):
            parse_values(bad)


# ---------------------------------------------------------------------------
# The check command (AD replaced by a complex-step stand-in)
# ---------------------------------------------------------------------------

def _fake_forward(bias=0.0):
    """A stand-in for dualdiff.operators built on the complex step (exact to
    rounding for these expressions); ``bias`` makes its gradient wrong."""
    def gradient(f, x, args=(), mode="auto", chunk=None):
        return fd.gradient(f, x, args, method="complex") + bias

    def jacobian(f, x, args=(), mode="auto", chunk=None):
        return fd.jacobian(f, x, args, method="complex")

    def hessian(f, x, args=()):
        return fd.hessian(f, x, args, method="complex")

    return types.SimpleNamespace(gradient=gradient, jacobian=jacobian,
                                 hessian=hessian)


@pytest.fixture
def fake_ad(monkeypatch):
    def install(bias=0.0, **drop):
        fake = _fake_forward(bias)
        for name in drop:
            delattr(fake, name)
        for name in ("operators", "second"):
            monkeypatch.setattr(dualdiff, name, fake, raising=False)
            monkeypatch.setitem(sys.modules, f"dualdiff.{name}", fake)
        return fake
    return install


def test_cli_expression_gradient_table(fake_ad, capsys):
    fake_ad()
    assert main(["sin(x)*exp(y)", "--at", "x=1,y=2"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    lines = out.splitlines()
    assert lines[0].split() == ["function", "sin(x)*exp(y)"]
    assert "x = 1.0, y = 2.0" in lines[1]
    assert float(lines[2].split()[1]) == pytest.approx(math.sin(1) * math.exp(2))
    header = next(i for i, line in enumerate(lines) if "abs diff" in line)
    rows = {line.split()[0]: line.split() for line in lines[header + 1:header + 3]}
    assert float(rows["x"][1]) == pytest.approx(math.cos(1) * math.exp(2),
                                                rel=1e-15)
    assert float(rows["y"][2]) == pytest.approx(math.sin(1) * math.exp(2),
                                                rel=1e-12)
    # aligned: every row of the table has the same length
    assert len({len(line) for line in lines[header + 1:header + 3]}) == 1
    assert "PASSED" in out


def test_cli_hessian_and_method(fake_ad, capsys):
    fake_ad()
    assert main(["x**3 * y", "--at", "x=2,y=-1", "--hessian",
                 "--method", "central"]) == 0
    out = capsys.readouterr().out
    assert "hessian (AD vs finite differences, method central)" in out
    rows = [line.split() for line in out.splitlines() if line.startswith("  x, y")]
    assert float(rows[0][2]) == pytest.approx(12.0)  # d2/dxdy = 3 x**2
    assert out.count("PASSED") == 2


def test_cli_reports_disagreement_with_status_1(fake_ad, capsys):
    fake_ad(bias=1e-3)
    assert main(["x*y", "--at", "x=1,y=2"]) == 1
    out = capsys.readouterr().out
    assert "<-- FAIL" in out and "FAILED" in out


def test_cli_without_ad_hessian_shows_fd_and_fails_cleanly(fake_ad, capsys):
    fake_ad(hessian=True)
    assert main(["x*y", "--at", "x=1,y=2", "--hessian"]) == 2
    out, err = capsys.readouterr()
    assert "n/a" in out
    assert err.count("\n") == 1
    assert "AD hessian unavailable: dualdiff.operators has no hessian() yet" in err


def test_cli_vector_valued_module_function(fake_ad, capsys, tmp_path,
                                           monkeypatch):
    fake_ad()
    (tmp_path / "usermod_dd.py").write_text(
        "import numpy as np\n"
        "def f(x):\n"
        "    return np.array([x[0] * x[1], np.sin(x[1])])\n"
        "def g(x):\n"
        "    return np.sum(x ** 2)\n"
        "def boom(x):\n"
        "    raise RuntimeError('user code failed')\n")
    monkeypatch.chdir(tmp_path)
    assert main(["usermod_dd:g", "--at", "1,2"]) == 0
    out = capsys.readouterr().out
    assert "x[0]" in out and "x[1]" in out
    assert main(["usermod_dd:f", "--at", "1,2"]) == 0
    out = capsys.readouterr().out
    assert "jacobian" in out and "f[1] / x[1]" in out
    assert main(["usermod_dd:boom", "--at", "1,2"]) == 2
    out, err = capsys.readouterr()
    assert err == "dualdiff check: error: RuntimeError: user code failed\n"
    assert main(["usermod_dd:missing", "--at", "1"]) == 2
    assert "has no attribute" in capsys.readouterr().err
    assert main(["no_such_module_dd:f", "--at", "1"]) == 2
    assert "cannot import" in capsys.readouterr().err


@pytest.mark.parametrize("text", REFUSED[:6] + ["sin(x) +"])
def test_cli_refuses_with_one_line_and_status_2(text, capfd):
    assert main([text, "--at", "x=1"]) == 2
    out, err = capfd.readouterr()
    assert out == ""  # nothing ran: `echo hi` would print here
    assert err.startswith("dualdiff check: error: ")
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("argv, fragment", [
    (["x*y", "--at", "x=1,,y=2"], "name=value"),
    (["x*y", "--at", "x=1"], "no value given for variable 'y'"),
    (["x*y", "--at", "1,2"], "name=value"),
    (["x*y"], "--at"),
    (["x*y", "--at", "x=1,y=2", "--method", "simpson"], "invalid choice"),
    (["log(x)", "--at", "x=-1"], "not finite"),
    (["x", "--at", "x=1e999"], "not finite"),
    (["os.path:join", "--at", "1,2"], "standard-library module"),
    (["numpy:ufunc", "--at", "1,2"], "is not a Python function"),
])
def test_cli_bad_arguments(argv, fragment, capsys):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert fragment in err and err.count("\n") == 1


def test_cli_help(capsys):
    assert main(["--help"]) == 0
    assert "--at" in capsys.readouterr().out


def test_cli_in_a_subprocess_refuses_without_traceback():
    code = ("from dualdiff.cli.check import main; import sys; "
            "sys.exit(main(sys.argv[1:]))")
    result = subprocess.run(
        [sys.executable, "-c", code, "__import__('os').system('echo hi')",
         "--at", "x=1"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1


# ---------------------------------------------------------------------------
# Against AD (skipped only while dualdiff.forward cannot be imported)
# ---------------------------------------------------------------------------

@pytest.mark.skipif(not HAVE_AD, reason="dualdiff.forward not importable yet")
class TestAgainstAD:
    def test_cli_with_real_ad(self, capsys):
        assert main(["sin(x)*exp(y) + x**2", "--at", "x=1,y=2"]) == 0
        out = capsys.readouterr().out
        assert "PASSED" in out and "n/a" not in out

    def test_expression_function_differentiates(self):
        from dualdiff import operators as forward
        expr = parse_expression("x * exp(y)")
        g = forward.gradient(expr.function, np.array([2.0, 0.5]))
        np.testing.assert_allclose(g, [math.exp(0.5), 2 * math.exp(0.5)],
                                   rtol=1e-15)


def test_depth_is_nesting_not_length():
    """A sum of a thousand terms is flat; a hundred nested calls are deep."""
    long_sum = "+".join(["x"] * 1000)
    expr = parse_expression(long_sum)
    assert expr([0.5]) == 500.0
    with pytest.raises(ExpressionError, match="nested more than"):
        parse_expression("sin(" * 150 + "x" + ")" * 150)
    with pytest.raises(ExpressionError, match="longer than"):
        parse_expression("(" * 10_000 + "x" + ")" * 10_000)


def test_cli_warns_about_an_unused_variable(fake_ad, capsys):
    fake_ad()
    assert main(["sin(x)", "--at", "x=1,y=2"]) == 0
    out, err = capsys.readouterr()
    assert err.strip() == "dualdiff check: warning: y is not used by the expression"


def test_relative_difference_near_zero_uses_the_array_scale():
    from dualdiff.check import relative_differences
    rel = relative_differences(np.array([[2.0, 0.0], [0.0, 4.0]]),
                               np.array([[2.0, 1e-13], [-1e-13, 4.0]]))
    # 1e-13 against the largest entry times sqrt(eps), not against 1e-13 itself
    np.testing.assert_allclose(rel, [[0.0, 1e-13 / (4.0 * 2.0 ** -26)],
                                     [1e-13 / (4.0 * 2.0 ** -26), 0.0]], rtol=1e-15)
    assert relative_differences(np.array([3.0]), np.array([2.0]))[0] == 1.0 / 3.0
