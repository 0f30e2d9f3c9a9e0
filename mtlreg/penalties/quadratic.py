"""Quadratic penalty in a feature metric (the W-step of alternating MTFL), and
the zero penalty of models whose structural term is smooth."""

from .._backend import as_float
from ._base import Penalty


class MetricQuadratic(Penalty):
    """``alpha * tr(W^T D^-1 W) + ridge * ||W||_F^2`` for a fixed ``D > 0``
    over the features (MTFL's W-step), or ``alpha * tr(W Omega^-1 W^T) + ridge
    * ||W||_F^2`` for a fixed ``Omega > 0`` over the tasks (``over_tasks``,
    MTRL's W-step).

    The matrix ``U diag(lam) U^T`` is given by its eigendecomposition, so
    neither the value nor the prox forms its inverse:

    * value: ``alpha * ||diag(lam)^-1/2 U^T W_s||_F^2`` (``W_s`` = ``W`` or ``W^T``);
    * prox: ``W_s = U diag(lam / (lam (1 + 2 s ridge) + 2 s alpha)) U^T V_s``.
    """

    def __init__(self, xp, alpha, eigvecs, eigvals, ridge=0.0, over_tasks=False):
        self.xp = xp
        self.alpha = float(alpha)
        self.ridge = float(ridge)
        self.U = eigvecs
        self.lam = eigvals
        self.over_tasks = over_tasks

    def _project(self, coef):
        """``U^T W_s`` laid out along ``coef``'s axes, and the axis of ``lam``."""
        xp = self.xp
        if self.over_tasks:  # (n_tasks, n_features): U^T coef
            return xp.permute_dims(self.U, (1, 0)) @ coef, 0
        return coef @ self.U, 1  # rows U^T w_t

    def value(self, coef):
        xp = self.xp
        proj, axis = self._project(coef)
        lam = xp.expand_dims(self.lam, axis=1 - axis)
        return self.alpha * xp.sum(proj * proj / lam) + self.ridge * xp.sum(coef * coef)

    def prox(self, coef, step):
        xp = self.xp
        factor = self.lam / (self.lam * (1.0 + 2.0 * step * self.ridge) + 2.0 * step * self.alpha)
        proj, axis = self._project(coef)
        scaled = proj * xp.expand_dims(factor, axis=1 - axis)
        if self.over_tasks:
            return self.U @ scaled
        return scaled @ xp.permute_dims(self.U, (1, 0))


class Zero(Penalty):
    """The zero penalty: the prox step of models whose whole structural term
    is smooth (cASO, clustered MTL), which then sits in the data fit.

    Its conjugate is the indicator of ``{0}``: the data fit of such a model
    (:class:`~mtlreg.losses.SmoothlyPenalizedDataFit`) hands the whole dual
    point to the smooth term and leaves ``V = 0`` here.
    """

    has_conjugate = True
    is_zero = True
    zero_task_is_free = True

    def __init__(self, xp):
        self.xp = xp

    def value(self, coef):
        return 0.0

    def prox(self, coef, step):
        return coef

    def dual_scale(self, V):
        """``conjugate(s V)`` is finite only at ``s V = 0``."""
        return 1.0 if as_float(self.xp.max(self.xp.abs(V))) == 0.0 else 0.0

    def conjugate(self, V):
        return 0.0 if as_float(self.xp.max(self.xp.abs(V))) == 0.0 else float("inf")
