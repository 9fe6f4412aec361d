"""Array programming on dual arrays inside compiled code (issue 3).

Every function is written twice, as array code and as loops over scalar
duals; both must agree to 1e-13 and match a hand-derived closed form.  The
module-level filter turns any FallbackWarning into an error, so each test
really ran compiled.  User functions are module-level and shared across
parametrized inputs (Numba compiles are slow).
"""

import math

import numpy as np
import pytest

import dualdiff as dd
from dualdiff import rules
from dualdiff.arrays import empty, explain_compile_failure, zeros

pytestmark = pytest.mark.filterwarnings("error::dualdiff.FallbackWarning")

RNG = np.random.default_rng(3)
TOL = dict(rtol=1e-13, atol=1e-13)
CH = 4   # one chunk size for every test: kernels compiled once are shared


def close(a, b, **tol):
    np.testing.assert_allclose(a, b, **(tol or TOL))


# ---------------------------------------------------------------------------
# tanh(W @ x + b): Jacobian diag(1 - tanh^2) W
# ---------------------------------------------------------------------------

def layer(x, W, b):
    return np.tanh(W @ x + b)


def layer_loops(x, W, b):
    out = zeros(W.shape[0], x)
    for i in range(W.shape[0]):
        s = b[i]
        for j in range(len(x)):
            s = s + W[i, j] * x[j]
        out[i] = np.tanh(s)
    return out


@pytest.mark.parametrize("m, n", [(3, 5), (6, 2)])
def test_tanh_layer_jacobian(m, n):
    W, b, x = RNG.normal(size=(m, n)), RNG.normal(size=m), RNG.normal(size=n)
    y = np.tanh(W @ x + b)
    J = dd.jacobian(layer, x, args=(W, b), chunk=CH)
    close(J, (1 - y ** 2)[:, None] * W)
    close(dd.jacobian(layer_loops, x, args=(W, b), chunk=CH), J)


# ---------------------------------------------------------------------------
# softmax: Jacobian diag(s) - s s^T
# ---------------------------------------------------------------------------

def softmax(x):
    e = np.exp(x - np.max(x))
    return e / np.sum(e)


def softmax_loops(x):
    m = x[0]
    for i in range(1, len(x)):
        m = max(m, x[i])
    e = np.empty_like(x)
    total = 0.0
    for i in range(len(x)):
        e[i] = np.exp(x[i] - m)
        total += e[i]
    for i in range(len(x)):
        e[i] = e[i] / total
    return e


@pytest.mark.parametrize("n", [3, 7])
def test_softmax_jacobian(n):
    x = RNG.normal(size=n)
    s = np.exp(x - x.max()) / np.exp(x - x.max()).sum()
    J = dd.jacobian(softmax, x, chunk=CH)
    close(J, np.diag(s) - np.outer(s, s))
    close(dd.jacobian(softmax_loops, x, chunk=CH), J)


# ---------------------------------------------------------------------------
# log-sum-exp of A @ x: gradient A^T softmax(A x)
# ---------------------------------------------------------------------------

def logsumexp(x, A):
    z = A @ x
    m = np.max(z)
    return m + np.log(np.sum(np.exp(z - m)))


def logsumexp_loops(x, A):
    z = zeros(A.shape[0], x)
    for i in range(A.shape[0]):
        for j in range(len(x)):
            z[i] = z[i] + A[i, j] * x[j]
    m = z[0]
    for i in range(len(z)):
        if z[i] > m:
            m = z[i]
    s = 0.0
    for i in range(len(z)):
        s += np.exp(z[i] - m)
    return m + np.log(s)


@pytest.mark.parametrize("m, n", [(4, 3), (9, 6)])
def test_logsumexp_gradient(m, n):
    A, x = RNG.normal(size=(m, n)), RNG.normal(size=n)
    z = A @ x
    p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    g = dd.gradient(logsumexp, x, args=(A,), chunk=CH)
    close(g, A.T @ p)
    close(dd.gradient(logsumexp_loops, x, args=(A,), chunk=CH), g)


# ---------------------------------------------------------------------------
# MLP loss w.r.t. a batch of inputs (rows of a 2-D matrix)
# ---------------------------------------------------------------------------

def mlp_loss(x, W1, b1, w2, b2, y):
    X = x.reshape((len(y), W1.shape[1]))
    H = np.tanh(X @ W1.T + b1)                  # (B, h): dual @ float, + row
    out = 1.0 / (1.0 + np.exp(-(H @ w2 + b2)))   # sigmoid, (B,)
    return np.mean((out - y) ** 2)


def mlp_loss_loops(x, W1, b1, w2, b2, y):
    B, d, h = len(y), W1.shape[1], W1.shape[0]
    total = 0.0
    for r in range(B):
        z = b2
        for k in range(h):
            pre = b1[k]
            for j in range(d):
                pre = pre + W1[k, j] * x[r * d + j]
            z = z + w2[k] * np.tanh(pre)
        out = 1.0 / (1.0 + np.exp(-z))
        total = total + (out - y[r]) ** 2
    return total / B


def mlp_gradient(x, W1, b1, w2, b2, y):
    X = x.reshape((len(y), W1.shape[1]))
    H = np.tanh(X @ W1.T + b1)
    out = 1.0 / (1.0 + np.exp(-(H @ w2 + b2)))
    dz = 2.0 * (out - y) / len(y) * out * (1.0 - out)        # (B,)
    return ((dz[:, None] * w2[None, :] * (1.0 - H ** 2)) @ W1).ravel()


@pytest.mark.parametrize("batch, d, h", [(2, 3, 4), (5, 4, 8)])
def test_mlp_input_gradient(batch, d, h):
    W1, b1 = RNG.normal(size=(h, d)), RNG.normal(size=h)
    w2, b2, y = RNG.normal(size=h), 0.3, RNG.uniform(size=batch)
    x = RNG.normal(size=batch * d)
    args = (W1, b1, w2, b2, y)
    g = dd.gradient(mlp_loss, x, args=args, chunk=CH)
    close(g, mlp_gradient(x, *args))
    close(dd.gradient(mlp_loss_loops, x, args=args, chunk=CH), g)
    close(dd.fd.gradient(mlp_loss, x, args=args), g, rtol=1e-6, atol=1e-8)


# ---------------------------------------------------------------------------
# Broadcasting and operand orders
# ---------------------------------------------------------------------------

ROW = np.array([0.5, -2.0, 3.0])
COL = np.array([[2.0], [-1.0]])


def broadcasts(x):
    X = x.reshape((2, 3))
    s = x[4]                                   # a scalar dual
    return np.concatenate((
        (X + ROW).ravel(), (ROW - X).ravel(), (X - ROW).ravel(), (s * X).ravel(),
        (X * s).ravel(), (2.0 - X).ravel(), (X - 2).ravel(), (X / 4.0).ravel(),
        (4.0 / X).ravel(), (COL * X).ravel(), (X * ROW).ravel(), (-X).ravel(),
        (ROW ** X).ravel(), (X ** 2).ravel(), (X ** 1.5).ravel(), s + ROW, ROW / s,
        (X + X[0]).ravel(), x[0] * ROW - x[1]))


def broadcasts_loops(x):
    out = zeros(6 * 16 + 3 * 3, x)
    k = 0
    for op in range(16):
        for i in range(2):
            for j in range(3):
                v = x[3 * i + j]
                s = x[4]
                r = ROW[j]
                c = COL[i, 0]
                if op == 0:
                    out[k] = v + r
                elif op == 1:
                    out[k] = r - v
                elif op == 2:
                    out[k] = v - r
                elif op == 3:
                    out[k] = s * v
                elif op == 4:
                    out[k] = v * s
                elif op == 5:
                    out[k] = 2.0 - v
                elif op == 6:
                    out[k] = v - 2
                elif op == 7:
                    out[k] = v / 4.0
                elif op == 8:
                    out[k] = 4.0 / v
                elif op == 9:
                    out[k] = c * v
                elif op == 10:
                    out[k] = v * r
                elif op == 11:
                    out[k] = -v
                elif op == 12:
                    out[k] = r ** v
                elif op == 13:
                    out[k] = v ** 2
                elif op == 14:
                    out[k] = v ** 1.5
                else:
                    out[k] = v + x[j]
                k += 1
    for j in range(3):
        out[k] = x[4] + ROW[j]
        k += 1
    for j in range(3):
        out[k] = ROW[j] / x[4]
        k += 1
    for j in range(3):
        out[k] = x[0] * ROW[j] - x[1]
        k += 1
    return out


def _reorder_broadcasts(J):
    # broadcasts() puts "X + X[0]" (op 15) after "ROW / s"; the loop twin keeps
    # the 16 matrix ops together
    blocks = [J[6 * i: 6 * i + 6] for i in range(15)]
    s_plus, s_div = J[90:93], J[93:96]
    x_plus, last = J[96:102], J[102:105]
    return np.vstack(blocks + [x_plus, s_plus, s_div, last])


def test_broadcasting_all_orders():
    x = np.array([0.7, 1.3, 0.4, 2.1, 0.9, 1.6])
    J = dd.jacobian(broadcasts, x, chunk=CH)
    close(_reorder_broadcasts(J), dd.jacobian(broadcasts_loops, x, chunk=CH))
    I = np.eye(6)
    close(J[0:6], I)                                        # X + ROW
    close(J[6:12], -I)                                      # ROW - X
    e4 = np.zeros(6)
    e4[4] = 1.0
    close(J[18:24], x[4] * I + np.outer(x, e4))             # s * X
    close(J[48:54], np.diag(-4.0 / x ** 2))                 # 4 / X
    close(J[54:60], np.diag(np.repeat(COL[:, 0], 3)))       # COL * X
    close(J[84:90], np.diag(1.5 * x ** 0.5))                # X ** 1.5
    close(J[93:96], -np.outer(ROW / x[4] ** 2, e4))         # ROW / s


def broadcast_mismatch(x):
    return x + np.ones(len(x) + 1)


def test_broadcast_mismatch_raises():
    with pytest.raises(ValueError, match="broadcast"):
        dd.jacobian(broadcast_mismatch, np.ones(3), chunk=CH)


def inplace(x):
    y = x.copy()
    y += 1.0
    y *= x
    y -= 0.5 * x
    y /= 2.0
    y **= 2
    z = x.copy()
    z[1:] += z[:-1]         # overlapping operands: NumPy semantics (old values)
    return np.concatenate((y, z))


def test_inplace_operators_and_overlap():
    x = np.array([0.5, -1.5, 2.0, 0.25])
    value, J = dd.value_and_jacobian(inplace, x, chunk=CH)
    u = ((x + 1.0) * x - 0.5 * x) / 2.0
    du = (2 * x + 1.0 - 0.5) / 2.0
    close(value[:4], u ** 2)
    close(J[:4], np.diag(2 * u * du))
    close(value[4:], np.r_[x[0], x[1:] + x[:-1]])
    close(J[4:], np.eye(4) + np.eye(4, k=-1))


# ---------------------------------------------------------------------------
# Every rule of the table, elementwise vs the scalar rule
# ---------------------------------------------------------------------------

def _unary_array_source():
    body = ["def all_unary(x, lo, span):"]
    names = []
    for k, rule in enumerate(rules.UNARY):
        fn = f"np.{rule.numpy_name}" if rule.numpy_name else f"rules.{rule.name}"
        body.append(f"    p{k} = {fn}(lo[{k}] + span[{k}] * x)")
        names.append(f"p{k}")
    body.append(f"    return np.concatenate(({', '.join(names)},))")
    return "\n".join(body) + "\n"


_ns = {"np": np, "rules": rules, "zeros": zeros}
exec(_unary_array_source(), _ns)
all_unary = _ns["all_unary"]
UNARY_LO = np.array([r.domain[0] for r in rules.UNARY], dtype=float)
UNARY_SPAN = np.array([r.domain[1] - r.domain[0] for r in rules.UNARY], dtype=float)


def test_every_unary_rule_elementwise():
    x = np.array([0.13, 0.52, 0.87])    # inside (0, 1): lo + span * x is in the domain
    lo, span = UNARY_LO, UNARY_SPAN
    value, J = dd.value_and_jacobian(all_unary, x, args=(lo, span), chunk=CH)
    n = len(x)
    for k, rule in enumerate(rules.UNARY):
        t = lo[k] + span[k] * x
        y = np.array([rule.value(float(ti)) for ti in t])
        d = np.array([rule.d1(float(ti), float(yi)) for ti, yi in zip(t, y)]) * span[k]
        close(value[k * n:(k + 1) * n], y, rtol=1e-13, atol=0)
        close(J[k * n:(k + 1) * n], np.diag(d), rtol=1e-12, atol=1e-300)


def binary_ops(x):
    u = x[:3]
    v = x[3:]
    F = np.array([0.5, -0.7, 1.2])
    parts = (np.arctan2(u, v), np.arctan2(F, u), np.hypot(u, v), np.hypot(u, 2.0),
             np.logaddexp(u, v), np.logaddexp(0.0, u), np.copysign(u, F),
             np.maximum(u, v), np.minimum(u, F), np.maximum(0.0, u - 0.6), np.fmax(u, v),
             np.fmin(F, v), np.power(u, v), np.power(u, 3), np.clip(u, 0.2, 0.8),
             np.where(u > v, u, v), np.where(u > 0.5, u * v, 1.0), np.where(F < 0, x[0], u))
    return np.concatenate(parts)


def binary_ops_loops(x):
    F = np.array([0.5, -0.7, 1.2])
    out = zeros(18 * 3, x)
    for i in range(3):
        a = x[i]
        b = x[3 + i]
        f = F[i]
        vals = (np.arctan2(a, b), np.arctan2(f, a), np.hypot(a, b), np.hypot(a, 2.0),
                np.logaddexp(a, b), np.logaddexp(0.0, a), np.copysign(a, f),
                np.maximum(a, b), np.minimum(a, f), np.maximum(0.0, a - 0.6), np.fmax(a, b),
                np.fmin(f, b), a ** b, a ** 3, np.clip(a, 0.2, 0.8),
                a if a > b else b, a * b if a > 0.5 else a * 0.0 + 1.0,
                x[0] if f < 0 else a)
        for k in range(18):
            out[3 * k + i] = vals[k]
    return out


def test_binary_rules_and_selections_elementwise():
    x = np.array([0.3, 0.9, 0.55, 0.8, 0.1, 1.4])
    value, J = dd.value_and_jacobian(binary_ops, x, chunk=CH)
    value_l, J_l = dd.value_and_jacobian(binary_ops_loops, x, chunk=CH)
    close(value, value_l)
    close(J, J_l)
    u, v = x[:3], x[3:]
    r2 = u ** 2 + v ** 2
    close(J[0:3, :3], np.diag(v / r2))                       # d atan2(u, v) / du
    close(J[0:3, 3:], np.diag(-u / r2))
    sel = np.where(u >= v, 1.0, 0.0)                        # maximum: ties -> first
    close(J[21:24, :3], np.diag(sel))
    close(J[36:39, :3], np.diag(v * u ** (v - 1)))          # u ** v
    close(J[36:39, 3:], np.diag(u ** v * np.log(u)))
    close(J[42:45, :3], np.diag(((u > 0.2) & (u < 0.8)).astype(float)))


# ---------------------------------------------------------------------------
# Reductions, with and without axis
# ---------------------------------------------------------------------------

def reductions(x):
    X = x.reshape((3, 4))
    out = zeros(7, x)
    out[0] = np.sum(X)
    out[1] = X.prod()
    out[2] = X.mean()
    out[3] = np.max(X)
    out[4] = X.min()
    out[5] = np.dot(x, x)
    out[6] = np.linalg.norm(x)
    parts = (out, X.sum(axis=0), np.sum(X, axis=1), np.prod(X, axis=0), X.prod(axis=-1),
             np.mean(X, axis=0), X.mean(axis=1), X.max(axis=0), np.max(X, axis=1),
             np.min(X, axis=0), X.min(axis=1), np.cumsum(X, axis=0).ravel(),
             X.cumsum(axis=1).ravel(), np.cumsum(x), x.sum(axis=0) + x[:1])
    return np.concatenate(parts)


def reductions_loops(x):
    out = zeros(7 + 4 + 3 + 4 + 3 + 4 + 3 + 4 + 3 + 4 + 3 + 12 + 12 + 12 + 1, x)
    n = len(x)
    s = 0.0
    p = 1.0
    mx = x[0]
    mn = x[0]
    d = 0.0
    for i in range(n):
        s = s + x[i]
        p = p * x[i]
        if x[i] > mx:
            mx = x[i]
        if x[i] < mn:
            mn = x[i]
        d = d + x[i] * x[i]
    out[0] = s
    out[1] = p
    out[2] = s / n
    out[3] = mx
    out[4] = mn
    out[5] = d
    out[6] = np.sqrt(d)
    k = 7
    for kind in range(10):
        outer = 4 if kind % 2 == 0 else 3
        inner = 3 if kind % 2 == 0 else 4
        for a in range(outer):
            acc = x[a] if kind % 2 == 0 else x[4 * a]
            for b in range(1, inner):
                e = x[4 * b + a] if kind % 2 == 0 else x[4 * a + b]
                if kind < 2 or kind == 4 or kind == 5:
                    acc = acc + e
                elif kind < 4:
                    acc = acc * e
                elif kind < 8:
                    if e > acc:
                        acc = e
                else:
                    if e < acc:
                        acc = e
            if kind == 4 or kind == 5:
                acc = acc / inner
            out[k] = acc
            k += 1
    for a in range(3):
        for b in range(4):
            acc = x[b]
            for r in range(1, a + 1):
                acc = acc + x[4 * r + b]
            out[k] = acc
            k += 1
    for a in range(3):
        acc = x[4 * a]
        out[k] = acc
        k += 1
        for b in range(1, 4):
            acc = acc + x[4 * a + b]
            out[k] = acc
            k += 1
    acc = x[0] * 0.0
    for i in range(n):
        acc = acc + x[i]
        out[k] = acc
        k += 1
    out[k] = s + x[0]
    return out


def test_reductions_with_and_without_axis():
    x = np.array([0.7, 1.3, -0.4, 2.1, 0.9, 1.6, -1.2, 0.45, 1.1, -0.8, 0.35, 1.9])
    value, J = dd.value_and_jacobian(reductions, x, chunk=CH)
    value_l, J_l = dd.value_and_jacobian(reductions_loops, x, chunk=CH)
    close(value, value_l)
    close(J, J_l)
    close(J[0], np.ones(12))                               # sum
    close(J[1], np.prod(x) / x)                            # prod
    close(J[3], np.eye(12)[np.argmax(x)])                  # max
    close(J[5], 2 * x)                                     # dot(x, x)
    close(J[6], x / np.linalg.norm(x))                     # norm


def tied_max(x):
    X = x.reshape((2, 2))
    return np.concatenate((X.max(axis=0), X.min(axis=1), np.maximum(x, x[::-1])))


def test_max_min_ties_go_to_the_first():
    J = dd.jacobian(tied_max, np.array([1.0, 1.0, 1.0, 1.0]), chunk=CH)
    close(J[0], [1, 0, 0, 0])    # column 0: X[0, 0] wins the tie
    close(J[1], [0, 1, 0, 0])
    close(J[2], [1, 0, 0, 0])    # row 0: X[0, 0]
    close(J[3], [0, 0, 1, 0])
    close(J[4:], np.eye(4))      # maximum(a, b) ties -> a


# ---------------------------------------------------------------------------
# Matrix products in every order, BLAS vs loops; nested duals (Hessian)
# ---------------------------------------------------------------------------

A42 = RNG.normal(size=(4, 2))
A33 = RNG.normal(size=(3, 3))
B32 = RNG.normal(size=(3, 2))
V2 = RNG.normal(size=2)
V3 = RNG.normal(size=3)


def products(x):
    X = x[:6].reshape((2, 3))
    y = x[6:]
    out = zeros(3, x)
    out[0] = V3 @ y
    out[1] = y @ V3
    out[2] = np.dot(y, y)
    parts = (out, (A42 @ X).ravel(), A33 @ y, V2 @ X, (X @ B32).ravel(), X @ V3, y @ A33,
             (X @ X.T).ravel(), X @ y, y @ X.T, np.dot(A33, y), X.dot(y),
             (X.T @ X).ravel())
    return np.concatenate(parts)


V3R, V3C, V2R = V3.reshape(1, 3), V3.reshape(3, 1), V2.reshape(1, 2)


def _mm(a, b, x):
    # loop matmul of two 2-D dual arrays
    out = zeros((a.shape[0], b.shape[1]), x)
    for i in range(a.shape[0]):
        for j in range(b.shape[1]):
            s = a[i, 0] * b[0, j]
            for k in range(1, a.shape[1]):
                s = s + a[i, k] * b[k, j]
            out[i, j] = s
    return out


def _lift(M, x):
    # a float matrix as constant duals (so _mm compiles once)
    out = zeros(M.shape, x)
    for i in range(M.shape[0]):
        for j in range(M.shape[1]):
            out[i, j] = M[i, j]
    return out


def products_loops(x):
    X = zeros((2, 3), x)
    XT = zeros((3, 2), x)
    y = zeros((3, 1), x)
    yT = zeros((1, 3), x)
    for i in range(2):
        for j in range(3):
            X[i, j] = x[3 * i + j]
            XT[j, i] = x[3 * i + j]
    for j in range(3):
        y[j, 0] = x[6 + j]
        yT[0, j] = x[6 + j]
    v3r, v3c, v2r = _lift(V3R, x), _lift(V3C, x), _lift(V2R, x)
    a42, a33, b32 = _lift(A42, x), _lift(A33, x), _lift(B32, x)
    return np.concatenate((
        _mm(v3r, y, x).ravel(), _mm(yT, v3c, x).ravel(), _mm(yT, y, x).ravel(),
        _mm(a42, X, x).ravel(), _mm(a33, y, x).ravel(), _mm(v2r, X, x).ravel(),
        _mm(X, b32, x).ravel(), _mm(X, v3c, x).ravel(), _mm(yT, a33, x).ravel(),
        _mm(X, XT, x).ravel(), _mm(X, y, x).ravel(), _mm(yT, XT, x).ravel(),
        _mm(a33, y, x).ravel(), _mm(X, y, x).ravel(), _mm(XT, X, x).ravel()))


def test_matmul_every_order_matches_loops():
    x = RNG.normal(size=9)
    value, J = dd.value_and_jacobian(products, x, chunk=CH)
    value_l, J_l = dd.value_and_jacobian(products_loops, x, chunk=CH)
    close(value, value_l)
    close(J, J_l)
    X = x[:6].reshape(2, 3)
    close(value[3:15], (A42 @ X).ravel())
    close(J[15:18, 6:], A33)                                   # d(A y)/dy


def quadratic_products(x):
    X = x[:6].reshape((2, 3))
    y = x[6:]
    G = X @ X.T
    return np.sum(G * G) + y @ (A33 @ y) + np.sum(np.tanh(X @ y))


def quadratic_products_loops(x):
    s = 0.0
    for i in range(2):
        for j in range(2):
            g = 0.0
            for k in range(3):
                g = g + x[3 * i + k] * x[3 * j + k]
            s = s + g * g
    for i in range(3):
        t = 0.0
        for j in range(3):
            t = t + A33[i, j] * x[6 + j]
        s = s + x[6 + i] * t
    for i in range(2):
        t = 0.0
        for k in range(3):
            t = t + x[3 * i + k] * x[6 + k]
        s = s + np.tanh(t)
    return s


def test_hessian_through_products_nested_duals():
    x = RNG.normal(size=9)
    H = dd.hessian(quadratic_products, x)
    close(H, dd.hessian(quadratic_products_loops, x), rtol=1e-12, atol=1e-12)
    X, y = x[:6].reshape(2, 3), x[6:]
    t = np.tanh(X @ y)
    tanh2 = -2.0 * t * (1.0 - t ** 2)                    # tanh''
    close(H[6:, 6:], A33 + A33.T + (X.T * tanh2) @ X, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------
# Slicing, shapes, joining, masks, where, allocation
# ---------------------------------------------------------------------------

def shapes(x):
    X = x.reshape((3, 4))
    Y = np.zeros_like(X)
    Y[0] = X[2]                     # row assignment
    Y[1, :] = 2.0 * X[1]
    Y[2, 1:3] = ROW[:2]             # float values become constants
    Y[:, 3] = X[:, 0]
    parts = (X[1], X[:, 2], X[1:, :2].ravel(), X.T.ravel(), np.transpose(X)[0],
             X.flatten(), np.ravel(X[::2]), np.reshape(x, (4, 3))[3],
             np.concatenate((X[0], X[1], ROW)), np.stack((X[0], X[2]), axis=1).ravel(),
             np.stack((x[:3], x[3:6])).ravel(), x[x > 1.0], X[X < 0.5],
             x[np.array([3, 0, -1])], Y.ravel(), np.concatenate((X, X[:1]), axis=0)[3])
    return np.concatenate(parts)


def shapes_loops(x):
    out = []
    for j in range(4):
        out.append(x[4 + j])
    for i in range(3):
        out.append(x[4 * i + 2])
    for i in range(1, 3):
        for j in range(2):
            out.append(x[4 * i + j])
    for j in range(4):
        for i in range(3):
            out.append(x[4 * i + j])
    for i in range(3):
        out.append(x[4 * i])
    for i in range(12):
        out.append(x[i])
    for i in (0, 2):
        for j in range(4):
            out.append(x[4 * i + j])
    for j in range(3):
        out.append(x[9 + j])
    for i in range(8):
        out.append(x[i])
    for j in range(3):
        out.append(x[j] * 0.0 + ROW[j])
    for j in range(4):
        out.append(x[j])
        out.append(x[8 + j])
    for i in range(6):
        out.append(x[i])
    for i in range(12):
        if x[i] > 1.0:
            out.append(x[i])
    for i in range(12):
        if x[i] < 0.5:
            out.append(x[i])
    out.append(x[3])
    out.append(x[0])
    out.append(x[11])
    for j in range(3):                  # Y[0] = X[2], then Y[:, 3] = X[:, 0]
        out.append(x[8 + j])
    out.append(x[0])
    for j in range(3):
        out.append(2.0 * x[4 + j])
    out.append(x[4])
    out.append(x[8] * 0.0)
    out.append(x[0] * 0.0 + ROW[0])
    out.append(x[0] * 0.0 + ROW[1])
    out.append(x[8])
    for j in range(4):                  # concatenate((X, X[:1]))[3] = X[0]
        out.append(x[j])
    return out


def test_slicing_shapes_joining_and_masks():
    x = np.array([0.7, 1.3, -0.4, 2.1, 0.9, 1.6, -1.2, 0.45, 1.1, -0.8, 0.35, 1.9])
    value, J = dd.value_and_jacobian(shapes, x, chunk=CH)
    value_l, J_l = dd.value_and_jacobian(shapes_loops, x, chunk=CH)
    close(value, value_l)
    close(J, J_l)


def allocations(x):
    out = zeros((2, len(x)), x)
    scratch = empty(len(x), x)
    for i in range(len(x)):
        scratch[i] = x[i] * x[i]
        out[0, i] = scratch[i]
        out[1, i] = 3.0
    return out


def test_allocation_helpers_compiled_and_plain():
    import numba
    x = np.array([0.5, -2.0, 1.5])
    value, J = dd.value_and_jacobian(allocations, x, chunk=CH)
    close(value, np.vstack((x ** 2, np.full(3, 3.0))))
    close(J, np.stack((np.diag(2 * x), np.zeros((3, 3)))))
    # the same function on floats: plain Python and plain numba.njit
    close(allocations(x), np.vstack((x ** 2, np.full(3, 3.0))))
    close(numba.njit(allocations)(x), np.vstack((x ** 2, np.full(3, 3.0))))
    assert numba.njit(allocations)(x).dtype == np.float64


def test_allocation_helpers_python_duals_and_bad_input():
    d = dd.Dual(1.0, 2.0, 3.0, tag=0)
    z = zeros(2, d)
    assert z.shape == (2,) and z[0].value == 0.0 and list(z[0].partials) == [0.0, 0.0]
    nested = dd.Dual(dd.Dual(1.0, 1.0), dd.Dual(0.0, 0.0))
    zn = empty((1, 2), nested)
    assert zn.shape == (1, 2) and isinstance(zn[0, 1].value, dd.Dual)
    with pytest.raises(TypeError, match="shape"):
        zeros(2.5, 1.0)
    with pytest.raises(ValueError, match="negative"):
        zeros((2, -1), 1.0)
    with pytest.raises(TypeError, match="like"):
        zeros(2, "abc")


# ---------------------------------------------------------------------------
# Explaining compile failures
# ---------------------------------------------------------------------------

A_SOLVE = np.eye(3)


def stores_dual_in_float_array(x):
    out = np.zeros(len(x))
    for i in range(len(x)):
        out[i] = x[i] * 2.0
    return out


def unsupported_solve(x):
    return np.linalg.solve(A_SOLVE, x)


def gamma_has_no_rule(x):
    return math.gamma(x[0])


def _compile_error(f):
    import numba
    from dualdiff._engine.drivers import input_type
    in_type, _ = input_type("chunked", 2)
    with pytest.raises(Exception) as info:
        numba.njit(f).compile((in_type,))
    return info.value


def test_explain_compile_failure():
    msg = explain_compile_failure(_compile_error(stores_dual_in_float_array))
    assert msg is not None and "float array" in msg and "dualdiff.arrays.zeros" in msg
    msg = explain_compile_failure(_compile_error(unsupported_solve))
    assert msg.startswith("np.linalg.solve is not supported on dual arrays")
    # a math function is named as such (it was "np.random.gamma"), and has no rule
    msg = explain_compile_failure(_compile_error(gamma_has_no_rule))
    assert msg.startswith("math.gamma has no derivative rule")
    assert explain_compile_failure(ValueError("unrelated")) is None


def test_the_python_path_names_a_math_function_without_a_rule():
    with pytest.warns(dd.FallbackWarning, match="math.gamma has no derivative rule"):
        with pytest.raises(TypeError, match="math.gamma has no derivative rule"):
            dd.gradient(gamma_has_no_rule, np.array([1.5, 2.0]))


# ---------------------------------------------------------------------------
# Smaller spellings: abs, 2-D in-place broadcasting, scalar where, argmax,
# Frobenius norm, unary +/-
# ---------------------------------------------------------------------------

def extras(x):
    X = x.reshape((2, 3))
    Y = X.copy()
    Y += ROW                                  # 2-D in-place, broadcast row
    Y *= 2.0
    out = zeros(3, x)
    out[0] = np.where(x[0] > 0.0, x[0], 1.0)  # scalar condition: a scalar dual
    out[1] = x[np.argmax(x)]
    out[2] = np.linalg.norm(X)
    return np.concatenate((abs(x), Y.ravel(), out, np.negative(+x), x.T))


def test_abs_inplace_2d_scalar_where_argmax_frobenius():
    x = np.array([0.7, -1.3, 0.4, 2.1, -0.9, 1.6])
    value, J = dd.value_and_jacobian(extras, x, chunk=CH)
    I = np.eye(6)
    close(value[:6], np.abs(x))
    close(J[:6], np.diag(np.sign(x)))
    close(value[6:12], 2.0 * (x.reshape(2, 3) + ROW).ravel())
    close(J[6:12], 2.0 * I)
    close(J[12], I[0])
    close(J[13], I[np.argmax(x)])
    close(J[14], x / np.linalg.norm(x))
    close(J[15:21], -I)
    close(J[21:27], I)


def adds_a_lower_depth_dual_array(x):
    low = dd.arrays.zeros(len(x), x[0].value)   # elements one nesting level down
    for i in range(len(x)):
        low[i] = 1.0
    y = x + low
    s = 0.0
    for i in range(len(y)):
        s += y[i] * y[i]
    return s


def test_adding_dual_arrays_of_different_nesting_depth():
    # inside a Hessian sweep x holds Dual[Dual[.]]; low holds the inner type
    x = np.array([0.5, -1.0, 2.0])
    np.testing.assert_array_equal(dd.hessian(adds_a_lower_depth_dual_array, x), 2 * np.eye(3))


def vector_norm(x, p):
    return np.linalg.norm(x, p)


@pytest.mark.parametrize("p", [1, 2, 3, 0.5, np.inf, -np.inf, 0])
def test_every_vector_p_norm(p):
    """np.linalg.norm(x, p) compiles for every p (only p = 2 did): checked
    against the closed form d/dx_i = sign(x_i) |x_i|**(p-1) / ||x||**(p-1)."""
    x = np.array([0.5, -2.0, 1.5])
    value, grad = dd.value_and_gradient(vector_norm, x, args=(p,), mode="forward")
    assert value == pytest.approx(np.linalg.norm(x, p), rel=1e-15)
    if p == 0:
        expected = np.zeros(3)
    elif np.isinf(p):
        expected = np.zeros(3)
        k = np.argmax(np.abs(x)) if p > 0 else np.argmin(np.abs(x))
        expected[k] = np.sign(x[k])
    else:
        expected = np.sign(x) * np.abs(x) ** (p - 1) / value ** (p - 1)
    close(grad, expected)
