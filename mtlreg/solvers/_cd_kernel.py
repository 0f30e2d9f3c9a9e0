"""Compiled epochs of coordinate descent (numba).

An optional fast path (``pip install "mtlreg[fast]"``): without numba,
:data:`AVAILABLE` is False and the working sets keep FISTA.  Everything else
about the solve (working sets, Anderson acceleration, the proximal Newton
steps, the certificate) is array code in :mod:`mtlreg.solvers.coordinate`;
these loops are the part that Python cannot run fast, one coefficient at a
time.

The data fit is ``F(W) = sum_t c_t (w_t^T G_t w_t / 2 - w_t^T q_t + ...)``, its
state ``H_t = G_t w_t``; the penalty ``alpha * Omega(W) + ridge * ||W||_F^2``
with ``Omega`` the L1 norm (``kind = "entries"``: each entry its own exact
minimization, as scikit-learn's ``Lasso``), the L2,1 norm (``"groups"``:
feature ``j`` across the tasks as one block, step ``1 / max_t c_t (G_t)_jj``,
as scikit-learn's ``MultiTaskLasso``) or the L1,inf norm (``"linf"``: the same
blocks, with the prox of the max norm).  ``gram`` is ``(T, k, k)``, or
``(1, k, k)`` for a design shared by the tasks.

The data form (:func:`data_epochs`, for working sets too large for their Gram
matrices) keeps the residuals ``Z - Y`` of every sample instead of ``H``: a
coordinate costs a pass over its task's samples for the partial derivative,
and one more to update ``Z`` when it moves (scikit-learn's ``Lasso`` and
``MultiTaskLasso`` on a Fortran-ordered ``X``).  ``X3`` is the design, C-contiguous:
the task data's own chunked array ``(n_rows, m, k)`` (``cols=False``: read in
place, a feature's samples ``k`` numbers apart, which suits blocks that stay in
the cache), or a copy with each row's samples last, ``(n_rows, k, m)``
(``cols=True``); ``(1, n, k)`` or ``(1, k, n)`` for a design shared by the tasks
(``Z`` is then ``(n_tasks, n)``); the rows ``bounds[t]:bounds[t + 1]``
of ``Z``, ``Y`` and ``weight`` (``(n_rows, m)``) are task ``t``'s samples;
``A[t, j] = sum weight x_j^2`` and ``N[t, j] = sum x_j^2`` over those samples.

The same loops minimize the second-order model of any loss around a point
(:func:`newton_epochs`, the inner solve of proximal Newton): per sample a
slope ``g`` and a curvature ``h`` (the loss's first and second derivatives,
times the sample's weight), the partial derivative ``sum x_j (g + h d)`` with
``d`` the change of the linear predictor, and the unpenalized intercepts as
coordinates of their own.
"""

import numpy as np

try:  # the optional fast path
    import numba

    AVAILABLE = True
except ImportError:  # pragma: no cover - depends on the environment
    numba = None
    AVAILABLE = False

__all__ = ["AVAILABLE", "KINDS", "epochs", "data_epochs", "newton_epochs",
           "curvatures"]


def _soft(z, alpha, a, ridge):
    """``argmin_w a (w - z)^2 / 2 + alpha |w| + ridge w^2``."""
    tau = alpha / a
    if z > tau:
        return (z - tau) / (1.0 + 2.0 * ridge / a)
    if z < -tau:
        return (z + tau) / (1.0 + 2.0 * ridge / a)
    return 0.0


def _block(z, kind, alpha, a, ridge, ratio):
    """``z <- argmin_w a ||w - z||^2 / 2 + alpha Omega(w) + ridge ||w||^2`` for a
    block norm ``Omega``: the L2 norm (``kind`` 1), the max norm (2) or the
    sparse-group norm ``ratio ||w||_1 + (1 - ratio) ||w||_2`` (3).  With
    ``b = a + 2 ridge`` it is the prox of ``(alpha / b) Omega`` at ``z a / b``."""
    b = a + 2.0 * ridge
    tau = alpha / b
    for t in range(z.shape[0]):
        z[t] *= a / b
    if kind == 2:
        _linf_prox(z, tau)
        return
    if kind == 3:
        for t in range(z.shape[0]):
            z[t] = _soft(z[t], ratio * tau, 1.0, 0.0)
        tau = (1.0 - ratio) * tau
    norm = 0.0
    for v in z:
        norm += v * v
    norm = np.sqrt(norm)
    scale = 1.0 - tau / norm if norm > tau else 0.0
    for t in range(z.shape[0]):
        z[t] *= scale


def _linf_prox(z, tau):
    """``z <-`` the prox of ``tau ||.||_inf``: ``z`` clipped to ``[-theta, theta]``,
    ``theta`` the shrinkage of the projection onto the L1 ball of radius ``tau``
    (:func:`mtlreg.penalties.linf.l1_ball_threshold`; 0 when ``z`` is inside)."""
    u = np.sort(np.abs(z))[::-1]
    total, theta = 0.0, 0.0
    for k in range(u.shape[0]):
        total += u[k]
        theta = max(theta, (total - tau) / (k + 1))
    for t in range(z.shape[0]):
        z[t] = min(max(z[t], -theta), theta)


def _entries(gram, cq, c, W, H, o, alpha, ridge):
    """One sweep over the entries of the part in rows ``o:o + T`` of ``W``."""
    T, k = H.shape
    shared = gram.shape[0] == 1
    for t in range(T):
        G = gram[0] if shared else gram[t]
        for j in range(k):
            if G[j, j] <= 0.0:  # no data: the penalty alone, minimized at 0 (G[j, :] = 0)
                W[o + t, j] = 0.0
                continue
            a = c[t] * G[j, j]
            if a <= 0.0:  # a task without loss weight: the penalty alone, minimized at 0
                delta = -W[o + t, j]
                W[o + t, j] = 0.0
                for i in range(k):
                    H[t, i] += delta * G[j, i]
                continue
            z = W[o + t, j] - (c[t] * H[t, j] - cq[t, j]) / a
            new = _soft(z, alpha, a, ridge)
            delta = new - W[o + t, j]
            if delta != 0.0:
                W[o + t, j] = new
                for i in range(k):
                    H[t, i] += delta * G[j, i]


def _blocks(gram, cq, c, W, H, o, kind, alpha, ridge, ratio, z):
    """One sweep over the blocks (a feature across the tasks) of the part in rows
    ``o:o + T`` of ``W``."""
    T, k = H.shape
    shared = gram.shape[0] == 1
    for j in range(k):
        a = 0.0
        for t in range(T):
            G = gram[0] if shared else gram[t]
            a = max(a, c[t] * G[j, j])
        if a <= 0.0:  # no data or loss weight in any task: the penalty alone, min at 0
            for t in range(T):
                G = gram[0] if shared else gram[t]
                delta = -W[o + t, j]
                W[o + t, j] = 0.0
                for i in range(k):
                    H[t, i] += delta * G[j, i]
            continue
        for t in range(T):
            z[t] = W[o + t, j] - (c[t] * H[t, j] - cq[t, j]) / a
        _block(z, kind, alpha, a, ridge, ratio)
        for t in range(T):
            delta = z[t] - W[o + t, j]
            if delta != 0.0:
                W[o + t, j] += delta
                G = gram[0] if shared else gram[t]
                for i in range(k):
                    H[t, i] += delta * G[j, i]


def _gram_sweeps(gram, cq, c, W, H, parts, n_epochs):
    """``n_epochs`` sweeps over every part (``parts[p] = (kind, alpha, ridge,
    ratio)``, kind 0 the entries of L1)."""
    T = H.shape[0]
    z = np.empty(T)
    for _ in range(n_epochs):
        for p in range(parts.shape[0]):
            kind = int(parts[p, 0])
            if kind == 0:
                _entries(gram, cq, c, W, H, p * T, parts[p, 1], parts[p, 2])
            else:
                _blocks(gram, cq, c, W, H, p * T, kind, parts[p, 1], parts[p, 2],
                        parts[p, 3], z)


def _partial(X3, R, weight, offset, lo, hi, shared, cols, j):
    """``sum x_j (weight r + offset)`` over rows ``lo:hi`` (task ``t``'s samples;
    ``offset`` None: zero)."""
    g = 0.0
    for r in range(lo, hi):
        X = X3[0] if shared else X3[r]
        if cols:  # two loops: one typed view would lose the contiguity numba vectorizes
            x = X[j]
            for i in range(R.shape[1]):
                g += x[i] * (weight[r, i] * R[r, i] + (0.0 if offset is None else offset[r, i]))
        else:
            for i in range(R.shape[1]):
                g += X[i, j] * (weight[r, i] * R[r, i] +
                                (0.0 if offset is None else offset[r, i]))
    return g


def _move(X3, R, lo, hi, shared, cols, j, delta):
    """``z += delta x_j`` over rows ``lo:hi``."""
    for r in range(lo, hi):
        X = X3[0] if shared else X3[r]
        if cols:
            x = X[j]
            for i in range(R.shape[1]):
                R[r, i] += delta * x[i]
        else:
            for i in range(R.shape[1]):
                R[r, i] += delta * X[i, j]


def _curvatures(X3, cols, metric, bounds, A):
    """``A[t, j] = sum metric x_j^2`` over task ``t``'s samples (``metric`` per
    sample, shaped like ``R``), with no temporary of the design's size."""
    shared = X3.shape[0] != metric.shape[0]
    A[:] = 0.0
    for t in range(A.shape[0]):
        for r in range(bounds[t], bounds[t + 1]):
            X = X3[0] if shared else X3[r]
            h = metric[r]
            if cols:
                for j in range(A.shape[1]):
                    x = X[j]
                    a = 0.0
                    for i in range(h.shape[0]):
                        a += h[i] * x[i] * x[i]
                    A[t, j] += a
            else:
                for i in range(h.shape[0]):
                    x = X[i]
                    for j in range(A.shape[1]):
                        A[t, j] += h[i] * x[j] * x[j]


def _intercepts(R, weight, offset, bounds, AB, B):
    """One exact step on each task's unpenalized intercept (curvature ``AB[t]``),
    moving ``B`` and ``R``; returns the largest ``AB[t] delta^2``."""
    change = 0.0
    for t in range(AB.shape[0]):
        a = AB[t]
        if a <= 0.0:
            continue
        g = 0.0
        for r in range(bounds[t], bounds[t + 1]):
            for i in range(R.shape[1]):
                g += weight[r, i] * R[r, i] + (0.0 if offset is None else offset[r, i])
        delta = -g / a
        B[t] += delta
        for r in range(bounds[t], bounds[t + 1]):
            for i in range(R.shape[1]):
                R[r, i] += delta
        change = max(change, a * delta * delta)
    return change


def _data_entries(X3, cols, weight, offset, bounds, A, N, W, R, o, alpha, ridge):
    """The data form of :func:`_entries`; returns the largest ``a delta^2``."""
    T, k = A.shape
    shared = X3.shape[0] != R.shape[0]  # one design for every task's row of R
    change = 0.0
    for t in range(T):
        lo, hi = bounds[t], bounds[t + 1]
        for j in range(k):
            a = A[t, j]
            if a <= 0.0:  # no data, no loss weight or no curvature: the penalty alone
                if N[t, j] > 0.0 and W[o + t, j] != 0.0:
                    _move(X3, R, lo, hi, shared, cols, j, -W[o + t, j])
                W[o + t, j] = 0.0
                continue
            z = W[o + t, j] - _partial(X3, R, weight, offset, lo, hi, shared, cols, j) / a
            new = _soft(z, alpha, a, ridge)
            delta = new - W[o + t, j]
            if delta != 0.0:
                W[o + t, j] = new
                _move(X3, R, lo, hi, shared, cols, j, delta)
                change = max(change, a * delta * delta)
    return change


def _data_blocks(X3, cols, weight, offset, bounds, A, N, W, R, o, kind, alpha, ridge, ratio,
                 z):
    """The data form of :func:`_blocks`; returns the largest ``a delta^2``."""
    T, k = A.shape
    shared = X3.shape[0] != R.shape[0]  # one design for every task's row of R
    change = 0.0
    for j in range(k):
        a = 0.0
        for t in range(T):
            a = max(a, A[t, j])
        if a <= 0.0:  # no data, loss weight or curvature in any task: the penalty alone
            for t in range(T):
                if N[t, j] > 0.0 and W[o + t, j] != 0.0:
                    _move(X3, R, bounds[t], bounds[t + 1], shared, cols, j, -W[o + t, j])
                W[o + t, j] = 0.0
            continue
        for t in range(T):
            z[t] = W[o + t, j] - _partial(X3, R, weight, offset, bounds[t], bounds[t + 1],
                                          shared, cols, j) / a
        _block(z, kind, alpha, a, ridge, ratio)
        for t in range(T):
            delta = z[t] - W[o + t, j]
            if delta != 0.0:
                W[o + t, j] += delta
                _move(X3, R, bounds[t], bounds[t + 1], shared, cols, j, delta)
                change = max(change, a * delta * delta)
    return change


def _data_sweeps(X3, cols, weight, offset, bounds, A, N, W, R, parts, n_epochs, AB, B):
    """The data form of :func:`_gram_sweeps`, then the intercepts (``AB`` not
    None) at the end of each epoch; returns the last epoch's largest
    ``a delta^2``."""
    T = A.shape[0]
    z = np.empty(T)
    change = 0.0
    for _ in range(n_epochs):
        change = 0.0
        for p in range(parts.shape[0]):
            kind = int(parts[p, 0])
            if kind == 0:
                moved = _data_entries(X3, cols, weight, offset, bounds, A, N, W, R, p * T,
                                      parts[p, 1], parts[p, 2])
            else:
                moved = _data_blocks(X3, cols, weight, offset, bounds, A, N, W, R, p * T, kind,
                                     parts[p, 1], parts[p, 2], parts[p, 3], z)
            change = max(change, moved)
        if AB is not None:
            change = max(change, _intercepts(R, weight, offset, bounds, AB, B))
    return change


if AVAILABLE:
    _jit = numba.njit(cache=True, nogil=True)
    _soft, _linf_prox, _block = _jit(_soft), _jit(_linf_prox), _jit(_block)
    _entries, _blocks, _gram_sweeps = _jit(_entries), _jit(_blocks), _jit(_gram_sweeps)
    # the data form's sums over samples may be reordered (vectorized), as BLAS does
    _fast = numba.njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
    _partial, _move, _intercepts = _fast(_partial), _fast(_move), _fast(_intercepts)
    _curvatures = _fast(_curvatures)
    _data_entries, _data_blocks = _fast(_data_entries), _fast(_data_blocks)
    _data_sweeps = _fast(_data_sweeps)

KINDS = {"entries": 0, "l2": 1, "linf": 2, "sparse_l2": 3}


def epochs(parts, gram, cq, c, W, H, n_epochs):
    """``n_epochs`` sweeps over every coefficient, updating ``W`` (the parts
    stacked, ``(n_parts * T, k)``) and ``H`` (``(T, k)``) in place (float64,
    C-contiguous host arrays).  ``parts``: one row ``(kind, alpha, ridge, ratio)``
    per part, ``kind`` from :data:`KINDS`."""
    _gram_sweeps(gram, cq, c, W, H, parts, int(n_epochs))


def data_epochs(parts, X3, cols, Y, weight, bounds, A, N, W, Z, n_epochs):
    """The data form of :func:`epochs`: updates ``W`` and ``Z`` in place (the
    epochs update the residuals ``Z - Y``, one load fewer per sample)."""
    R = Z - Y
    _data_sweeps(X3, cols, weight, None, bounds, A, N, W, R, parts, int(n_epochs), None, None)
    np.add(R, Y, out=Z)


def newton_epochs(parts, X3, cols, curvature, slope, bounds, A, N, W, D, n_epochs, AB=None,
                  B=None):
    """Epochs on the quadratic model ``sum slope d + curvature d^2 / 2`` of the loss
    around a point (``d`` the change of each sample's linear predictor, kept in
    ``D``) plus the penalty at ``W``: updates ``W``, ``D`` and the intercepts'
    changes ``B`` (curvatures ``AB``; None: no intercept) in place.  Returns the
    last epoch's largest ``a delta^2`` (``a`` the coordinate's curvature)."""
    return _data_sweeps(X3, cols, curvature, slope, bounds, A, N, W, D, parts, int(n_epochs), AB, B)


def curvatures(X3, cols, metric, bounds):
    """``A[t, j] = sum metric x_j^2`` over task ``t``'s samples (float64,
    ``(n_tasks, k)``): ``X3``, ``cols`` and ``bounds`` as in :func:`data_epochs`,
    ``metric`` shaped like its ``Y`` (``(n_tasks, n)`` for a shared design)."""
    A = np.empty((bounds.shape[0] - 1, X3.shape[1 if cols else 2]))
    _curvatures(X3, cols, metric, bounds, A)
    return A
