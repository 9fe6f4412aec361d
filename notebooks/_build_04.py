"""Build (and by default execute) ``04-training-a-network.ipynb``.

The notebook is generated from the cells below so that its source stays
reviewable as ordinary Python.  Usage, from the repository root::

    python notebooks/_build_04.py            # write and execute
    python notebooks/_build_04.py --no-run   # write only (no outputs)

tests/test_notebooks.py executes the stored notebook.  It needs dualdiff and
NumPy; matplotlib is optional (the numbers are printed either way).
"""

from _nbbuild import Notebook

nb = Notebook("04-training-a-network.ipynb")
md, code = nb.md, nb.code

# ---------------------------------------------------------------------------

md(r"""
# Training a small network with reverse-mode gradients

`dd.gradient` accepts the parameters of a model as a tuple of arrays,
`dd.gradient(loss, (W1, b1, W2, b2, W3, b3), args=(X, y))`, and returns a tuple
of gradients of the same shapes.  For a scalar loss of many parameters it
uses **reverse mode**: the loss runs once on `Var` numbers that record each
operation on a tape (32 bytes per elementwise operation; a matrix product is
*one* block node whose backward pass is two BLAS calls), then one backward
sweep gives every partial derivative.  The loss is ordinary NumPy code.

This notebook

1. builds a synthetic data set (two interleaved spirals) and a 2-16-16-1
   network (tanh, tanh, sigmoid output, squared loss);
2. checks the gradient against finite differences;
3. trains it with gradient descent, momentum, RMSprop and Adam, each
   written in a few lines of NumPy on top of `dd.value_and_gradient`;
4. compares a learning rate that is too high with one that is right;
5. shows vanishing gradients in a deep stack of sigmoid layers.
""")

code(r"""
import time

import numpy as np
import dualdiff as dd
try:
    import matplotlib.pyplot as plt
    HAVE_MPL = True
except ImportError:
    HAVE_MPL = False
rng = np.random.default_rng(0)
""")

md(r"""
## Data
""")

code(r"""
def make_data(n, rng):
    # Two interleaved spirals: label 1 for one arm, 0 for the other.
    t = rng.uniform(0.25, 1.0, n) * 3 * np.pi
    arm = rng.integers(0, 2, n)
    r = t / (3 * np.pi)
    X = np.column_stack([r * np.cos(t + np.pi * arm), r * np.sin(t + np.pi * arm)])
    X += 0.03 * rng.normal(size=X.shape)
    return X, arm.astype(float)

X, y = make_data(256, rng)
print(X.shape, y.mean())
""")

md(r"""
## The model and its loss

The loss is written as one would write it for NumPy; `dd.gradient` compiles
it with Numba for reverse-mode numbers.  The first call compiles (a few
seconds to half a minute on a busy machine); the following calls reuse it.
""")

code(r"""
def loss(params, X, y):
    W1, b1, W2, b2, W3, b3 = params
    h1 = np.tanh(X @ W1 + b1)
    h2 = np.tanh(h1 @ W2 + b2)
    out = h2 @ W3 + b3
    p = 1.0 / (1.0 + np.exp(-out[:, 0]))      # sigmoid
    return 0.5 * np.mean((p - y) ** 2)

def init(sizes, rng):
    params = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        params += [rng.normal(size=(a, b)) / np.sqrt(a), np.zeros(b)]
    return tuple(params)

params0 = init([2, 16, 16, 1], rng)
print("parameters:", sum(p.size for p in params0))
t0 = time.perf_counter()
grads = dd.gradient(loss, params0, args=(X, y))
print(f"first call (compiles): {time.perf_counter() - t0:.1f} s")
print([g.shape for g in grads])
""")

md(r"""
## Is the gradient right?

Compare with a Richardson-extrapolated finite-difference gradient of the same
loss (as a function of one flat vector).  AD is exact up to rounding; the
remaining difference is the finite-difference error.
""")

code(r"""
flat = np.concatenate([p.ravel() for p in params0])
shapes = [p.shape for p in params0]
def loss_flat(v):
    parts, k = [], 0
    for s in shapes:
        size = int(np.prod(s))
        parts.append(v[k:k + size].reshape(s))
        k += size
    return loss(tuple(parts), X, y)
fd = dd.fd.gradient(loss_flat, flat, method="richardson")
ad = np.concatenate([g.ravel() for g in grads])
print("max |AD - finite differences| =", np.max(np.abs(ad - fd)))
t0 = time.perf_counter()
for _ in range(100):
    dd.gradient(loss, params0, args=(X, y))
print(f"one gradient: {(time.perf_counter() - t0) * 10:.2f} ms")
""")

md(r"""
## Four optimisers in a few lines each

Each rule takes a parameter array, its gradient and a small per-parameter
state dictionary, and returns the updated array.  `train` applies it to every
array of the tuple.
""")

code(r"""
def gd(lr):
    def step(p, g, state):
        return p - lr * g
    return step

def momentum(lr, beta=0.9):
    def step(p, g, state):
        state["v"] = beta * state.get("v", 0.0) + g
        return p - lr * state["v"]
    return step

def rmsprop(lr, rho=0.9, eps=1e-8):
    def step(p, g, state):
        state["s"] = rho * state.get("s", 0.0) + (1 - rho) * g * g
        return p - lr * g / (np.sqrt(state["s"]) + eps)
    return step

def adam(lr, b1=0.9, b2=0.999, eps=1e-8):
    def step(p, g, state):
        t = state["t"] = state.get("t", 0) + 1
        state["m"] = b1 * state.get("m", 0.0) + (1 - b1) * g
        state["v"] = b2 * state.get("v", 0.0) + (1 - b2) * g * g
        m_hat = state["m"] / (1 - b1 ** t)
        v_hat = state["v"] / (1 - b2 ** t)
        return p - lr * m_hat / (np.sqrt(v_hat) + eps)
    return step

def train(step_rule, params, steps=400):
    states = [dict() for _ in params]
    history = []
    for _ in range(steps):
        value, grads = dd.value_and_gradient(loss, params, args=(X, y))
        history.append(value)
        params = tuple(step_rule(p, g, s) for p, g, s in zip(params, grads, states))
    return params, np.array(history)
""")

md(r"""
Run each for 400 steps from the same starting point.  Adaptive methods
(RMSprop, Adam) scale each parameter's step by a running estimate of its
gradient's size, which helps on this badly scaled problem.
""")

code(r"""
t0 = time.perf_counter()
runs = {"gradient descent (lr 0.5)": gd(0.5), "momentum (lr 0.1)": momentum(0.1),
        "RMSprop (lr 0.003)": rmsprop(0.003), "Adam (lr 0.01)": adam(0.01)}
curves = {name: train(rule, params0)[1] for name, rule in runs.items()}
print(f"{4 * 400} gradient steps in {time.perf_counter() - t0:.1f} s")
for name, c in curves.items():
    print(f"{name:28s} loss {c[0]:.4f} -> {c[-1]:.4f}")
""")

md(r"""
## Learning rate: too high versus right

With plain gradient descent, a learning rate that is too large makes the loss
jump around instead of decreasing steadily; the right one decreases
monotonically.
""")

code(r"""
lr_curves = {f"gradient descent, lr {lr}": train(gd(lr), params0)[1] for lr in (40.0, 2.0)}
for name, c in lr_curves.items():
    print(f"{name:28s} loss {c[0]:.4f} -> {c[-1]:.4f}  (min {c.min():.4f})")
""")

md(r"""
## Loss curves
""")

code(r"""
if HAVE_MPL:
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for name, c in curves.items():
        axes[0].semilogy(c, label=name)
    axes[0].set_title("optimisers"); axes[0].set_xlabel("step"); axes[0].set_ylabel("loss")
    axes[0].legend()
    for name, c in lr_curves.items():
        axes[1].semilogy(c, label=name)
    axes[1].set_title("learning rate: too high vs right"); axes[1].set_xlabel("step")
    axes[1].legend()
    plt.tight_layout(); plt.show()
""")

md(r"""
## Vanishing gradients in a deep sigmoid stack

The derivative of the sigmoid is at most 1/4, so each sigmoid layer between
the loss and a weight shrinks that weight's gradient.  In a stack of ten
layers (weights all 2-D, so the parameter tuple has one element type and the
loss can loop over it), the gradient norm of the first layer is orders of
magnitude below that of the last: early layers barely learn.  This is one
reason deep networks use ReLU-like activations, careful initialisation and
normalisation.
""")

code(r"""
def deep_loss(params, X, y):
    # A stack of sigmoid layers; params = (W1, b1, ..., WL, bL, W_out, b_out), all 2-D.
    h = 1.0 / (1.0 + np.exp(-(X @ params[0] + params[1])))
    for l in range(1, len(params) // 2 - 1):
        h = 1.0 / (1.0 + np.exp(-(h @ params[2 * l] + params[2 * l + 1])))
    out = h @ params[len(params) - 2] + params[len(params) - 1]
    return 0.5 * np.mean((out[:, 0] - y) ** 2)

def deep_init(depth, width, rng):
    params = [rng.normal(size=(2, width)), np.zeros((1, width))]
    for _ in range(depth - 1):
        params += [rng.normal(size=(width, width)) / np.sqrt(width), np.zeros((1, width))]
    params += [rng.normal(size=(width, 1)) / np.sqrt(width), np.zeros((1, 1))]
    return tuple(params)

depth = 10
deep_params = deep_init(depth, 16, rng)
deep_grads = dd.gradient(deep_loss, deep_params, args=(X, y))
norms = [np.linalg.norm(deep_grads[2 * l]) for l in range(depth)]
for l, g in enumerate(norms, 1):
    print(f"layer {l:2d}: |dL/dW| = {g:.2e}")
""")

md(r"""
Each layer multiplies the gradient by roughly the same factor, so the
norms fall on a straight line on the log scale.
""")

code(r"""
if HAVE_MPL:
    plt.figure(figsize=(6, 3.5))
    plt.semilogy(range(1, depth + 1), norms, "o-")
    plt.xlabel("layer (1 = next to the input)"); plt.ylabel("gradient norm")
    plt.title("vanishing gradients in a deep sigmoid stack"); plt.show()
""")


if __name__ == "__main__":
    nb.main(__doc__.split("\n")[0])
