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

import math
from typing import NamedTuple

import numpy as np

from .._backend import to_numpy
from ._fista_stopping import Check, duality_gap, gap_threshold, objective_at

__all__ = ["ExtrapolatedCheck", "EXTRAPOLATED_ITERATES", "gram_anderson_weights"]

# iterates combined (differences: one fewer); celer and skglm use 5 differences
EXTRAPOLATED_ITERATES = 6
# a jump to the extrapolated point resets FISTA's momentum: taken when it lowers the
# objective by more than this many times the last check interval's progress (on
# standardized Landmine's GraphClassifier(alpha=1), jumps on any decrease kept FISTA
# from certifying in 5,000 iterations where it certifies in 2,610 without them)
JUMP_GAIN = 3.0


class ExtrapolatedCheck:
    """The last :data:`EXTRAPOLATED_ITERATES` checked points, kept as the last one and
    the differences of successive ones, and the certified check at their Anderson
    extrapolation.

    ``check(x)`` records the point ``x`` (coefficients, and intercepts when
    ``has_b``) and, once the window is full, returns ``(point, Check)`` at the
    extrapolated point (``point`` with its state), or None when the weights cannot
    be computed or its objective or gap is not finite.  ``better(x, check)``
    returns that pair when it certifies the rule, or when it lowers the objective
    below ``check``'s by more than :data:`JUMP_GAIN` times the progress of the
    last check interval (``check`` not at the rounding level); the window then
    starts afresh from it.  After ``m`` extrapolations in a row that did neither,
    the next ``2^min(m, 4) - 1`` checks only record their point (a problem where
    extrapolation does not help pays for it at one check in 16 at most).

    Memory: the differences (``EXTRAPOLATED_ITERATES - 1`` arrays of ``W``'s size,
    and of the intercepts'); an extrapolation adds the combined point and one
    temporary of that size, and the point's state."""

    def __init__(self, datafit, penalty, tol, point_type, has_b,
                 n_points=EXTRAPOLATED_ITERATES):
        self.datafit, self.penalty, self.tol = datafit, penalty, tol
        self.point_type, self.has_b = point_type, has_b
        self.n_points = n_points
        self.last, self.diffs = None, []
        self._misses = self._wait = 0
        self._previous = None

    def record(self, x):
        """Add the point ``x``; True when the window is full."""
        if self.last is not None:
            self.diffs.append((x.coef - self.last.coef,
                               x.intercept - self.last.intercept if self.has_b else None))
            if len(self.diffs) >= self.n_points:
                self.diffs.pop(0)
        self.last = _Pair(x.coef, x.intercept)  # not its state: FISTA moves on from it
        return len(self.diffs) == self.n_points - 1

    def check(self, x):
        return self._extrapolate(x.coef.dtype) if self.record(x) else None

    def better(self, x, check):
        previous, self._previous = self._previous, check.objective
        if not self.record(x):  # the window fills
            return None
        if self._wait > 0:  # backing off after extrapolations that did not help
            self._wait -= 1
            return None
        out = self._extrapolate(x.coef.dtype)
        progress = previous - check.objective if previous is not None else 0.0
        gain = check.objective - out[1].objective if out is not None else 0.0
        if out is None or not (out[1].converged or (
                gain > JUMP_GAIN * max(progress, 0.0) and gain > 0 and not check.near_rounding)):
            self._misses += 1
            self._wait = 2 ** min(self._misses, 4) - 1
            return None
        self._misses = 0
        self.last, self.diffs = _Pair(out[0].coef, out[0].intercept), []
        return out

    def _extrapolate(self, dtype):
        eps = float(self.datafit.xp.finfo(dtype).eps)
        weights = gram_anderson_weights(self._difference_gram(), eps)
        if weights is None:
            return None
        coef, intercept = self._combine(weights)
        point = self.point_type(coef, intercept, self.datafit.state(coef, intercept))
        primal = objective_at(self.datafit, self.penalty, point)
        gap = duality_gap(self.datafit, self.penalty, coef, intercept, point.state)
        if not (math.isfinite(primal) and math.isfinite(gap)):
            return None
        return point, Check(primal, gap, gap_threshold(self.tol, primal), gap)

    def _difference_gram(self):
        """``C_ij = <u_i, u_j>`` over the coefficients and intercepts (host): vector
        dot products of flattened views, one read of the host at the end."""
        xp = self.datafit.xp
        flat = [(xp.reshape(c, (-1,)), b) for c, b in self.diffs]
        k = len(flat)
        entries = []
        for i in range(k):
            for j in range(i + 1):
                value = xp.vecdot(flat[i][0], flat[j][0])
                if self.has_b:
                    value = value + xp.vecdot(flat[i][1], flat[j][1])
                entries.append(value)
        values = np.asarray(to_numpy(xp.stack(entries)), dtype=np.float64)
        C = np.empty((k, k))
        C[np.tril_indices(k)] = values
        return np.tril(C) + np.tril(C, -1).T

    def _combine(self, weights):
        """``sum_i c_i p_{i+1} = p_last - sum_l (sum_{i<l} c_i) u_l`` (the later point of
        each difference ``u_l = p_{l+1} - p_l``): one new array, updated in place."""
        below = np.concatenate([[0.0], np.cumsum(weights)[:-1]])
        coef, intercept = self.last.coef, self.last.intercept
        fresh = False
        for w, (c, b) in zip(below, self.diffs):
            if w == 0.0:
                continue
            if not fresh:  # the first update makes the new arrays
                coef = coef - float(w) * c
                intercept = intercept - float(w) * b if self.has_b else intercept
                fresh = True
                continue
            coef -= float(w) * c
            if self.has_b:
                intercept -= float(w) * b
        return coef, intercept


class _Pair(NamedTuple):
    """A recorded point: coefficients and intercepts."""

    coef: object
    intercept: object


def gram_anderson_weights(C, eps=0.0):
    """Affine weights ``c`` (summing to 1) minimizing ``c^T C c`` for the Gram matrix
    ``C`` of the differences, regularized at its rounding level (``1e-12`` of its
    trace, or ``eps`` of it for iterates of a coarser dtype, whose ``C`` carries
    their rounding); None when the system cannot be solved."""
    level = max(1e-12, float(eps)) * max(np.trace(C), np.finfo(np.float64).tiny)
    C = C + level * np.eye(C.shape[0])
    try:
        z = np.linalg.solve(C, np.ones(C.shape[0]))
    except np.linalg.LinAlgError:
        return None
    total = z.sum()
    return None if not np.isfinite(total) or total == 0 else z / total
