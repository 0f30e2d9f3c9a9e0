"""Feature-learning family: Lasso (baseline), L2,1 joint feature selection, MTFL.

Notation of every docstring: ``T`` tasks, task ``t`` has ``n_t`` samples
``(X_t, y_t)``; ``W = coef_.T`` is ``n_features x T`` with columns ``w_t``;
``b = intercept_``; ``c_t = 1 / n_t`` (``loss_scaling="mean"``) or ``1``
(``"sum"``).
"""

from ._docstring import estimator_doc as _doc
from .base import (SQUARED_TRACE_CONSTRAINTS, MultiTaskClassifierBase, MultiTaskRegressorBase,
                   set_params_from_init)
from .penalties import L1, L21, SquaredTraceNorm
from .problem import Objective, Part

__all__ = [
    "LassoRegressor", "LassoClassifier", "L21Regressor", "L21Classifier",
    "MTFLRegressor", "MTFLClassifier",
]

_LASSO_DETAIL = """The elementwise L1 penalty ``alpha * sum_{j,t} |W_jt|`` makes each task an
    independent Lasso: the baseline against which joint structure is judged.
    Solved by ADMM on the squared loss's Gram path (the regressors, float64,
    tasks with at least ``n_features`` samples on average) and by FISTA otherwise,
    with a certified duality gap (``docs/solvers.md``)."""

_L21_DETAIL = """The L2,1 penalty ``alpha * sum_j ||W_j,:||_2`` (``W_j,:`` = feature j across
    tasks) selects the same features for every task.  On a shared design with
    ``loss_scaling="mean"`` and ``ridge=0`` this is scikit-learn's
    ``MultiTaskLasso``.  Solved by ADMM on the squared loss's Gram path (the regressors, float64,
    tasks with at least ``n_features`` samples on average) and by FISTA otherwise,
    with a certified duality gap (``docs/solvers.md``)."""

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


class _Lasso:
    def get_objective(self, problem):
        return Objective(parts=(Part(L1(problem.xp, self.alpha, ridge=self.ridge),
                                     param="alpha"),))


class LassoRegressor(_Lasso, MultiTaskRegressorBase):
    __doc__ = _doc("Independent Lasso per task (elementwise L1), squared loss.",
                   "alpha * sum_{j,t} |W_jt|", _LASSO_DETAIL, "1.0")


class LassoClassifier(_Lasso, MultiTaskClassifierBase):
    __doc__ = _doc("Independent L1-penalized logistic regression per task.",
                   "alpha * sum_{j,t} |W_jt|", _LASSO_DETAIL, "0.01",
                   classifier=True)


class _L21:
    def get_objective(self, problem):
        return Objective(parts=(Part(L21(problem.xp, self.alpha, ridge=self.ridge),
                                     param="alpha"),))


class L21Regressor(_L21, MultiTaskRegressorBase):
    __doc__ = _doc("Joint feature selection across tasks (L2,1 norm), squared loss.",
                   "alpha * sum_j ||W_j,:||_2", _L21_DETAIL, "1.0")


class L21Classifier(_L21, MultiTaskClassifierBase):
    __doc__ = _doc("Joint feature selection across tasks (L2,1 norm), logistic loss.",
                   "alpha * sum_j ||W_j,:||_2", _L21_DETAIL, "0.01",
                   classifier=True)


class _MTFL:
    _parameter_constraints = SQUARED_TRACE_CONSTRAINTS

    def get_objective(self, problem):
        penalty = SquaredTraceNorm(problem.xp, self.alpha, ridge=self.ridge)
        return Objective(
            parts=(Part(penalty),), solver=self.solver,
            solver_options={"eps_floor": self.epsilon, "stop": "gap"}
            if self.solver == "alternating" else {},
            readouts=lambda solution: {"feature_covariance_": penalty.auxiliary_matrix(
                solution.raw.coef, self.epsilon)})


class MTFLRegressor(_MTFL, MultiTaskRegressorBase):
    __doc__ = _doc("Convex multi-task feature learning (MTFL), squared loss.",
                   "alpha * min_D tr(W^T D^-1 W)  [= alpha * ||W||_*^2]", _MTFL_DETAIL, "1.0",
                   _MTFL_PARAMS, _MTFL_ATTRS)

    def __init__(self, alpha=1.0, *, solver="fista", epsilon=1e-12, ridge=0.0,
                 loss_scaling="mean", fit_intercept=True, tol=1e-6, max_iter=5000,
                 warm_start=False, device=None):
        set_params_from_init(self, locals())


class MTFLClassifier(_MTFL, MultiTaskClassifierBase):
    __doc__ = _doc("Convex multi-task feature learning (MTFL), logistic loss.",
                   "alpha * min_D tr(W^T D^-1 W)  [= alpha * ||W||_*^2]", _MTFL_DETAIL, "0.01",
                   _MTFL_PARAMS, _MTFL_ATTRS, classifier=True)

    def __init__(self, alpha=0.01, *, solver="fista", epsilon=1e-12, ridge=0.0,
                 loss_scaling="mean", fit_intercept=True, tol=1e-6, max_iter=5000,
                 warm_start=False, device=None):
        set_params_from_init(self, locals())


def __getattr__(name):
    # mtlreg.feature.alpha_max moved with the seam (issue 15); the old import keeps
    # working for a release, with a warning
    if name == "alpha_max":
        import warnings

        from .problem import alpha_max

        warnings.warn("mtlreg.feature.alpha_max moved: use mtlreg.alpha_max (defined in "
                      "mtlreg.problem); the old name will be removed.", FutureWarning,
                      stacklevel=2)
        return alpha_max
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
