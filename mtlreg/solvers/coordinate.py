"""Coordinate descent with Anderson acceleration for the working sets' subproblems.

The subproblems of :func:`mtlreg.solvers.working_set_fista` have few features.
For the squared loss they are put in Gram form (``k x k`` per task, float64)
when their Gram matrices are small, and kept on the data otherwise (each
coordinate then reads its task's samples, as scikit-learn does); and, when
the optional compiled epochs are available (numba,
:mod:`mtlreg.solvers._cd_kernel`), solved by cyclic coordinate descent for
the L1 norm (each entry, as scikit-learn's ``Lasso``) and block coordinate
descent for the L2,1 norm (each feature across the tasks, as
``MultiTaskLasso``).  Every ``anderson`` epochs the last iterates are
extrapolated (Anderson acceleration, as in celer and skglm: the affine
combination of the last ``anderson + 1`` iterates that minimizes the norm of
their combined differences), kept when it lowers the objective.  The stop is
FISTA's: the certified duality gap of the subproblem below ``tol`` times its
objective, checked every ``check_every`` epochs.  The working-set loop then
certifies the full problem as always.
"""

import math

import numpy as np

from .._backend import as_float, is_numpy_namespace
from ..losses import DataFit
from ..penalties import L1, L21
from . import _cd_kernel
from ._fista_stopping import duality_gap, effective_tol, gap_threshold, objective_scale
from ._result import SolverResult

__all__ = ["coordinate_descent", "applies", "penalty_applies", "anderson_weights"]

_KINDS = ((L1, "entries"), (L21, "groups"))


def penalty_applies(penalty):
    """The compiled epochs know this penalty (L1 or L2,1, with or without ridge)."""
    return _kind(penalty) is not None


def applies(datafit, penalty):
    """The compiled epochs are installed and fit this subproblem: NumPy float64
    data, an L1 or L2,1 penalty, the squared loss without an intercept variable
    (centred data) in Gram form (``gram`` on the data fit) or on the data with
    each task's rows consecutive (the chunked layout, see :func:`_task_bounds`)."""
    if not (_cd_kernel.AVAILABLE and is_numpy_namespace(datafit.xp)
            and getattr(datafit.data, "dtype", None) == datafit.xp.float64
            and penalty_applies(penalty)):
        return False
    if getattr(datafit.data, "gram", None) is not None and getattr(datafit, "c", None) is not None:
        return True
    return (isinstance(datafit, DataFit) and datafit.has_quadratic_dual
            and datafit.data.X is not None and _task_bounds(datafit.data) is not None)


def _task_bounds(data):
    """Rows ``bounds[t]:bounds[t + 1]`` of the per-sample arrays hold task ``t``'s
    samples; None when a task's rows are not consecutive."""
    T = data.n_tasks
    if data.shared or data.row_task is None:  # row t is task t
        return np.arange(T + 1)
    slices = data.task_slices
    if slices is None or np.any(slices[1:, 0] != slices[:-1, 1]):
        return None
    return np.append(slices[:, 0], slices[-1, 1])


def _kind(penalty):
    for cls, kind in _KINDS:
        if type(penalty) is cls:
            return kind
    return None


def coordinate_descent(datafit, penalty, coef0, intercept0, *, tol=1e-6, max_iter=1000,
                       check_every=10, anderson=5, scale=None):
    """Minimize ``datafit(W) + penalty(W)`` (Gram form or data, see :func:`applies`);
    ``max_iter`` counts epochs.  Returns a :class:`SolverResult` certified for
    the problem it was given."""
    if not applies(datafit, penalty):
        raise TypeError("coordinate_descent needs numba, a NumPy float64 squared-loss data "
                        "fit without intercept variable (Gram form, or data whose tasks' rows "
                        "are consecutive) and an L1 or L2,1 penalty.")
    xp = datafit.xp
    tol = effective_tol(tol, coef0.dtype, xp)
    if scale is None:
        scale = objective_scale(datafit, intercept0, coef0)
    run = (_gram_epochs if getattr(datafit, "c", None) is not None else _data_epochs)(
        datafit, _kind(penalty), penalty)
    W = np.array(coef0, dtype=np.float64, order="C")
    H = np.ascontiguousarray(datafit.state(W, None), dtype=np.float64)
    past, history = [], []
    converged, gap, objective = False, math.inf, math.nan
    epoch = 0
    for epoch in range(1, max_iter + 1):
        run(W, H)
        if anderson:
            past = (past + [W.copy()])[-(anderson + 1):]
            if len(past) == anderson + 1:
                W, H = _extrapolate(datafit, penalty, past, W, H)
                past = []
        if epoch % check_every == 0 or epoch == max_iter:
            objective = as_float(datafit.value(W, None, H) + penalty.value(W))
            gap = duality_gap(datafit, penalty, W, None, H)
            history.append((epoch, objective, gap))
            if gap <= gap_threshold(tol, objective):
                converged = True
                break
    return SolverResult(coef=W, intercept=intercept0, n_iter=epoch, converged=converged,
                        objective=objective, criterion=gap, dual_gap=gap, history=history,
                        scale=scale, criterion_name="duality gap",
                        solver="coordinate descent")


def _gram_epochs(datafit, kind, penalty):
    """One epoch on the Gram form, updating ``(W, H = G W)`` in place."""
    data = datafit.data
    gram = np.ascontiguousarray(data.gram[None] if data.shared else data.gram, dtype=np.float64)
    c = np.ascontiguousarray(datafit.c, dtype=np.float64)
    cq = np.ascontiguousarray(c[:, None] * data.Xty, dtype=np.float64)
    return lambda W, H: _cd_kernel.epochs(kind, gram, cq, c, W, H, penalty.alpha,
                                          penalty.ridge, 1)


def _data_epochs(datafit, kind, penalty):
    """One epoch on the data, updating ``(W, Z = X W)`` in place.  Holds a copy
    of the design with each row's samples last (its columns contiguous)."""
    data = datafit.data
    X = np.asarray(data.X, dtype=np.float64)
    weight = np.ascontiguousarray(data.weight, dtype=np.float64)
    Y = np.ascontiguousarray(data.Y, dtype=np.float64)
    bounds = _task_bounds(data)
    X2 = X * X
    if data.shared:  # X (n, k); Y, weight (n_tasks, n)
        XT = np.ascontiguousarray(X.T)[None]
        A = weight @ X2
        N = np.broadcast_to(np.sum(X2, axis=0), A.shape)
    else:  # X (n_rows, m, k); Y, weight (n_rows, m)
        XT = np.ascontiguousarray(np.swapaxes(X, 1, 2))
        A = np.add.reduceat(np.einsum("ri,rij->rj", weight, X2), bounds[:-1], axis=0)
        N = np.add.reduceat(np.sum(X2, axis=1), bounds[:-1], axis=0)
    A, N = np.ascontiguousarray(A), np.ascontiguousarray(N)
    return lambda W, Z: _cd_kernel.data_epochs(kind, XT, Y, weight, bounds, A, N, W, Z,
                                               penalty.alpha, penalty.ridge, 1)


def anderson_weights(differences):
    """Affine weights ``c`` (summing to 1) minimizing ``||sum_i c_i u_i||`` over the
    rows ``u_i`` of ``differences``, regularized at the rounding level of their Gram
    matrix; None when that system cannot be solved."""
    U = np.asarray(differences, dtype=np.float64)
    C = U @ U.T
    C = C + 1e-12 * max(np.trace(C), np.finfo(np.float64).tiny) * np.eye(C.shape[0])
    try:
        z = np.linalg.solve(C, np.ones(C.shape[0]))
    except np.linalg.LinAlgError:
        return None
    total = z.sum()
    return None if not np.isfinite(total) or total == 0 else z / total


def _extrapolate(datafit, penalty, past, W, H):
    """Anderson's extrapolation of the iterates ``past``, if it lowers the objective."""
    weights = anderson_weights([(b - a).ravel() for a, b in zip(past[:-1], past[1:])])
    if weights is None:
        return W, H
    mix = np.ascontiguousarray(sum(w * p for w, p in zip(weights, past[1:])))
    state = np.ascontiguousarray(datafit.state(mix, None))
    now = as_float(datafit.value(W, None, H) + penalty.value(W))
    then = as_float(datafit.value(mix, None, state) + penalty.value(mix))
    return (mix, state) if then < now else (W, H)
