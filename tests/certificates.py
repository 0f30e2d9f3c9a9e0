"""Certificates computed by the tests themselves: the one place where the suite
says how far two floats, a fit and the stopping rule, or two fits may differ.

Every bound here is stated with the reason it holds; a test compares with a
helper of this module, never with a number that happened to pass.

The objective, with ``coef`` of shape ``(n_tasks, n_features)`` (row ``t`` is
``w_t``; ``vec`` stacks the rows)::

    F = sum_t weights[t] * loss_t(X_t w_t + b_t) + 1/2 vec(W)^T P vec(W) + l1 ||W||_1 (+ h(W))

``loss_t = 1/2 ||y_t - z||^2`` (squared) or ``sum_i log(1 + exp(-y_i z_i))``
(logistic, ``y`` in {-1, +1}); ``P = quadratic`` is symmetric positive
semi-definite (a graph term, a ridge ``2 ridge I``; None for 0); ``h`` any
further convex penalty (it adds no curvature and enters only through the
certified gaps).  A problem is given by keywords ``Xs, ys, loss, weights,
fit_intercept, quadratic, l1`` (one array per task in ``Xs`` and ``ys``;
``A_t = [X_t 1]`` when ``fit_intercept``, else ``X_t``, and ``theta_t = (w_t,
b_t)`` or ``w_t``), and a fit by anything with ``coef_``, ``intercept_``,
``objective_``, ``dual_gap_`` (an estimator), ``coef``, ``intercept``,
``objective``, ``dual_gap`` (a solver result), or a pair ``(coef, intercept)``.

Rounding levels (float64 unless a dtype is given):

* :func:`rounding`: an objective value computed by different code;
* :func:`sum_rounding`: a quantity computed by sums of ``n`` terms;
* :func:`svd_rounding`, :func:`spectral_rounding`: a function of a matrix
  computed through its SVD, or a symmetric eigendecomposition and what is
  built from it;
* :func:`least_eigenvalue`: a floor under the least eigenvalue of a computed
  symmetric matrix.

The stopping rule: :func:`gap_threshold` (``mtlreg.solvers.fista``'s),
:func:`assert_stopping_rule` and :func:`assert_converged`, with
:func:`objective_at_zero` for its scale ``F(0, b0)``.

Curvature: the logistic loss ``l(z) = log(1 + exp(-y z))`` has ``l''(z) =
sigma(z) sigma(-z)``, even in ``z`` and decreasing in ``|z|``, so on a segment
its curvature is at least its value at the end of larger ``|z|``
(:func:`logistic_curvature`); the squared loss has ``l'' = 1``.  Hence a floor
``H`` under the Hessian of the smooth part of ``F`` on a segment (or a ball),
per task ``c_t A_t^T diag(q) A_t`` plus ``P`` (:func:`strong_convexity`,
:func:`prediction_curvature`).

Two kinds of certificate turn that curvature into distances:

* a certified excess ``s >= F(x) - F*`` (a duality gap, plus the rounding of
  its evaluation): if ``F``'s smooth part has curvature ``H`` between ``x``
  and a minimizer ``x*`` and the rest of ``F`` is convex, ``F(x) - F* >=
  1/2 ||x - x*||_H^2``, and for two points of one objective ``F* <= F((a +
  b) / 2) <= (F(a) + F(b)) / 2 - ||a - b||_H^2 / 8`` (:func:`assert_same_solution`);
* a small subgradient, for fits that report no gap: if ``F`` is
  ``mu``-strongly convex and ``r`` is the minimal-norm subgradient at ``x``
  (``||r|| = dist(0, dF(x))``), ``F(x) - F* <= ||r||^2 / (2 mu)`` and ``||x -
  x*|| <= ||r|| / mu``; for two points on a segment where ``F`` is
  ``mu``-strongly convex, ``||x1 - x2|| <= (||r1|| + ||r2||) / mu`` (strong
  monotonicity of the subdifferential).  ``r`` is computed here in NumPy
  from the data, independently of mtlreg, with the rounding of the computed
  gradient added to ``||r||`` (:func:`squared_loss_certificate`,
  :func:`distance_between`).
"""

import dataclasses
from dataclasses import dataclass

import numpy as np

__all__ = [
    "EPS", "rounding", "sum_rounding", "svd_rounding", "spectral_rounding", "least_eigenvalue",
    "gap_threshold", "stopping_band", "assert_stopping_rule", "assert_converged",
    "objective_at_zero", "task_weights", "split_tasks", "estimator_problem",
    "logistic_curvature", "strong_convexity", "prediction_curvature", "minimizer_radius",
    "Certificate", "squared_loss_certificate", "distance_between",
    "Point", "as_point", "assert_within", "distance_bound", "weighted_distance",
    "assert_same_optimum", "assert_same_solution",
]

EPS = np.finfo(np.float64).eps


def _eps(dtype):
    return float(np.finfo(dtype).eps)


# -- rounding levels ----------------------------------------------------------------------

def rounding(*values):
    """The rounding level of a float64 objective of this size: ``4096 eps |value|``.

    Objective values are sums of at most a few thousand terms of one sign
    (losses, norms), evaluated by different code (mtlreg, NumPy, NumPy through
    CVXPY); the error of such a sum is at most ``n eps`` times its value,
    whatever the BLAS kernel or the order of the terms.
    """
    return 4096 * EPS * max(1.0, *(abs(v) for v in values))


def sum_rounding(n_terms, size, dtype=np.float64):
    """``n_terms eps size``: how far a float evaluation of a sum of ``n_terms``
    terms (or a dot product of that length) can be from the exact value, when
    the terms' magnitudes add up to at most ``size``: Higham's bound ``n u
    sum |terms|`` with ``u = eps / 2``, a factor 2 to spare.  ``n_terms`` counts
    every sum the quantity goes through, as the caller says: ``n + d`` for an
    objective of ``n`` per-sample terms each from a ``d``-term product (or the
    Gram form's pieces, of the same size), ``4 n`` for two evaluations of one
    sum whose factors are themselves exact to ``n eps``, ``16 n`` for an entry
    from an ``n``-term sum and a few further operations (a threshold, a row
    norm, a scaling).  For float32 inputs the count also covers the rounding
    of the data themselves, ``eps`` relative per term.  ``size`` may be an
    array (one bound per entry)."""
    return n_terms * _eps(dtype) * size


def svd_rounding(A):
    """Rounding level of a function of ``A`` computed through its SVD or eigh: both are
    backward stable (the exact result for ``A + E``, ``||E|| <= c max(A.shape) eps ||A||``
    with a modest ``c``), and the maps compared (soft thresholding and clipping of the
    singular values, their sums) are 1-Lipschitz in ``A``: ``16 max(A.shape) eps ||A||_F``."""
    return 16 * max(np.shape(A)) * EPS * np.linalg.norm(A)


def spectral_rounding(n, dtype=np.float64):
    """Rounding level of an ``n x n`` symmetric eigendecomposition of a matrix of norm
    at most 1 and of what is built from it (``U diag(m) U^T`` with ``0 <= m <= 1``, its
    eigenvalues, its symmetry): ``eigh``'s backward error and the products' rounding
    are ``O(n eps)``; ``64 n eps`` covers their constants."""
    return 64 * n * _eps(dtype)


def _eigen_floor(H):
    """``(floor, least, largest)`` for a symmetric ``H`` (see :func:`least_eigenvalue`)."""
    lam = np.linalg.eigvalsh(H)
    return lam[0] - min(16 * len(lam), 64) * EPS * max(lam[-1], 0.0), lam[0], lam[-1]


def least_eigenvalue(H):
    """A lower bound on the least eigenvalue of ``H`` from its computed ones.
    ``eigvalsh`` is backward stable: its eigenvalues are those of ``H + E`` with
    ``||E|| <= c k eps ||H||`` for a ``k x k`` matrix and a modest ``c``, and by Weyl
    each moves by at most ``||E||``.  The suite has used two accounts of that error
    for the small matrices here, ``16 k eps ||H||`` and ``64 eps ||H||``; the smaller
    is kept: ``lambda_min - min(16 k, 64) eps lambda_max``."""
    return _eigen_floor(H)[0]


# -- the stopping rule ----------------------------------------------------------------------

def gap_threshold(tol, objective):
    """FISTA's stopping rule (``mtlreg.solvers.fista.gap_threshold``): it stops when
    ``gap <= tol * P``, ``P`` the objective (``tol`` as the solver used it: floored at
    ``100 eps`` of the dtype)."""
    return tol * objective


def stopping_band(tol, objective, *, objective_rounding=0.0):
    """``(lower, upper)``: the thresholds mtlreg may have compared its gap with.

    ``objective`` and the solver's value of it, both sums of terms of one sign
    when ``objective`` is that value, agree to ``4096 eps`` relative
    (:func:`rounding`).  ``objective_rounding``: a further
    absolute difference, where the reported objective was re-evaluated after
    the last check (the squared loss's Gram path reports it recomputed on the
    data).  The threshold is increasing in both: evaluated at the ends."""
    upper = gap_threshold(tol, objective + objective_rounding) * (1 + 4096 * EPS)
    lower = gap_threshold(tol, objective - objective_rounding) * (1 - 4096 * EPS)
    return lower, upper


def assert_stopping_rule(converged, gap, objective, tol, *, objective_rounding=0.0):
    """``converged`` follows the stopping rule: a certified gap ``0 <= gap`` within
    the threshold when converged, above it when not (:func:`stopping_band`)."""
    lower, upper = stopping_band(tol, objective, objective_rounding=objective_rounding)
    assert gap is not None, "no certified gap"
    if converged:
        assert 0 <= gap <= upper, f"converged with gap {gap:.3g} > threshold {upper:.3g}"
    else:
        assert gap > lower, f"not converged with gap {gap:.3g} <= threshold {lower:.3g}"


def assert_converged(est, tol, *, objective_rounding=0.0):
    """``est.converged_``, with its certified gap within the stopping rule at ``tol``."""
    assert est.converged_, "not converged"
    assert_stopping_rule(True, est.dual_gap_, est.objective_, tol,
                         objective_rounding=objective_rounding)


def task_weights(ys, loss_scaling="mean"):
    """``c_t``: ``1 / n_t`` ("mean") or 1 ("sum")."""
    return [1.0 / len(y) if loss_scaling == "mean" else 1.0 for y in ys]


def split_tasks(A, index):
    """The rows of ``A`` per task, in sorted task order (``index``: each row's task)."""
    A, index = np.asarray(A), np.asarray(index)
    return [A[index == t] for t in np.unique(index)]


def objective_at_zero(ys, *, loss, weights=None, loss_scaling="mean", fit_intercept=True):
    """``F(0, b0)``: the objective at ``W = 0`` with the intercepts optimal there
    (where a cold fit starts; the scale of the stopping rule), in closed form:
    ``c_t / 2 ||y_t - mean(y_t)||^2`` (squared; ``y_t`` without intercept), ``c_t
    n_t H(p_t)`` (logistic, ``H`` the binary entropy in nats of the classes'
    frequencies, whatever the labels; a one-class task has none: ``b_t`` drives
    its loss to 0), ``c_t n_t log 2`` without intercept.  ``weights``: ``c_t``,
    by default :func:`task_weights` of ``loss_scaling``."""
    weights = task_weights(ys, loss_scaling) if weights is None else weights
    total = 0.0
    for y, c in zip(ys, weights):
        if loss == "squared":
            y = np.asarray(y, dtype=np.float64)
            r = y - y.mean() if fit_intercept else y
            total += c * 0.5 * np.sum(r**2)
        elif fit_intercept:
            q = np.unique(np.asarray(y), return_counts=True)[1] / len(y)
            total += -c * len(y) * float(np.sum(q * np.log(q)))
        else:
            total += c * len(y) * np.log(2.0)
    return total


def estimator_problem(est, X, y=None, tasks=None):
    """The problem keywords of a fitted estimator on ``(X, y, tasks)``, tasks in the
    order of ``est.tasks_`` (``tasks=None``: a shared design, task ``t`` is column
    ``t`` of ``y``); logistic labels as +-1 (``classes_[1]`` is +1).  The data fit
    only: a penalty (and a ridge) adds to it, so its curvature is a floor."""
    from sklearn.base import is_classifier

    Xs, ys = [], []
    for t, label in enumerate(np.asarray(est.tasks_).tolist()):
        rows = slice(None) if tasks is None else np.asarray(tasks) == label
        Xs.append(np.asarray(X[rows], dtype=np.float64))
        if y is not None:
            yt = np.asarray(y)[:, t] if tasks is None else np.asarray(y)[rows]
            ys.append(np.where(yt == est.classes_[1], 1.0, -1.0) if is_classifier(est) else yt)
    return dict(Xs=Xs, ys=ys if y is not None else None,
                loss="logistic" if is_classifier(est) else "squared",
                weights=task_weights(Xs, est.loss_scaling), fit_intercept=est.fit_intercept)


# -- curvature ------------------------------------------------------------------------------

def logistic_curvature(*z):
    """``l''`` of the logistic loss at the largest ``|z|`` among the arguments
    (elementwise): ``sigma(m) sigma(-m) = e^-m / (1 + e^-m)^2`` with ``m = max |z|``.
    ``l''`` is even and decreasing in ``|z|``, and ``|z|`` on a segment is largest at
    an end (it is convex): a lower bound of ``l''`` on the segment between the
    arguments (or on anything where ``|z|`` is at most ``m``)."""
    m = np.abs(np.asarray(z[0], dtype=np.float64))
    for other in z[1:]:
        m = np.maximum(m, np.abs(np.asarray(other, dtype=np.float64)))
    e = np.exp(-m)
    return e / (1.0 + e) ** 2


def _design(X, fit_intercept):
    X = np.asarray(X, dtype=np.float64)
    return np.c_[X, np.ones(len(X))] if fit_intercept else X


def _theta(coef, intercept, t, fit_intercept):
    return np.r_[coef[t], intercept[t]] if fit_intercept else np.asarray(coef[t])


def _is_diagonal(P):
    return P is None or np.count_nonzero(P - np.diag(np.diag(P))) == 0


def _hessian_floor(Xs, hs, *, fit_intercept, quadratic):
    """``(floor, least, largest)`` eigenvalues of ``sum_t A_t^T diag(h_t) A_t`` (block
    diagonal over tasks) plus ``quadratic``: per block when ``quadratic`` is diagonal
    (or None), else of the whole matrix."""
    d = np.shape(Xs[0])[1]
    k = d + 1 if fit_intercept else d
    blocks = []
    for t, (X, h) in enumerate(zip(Xs, hs)):
        A = _design(X, fit_intercept)
        blocks.append((A.T * np.asarray(h, dtype=np.float64)) @ A)
    if _is_diagonal(quadratic):
        extra = np.zeros(len(Xs) * d) if quadratic is None else np.diag(quadratic)
        out = []
        for t, H in enumerate(blocks):
            H[np.arange(d), np.arange(d)] += extra[t * d:(t + 1) * d]
            out.append(_eigen_floor(H))
        return min(o[0] for o in out), min(o[1] for o in out), max(o[2] for o in out)
    H = np.zeros((k * len(Xs), k * len(Xs)))
    for t, block in enumerate(blocks):
        H[t * k:(t + 1) * k, t * k:(t + 1) * k] = block
    w_index = np.concatenate([np.arange(t * k, t * k + d) for t in range(len(Xs))])
    H[np.ix_(w_index, w_index)] += quadratic
    return _eigen_floor(H)


def _loss_floor(loss, Xs, points, fit_intercept, radius=0.0):
    """Per task: ``q_i``, a floor under ``l''`` at sample ``i`` on the hull of
    ``points`` and the ball of ``radius`` around it (``|z_i|`` grows by at most
    ``||a_i|| radius`` there)."""
    qs = []
    for t, X in enumerate(Xs):
        A = _design(X, fit_intercept)
        if loss == "squared":
            qs.append(np.ones(len(A)))
            continue
        m = np.max([np.abs(A @ _theta(c, b, t, fit_intercept)) for c, b in points], axis=0)
        qs.append(logistic_curvature(m + radius * np.linalg.norm(A, axis=1)))
    return qs


def strong_convexity(Xs, points, *, loss, weights, quadratic=None, fit_intercept=True,
                     radius=0.0, ys=None, l1=0.0):
    """``mu``: a lower bound on the strong convexity of ``F``'s smooth part on the
    convex hull of ``points`` (pairs ``(coef, intercept)``) and, with ``radius``,
    on the ball of that radius around it: the least eigenvalue
    (:func:`least_eigenvalue`) of ``c_t A_t^T diag(q) A_t`` (``q``: the loss's
    curvature, :func:`logistic_curvature` at the largest ``|z_i|`` there) plus
    ``P``.  The other terms are convex and add nothing (``ys`` and ``l1`` are not
    needed).  ``mu <= 0``: not strongly convex as far as this floor can tell."""
    points = [(np.atleast_2d(c), b) for c, b in points]
    qs = _loss_floor(loss, Xs, points, fit_intercept, radius)
    return _hessian_floor(Xs, [c * q for c, q in zip(weights, qs)], fit_intercept=fit_intercept,
                          quadratic=quadratic)[0]


def prediction_curvature(loss, weights, predictions, excesses):
    """``kappa_i``: a lower bound on ``c_i l''`` on the segments from each point's
    linear predictor ``z_i`` (one array per point in ``predictions``) to the
    optimum's ``z*_i``; ``weights``: ``c_i``, per sample or broadcast.

    With ``f(z) = sum_i c_i l(y_i, z_i)`` and any convex penalty, optimality of
    ``z*`` gives ``F - F* >= f(z) - f(z*) - <grad f(z*), z - z*>`` (the
    penalty's own Bregman term is >= 0 at the optimum's subgradient, and the
    free intercepts' gradient is 0), a sum of per-sample Bregman terms ``c_i
    D_i >= 0``, so ``F - F* >= 1/2 sum_i kappa_i (z_i - z*_i)^2``.  Squared
    loss: ``kappa = c``.  Logistic loss: ``l''`` is smallest at the largest
    ``|z|``, so ``z*`` is located first from each point with a certified
    excess ``s`` (``excesses``; None: not used to locate): each sample's
    Bregman term is at most ``s / c_i`` and grows with ``|z*_i - z_i|``, at
    least like ``delta^2 / 2 l''(|z_i| + delta)``, so ``|z*_i - z_i| < delta_i``
    for any ``delta_i`` at which that exceeds ``s / c_i`` (the smallest on a
    fine grid); the tightest location of the points is kept.  A sample that no
    point locates (the loss is flat there), or of weight 0, gets ``kappa_i = 0``.
    """
    z = [np.abs(np.asarray(zp, dtype=np.float64)) for zp in predictions]
    weight = np.broadcast_to(np.asarray(weights, dtype=np.float64), z[0].shape)
    if loss == "squared":
        return np.array(weight)
    grid = np.geomspace(1e-12, 50.0, 400)[:, None]
    located = np.full(z[0].shape, np.inf)
    for zp, s in zip(z, excesses):
        if s is None:
            continue
        budget = s / np.where(weight > 0, weight, 1.0)
        inside = 0.5 * grid**2 * logistic_curvature(zp + grid) > budget
        found = np.any(inside, axis=0)
        delta = grid[np.argmax(inside, axis=0), 0]
        located = np.where(found, np.minimum(located, zp + delta), located)
    top = np.max(z, axis=0)
    kappa = weight * logistic_curvature(np.maximum(top, np.where(np.isfinite(located),
                                                                  located, 0.0)))
    return np.where(np.isfinite(located) & (weight > 0), kappa, 0.0)


def minimizer_radius(point, excess, *, Xs, loss, weights, quadratic=None, fit_intercept=True,
                     ys=None, l1=0.0):
    """``r`` with ``||point - x*|| < r`` (Euclidean over coefficients and intercepts) for
    every minimizer ``x*``, given ``F(point) - F* <= excess`` (``point``: ``(coef,
    intercept)``; the problem's ``ys`` and ``l1`` are not needed).

    ``mu(r)``: :func:`strong_convexity` on the ball of radius ``r`` around ``point``.
    If ``||point - x*|| >= r``, ``F`` along the segment toward ``x*`` is
    non-increasing and ``mu(r)``-strongly convex on its first ``r``, so ``F(point) -
    F* >= mu(r) r^2 / 2``: any ``r`` with ``mu(r) r^2 > 2 excess`` is a radius.
    """
    kw = dict(loss=loss, weights=weights, quadratic=quadratic, fit_intercept=fit_intercept)

    def mu(r):
        return strong_convexity(Xs, [(np.atleast_2d(point[0]), point[1])], radius=r, **kw)

    assert mu(0.0) > 0, "not strongly convex at the point: no radius"
    r = np.sqrt(2.0 * excess / mu(0.0))
    for _ in range(200):
        r *= 1.25
        if mu(r) * r * r > 2.0 * excess:
            return r
    raise AssertionError("no radius found")


# -- certificates from subgradients, for fits that report no gap --------------------------

@dataclass(frozen=True)
class Certificate:
    subgradient_norm: float  #: ||r||, the minimal-norm subgradient of F at the point
    mu: float                #: the strong convexity modulus of F
    suboptimality: float     #: ||r||^2 / (2 mu) >= F(x) - F*
    distance: float          #: ||r|| / mu >= ||x - x*|| (coefficients and intercepts)


def _gradient_rounding(A, magnitude):
    """Bound on the float64 rounding error of ``A^T v`` where ``|v| <= magnitude`` is
    itself computed with a product of length ``k``: :func:`sum_rounding` with ``2 (n +
    k)`` terms (twice, for the two nested products), per entry."""
    n, k = A.shape
    return float(np.linalg.norm(sum_rounding(2 * (n + k), np.abs(A).T @ magnitude)))


def _residual(Xs, ys, coef, intercept, *, loss, weights, quadratic, l1, fit_intercept):
    """``||r||`` (plus the rounding of its computation) at one point."""
    T, d = coef.shape
    k = d + 1 if fit_intercept else d
    grad = np.zeros(k * T)
    error = 0.0
    for t, (X, y) in enumerate(zip(Xs, ys)):
        A = _design(X, fit_intercept)
        theta = _theta(coef, intercept, t, fit_intercept)
        z = A @ theta
        if loss == "squared":
            grad[t * k:(t + 1) * k] = -weights[t] * A.T @ (y - z)
            magnitude = weights[t] * (np.abs(y) + np.abs(A) @ np.abs(theta))
        else:
            grad[t * k:(t + 1) * k] = -weights[t] * A.T @ (y / (1.0 + np.exp(y * z)))
            magnitude = weights[t] * np.ones(len(y))  # |sigma| <= 1
        error += _gradient_rounding(A, magnitude) ** 2
    w_index = np.concatenate([np.arange(t * k, t * k + d) for t in range(T)])
    if quadratic is not None:
        grad[w_index] += quadratic @ coef.reshape(-1)
    if l1 > 0:  # the minimal-norm element of g + l1 * d|w|
        w, g = coef.reshape(-1), grad[w_index]
        grad[w_index] = np.where(w != 0, g + l1 * np.sign(w),
                                 np.sign(g) * np.maximum(np.abs(g) - l1, 0.0))
    return float(np.sqrt(grad @ grad)) + float(np.sqrt(error))


def _certified_mu(Xs, points, *, loss, weights, quadratic, fit_intercept):
    """:func:`strong_convexity` on the segment between ``points``; raises unless the
    least eigenvalue is well above its rounding error (``1e-8`` of the largest), so
    that ``F`` is strongly convex surely and the bounds hold."""
    qs = _loss_floor(loss, Xs, points, fit_intercept)
    floor, least, largest = _hessian_floor(Xs, [c * q for c, q in zip(weights, qs)],
                                           fit_intercept=fit_intercept, quadratic=quadratic)
    if not least > 1e-8 * abs(largest):
        raise ValueError(f"the objective is not strongly convex here (mu = {least:.3g})")
    return floor


def squared_loss_certificate(Xs, ys, coef, intercept, *, weights, quadratic=None, l1=0.0,
                             fit_intercept=True):
    """:class:`Certificate` of ``(coef, intercept)`` for the squared loss (see the module).
    Raises if ``F`` is not strongly convex (the bounds would not hold)."""
    coef = np.atleast_2d(coef)
    kw = dict(loss="squared", weights=weights, quadratic=quadratic, fit_intercept=fit_intercept)
    r = _residual(Xs, ys, coef, intercept, l1=l1, **kw)
    mu = _certified_mu(Xs, [(coef, intercept)], **kw)
    return Certificate(subgradient_norm=r, mu=mu, suboptimality=r * r / (2 * mu),
                       distance=r / mu)


def distance_between(Xs, ys, first, second, *, loss, weights, quadratic=None, l1=0.0,
                     fit_intercept=True):
    """A bound on ``||(coef1, b1) - (coef2, b2)||`` for two points ``(coef, intercept)``:
    ``(||r1|| + ||r2||) / mu`` with ``mu`` the curvature on the segment between them."""
    first = (np.atleast_2d(first[0]), first[1])
    second = (np.atleast_2d(second[0]), second[1])
    kw = dict(loss=loss, weights=weights, quadratic=quadratic, fit_intercept=fit_intercept)
    r = sum(_residual(Xs, ys, c, b, l1=l1, **kw) for c, b in (first, second))
    return r / _certified_mu(Xs, [first, second], **kw)


# -- two fits of one problem --------------------------------------------------------------

@dataclass(frozen=True)
class Point:
    """A fit as the certificates see it, in float64."""

    coef: np.ndarray             #: (n_tasks, n_features)
    intercept: object = None     #: (n_tasks,), or None (no intercept variable)
    objective: object = None     #: its reported objective value, or None
    gap: object = None           #: its certified excess ``F - F*`` (duality gap), or None


def _float(a):
    return None if a is None else np.asarray(a, dtype=np.float64)


def as_point(fit, **replace):
    """A :class:`Point` from an estimator, a solver result, a ``(coef, intercept)`` pair
    or a :class:`Point`; ``replace``: fields to override (``gap=...``)."""
    if isinstance(fit, Point):
        point = dataclasses.replace(fit, coef=np.atleast_2d(_float(fit.coef)),
                                    intercept=_float(fit.intercept))
    elif isinstance(fit, tuple):
        point = Point(np.atleast_2d(_float(fit[0])), _float(fit[1]))
    elif hasattr(fit, "coef_"):
        point = Point(np.atleast_2d(_float(fit.coef_)), _float(fit.intercept_),
                      getattr(fit, "objective_", None), getattr(fit, "dual_gap_", None))
    else:
        point = Point(np.atleast_2d(_float(fit.coef)), _float(fit.intercept),
                      getattr(fit, "objective", None), getattr(fit, "dual_gap", None))
    return dataclasses.replace(point, **replace) if replace else point


def assert_within(value, bound, what):
    """``value <= bound``, saying what and by how much when not."""
    assert value <= bound, f"{what}: {value:.3g} > its bound {bound:.3g}"


def distance_bound(*excesses):
    """``sum sqrt(2 s)``: each point with ``F - F* <= s`` is within ``sqrt(2 s)`` of the
    optimum in the curvature metric (:func:`prediction_curvature`); two points within
    the sum of each other."""
    return float(sum(np.sqrt(2.0 * s) for s in excesses))


def weighted_distance(kappa, z, z_ref):
    """``(sum_i kappa_i (z_i - z_ref_i)^2)^1/2``."""
    return float(np.sqrt(np.sum(kappa * (np.asarray(z) - np.asarray(z_ref)) ** 2)))


def assert_same_optimum(objective, gap, other_objective, other_gap, slack=None):
    """Two fits of one problem with optimum ``p*``: each objective lies in ``[p* - r,
    p* + gap + r]`` (its certificate; ``r`` the rounding of its evaluation), so each
    exceeds the other by at most its own gap.  ``slack``: the rounding of both
    evaluations and both gaps; by default :func:`rounding` at the objectives'
    level (both non-negative, within the gaps of each other)."""
    assert gap is not None and other_gap is not None, "no certified gap"
    assert gap >= 0 and other_gap >= 0
    if slack is None:
        slack = rounding(min(objective, other_objective))
    assert objective - other_objective <= gap + slack, (
        f"objective {objective!r} exceeds the other's {other_objective!r} by "
        f"{objective - other_objective:.3g}, more than its certified gap {gap:.3g} + {slack:.3g}")
    assert other_objective - objective <= other_gap + slack, (
        f"the other's objective {other_objective!r} exceeds {objective!r} by "
        f"{other_objective - objective:.3g}, more than its certified gap {other_gap:.3g} "
        f"+ {slack:.3g}")


def _default_excess(point):
    assert point.gap is not None and point.objective is not None, "no certified excess"
    return point.gap + rounding(point.objective)


def assert_same_solution(first, second, Xs, ys=None, *, loss, weights, fit_intercept=True,
                         quadratic=None, l1=0.0, excess=None, slack=None, coefficients=None,
                         point_rounding=0.0):
    """Two fits of one problem are the same solution, as far as their certificates say;
    returns the bound on ``||(coef, intercept) - (coef', intercept')||`` (Euclidean), or
    None where the coefficients are not determined.

    With certified excesses ``s >= F - F*`` (``excess``, a pair, None entries
    for the default: the fit's gap plus :func:`rounding` of its objective):

    * objectives: each within its own gap above the other
      (:func:`assert_same_optimum`, with ``slack``), when both report one;
    * predictions, in the curvature metric ``||d||_H^2 = sum_t sum_i h_i (a_i .
      d_t)^2 + d_W^T P d_W`` for the difference ``d`` of the points:
      ``<= 4 (s + s')`` with ``h = c_t l''`` floored on the segment between them
      (the midpoint bound of the module), and ``||d||_H <= sqrt(2 s) + sqrt(2
      s')`` with ``h = kappa`` (:func:`prediction_curvature`: both points
      within ``sqrt(2 s)`` of one minimizer);
    * coefficients and intercepts (``coefficients``: True, to require it; None,
      where ``H`` is positive definite): ``||d|| <= ||d||_H / sqrt(mu)``, ``mu``
      the floor of :func:`least_eigenvalue`, the smaller of the two bounds.

    ``point_rounding``: how far each given point may be (Euclidean) from the point
    its certificate is about (e.g. an intercept recomputed in float32); it widens
    the distances by itself, and the metric's by ``sqrt(lambda_max(H))`` times it.

    Fits without a certified gap (``excess`` None, and neither reports one: two
    fits of one problem by one model have it or not alike): the subgradient
    certificates instead (:func:`distance_between`; for the squared loss the
    objectives by :func:`squared_loss_certificate`'s suboptimality).
    """
    a, b = as_point(first), as_point(second)
    if excess is None and (a.gap is None or b.gap is None):
        assert a.gap is None and b.gap is None, "one fit has a certified gap, the other not"
        return _assert_same_uncertified(a, b, Xs, ys, loss=loss, weights=weights,
                                        fit_intercept=fit_intercept, quadratic=quadratic,
                                        l1=l1, slack=slack, point_rounding=point_rounding)
    s_a, s_b = (_default_excess(p) if s is None else float(s)
                for p, s in zip((a, b), excess or (None, None)))
    if all(p.objective is not None and p.gap is not None for p in (a, b)):
        assert_same_optimum(a.objective, a.gap, b.objective, b.gap, slack)

    z_a, z_b, dz = [], [], []
    for t, X in enumerate(Xs):
        A = _design(X, fit_intercept)
        theta_a = _theta(a.coef, a.intercept, t, fit_intercept)
        theta_b = _theta(b.coef, b.intercept, t, fit_intercept)
        z_a.append(A @ theta_a)
        z_b.append(A @ theta_b)
        dz.append(A @ (theta_a - theta_b))
    d_w = (a.coef - b.coef).reshape(-1)
    quad = 0.0 if quadratic is None else float(d_w @ quadratic @ d_w)
    h_seg = [c * (np.ones(len(z)) if loss == "squared" else logistic_curvature(z, zb))
             for c, z, zb in zip(weights, z_a, z_b)]
    h_rad = [prediction_curvature(loss, c, [z, zb], (s_a, s_b))
             for c, z, zb in zip(weights, z_a, z_b)]
    bounds = []
    for name, hs, bound, euclidean in (
            ("midpoint", h_seg, 2.0 * np.sqrt(s_a + s_b),
             lambda mu: 2.0 * np.sqrt((s_a + s_b) / mu)),
            ("radii", h_rad, distance_bound(s_a, s_b),
             lambda mu: distance_bound(s_a, s_b) / np.sqrt(mu))):
        value = np.sqrt(sum(float(np.sum(h * d**2)) for h, d in zip(hs, dz)) + quad)
        allowance = 0.0
        if coefficients is not False or point_rounding:
            floor, _, largest = _hessian_floor(Xs, hs, fit_intercept=fit_intercept,
                                               quadratic=quadratic)
            allowance = np.sqrt(max(largest, 0.0)) * point_rounding
            if floor > 0:
                bounds.append(euclidean(floor))
        assert_within(value, bound + allowance, f"||a - b||_H ({name}, the curvature metric)")

    if coefficients is None:
        coefficients = bool(bounds)
    if not coefficients:
        return None
    assert bounds, "not strongly convex here: the coefficients are not determined"
    bound = min(bounds)
    assert_within(_euclidean(a, b), bound + point_rounding, "||a - b|| (coefficients, intercepts)")
    return bound


def _euclidean(a, b):
    total = np.sum((a.coef - b.coef) ** 2)
    if a.intercept is not None and b.intercept is not None:
        total += np.sum((a.intercept - b.intercept) ** 2)
    return float(np.sqrt(total))


def _assert_same_uncertified(a, b, Xs, ys, *, loss, weights, fit_intercept, quadratic, l1,
                             slack, point_rounding):
    kw = dict(weights=weights, quadratic=quadratic, l1=l1, fit_intercept=fit_intercept)
    if loss == "squared" and a.objective is not None and b.objective is not None:
        s_a, s_b = (squared_loss_certificate(Xs, ys, p.coef, p.intercept, **kw).suboptimality
                    for p in (a, b))
        assert_same_optimum(a.objective, s_a, b.objective, s_b, slack)
    delta = distance_between(Xs, ys, (a.coef, a.intercept), (b.coef, b.intercept), loss=loss,
                             **kw)
    assert_within(_euclidean(a, b), delta + point_rounding, "||a - b|| (subgradient certificates)")
    return delta
