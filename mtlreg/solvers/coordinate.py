"""Coordinate descent: Anderson-accelerated epochs for the squared loss, proximal
Newton for the logistic loss.

The subproblems of :func:`mtlreg.solvers.working_set_fista` have few features.
For the squared loss they are put in Gram form (``k x k`` per task, float64)
when their Gram matrices are small, and kept on the data otherwise (each
coordinate then reads its task's samples, as scikit-learn does); and, when
the optional compiled epochs are available (numba,
:mod:`mtlreg.solvers._cd_kernel`), solved by cyclic coordinate descent for
the L1 norm (each entry, as scikit-learn's ``Lasso``) and block coordinate
descent for the L2,1 and L1,inf norms (each feature across the tasks, as
``MultiTaskLasso``).  Every ``anderson`` epochs the last iterates are
extrapolated (Anderson acceleration, as in celer and skglm: the affine
combination of the last ``anderson + 1`` iterates that minimizes the norm of
their combined differences), kept when it lowers the objective.  The stop is
FISTA's: the certified duality gap of the subproblem below ``tol`` times its
objective, checked every ``check_every`` epochs.  The working-set loop then
certifies the full problem as always.

The logistic loss (any loss whose curvature varies) is solved by proximal
Newton (:func:`_prox_newton`, as skglm and glmnet do): the same epochs on the
loss's second-order model, with the intercepts as coordinates, then a
backtracking line search; the gap is certified after every Newton step, on a
state computed afresh.  It serves the working sets' subproblems and, for few
features, the whole problem (:func:`use_coordinate_descent`, which also takes
the squared loss's Lasso).
"""

import math

import numpy as np

from .._backend import as_float, is_numpy_namespace
from ..losses import DataFit
from ..penalties import L1, L21, L1Inf, SparseL21
from . import _cd_kernel
from ._fista_extrapolation import gram_anderson_weights
from ._fista_stopping import duality_gap, effective_tol, gap_threshold, objective_scale
from ._result import SolverResult

__all__ = ["coordinate_descent", "applies", "penalty_applies", "use_coordinate_descent",
           "anderson_weights"]

_KINDS = ((L1, "entries"), (L21, "l2"), (L1Inf, "linf"), (SparseL21, "sparse_l2"))
NEWTON_EPOCHS = 20   # epochs on one second-order model at most
NEWTON_RTOL = 1e-3   # ... stopping when an epoch moves its coordinates this much less
ARMIJO = 1e-4        # the sufficient decrease of the proximal Newton step
MAX_HALVINGS = 30
_EPS = float(np.finfo(np.float64).eps)
# The epochs read the task data's design in place, without a copy, when it is
# large (more than COPY_SIZE numbers: 32 MB) and a row's block (m x k numbers)
# fits in a core's L1/L2 cache with room to spare (8192 numbers, 64 kB).  The
# copy with each feature's samples contiguous runs the epochs 15-20% faster
# (measured on the logistic cases of the speed suite), a price worth its memory
# on small designs only.
NATIVE_BLOCK_SIZE = 8192
COPY_SIZE = 2 ** 22


def penalty_applies(penalty):
    """The compiled epochs know this penalty (L1, L2,1 or L1,inf, with or without
    ridge)."""
    return _spec(penalty) is not None


def applies(datafit, penalty):
    """The compiled epochs are installed and fit this subproblem: NumPy float64
    data, an L1, L2,1, L1,inf or sparse-group L2,1 penalty (or the parts of a
    stacked model, each one of those), and either the squared loss without an
    intercept variable (centred data) in Gram form (``gram`` on the data fit),
    or the squared loss or a loss of varying curvature (logistic: proximal
    Newton) on the data with each task's rows consecutive (the chunked layout,
    see :func:`_task_bounds`)."""
    if not (_cd_kernel.AVAILABLE and is_numpy_namespace(datafit.xp)
            and getattr(datafit.data, "dtype", None) == datafit.xp.float64
            and penalty_applies(penalty)):
        return False
    inner = _inner(datafit)
    if (datafit.parts_of is not None) and datafit.n_parts != len(_spec(penalty)):
        return False
    if getattr(inner.data, "gram", None) is not None and getattr(inner, "c", None) is not None:
        return True
    return (isinstance(inner, DataFit) and inner.data.X is not None
            and (inner.has_quadratic_dual or inner.curvature_varies)
            and _task_bounds(inner.data) is not None)


def _inner(datafit):
    """The data fit of the parts' sum (the epochs keep the state of the sum)."""
    return datafit if datafit.parts_of is None else datafit.parts_of


def use_coordinate_descent(datafit, penalty):
    """Coordinate descent applies to this whole problem and is expected to win: a
    loss of varying curvature (logistic: proximal Newton), or the squared loss
    with the L1 penalty (one Lasso per task: cheap exact steps, against FISTA's
    one step for all the coordinates or ADMM's), on data that :func:`applies`
    accepts, with one penalized part.  (The squared loss's block norms keep ADMM
    or FISTA: their block coordinate descent was slower on raw School's L2,1
    and Dirty fits; and the parts of a model ``P + Q`` keep FISTA, as descent
    one part at a time crawls where both parts are active on the same entry,
    separated by the ridge alone.  Working sets keep coordinate descent for
    them: a subproblem that does not converge is grown, then solved by FISTA.)"""
    spec = _spec(penalty)
    if spec is None or len(spec) != 1 or not spec[0, 1] > 0:
        return False
    lasso = spec[0, 0] == _cd_kernel.KINDS["entries"]
    return (datafit.curvature_varies or lasso) and applies(datafit, penalty)


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


def _spec(penalty):
    """The compiled epochs' description of ``penalty``: one row ``(kind, alpha,
    ridge, l1_ratio)`` per part (a :class:`PartsPenalty` of such norms has one
    per part), or None when the epochs do not know it."""
    parts = penalty.parts or (penalty,)
    rows = []
    for part in parts:
        kind = next((name for cls, name in _KINDS if type(part) is cls), None)
        if kind is None:
            return None
        rows.append((_cd_kernel.KINDS[kind], float(part.alpha), float(part.ridge),
                     float(getattr(part, "l1_ratio", 0.0))))
    return np.array(rows, dtype=np.float64)


def coordinate_descent(datafit, penalty, coef0, intercept0, *, tol=1e-6, max_iter=1000,
                       check_every=10, anderson=5, scale=None):
    """Minimize ``datafit(W) + penalty(W)`` (Gram form or data, see :func:`applies`);
    ``max_iter`` counts epochs.  Returns a :class:`SolverResult` certified for
    the problem it was given."""
    if not applies(datafit, penalty):
        raise TypeError("coordinate_descent needs numba, a NumPy float64 data fit (the "
                        "squared loss without intercept variable in Gram form, or the squared "
                        "or logistic loss on data whose tasks' rows are consecutive) and an "
                        "L1, L2,1, L1,inf or sparse-group L2,1 penalty (or parts of those).")
    xp = datafit.xp
    tol = effective_tol(tol, coef0.dtype, xp)
    if scale is None:
        scale = objective_scale(datafit, intercept0, coef0)
    spec = _spec(penalty)
    if datafit.curvature_varies:
        return _prox_newton(datafit, penalty, spec, coef0, intercept0, tol, max_iter, scale)
    inner = _inner(datafit)
    run = (_gram_epochs if getattr(inner, "c", None) is not None else _data_epochs)(inner, spec)
    W = np.array(coef0, dtype=np.float64, order="C")
    H = np.ascontiguousarray(datafit.state(W, None), dtype=np.float64)
    history = []
    past = _Iterates(anderson, W.size) if anderson else None
    converged, gap, objective = False, math.inf, math.nan
    epoch = 0
    if np.any(W):  # a warm start already certified (at the optimum) needs no epoch
        objective, gap, converged = _certify(datafit, penalty, W, None, H, tol, epoch, history)
    for epoch in range(1, 1 if converged else max_iter + 1):
        run(W, H)
        if past is not None and past.add(W):
            W, H = _extrapolate(datafit, penalty, past, W, H)
        if epoch % check_every == 0 or epoch == max_iter:
            # the state afresh: the epochs' updates drift by their rounding, and the
            # certificate must hold at W itself
            H = np.ascontiguousarray(datafit.state(W, None), dtype=np.float64)
            objective, gap, converged = _certify(datafit, penalty, W, None, H, tol, epoch,
                                                 history)
            if converged:
                break
    return SolverResult(coef=W, intercept=intercept0, n_iter=epoch, converged=converged,
                        objective=objective, criterion=gap, dual_gap=gap, history=history,
                        scale=scale, criterion_name="duality gap",
                        solver="coordinate descent")


def _certify(datafit, penalty, W, b, state, tol, epoch, history):
    """``(objective, gap, gap certifies tol)`` at ``(W, b)`` and its state, recorded
    in ``history``."""
    objective = as_float(datafit.value(W, b, state) + penalty.value(W))
    gap = duality_gap(datafit, penalty, W, b, state)
    history.append((epoch, objective, gap))
    return objective, gap, gap <= gap_threshold(tol, objective)


def _gram_epochs(datafit, spec):
    """One epoch on the Gram form, updating ``(W, H = G W)`` in place."""
    data = datafit.data
    gram = np.ascontiguousarray(data.gram[None] if data.shared else data.gram, dtype=np.float64)
    c = np.ascontiguousarray(datafit.c, dtype=np.float64)
    cq = np.ascontiguousarray(c[:, None] * data.Xty, dtype=np.float64)
    return lambda W, H: _cd_kernel.epochs(spec, gram, cq, c, W, H, 1)


def _data_epochs(datafit, spec):
    """One epoch on the data, updating ``(W, Z = X W)`` in place, on the design
    as :func:`_design` gives it (read in place, or a copy)."""
    data = datafit.data
    X3, cols, bounds, N = _design(data)
    weight = np.ascontiguousarray(data.weight, dtype=np.float64)
    Y = np.ascontiguousarray(data.Y, dtype=np.float64)
    A = _cd_kernel.curvatures(X3, cols, weight, bounds)
    return lambda W, Z: _cd_kernel.data_epochs(spec, X3, cols, Y, weight, bounds, A, N, W, Z,
                                               1)


def _design(data):
    """``(X3, cols, bounds, N)``: the design as the compiled epochs read it (see
    :mod:`._cd_kernel`), the task bounds of :func:`_task_bounds` and ``N[t, j] =
    sum x_j^2`` over task ``t``'s samples.  ``X3`` is the task data's own chunked
    array ``(n_rows, m, k)`` (``cols=False``) when it holds more than
    ``COPY_SIZE`` numbers and a row's chunk at most ``NATIVE_BLOCK_SIZE``: the
    chunk stays in the cache while the epochs read a feature's samples ``k``
    numbers apart, and no memory is added.  Otherwise, and always for a shared
    design (``(1, n, k)``: one block, the whole design), it is copied with each
    feature's samples contiguous (``cols=True``): extra memory of the design's
    size."""
    X = np.asarray(data.X, dtype=np.float64)
    X3 = X[None] if data.shared else X
    cols = X3.size <= COPY_SIZE or X3.shape[1] * X3.shape[2] > NATIVE_BLOCK_SIZE
    X3 = np.ascontiguousarray(np.swapaxes(X3, 1, 2) if cols else X3)
    bounds = _task_bounds(data)
    ones = np.ones((bounds.shape[0] - 1, X.shape[0]) if data.shared else X.shape[:2])
    return X3, cols, bounds, _cd_kernel.curvatures(X3, cols, ones, bounds)


def _task_totals(data, bounds, metric):
    """``sum metric`` over each task's samples."""
    rows = np.sum(metric, axis=1)
    return rows if data.shared else np.add.reduceat(rows, bounds[:-1])


def _prox_newton(datafit, penalty, spec, coef0, intercept0, tol, max_iter, scale):
    """Proximal Newton on a loss of varying curvature (logistic), as in skglm and
    glmnet: at each step the loss is replaced by its second-order model around
    ``(W, b)``, which coordinate descent minimizes with the penalty for at most
    ``NEWTON_EPOCHS`` epochs (the unpenalized intercepts are coordinates too);
    the step then backtracks along that direction until the objective decreases
    enough (Armijo).  Where no step does (far from the optimum, where the
    curvature vanishes on badly fitted samples and the model's step is huge),
    the model is rebuilt with the loss's largest curvature instead, a quadratic
    above the loss, whose minimization lowers the objective.  ``max_iter``
    counts epochs.  The certified gap is checked at the start and after every
    step."""
    data, loss = datafit.data, _inner(datafit).loss
    design = _design(data)
    Y = np.ascontiguousarray(data.Y, dtype=np.float64)
    weight = np.ascontiguousarray(data.weight, dtype=np.float64)
    W = np.array(coef0, dtype=np.float64, order="C")
    b = None if intercept0 is None else np.array(intercept0, dtype=np.float64)
    Z = np.ascontiguousarray(datafit.state(W, b), dtype=np.float64)
    history, epoch, note = [], 0, ""
    # a start already certified (a warm start at the optimum) needs no step
    objective, gap, converged = _certify(datafit, penalty, W, b, Z, tol, epoch, history)
    while epoch < max_iter and not converged:
        slope, curvature = loss.derivatives(np, Y, Z, weight)
        step = None
        for metric in (curvature, loss.curvature * weight):
            W1, D, B, used = _model_step(data, design, spec, W, Z, b is not None,
                                         slope, metric, max_iter - epoch)
            epoch += used
            step = _armijo(loss, penalty, Y, weight, objective, W, Z, W1, D, slope)
            if step is not None or epoch >= max_iter:
                break
        if step is None:  # no descent left at this precision
            objective, gap, converged = _certify(datafit, penalty, W, b, Z, tol, epoch, history)
            note = "" if converged else (f"no proximal Newton step lowers the objective "
                                         f"after {epoch} epochs (the certified duality gap "
                                         f"{gap:.3g} is above tol * objective = {tol:g} * "
                                         f"{objective:.6g})")
            break
        W = W1 if step == 1.0 else W + step * (W1 - W)
        b = None if b is None else b + step * B / _inner(datafit).intercept_scale
        # the state afresh: the epochs' updates of D drift by their rounding,
        # and the certificate must hold at (W, b) itself
        Z = np.ascontiguousarray(datafit.state(W, b), dtype=np.float64)
        objective, gap, converged = _certify(datafit, penalty, W, b, Z, tol, epoch, history)
        if converged:
            break
    return SolverResult(coef=W, intercept=b, n_iter=epoch, converged=converged,
                        objective=objective, criterion=gap, dual_gap=gap, history=history,
                        scale=scale, criterion_name="duality gap", note=note,
                        solver="proximal Newton coordinate descent")


def _model_step(data, design, spec, W, Z, intercept, slope, curvature, budget):
    """Coordinate descent from ``W`` on the quadratic model ``slope d + curvature
    d^2 / 2`` of the loss plus the penalty, for at most ``NEWTON_EPOCHS`` (and
    ``budget``) epochs: ``(W1, D, B, epochs)`` with ``D`` the change of the linear
    predictor and ``B`` the intercepts' (None without intercepts)."""
    X3, cols, bounds, N = design
    A = _cd_kernel.curvatures(X3, cols, curvature, bounds)
    AB = np.ascontiguousarray(_task_totals(data, bounds, curvature)) if intercept else None
    W1, D, B = W.copy(), np.zeros_like(Z), np.zeros(data.n_tasks)
    first, used = None, 0
    for _ in range(max(1, min(NEWTON_EPOCHS, budget))):
        change = _cd_kernel.newton_epochs(spec, X3, cols, curvature, slope, bounds, A, N, W1, D,
                                          1, AB, B)
        used += 1
        first = change if first is None else first
        if change <= NEWTON_RTOL * first:
            break
    return W1, D, B, used


def _armijo(loss, penalty, Y, weight, objective, W, Z, W1, D, slope):
    """The largest step ``t`` in 1, 1/2, 1/4, ... along ``(W1 - W, D)`` that lowers
    the objective by at least ``ARMIJO t`` times the model's decrease, or the full
    step when it does not raise the objective by more than its rounding (near the
    optimum the model's decrease is below what the objective resolves, while the
    step still sharpens the dual point); None when no step does."""
    if not np.any(D) and np.array_equal(W, W1):
        return None
    decrease = float(np.sum(slope * D)) + as_float(penalty.value(W1) - penalty.value(W))
    t = 1.0
    for _ in range(MAX_HALVINGS):
        Wt = W1 if t == 1.0 else W + t * (W1 - W)
        value = as_float(loss.value(np, Y, Z + t * D, weight) + penalty.value(Wt))
        if value <= objective + ARMIJO * t * decrease or \
                t == 1.0 and value <= objective + 4 * _EPS * abs(objective):
            return t
        t *= 0.5
    return None


def anderson_weights(differences):
    """Affine weights ``c`` (summing to 1) minimizing ``||sum_i c_i u_i||`` over the
    rows ``u_i`` of ``differences``, regularized at the rounding level of their Gram
    matrix; None when that system cannot be solved."""
    U = np.asarray(differences, dtype=np.float64)
    return gram_anderson_weights(U @ U.T)


class _Iterates:
    """The differences ``U[i] = p_{i+1} - p_i`` of ``k + 1`` successive iterates, in
    ``k + 1`` arrays of the iterates' size (the last iterate kept for the next
    difference): a cycle starts afresh after each extrapolation."""

    def __init__(self, k, size):
        self.U = np.empty((k, size))
        self.previous = None
        self.filled = 0

    def add(self, W):
        """Record the iterate ``W``; True when the cycle is complete (``W`` is its last)."""
        if self.previous is None:
            self.previous = W.copy()
            return False
        np.subtract(W.ravel(), self.previous.ravel(), out=self.U[self.filled])
        self.filled += 1
        if self.filled < self.U.shape[0]:
            self.previous[...] = W
            return False
        self.previous, self.filled = None, 0
        return True


def _extrapolate(datafit, penalty, past, W, H):
    """Anderson's extrapolation of a complete cycle of iterates ending at ``W``, if it
    lowers the objective: ``sum_i c_i p_{i+1} = W - sum_l (sum_{i<l} c_i) U_l``."""
    weights = anderson_weights(past.U)
    if weights is None:
        return W, H
    below = np.concatenate([[0.0], np.cumsum(weights)[:-1]])
    mix = W - np.reshape(below @ past.U, W.shape)
    state = np.ascontiguousarray(datafit.state(mix, None))
    now = as_float(datafit.value(W, None, H) + penalty.value(W))
    then = as_float(datafit.value(mix, None, state) + penalty.value(mix))
    return (mix, state) if then < now else (W, H)
