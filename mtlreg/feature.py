"""Feature-learning family: Lasso (baseline), L2,1 joint feature selection, MTFL.

Notation of every docstring: ``T`` tasks, task ``t`` has ``n_t`` samples
``(X_t, y_t)``; ``W = coef_.T`` is ``n_features x T`` with columns ``w_t``;
``b = intercept_``; ``c_t = 1 / n_t`` (``loss_scaling="mean"``) or ``1``
(``"sum"``).
"""

import numpy as np

from ._backend import as_float, to_numpy
from ._data import build_task_data, encode_tasks
from ._docstring import estimator_doc as _doc
from .base import (
    MultiTaskClassifierBase,
    MultiTaskRegressorBase,
    NormPenaltyMixin as _NormMixin,
    drop_one_class_tasks,
    set_params_from_init,
)
from .penalties import L1, L21, SquaredTraceNorm
from .solvers import alternating_minimization, fista
from numbers import Real

from sklearn.utils._param_validation import Interval, StrOptions

__all__ = [
    "LassoRegressor", "LassoClassifier", "L21Regressor", "L21Classifier",
    "MTFLRegressor", "MTFLClassifier", "alpha_max",
]

_LASSO_DETAIL = """The elementwise L1 penalty ``alpha * sum_{j,t} |W_jt|`` makes each task an
    independent Lasso: the baseline against which joint structure is judged.
    Solved by FISTA with a certified duality gap."""

_L21_DETAIL = """The L2,1 penalty ``alpha * sum_j ||W_j,:||_2`` (``W_j,:`` = feature j across
    tasks) selects the same features for every task.  On a shared design with
    ``loss_scaling="mean"`` and ``ridge=0`` this is scikit-learn's
    ``MultiTaskLasso``.  Solved by FISTA with a certified duality gap."""

_MTFL_DETAIL = """Convex multi-task feature learning (Argyriou, Evgeniou & Pontil 2008):
    ``alpha * min_D tr(W^T D^-1 W)`` over ``D >= 0, tr D <= 1``, equal to
    ``alpha * ||W||_*^2`` (squared trace norm): tasks share a low-dimensional
    feature subspace.

    Two solvers, both stopping on the certified duality gap of the
    unperturbed problem (the conjugate of the squared trace norm is a
    spectral function with a closed form):

    * ``solver="fista"`` (default): FISTA on the equivalent
      ``alpha * ||W||_*^2``, whose prox is a thin SVD and a sorted threshold
      of the singular values.  Reaches the optimum to ``tol``.
    * ``solver="alternating"``: the paper's alternating minimization, a FISTA
      W-step for fixed ``D``, then ``D = (W W^T + eps I)^1/2 / tr(...)``, with
      ``eps = epsilon_k * sigma_max(W)^2`` decreasing geometrically
      (``epsilon_k = 0.1^k``, floored at ``epsilon``).  Like every
      epsilon-perturbed scheme it slows down as ``eps`` shrinks: it is
      offered for comparison with published results, and may stop at
      ``max_iter`` with a gap above ``tol`` (a ``ConvergenceWarning`` says so)."""

_MTFL_PARAMS = """
    solver : {"fista", "alternating"}, default="fista"
        See above.
    epsilon : float, default=1e-12
        Floor of the relative perturbation of the ``D`` step (used for
        ``feature_covariance_`` and by ``solver="alternating"``)."""

_MTFL_ATTRS = """
    feature_covariance_ : ndarray of shape (n_features, n_features)
        ``D = (W W^T + eps I)^1/2 / tr(...)`` at the solution: the learned
        feature covariance (its leading eigenvectors span the shared subspace)."""


class LassoRegressor(_NormMixin, MultiTaskRegressorBase):
    __doc__ = _doc("Independent Lasso per task (elementwise L1), squared loss.",
                   "alpha * sum_{j,t} |W_jt|", _LASSO_DETAIL, "1.0")
    _penalty_class = L1
    _zero_norm_map = {"alpha": "l1"}


class LassoClassifier(_NormMixin, MultiTaskClassifierBase):
    __doc__ = _doc("Independent L1-penalized logistic regression per task.",
                   "alpha * sum_{j,t} |W_jt|", _LASSO_DETAIL, "0.01",
                   classifier=True)
    _penalty_class = L1
    _zero_norm_map = {"alpha": "l1"}


class L21Regressor(_NormMixin, MultiTaskRegressorBase):
    __doc__ = _doc("Joint feature selection across tasks (L2,1 norm), squared loss.",
                   "alpha * sum_j ||W_j,:||_2", _L21_DETAIL, "1.0")
    _penalty_class = L21
    _zero_norm_map = {"alpha": "l21"}


class L21Classifier(_NormMixin, MultiTaskClassifierBase):
    __doc__ = _doc("Joint feature selection across tasks (L2,1 norm), logistic loss.",
                   "alpha * sum_j ||W_j,:||_2", _L21_DETAIL, "0.01",
                   classifier=True)
    _penalty_class = L21
    _zero_norm_map = {"alpha": "l21"}


class SquaredTraceMixin:
    """Models whose penalty is ``alpha * ||W||_*^2`` written with an auxiliary
    matrix (MTFL's feature covariance, MTRL's task covariance): FISTA on the
    squared trace norm, or the alternating scheme on the auxiliary."""

    _parameter_constraints = {
        **MultiTaskRegressorBase._parameter_constraints,
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "solver": [StrOptions({"fista", "alternating"})],
    }
    _penalty_class = SquaredTraceNorm
    _alternating_stop = "gap"

    def _make_penalty(self, xp):
        return self._penalty_class(xp, self.alpha, ridge=self.ridge)

    def _solve(self, datafit, penalty, coef0, intercept0):
        if self.solver == "fista":
            return fista(datafit, penalty, coef0, intercept0, tol=self.tol,
                         max_iter=self.max_iter)
        return alternating_minimization(datafit, penalty, coef0, intercept0, tol=self.tol,
                                        max_iter=self.max_iter, eps_floor=self.epsilon,
                                        stop=self._alternating_stop)

    def _auxiliary_matrix(self, xp, penalty, coef):
        """The auxiliary matrix at ``coef`` with ``eps = epsilon * sigma_max(W)^2``."""
        scale = as_float(xp.max(xp.linalg.svdvals(coef))) ** 2 if as_float(
            xp.sum(coef * coef)) > 0 else 1.0
        U, lam = penalty.auxiliary_step(coef, max(self.epsilon, 1e-300) * scale)
        return (U * lam[None, :]) @ xp.permute_dims(U, (1, 0))


class _MTFLMixin(SquaredTraceMixin):
    def _store_extra(self, result, penalty, xp):
        self.feature_covariance_ = self._auxiliary_matrix(xp, penalty, result.coef)


class MTFLRegressor(_MTFLMixin, MultiTaskRegressorBase):
    __doc__ = _doc("Convex multi-task feature learning (MTFL), squared loss.",
                   "alpha * min_D tr(W^T D^-1 W)  [= alpha * ||W||_*^2]", _MTFL_DETAIL, "1.0",
                   _MTFL_PARAMS, _MTFL_ATTRS)

    def __init__(self, alpha=1.0, *, solver="fista", epsilon=1e-12, ridge=0.0,
                 loss_scaling="mean", fit_intercept=True, tol=1e-6, max_iter=5000,
                 warm_start=False, device=None):
        set_params_from_init(self, locals())


class MTFLClassifier(_MTFLMixin, MultiTaskClassifierBase):
    __doc__ = _doc("Convex multi-task feature learning (MTFL), logistic loss.",
                   "alpha * min_D tr(W^T D^-1 W)  [= alpha * ||W||_*^2]", _MTFL_DETAIL, "0.01",
                   _MTFL_PARAMS, _MTFL_ATTRS, classifier=True)

    def __init__(self, alpha=0.01, *, solver="fista", epsilon=1e-12, ridge=0.0,
                 loss_scaling="mean", fit_intercept=True, tol=1e-6, max_iter=5000,
                 warm_start=False, device=None):
        set_params_from_init(self, locals())


def alpha_max(X, y, tasks=None, *, penalty="l21", loss="squared", loss_scaling="mean",
              fit_intercept=True, estimator=None, param="alpha"):
    """Smallest ``alpha`` for which the solution is ``W = 0``.

    ``W = 0`` is optimal iff ``-grad_W F(0, b*) `` lies in ``alpha`` times the
    unit ball of the dual norm, with ``b*`` the optimal intercepts at ``W = 0``;
    so ``alpha_max = dual_norm(grad_W F(0, b*))``: ``max_{j,t} |G_jt|`` for L1,
    ``max_j ||G_j,:||_2`` for L2,1, ``max_j sum_t |G_jt|`` for L1,inf,
    ``max_t ||G_:,t||_2`` for the per-task L2 norm, the spectral norm
    ``sigma_max(G)`` for the trace norm.  Independent of ``ridge``.

    For a decomposed model ``W = P + Q`` (:mod:`mtlreg.decomposition`),
    ``W = 0`` is optimal iff ``alpha`` and ``beta`` both reach their part's
    value: e.g. ``DirtyRegressor`` needs ``alpha >= alpha_max(penalty="l1inf")``
    and ``beta >= alpha_max(penalty="l1")``.

    Given an ``estimator``, the value is that of its parameter ``param``:
    its loss, ``loss_scaling`` and ``fit_intercept`` and the norm ``param``
    multiplies are read from it (``penalty``, ``loss``, ``loss_scaling`` and
    ``fit_intercept`` are then ignored).  Parameters of smooth terms (MTFL's
    and MTRL's squared trace norm, cASO, clustered MTL, the graph term) have
    no such value: their term's gradient vanishes at ``W = 0``, so no finite
    value makes ``W = 0`` optimal, and asking for one is an error.

    Parameters
    ----------
    X, y, tasks : as in ``fit`` (long format or shared design).
    penalty : {"l1", "l21", "l1inf", "task_l2", "trace"}
    loss : {"squared", "logistic"}
        For ``"logistic"``, ``y`` holds two class labels.
    loss_scaling : {"mean", "sum"}
    fit_intercept : bool
    estimator : mtlreg estimator, default=None
        Read the penalty, loss and settings from this (unfitted) estimator.
    param : str, default="alpha"
        With ``estimator``: the parameter whose threshold is computed, e.g.
        ``"beta"`` for the second part of a decomposed model.

    Returns
    -------
    float
    """
    if estimator is not None:
        from sklearn.base import is_classifier

        norms = estimator._zero_norms() if hasattr(estimator, "_zero_norms") else None
        if norms is None:
            raise TypeError(f"estimator must be an mtlreg estimator, got "
                            f"{type(estimator).__name__}.")
        if param not in norms:
            has = (f"; it has one for {sorted(norms)}" if norms else "")
            raise ValueError(
                f"{type(estimator).__name__} has no closed-form threshold for {param!r}: "
                f"that term is smooth at W = 0 (zero gradient), so no finite {param} "
                f"makes W = 0 optimal{has}. Give the grid of {param} values explicitly."
            )
        penalty = norms[param]
        loss = "logistic" if is_classifier(estimator) else "squared"
        loss_scaling = estimator.loss_scaling
        fit_intercept = estimator.fit_intercept
    from .penalties import L1Inf, NuclearNorm, TaskL2

    classes = {"l1": L1, "l21": L21, "l1inf": L1Inf, "task_l2": TaskL2, "trace": NuclearNorm}
    if penalty not in classes:
        raise ValueError(f"penalty must be one of {sorted(classes)}, got {penalty!r}.")
    xp, _, grad = _at_zero(X, y, tasks, loss, loss_scaling, fit_intercept)
    return classes[penalty](xp, 1.0).alpha_max(grad)


def _at_zero(X, y, tasks, loss, loss_scaling, fit_intercept):
    """``(xp, F(0, b*), grad_W F(0, b*))``: the data fit and its gradient at ``W = 0``
    with the optimal intercepts ``b*`` there."""
    from sklearn.utils.validation import check_array

    from ._backend import get_namespace
    from .losses import LogisticLoss, SquaredLoss, make_datafit, optimal_intercepts_at_zero

    if loss not in ("squared", "logistic"):
        raise ValueError(f"loss must be 'squared' or 'logistic', got {loss!r}.")
    X = check_array(X, dtype=("float64", "float32"))
    y_arr = np.asarray(y.to_numpy() if hasattr(y, "to_numpy") else to_numpy(np.asarray(y)))
    if y_arr.shape[0] != X.shape[0]:
        raise ValueError(f"X has {X.shape[0]} samples but y has {y_arr.shape[0]}.")
    if tasks is not None and y_arr.ndim == 2 and y_arr.shape[1] > 1:
        raise ValueError("tasks was given with a 2-D y: pass a 1-D y with tasks (long "
                         "format) or a 2-D Y with tasks=None (shared design).")
    if tasks is not None and y_arr.ndim == 2:
        y_arr = y_arr[:, 0]
    if loss == "logistic":
        classes_ = np.unique(y_arr)
        if classes_.shape[0] != 2:
            raise ValueError(f"logistic alpha_max needs two classes, got {classes_.tolist()}.")
        y_arr = np.where(y_arr == classes_[1], 1.0, -1.0)
    y_arr = check_array(y_arr, ensure_2d=False, dtype=X.dtype)
    xp = get_namespace(X)
    if tasks is None:
        Y2 = y_arr if y_arr.ndim == 2 else y_arr[:, None]
        data = build_task_data(xp, X, Y2, loss_scaling=loss_scaling)
    else:
        labels, index = encode_tasks(tasks, X.shape[0])
        data = build_task_data(xp, X, y_arr, index, labels.shape[0], loss_scaling=loss_scaling)
    loss_obj = SquaredLoss() if loss == "squared" else LogisticLoss()
    if loss == "squared" and fit_intercept:
        data.center()
    if loss == "logistic" and fit_intercept:
        drop_one_class_tasks(xp, data)
    datafit = make_datafit(loss_obj, data, fit_intercept and loss == "logistic", False)
    zero = xp.zeros((data.n_tasks, data.n_features), dtype=data.dtype)
    b0 = optimal_intercepts_at_zero(loss_obj, data) if loss == "logistic" and fit_intercept \
        else None
    value, grad, _ = datafit.value_and_grad(zero, b0, datafit.state(zero, b0))
    return xp, float(value), grad


def _objective_at_zero(X, y, tasks, estimator):
    """``F(0, b*)`` for the estimator's loss and settings: the objective at ``W = 0``."""
    from sklearn.base import is_classifier

    loss = "logistic" if is_classifier(estimator) else "squared"
    return _at_zero(X, y, tasks, loss, estimator.loss_scaling, estimator.fit_intercept)[1]

