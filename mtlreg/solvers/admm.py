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
With a prox penalty too (``beta > 0``: a norm separable over the features), the
three terms split as ``W = V = Z``, read as ``(W, V) = (Z, Z)`` (two blocks, so
the classical convergence holds): ``W`` by the proximal solve, ``V`` by ``h``'s
prox, ``Z`` by ``g``'s prox of their average with the step ``1 / (2 rho)``.
``V`` (with the prox's exact zeros) is certified when its gap meets ``tol``,
else ``Z`` with ``V``'s zeros, else ``Z``; proximal-gradient steps then try to
set the zeros ADMM's point has not found yet (:func:`_polish`).  On raw School
with ``beta = 0.01`` FISTA stopped at 5,000 iterations without a certificate;
this split certifies in 570 (``docs/relation.md``).  ``solver="auto"`` runs it
only on badly scaled features (:func:`mtlreg.problem._badly_scaled`), where
FISTA can be slow, and then after a short FISTA run (:func:`fista_then_admm`):
FISTA is the faster one on small, sparse or well-scaled problems.

The scaled dual variable starts at ``U = -grad F(Z_0) / rho``, optimal when ``Z_0``
is (a warm start at the solution stays there).  The iterate that is reported and
certified is ``Z``: it is in the penalty's domain (the three-way split below
certifies ``V`` or ``Z``, and starts its two dual variables at their optimal
values for ``Z_0`` too).  Two dual points certify
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

__all__ = ["admm", "admm_gap", "admm_then_fista", "fista_then_admm"]

MAX_RHO_UPDATES = 30
#: ADMM iterations before :func:`admm_then_fista` hands over to FISTA
ADMM_BUDGET = 2000
#: FISTA iterations before :func:`fista_then_admm` hands over to ADMM
FISTA_BUDGET = 500
#: at most this many proximal-gradient steps polish a three-way split's point
POLISH_STEPS = 20


def admm(datafit, penalty, coef0, intercept0, *, tol=1e-6, max_iter=5000, check_every=10,
         scale=None):
    """Minimize ``F(W) + h(W)`` by ADMM; a :class:`SolverResult` at ``Z``, with the last
    ``W``-step iterate in ``auxiliary`` (``(W,)``: its gradient is the second dual
    point, :func:`admm_gap`).

    ``datafit`` may also be a :class:`~mtlreg.losses.SmoothlyPenalizedDataFit`
    ``F + g`` whose smooth term has a closed-form prox (``g.has_prox``, the
    graph quadratic), with ``h`` the zero penalty: ADMM then splits ``F`` from
    ``g``, ``Z <- prox_{g / rho}(W + U)``, and certifies ``Z`` by the duality
    gap of ``F + g`` (the smooth term's route, :func:`mtlreg.solvers.duality_gap`);
    or with ``h`` a norm separable over the features without ridge
    (:func:`splits_penalty`): the three-way split ``W = V = Z`` of the module
    docstring.
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
                              admm_gap(datafit, penalty, W, Z, loss)), Z

    return _admm_loop(datafit, check=check, coef0=coef0, intercept0=intercept0, tol=tol,
                      max_iter=max_iter, check_every=check_every, scale=scale,
                      w_step=datafit.proximal_solve, z_step=penalty.prox,
                      u_start=lambda Z, rho: -datafit.value_and_grad(
                          Z, None, datafit.state(Z, None))[1] / rho)


def _admm_smooth(datafit, penalty, coef0, intercept0, *, tol, max_iter, check_every, scale):
    """ADMM on ``F(W) + g(Z)``, ``W = Z``, or, with a prox penalty ``h`` (a norm
    separable over the features), on ``F(W) + h(V) + g(Z)``, ``W = V = Z`` (see
    :func:`admm`)."""
    inner, smooth = datafit.inner, datafit.smooth
    require("admm", inner, "data fit", ("proximal_solve",), ("has_proximal_solve",))
    require("admm", smooth, "smooth term", ("prox",), ("has_prox",))
    require("admm", datafit, "data fit", ("dual",), ("has_dual",))
    if not (penalty.is_zero or splits_penalty(penalty)):
        raise ValueError("admm splits a smooth term when the prox penalty is zero or a norm "
                         "separable over the features without ridge.")
    _check_no_intercept(datafit, intercept0)
    if scale is None:
        scale = objective_scale(datafit, intercept0, coef0)
    xp = datafit.xp

    # in the variable W' = W s (s: each feature's curvature scale), so that one rho
    # suits every feature; g is a sum over the features: g(Z' / s) has the prox of
    # g with the step step / s_j^2 on column j, and a norm h separable over the
    # features has h(V' / s) with the step step / s_j.  Z = Z' / s is certified.
    s = inner.feature_scale() if hasattr(inner, "feature_scale") else None
    scaled = inner if s is None else inner.rescaled(s)
    to_user = (lambda A: A) if s is None else (lambda A: A / s[None, :])
    per_feature = (lambda step: step) if s is None else (lambda step: step / s)

    def certify(P):
        Pu = to_user(P)
        state = datafit.state(Pu, None)
        objective = as_float(datafit.value(Pu, None, state)) + as_float(penalty.value(Pu))
        return objective, duality_gap(datafit, penalty, Pu, None, state), P

    def check(W, Z):
        if W.ndim == 2:
            return certify(Z)
        # with a prox penalty, h's own iterate V first: it keeps the prox's exact
        # zeros, which Z (the smooth term's prox) has not; Z when only Z certifies
        at_v = certify(W[1, ...])
        if at_v[1] <= gap_threshold(effective_tol(tol, coef0.dtype, xp), at_v[0]):
            return at_v
        # Z with V's zeros, then Z
        V = W[1, ...]
        best = at_v
        for P in (xp.where(V == 0, xp.zeros_like(Z), Z), Z):
            at_p = certify(P)
            if at_p[1] <= gap_threshold(effective_tol(tol, coef0.dtype, xp), at_p[0]):
                return at_p
            best = at_p if at_p[1] < best[1] else best
        return best

    def scaled_grad(Z):
        """``grad F'(Z')`` and ``grad g'(Z')`` in the scaled variable."""
        Zu = to_user(Z)
        gF = scaled.value_and_grad(Z, None, scaled.state(Z, None))[1]
        gg = smooth.value_and_grad(Zu)[1]
        return gF, (gg if s is None else gg / s[None, :])

    if penalty.is_zero:
        steps = dict(
            w_step=scaled.proximal_solve,
            z_step=lambda V, step: smooth.prox(V, per_feature(per_feature(step))),
            u_start=lambda Z, rho: -scaled_grad(Z)[0] / rho)
    else:
        # W = V = Z as (W, V) = (Z, Z): the (W, V) step is separable, F's
        # proximal solve and h's prox; the Z step is g's prox of the average
        # with the step 1 / (2 rho).  The scaled duals U_W = -grad F / rho and
        # U_V = (grad F + grad g) / rho are optimal when Z is.
        def w_step(V, rho):
            return xp.stack([scaled.proximal_solve(V[0, ...], rho),
                             penalty.prox(V[1, ...], per_feature(1.0 / rho))])

        def z_step(V, step):
            return smooth.prox((V[0, ...] + V[1, ...]) / 2.0,
                               per_feature(per_feature(step / 2.0)))

        def u_start(Z, rho):
            gF, gg = scaled_grad(Z)
            return xp.stack([-gF / rho, (gF + gg) / rho])

        steps = dict(w_step=w_step, z_step=z_step, u_start=u_start)
    result = _admm_loop(scaled, check=check, coef0=coef0 if s is None else coef0 * s[None, :],
                        intercept0=intercept0, tol=tol, max_iter=max_iter,
                        check_every=check_every, scale=scale, **steps)
    result.coef = to_user(result.coef)
    W = result.auxiliary[0]
    result.auxiliary = (to_user(W if W.ndim == 2 else W[0, ...]),)
    if result.converged and not penalty.is_zero:
        _polish(datafit, penalty, result, effective_tol(tol, coef0.dtype, xp),
                min(POLISH_STEPS, max_iter - result.n_iter))
    return result


def _polish(datafit, penalty, result, tol, steps):
    """Proximal-gradient steps (step ``1 / L``) from ADMM's certified point, at most
    ``steps`` (:data:`POLISH_STEPS`, within what is left of ``max_iter``): ADMM
    certifies before its prox iterate has found the solution's zeros
    (standardized School, ``GraphRegressor(beta=0.1)``: 139
    exact zeros where FISTA's optimum has 1,248), and a proximal-gradient step
    never raises the objective and sets the entries below its threshold to
    zero.  Once the zero pattern holds still, the first step whose own gap
    certifies ``tol`` replaces the result (the steps count in ``n_iter``); when
    none does (raw School, whose feature scales slow these steps as they slow
    FISTA), ADMM's point stays."""
    xp = datafit.xp
    step = 1.0 / datafit.lipschitz()
    P = result.coef
    state = datafit.state(P, None)
    for k in range(1, steps + 1):
        grad = datafit.value_and_grad(P, None, state)[1]
        Q = penalty.prox(P - step * grad, step)
        settled = bool(xp.all((Q == 0) == (P == 0)))
        P = Q
        state = datafit.state(P, None)
        if not settled:
            continue
        objective = as_float(datafit.value(P, None, state)) + as_float(penalty.value(P))
        gap = duality_gap(datafit, penalty, P, None, state)
        if gap <= gap_threshold(tol, objective):
            result.coef, result.objective = P, objective
            result.criterion = result.dual_gap = gap
            result.n_iter += k
            result.history.append((result.n_iter, objective, gap))
            return


def splits_penalty(penalty):
    """ADMM's smooth-term split also takes this prox penalty: a norm separable
    over the features without ridge (``h(V / s)`` is then ``h`` with the step
    ``1 / s_j`` on feature ``j``)."""
    return (getattr(penalty, "separable_over_features", False)
            and getattr(penalty, "ridge", None) == 0 and hasattr(penalty, "norm_prox"))


def _check_no_intercept(datafit, intercept0):
    if intercept0 is not None and datafit.fit_intercept:
        raise ValueError("admm solves data fits without intercept variables.")


def _admm_loop(datafit, *, check, coef0, intercept0, tol, max_iter, check_every, scale,
               w_step, z_step, u_start):
    """The iterations: ``W`` by ``w_step(V, rho)``, ``Z`` by ``z_step(V, 1 / rho)``,
    the scaled dual variable starting at ``u_start(Z, rho)``; ``check(W, Z) ->
    (objective, certified gap, point)`` every ``check_every`` (``point``: the
    iterate that gap certifies, ``Z`` or another; it is returned).  ``W`` and ``U`` may stack
    copies of ``Z``'s shape (a consensus ``W_i = Z``): the updates broadcast."""
    xp = datafit.xp
    tol = effective_tol(tol, coef0.dtype, xp)
    rho = max(0.5 * datafit.lipschitz(), 1e-12)
    Z = W = coef0
    # the scaled dual variable of the start: -grad F(Z) / rho (optimal when Z is, so
    # that a warm start at the solution stays there)
    U = u_start(Z, rho)
    history = []
    converged = False
    objective, gap = math.nan, math.inf
    point = Z
    updates = 0
    k = 0
    for k in range(1, max_iter + 1):
        W = w_step(Z - U, rho)
        Z_old = Z
        Z = z_step(W + U, 1.0 / rho)
        U = U + W - Z
        if k % check_every == 0 or k == max_iter:
            objective, gap, point = check(W, Z)
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
    return SolverResult(coef=point, intercept=intercept0, n_iter=k, converged=converged,
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

    return _in_turn(admm, fista, ADMM_BUDGET, "admm, then fista", datafit, penalty, coef0,
                    intercept0, tol, max_iter)


def fista_then_admm(datafit, penalty, coef0, intercept0, *, tol=1e-6, max_iter=5000):
    """FISTA for at most :data:`FISTA_BUDGET` iterations, then the three-way ADMM split
    from its point until ``max_iter``.

    For the graph quadratic with its L1 term on badly scaled features: FISTA
    certifies small or sparse problems in tens to hundreds of iterations where
    the split needs several times more (a review's draws of
    ``tests/test_relation.py``'s chain problem with feature scales 1e-2 to 1e2:
    10 to 90 FISTA iterations against 81 to 431 for the split), while on raw
    School with ``beta = 0.01`` FISTA stops at 5,000 without a certificate and
    the split certifies.  ADMM starts from FISTA's point with its dual
    variables at their optimal values for that point."""
    from .fista import fista

    return _in_turn(fista, admm, FISTA_BUDGET, "fista, then admm", datafit, penalty, coef0,
                    intercept0, tol, max_iter)


def _in_turn(first, second, budget, name, datafit, penalty, coef0, intercept0, tol, max_iter):
    """``first`` for at most ``budget`` iterations, then ``second`` from its point for the
    rest of ``max_iter``; the result of whichever stops, its history and count joined."""
    one = first(datafit, penalty, coef0, intercept0, tol=tol, max_iter=min(max_iter, budget))
    if one.converged or one.n_iter >= max_iter:
        return one
    rest = second(datafit, penalty, one.coef, intercept0, tol=tol,
                  max_iter=max_iter - one.n_iter, scale=one.scale)
    rest.history = one.history + [(k + one.n_iter, P, c) for k, P, c in rest.history]
    rest.n_iter += one.n_iter
    rest.solver = name
    return rest
