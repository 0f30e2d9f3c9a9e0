"""Structure terms minimized over a matrix ``M`` in closed form: cASO and
convex clustered MTL.

Both are ``g(W) = c * min_M tr(W_s^T (eta I + M)^-1 W_s)`` over symmetric
``M`` with ``tr M = k`` and ``0 <= M <= I`` (MALSAR's parametrization:
``eta = beta / alpha``, ``c = alpha * eta * (1 + eta)``):

* cASO (Chen, Tang, Liu & Ye 2009): ``M`` is ``n_features x n_features`` and
  ``W_s = W`` -- the tasks share a ``k``-dimensional feature subspace;
* clustered MTL (Jacob, Bach & Vert 2008; Zhou, Chen & Ye 2011): ``M`` is
  ``n_tasks x n_tasks`` and ``W_s = W^T`` -- the tasks form ``k`` clusters.

With ``W_s = U diag(sigma) V^T``, the minimizing ``M`` shares ``U`` and has
eigenvalues ``m_i = clip(s sigma_i - eta, 0, 1)`` with ``sum_i m_i = k`` (a
1-D search on ``s``), so ``g(W) = c * sum_i sigma_i^2 / (eta + m_i)``.  ``g``
is convex and differentiable with gradient ``2 c (eta I + M*)^-1 W_s``
(Danskin), Lipschitz with constant ``2 c / eta``: the solver treats it as a
smooth term.  ``ridge * ||W||_F^2`` is added to it.

Its conjugate has a closed form too, which certifies a duality gap: for
fixed ``M`` the term is the quadratic ``tr(W_s B W_s^T)`` with
``B = c (eta I + M)^-1 + ridge I``, whose conjugate is
``tr(V_s B^-1 V_s^T) / 4``; the maximum over ``M`` aligns ``M`` with
``S = V_s^T V_s`` (von Neumann's trace inequality), leaving a concave 1-D
problem over the eigenvalues: ``(eta + m_i) / (c + ridge (eta + m_i))``
summed against the eigenvalues ``lambda_i`` of ``S``, maximized where
``m_i = clip(s sqrt(lambda_i) - eta - c / ridge, 0, 1)`` (for ``ridge = 0``:
``m = 1`` on the ``k`` largest ``lambda_i``).
"""

import numpy as np

from .._backend import as_float, device, to_numpy

__all__ = ["ASOPenalty", "ClusteredPenalty", "aso_eigenvalues"]


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
        if hi - lo <= 4.0 * np.finfo(np.float64).eps * hi:  # interval at rounding level
            break
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
    """The cASO term (``M`` over features) as a smooth function of ``coef``
    (``W = coef.T``), plus ``ridge * ||W||_F^2``."""

    over_tasks = False  # M acts on the features (cASO) or on the tasks (clustered MTL)
    has_conjugate = True

    def __init__(self, xp, alpha, beta, n_components, ridge=0.0):
        self.xp = xp
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.k = int(n_components)
        self.ridge = float(ridge)
        self.eta = self.beta / self.alpha
        self.c = self.alpha * self.eta * (1.0 + self.eta)

    def _gram(self, coef):
        """``W_s^T W_s``: ``W W^T`` (features) or ``W^T W`` (tasks), symmetrized."""
        xp = self.xp
        A = coef @ xp.permute_dims(coef, (1, 0)) if self.over_tasks else \
            xp.permute_dims(coef, (1, 0)) @ coef
        return 0.5 * (A + xp.permute_dims(A, (1, 0)))

    def _apply(self, coef, U, factor):
        """``coef`` multiplied by ``U diag(factor) U^T`` on the structure's side."""
        xp = self.xp
        if self.over_tasks:
            return (U * factor[None, :]) @ (xp.permute_dims(U, (1, 0)) @ coef)
        return ((coef @ U) * factor[None, :]) @ xp.permute_dims(U, (1, 0))

    def _optimal_m(self, coef):
        xp = self.xp
        lam, U = xp.linalg.eigh(self._gram(coef))
        sigma = np.sqrt(np.maximum(to_numpy(lam), 0.0))
        m = aso_eigenvalues(sigma, self.eta, self.k)
        return U, lam, xp.asarray(m, dtype=coef.dtype, device=device(U))

    def value_and_grad(self, coef):
        """``g(coef)`` and its gradient ``2 c coef (eta I + M*)^-1`` (+ ridge)."""
        xp = self.xp
        U, lam, m = self._optimal_m(coef)
        inv = 1.0 / (self.eta + m)
        value = self.c * as_float(xp.sum(xp.maximum(lam, xp.zeros_like(lam)) * inv))
        grad = 2.0 * self.c * self._apply(coef, U, inv)
        if self.ridge:
            value += self.ridge * as_float(xp.sum(coef * coef))
            grad = grad + 2.0 * self.ridge * coef
        return value, grad

    def value(self, coef):
        return self.value_and_grad(coef)[0]

    def optimal_M(self, coef):
        xp = self.xp
        U, _, m = self._optimal_m(coef)
        return (U * m[None, :]) @ xp.permute_dims(U, (1, 0))

    def lipschitz(self):
        return 2.0 * self.c / self.eta + 2.0 * self.ridge

    def conjugate(self, V):
        """``g*(V) = sup_W <W, V> - g(W)`` (closed form, see the module doc)."""
        lam = np.maximum(to_numpy(self.xp.linalg.eigvalsh(self._gram(V))), 0.0)
        n = lam.shape[0]
        if self.ridge == 0.0:
            m = np.zeros(n)
            m[np.argsort(lam)[::-1][:min(self.k, n)]] = 1.0
            return float(np.sum(lam * (self.eta + m))) / (4.0 * self.c)
        m = aso_eigenvalues(np.sqrt(lam), self.eta + self.c / self.ridge, self.k)
        shifted = self.eta + m
        return float(np.sum(lam * shifted / (self.c + self.ridge * shifted))) / 4.0


class ClusteredPenalty(ASOPenalty):
    """The convex clustered-MTL term (``M`` over the tasks), plus ridge."""

    over_tasks = True
