"""The backward sweep of reverse mode, and the block runner it calls.

:func:`backward` sweeps a tape from its last node down to the inputs, one
sweep per row of seeds; at the last id of a block node it calls
:func:`run_block`, which adds the whole block's contributions (elementwise,
sum, matmul: recorded by :mod:`dualdiff._compiled.tape_elementwise` and
:mod:`dualdiff._compiled.tape_blocks`) to the adjoints.  Both live here, with
every helper and record-format constant they read, because Numba's cache of a
function is checked against its own file only: a helper or constant in
another file could change and leave a stale sweep in the cache.
"""

import math

import numpy as np

from .compat import numba, register_jitable

__all__ = ["run_block", "backward"]

# Block kinds (a record's first word), the words of an elementwise record's
# header and of each operand slot, and the layouts of an operand's ids other
# than a first id (none: a constant; scattered: the ids are in the record).
# The records are written in tape_blocks and tape_elementwise, which take
# these from here.
_MATMUL, _SUM, _ELEMENTWISE = 1.0, 2.0, 3.0
_EW_HEAD, _EW_SLOT = 5, 6
_NO_IDS, _SCATTERED = -1, -3
_jitable = register_jitable(error_model="numpy")


# ---------------------------------------------------------------------------
# Backward pass of a block (called by the sweep at the block's last id)
# ---------------------------------------------------------------------------
# A zero adjoint or a zero local partial contributes nothing (0 * inf at a
# kink stays 0), as in the scalar sweep.

@_jitable
def _scatter_add(adj, blob, first, ids_at, values):
    """adj[ids] += values, the ids being first + e or stored at ids_at."""
    if first >= 0:
        dst = adj[first:first + values.size]
        for e in range(values.size):
            dst[e] += values[e]
    else:
        for e in range(values.size):
            i = int(blob[ids_at + e])
            if i >= 0:
                adj[i] += values[e]


@_jitable
def _term(p, g):
    """``p * g`` with the backward sweep's rule: 0 for a zero partial, and for
    a zero adjoint unless the partial is inf or nan (then nan: see backward)."""
    return 0.0 if p == 0.0 or (g == 0.0 and p - p == 0.0) else p * g


@_jitable
def _run_slot(blob, h, r, c, g, adj):
    rows = int(blob[h])
    if rows == 0:
        return
    cols = int(blob[h + 1])
    first = int(blob[h + 2])
    ids_at = int(blob[h + 3])
    scalar = blob[h + 4] != 0.0
    size = r * c
    pv = blob[h + 5]
    if scalar and pv == 0.0:
        return
    p = blob[0:0] if scalar else blob[int(pv):int(pv) + size]
    if first >= 0 and rows == r and cols == c:   # same shape, contiguous ids
        dst = adj[first:first + size]
        if scalar:
            for e in range(size):
                dst[e] += _term(pv, g[e])
        else:
            for e in range(size):
                dst[e] += _term(p[e], g[e])
        return
    if first >= 0 and rows == 1 and cols == c:    # a row against every row
        dst = adj[first:first + c]
        for i in range(r):
            gi = g[i * c:(i + 1) * c]
            if scalar:
                for j in range(c):
                    dst[j] += _term(pv, gi[j])
            else:
                pi = p[i * c:(i + 1) * c]
                for j in range(c):
                    dst[j] += _term(pi[j], gi[j])
        return
    for i in range(r):
        ti = (i if rows > 1 else 0) * cols
        for j in range(c):
            e = i * c + j
            ge = g[e]
            pe = pv if scalar else p[e]
            if pe != 0.0 and (ge != 0.0 or pe - pe != 0.0):  # as _term
                t = ti + (j if cols > 1 else 0)
                if first >= 0:
                    adj[first + t] += pe * ge
                else:
                    k = int(blob[ids_at + t])
                    if k >= 0:
                        adj[k] += pe * ge


@numba.njit(cache=True, error_model="numpy")
def run_block(blob, record, adj):
    """Add the block's contributions to ``adj``; return its first id."""
    kind = blob[record]
    if kind == _ELEMENTWISE:
        r = int(blob[record + 1])
        c = int(blob[record + 2])
        z0 = int(blob[record + 3])
        g = adj[z0:z0 + r * c]
        for s in range(int(blob[record + 4])):
            _run_slot(blob, record + _EW_HEAD + _EW_SLOT * s, r, c, g, adj)
        return z0
    if kind == _SUM:
        size = int(blob[record + 1])
        c0 = int(blob[record + 2])
        first = int(blob[record + 3])
        g = adj[c0]
        if g != 0.0:
            _scatter_add(adj, blob, first, record + 4, np.full(size, g))
        return c0
    m = int(blob[record + 1])
    k = int(blob[record + 2])
    n = int(blob[record + 3])
    c0 = int(blob[record + 4])
    fa = int(blob[record + 5])
    fb = int(blob[record + 6])
    dc = adj[c0:c0 + m * n].reshape((m, n))
    a_values = record + 7
    a_ids = a_values + (m * k if fb != _NO_IDS else 0)
    b_values = a_ids + (m * k if fa == _SCATTERED else 0)
    b_ids = b_values + (k * n if fa != _NO_IDS else 0)
    if fa != _NO_IDS:
        bv = blob[b_values:b_values + k * n].reshape((k, n))
        _scatter_add(adj, blob, fa, a_ids, np.dot(dc, bv.T).reshape(m * k))
    if fb != _NO_IDS:
        av = blob[a_values:a_values + m * k].reshape((m, k))
        _scatter_add(adj, blob, fb, b_ids, np.dot(av.T, dc).reshape(k * n))
    return c0


# ---------------------------------------------------------------------------
# The backward sweep of reverse mode (here, in the file of run_block, so that
# Numba's cache, checked against this file only, never keeps a stale run_block)
# ---------------------------------------------------------------------------

@numba.njit(cache=True, error_model="numpy", fastmath={"contract"})
def backward(links, blob, count, n, out_ids, seeds):
    """Rows of ``seeds^T J``: one backward sweep per row of ``seeds`` (k, m).

    A zero local partial contributes nothing, so ``0 * inf`` at a kink never
    turns a zero derivative into nan (as in forward mode).  A zero adjoint
    meeting an infinite or nan partial gives nan: the adjoint may have been
    rounded to 0, and the caller then asks forward mode (NOT_FINITE).
    A node whose first parent is -2 ends a block (matmul, sum: see
    tape_blocks), which is run as a whole.
    """
    partials = links.view(np.float64)
    k_rows = seeds.shape[0]
    out = np.empty((k_rows if k_rows > 1 else 0, n))
    adj = np.empty(count)
    for r in range(k_rows):
        adj[:] = 0.0
        for o in range(out_ids.shape[0]):
            if out_ids[o] >= 0:
                adj[out_ids[o]] += seeds[r, o]
        # ``extra``: what node k + 1 added to adj[k], kept in a register (the
        # parent is most often the node just before: 25% off a Rosenbrock sweep)
        extra = 0.0
        k = count - 1
        while k >= n:
            i = links[k, 0]
            j = links[k, 1]
            a = partials[k, 2]
            b = partials[k, 3]
            g = adj[k] + extra
            # The accumulator chain that preaccumulation leaves (node k - 1
            # with partial exactly 1, and one other parent, earlier): tested
            # at once, without a branch per condition, and with no ``continue``
            # (a path of its own would let LLVM take k - 1 from links[k, 0],
            # which turns the loop into a chain of dependent loads: 2.5x slower).
            if (i == k - 1) & (a == 1.0) & (j >= 0) & (j < k - 1) & (g != 0.0) & (b != 0.0):
                extra = g
                adj[j] += b * g
            elif i == -2:
                extra = 0.0
                adj[k] = g
                k = run_block(blob, j, adj)
            else:
                extra = 0.0
                if g != 0.0:
                    if a != 0.0:
                        if i == k - 1:
                            # ``=``, not ``+= (0.0)``: IEEE keeps the add of 0.0
                            # (for -0.0), which would lengthen the dependent chain
                            extra = g if a == 1.0 else a * g
                        else:
                            adj[i] += a * g
                    if j >= 0 and b != 0.0:
                        if j == k - 1:
                            extra += b * g
                        else:
                            adj[j] += b * g
                else:
                    # 0 * inf: the zero adjoint may be a rounded one (log' of
                    # an overflowed value, 1 / inf), where forward mode gives
                    # nan.  Say so: a nan gradient sends the call there.
                    if i >= 0 and a - a != 0.0:
                        adj[i] = math.nan
                    if j >= 0 and b - b != 0.0:
                        adj[j] = math.nan
            k -= 1
        if n > 0:
            adj[n - 1] += extra
        if k_rows == 1:  # a gradient: no copy
            return adj[:n].reshape((1, n))
        out[r, :] = adj[:n]
    return out
