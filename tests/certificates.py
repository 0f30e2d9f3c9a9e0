"""Certificates computed by the tests themselves, for fits that report none.

Strong convexity turns a small subgradient into a bound, whatever solver
produced the point.  If ``F`` is ``mu``-strongly convex, then for any point
``x`` with minimal-norm subgradient ``r`` (``||r|| = dist(0, dF(x))``)::

    F(x) - F* <= ||r||^2 / (2 mu)          ||x - x*|| <= ||r|| / mu

and for two points ``x1``, ``x2`` on a segment where ``F`` is ``mu``-strongly
convex, ``||x1 - x2|| <= (||r1|| + ||r2||) / mu`` (strong monotonicity of the
subdifferential).  For the squared loss the smooth part is a quadratic with
a constant Hessian.  For the logistic loss the curvature varies; on the
segment between two known points it is bounded below (:func:`_curvature`).
Every piece is computed here in NumPy from the data, independently of
mtlreg, with the rounding of the computed gradient added to ``||r||``.

The objective, with ``coef`` of shape ``(n_tasks, n_features)`` (row ``t`` is
``w_t``; ``vec`` stacks the rows)::

    F = sum_t weights[t] * loss_t(X_t w_t + b_t) + 1/2 vec(W)^T P vec(W) + l1 ||W||_1

``loss_t = 1/2 ||y_t - z||^2`` (squared) or ``sum_i log(1 + exp(-y_i z_i))``
(logistic, ``y`` in {-1, +1}); ``P = quadratic`` is symmetric positive
semi-definite (a graph term, a ridge; None for 0).
"""

from dataclasses import dataclass

import numpy as np

__all__ = ["Certificate", "squared_loss_certificate", "distance_between"]

_EPS = np.finfo(np.float64).eps


@dataclass(frozen=True)
class Certificate:
    subgradient_norm: float  #: ||r||, the minimal-norm subgradient of F at the point
    mu: float                #: the strong convexity modulus of F
    suboptimality: float     #: ||r||^2 / (2 mu) >= F(x) - F*
    distance: float          #: ||r|| / mu >= ||x - x*|| (coefficients and intercepts)


def _design(X, fit_intercept):
    return np.c_[X, np.ones(len(X))] if fit_intercept else X


def _theta(coef, intercept, t, fit_intercept):
    return np.r_[coef[t], intercept[t]] if fit_intercept else np.asarray(coef[t])


def _rounding(A, magnitude):
    """Bound on the float64 rounding error of ``A^T v`` where ``|v| <= magnitude`` is
    itself computed with a product of length ``k``: ``2 (n + k) eps |A|^T magnitude``
    (the dot-product bound ``gamma_n``, twice for the two nested products)."""
    n, k = A.shape
    return float(np.linalg.norm(2 * (n + k) * _EPS * (np.abs(A).T @ magnitude)))


def _strong_convexity(H):
    eig = np.linalg.eigvalsh(H)
    # well above the eigenvalues' rounding error (eps * ||H||), so that mu > 0 surely
    if not eig[0] > 1e-8 * np.abs(eig).max():
        raise ValueError(f"the objective is not strongly convex here (mu = {eig[0]:.3g})")
    return float(eig[0])


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
        error += _rounding(A, magnitude) ** 2
    w_index = np.concatenate([np.arange(t * k, t * k + d) for t in range(T)])
    if quadratic is not None:
        grad[w_index] += quadratic @ coef.reshape(-1)
    if l1 > 0:  # the minimal-norm element of g + l1 * d|w|
        w, g = coef.reshape(-1), grad[w_index]
        grad[w_index] = np.where(w != 0, g + l1 * np.sign(w),
                                 np.sign(g) * np.maximum(np.abs(g) - l1, 0.0))
    return float(np.sqrt(grad @ grad)) + float(np.sqrt(error))


def _curvature(Xs, points, *, loss, weights, quadratic, fit_intercept):
    """``mu``: a lower bound on F's curvature on the segment between ``points``.

    Logistic: on the segment ``|a_i.theta| <= m_i``, the largest value at an end
    (a convex function), and ``sigma'`` decreases in ``|z|``, so the Hessian is at
    least ``sum_i sigma'(m_i) a_i a_i^T``.
    """
    T, d = points[0][0].shape
    k = d + 1 if fit_intercept else d
    H = np.zeros((k * T, k * T))
    for t, X in enumerate(Xs):
        A = _design(X, fit_intercept)
        if loss == "squared":
            curvature = np.ones(len(A))
        else:
            m = np.max([np.abs(A @ _theta(c, b, t, fit_intercept)) for c, b in points], axis=0)
            curvature = 1.0 / (2.0 + np.exp(m) + np.exp(-m))  # sigma'(m)
        H[t * k:(t + 1) * k, t * k:(t + 1) * k] = weights[t] * (A.T * curvature) @ A
    if quadratic is not None:
        w_index = np.concatenate([np.arange(t * k, t * k + d) for t in range(T)])
        H[np.ix_(w_index, w_index)] += quadratic
    return _strong_convexity(H)


def squared_loss_certificate(Xs, ys, coef, intercept, *, weights, quadratic=None, l1=0.0,
                             fit_intercept=True):
    """:class:`Certificate` of ``(coef, intercept)`` for the squared loss (see the module).
    Raises if ``F`` is not strongly convex (the bounds would not hold)."""
    coef = np.atleast_2d(coef)
    kw = dict(loss="squared", weights=weights, quadratic=quadratic, fit_intercept=fit_intercept)
    r = _residual(Xs, ys, coef, intercept, l1=l1, **kw)
    mu = _curvature(Xs, [(coef, intercept)], **kw)
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
    return r / _curvature(Xs, [first, second], **kw)
