"""L1,inf norm: the dirty model's shared part (one magnitude per feature)."""

from .._backend import device
from ._base import NormPenalty


class L1Inf(NormPenalty):
    """``alpha * sum_j ||W_j,:||_inf + ridge * ||W||_F^2``.

    ``W_j,:`` is feature j across all tasks (a column of ``coef``): the norm
    charges each feature once, for its largest coefficient over the tasks, so
    a feature the tasks use is cheap to use with similar magnitudes in all of
    them.  Dual norm: ``max_j ||V_j,:||_1``; feature score ``||V_j,:||_1``.

    Prox (Moreau): ``prox_{tau ||.||_inf}(v) = v - P_{tau B_1}(v)``, where
    ``P_{tau B_1}`` projects onto the L1 ball of radius ``tau``.  That
    projection shrinks every ``|v_t|`` by ``theta = max(0, max_k (c_k - tau)/k)``
    (``c_k`` the sum of the ``k`` largest ``|v_t|``), so the prox clips ``v``
    to ``[-theta, theta]``: one sort of each feature's ``n_tasks``
    coefficients, ``O(n_tasks log n_tasks)`` per feature, and exact.
    """

    def norm(self, coef):
        return self.xp.sum(self.xp.max(self.xp.abs(coef), axis=0))

    def norm_prox(self, coef, tau):
        xp = self.xp
        theta = l1_ball_threshold(xp, coef, tau)[None, :]
        return xp.minimum(xp.maximum(coef, -theta), theta)

    separable_over_features = True

    def feature_scores(self, V):
        return self.xp.sum(self.xp.abs(V), axis=0)


def l1_ball_threshold(xp, V, tau):
    """Per column of ``V``, the shrinkage ``theta`` of the projection onto the
    L1 ball of radius ``tau``: ``P(v) = sign(v) max(|v| - theta, 0)``, with
    ``theta = 0`` for columns already inside the ball.

    With ``u`` the column's magnitudes sorted in decreasing order and
    ``f_k = (u_1 + ... + u_k - tau) / k``, ``f_k`` increases while
    ``u_k > f_{k-1}`` and then never again, so its maximum is the threshold of
    the classical sort-based algorithm (Held, Wolfe & Crowder 1974; Duchi et
    al. 2008) and no index search is needed.
    """
    n = V.shape[0]
    u = xp.sort(xp.abs(V), axis=0, descending=True)
    k = xp.arange(1, n + 1, dtype=V.dtype, device=device(V))
    f = (xp.cumulative_sum(u, axis=0) - tau) / k[:, None]
    return xp.maximum(xp.max(f, axis=0), xp.zeros((V.shape[1],), dtype=V.dtype,
                                                   device=device(V)))
