"""Coordinate descent with Anderson acceleration for the working sets' subproblems.

The subproblems of :func:`mtlreg.solvers.working_set_fista` have few features.
For the squared loss they are put in Gram form (``k x k`` per task, float64)
and, when the optional compiled epochs are available (numba,
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
    """The compiled epochs are installed and fit this subproblem: NumPy float64 data
    in Gram form (``gram`` on the data fit), an L1 or L2,1 penalty."""
    return (_cd_kernel.AVAILABLE and is_numpy_namespace(datafit.xp)
            and getattr(datafit.data, "gram", None) is not None
            and getattr(datafit, "c", None) is not None
            and datafit.data.dtype == datafit.xp.float64
            and penalty_applies(penalty))


def _kind(penalty):
    for cls, kind in _KINDS:
        if type(penalty) is cls:
            return kind
    return None


def coordinate_descent(datafit, penalty, coef0, intercept0, *, tol=1e-6, max_iter=1000,
                       check_every=10, anderson=5, scale=None):
    """Minimize ``datafit(W) + penalty(W)`` (Gram form, see :func:`applies`);
    ``max_iter`` counts epochs.  Returns a :class:`SolverResult` certified for
    the problem it was given."""
    if not applies(datafit, penalty):
        raise TypeError("coordinate_descent needs numba, a NumPy float64 data fit in Gram "
                        "form and an L1 or L2,1 penalty.")
    xp = datafit.xp
    tol = effective_tol(tol, coef0.dtype, xp)
    if scale is None:
        scale = objective_scale(datafit, intercept0, coef0)
    data = datafit.data
    gram = np.ascontiguousarray(data.gram[None] if data.shared else data.gram, dtype=np.float64)
    c = np.ascontiguousarray(datafit.c, dtype=np.float64)
    cq = np.ascontiguousarray(c[:, None] * data.Xty, dtype=np.float64)
    kind = _kind(penalty)
    W = np.array(coef0, dtype=np.float64, order="C")
    H = np.ascontiguousarray(datafit.state(W, None), dtype=np.float64)
    past, history = [], []
    converged, gap, objective = False, math.inf, math.nan
    epoch = 0
    for epoch in range(1, max_iter + 1):
        _cd_kernel.epochs(kind, gram, cq, c, W, H, penalty.alpha, penalty.ridge, 1)
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
