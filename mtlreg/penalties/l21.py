"""L2,1 norm: joint feature selection across tasks."""

from ._base import NormPenalty


class L21(NormPenalty):
    """``alpha * sum_j ||W_j,:||_2 + ridge * ||W||_F^2``.

    ``W_j,:`` is feature j across all tasks (a column of ``coef``).  Prox:
    group soft thresholding of each feature.  Dual norm: ``max_j ||V_j,:||_2``;
    feature score ``||V_j,:||_2``.
    """

    def norm(self, coef):
        xp = self.xp
        return xp.sum(xp.sqrt(xp.sum(coef * coef, axis=0)))

    def norm_prox(self, coef, tau):
        xp = self.xp
        norms = xp.sqrt(xp.sum(coef * coef, axis=0))
        safe = xp.where(norms > 0, norms, xp.ones_like(norms))
        shrink = xp.maximum(1.0 - tau / safe, xp.zeros_like(norms))
        return coef * shrink[None, :]

    def feature_scores(self, V):
        xp = self.xp
        return xp.sqrt(xp.sum(V * V, axis=0))
