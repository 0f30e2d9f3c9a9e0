"""Independent references for the spectral structure terms of task clustering (``M`` over
the tasks) and cASO (``M`` over the features): ``c * min_M tr(A (eta I + M)^-1 A^T)`` over
``0 <= M <= I``, ``tr M = k``, written here in NumPy independently of mtlreg, and the
CVXPY pieces of the SDP over ``M``.  Shared by ``test_clustering.py`` and
``test_properties.py``.
"""

import numpy as np

from certificates import spectral_rounding

__all__ = ["constants", "water_filling", "term_eig", "project_feasible", "Evaluated",
           "feasible_set"]


def constants(alpha, beta):
    eta = beta / alpha
    return eta, alpha * eta * (1.0 + eta)


def water_filling(W, eta, k):
    """The minimum over ``M`` in closed form, written independently of mtlreg (bisection
    on ``s`` where mtlreg sorts the breakpoints): ``M = V diag(m) V^T`` with ``V`` the
    eigenvectors of ``W^T W``, ``m_i = clip(s sigma_i - eta, 0, 1)``.

    Returns ``(V, m, kappa)``.  ``m`` is taken on the side ``sum m <= k`` of the
    bisection, so that ``M`` lies in ``0 <= M <= I``, ``tr M <= k`` whatever the
    rounding: the minimum over that set equals the one over ``tr M = k`` (the term
    decreases as ``M`` grows, and ``M`` can grow to trace ``k`` below ``I``), so the
    term at ``m`` is an upper bound on it.  Eigenvalues of ``W^T W`` within ``eigh``'s
    rounding of 0 count as 0.  ``kappa = sigma_max / min(sigma_i > 0 with m_i > 0)``
    (1 when at most ``k`` singular values are positive, where ``m`` is 0 or 1 by
    construction): the relative size of the terms ``s sigma_i`` that mtlreg's sums
    of breakpoints cancel, so mtlreg's ``M`` has
    ``|tr M - k| <= spectral_rounding(T) (1 + eta) kappa``."""
    lam, V = np.linalg.eigh(W.T @ W)
    sigma = np.sqrt(np.maximum(lam, 0.0))
    sigma[lam <= spectral_rounding(len(lam)) * max(lam.max(), 0.0)] = 0.0
    positive = sigma > 0
    if positive.sum() <= k:
        return V, positive.astype(float), 1.0

    def masses(s):
        return np.clip(s * sigma - eta, 0.0, 1.0)

    lo, hi = 0.0, (1.0 + eta) / sigma[positive].min()  # masses(hi).sum() = #positive > k
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if masses(mid).sum() <= k else (lo, mid)
    m = masses(lo)
    return V, m, sigma.max() / sigma[m > 0].min()


def term_eig(W, V, m, eta, c):
    """``c tr(W (eta I + M)^-1 W^T)`` for ``M = V diag(m) V^T``, ``V`` orthogonal."""
    return c * np.sum(np.sum((W @ V) ** 2, axis=0) / (eta + m))


def project_feasible(M, k):
    """``(V, m)``: ``M``'s eigenvectors and its eigenvalues projected onto
    ``0 <= m <= 1``, ``sum m <= k`` (a shift by bisection, kept on the side
    ``sum m <= k``): a feasible ``M`` (see :func:`water_filling`) near an
    approximately feasible one."""
    mu, V = np.linalg.eigh(0.5 * (M + M.T))

    def shifted(theta):
        return np.clip(mu - theta, 0.0, 1.0)

    if shifted(0.0).sum() <= k:
        return V, shifted(0.0)
    lo, hi = 0.0, mu.max()  # shifted(hi) = 0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if shifted(mid).sum() <= k else (mid, hi)
    return V, shifted(hi)


class Evaluated:
    """Stands in for a CVXPY expression as ``solve_reference``'s ``exact``: its
    ``value`` is evaluated in NumPy after the solve, from the variables' values."""

    def __init__(self, evaluate):
        self._evaluate = evaluate

    @property
    def value(self):
        return self._evaluate()


def feasible_set(cp, M, T, k):
    return [cp.trace(M) == k, M >> 0, np.eye(T) - M >> 0]


# -- the term and its closed forms --------------------------------------------------------------

# (n_tasks, n_features, n_clusters); (6, 3, 4): W^T W has rank 3 < n_clusters
