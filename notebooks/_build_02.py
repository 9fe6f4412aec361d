"""Build (and by default execute) ``02-neural-network-gradients.ipynb``.

Usage, from the repository root::

    python notebooks/_build_02.py            # write and execute
    python notebooks/_build_02.py --no-run   # write only (no outputs)
"""

from _nbbuild import Notebook

nb = Notebook("02-neural-network-gradients.ipynb")
md, code = nb.md, nb.code

md(r"""
# Gradients of a neural network, layer by layer

A feed-forward network is a chain of layers

$$f_i = \sigma_i(A_{i-1} f_{i-1} + b_{i-1}), \qquad f_0 = x,$$

and a squared loss $L = \lVert y - f_K \rVert^2$.  This notebook writes the
network as ordinary NumPy array code, the way it appears in a textbook, and
lets `dualdiff` differentiate it inside Numba-compiled code:

1. the Jacobian of each layer, checked against its closed form
   $\operatorname{diag}(\sigma'(z))\,A$;
2. the chain rule: the product of the layer Jacobians is the Jacobian of the
   whole network;
3. input sensitivities (saliency): which inputs the loss reacts to;
4. a gradient check against finite differences, and the same network written
   with loops giving the same numbers.
""")

code(r"""
import warnings

import numpy as np
import dualdiff as dd

# everything below runs compiled; make a fall back to the slow Python path an error
warnings.simplefilter("error", dd.FallbackWarning)

rng = np.random.default_rng(1)
sizes = [4, 8, 6, 3]                       # input, two hidden layers, output
A0, A1, A2 = [rng.normal(scale=1 / np.sqrt(m), size=(n, m))
              for m, n in zip(sizes[:-1], sizes[1:])]
b0, b1, b2 = [rng.normal(scale=0.1, size=n) for n in sizes[1:]]
params = (A0, b0, A1, b1, A2, b2)
x = rng.normal(size=sizes[0])
y = np.array([0.5, 0.1, 0.9])
""")

md(r"""
## The network, as array code

Three activations: tanh, the logistic sigmoid and ReLU.  `sigmoid` and
`relu` are ordinary helper functions; `dualdiff` compiles them together with
the function that calls them.  Nothing here knows about dual numbers.
""")

code(r"""
def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def relu(z):
    return np.maximum(z, 0.0)


def tanh_layer(f, A, b):
    return np.tanh(A @ f + b)


def sigmoid_layer(f, A, b):
    return sigmoid(A @ f + b)


def relu_layer(f, A, b):
    return relu(A @ f + b)


def network(x, A0, b0, A1, b1, A2, b2):
    f1 = np.tanh(A0 @ x + b0)
    f2 = sigmoid(A1 @ f1 + b1)
    return relu(A2 @ f2 + b2)


def loss(x, A0, b0, A1, b1, A2, b2, y):
    r = y - network(x, A0, b0, A1, b1, A2, b2)
    return np.sum(r * r)


network(x, *params), loss(x, *params, y)
""")

md(r"""
## 1. Layer Jacobians against their closed forms

For $f = \sigma(Az + b)$ the Jacobian with respect to the layer's input is
$\operatorname{diag}(\sigma'(Az + b))\,A$, with $\tanh' = 1 - \tanh^2$,
$\sigma' = \sigma(1 - \sigma)$ and $\mathrm{relu}'(z) = [z \ge 0]$ (at a tie
`np.maximum` follows its first argument, the convention documented in the
README).
""")

code(r"""
f1 = tanh_layer(x, A0, b0)
f2 = sigmoid_layer(f1, A1, b1)
z3 = A2 @ f2 + b2

J1 = dd.jacobian(tanh_layer, x, args=(A0, b0))
J2 = dd.jacobian(sigmoid_layer, f1, args=(A1, b1))
J3 = dd.jacobian(relu_layer, f2, args=(A2, b2))

J1_exact = (1 - f1 ** 2)[:, None] * A0
J2_exact = (f2 * (1 - f2))[:, None] * A1
J3_exact = (z3 >= 0)[:, None] * A2

for name, J, exact in [("tanh", J1, J1_exact), ("sigmoid", J2, J2_exact),
                       ("relu", J3, J3_exact)]:
    print(f"{name:8s} layer: Jacobian {J.shape}, max |AD - closed form| = "
          f"{np.max(np.abs(J - exact)):.1e}")
""")

md(r"""
## 2. The chain rule

The Jacobian of the network is the product of the layer Jacobians, taken at
the activations of the forward pass.  Forward-mode AD of the whole network
computes the same matrix in one call, without forming the intermediate
products.
""")

code(r"""
J_net = dd.jacobian(network, x, args=params)
J_chain = J3 @ J2 @ J1
print("network Jacobian", J_net.shape)
print("max |J_net - J3 J2 J1| =", np.max(np.abs(J_net - J_chain)))
""")

md(r"""
## 3. Input sensitivities (saliency)

The gradient of the loss with respect to the *input* says how strongly each
input feature moves the loss: a saliency map.  By the chain rule it is
$\nabla_x L = -2\,J_{\text{net}}^\top (y - f_K)$.
""")

code(r"""
saliency = dd.gradient(loss, x, args=params + (y,))
by_chain_rule = -2 * J_net.T @ (y - network(x, *params))
print("dL/dx         =", saliency)
print("-2 J^T (y - f) =", by_chain_rule)
print("max difference =", np.max(np.abs(saliency - by_chain_rule)))
""")

code(r"""
# saliency over a batch of inputs: mean |dL/dx_j| per feature
batch = rng.normal(size=(64, sizes[0]))
grad_loss = dd.gradient(loss, args=params + (y,))      # a function of x
saliency_batch = np.array([grad_loss(xb) for xb in batch])
mean_abs = np.abs(saliency_batch).mean(axis=0)
try:
    import matplotlib.pyplot as plt
except ImportError:
    plt = None
if plt is not None:
    fig, ax = plt.subplots(figsize=(5, 2.8))
    ax.bar([f"x{j}" for j in range(sizes[0])], mean_abs, color="tab:blue")
    ax.set_ylabel("mean |dL/dx_j|")
    ax.set_title("input saliency over 64 inputs")
    fig.tight_layout()
    plt.show()
else:
    for j, s in enumerate(mean_abs):
        print(f"x{j}: mean |dL/dx| = {s:.4f}")
""")

md(r"""
## 4. Gradient check, and the same network written with loops

`dd.check_gradient` compares the AD gradient with a Richardson-extrapolated
finite difference and reports the worst entry.  Then the network is written
again with explicit loops, as one would for Numba without array
expressions; both versions give the same gradient to rounding.
""")

code(r"""
report = dd.check_gradient(loss, x, args=params + (y,))
print(report)
assert report.passed
""")

code(r"""
import math


def network_loops(x, A0, b0, A1, b1, A2, b2):
    f1 = dd.arrays.zeros(len(b0), like=x)
    for i in range(len(b0)):
        z = b0[i]
        for j in range(len(x)):
            z += A0[i, j] * x[j]
        f1[i] = math.tanh(z)
    f2 = dd.arrays.zeros(len(b1), like=x)
    for i in range(len(b1)):
        z = b1[i]
        for j in range(len(f1)):
            z += A1[i, j] * f1[j]
        f2[i] = 1.0 / (1.0 + math.exp(-z))
    out = dd.arrays.zeros(len(b2), like=x)
    for i in range(len(b2)):
        z = b2[i]
        for j in range(len(f2)):
            z += A2[i, j] * f2[j]
        out[i] = max(z, 0.0)
    return out


def loss_loops(x, A0, b0, A1, b1, A2, b2, y):
    out = network_loops(x, A0, b0, A1, b1, A2, b2)
    s = 0.0
    for i in range(len(y)):
        s += (y[i] - out[i]) ** 2
    return s


g_loops = dd.gradient(loss_loops, x, args=params + (y,))
print("max |array code - loop code| =", np.max(np.abs(g_loops - saliency)))
""")

md(r"""
The loop version allocates its outputs with `dd.arrays.zeros(n, like=x)`:
an array of plain floats when `x` is a float array (so the function still
runs without `dualdiff`), and an array of dual numbers while it is being
differentiated.  `np.zeros(n)` would be a float array in both cases, and
storing a dual number into it would drop the derivative, so `dualdiff`
refuses it with a message that says what to write instead.
""")

if __name__ == "__main__":
    nb.main(__doc__.split("\n")[0])
