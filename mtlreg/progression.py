"""Disease-progression models: tasks are the time points of one outcome.

The temporal group lasso (Zhou, Yuan, Liu & Ye, KDD 2011; MALSAR's
``Least_TGL`` / ``Logistic_TGL``) predicts a score at several time points
(e.g. a cognitive score at baseline, 6, 12 and 24 months) as related tasks:
the same features are selected at every time point (L2,1), and the models of
consecutive time points are kept close (a temporal smoothness term).

Notation as in :mod:`mtlreg.feature`: ``W = coef_.T`` is ``n_features x
n_tasks`` with the task models ``w_t`` as columns, in the order of the sorted
task labels (``tasks_``): label the time points so that they sort in time.
"""

from numbers import Real

import warnings

import numpy as np
from sklearn.utils._param_validation import Interval

from ._docstring import estimator_doc
from .base import MultiTaskClassifierBase, MultiTaskRegressorBase, set_params_from_init
from .penalties import L21, GraphQuadratic, Zero
from .penalties.graph import graph_laplacian
from .problem import Objective, Part

__all__ = ["TGLRegressor", "TGLClassifier", "temporal_difference"]

_TGL_PENALTY = ("alpha * sum_j ||W_j,:||_2 + beta * ||W R||_F^2  "
                "[R: consecutive differences, ||W R||_F^2 = sum_t ||w_t+1 - w_t||^2]")

_TGL_DETAIL = """Temporal group lasso (Zhou et al., KDD 2011; MALSAR's ``Least_TGL`` and
    ``Logistic_TGL``): the tasks are the time points of one outcome, in the
    order of the sorted task labels.  ``alpha`` selects the same features at
    every time point (the L2,1 norm of the rows of ``W``); ``beta`` keeps the
    models of consecutive time points close.  ``R`` may be any ``n_tasks x m``
    matrix instead (``beta * ||W R||_F^2`` with ``R R^T`` as the Laplacian of
    a task graph, :class:`~mtlreg.GraphRegressor`'s ``graph_format="incidence"``).

    MALSAR's ``Least_TGL(X, Y, rho1, rho2, rho3)`` minimizes ``sum_t 1/2
    ||y_t - X_t w_t||^2 + rho1 ||W||_F^2 + rho2 ||W R||_F^2 + rho3 sum_j
    ||W_j,:||_2``: ``TGLRegressor(alpha=rho3, beta=rho2, ridge=rho1,
    loss_scaling="sum", fit_intercept=False)``.  ``Logistic_TGL`` has the mean
    logistic loss of each task and an unpenalized intercept per task:
    ``TGLClassifier(alpha=rho3, beta=rho2, ridge=rho1)``.

    The smoothness term is a smooth quadratic of ``W``; the L2,1 norm is the
    prox penalty.  On the squared loss's Gram path with badly scaled
    features, ADMM splits the three terms after 500 FISTA iterations (as for
    ``GraphRegressor`` with its L1 term); otherwise FISTA runs.  With ``beta =
    0`` the model is ``L21Regressor`` (``L21Classifier``) and is solved as one.
    Both stop on a certified duality gap
    (the quadratic read as a squared loss of ``W``, whose dual point joins the
    L2,1 norm's).  See ``docs/progression.md``."""

_TGL_PARAMS = """
    beta : float, default=1.0
        Strength of the temporal smoothness ``||W R||_F^2``.
    R : array-like of shape (n_tasks, m) or None, default=None
        The smoothness operator, rows in the order of the sorted task labels.
        None: consecutive differences, column ``t`` equal to ``e_t - e_t+1``
        (MALSAR's ``R``), so that ``||W R||_F^2 = sum_t ||w_t - w_t+1||^2``."""

_TGL_ATTRS = """
    laplacian_ : scipy.sparse.csr_array of shape (n_tasks, n_tasks)
        ``R R^T``, the Laplacian of the smoothness term."""


def temporal_difference(n_tasks):
    """MALSAR's ``R`` for ``n_tasks`` ordered time points: ``n_tasks x (n_tasks - 1)``,
    column ``t`` equal to ``e_t - e_t+1``."""
    R = np.zeros((n_tasks, max(n_tasks - 1, 0)))
    index = np.arange(n_tasks - 1)
    R[index, index] = 1.0
    R[index + 1, index] = -1.0
    return R


class _TGL:
    _parameter_constraints = {
        **MultiTaskRegressorBase._parameter_constraints,
        "beta": [Interval(Real, 0, None, closed="left")],
        "R": ["array-like", "sparse matrix", None],
    }

    def get_objective(self, problem):
        xp, data, T = problem.xp, problem.data, problem.n_tasks
        if self.R is None:
            _warn_if_text_sorts_differently(problem.labels)
            # the chain of consecutive time points (no edge for a single task)
            edges = [(problem.labels[t], problem.labels[t + 1]) for t in range(T - 1)]
            L = graph_laplacian(edges, problem.labels, "edges")
        else:
            L = graph_laplacian(_checked_R(self.R, T), problem.labels, "incidence")
        readouts = lambda solution: {"laplacian_": L}  # noqa: E731
        if self.beta == 0 and self.alpha > 0:
            # no smoothness term: L21Regressor's objective, and its solvers
            return Objective(parts=(Part(L21(xp, self.alpha, ridge=self.ridge), param="alpha",
                                         norm="l21"),), readouts=readouts)
        like = xp.empty((0,), dtype=data.dtype, device=data.device)
        term = GraphQuadratic(xp, self.beta, L, ridge=self.ridge, like=like, n_tasks=T)
        l21 = L21(xp, self.alpha) if self.alpha > 0 else Zero(xp)
        return Objective(parts=(Part(l21, param="alpha", norm="l21"),), smooth=term,
                         readouts=readouts)


def _checked_R(R, n_tasks):
    """``R`` as a real float64 host array of one row per task, or a ValueError."""
    R = R.toarray() if hasattr(R, "toarray") else np.asarray(R)
    if R.dtype == bool or not (np.issubdtype(R.dtype, np.integer)
                               or np.issubdtype(R.dtype, np.floating)):
        raise ValueError(f"R must hold real numbers, got dtype {R.dtype}.")
    R = R.astype(np.float64)
    if R.ndim != 2 or R.shape[0] != n_tasks:
        raise ValueError(f"R must have one row per task ({n_tasks}), got shape {R.shape}.")
    if not np.all(np.isfinite(R)):
        raise ValueError("R must be finite.")
    return R


def _warn_if_text_sorts_differently(labels):
    """The time points are the sorted labels: text labels that read as numbers but sort
    differently as text ("12" before "6") would chain the wrong time points."""
    if labels.dtype.kind not in "US" and not (labels.dtype == object and
                                              all(isinstance(v, str) for v in labels)):
        return
    try:
        numbers = np.array([float(v) for v in labels])
    except ValueError:
        return
    if np.any(np.diff(numbers) < 0):
        warnings.warn(f"the task labels {[str(v) for v in labels]} are text that reads as "
                      "numbers in "
                      "another order; the time points are taken in the text order. Pass "
                      "numeric labels, or R for the order you mean.", UserWarning,
                      stacklevel=4)


class TGLRegressor(_TGL, MultiTaskRegressorBase):
    __doc__ = estimator_doc("Temporal group lasso regression (disease progression).",
                            _TGL_PENALTY, _TGL_DETAIL, "0.1", _TGL_PARAMS, _TGL_ATTRS)

    def __init__(self, alpha=0.1, *, beta=1.0, R=None, ridge=0.0, loss_scaling="mean",
                 fit_intercept=True, tol=1e-6, max_iter=5000, warm_start=False, device=None):
        set_params_from_init(self, locals())


class TGLClassifier(_TGL, MultiTaskClassifierBase):
    __doc__ = estimator_doc("Temporal group lasso logistic regression (disease progression).",
                            _TGL_PENALTY, _TGL_DETAIL, "0.01", _TGL_PARAMS, _TGL_ATTRS,
                            classifier=True)

    def __init__(self, alpha=0.01, *, beta=1.0, R=None, ridge=0.0, loss_scaling="mean",
                 fit_intercept=True, tol=1e-6, max_iter=5000, warm_start=False, device=None):
        set_params_from_init(self, locals())
