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
from .penalties.aso import factored_matrix
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

    The term depends on the nonzero singular values of ``W`` alone, so it is
    also cASO's (:class:`~mtlreg.CASORegressor`, ``M`` over the features;
    Zhou, Chen & Ye, NIPS 2011): the same implementation computes both on the
    smaller side of ``W``.  Cost per iteration: the data fit's gradient, the
    Gram matrix of ``W`` on its smaller side (``O(n_tasks n_features
    min(n_tasks, n_features))``) and its eigendecomposition
    (``O(min(n_tasks, n_features)^3)``), on the array namespace; no
    ``n_tasks x n_tasks`` matrix when ``n_tasks > n_features``.  The fitted
    ``M`` is kept in factored form (``cluster_factors_``, ``O(n_tasks r)``),
    and ``clusters_`` comes from its top eigenvectors; ``cluster_matrix_``
    builds the dense ``n_tasks x n_tasks`` matrix when it is read."""

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
    cluster_factors_ : tuple (V, m, rest)
        The optimal ``M`` at the solution in factored form, ``M = V diag(m) V^T
        + rest (I - V V^T)``: ``V`` of shape (n_tasks, r) with orthonormal
        columns, ``m`` of shape (r,), ``rest`` a float (``O(n_tasks r)``
        memory, ``r <= min(n_tasks, n_features)``).
    cluster_matrix_ : ndarray of shape (n_tasks, n_tasks)
        ``M`` as a dense matrix, built from ``cluster_factors_`` each time it is
        read (``n_tasks^2`` numbers: 800 MB at 10,000 tasks in float64).
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
    M : array of shape (n_tasks, n_tasks), symmetric, or tuple (V, m, rest)
        The factored form ``V diag(m) V^T + rest (I - V V^T)`` (``V`` with
        orthonormal columns, as ``cluster_factors_``): its top eigenvectors
        are columns of ``V`` when ``n_clusters`` of the ``m`` are at least
        ``rest``, and no ``n_tasks x n_tasks`` matrix is formed; otherwise the
        dense matrix is.
    n_clusters : int
    random_state : int, default=0
        Seed of k-means (10 restarts), so that the result is reproducible.

    Returns
    -------
    ndarray of int of shape (n_tasks,)
    """
    E = _top_eigenvectors(M, n_clusters)
    if E is None:
        T = _n_tasks(M)
        return np.arange(T) if n_clusters >= T else np.zeros(T, dtype=np.int64)
    return _spectral_labels(E, n_clusters, random_state)


def _n_tasks(M):
    return (M[0] if isinstance(M, tuple) else M).shape[0]


def _top_eigenvectors(M, n_clusters):
    """The top ``n_clusters`` eigenvectors of ``M`` (dense or factored) as a host
    array, or None when there is nothing to cluster (one cluster, or one per task)."""
    T = _n_tasks(M)
    if n_clusters >= T or n_clusters == 1:
        return None
    if isinstance(M, tuple):
        V, m, rest = (float(v) if isinstance(v, (int, float)) else to_numpy(v) for v in M)
        order = np.argsort(np.asarray(m))[::-1][:n_clusters]
        if order.shape[0] == n_clusters and np.min(np.asarray(m)[order]) >= rest:
            return np.asarray(V, dtype=np.float64)[:, order]
        M = factored_matrix(*M)
    M = np.asarray(to_numpy(M), dtype=np.float64)
    lam, U = small_linalg(np, "eigh", 0.5 * (M + M.T))
    return U[:, np.argsort(lam)[::-1][:n_clusters]]


def _spectral_labels(E, n_clusters, random_state):
    """k-means on the unit-normalized rows of ``E``; labels in order of first appearance."""
    from sklearn.cluster import KMeans

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
            factors = term.optimal_M_factors(solution.coef)
            labels = cluster_tasks(factors, k)
            return {"cluster_factors_": factors, "n_clusters_": k,
                    "clusters_": labels if is_numpy_namespace(xp) else
                    xp.asarray(labels, device=device(solution.coef))}

        return Objective(parts=(Part(Zero(xp)),), smooth=term, readouts=readouts)

    @property
    def cluster_matrix_(self):
        """The dense ``n_tasks x n_tasks`` ``M``, built from ``cluster_factors_``."""
        return factored_matrix(*self.cluster_factors_)


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
