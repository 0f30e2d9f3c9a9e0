"""Decomposition family: ``W = P + Q``, each part penalized differently.

Notation as in :mod:`mtlreg.feature`: ``W = coef_.T`` is ``n_features x
n_tasks`` with the task models ``w_t`` as columns; ``W_j,:`` is feature ``j``
across the tasks and ``W_:,t = w_t``.  Every model here is fitted jointly over
both parts on the stacked parts (ADMM on the squared loss's Gram path, FISTA
otherwise: Lipschitz constant twice the data fit's, prox part by part), and
stops on a certified duality gap: the conjugate
of the separable sum is the sum of the parts' conjugates, so the dual point
must lie in both parts' dual balls.  ``ridge`` acts on each part,
``ridge * (||P||_F^2 + ||Q||_F^2)``.
"""

from sklearn.utils._param_validation import StrOptions

from ._docstring import estimator_doc
from .base import (TwoPartClassifierBase, TwoPartRegressorBase, follow_namespace,
                   numerical_rank, outlier_tasks, set_params_from_init)
from .penalties import L1, L21, L1Inf, NuclearNorm, TaskL2
from .problem import Objective, Part

__all__ = ["DirtyRegressor", "DirtyClassifier", "RobustRegressor", "RobustClassifier",
           "RMTFLRegressor", "RMTFLClassifier"]

_JOINT = """Both parts are fitted jointly on the two stacked parts (ADMM on the
    squared loss's Gram path, FISTA with restart otherwise; ``docs/solvers.md``),
    and the duality gap is certified.  On School (split 1's training part: 139
    tasks, 27 standardized features, 11,472 samples) the regressors' fits in
    ``docs/decomposition.md`` took 80 to 590 ADMM iterations at ``tol=1e-6`` with
    ``alpha`` and ``beta`` from 0.01 to 0.3 times their parts' ``alpha_max``, and
    170 to 940 on the raw, unstandardized features (FISTA: up to 1,700 and
    17,410).  ``benchmarks/results/convergence`` races the solver against a
    MALSAR-style accelerated gradient without restart."""

_BETA = """
    beta : float, default=alpha's default
        Strength of the second part's penalty (see the objective)."""

# -- dirty model --------------------------------------------------------------------------------

_DIRTY_DETAIL = f"""Dirty model (Jalali, Ravikumar, Sanghavi & Ruan 2010): ``W = P + Q`` with a
    block-sparse shared part ``P`` (the features the tasks use together,
    ``alpha * sum_j ||P_j,:||_inf``) and an elementwise-sparse part ``Q`` for
    what is specific to single tasks (``beta * ||Q||_1``).  A feature pays
    ``alpha`` once in ``P`` for all tasks, or ``beta`` per task in ``Q``: with
    ``ridge = 0`` and ``beta > alpha`` the model is the L1,inf
    (``group_norm="l2"``: the L2,1) model alone (``Q = 0``); with
    ``alpha > n_tasks * beta`` (``"l2"``: ``alpha > sqrt(n_tasks) * beta``) it
    is the per-task Lasso (``P = 0``).
    ``group_norm="l2"`` replaces the row max by the row's L2 norm.
    The L1,inf prox is exact: by the Moreau identity it is the residual of the
    projection onto the L1 ball, a sort of each feature's ``n_tasks``
    coefficients.

    {_JOINT}"""

_DIRTY_PARAMS = _BETA + """
    group_norm : {"linf", "l2"}, default="linf"
        Norm of each feature's row of the shared part: ``"linf"``,
        ``||P_j,:||_inf`` (Jalali et al., MALSAR's ``Least_Dirty``), or
        ``"l2"``, ``||P_j,:||_2`` (the L2,1 norm)."""

_DIRTY_ATTRS = """
    coef_shared_ : ndarray of shape (n_tasks, n_features)
        ``P.T``, the block-sparse part shared across tasks.
    coef_specific_ : ndarray of shape (n_tasks, n_features)
        ``Q.T``, the elementwise-sparse task-specific part;
        ``coef_shared_ + coef_specific_ == coef_``."""

_DIRTY_PENALTY = "alpha * sum_j ||P_j,:||_inf + beta * sum_{j,t} |Q_jt|  [W = P + Q]"
_RIDGE_PQ = "ridge * (||P||_F^2 + ||Q||_F^2)"


class _Dirty:
    _parameter_constraints = {
        **TwoPartRegressorBase._parameter_constraints,
        "group_norm": [StrOptions({"linf", "l2"})],
    }

    def get_objective(self, problem):
        xp, T = problem.xp, problem.n_tasks
        # ceilings: ||Q||_1 <= T ||Q||_1,inf (sqrt(T) ||Q||_2,1): P = 0 once alpha >= T beta
        # (sqrt(T) beta); ||Q||_1,inf <= ||Q||_2,1 <= ||Q||_1: Q = 0 once beta >= alpha.
        # Dual norms against Frobenius: max_j sum_t |G_jt| <= sqrt(T) ||G||_F, the
        # others <= ||G||_F
        if self.group_norm == "linf":
            shared, ceiling = L1Inf(xp, self.alpha, ridge=self.ridge), (T, T ** 0.5)
        else:
            shared, ceiling = L21(xp, self.alpha, ridge=self.ridge), (T ** 0.5, 1.0)
        return Objective(parts=(
            Part(shared, param="alpha", name="coef_shared_", ceiling=ceiling),
            Part(L1(xp, self.beta, ridge=self.ridge), param="beta", name="coef_specific_",
                 ceiling=(1.0, 1.0))))


class DirtyRegressor(_Dirty, TwoPartRegressorBase):
    __doc__ = estimator_doc("Dirty multi-task regression (block-sparse + sparse, W = P + Q).",
                            _DIRTY_PENALTY, _DIRTY_DETAIL, "1.0", _DIRTY_PARAMS, _DIRTY_ATTRS,
                            ridge=_RIDGE_PQ)

    def __init__(self, alpha=1.0, beta=1.0, *, group_norm="linf", ridge=0.0,
                 loss_scaling="mean", fit_intercept=True, tol=1e-6, max_iter=5000,
                 warm_start=False, device=None):
        set_params_from_init(self, locals())


class DirtyClassifier(_Dirty, TwoPartClassifierBase):
    __doc__ = estimator_doc("Dirty multi-task logistic regression (W = P + Q).",
                            _DIRTY_PENALTY, _DIRTY_DETAIL, "0.01", _DIRTY_PARAMS, _DIRTY_ATTRS,
                            classifier=True, ridge=_RIDGE_PQ)

    def __init__(self, alpha=0.01, beta=0.01, *, group_norm="linf", ridge=0.0,
                 loss_scaling="mean", fit_intercept=True, tol=1e-6, max_iter=5000,
                 warm_start=False, device=None):
        set_params_from_init(self, locals())


# -- robust multi-task learning ---------------------------------------------------------------

_OUTLIER_ATTR = """
    outlier_tasks_ : ndarray
        Labels (from ``tasks_``) of the tasks whose column of the outlier part
        is non-zero, in sorted order."""

_ROBUST_DETAIL = f"""Robust multi-task learning (Chen, Zhou & Ye 2011): ``W = L + S`` with a
    low-rank part ``L`` shared by the regular tasks (``alpha * ||L||_*``) and a
    column-sparse part ``S`` (``beta * sum_t ||S_:,t||_2``) that is non-zero
    only for outlier tasks, which the low-rank structure does not fit.
    ``outlier_tasks_`` lists them.  With ``ridge = 0`` and ``beta > alpha`` no
    task is an outlier and the model is :class:`~mtlreg.TraceRegressor` /
    :class:`~mtlreg.TraceClassifier` (a column norm never exceeds the
    spectral norm); with ``beta < alpha / sqrt(n_tasks)``, ``L = 0``.

    {_JOINT}"""

_ROBUST_ATTRS = """
    coef_lowrank_ : ndarray of shape (n_tasks, n_features)
        ``L.T``, the low-rank part.
    coef_outlier_ : ndarray of shape (n_tasks, n_features)
        ``S.T``, non-zero only in the rows of outlier tasks;
        ``coef_lowrank_ + coef_outlier_ == coef_``.""" + _OUTLIER_ATTR + """
    rank_ : int
        Numerical rank of ``L``."""

_ROBUST_PENALTY = "alpha * ||L||_* + beta * sum_t ||S_:,t||_2  [W = L + S]"


class _Robust:
    def get_objective(self, problem):
        xp, T = problem.xp, problem.n_tasks
        labels = _labels(problem)

        def readouts(solution):
            return {"outlier_tasks_": outlier_tasks(xp, solution.parts[1, ...], labels),
                    "rank_": numerical_rank(xp, solution.parts[0, ...])}

        # ceilings: sum_t ||s_t|| <= sqrt(T) ||S||_F <= sqrt(T) ||S||_*,
        # ||S||_* <= sum_t ||s_t||; the spectral norm and max_t ||g_t|| are <= ||G||_F
        return Objective(parts=(
            Part(NuclearNorm(xp, self.alpha, ridge=self.ridge), param="alpha",
                 name="coef_lowrank_", ceiling=(T ** 0.5, 1.0)),
            Part(TaskL2(xp, self.beta, ridge=self.ridge), param="beta", name="coef_outlier_",
                 ceiling=(1.0, 1.0))), readouts=readouts)


class RobustRegressor(_Robust, TwoPartRegressorBase):
    __doc__ = estimator_doc("Robust multi-task regression (low rank + outlier tasks, W = L + S).",
                            _ROBUST_PENALTY, _ROBUST_DETAIL, "1.0", _BETA, _ROBUST_ATTRS,
                            ridge="ridge * (||L||_F^2 + ||S||_F^2)")


class RobustClassifier(_Robust, TwoPartClassifierBase):
    __doc__ = estimator_doc("Robust multi-task logistic regression (W = L + S).",
                            _ROBUST_PENALTY, _ROBUST_DETAIL, "0.01", _BETA, _ROBUST_ATTRS,
                            classifier=True, ridge="ridge * (||L||_F^2 + ||S||_F^2)")


# -- robust multi-task feature learning -------------------------------------------------------

_RMTFL_DETAIL = f"""Robust multi-task feature learning (Gong, Ye & Zhang 2012): ``W = P + Q``
    with a part ``P`` that selects features jointly for the regular tasks
    (``alpha * sum_j ||P_j,:||_2``, the L2,1 norm) and a column-sparse part
    ``Q`` (``beta * sum_t ||Q_:,t||_2``) that is non-zero only for outlier
    tasks, which may use any features.  ``outlier_tasks_`` lists them.  With
    ``ridge = 0`` and ``beta > sqrt(n_features) * alpha`` no task is an
    outlier and the model is :class:`~mtlreg.L21Regressor` /
    :class:`~mtlreg.L21Classifier`; with ``beta < alpha / sqrt(n_tasks)``,
    ``P = 0``.

    {_JOINT}"""

_RMTFL_ATTRS = """
    coef_shared_ : ndarray of shape (n_tasks, n_features)
        ``P.T``, the jointly feature-sparse part.
    coef_outlier_ : ndarray of shape (n_tasks, n_features)
        ``Q.T``, non-zero only in the rows of outlier tasks;
        ``coef_shared_ + coef_outlier_ == coef_``.""" + _OUTLIER_ATTR

_RMTFL_PENALTY = "alpha * sum_j ||P_j,:||_2 + beta * sum_t ||Q_:,t||_2  [W = P + Q]"


class _RMTFL:
    def get_objective(self, problem):
        xp, T, d = problem.xp, problem.n_tasks, problem.n_features
        labels = _labels(problem)
        # ceilings: sum_t ||q_t|| <= sqrt(T) ||Q||_F <= sqrt(T) sum_j ||Q_j,:||, and the
        # same with rows and columns exchanged (sqrt(d)); both dual norms <= ||G||_F
        return Objective(parts=(
            Part(L21(xp, self.alpha, ridge=self.ridge), param="alpha", name="coef_shared_",
                 ceiling=(T ** 0.5, 1.0)),
            Part(TaskL2(xp, self.beta, ridge=self.ridge), param="beta", name="coef_outlier_",
                 ceiling=(d ** 0.5, 1.0))),
            readouts=lambda solution: {
                "outlier_tasks_": outlier_tasks(xp, solution.parts[1, ...], labels)})


def _labels(problem):
    """The task labels as the fitted ``tasks_`` holds them."""
    return follow_namespace(problem.xp, problem.labels, problem.X)


class RMTFLRegressor(_RMTFL, TwoPartRegressorBase):
    __doc__ = estimator_doc("Robust multi-task feature learning, squared loss (W = P + Q).",
                            _RMTFL_PENALTY, _RMTFL_DETAIL, "1.0", _BETA, _RMTFL_ATTRS,
                            ridge=_RIDGE_PQ)


class RMTFLClassifier(_RMTFL, TwoPartClassifierBase):
    __doc__ = estimator_doc("Robust multi-task feature learning, logistic loss (W = P + Q).",
                            _RMTFL_PENALTY, _RMTFL_DETAIL, "0.01", _BETA, _RMTFL_ATTRS,
                            classifier=True, ridge=_RIDGE_PQ)
