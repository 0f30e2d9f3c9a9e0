"""Base classes: a penalty, and a norm penalty plus an optional ridge term."""

from .._backend import as_float


class Penalty:
    """``value(coef)`` and ``prox(coef, step)``; a gap needs ``conjugate`` too.

    ``has_conjugate`` tells the solver whether it can certify a duality gap.
    """

    has_conjugate = False

    def value(self, coef):
        raise NotImplementedError

    def prox(self, coef, step):
        raise NotImplementedError

    def dual_scale(self, V):
        """Largest ``s`` in [0, 1] with ``conjugate(s V)`` finite."""
        return 1.0

    def conjugate(self, V):
        raise NotImplementedError(f"{type(self).__name__} has no conjugate")


class ScaledPenalty(Penalty):
    """``alpha * structure(W) + ridge * ||W||_F^2``: stores the two strengths."""

    has_conjugate = True

    def __init__(self, xp, alpha, ridge=0.0):
        self.xp = xp
        self.alpha = float(alpha)
        self.ridge = float(ridge)
        if self.alpha == 0.0 and self.ridge == 0.0:
            # h = 0: its conjugate is the indicator of {0}, no usable dual point.
            self.has_conjugate = False


class NormPenalty(ScaledPenalty):
    """``h(W) = alpha * Omega(W) + ridge * ||W||_F^2`` for a norm ``Omega``.

    Subclasses give ``norm``, ``norm_prox`` (prox of ``tau * Omega``) and
    ``dual_norm``.  Everything else follows:

    * prox of the sum: ``prox_{s h}(V) = prox_{s alpha / k Omega}(V / k)`` with
      ``k = 1 + 2 s ridge``;
    * conjugate: with ``ridge = 0`` the indicator of the dual-norm ball of radius
      ``alpha``; with ``ridge > 0`` the infimal convolution
      ``||V - P(V)||^2 / (4 ridge) = ||prox_{alpha Omega}(V)||^2 / (4 ridge)``
      (Moreau), finite everywhere.
    """

    def value(self, coef):
        xp = self.xp
        return self.alpha * self.norm(coef) + self.ridge * xp.sum(coef * coef)

    def prox(self, coef, step):
        k = 1.0 + 2.0 * step * self.ridge
        return self.norm_prox(coef / k, step * self.alpha / k)

    def dual_scale(self, V):
        if self.ridge > 0:
            return 1.0
        dn = as_float(self.dual_norm(V))
        return 1.0 if dn <= self.alpha else self.alpha / dn

    def conjugate(self, V):
        if self.ridge > 0:
            P = self.norm_prox(V, self.alpha)
            return as_float(self.xp.sum(P * P)) / (4.0 * self.ridge)
        return 0.0  # V is inside the ball after dual_scale

    def alpha_max(self, grad):
        """Smallest ``alpha`` for which ``W = 0`` is optimal, given ``grad F(0)``."""
        return as_float(self.dual_norm(grad))

    def dual_norm(self, V):
        return self.xp.max(self.feature_scores(V))

    # -- to implement --------------------------------------------------------
    def norm(self, coef):
        raise NotImplementedError

    def norm_prox(self, coef, tau):
        raise NotImplementedError

    # Norms separable over the features define ``feature_scores`` and set this:
    # only they can be solved on working sets of features.
    separable_over_features = False

    def feature_scores(self, V):
        """Per-feature part of the dual norm: ``dual_norm(V) = max_j score_j``.

        The norms here are separable over features (columns of ``coef``), so
        ``W_:,j = 0`` is optimal for feature j iff ``score_j(grad) <= alpha``;
        the working-set solver ranks features by it.
        """
        raise NotImplementedError
