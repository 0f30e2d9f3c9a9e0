"""Quadratic penalty in a feature metric: the W-step of alternating MTFL."""

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


class Ridge(Penalty):
    """``ridge * ||W||_F^2`` alone: the prox step of models whose structural
    term is smooth (cASO).  Prox: ``W / (1 + 2 s ridge)``."""

    def __init__(self, xp, ridge=0.0):
        self.xp = xp
        self.ridge = float(ridge)

    def value(self, coef):
        return self.ridge * self.xp.sum(coef * coef)

    def prox(self, coef, step):
        return coef / (1.0 + 2.0 * step * self.ridge)
