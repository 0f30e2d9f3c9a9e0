"""Alternating minimization for penalties with an auxiliary matrix.

The penalty is ``min_A pen(W, A)`` for an auxiliary matrix ``A`` (MTFL's
feature covariance ``D``; later MTRL's task covariance and the clustered
``M``).  Each outer iteration solves the W-step with :func:`fista` (warm
started) and then the A-step in closed form.  The auxiliary step is perturbed
by ``eps`` to keep ``A`` invertible; ``eps`` follows a decreasing continuation
relative to the scale of ``W``, down to ``eps_floor``, so that the iterates
approach the unperturbed optimum.
"""

import math

from .._backend import as_float
from .fista import duality_gap, effective_tol, fista, gap_threshold, objective_scale
from ._result import SolverResult

__all__ = ["alternating_minimization"]


def alternating_minimization(datafit, penalty, coef0, intercept0, *, tol=1e-6,
                             max_iter=200, inner_max_iter=200, eps_floor=1e-12,
                             eps_decrease=0.1):
    """Minimize ``datafit(W, b) + penalty(W)`` for a penalty with an auxiliary step.

    ``penalty`` must provide ``value(coef)`` (the penalty minimized over the
    auxiliary), ``auxiliary_step(coef, eps)`` (the closed-form, eps-perturbed
    minimizer over the auxiliary matrix) and ``step_penalty(aux)`` (the
    penalty of the W-step for a fixed auxiliary).  With ``penalty.has_conjugate`` the
    stopping rule is the certified duality gap of the unperturbed problem,
    ``gap <= tol * objective``; otherwise the relative change of the objective.
    """
    xp = datafit.xp
    dtype = coef0.dtype
    tol = effective_tol(tol, dtype, xp)
    eps_dtype = float(xp.finfo(dtype).eps)
    scale = objective_scale(datafit, intercept0, coef0)
    lipschitz = datafit.lipschitz()
    use_gap = getattr(penalty, "has_conjugate", False)

    coef, intercept = coef0, intercept0
    sq = as_float(xp.sum(coef * coef))
    # Start from D = I / d when W = 0 (a ridge W-step), else from D(W0).
    rel_eps = 1.0
    history = []
    converged = False
    objective_old = math.inf
    criterion = math.inf
    gap = None
    outer = 0
    inner_tol = max(tol, 1e-3)
    for outer in range(1, max_iter + 1):
        sigma_max_sq = as_float(xp.max(xp.linalg.svdvals(coef))) ** 2 if sq > 0 else 0.0
        eps = max(rel_eps, eps_floor) * sigma_max_sq if sigma_max_sq > 0 else 1.0
        aux = penalty.auxiliary_step(coef, eps)
        step = penalty.step_penalty(aux)
        res = fista(datafit, step, coef, intercept, tol=inner_tol, max_iter=inner_max_iter,
                    use_gap=False, lipschitz=lipschitz, scale=scale)
        lipschitz = res.lipschitz
        coef, intercept = res.coef, res.intercept
        sq = as_float(xp.sum(coef * coef))
        state = datafit.state(coef, intercept)
        objective = as_float(datafit.value(coef, intercept, state) + penalty.value(coef))
        if use_gap:
            gap = duality_gap(datafit, penalty, coef, intercept, state)
            criterion = gap / max(objective, 1e-300)
            settled = gap <= gap_threshold(tol, objective, scale, eps_dtype)
        else:
            criterion = abs(objective_old - objective) / max(abs(objective), 1e-300)
            settled = criterion <= tol and rel_eps <= eps_floor
        history.append((outer, objective, criterion))
        if settled:
            converged = True
            break
        # tighten the perturbation and the inner tolerance as the gap closes
        rel_eps *= eps_decrease
        inner_tol = max(tol * 0.1, min(inner_tol, 0.1 * criterion))
        objective_old = objective

    return SolverResult(coef=coef, intercept=intercept, n_iter=outer, converged=converged,
                        objective=objective, criterion=gap if use_gap else criterion,
                        dual_gap=gap, history=history, lipschitz=lipschitz, scale=scale,
                        auxiliary=aux)
