"""The ``check`` subcommand: compare AD with finite differences from the shell.

::

    python -m dualdiff check "sin(x)*exp(y)" --at x=1,y=2 [--hessian]
    python -m dualdiff check mypkg.mymod:func --at 1,2 [--method central]

An expression is parsed with the whitelist of :mod:`dualdiff.cli.expr` (never
``eval``); ``module:function`` imports a function of a 1-D array (``--at``
gives its comma-separated values; write ``--at=-1,2`` when the first value is
negative).  The command prints the value, then AD and FD derivatives side by
side with their differences and tolerance.  Exit status: 0 when AD and FD
agree, 1 when they do not, 2 on errors (one line on stderr, no traceback).
"""

import argparse
import importlib
import os
import re
import sys
import types

import numpy as np

from .. import check
from .. import fd
from .expr import ExpressionError, parse_assignments, parse_expression, \
    parse_values

__all__ = ["main"]

_MODULE_TARGET = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")


class _CliError(Exception):
    """An error reported as one line on stderr with exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise _CliError(message)


def _parser():
    p = _Parser(
        prog="python -m dualdiff check",
        description="Compare automatic differentiation with finite "
                    "differences for an expression or a function.")
    p.add_argument("target", help='an expression such as "sin(x)*exp(y)", or '
                                  'module:function (a function of a 1-D array)')
    p.add_argument("--at", required=True,
                   help="the point: x=1,y=2 for an expression, 1,2 for a "
                        "function (use --at=-1,2 for a leading minus)")
    p.add_argument("--hessian", action="store_true",
                   help="also compare Hessians")
    p.add_argument("--method", default="richardson", choices=fd.METHODS,
                   help="finite-difference method (default: richardson)")
    return p


# ---------------------------------------------------------------------------
# Loading the function and the point
# ---------------------------------------------------------------------------

def _load(target, at):
    """Return (f, x, variable names, title)."""
    if _MODULE_TARGET.fullmatch(target):
        module_name, _, attr = target.partition(":")
        f = _import(module_name, attr)
        x = parse_values(at)
        names = [f"x[{i}]" for i in range(x.size)]
        return f, x, names, target
    point = parse_assignments(at)
    expr = parse_expression(target, variables=list(point))
    if not expr.variables:
        raise _CliError("the expression has no variables")
    used = parse_expression(target).variables
    unused = [name for name in point if name not in used]
    if unused:  # its derivative is 0, which checks nothing: likely a typo
        print(f"dualdiff check: warning: {', '.join(unused)} "
              f"{'is' if len(unused) == 1 else 'are'} not used by the expression",
              file=sys.stderr)
    x = np.array([point[name] for name in expr.variables])
    return expr.function, x, list(expr.variables), expr.text


def _import(module_name, attr):
    if module_name.split(".")[0] in sys.stdlib_module_names:
        raise _CliError(f"{module_name!r} is a standard-library module: check a function "
                        "of your own (pkg.mod:func)")
    added = os.getcwd() not in sys.path
    if added:  # like `python -m`, find modules in the current directory
        sys.path.insert(0, os.getcwd())
    try:
        obj = importlib.import_module(module_name)
    except Exception as exc:
        raise _CliError(f"cannot import {module_name!r}: "
                        f"{type(exc).__name__}: {_first_line(exc)}") from None
    finally:
        if added:
            sys.path.remove(os.getcwd())
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise _CliError(f"{module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    plain = getattr(obj, "_dualdiff_function", obj)        # @dd.differentiable
    plain = getattr(plain, "py_func", plain)               # a Numba dispatcher
    if not isinstance(plain, types.FunctionType):
        raise _CliError(f"{module_name}:{attr} is not a Python function "
                        f"({type(obj).__name__}); check a function written in Python")
    return obj


def _first_line(exc):
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


# ---------------------------------------------------------------------------
# Computing and printing
# ---------------------------------------------------------------------------

def _ad(name, f, x):
    """AD result or (None, reason)."""
    try:
        return check.ad_operator(name)(f, x), None
    except check.ADUnavailableError as exc:
        return None, getattr(exc, "reason", _first_line(exc))
    except Exception as exc:  # report, do not crash: FD is still shown
        return None, f"{type(exc).__name__}: {_first_line(exc)}"


def _table(title, labels, ad, fdv, report, out):
    width = max(8, *(len(label) for label in labels))
    rel = None if ad is None else check.relative_differences(ad, fdv)
    print(f"\n{title}", file=out)
    print(f"  {'':<{width}}  {'AD':>24}  {'FD':>24}  {'abs diff':>9}  "
          f"{'rel diff':>9}  {'tolerance':>9}", file=out)
    for k, label in enumerate(labels):
        f_val = fdv.flat[k]
        if ad is None:
            row = f"{'n/a':>24}  {f_val:>24.16e}"
        else:
            a = ad.flat[k]
            d = abs(a - f_val)
            flag = "" if d <= report.tolerance.flat[k] else "  <-- FAIL"
            row = (f"{a:>24.16e}  {f_val:>24.16e}  {d:>9.2e}  {rel.flat[k]:>9.2e}  "
                   f"{report.tolerance.flat[k]:>9.2e}{flag}")
        print(f"  {label:<{width}}  {row}", file=out)
    if report is not None:
        status = "PASSED" if report.passed else "FAILED"
        print(f"  {status}: max abs diff {report.max_abs_error:.3g}, max rel "
              f"diff {report.max_rel_error:.3g} (tolerance from the FD error "
              f"estimate)", file=out)


def _one_check(kind, f, x, method):
    """One AD-vs-FD comparison: (FD value, AD value or None, report or None,
    why AD is missing or None)."""
    with np.errstate(all="ignore"):
        fd_fn = {"gradient": fd.gradient, "jacobian": fd.jacobian,
                 "hessian": fd.hessian}[kind]
        fdv, info = fd_fn(f, x, method=method, full_output=True)
        ad, reason = _ad(kind, f, x)
    report = None
    if ad is not None:
        try:
            ad = check.shaped(ad, fdv.shape, f"AD {kind}")
        except ValueError as exc:
            ad, reason = None, str(exc)
    if ad is not None:
        report = check.compare(ad, fdv, info.error_estimate, kind=kind,
                               labels=("AD", "FD"), method=method)
    return fdv, ad, report, reason


def _labels(kind, names, shape):
    if kind == "gradient":
        return names
    if kind == "hessian":
        return [f"{a}, {b}" for a in names for b in names]
    return [f"f[{i}] / {name}" for i in range(shape[0]) for name in names]


def _run(opts, out):
    f, x, names, title = _load(opts.target, opts.at)
    with np.errstate(all="ignore"):
        value = np.asarray(f(x.copy()))
    if value.dtype.kind not in "biuf":
        raise _CliError(f"the function returned {value.dtype} values, not "
                        "real numbers")
    if not np.all(np.isfinite(value)):
        raise _CliError(f"the function is not finite at this point "
                        f"(value {value})")
    print(f"function  {title}", file=out)
    print("point     " + ", ".join(f"{n} = {v!r}" for n, v in
                                     zip(names, x.tolist())), file=out)
    print(f"value     {value.tolist()!r}", file=out)

    kinds = ["gradient" if value.size == 1 else "jacobian"]
    if opts.hessian:
        if value.size != 1:
            raise _CliError("--hessian needs a scalar-valued function")
        kinds.append("hessian")
    passed, problems = True, []
    for kind in kinds:
        fdv, ad, report, reason = _one_check(kind, f, x, opts.method)
        _table(f"{kind} (AD vs finite differences, method {opts.method})",
               _labels(kind, names, fdv.shape), ad, fdv, report, out)
        if reason is not None:
            problems.append(f"AD {kind} unavailable: {reason}")
        else:
            passed &= report.passed
    if problems:
        raise _CliError("; ".join(problems))
    return 0 if passed else 1


def main(argv=None):
    """Run ``check`` with command-line arguments ``argv``; return the exit
    status (0 AD and FD agree, 1 they disagree, 2 error).

    Examples
    --------
    >>> from dualdiff.cli.check import main
    >>> main(["x.real", "--at", "x=1"])  # refused: prints one line to stderr
    2
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        opts = _parser().parse_args(argv)
    except _CliError as exc:
        _error(f"{exc} (see --help)")
        return 2
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0
    try:
        return _run(opts, sys.stdout)
    except (_CliError, ExpressionError) as exc:
        _error(str(exc))
    except Exception as exc:  # the user's function failed: no traceback
        _error(f"{type(exc).__name__}: {_first_line(exc)}")
    return 2


def _error(message):
    print(f"dualdiff check: error: {message}", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
