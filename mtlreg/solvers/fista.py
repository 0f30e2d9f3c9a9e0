"""Accelerated proximal gradient (FISTA) with backtracking and adaptive restart.

:func:`fista` is the loop; its three rules live in their own modules:

* the step rule (``_fista_step``): a fixed step from an exact Lipschitz
  constant, or backtracking, adaptive when the curvature of the loss varies;
* the momentum with adaptive restart (``_fista_momentum``): host floats, or
  device scalars with a fixed step off NumPy;
* the stopping rule (``_fista_stopping``): a certified duality gap, or the
  gradient mapping; with the certificate helpers the other solvers share.
"""

import math
from typing import NamedTuple

from ._fista_extrapolation import ExtrapolatedCheck
from ._fista_momentum import momentum_for
from ._fista_step import step_rule
from ._fista_stopping import (DualityGapStop, GradientMappingStop, duality_gap, effective_tol,
                              gap_threshold, objective_at, objective_scale)
from ._requirements import require
from ._result import SolverResult

__all__ = ["fista", "objective_scale", "effective_tol", "duality_gap", "gap_threshold"]


def _check_pieces(datafit, penalty):
    require("fista", datafit, "data fit", ("state", "value", "value_and_grad", "lipschitz"))
    require("fista", penalty, "penalty", ("value", "prox"))


class _Point(NamedTuple):
    """An iterate: coefficients, intercepts and the data fit's cached state."""

    coef: object
    intercept: object
    state: object


class _Trial(NamedTuple):
    """One proximal-gradient step from the extrapolated point ``y`` to ``new``:
    ``F(y)``, its gradients, the new point and ``step = new - y``.

    ``step_b`` is None when the intercepts are not variables.
    ``restart_dot = <new - y, x - new>`` (intercepts included) is reduced on
    the device; positive when the momentum points against the step.
    """

    value: object
    grad: object
    grad_b: object
    new: _Point
    step: object
    step_b: object
    restart_dot: object


def _extrapolate(x, x_old, beta, has_b):
    """``y = x + beta (x - x_old)``; the state is affine in the point, so it
    is extrapolated from the cached states without a pass over the data."""
    return _Point(_past_by(x.coef, x_old.coef, beta),
                  _past_by(x.intercept, x_old.intercept, beta) if has_b else x.intercept,
                  _past_by(x.state, x_old.state, beta))


def _past_by(a, a_old, beta):
    """``a + beta (a - a_old)`` in one new array (in-place updates of it)."""
    out = a - a_old
    out *= beta
    out += a
    return out


def _proximal_step(datafit, penalty, x, y, L, has_b):
    """The step ``prox_{h / L}(y - grad F(y) / L)`` (a plain gradient step on
    the intercepts): one ``value_and_grad`` at ``y``, one ``state`` at the new point."""
    xp = datafit.xp
    fy, gy, gyb = datafit.value_and_grad(y.coef, y.intercept, y.state)
    forward = gy / -L
    forward += y.coef
    coef = penalty.prox(forward, 1.0 / L)
    del forward
    intercept = y.intercept - gyb / L if has_b else x.intercept
    new = _Point(coef, intercept, datafit.state(coef, intercept))
    step = coef - y.coef
    back = x.coef - coef
    restart_dot = xp.sum(xp.vecdot(step, back, axis=-1))
    del back
    step_b = None
    if has_b:
        step_b = intercept - y.intercept
        restart_dot = restart_dot + xp.sum(step_b * (x.intercept - intercept))
    return _Trial(fy, gy, gyb, new, step, step_b, restart_dot)


def fista(datafit, penalty, coef0, intercept0, *, tol=1e-6, max_iter=1000,
          check_every=10, use_gap=None, restart=True, lipschitz=None, scale=None,
          step_shrink=0.95, extrapolate=True):
    """Minimize ``datafit(W, b) + penalty(W)``.

    One iteration costs one ``value_and_grad`` (one pass over the data) at the
    extrapolated point, whose state is extrapolated from the cached states, and
    one ``state`` (one pass) at the new point; backtracking adds a ``state`` per
    rejected step.  Momentum restarts when it points against the last step
    (O'Donoghue & Candes 2015).  For losses whose curvature varies (logistic)
    ``L`` is multiplied by ``step_shrink`` before each line search, so the step
    follows the local curvature, and the momentum uses the varying-``L`` rule
    of Calatroni & Chambolle (2019); a rejected trial then costs a gradient
    and a state pass.

    Stopping, checked every ``check_every`` iterations: a certified duality
    gap ``<= tol * P(W, b)`` when the penalty has a conjugate (``use_gap``),
    else the gradient mapping ``L ||x_{k+1} - y_k|| <= tol * ||grad F(0, b0)||``.
    ``scale``, ``F(0, b0)`` by default, is reported in the result (the
    objective at ``W = 0``); it plays no part in the stopping rule.
    With the gap, ``extrapolate`` adds a second point at each check: an
    Anderson extrapolation of the last checked iterates
    (:mod:`._fista_extrapolation`), with its own objective and certified gap
    (one more pass over the data and one more gap per check).  It is returned
    when its gap meets the rule; otherwise, when it lowers the objective by
    more than three times the progress of the last check interval, FISTA goes
    on from it with its momentum reset (a restart at a better point, as skglm
    does with its extrapolated iterates).

    Memory, beyond the data fit's: the points ``x``, ``x_old``, the extrapolated
    ``y`` and the trial's new point, each an iterate of ``W`` (``n_tasks x
    n_features``, stacked parts included) with its state (the linear predictor,
    one number per sample, or ``G W`` on the Gram path), the gradient, and with
    ``extrapolate`` five differences of iterates of ``W`` (the extrapolation's
    window) and, at a check, one more point with its state.  An extrapolated
    point that is taken adds a second ``history`` entry at the same iteration.

    Parameters
    ----------
    datafit : DataFit or GramDataFit
    penalty : Penalty
    coef0 : array of shape (n_tasks, n_features)
    intercept0 : array of shape (n_tasks,) or None (no intercept)

    Returns
    -------
    SolverResult
    """
    _check_pieces(datafit, penalty)
    xp = datafit.xp
    dtype = coef0.dtype
    has_b = intercept0 is not None and datafit.fit_intercept
    if use_gap is None:
        use_gap = penalty.has_conjugate and datafit.has_dual
    tol = effective_tol(tol, dtype, xp)
    eps = float(xp.finfo(dtype).eps)
    step = step_rule(datafit, lipschitz, step_shrink, eps)
    if scale is None:
        scale = objective_scale(datafit, intercept0, coef0)
    x = x_old = _Point(coef0, intercept0, datafit.state(coef0, intercept0))
    stop = (DualityGapStop(datafit, penalty, tol) if use_gap else
            GradientMappingStop(datafit, penalty, x, has_b, tol, eps))
    momentum = momentum_for(xp, step, restart, coef0)
    extrapolation = ExtrapolatedCheck(datafit, penalty, tol, _Point, has_b) \
        if use_gap and extrapolate else None

    def try_step(L, L_prev):
        beta = momentum.beta(L, L_prev)
        y = x if beta is None else _extrapolate(x, x_old, beta, has_b)
        return _proximal_step(datafit, penalty, x, y, L, has_b)

    history = []
    converged = False
    check = None
    k = 0
    for k in range(1, max_iter + 1):
        trial, restart_dot = step.search(datafit, try_step)
        momentum.advance(restart_dot)
        x_old, x = x, trial.new
        if k % check_every == 0 or k == max_iter:
            check = stop.check(trial, step.L)
            history.append((k, check.objective, check.criterion))
            if check.near_rounding:
                step.stop_adapting()
            moved = None if check.converged or extrapolation is None else \
                extrapolation.better(x, check)
            if moved is not None:  # on from the extrapolated point, momentum afresh
                (x, check), x_old = moved, moved[0]
                history.append((k, check.objective, check.criterion))
                momentum = momentum_for(xp, step, restart, coef0)
            if check.converged:
                converged = True
                break

    objective, criterion, gap = ((math.nan, math.inf, None) if check is None else
                                 (check.objective, check.criterion, check.gap))
    if math.isnan(objective):
        objective = objective_at(datafit, penalty, x)
    return SolverResult(coef=x.coef, intercept=x.intercept, n_iter=k, converged=converged,
                        objective=objective, criterion=criterion, dual_gap=gap, history=history,
                        lipschitz=step.L, scale=scale, n_backtracks=step.n_backtracks,
                        criterion_name=stop.name)
