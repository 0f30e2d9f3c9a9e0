"""A second certificate at each of FISTA's checks: the duality gap at an Anderson
extrapolation of the last checked iterates.

The gap from the residuals lags the objective: near the optimum the dual
point's infeasibility is linear in the distance to the optimum while the
suboptimality is quadratic, so the gap behaves like the square root of the
suboptimality, and a fit that is already within ``tol`` keeps iterating until
the gap says so (issue 16: 1.6 to 8 times the iterations).  The iterates that
the checks see, ``x_10, x_20, ...``, converge to the optimum together, and an
affine combination of them with Anderson's weights (the one that makes the
combination of their successive differences smallest, as celer and skglm
extrapolate theirs) is often far closer to it than the last one.  Its
gap is then far smaller, and it is a certificate like any other: the
extrapolated point is returned only when its own certified gap meets the
stopping rule, so nothing is taken on trust.  A check costs one more pass over
the data (the extrapolated point's state) and one more gap.
"""

import numpy as np

from .._backend import to_numpy
from ._fista_stopping import Check, duality_gap, gap_threshold, objective_at

__all__ = ["ExtrapolatedCheck", "EXTRAPOLATED_ITERATES", "gram_anderson_weights"]

# iterates combined (differences: one fewer); celer and skglm use 5 differences
EXTRAPOLATED_ITERATES = 6


class ExtrapolatedCheck:
    """The last :data:`EXTRAPOLATED_ITERATES` checked points, and the certified check at
    their Anderson extrapolation.

    ``check(x)`` records the point ``x`` (coefficients and intercepts) and, once the
    window is full, returns ``(point, Check)`` at the extrapolated point (``point``
    with its state), or None when the weights cannot be computed.  ``better(x,
    check)`` returns that pair when it certifies the rule or has a lower objective
    than ``check``'s, and the window then starts afresh from it; after ``m``
    extrapolations in a row that did neither, the next ``2^min(m, 4) - 1`` checks
    only record their point (a problem where extrapolation does not help pays for
    it at one check in 16 at most)."""

    def __init__(self, datafit, penalty, tol, point_type, n_points=EXTRAPOLATED_ITERATES):
        self.datafit, self.penalty, self.tol = datafit, penalty, tol
        self.point_type = point_type
        self.n_points = n_points
        self.points = []
        self._misses = self._wait = 0

    def _record(self, x):
        self.points.append((x.coef, x.intercept))
        if len(self.points) > self.n_points:
            self.points.pop(0)

    def check(self, x):
        self._record(x)
        if len(self.points) < self.n_points:
            return None
        weights = gram_anderson_weights(self._difference_gram())
        if weights is None:
            return None
        coef, intercept = self._combine(weights)
        point = self.point_type(coef, intercept, self.datafit.state(coef, intercept))
        primal = objective_at(self.datafit, self.penalty, point)
        gap = duality_gap(self.datafit, self.penalty, coef, intercept, point.state)
        return point, Check(primal, gap, gap_threshold(self.tol, primal), gap)

    def better(self, x, check):
        if self._wait > 0:  # backing off after extrapolations that did not help
            self._wait -= 1
            self._record(x)
            return None
        out = self.check(x)
        if out is None or not (out[1].converged or out[1].objective < check.objective):
            self._misses += 1
            self._wait = 2 ** min(self._misses, 4) - 1
            return None
        self._misses = 0
        self.points = [(out[0].coef, out[0].intercept)]
        return out

    def _differences(self):
        return [(c1 - c0, None if b1 is None else b1 - b0)
                for (c0, b0), (c1, b1) in zip(self.points[:-1], self.points[1:])]

    def _difference_gram(self):
        """``C_ij = <u_i, u_j>`` over the coefficients and intercepts (host): one product
        of the stacked differences (``k`` rows of the iterates' size, transient)."""
        xp = self.datafit.xp
        rows = [xp.reshape(c, (-1,)) if b is None else xp.concat([xp.reshape(c, (-1,)), b])
                for c, b in self._differences()]
        U = xp.stack(rows)
        return np.asarray(to_numpy(U @ xp.permute_dims(U, (1, 0))), dtype=np.float64)

    def _combine(self, weights):
        """``sum_i c_i p_{i+1}``: the later point of each difference."""
        later = self.points[1:]
        coef = sum(float(c) * p[0] for c, p in zip(weights, later))
        intercept = None if later[0][1] is None else sum(
            float(c) * p[1] for c, p in zip(weights, later))
        return coef, intercept


def gram_anderson_weights(C):
    """Affine weights ``c`` (summing to 1) minimizing ``c^T C c`` for the Gram matrix
    ``C`` of the differences, regularized at its rounding level; None when the
    system cannot be solved."""
    C = C + 1e-12 * max(np.trace(C), np.finfo(np.float64).tiny) * np.eye(C.shape[0])
    try:
        z = np.linalg.solve(C, np.ones(C.shape[0]))
    except np.linalg.LinAlgError:
        return None
    total = z.sum()
    return None if not np.isfinite(total) or total == 0 else z / total
