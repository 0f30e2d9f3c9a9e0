"""Elementwise L1 norm: independent sparse tasks (the Lasso of each task)."""

from ._base import NormPenalty


class L1(NormPenalty):
    """``alpha * sum_{j,t} |W_jt| + ridge * ||W||_F^2``.

    Prox: soft thresholding.  Dual norm: ``max_{j,t} |V_jt|``; feature
    score ``max_t |V_jt|``, entry score ``|V_jt|`` (a working set per task).
    """

    def norm(self, coef):
        return self.xp.sum(self.xp.abs(coef))

    def norm_prox(self, coef, tau):
        xp = self.xp
        return xp.sign(coef) * xp.maximum(xp.abs(coef) - tau, xp.zeros_like(coef))

    separable_over_features = True
    separable_over_entries = True

    def feature_scores(self, V):
        return self.xp.max(self.xp.abs(V), axis=0)

    def entry_scores(self, V):
        return self.xp.abs(V)
