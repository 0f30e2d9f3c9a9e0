"""Decomposed models ``W = P_1 + ... + P_k``, each part with its own penalty.

The solver sees one variable: the parts stacked along the task axis,
``(k * n_tasks, n_features)``.  :class:`SumOfParts` evaluates the data fit at
the sum of the parts (its gradient is the same for every part, and its
Lipschitz constant is ``k`` times the data fit's); :class:`PartsPenalty` is
the separable sum of the parts' penalties (prox part by part).  The duality
gap then needs nothing new: the dual point is shared by all parts, and the
conjugate of a separable sum is the sum of the conjugates.
"""

from .losses import BaseDataFit
from .penalties import Penalty

__all__ = ["SumOfParts", "PartsPenalty", "split_parts", "sum_parts"]


def split_parts(xp, stacked, n_parts):
    """``(k * T, d)`` -> ``(k, T, d)``."""
    return xp.reshape(stacked, (n_parts, stacked.shape[0] // n_parts, stacked.shape[1]))


def sum_parts(xp, stacked, n_parts):
    return xp.sum(split_parts(xp, stacked, n_parts), axis=0)


class SumOfParts(BaseDataFit):
    """The data fit ``F(sum_i P_i, b)`` of stacked parts."""

    def __init__(self, inner, n_parts):
        self.inner = self.parts_of = inner
        self.n_parts = n_parts
        self.xp = inner.xp
        self.data = inner.data
        self.fit_intercept = inner.fit_intercept
        self.has_dual = inner.has_dual
        self.has_proximal_solve = inner.has_proximal_solve
        self.curvature_varies = inner.curvature_varies
        self.lipschitz_is_exact = inner.lipschitz_is_exact
        self.can_restrict_features = inner.can_restrict_features
        self.restricted_state_is_full = inner.restricted_state_is_full

    def _sum(self, coef):
        return sum_parts(self.xp, coef, self.n_parts)

    def _tile(self, G):
        return self.xp.concat([G] * self.n_parts, axis=0)

    def state(self, coef, intercept):
        return self.inner.state(self._sum(coef), intercept)

    def value(self, coef, intercept, state):
        return self.inner.value(self._sum(coef), intercept, state)

    def value_and_grad(self, coef, intercept, state):
        f, g, gb = self.inner.value_and_grad(self._sum(coef), intercept, state)
        return f, self._tile(g), gb

    def lipschitz(self):
        return self.n_parts * self.inner.lipschitz()

    def dual(self, coef, intercept, state):
        V, fenchel_young = self.inner.dual(self._sum(coef), intercept, state)
        return self._tile(V), fenchel_young

    def proximal_solve(self, V, rho):
        """All parts at once: the inner fit's solve over ``n_parts`` stacked parts."""
        return self.inner.proximal_solve(V, rho, self.n_parts)

    def bregman(self, Z, W):
        return self.inner.bregman(self._sum(Z), self._sum(W))

    def restrict_features(self, index):
        """Every part on the features ``index`` (one list for all the tasks)."""
        return SumOfParts(self.inner.restrict_features(index), self.n_parts)

    def gram_form(self):
        """The parts' sum on the inner fit's Gram form, or None (see
        :meth:`mtlreg.losses.DataFit.gram_form`)."""
        gram_form = getattr(self.inner, "gram_form", None)
        inner = None if gram_form is None else gram_form()
        return None if inner is None else SumOfParts(inner, self.n_parts)


class PartsPenalty(Penalty):
    """``sum_i h_i(P_i)`` for stacked parts ``P_i`` of ``n_tasks`` rows each."""

    def __init__(self, xp, parts):
        self.xp = xp
        self.parts = parts
        self.has_conjugate = all(p.has_conjugate for p in parts)
        self.zero_task_is_free = all(p.zero_task_is_free for p in parts)
        self.separable_over_features = all(p.separable_over_features for p in parts)

    @property
    def alpha(self):
        """The smallest of the parts' strengths (0: some part is unpenalized)."""
        return min(float(getattr(p, "alpha", 0.0)) for p in self.parts)

    def _blocks(self, coef):
        return split_parts(self.xp, coef, len(self.parts))

    def value(self, coef):
        blocks = self._blocks(coef)
        return sum(p.value(blocks[i, ...]) for i, p in enumerate(self.parts))

    def prox(self, coef, step):
        blocks = self._blocks(coef)
        return self.xp.concat([p.prox(blocks[i, ...], step) for i, p in enumerate(self.parts)],
                              axis=0)

    def dual_scale(self, V):
        blocks = self._blocks(V)
        return min(p.dual_scale(blocks[i, ...]) for i, p in enumerate(self.parts))

    def conjugate(self, V):
        blocks = self._blocks(V)
        return sum(p.conjugate(blocks[i, ...]) for i, p in enumerate(self.parts))

    def feature_scores(self, V):
        """Each feature's largest dual-norm part relative to its part's strength
        (``V`` the parts' stacked dual point; ``separable_over_features``)."""
        blocks = self._blocks(V)
        scores = [p.feature_scores(blocks[i, ...]) / p.alpha for i, p in enumerate(self.parts)]
        top = scores[0]
        for score in scores[1:]:
            top = self.xp.maximum(top, score)
        return top
