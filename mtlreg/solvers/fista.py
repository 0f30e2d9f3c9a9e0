"""Accelerated proximal gradient (FISTA) with backtracking and adaptive restart."""

import math

from .._backend import as_float, device, is_numpy_namespace
from ._requirements import require
from ._result import SolverResult

__all__ = ["fista", "objective_scale"]


def _check_pieces(datafit, penalty):
    require("fista", datafit, "data fit", ("state", "value", "value_and_grad", "lipschitz"))
    require("fista", penalty, "penalty", ("value", "prox"))


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
    ``h*`` finite.  ``dual_point`` is ``datafit.dual(coef, intercept, state)``
    when the caller has it already.
    """
    V, fenchel_young = dual_point if dual_point is not None else \
        datafit.dual(coef, intercept, state)
    s = penalty.dual_scale(-V)
    loss_part = fenchel_young(s)
    penalty_part = (as_float(penalty.value(coef)) + penalty.conjugate(-s * V)
                    + s * as_float(datafit.xp.sum(coef * V)))
    return max(loss_part, 0.0) + max(penalty_part, 0.0)


def _to_host(xp, values):
    """A small device vector as host floats, in one transfer."""
    from .._backend import to_numpy

    return to_numpy(values).tolist()


def gap_threshold(tol, primal, scale, eps):
    """Stop when ``gap <= tol * objective`` (a relative duality gap), or when
    ``gap <= min(tol, 1e-8) * F(0, b0)`` if that is larger.

    The second term matters only when ``F(0, b0)`` is much larger than the
    optimum (a near-exact fit, or uncentred targets without intercept).  A
    dual point built from the residuals converges like the square root of
    the primal accuracy, so once the objective is exact to rounding its gap
    can stall above ``tol * P``; ``1e-8 * F(0, b0)`` is then the resolution
    of the certificate (the scale scikit-learn uses for its ``tol``).
    ``100 * eps * F(0, b0)`` is the rounding level of the loss sums.
    """
    return max(tol * primal, min(tol, 1e-8) * scale, 100.0 * eps * scale)


def fista(datafit, penalty, coef0, intercept0, *, tol=1e-6, max_iter=1000,
          check_every=10, use_gap=None, restart=True, lipschitz=None, scale=None,
          step_shrink=0.95):
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
    ``scale``, ``F(0, b0)`` by default, only floors the relative gap.

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
    L = float(lipschitz) if lipschitz is not None else datafit.lipschitz()
    exact = datafit.lipschitz_is_exact and lipschitz is None

    if scale is None:
        scale = objective_scale(datafit, intercept0, coef0)
    L_floor = L * 1e-6
    adapt = not exact and step_shrink < 1.0 and datafit.curvature_varies
    grad_scale = None

    x, xb = coef0, intercept0
    Sx = datafit.state(x, xb)
    x_old, xb_old, Sx_old = x, xb, Sx
    t = 1.0
    history = []
    converged = False
    criterion = math.inf
    gap = None
    objective = math.nan
    k = 0

    if not use_gap:
        _, g0, g0b = datafit.value_and_grad(x * 0, xb, datafit.state(x * 0, xb))
        grad_scale = math.sqrt(as_float(xp.sum(g0 * g0)) + (as_float(xp.sum(g0b * g0b)) if has_b else 0.0))
        grad_scale = max(grad_scale, math.sqrt(eps))

    # With a fixed step (exact L) on a device, the momentum scalars stay on
    # the device and the restart test is applied there too: the host reads
    # nothing between two convergence checks.  NumPy keeps Python floats.
    on_device = exact and not is_numpy_namespace(xp)
    if on_device:
        t = xp.asarray(1.0, dtype=dtype, device=device(coef0))
    n_backtracks = 0
    for k in range(1, max_iter + 1):
        # Trial constant: a little below the last one when the curvature of the
        # loss varies (logistic), so the step follows the local curvature.
        L_prev = L
        L = max(L * step_shrink, L_floor) if adapt else L
        while True:
            # momentum for a varying L (Calatroni & Chambolle 2019): keeps the
            # O(1/k^2) rate; equals the usual FISTA rule when L is constant
            if on_device:
                t_next = 0.5 * (1.0 + xp.sqrt(1.0 + 4.0 * t * t))
            else:
                t_next = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * (L / L_prev) * t * t))
            beta = (t - 1.0) / t_next
            if on_device or beta > 0:
                y = x + beta * (x - x_old)
                Sy = Sx + beta * (Sx - Sx_old)
                yb = xb + beta * (xb - xb_old) if has_b else xb
            else:
                y, Sy, yb = x, Sx, xb
            fy, gy, gyb = datafit.value_and_grad(y, yb, Sy)
            x_new = penalty.prox(y - gy / L, 1.0 / L)
            xb_new = yb - gyb / L if has_b else xb
            Sx_new = datafit.state(x_new, xb_new)
            # Sufficient decrease and the restart test are reduced on the device
            # and read back together: one host sync per iteration.
            d = x_new - y
            restart_dot = xp.sum(d * (x - x_new))
            if has_b:
                restart_dot = restart_dot + xp.sum((xb_new - yb) * (xb - xb_new))
            if exact:
                restart_now = (restart_dot > 0) if on_device else as_float(restart_dot) > 0
                break
            f_new = datafit.value(x_new, xb_new, Sx_new)
            model = fy + xp.sum(gy * d) + 0.5 * L * xp.sum(d * d)
            if has_b:
                db = xb_new - yb
                model = model + xp.sum(gyb * db) + 0.5 * L * xp.sum(db * db)
            slack = 10.0 * eps * (xp.abs(fy) + xp.abs(f_new))
            excess, dot = (float(v) for v in _to_host(xp, xp.stack([f_new - model - slack,
                                                                    restart_dot])))
            restart_now = dot > 0
            if excess <= 0 or not math.isfinite(L * 2):
                break
            L *= 2.0
            n_backtracks += 1

        # adaptive restart: the momentum step y - x_new points against x_new - x
        if restart and on_device:
            t_next = xp.where(restart_now, xp.ones_like(t_next), t_next)
        elif restart and restart_now:
            t_next = 1.0

        step_x = x_new - y
        step_b = xb_new - yb if has_b else None
        x_old, xb_old, Sx_old = x, xb, Sx
        x, xb, Sx = x_new, xb_new, Sx_new
        t = t_next

        if k % check_every == 0 or k == max_iter:
            primal = as_float(datafit.value(x, xb, Sx) + penalty.value(x))
            objective = primal
            if use_gap:
                gap = duality_gap(datafit, penalty, x, xb, Sx)
                criterion = gap
                threshold = gap_threshold(tol, primal, scale, eps)
            else:
                gm = as_float(xp.sum(step_x * step_x))
                if has_b:
                    gm += as_float(xp.sum(step_b * step_b))
                criterion = L * math.sqrt(gm)
                threshold = tol * grad_scale
            history.append((k, objective, criterion))
            if use_gap and adapt and gap <= 1e-8 * abs(primal):
                # near the rounding level of f the decrease test turns noisy:
                # keep the step fixed for the last digits
                adapt = False
            if criterion <= threshold:
                converged = True
                break

    if math.isnan(objective):
        objective = as_float(datafit.value(x, xb, Sx) + penalty.value(x))
    return SolverResult(coef=x, intercept=xb, n_iter=k, converged=converged,
                        objective=objective, criterion=criterion,
                        dual_gap=gap if use_gap else None, history=history,
                        lipschitz=L, scale=scale, n_backtracks=n_backtracks,
                        criterion_name="duality gap" if use_gap else "gradient mapping")
