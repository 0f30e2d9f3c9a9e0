"""Sparse-group L2,1: joint feature selection with sparsity inside the selected features."""

from .._backend import device
from ._base import NormPenalty


class SparseL21(NormPenalty):
    """``alpha * sum_j [tau ||W_j,:||_1 + (1 - tau) ||W_j,:||_2] + ridge * ||W||_F^2``.

    The sparse-group lasso of Simon, Friedman, Hastie & Tibshirani (2013)
    with one group per feature (``W_j,:``, a column of ``coef``): the L2
    part selects features jointly across tasks, the L1 part (``tau =
    l1_ratio``) lets a selected feature be zero in some tasks.  ``tau = 1``
    is :class:`~mtlreg.penalties.L1`, ``tau = 0`` is
    :class:`~mtlreg.penalties.L21`.

    Prox (exact): soft thresholding at ``tau * t``, then group soft
    thresholding of each feature at ``(1 - tau) * t``.

    Dual norm: separable over the features, ``max_j s_j`` where ``s_j`` is
    the ``s >= 0`` solving ``||S_{tau s}(V_j,:)||_2 = (1 - tau) s`` (``S`` the
    soft threshold): the left side minus the right is decreasing in ``s``,
    so the root is unique.  With the magnitudes sorted in decreasing order,
    ``u_1 >= u_2 >= ...``, the root's interval ``[u_{k+1}, u_k] / tau`` is
    the last breakpoint where the equation's left side is below the right,
    and on it the equation is the quadratic ``(k tau^2 - (1 - tau)^2) s^2 -
    2 tau U_k s + Q_k = 0`` (``U_k``, ``Q_k`` the sums of the ``k`` largest
    ``u`` and ``u^2``): one sort per feature, no iteration.
    """

    separable_over_features = True

    def __init__(self, xp, alpha, ridge=0.0, l1_ratio=0.5):
        super().__init__(xp, alpha, ridge=ridge)
        if not 0.0 <= float(l1_ratio) <= 1.0:
            raise ValueError(f"l1_ratio must be in [0, 1], got {l1_ratio!r}.")
        self.l1_ratio = float(l1_ratio)

    def norm(self, coef):
        xp, tau = self.xp, self.l1_ratio
        return (tau * xp.sum(xp.abs(coef))
                + (1.0 - tau) * xp.sum(xp.sqrt(xp.sum(coef * coef, axis=0))))

    def norm_prox(self, coef, t):
        xp, tau = self.xp, self.l1_ratio
        soft = xp.sign(coef) * xp.maximum(xp.abs(coef) - tau * t, xp.zeros_like(coef))
        norms = xp.sqrt(xp.sum(soft * soft, axis=0))
        safe = xp.where(norms > 0, norms, xp.ones_like(norms))
        shrink = xp.maximum(1.0 - (1.0 - tau) * t / safe, xp.zeros_like(norms))
        return soft * shrink[None, :]

    def feature_scores(self, V):
        xp, tau = self.xp, self.l1_ratio
        if tau == 0.0:  # L2,1
            return xp.sqrt(xp.sum(V * V, axis=0))
        if tau == 1.0:  # L1 (the quadratic below is then degenerate: a double root)
            return xp.max(xp.abs(V), axis=0)
        u = xp.sort(xp.abs(V), axis=0, descending=True)
        n = u.shape[0]
        k = xp.arange(1, n + 1, dtype=V.dtype, device=device(V))[:, None]
        U = xp.cumulative_sum(u, axis=0)
        Q = xp.cumulative_sum(u * u, axis=0)
        # at s = u_i / tau the equation's left side squared is
        # sum_{l < i} (u_l - u_i)^2; the root lies at or below u_i / tau
        # exactly when that is at most ((1 - tau) u_i / tau)^2
        ratio = ((1.0 - tau) / tau) ** 2
        below = (Q - u * u) - 2.0 * u * (U - u) + (k - 1.0) * u * u - ratio * u * u <= 0
        active = xp.sum(xp.astype(below, V.dtype), axis=0)[None, :]
        pick = xp.astype(k == active, V.dtype)
        U_k = xp.sum(pick * U, axis=0)
        Q_k = xp.sum(pick * Q, axis=0)
        a = active[0, :] * tau * tau - (1.0 - tau) ** 2
        disc = xp.maximum(tau * tau * U_k * U_k - a * Q_k, xp.zeros_like(U_k))
        denom = tau * U_k + xp.sqrt(disc)
        safe = xp.where(denom > 0, denom, xp.ones_like(denom))
        return xp.where(Q_k > 0, Q_k / safe, xp.zeros_like(Q_k))
