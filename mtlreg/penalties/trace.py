"""Squared trace norm: the convex multi-task feature learning (MTFL) penalty."""

import math

from .._backend import as_float, device, small_linalg
from ._base import ScaledPenalty
from .aso import factored_matrix
from .quadratic import MetricQuadratic


class SquaredTraceNorm(ScaledPenalty):
    """``alpha * min_D tr(W^T D^-1 W) + ridge * ||W||_F^2`` over ``D >= 0, tr D <= 1``.

    The minimum over ``D`` equals ``||W||_*^2`` (Argyriou, Evgeniou & Pontil
    2008), attained at ``D = (W W^T)^1/2 / tr (W W^T)^1/2``; so the value is
    ``alpha * (sum_i sigma_i(W))^2 + ridge * ||W||_F^2``.

    For alternating minimization it gives the perturbed ``D`` step
    ``D_eps = (W W^T + eps I)^1/2 / tr (W W^T + eps I)^1/2`` and the W-step
    penalty (:class:`MetricQuadratic`).  For the certificate it gives the
    exact conjugate, a spectral function: with ``g(s) = alpha (sum s)^2 + ridge
    sum s^2`` on singular values, ``h*(V) = g*(sigma(V))``.
    """

    has_auxiliary = True
    zero_task_is_free = True  # a zero column leaves the singular values but adds a zero one
    over_tasks = False  # auxiliary matrix over the features (MTFL's D) or the tasks (MTRL's Omega)

    def singular_values(self, coef):
        return small_linalg(self.xp, "svdvals", coef)

    def value(self, coef):
        xp = self.xp
        s = self.singular_values(coef)
        return self.alpha * xp.sum(s) ** 2 + self.ridge * xp.sum(coef * coef)

    def prox(self, coef, step):
        """Prox of ``step * h`` by a thin SVD and a sorted threshold on sigma.

        On singular values, ``argmin_x 1/2 ||x - sigma||^2 + tau (sum x)^2``
        is ``x_i = (sigma_i - 2 tau S)_+`` with ``S = sum_{i<=k} sigma_i /
        (1 + 2 tau k)`` over the active prefix ``k``; the ridge term rescales
        first (``prox_{s(g + r||.||^2)}(v) = prox_{s g / k}(v / k)``,
        ``k = 1 + 2 s r``).
        """
        xp = self.xp
        k = 1.0 + 2.0 * step * self.ridge
        tau = step * self.alpha / k
        U, sigma, Vt = small_linalg(xp, "svd", coef / k, full_matrices=False)
        idx = xp.arange(1, sigma.shape[0] + 1, dtype=sigma.dtype, device=device(sigma))
        S_k = xp.cumulative_sum(sigma) / (1.0 + 2.0 * tau * idx)
        active = xp.astype(sigma - 2.0 * tau * S_k > 0, sigma.dtype)
        n_active = xp.sum(active)
        # S of the largest active prefix (active indices form a prefix)
        S = xp.sum(xp.where(idx == n_active, S_k, xp.zeros_like(S_k)))
        shrunk = xp.maximum(sigma - 2.0 * tau * S, xp.zeros_like(sigma))
        return (U * shrunk[None, :]) @ Vt

    def dual_scale(self, V):
        return 1.0  # the conjugate is finite everywhere

    def conjugate(self, V):
        """``sup_W <V, W> - h(W)``, by the sorted-threshold formula on sigma(V)."""
        xp = self.xp
        u = self.singular_values(V)  # descending
        alpha, ridge = self.alpha, self.ridge
        if ridge == 0.0:
            return as_float(u[0]) ** 2 / (4.0 * alpha)
        # Active singular values are a prefix 1..k of the sorted u with
        # S = U_k / (2 ridge + 2 alpha k) and s_i = (u_i - 2 alpha S) / (2 ridge).
        k = xp.arange(1, u.shape[0] + 1, dtype=u.dtype, device=device(u))
        S_k = xp.cumulative_sum(u) / (2.0 * ridge + 2.0 * alpha * k)
        active = xp.astype(u - 2.0 * alpha * S_k > 0, xp.int64)
        n_active = int(as_float(xp.sum(active)))
        if n_active == 0:
            return 0.0
        S = as_float(S_k[n_active - 1])
        s = xp.maximum(u - 2.0 * alpha * S, xp.zeros_like(u)) / (2.0 * ridge)
        return as_float(xp.sum(u * s) - ridge * xp.sum(s * s)) - alpha * S * S

    # -- alternating minimization -------------------------------------------
    def auxiliary_step(self, coef, eps):
        """``(eigvecs, eigvals)`` of ``D_eps`` for ``W = coef.T`` (of
        ``Omega_eps = (W^T W + eps I)^1/2 / tr(...)`` with ``over_tasks``)."""
        xp = self.xp
        WWt = coef @ xp.permute_dims(coef, (1, 0)) if self.over_tasks else \
            xp.permute_dims(coef, (1, 0)) @ coef  # (T, T) or (d, d)
        WWt = 0.5 * (WWt + xp.permute_dims(WWt, (1, 0)))
        lam, U = small_linalg(xp, "eigh", WWt)
        root = xp.sqrt(xp.maximum(lam, xp.zeros_like(lam)) + eps)
        return U, root / xp.sum(root)

    def auxiliary_factors(self, coef, epsilon):
        """The auxiliary matrix at ``coef`` with ``eps = epsilon * sigma_max(W)^2``
        (MTFL's ``D``, MTRL's ``Omega``), ``(W W^T + eps I)^1/2 / tr(...)`` on its
        side, in factored form ``(V, m, rest)``: ``V diag(m) V^T + rest (I - V V^T)``
        from one thin SVD of ``coef`` (``O(n_tasks n_features min(n_tasks,
        n_features))``, no square matrix of the larger side): ``V`` the singular
        vectors on that side, ``m = sqrt(sigma^2 + eps) / tr``, ``rest = sqrt(eps) / tr``."""
        xp = self.xp
        U, sigma, Vt = small_linalg(xp, "svd", coef, full_matrices=False)
        top = as_float(xp.max(sigma)) if sigma.shape[0] else 0.0
        eps = max(epsilon, 1e-300) * (top * top if top > 0 else 1.0)
        V = U if self.over_tasks else xp.permute_dims(Vt, (1, 0))
        n = coef.shape[0] if self.over_tasks else coef.shape[1]
        root = xp.sqrt(sigma * sigma + eps)
        total = as_float(xp.sum(root)) + (n - V.shape[1]) * math.sqrt(eps)
        return V, root / total, math.sqrt(eps) / total

    def auxiliary_matrix(self, coef, epsilon):
        """:meth:`auxiliary_factors` as a dense matrix."""
        return factored_matrix(*self.auxiliary_factors(coef, epsilon))

    def perturbation(self, aux, eps):
        """``alpha * eps * tr(A^-1)``: what ``eps`` adds to the W-step objective
        (``alpha tr(A^-1 (W_s^T W_s + eps I))`` is the perturbed term)."""
        _, lam = aux
        return self.alpha * eps * as_float(self.xp.sum(1.0 / lam))

    def step_penalty(self, aux):
        eigvecs, eigvals = aux
        return MetricQuadratic(self.xp, self.alpha, eigvecs, eigvals, ridge=self.ridge,
                               over_tasks=self.over_tasks)


class TaskSquaredTraceNorm(SquaredTraceNorm):
    """The same penalty, ``alpha * min_Omega tr(W Omega^-1 W^T) = alpha ||W||_*^2``
    over ``Omega >= 0, tr Omega = 1`` (MTRL, Zhang & Yeung 2010): the
    auxiliary matrix is the ``n_tasks x n_tasks`` task covariance."""

    over_tasks = True
