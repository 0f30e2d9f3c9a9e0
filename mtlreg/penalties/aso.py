"""Convex alternating structure optimization (cASO, Chen, Tang, Liu & Ye 2009).

``g(W) = c * min_M tr(W^T (eta I + M)^-1 W)`` over ``M`` symmetric with
``tr M = k`` and ``0 <= M <= I`` (MALSAR's parametrization: ``eta = beta /
alpha``, ``c = alpha * eta * (1 + eta)``).  With ``W = U diag(sigma) V^T``,
the minimizing ``M`` shares ``U`` and has eigenvalues
``m_i = clip(sigma_i / sqrt(lambda) - eta, 0, 1)`` with ``sum_i m_i = k``
(a 1-D search on ``lambda``), so ``g(W) = c * sum_i sigma_i^2 / (eta + m_i)``.
``g`` is convex and differentiable with gradient ``2 c (eta I + M*)^-1 W``
(Danskin), Lipschitz with constant ``2 c / eta``: the solver treats it as a
smooth term.
"""

import numpy as np

from .._backend import as_float, device, to_numpy

__all__ = ["ASOPenalty", "aso_eigenvalues"]


def aso_eigenvalues(sigma, eta, k, n_bisect=200):
    """Eigenvalues ``m`` of the optimal ``M`` for singular values ``sigma``
    (host NumPy, length ``d`` with zeros for the missing singular values).

    Minimizes ``sum_i sigma_i^2 / (eta + m_i)`` over ``0 <= m_i <= 1``,
    ``sum_i m_i = k``: ``m_i(s) = clip(s * sigma_i - eta, 0, 1)`` is
    non-decreasing in ``s = 1 / sqrt(lambda)``, so ``sum_i m_i(s) = k`` is
    found by bisection.  Ties at ``sigma = 0`` (where any feasible split is
    optimal) are broken by spreading the remaining mass evenly.
    """
    sigma = np.asarray(sigma, dtype=np.float64)
    d = sigma.shape[0]
    if k >= d:
        return np.ones(d)
    top = sigma.max() if d else 0.0
    if top == 0.0:
        return np.full(d, k / d)
    lo, hi = 0.0, (1.0 + eta) / max(sigma[sigma > 0].min(), 1e-300)
    for _ in range(n_bisect):
        mid = 0.5 * (lo + hi)
        if np.clip(mid * sigma - eta, 0.0, 1.0).sum() < k:
            lo = mid
        else:
            hi = mid
    m = np.clip(hi * sigma - eta, 0.0, 1.0)
    excess = m.sum() - k
    if excess < 0:  # mass left for the directions with sigma = 0 (flat objective)
        free = sigma == 0
        m[free] = np.minimum(1.0, m[free] - excess / max(free.sum(), 1))
    return m


class ASOPenalty:
    """The cASO term as a smooth function of ``coef`` (``W = coef.T``)."""

    def __init__(self, xp, alpha, beta, n_components):
        self.xp = xp
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.k = int(n_components)
        self.eta = self.beta / self.alpha
        self.c = self.alpha * self.eta * (1.0 + self.eta)

    def _optimal_m(self, coef):
        xp = self.xp
        WWt = xp.permute_dims(coef, (1, 0)) @ coef  # (d, d) = W W^T
        WWt = 0.5 * (WWt + xp.permute_dims(WWt, (1, 0)))
        lam, U = xp.linalg.eigh(WWt)
        sigma = np.sqrt(np.maximum(to_numpy(lam), 0.0))
        m = aso_eigenvalues(sigma, self.eta, self.k)
        return U, lam, xp.asarray(m, dtype=coef.dtype, device=device(U))

    def value_and_grad(self, coef):
        """``g(coef)`` and its gradient ``2 c coef (eta I + M*)^-1``."""
        xp = self.xp
        U, lam, m = self._optimal_m(coef)
        inv = 1.0 / (self.eta + m)
        value = self.c * as_float(xp.sum(xp.maximum(lam, xp.zeros_like(lam)) * inv))
        grad = 2.0 * self.c * (((coef @ U) * inv[None, :]) @ xp.permute_dims(U, (1, 0)))
        return value, grad

    def value(self, coef):
        return self.value_and_grad(coef)[0]

    def optimal_M(self, coef):
        xp = self.xp
        U, _, m = self._optimal_m(coef)
        return (U * m[None, :]) @ xp.permute_dims(U, (1, 0))

    def lipschitz(self):
        return 2.0 * self.c / self.eta
