"""Alternating minimization for penalties with an auxiliary matrix.

The penalty is ``min_A pen(W, A)`` for an auxiliary matrix ``A`` (MTFL's
feature covariance ``D``, MTRL's task covariance ``Omega``).  Each outer iteration solves the W-step with :func:`fista` (warm
started) and then the A-step in closed form.  The auxiliary step is perturbed
by ``eps`` to keep ``A`` invertible; ``eps`` follows a decreasing continuation
relative to the scale of ``W`` (``min(previous eps, r_k sigma_max(W)^2)`` with
``r_k = 10^-k`` floored at ``eps_floor``; ``1`` while ``W = 0``), so that the
iterates approach the unperturbed optimum.
"""

import math

from .._backend import as_float, small_linalg
from .fista import duality_gap, effective_tol, fista, gap_threshold, objective_scale
from ._requirements import require
from ._result import SolverResult

__all__ = ["alternating_minimization"]


def alternating_minimization(datafit, penalty, coef0, intercept0, *, tol=1e-6,
                             max_iter=200, inner_max_iter=200, eps_floor=1e-12,
                             eps_decrease=0.1, stop="gap"):
    """Minimize ``datafit(W, b) + penalty(W)`` for a penalty with an auxiliary step.

    ``penalty`` must provide ``value(coef)`` (the penalty minimized over the
    auxiliary), ``auxiliary_step(coef, eps)`` (the closed-form, eps-perturbed
    minimizer over the auxiliary matrix, as ``(eigvecs, eigvals)``),
    ``step_penalty(aux)`` (the penalty of the W-step for a fixed auxiliary)
    and ``perturbation(aux, eps)`` (the part of the perturbed objective that
    ``eps`` adds).

    Each outer iteration lowers the perturbed objective
    ``J_eps(W, A) = F(W) + step_penalty(A)(W) + perturbation(A, eps)``: the
    A-step minimizes it exactly, the W-step (FISTA, warm started) is kept
    only if it does not raise it, and ``eps`` never increases.  Its values
    are in ``history`` as a fourth entry, so that the descent can be checked.

    Stopping (``stop``):

    * ``"gap"``: with ``penalty.has_conjugate``, the certified duality gap of
      the unperturbed problem, ``gap <= tol * objective``;
    * ``"change"``: the relative change of the objective and of the auxiliary
      matrix ``A`` (Frobenius) both ``<= tol``, once ``eps`` is at its floor.
      When the penalty has a conjugate this stop counts as converged only if
      the certified gap also meets the gap rule; otherwise the solver stops
      unconverged and ``note`` says why.
    """
    xp = datafit.xp
    dtype = coef0.dtype
    tol = effective_tol(tol, dtype, xp)
    scale = objective_scale(datafit, intercept0, coef0)
    lipschitz = datafit.lipschitz()
    require("alternating_minimization", penalty, "penalty", capabilities=("has_auxiliary",))
    has_gap = penalty.has_conjugate
    use_gap = has_gap and stop == "gap"

    coef, intercept = coef0, intercept0
    sq = as_float(xp.sum(coef * coef))
    # Start from the auxiliary of W0 (A = I / size when W0 = 0: a ridge W-step).
    rel_eps = 1.0
    eps = math.inf
    history = []
    converged = False
    objective_old = math.inf
    A_old = None
    criterion = math.inf
    gap = None
    note = ""
    outer = 0
    inner_tol = max(tol, 1e-3)
    for outer in range(1, max_iter + 1):
        sigma_max_sq = (as_float(xp.max(small_linalg(xp, "svdvals", coef))) ** 2
                        if sq > 0 else 0.0)
        eps = min(eps, max(rel_eps, eps_floor) * sigma_max_sq if sigma_max_sq > 0 else 1.0)
        aux = penalty.auxiliary_step(coef, eps)
        step = penalty.step_penalty(aux)
        start = as_float(datafit.value(coef, intercept, datafit.state(coef, intercept))
                         + step.value(coef))
        res = fista(datafit, step, coef, intercept, tol=inner_tol, max_iter=inner_max_iter,
                    use_gap=False, lipschitz=lipschitz, scale=scale)
        lipschitz = res.lipschitz
        state = datafit.state(res.coef, res.intercept)
        stepped = as_float(datafit.value(res.coef, res.intercept, state)
                           + step.value(res.coef))
        if stepped <= start:  # FISTA is not monotone: never accept an ascent
            coef, intercept = res.coef, res.intercept
        else:
            state = datafit.state(coef, intercept)
            stepped = start
        perturbed = stepped + penalty.perturbation(aux, eps)
        sq = as_float(xp.sum(coef * coef))
        objective = as_float(datafit.value(coef, intercept, state) + penalty.value(coef))
        if has_gap:
            gap = duality_gap(datafit, penalty, coef, intercept, state)
        U, lam = aux
        A = (U * lam[None, :]) @ xp.permute_dims(U, (1, 0))
        if use_gap:
            criterion = gap / max(objective, 1e-300)
            settled = gap <= gap_threshold(tol, objective)
        else:
            change_A = math.inf if A_old is None else as_float(
                xp.sqrt(xp.sum((A - A_old) ** 2) / xp.sum(A * A)))
            criterion = max(abs(objective_old - objective) / max(abs(objective), 1e-300),
                            change_A)
            settled = criterion <= tol and rel_eps <= eps_floor
        history.append((outer, objective, criterion, perturbed))
        if settled:
            # a change-rule stop is convergence only where the gap certifies it
            converged = use_gap or not has_gap or \
                gap <= gap_threshold(tol, objective)
            if not converged:
                note = (f"the relative change of the objective and the auxiliary matrix "
                        f"settled ({criterion:.3g} <= tol) after {outer} outer iterations, "
                        f"but the certified duality gap {gap:.3g} is above tol * objective = "
                        f"{tol:g} * {objective:.6g}: the fit is not certified to tol")
            break
        # tighten the perturbation and the inner tolerance as the iterates settle
        rel_eps *= eps_decrease
        inner_tol = max(tol * 0.1, min(inner_tol, 0.1 * criterion))
        objective_old = objective
        A_old = A

    return SolverResult(coef=coef, intercept=intercept, n_iter=outer, converged=converged,
                        objective=objective, criterion=criterion, dual_gap=gap,
                        history=history, lipschitz=lipschitz, scale=scale, auxiliary=aux,
                        criterion_name="relative duality gap" if use_gap else
                        "relative change of the objective and the auxiliary matrix",
                        note=note, solver="alternating")
