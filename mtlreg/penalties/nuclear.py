"""Trace (nuclear) norm: tasks whose models share a low-dimensional subspace."""

from .._backend import small_linalg
from ._base import NormPenalty


class NuclearNorm(NormPenalty):
    """``alpha * ||W||_* + ridge * ||W||_F^2``, ``||W||_*`` the sum of singular values.

    Prox: singular-value soft thresholding with a thin SVD.  Dual norm: the
    spectral norm ``sigma_max(V)`` (so the duality gap is certified by it).
    """

    def norm(self, coef):
        return self.xp.sum(small_linalg(self.xp, "svdvals", coef))

    def norm_prox(self, coef, tau):
        xp = self.xp
        U, s, Vt = small_linalg(xp, "svd", coef, full_matrices=False)
        return (U * xp.maximum(s - tau, xp.zeros_like(s))[None, :]) @ Vt

    def dual_norm(self, V):
        return self.xp.max(small_linalg(self.xp, "svdvals", V))
