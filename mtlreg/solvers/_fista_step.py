"""FISTA's step rule: the constant ``L`` of the proximal-gradient step ``1 / L``.

A step rule runs one iteration's step search, ``search(datafit, try_step)``:
``try_step(L, L_prev)`` takes one proximal-gradient step with the constant
``L`` (``L_prev`` is the constant of the last iteration, for the momentum)
and returns the trial (see ``_Trial`` in :mod:`mtlreg.solvers.fista`).  The
search returns the accepted trial and its restart product
``<x_new - y, x - x_new>``: a host float when the rule had to read the trial
anyway, else still on the device.

* :class:`FixedStep` -- ``L`` is an exact Lipschitz constant of the gradient:
  every step is accepted, and nothing is read back to the host.
* :class:`Backtracking` -- ``L`` is an estimate: a step is accepted when the
  sufficient-decrease test holds, else ``L`` doubles and the step is tried
  again.  When the curvature of the loss varies (logistic), ``L`` first
  shrinks by ``shrink`` at every iteration, so the step follows the local
  curvature.
"""

import math

from .._backend import to_numpy

__all__ = ["FixedStep", "Backtracking", "step_rule"]


def step_rule(datafit, lipschitz, step_shrink, eps):
    """The step rule for ``datafit``: a fixed step when its Lipschitz constant
    is exact and none was given, else backtracking from ``lipschitz`` (or the
    data fit's estimate), adaptive when its curvature varies."""
    if datafit.lipschitz_is_exact and lipschitz is None:
        return FixedStep(datafit.lipschitz())
    L = float(lipschitz) if lipschitz is not None else datafit.lipschitz()
    adaptive = step_shrink < 1.0 and datafit.curvature_varies
    return Backtracking(L, eps, shrink=step_shrink if adaptive else None)


class FixedStep:
    """Step ``1 / L`` with an exact Lipschitz constant ``L``: no line search,
    no objective value, no host read (the momentum may stay on the device)."""

    is_fixed = True
    n_backtracks = 0

    def __init__(self, L):
        self.L = L

    def search(self, datafit, try_step):
        trial = try_step(self.L, self.L)
        return trial, trial.restart_dot

    def stop_adapting(self):
        """Nothing adapts."""


class Backtracking:
    """Step ``1 / L`` accepted by the sufficient-decrease test

        F(x_new) <= F(y) + <grad F(y), x_new - y> + L/2 ||x_new - y||^2

    (intercepts included), with a slack of ``10 eps (|F(y)| + |F(x_new)|)``
    for rounding.  A rejected trial doubles ``L`` and costs one more step.
    ``shrink`` (or None): the factor applied to ``L`` before each iteration's
    search, floored at ``1e-6`` times the initial ``L``.

    The test's excess and the restart product are read back together: one
    host sync per trial.
    """

    is_fixed = False

    def __init__(self, L, eps, shrink=None):
        self.L = L
        self.eps = eps
        self.shrink = shrink
        self.L_floor = L * 1e-6
        self.n_backtracks = 0

    def search(self, datafit, try_step):
        xp = datafit.xp
        L_prev = self.L
        if self.shrink is not None:
            self.L = max(self.L * self.shrink, self.L_floor)
        while True:
            trial = try_step(self.L, L_prev)
            excess, restart_dot = self._excess(xp, datafit, trial)
            if excess <= 0 or not math.isfinite(self.L * 2):
                return trial, restart_dot
            self.L *= 2.0
            self.n_backtracks += 1

    def _excess(self, xp, datafit, trial):
        """``F(x_new)`` above its quadratic model at ``y`` (less the slack), and
        the trial's restart product, as host floats in one transfer."""
        L, new, d, db = self.L, trial.new, trial.step, trial.step_b
        f_new = datafit.value(new.coef, new.intercept, new.state)
        model = trial.value + xp.sum(trial.grad * d) + 0.5 * L * xp.sum(d * d)
        if db is not None:
            model = model + xp.sum(trial.grad_b * db) + 0.5 * L * xp.sum(db * db)
        slack = 10.0 * self.eps * (xp.abs(trial.value) + xp.abs(f_new))
        excess, restart_dot = to_numpy(xp.stack([f_new - model - slack,
                                                 trial.restart_dot])).tolist()
        return float(excess), float(restart_dot)

    def stop_adapting(self):
        """Keep ``L`` from shrinking: near the rounding level of ``F`` the
        decrease test turns noisy, so the last digits are taken at a fixed step."""
        self.shrink = None
