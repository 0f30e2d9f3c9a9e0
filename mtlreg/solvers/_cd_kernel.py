"""Compiled epochs of coordinate descent on the squared loss (numba).

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

The data form (:func:`data_epochs`, for working sets too large for their Gram
matrices) keeps the residuals ``Z - Y`` of every sample instead of ``H``: a
coordinate costs a pass over its task's samples for the partial derivative,
and one more to update ``Z`` when it moves (scikit-learn's ``Lasso`` and
``MultiTaskLasso`` on a Fortran-ordered ``X``).  ``XT`` is the design with
each row's samples last, ``(n_rows, k, m)``, or ``(1, k, n)`` shared by the
tasks (``Z`` is then ``(n_tasks, n)``); the rows ``bounds[t]:bounds[t + 1]``
of ``Z``, ``Y`` and ``weight`` (``(n_rows, m)``) are task ``t``'s samples;
``A[t, j] = sum weight x_j^2`` and ``N[t, j] = sum x_j^2`` over those samples.
"""

import numpy as np

try:  # the optional fast path
    import numba

    AVAILABLE = True
except ImportError:  # pragma: no cover - depends on the environment
    numba = None
    AVAILABLE = False

__all__ = ["AVAILABLE", "epochs", "data_epochs"]


def _soft(z, alpha, a, ridge):
    """``argmin_w a (w - z)^2 / 2 + alpha |w| + ridge w^2``."""
    tau = alpha / a
    if z > tau:
        return (z - tau) / (1.0 + 2.0 * ridge / a)
    if z < -tau:
        return (z + tau) / (1.0 + 2.0 * ridge / a)
    return 0.0


def _group_scale(z, alpha, a, ridge):
    """``s`` with ``s z = argmin_w a ||w - z||^2 / 2 + alpha ||w|| + ridge ||w||^2``."""
    norm = 0.0
    for v in z:
        norm += v * v
    norm = np.sqrt(norm)
    if norm > alpha / a:
        return (1.0 - alpha / (a * norm)) / (1.0 + 2.0 * ridge / a)
    return 0.0


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
                new = _soft(z, alpha, a, ridge)
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
            for t in range(T):
                z[t] = W[t, j] - (c[t] * H[t, j] - cq[t, j]) / a
            scale = _group_scale(z, alpha, a, ridge)
            for t in range(T):
                delta = scale * z[t] - W[t, j]
                if delta != 0.0:
                    W[t, j] += delta
                    G = gram[0] if shared else gram[t]
                    for i in range(k):
                        H[t, i] += delta * G[j, i]


def _partial(XT, R, weight, lo, hi, shared, j):
    """``sum weight x_j r`` over rows ``lo:hi`` (task ``t``'s samples)."""
    g = 0.0
    for r in range(lo, hi):
        X = XT[0] if shared else XT[r]
        for i in range(R.shape[1]):
            g += weight[r, i] * X[j, i] * R[r, i]
    return g


def _move(XT, R, lo, hi, shared, j, delta):
    """``z += delta x_j`` over rows ``lo:hi``."""
    for r in range(lo, hi):
        X = XT[0] if shared else XT[r]
        for i in range(R.shape[1]):
            R[r, i] += delta * X[j, i]


def _data_entries(XT, weight, bounds, A, N, W, R, alpha, ridge, n_epochs):
    T, k = W.shape
    shared = XT.shape[0] != R.shape[0]  # one design for every task's row of R
    for _ in range(n_epochs):
        for t in range(T):
            lo, hi = bounds[t], bounds[t + 1]
            for j in range(k):
                a = A[t, j]
                if a <= 0.0:
                    if N[t, j] <= 0.0:  # no data: the penalty alone, minimized at 0
                        W[t, j] = 0.0
                    continue  # (or a task without loss weight: nothing to descend)
                z = W[t, j] - _partial(XT, R, weight, lo, hi, shared, j) / a
                new = _soft(z, alpha, a, ridge)
                delta = new - W[t, j]
                if delta != 0.0:
                    W[t, j] = new
                    _move(XT, R, lo, hi, shared, j, delta)


def _data_groups(XT, weight, bounds, A, N, W, R, alpha, ridge, n_epochs):
    T, k = W.shape
    shared = XT.shape[0] != R.shape[0]  # one design for every task's row of R
    z = np.empty(T)
    for _ in range(n_epochs):
        for j in range(k):
            a = 0.0
            for t in range(T):
                a = max(a, A[t, j])
            if a <= 0.0:  # no data in any task: the penalty alone, minimized at 0
                for t in range(T):
                    if N[t, j] <= 0.0:
                        W[t, j] = 0.0
                continue
            for t in range(T):
                z[t] = W[t, j] - _partial(XT, R, weight, bounds[t], bounds[t + 1],
                                          shared, j) / a
            scale = _group_scale(z, alpha, a, ridge)
            for t in range(T):
                delta = scale * z[t] - W[t, j]
                if delta != 0.0:
                    W[t, j] += delta
                    _move(XT, R, bounds[t], bounds[t + 1], shared, j, delta)


if AVAILABLE:
    _jit = numba.njit(cache=True, nogil=True)
    _soft, _group_scale = _jit(_soft), _jit(_group_scale)
    _entries, _groups = _jit(_entries), _jit(_groups)
    # the data form's sums over samples may be reordered (vectorized), as BLAS does
    _fast = numba.njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
    _partial, _move = _fast(_partial), _fast(_move)
    _data_entries, _data_groups = _fast(_data_entries), _fast(_data_groups)


def epochs(kind, gram, cq, c, W, H, alpha, ridge, n_epochs):
    """``n_epochs`` sweeps over every coefficient, updating ``W`` and ``H`` in
    place (float64, C-contiguous host arrays)."""
    (_entries if kind == "entries" else _groups)(gram, cq, c, W, H, float(alpha),
                                                   float(ridge), int(n_epochs))


def data_epochs(kind, XT, Y, weight, bounds, A, N, W, Z, alpha, ridge, n_epochs):
    """The data form of :func:`epochs`: updates ``W`` and ``Z`` in place (the
    epochs update the residuals ``Z - Y``, one load fewer per sample)."""
    R = Z - Y
    (_data_entries if kind == "entries" else _data_groups)(
        XT, weight, bounds, A, N, W, R, float(alpha), float(ridge), int(n_epochs))
    np.add(R, Y, out=Z)
