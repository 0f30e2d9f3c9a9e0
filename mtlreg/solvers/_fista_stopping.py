"""FISTA's stopping rule, and the certificate helpers every solver shares.

A stopping rule's ``check(trial, L)`` evaluates the accepted trial's new
point (the step constant ``L`` produced it) and returns a :class:`Check`:

* :class:`DualityGapStop` -- a certified duality gap ``<= gap_threshold``,
  for a penalty with a conjugate and a data fit with a dual point;
* :class:`GradientMappingStop` -- otherwise the gradient mapping
  ``L ||x_new - y|| <= tol * ||grad F(0, b0)||``.
"""

import math
from typing import NamedTuple

from .._backend import as_float

__all__ = ["objective_scale", "effective_tol", "duality_gap", "gap_threshold",
           "objective_at", "Check", "DualityGapStop", "GradientMappingStop"]


def objective_scale(datafit, intercept0, coef0):
    """``F(0, b0)``: the objective at ``W = 0`` (scale of the stopping rule);
    ``coef0`` gives the shape of the solver's variable."""
    zero = datafit.xp.zeros_like(coef0)
    return as_float(datafit.value(zero, intercept0, datafit.state(zero, intercept0)))


def effective_tol(tol, dtype, xp):
    """``tol`` floored at a multiple of the dtype's eps (float32 cannot reach 1e-10)."""
    return max(float(tol), 100.0 * float(xp.finfo(dtype).eps))


def duality_gap(datafit, penalty, coef, intercept, state, dual_point=None):
    """Certified gap ``P(W, b) - D(s theta)`` with theta built from the residuals.

    Written as a sum of two Fenchel-Young terms, each non-negative in exact
    arithmetic, instead of the difference of two large numbers:

        [F(Z) + F*(s theta) - s <Z, theta>] + [h(W) + h*(-s V) + s <W, V>]

    with ``V = X^T theta`` (``<Z, theta> = <W, V>`` since theta sums to zero in
    every task that has a free intercept) and ``s`` the dual scaling that makes
    ``h*`` finite: one number, or one per task when both the penalty and the
    loss's Fenchel-Young term separate over the tasks (the callable's
    ``per_task`` attribute) and that gives the smaller gap.  ``dual_point`` is
    ``datafit.dual(coef, intercept, state)`` when the caller has it already.
    """
    V, fenchel_young = dual_point if dual_point is not None else \
        datafit.dual(coef, intercept, state)
    s = penalty.dual_scale(-V)
    gap = _gap_at(datafit, penalty, coef, V, fenchel_young, s)
    if s < 1.0 and getattr(fenchel_young, "per_task", False):
        # a sum over the tasks (L1) with a per-task loss: each task's dual point may
        # be scaled on its own, a tighter bound than the scale the worst task sets
        s_t = penalty.task_dual_scales(-V)
        if s_t is not None:
            gap = min(gap, _gap_at(datafit, penalty, coef, V, fenchel_young, s_t))
    return gap


def _gap_at(datafit, penalty, coef, V, fenchel_young, s):
    """The gap's two Fenchel-Young terms at the dual scale ``s`` (a number, or one
    per task)."""
    xp = datafit.xp
    row = s[:, None] if getattr(s, "ndim", 0) == 1 else s
    loss_part = fenchel_young(s)
    penalty_part = (as_float(penalty.value(coef)) + penalty.conjugate(-row * V)
                    + as_float(xp.sum(row * coef * V)))
    return max(loss_part, 0.0) + max(penalty_part, 0.0)


def gap_threshold(tol, primal):
    """Stop when ``gap <= tol * objective``: a relative duality gap, so that
    ``converged`` means the objective is within ``tol`` of the optimum,
    relatively.  ``tol`` is already floored at ``100 eps`` of the dtype
    (:func:`effective_tol`), the rounding level of the loss sums relative to
    the objective; there is no floor relative to ``F(0, b0)``.  A fit whose dual point
    cannot certify ``tol`` (a near-exact fit, uncentred targets without
    intercept) stops at ``max_iter`` with a ConvergenceWarning instead.
    """
    return tol * primal


class Check(NamedTuple):
    """One convergence check: the objective ``P`` at the new point, the
    stopping quantity and its threshold, and the certified gap (or None)."""

    objective: float
    criterion: float
    threshold: float
    gap: object = None

    @property
    def converged(self):
        return self.criterion <= self.threshold

    @property
    def near_rounding(self):
        """The gap is at the rounding level of the objective (``1e-8 |P|``)."""
        return self.gap is not None and self.gap <= 1e-8 * abs(self.objective)


def objective_at(datafit, penalty, x):
    """``P(W, b)`` at the iterate ``x`` (a host float)."""
    return as_float(datafit.value(x.coef, x.intercept, x.state) + penalty.value(x.coef))


class DualityGapStop:
    """``gap <= gap_threshold(tol, P) = tol * P``: the certified relative gap."""

    name = "duality gap"

    def __init__(self, datafit, penalty, tol):
        self.datafit, self.penalty, self.tol = datafit, penalty, tol

    def check(self, trial, L):
        x = trial.new
        primal = objective_at(self.datafit, self.penalty, x)
        gap = duality_gap(self.datafit, self.penalty, x.coef, x.intercept, x.state)
        return Check(primal, gap, gap_threshold(self.tol, primal), gap)


class GradientMappingStop:
    """``L ||(x_new, b_new) - (y, b_y)|| <= tol * ||grad F(0, b0)||`` (the
    gradient norm floored at ``sqrt(eps)``), for problems without a certificate."""

    name = "gradient mapping"

    def __init__(self, datafit, penalty, start, has_b, tol, eps):
        self.datafit, self.penalty = datafit, penalty
        xp = datafit.xp
        x, xb = start.coef, start.intercept
        _, g0, g0b = datafit.value_and_grad(x * 0, xb, datafit.state(x * 0, xb))
        grad_scale = math.sqrt(as_float(xp.sum(g0 * g0))
                               + (as_float(xp.sum(g0b * g0b)) if has_b else 0.0))
        self.threshold = tol * max(grad_scale, math.sqrt(eps))

    def check(self, trial, L):
        xp = self.datafit.xp
        primal = objective_at(self.datafit, self.penalty, trial.new)
        squared = as_float(xp.sum(trial.step * trial.step))
        if trial.step_b is not None:
            squared += as_float(xp.sum(trial.step_b * trial.step_b))
        return Check(primal, L * math.sqrt(squared), self.threshold)
