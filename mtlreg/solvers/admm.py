"""ADMM for a data fit with a closed-form proximal solve (the squared loss's Gram path).

    minimize F(W) + h(Z)  subject to  W = Z

in scaled form (Boyd et al. 2011, section 3.1.1):

    W <- argmin F(W) + rho ||W - Z + U||^2 / 2        (``datafit.proximal_solve``)
    Z <- prox_{h / rho}(W + U)
    U <- U + W - Z

The ``W``-step is exact: per task ``(c_t G_t + rho I) w_t = c_t q_t + rho v_t``,
solved in the eigenbasis of ``c_t G_t`` computed once, so a change of ``rho``
costs nothing.  That exact step is what makes ADMM insensitive to the
conditioning of the design, which slows FISTA down on raw (unstandardized)
features: on raw School, ``TraceRegressor`` needs 350 ADMM iterations against
more than 5,000 FISTA iterations (``docs/solvers.md``).  For decomposed models
``W = P_1 + ... + P_k`` the step solves for the stacked parts at once (a
``k x k`` system per eigen-direction, in closed form).

``rho`` starts at half the data fit's Lipschitz constant and follows residual
balancing (Boyd et al., 3.4.1): doubled when the primal residual ``||W - Z||``
exceeds ten times the dual residual ``rho ||Z - Z_old||``, halved in the
opposite case (``U`` rescaled with it); it is frozen after
``MAX_RHO_UPDATES`` changes, so that the classical convergence of ADMM with a
fixed ``rho`` applies to the tail.

A smooth structural term with a closed-form prox (the graph quadratic) takes the
place of ``h`` when the prox penalty is zero (``GraphRegressor`` with ``beta = 0``):
``Z <- prox_{g / rho}(W + U)``, and ``Z`` is certified by the duality gap of ``F + g``.

The scaled dual variable starts at ``U = -grad F(Z_0) / rho``, optimal when ``Z_0``
is (a warm start at the solution stays there).  The iterate that is reported and
certified is ``Z``: it is in the penalty's domain.  Two dual points certify
it, and the smaller gap is reported: FISTA's, from the residuals at ``Z``
(:func:`mtlreg.solvers.duality_gap`), and the gradient at ADMM's ``W`` (a subgradient
of ``h`` at ``Z`` up to the dual residual, see :func:`admm_gap`), whose loss
part is the Bregman divergence of ``F`` between ``Z`` and ``W``, second order
in ``Z - W``.  With the residuals' gap alone, the certified stop of the dirty
model on School came 7 to 21 times after the first iterate within ``1e-6``.
Stops when the reported gap is ``<= tol * P(Z)``, checked every ``check_every``
iterations.
"""

import math

from .._backend import as_float
from ._fista_stopping import duality_gap, effective_tol, gap_threshold, objective_scale
from ._requirements import require
from ._result import SolverResult

__all__ = ["admm", "admm_gap", "admm_then_fista"]

MAX_RHO_UPDATES = 30
#: ADMM iterations before :func:`admm_then_fista` hands over to FISTA
ADMM_BUDGET = 2000


def admm(datafit, penalty, coef0, intercept0, *, tol=1e-6, max_iter=5000, check_every=10,
         scale=None):
    """Minimize ``F(W) + h(W)`` by ADMM; a :class:`SolverResult` at ``Z``, with the last
    ``W``-step iterate in ``auxiliary`` (``(W,)``: its gradient is the second dual
    point, :func:`admm_gap`).

    ``datafit`` may also be a :class:`~mtlreg.losses.SmoothlyPenalizedDataFit`
    ``F + g`` whose smooth term has a closed-form prox (``g.has_prox``, the
    graph quadratic) and ``h`` the zero penalty: ADMM then splits ``F`` from
    ``g``, ``Z <- prox_{g / rho}(W + U)``, and certifies ``Z`` by the duality
    gap of ``F + g`` (the smooth term's route, :func:`mtlreg.solvers.duality_gap`).
    """
    smooth = getattr(datafit, "smooth", None)
    if smooth is not None:
        return _admm_smooth(datafit, penalty, coef0, intercept0, tol=tol, max_iter=max_iter,
                            check_every=check_every, scale=scale)
    require("admm", datafit, "data fit", ("proximal_solve", "dual"),
            ("has_proximal_solve", "has_dual"))
    require("admm", penalty, "penalty", ("prox", "value", "conjugate"), ("has_conjugate",))
    _check_no_intercept(datafit, intercept0)
    if scale is None:
        scale = objective_scale(datafit, intercept0, coef0)

    def check(W, Z):
        state = datafit.state(Z, None)
        loss = as_float(datafit.value(Z, None, state))
        objective = loss + as_float(penalty.value(Z))
        return objective, min(duality_gap(datafit, penalty, Z, None, state),
                              admm_gap(datafit, penalty, W, Z, loss))

    return _admm_loop(datafit, penalty.prox, check, coef0, intercept0, tol=tol,
                      max_iter=max_iter, check_every=check_every, scale=scale)


def _admm_smooth(datafit, penalty, coef0, intercept0, *, tol, max_iter, check_every, scale):
    """ADMM on ``F(W) + g(Z)``, ``W = Z`` (see :func:`admm`)."""
    inner, smooth = datafit.inner, datafit.smooth
    require("admm", inner, "data fit", ("proximal_solve",), ("has_proximal_solve",))
    require("admm", smooth, "smooth term", ("prox",), ("has_prox",))
    require("admm", datafit, "data fit", ("dual",), ("has_dual",))
    if not penalty.is_zero:
        raise ValueError("admm splits a smooth term only when the prox penalty is zero.")
    _check_no_intercept(datafit, intercept0)
    if scale is None:
        scale = objective_scale(datafit, intercept0, coef0)

    # in the variable W' = W s (s: each feature's curvature scale), so that one rho
    # suits every feature; g is a sum over the features: g(Z' / s) has the prox of
    # g with the step step / s_j^2 on column j.  Z = Z' / s is certified.
    s = inner.feature_scale() if hasattr(inner, "feature_scale") else None
    scaled = inner if s is None else inner.rescaled(s)
    to_user = (lambda A: A) if s is None else (lambda A: A / s[None, :])

    def z_step(V, step):
        return smooth.prox(V, step if s is None else step / (s * s))

    def check(W, Z):
        Z = to_user(Z)
        state = datafit.state(Z, None)
        return (as_float(datafit.value(Z, None, state)),
                duality_gap(datafit, penalty, Z, None, state))

    result = _admm_loop(scaled, z_step, check, coef0 if s is None else coef0 * s[None, :],
                        intercept0, tol=tol, max_iter=max_iter, check_every=check_every,
                        scale=scale)
    result.coef = to_user(result.coef)
    result.auxiliary = (to_user(result.auxiliary[0]),)
    return result


def _check_no_intercept(datafit, intercept0):
    if intercept0 is not None and datafit.fit_intercept:
        raise ValueError("admm solves data fits without intercept variables.")


def _admm_loop(datafit, z_step, check, coef0, intercept0, *, tol, max_iter, check_every,
               scale):
    """The iterations: ``W`` by ``datafit.proximal_solve``, ``Z`` by ``z_step(V, 1 / rho)``;
    ``check(W, Z) -> (objective, certified gap)`` every ``check_every``."""
    xp = datafit.xp
    tol = effective_tol(tol, coef0.dtype, xp)
    rho = max(0.5 * datafit.lipschitz(), 1e-12)
    Z = W = coef0
    # the scaled dual variable of the start: -grad F(Z) / rho (optimal when Z is, so
    # that a warm start at the solution stays there)
    U = -datafit.value_and_grad(Z, None, datafit.state(Z, None))[1] / rho
    history = []
    converged = False
    objective, gap = math.nan, math.inf
    updates = 0
    k = 0
    for k in range(1, max_iter + 1):
        W = datafit.proximal_solve(Z - U, rho)
        Z_old = Z
        Z = z_step(W + U, 1.0 / rho)
        U = U + W - Z
        if k % check_every == 0 or k == max_iter:
            objective, gap = check(W, Z)
            history.append((k, objective, gap))
            if gap <= gap_threshold(tol, objective):
                converged = True
                break
            if updates < MAX_RHO_UPDATES:
                primal = as_float(xp.sqrt(xp.sum((W - Z) ** 2)))
                dual = rho * as_float(xp.sqrt(xp.sum((Z - Z_old) ** 2)))
                if primal > 10.0 * dual:
                    rho, U, updates = 2.0 * rho, U / 2.0, updates + 1
                elif dual > 10.0 * primal:
                    rho, U, updates = rho / 2.0, U * 2.0, updates + 1
    return SolverResult(coef=Z, intercept=intercept0, n_iter=k, converged=converged,
                        objective=objective, criterion=gap, dual_gap=gap, history=history,
                        lipschitz=rho, scale=scale, criterion_name="duality gap",
                        solver="admm", auxiliary=(W,))


def admm_gap(datafit, penalty, W, Z, loss):
    """The gap at ``Z`` of the dual point ``g = grad F(W)`` of ADMM's ``W``-step.

    ``-g`` is a subgradient of ``h`` at ``Z`` up to ADMM's dual residual (the
    ``W``-step's optimality ``-g = rho (W - Z_old + U_old)``, the prox's
    ``rho (W + U_old - Z) in dh(Z)``), so it is scaled into ``h*``'s domain,
    ``s = dual_scale(-g)``, and ``s g`` is the data fit's dual point.  The gap is
    ``[F(Z) + F*(s g) - s <g, Z>] + [h(Z) + h*(-s g) + s <g, Z>]``.  By the
    convexity of ``F*``, ``F*(s g) <= s F*(g) + (1 - s) F*(0)``, with ``F*(g) =
    <g, W> - F(W)`` and ``F*(0) = -inf F <= 0``, so the first bracket is at most
    ``s D + (1 - s) F(Z)``, ``D = F(Z) - F(W) - <g, Z - W> = (Z - W)^T H (Z - W) / 2``
    (a quadratic ``F``; second order in ``Z - W``, where the residuals' dual point
    ``grad F(Z)`` is off by ``H (Z - W)``, first order).  Both gaps bound
    ``P(Z) - P*``; the solver reports the smaller."""
    xp = datafit.xp
    _, g, _ = datafit.value_and_grad(W, None, datafit.state(W, None))
    s = penalty.dual_scale(-g)
    if s <= 0.0:
        return math.inf
    loss_part = s * datafit.bregman(Z, W) + (1.0 - s) * loss
    penalty_part = (as_float(penalty.value(Z)) + penalty.conjugate(-s * g)
                    + s * as_float(xp.sum(g * Z)))
    return max(loss_part, 0.0) + max(penalty_part, 0.0)


def admm_then_fista(datafit, penalty, coef0, intercept0, *, tol=1e-6, max_iter=5000):
    """ADMM for at most :data:`ADMM_BUDGET` iterations, then FISTA from its point.

    ADMM's exact ``W``-step makes it fast on ill-conditioned designs, but with a
    ``rho`` far from the problem's scale its tail can crawl: on a two-feature
    sparse + low-rank problem of the property tests (features scaled by 1e-2) it
    was at a relative gap of 3e-8 after 50,000 iterations, where FISTA certified
    1e-8 in 230.  Handing over to FISTA (warm started at ``Z``) bounds that case
    by the budget, and the certificate is the one of whichever solver stops."""
    from .fista import fista

    first = admm(datafit, penalty, coef0, intercept0, tol=tol,
                 max_iter=min(max_iter, ADMM_BUDGET))
    if first.converged or first.n_iter >= max_iter:
        return first
    rest = fista(datafit, penalty, first.coef, intercept0, tol=tol,
                 max_iter=max_iter - first.n_iter, scale=first.scale)
    rest.history = first.history + [(k + first.n_iter, P, c) for k, P, c in rest.history]
    rest.n_iter += first.n_iter
    rest.solver = "admm, then fista"
    return rest

