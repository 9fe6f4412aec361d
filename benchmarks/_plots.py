"""Plots for the ``peers`` suite (matplotlib, written as PNG files).

Importing this module raises ImportError when matplotlib is missing; the
suite catches it and skips the plots with a note.
"""

import os

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["plot_peers"]

ERROR_FLOOR = 1e-17  # an exact result is drawn at this height on the log axis


def plot_peers(rows, problems, outdir):
    """Time against n per problem with more than one size, and the accuracy
    bars; returns the paths written."""
    os.makedirs(outdir, exist_ok=True)
    paths = []
    for problem, spec in problems.items():
        path = _time_vs_n(rows, problem, spec[0], outdir)
        if path:
            paths.append(path)
    path = _accuracy(rows, problems, outdir)
    if path:
        paths.append(path)
    return paths


def _time_vs_n(rows, problem, title, outdir):
    prows = [r for r in rows if r["problem"] == problem and "median_s" in r]
    if len({r["n"] for r in prows}) < 2:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 5))
    for k, tool in enumerate(dict.fromkeys(r["tool"] for r in prows)):
        pts = sorted((r["n"], r["median_s"]) for r in prows if r["tool"] == tool)
        n, t = zip(*pts)
        style = "-" if tool.startswith("dualdiff") else ("--" if "njit" in tool else ":")
        ax.plot(n, np.array(t) * 1e6, style, marker="o", label=tool, color=_color(tool, k),
                linewidth=2.5 if tool.startswith("dualdiff") else 1.4)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("n")
    ax.set_ylabel("time per call (us, median)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    path = os.path.join(outdir, f"peers_time_vs_n_{problem}.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


#: one colour per tool family, darker for the first variant of a family
_COLORS = [("dualdiff forward", "#1f4fd1"), ("dualdiff reverse", "#6fa8ff"),
           ("hand-written", "#555555"), ("plain", "#000000"), ("jax.jit(grad)", "#d62728"),
           ("jax.jit(jacfwd)", "#ff7f7f"), ("jax.jit(jacrev)", "#a01010"),
           ("jax.jit(hessian)", "#d62728"), ("jax", "#ff9f9f"), ("torch.func.grad", "#ff7f0e"),
           ("torch.func.jacfwd", "#ffb366"), ("torch.func.jacrev", "#ff7f0e"),
           ("torch", "#ff7f0e"), ("autograd", "#2ca02c"), ("numdifftools", "#9467bd"),
           ("scipy approx_fprime", "#8c564b"), ("scipy", "#e377c2")]


def _color(tool, k):
    for prefix, color in _COLORS:
        if tool.startswith(prefix):
            return color
    return plt.get_cmap("tab10").colors[k % 10]


def _accuracy(rows, problems, outdir):
    """One panel per problem, at its smallest n: relative error per tool."""
    panels = []
    for problem in problems:
        prows = [r for r in rows if r["problem"] == problem and r.get("rel_error") is not None]
        if prows:
            n0 = min(r["n"] for r in prows)
            panels.append((problem, n0, [r for r in prows if r["n"] == n0]))
    if not panels:
        return None
    fig, axes = plt.subplots(len(panels), 1, figsize=(8, 2.0 + 1.6 * len(panels)), squeeze=False)
    for ax, (problem, n0, prows) in zip(axes[:, 0], panels):
        labels = [r["tool"] for r in prows]
        errs = [max(r["rel_error"], ERROR_FLOOR) for r in prows]
        colors = ["tab:blue" if r["family"] == "dualdiff" else
                  "tab:gray" if r["family"] == "numba" else
                  "tab:orange" if r["kind"] == "fd" else "tab:green" for r in prows]
        ax.barh(range(len(prows)), errs, color=colors)
        ax.set_yticks(range(len(prows)))
        ax.set_yticklabels(labels, fontsize=7)
        ax.set_xscale("log")
        ax.set_xlim(ERROR_FLOOR / 2, max(1e-6, 10 * max(errs)))
        ax.set_title(f"{problem}, n = {n0}", fontsize=9)
        ax.grid(True, axis="x", alpha=0.3)
    axes[-1, 0].set_xlabel(f"max |error| / max |reference| (exact results drawn at "
                           f"{ERROR_FLOOR:g})\nblue: dualdiff, green: other AD, "
                           "orange: finite differences, gray: hand-written", fontsize=8)
    fig.tight_layout()
    path = os.path.join(outdir, "peers_accuracy.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
