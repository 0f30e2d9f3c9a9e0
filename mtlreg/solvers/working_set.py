"""Working sets for feature-separable norms (L1, L2,1, L1,inf) with many features.

With ``n_features`` large and a sparse solution, most FISTA work is spent on
features whose coefficients stay zero.  The working-set scheme (as in celer
and skglm) solves the problem restricted to a few features, checks the
optimality of the others with one pass over the full data, and grows the set
with the worst violators, until the certified duality gap of the FULL problem
is below ``tol``.  The certificate is the same as plain FISTA's: the dual
point is built from the residuals of all features, so the reported gap
bounds the suboptimality of the full problem.

The subproblems with an L1, L2,1 or L1,inf penalty are solved by coordinate
descent when the optional compiled epochs are installed (numba,
:mod:`mtlreg.solvers.coordinate`): for the squared loss with Anderson
acceleration, on their Gram form or (when the Gram matrices would be larger
than the data) on the data; for the logistic loss by proximal Newton on the
data.  Otherwise, and for the other penalties, by FISTA.

A penalty that is a sum over the entries (L1: an independent Lasso per task)
gets a working set per task: each task keeps its own features in use and its
own worst violators, all sets of one size.  With many tasks whose supports
differ, the union of the supports is most of the features, and a shared set
would be the whole problem.
"""

import math

import numpy as np

from .._backend import as_float, to_numpy
from .._data import take_per_row
from ._requirements import require
from . import _cd_kernel as _cd
from .coordinate import applies as _cd_applies
from .coordinate import penalty_applies as _cd_penalty
from .coordinate import coordinate_descent
from .fista import duality_gap, effective_tol, fista, gap_threshold, objective_scale

__all__ = ["working_set_fista", "use_working_set"]

MIN_FEATURES = 200  # below this, plain FISTA is as fast
SUB_MAX_ITER = 500  # a subproblem that needs more is grown, not solved further
#: a subproblem is solved to this fraction of the full problem's relative gap (celer: 0.3).
#: Its epochs cost little next to the full pass that checks it, so a tighter solve that
#: saves an outer iteration pays: over the speed suite's d >> n problems, 0.01 needed
#: fewer or as many outer iterations as 0.3 (per-task Lasso, T = 100: 6 instead of 8)
SUB_TOL_FACTOR = 0.01


def _gather(xp, coef, index):
    """``coef``'s columns ``index``: the same for every task (1-D ``index``), or
    each task's own (``(n_tasks, k)``)."""
    return xp.take(coef, index, axis=1) if index.ndim == 1 else take_per_row(xp, coef, index)


def _zero_state(datafit, coef, intercept):
    """The state at ``coef = 0`` from one feature's column when the data fit allows
    it (no pass over all the features), else None."""
    if not datafit.restricted_state_is_full or \
            bool(datafit.xp.any(coef != 0)):
        return None
    xp = datafit.xp
    one = datafit.restrict_features(xp.asarray(np.zeros(1, dtype=np.int64),
                                               device=datafit.data.device))
    return one.state(xp.zeros((coef.shape[0], 1), dtype=coef.dtype,
                              device=datafit.data.device), intercept)


def use_working_set(datafit, penalty):
    """Whether ``working_set_fista`` applies and is worth it."""
    return (penalty.separable_over_features and penalty.has_conjugate
            and penalty.alpha > 0 and datafit.can_restrict_features
            and datafit.data.n_features >= MIN_FEATURES)


def working_set_fista(datafit, penalty, coef0, intercept0, *, tol=1e-6, max_iter=1000,
                      initial_size=50, max_outer=50):
    """FISTA on growing working sets of features; certified gap on all features.

    ``max_iter`` bounds the total number of iterations over all subproblems
    (FISTA iterations, or coordinate-descent epochs).  Returns a
    :class:`SolverResult` whose ``n_iter`` is that total; its ``solver`` says
    "working-set coordinate descent" when any subproblem was solved by it.
    Per-task sets on a shared design hold one copy of the set's columns per
    task (``n_tasks x n_samples x k``).
    """
    from ._result import SolverResult

    require("working_set_fista", penalty, "penalty", ("feature_scores",),
            ("separable_over_features", "has_conjugate"))
    require("working_set_fista", datafit, "data fit", ("restrict_features", "dual"),
            ("can_restrict_features", "has_dual"))
    xp = datafit.xp
    data = datafit.data
    dev = data.device
    n_features = data.n_features
    tol = effective_tol(tol, coef0.dtype, xp)
    state = _zero_state(datafit, coef0, intercept0)
    # from W = 0 the scale is the data fit there, read from the one-feature state
    # (objective_scale would make a pass over every feature)
    scale = objective_scale(datafit, intercept0, coef0) if state is None else \
        as_float(datafit.value(coef0, intercept0, state))
    per_task = penalty.separable_over_entries and data.n_tasks > 1
    coef, intercept = coef0, intercept0
    name = "working-set fista"
    size = grow = min(n_features, initial_size)
    total_iter = 0
    history = []
    converged = False
    gap = math.inf
    objective = math.nan
    for outer in range(1, max_outer + 1):
        if state is None:
            state = datafit.state(coef, intercept)
        objective = as_float(datafit.value(coef, intercept, state) + penalty.value(coef))
        V, conj = datafit.dual(coef, intercept, state)
        gap = duality_gap(datafit, penalty, coef, intercept, state, (V, conj))
        history.append((total_iter, objective, gap))
        converged = gap <= gap_threshold(tol, objective)
        if converged or total_iter >= max_iter or outer == max_outer:
            break
        # keep the features in use, then the largest optimality violations
        # (per task when the penalty is a sum over the entries)
        if per_task:
            scores = to_numpy(penalty.entry_scores(V))
            active = to_numpy(coef) != 0
            in_use = int(active.sum(axis=1).max())
        else:
            scores = to_numpy(penalty.feature_scores(V))
            active = to_numpy(xp.sum(xp.abs(coef), axis=0)) > 0
            in_use = int(active.sum())
        # twice the features in use (celer's rule), at least initial_size, and
        # growing when the last subproblem did not close the gap
        size = min(n_features, max(initial_size, 2 * in_use, grow))
        if 2 * size >= n_features:
            # most features are needed: solve the full problem (no copies, and
            # FISTA keeps its momentum across the rest of the budget)
            size = n_features
        priority = np.where(active, np.inf, scores)
        top = np.argpartition(-priority, size - 1, axis=-1)[..., :size] if size < n_features \
            else np.broadcast_to(np.arange(n_features), priority.shape)
        ws = np.sort(top, axis=-1)
        index = xp.asarray(ws, device=dev)
        restricted = sub_datafit = datafit if size == n_features else \
            datafit.restrict_features(index)
        inner = fista
        if size < n_features and _cd.AVAILABLE and _cd_penalty(penalty):
            gram_form = getattr(sub_datafit, "gram_form", None)
            candidate = sub_datafit if gram_form is None else gram_form() or sub_datafit
            if _cd_applies(candidate, penalty):
                sub_datafit, inner = candidate, coordinate_descent
                name = "working-set coordinate descent"
        sub = inner(sub_datafit, penalty, coef if size == n_features else
                    _gather(xp, coef, index), intercept,
                    tol=tol if size == n_features else
                    max(tol, min(1e-3, SUB_TOL_FACTOR * gap / max(objective, 1e-300))),
                    max_iter=max(1, max_iter - total_iter) if size == n_features else
                    max(1, min(max_iter - total_iter, SUB_MAX_ITER)), scale=scale)
        total_iter += sub.n_iter
        # scatter the subproblem's columns back with a gather (no index
        # assignment in the array API): features outside ws read a zero column
        position = np.full(ws.shape[:-1] + (n_features,), size)
        np.put_along_axis(position, ws, np.broadcast_to(np.arange(size), ws.shape), axis=-1)
        padded = xp.concat([sub.coef, xp.zeros((sub.coef.shape[0], 1), dtype=coef.dtype,
                                               device=dev)], axis=1)
        coef = _gather(xp, padded, xp.asarray(position, device=dev))
        intercept = sub.intercept
        # the full state from the set's columns alone (coef vanishes elsewhere)
        state = restricted.state(sub.coef, intercept) if datafit.restricted_state_is_full \
            else None
        grow = size if sub.converged else 2 * size
    return SolverResult(coef=coef, intercept=intercept, n_iter=total_iter, converged=converged,
                        objective=objective, criterion=gap, dual_gap=gap, history=history,
                        lipschitz=float("nan"), scale=scale, solver=name)
