"""Group L2 norms: L2,1 over features (joint feature selection) and over tasks."""

from ._base import NormPenalty


class _GroupL2(NormPenalty):
    """``alpha * sum_g ||W_g||_2 + ridge * ||W||_F^2`` for groups along one axis
    of ``coef``; ``_reduce_axis`` is the axis summed inside each group."""

    _reduce_axis = 0

    def _group_norms(self, coef):
        xp = self.xp  # vecdot: no temporary of coef's size (its axis counts from the end)
        return xp.sqrt(xp.vecdot(coef, coef, axis=self._reduce_axis - coef.ndim))

    def norm(self, coef):
        return self.xp.sum(self._group_norms(coef))

    def norm_prox(self, coef, tau):
        xp = self.xp
        norms = self._group_norms(coef)
        safe = xp.where(norms > 0, norms, xp.ones_like(norms))
        shrink = xp.expand_dims(xp.maximum(1.0 - tau / safe, xp.zeros_like(norms)),
                                axis=self._reduce_axis)
        return coef * shrink

    def dual_norm(self, V):
        return self.xp.max(self._group_norms(V))


class L21(_GroupL2):
    """``alpha * sum_j ||W_j,:||_2 + ridge * ||W||_F^2``.

    ``W_j,:`` is feature j across all tasks (a column of ``coef``).  Prox:
    group soft thresholding of each feature.  Dual norm: ``max_j ||V_j,:||_2``;
    feature score ``||V_j,:||_2``.
    """

    _reduce_axis = 0

    separable_over_features = True

    def feature_scores(self, V):
        return self._group_norms(V)


class TaskL2(_GroupL2):
    """``alpha * sum_t ||w_t||_2 + ridge * ||W||_F^2``: one group per task.

    ``w_t = W_:,t`` is task t's model (a row of ``coef``); the penalty
    zeroes whole tasks, which makes it the outlier part of robust models
    (MALSAR's ``||Q^T||_{1,2}``).  Prox: group soft thresholding of each
    task.  Dual norm: ``max_t ||V_:,t||_2``.  Not separable over features, so
    it has no feature scores (no working sets).
    """

    _reduce_axis = 1
