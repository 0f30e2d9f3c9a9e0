"""Compiled epochs of coordinate descent on the squared loss's Gram form (numba).

An optional fast path (``pip install "mtlreg[fast]"``): without numba,
:data:`AVAILABLE` is False and the working sets keep FISTA.  Everything else
about the solve (working sets, Anderson acceleration, the certificate) is
array code in :mod:`mtlreg.solvers.coordinate`; these loops are the part that
Python cannot run fast, one coefficient at a time.

The data fit is ``F(W) = sum_t c_t (w_t^T G_t w_t / 2 - w_t^T q_t + ...)``, its
state ``H_t = G_t w_t``; the penalty ``alpha * Omega(W) + ridge * ||W||_F^2``
with ``Omega`` the L1 norm (``kind = 0``: each entry its own exact
minimization, as scikit-learn's ``Lasso``) or the L2,1 norm (``kind = 1``:
feature ``j`` across the tasks as one block, step ``1 / max_t c_t (G_t)_jj``,
as scikit-learn's ``MultiTaskLasso``).  ``gram`` is ``(T, k, k)``, or
``(1, k, k)`` for a design shared by the tasks.
"""

import numpy as np

try:  # the optional fast path
    import numba

    AVAILABLE = True
except ImportError:  # pragma: no cover - depends on the environment
    numba = None
    AVAILABLE = False

__all__ = ["AVAILABLE", "epochs"]


def _entries(gram, cq, c, W, H, alpha, ridge, n_epochs):
    T, k = W.shape
    shared = gram.shape[0] == 1
    for _ in range(n_epochs):
        for t in range(T):
            G = gram[0] if shared else gram[t]
            for j in range(k):
                if G[j, j] <= 0.0:  # no data: the penalty alone, minimized at 0 (G[j, :] = 0)
                    W[t, j] = 0.0
                    continue
                a = c[t] * G[j, j]
                if a <= 0.0:  # a task without loss weight: nothing to descend
                    continue
                z = W[t, j] - (c[t] * H[t, j] - cq[t, j]) / a
                tau = alpha / a
                new = 0.0
                if z > tau:
                    new = (z - tau) / (1.0 + 2.0 * ridge / a)
                elif z < -tau:
                    new = (z + tau) / (1.0 + 2.0 * ridge / a)
                delta = new - W[t, j]
                if delta != 0.0:
                    W[t, j] = new
                    for i in range(k):
                        H[t, i] += delta * G[j, i]


def _groups(gram, cq, c, W, H, alpha, ridge, n_epochs):
    T, k = W.shape
    shared = gram.shape[0] == 1
    z = np.empty(T)
    for _ in range(n_epochs):
        for j in range(k):
            a = 0.0
            for t in range(T):
                G = gram[0] if shared else gram[t]
                a = max(a, c[t] * G[j, j])
            if a <= 0.0:  # no data in any task: the penalty alone, minimized at 0
                for t in range(T):
                    G = gram[0] if shared else gram[t]
                    if G[j, j] <= 0.0:  # (G[j, :] = 0: H does not change)
                        W[t, j] = 0.0
                continue
            norm = 0.0
            for t in range(T):
                z[t] = W[t, j] - (c[t] * H[t, j] - cq[t, j]) / a
                norm += z[t] * z[t]
            norm = np.sqrt(norm)
            scale = 0.0
            if norm > alpha / a:
                scale = (1.0 - alpha / (a * norm)) / (1.0 + 2.0 * ridge / a)
            for t in range(T):
                delta = scale * z[t] - W[t, j]
                if delta != 0.0:
                    W[t, j] += delta
                    G = gram[0] if shared else gram[t]
                    for i in range(k):
                        H[t, i] += delta * G[j, i]


if AVAILABLE:
    _entries = numba.njit(cache=True, nogil=True)(_entries)
    _groups = numba.njit(cache=True, nogil=True)(_groups)


def epochs(kind, gram, cq, c, W, H, alpha, ridge, n_epochs):
    """``n_epochs`` sweeps over every coefficient, updating ``W`` and ``H`` in
    place (float64, C-contiguous host arrays)."""
    (_entries if kind == "entries" else _groups)(gram, cq, c, W, H, float(alpha),
                                                   float(ridge), int(n_epochs))
