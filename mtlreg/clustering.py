"""Task-clustering family: convex clustered multi-task learning.

Notation as in :mod:`mtlreg.feature`: ``W = coef_.T`` is ``n_features x
n_tasks`` with the task models ``w_t`` as columns.
"""

from numbers import Integral

import numpy as np
from sklearn.utils._param_validation import Interval

from ._backend import device, is_numpy_namespace, small_linalg, to_numpy
from ._docstring import estimator_doc
from .base import (
    MATRIX_STRUCTURE_CONSTRAINTS,
    MultiTaskClassifierBase,
    MultiTaskRegressorBase,
    set_params_from_init,
)
from .penalties import ClusteredPenalty, Zero
from .problem import Objective, Part

__all__ = ["ClusteredRegressor", "ClusteredClassifier", "cluster_tasks"]

_PENALTY = ("c * min_M tr(W (eta I + M)^-1 W^T)  [M: n_tasks x n_tasks, 0 <= M <= I, "
            "tr M = n_clusters; eta = beta/alpha, c = alpha eta (1 + eta)]")

_DETAIL = """Convex relaxation of clustered multi-task learning (Jacob, Bach & Vert 2008;
    Zhou, Chen & Ye 2011), with MALSAR's (``Least_CMTL``, ``Logistic_CMTL``)
    and RMTL's (``CMTL``) penalty parameters: ``alpha`` is their ``rho1`` /
    ``Lam1``, ``beta`` their ``rho2`` / ``Lam2``, ``n_clusters`` their ``k``
    (their losses differ: ``Least_CMTL`` is ``loss_scaling="sum",
    fit_intercept=False``; see ``docs/parameter_mapping.md``).  For a hard
    assignment ``E`` of the tasks to clusters, ``M = E (E^T E)^-1 E^T`` and
    the penalty is ``alpha`` times the within-cluster spread of the task
    models plus ``beta * ||W||_F^2``; the convex relaxation lets ``M`` range
    over symmetric ``n_tasks x n_tasks`` matrices with ``0 <= M <= I`` and
    ``tr M = n_clusters``.

    The minimum over ``M`` has a closed form: ``M`` shares the eigenvectors of
    ``W^T W``, with eigenvalues ``clip(s sigma_i - eta, 0, 1)`` (``sigma_i``
    the singular values of ``W``) summing to ``n_clusters``, found by a 1-D
    bisection on ``s``.  The term is then a convex, differentiable function of
    ``W`` (gradient ``2 c W (eta I + M*)^-1``, Danskin), so FISTA runs on ``W``
    alone and the reported objective is the formula at the optimal ``M``;
    the conjugate has a closed form too, and the solver stops on a certified
    duality gap.  (MALSAR's and RMTL's solvers instead take projected
    gradient steps on ``(W, M)`` jointly, with a gradient in ``M`` that is not
    symmetric.)

    Cost per iteration: the data fit's gradient, the ``n_tasks x n_tasks``
    product ``W^T W`` (``O(n_tasks^2 n_features)``) and its eigendecomposition
    (``O(n_tasks^3)``), on the array namespace; the bisection runs on the
    ``n_tasks`` eigenvalues.  The eigendecomposition dominates beyond a few
    hundred tasks."""

_PARAMS = """
    beta : float, default=alpha's default
        Second strength (MALSAR's ``rho2``, RMTL's ``Lam2``); ``eta = beta / alpha``.
    n_clusters : int, default=2
        ``tr M``: the number of task clusters (MALSAR's and RMTL's ``k``).
        ``tr M = k`` with ``0 <= M <= I`` needs ``k <= n_tasks``; a larger
        value means one cluster per task (``M = I``: the term is then
        ``c / (eta + 1) * ||W||_F^2``, a ridge on every task), and
        ``n_clusters_`` says how many were used."""

_ATTRS = """
    cluster_matrix_ : ndarray of shape (n_tasks, n_tasks)
        The optimal ``M`` at the solution: the relaxed counterpart of the
        projection ``E (E^T E)^-1 E^T`` onto cluster indicators, with block
        structure when the tasks are clustered (its eigenvalues lie in
        ``[0, 1]``; a clean clustering shows ``n_clusters`` of them near 1).
    clusters_ : ndarray of shape (n_tasks,)
        Hard assignment of the tasks (in the order of ``tasks_``) to
        ``n_clusters`` groups, labelled ``0 .. n_clusters - 1`` in order of
        first appearance: spectral clustering of ``cluster_matrix_`` (see
        :func:`cluster_tasks`).  k-means always returns ``n_clusters`` groups,
        also when ``M`` has no block structure: check the eigenvalues of
        ``cluster_matrix_`` (or plot it) before reading them as clusters.
    n_clusters_ : int
        ``min(n_clusters, n_tasks)``: the ``tr M`` the fit used."""


def cluster_tasks(M, n_clusters, random_state=0):
    """Hard clusters from the relaxed ``M``: k-means on the rows of its top
    ``n_clusters`` eigenvectors, normalized to unit length (Ng, Jordan &
    Weiss 2001).  Labels are numbered in order of first appearance.

    Parameters
    ----------
    M : array of shape (n_tasks, n_tasks), symmetric
    n_clusters : int
    random_state : int, default=0
        Seed of k-means (10 restarts), so that the result is reproducible.

    Returns
    -------
    ndarray of int of shape (n_tasks,)
    """
    from sklearn.cluster import KMeans

    M = np.asarray(to_numpy(M), dtype=np.float64)
    T = M.shape[0]
    if n_clusters >= T:
        return np.arange(T)
    if n_clusters == 1:
        return np.zeros(T, dtype=np.int64)
    lam, U = small_linalg(np, "eigh", 0.5 * (M + M.T))
    E = U[:, np.argsort(lam)[::-1][:n_clusters]]
    norms = np.linalg.norm(E, axis=1, keepdims=True)
    E = E / np.where(norms > 0, norms, 1.0)
    raw = KMeans(n_clusters=n_clusters, n_init=10, random_state=random_state).fit_predict(E)
    _, first = np.unique(raw, return_index=True)
    order = np.argsort(np.argsort(first))  # cluster id -> rank of its first task
    return order[raw].astype(np.int64)


class _Clustered:
    _parameter_constraints = {
        **MATRIX_STRUCTURE_CONSTRAINTS,
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
    }

    def get_objective(self, problem):
        xp = problem.xp
        k = min(self.n_clusters, problem.n_tasks)  # more clusters than tasks: one per task
        term = ClusteredPenalty(xp, self.alpha, self.beta, k, ridge=self.ridge)

        def readouts(solution):
            M = term.optimal_M(solution.coef)
            labels = cluster_tasks(M, k)
            return {"cluster_matrix_": M, "n_clusters_": k,
                    "clusters_": labels if is_numpy_namespace(xp) else
                    xp.asarray(labels, device=device(solution.coef))}

        return Objective(parts=(Part(Zero(xp)),), smooth=term, readouts=readouts)


class ClusteredRegressor(_Clustered, MultiTaskRegressorBase):
    __doc__ = estimator_doc("Convex clustered multi-task regression.", _PENALTY, _DETAIL,
                            "0.1", _PARAMS, _ATTRS)

    def __init__(self, alpha=0.1, beta=0.1, *, n_clusters=2, ridge=0.0, loss_scaling="mean",
                 fit_intercept=True, tol=1e-6, max_iter=5000, warm_start=False, device=None):
        set_params_from_init(self, locals())


class ClusteredClassifier(_Clustered, MultiTaskClassifierBase):
    __doc__ = estimator_doc("Convex clustered multi-task logistic regression.", _PENALTY,
                            _DETAIL, "0.01", _PARAMS, _ATTRS, classifier=True)

    def __init__(self, alpha=0.01, beta=0.01, *, n_clusters=2, ridge=0.0,
                 loss_scaling="mean", fit_intercept=True, tol=1e-6, max_iter=5000,
                 warm_start=False, device=None):
        set_params_from_init(self, locals())
