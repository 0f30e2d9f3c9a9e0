"""Quadratic penalty in a feature metric (the W-step of alternating MTFL), and
the zero penalty of models whose structural term is smooth."""

from .._backend import as_float
from ._base import Penalty


class MetricQuadratic(Penalty):
    """``alpha * tr(W^T D^-1 W) + ridge * ||W||_F^2`` for a fixed ``D > 0``.

    ``D = U diag(lam) U^T`` is given by its eigendecomposition, so neither the
    value nor the prox forms ``D^-1``:

    * value: ``alpha * sum_t ||diag(lam)^-1/2 U^T w_t||^2``;
    * prox: ``w = U diag(lam / (lam (1 + 2 s ridge) + 2 s alpha)) U^T v``.
    """

    def __init__(self, xp, alpha, eigvecs, eigvals, ridge=0.0):
        self.xp = xp
        self.alpha = float(alpha)
        self.ridge = float(ridge)
        self.U = eigvecs
        self.lam = eigvals

    def value(self, coef):
        xp = self.xp
        proj = coef @ self.U  # (n_tasks, n_features): rows U^T w_t
        return (self.alpha * xp.sum(proj * proj / self.lam[None, :])
                + self.ridge * xp.sum(coef * coef))

    def prox(self, coef, step):
        xp = self.xp
        factor = self.lam / (self.lam * (1.0 + 2.0 * step * self.ridge) + 2.0 * step * self.alpha)
        return ((coef @ self.U) * factor[None, :]) @ xp.permute_dims(self.U, (1, 0))


class Zero(Penalty):
    """The zero penalty: the prox step of models whose whole structural term
    is smooth (cASO, clustered MTL), which then sits in the data fit.

    Its conjugate is the indicator of ``{0}``: the data fit of such a model
    (:class:`~mtlreg.losses.SmoothlyPenalizedDataFit`) hands the whole dual
    point to the smooth term and leaves ``V = 0`` here.
    """

    has_conjugate = True

    def __init__(self, xp):
        self.xp = xp

    def value(self, coef):
        return 0.0

    def prox(self, coef, step):
        return coef

    def conjugate(self, V):
        return 0.0 if as_float(self.xp.max(self.xp.abs(V))) == 0.0 else float("inf")
