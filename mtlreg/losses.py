"""Losses and the smooth part of the multi-task objective.

The objective convention (DESIGN.md section 2) is

    F(W, b) = sum_t c_t sum_{i in task t} loss(y_ti, x_ti . w_t + b_t)

with ``c_t = 1 / n_t`` (``loss_scaling="mean"``) or ``1`` (``"sum"``).

Two pieces live here:

* :class:`SquaredLoss` and :class:`LogisticLoss` know one sample's loss, its
  derivative, its Fenchel conjugate, and how to make a dual point feasible
  for the unpenalized intercepts.
* :class:`DataFit` (any loss, works on the data) and :class:`GramDataFit`
  (squared loss on per-task Gram matrices) are the smooth part the solver
  sees: a cached linear state (the linear predictor ``Z`` or ``G_t w_t``),
  ``value``, fused ``value_and_grad`` from one pass over the data, a
  Lipschitz constant of the gradient, and the dual point used to certify a
  duality gap.
"""

import functools
import math
from abc import ABC, abstractmethod

import numpy as np

from ._backend import as_float
from ._capabilities import DeclaresCapabilities

__all__ = ["SquaredLoss", "LogisticLoss", "BaseDataFit", "DataFit", "GramDataFit",
           "SmoothlyPenalizedDataFit", "make_datafit"]


class SquaredLoss:
    """``loss(y, z) = (y - z)^2 / 2``; conjugate ``loss*(u) = u^2 / 2 + u y``."""

    name = "squared"
    curvature = 1.0
    curvature_varies = False

    def value_and_derivative(self, xp, Y, Z, weight):
        R = Z - Y
        return 0.5 * xp.sum(weight * R * R), weight * R

    def value(self, xp, Y, Z, weight):
        R = Z - Y
        return 0.5 * xp.sum(weight * R * R)

    def dual_point(self, data, Z, intercept_free):
        """``theta = grad F(Z)`` and ``s -> F(Z) + F*(s theta) - s <Z, theta>``.

        The intercept is eliminated by centring, so the centred residuals
        already sum to zero in every task.  The Fenchel-Young term is
        ``sum c (1 - s)^2 (z - y)^2 / 2 = (1 - s)^2 F(Z)``: no cancellation.
        """
        F = as_float(self.value(data.xp, data.Y, Z, data.weight))
        return data.weight * (Z - data.Y), (lambda s: (1.0 - s) ** 2 * F)


class LogisticLoss:
    """``loss(y, z) = log(1 + exp(-y z))`` with labels ``y`` in {-1, +1}.

    Conjugate: for ``u = -y v`` with ``v`` in [0, 1],
    ``loss*(u) = v log v + (1 - v) log(1 - v)`` (``+inf`` elsewhere).
    """

    name = "logistic"
    curvature = 0.25
    curvature_varies = True

    def value_and_derivative(self, xp, Y, Z, weight):
        M = -Y * Z
        value = xp.sum(weight * _log1pexp(xp, M))
        return value, -weight * Y * _sigmoid(xp, M)

    def value(self, xp, Y, Z, weight):
        M = -Y * Z
        return xp.sum(weight * _log1pexp(xp, M))

    def _dual_v(self, data, Z, intercept_free):
        """``v`` of the dual point ``theta = -c y v``; feasible for the intercepts."""
        xp, Y, weight = data.xp, data.Y, data.weight
        V = _sigmoid(xp, -Y * Z)
        if intercept_free:
            # sum_i theta_ti = 0 in each task: shrink the v of the class with
            # the larger weighted sum (keeps 0 <= v <= 1).
            pos = xp.astype(Y > 0, Z.dtype) * weight
            neg = xp.astype(Y < 0, Z.dtype) * weight
            a = data.sample_sum(pos * V)
            b = data.sample_sum(neg * V)
            tiny = xp.finfo(Z.dtype).smallest_normal
            scale_pos = xp.where(a > b, b / xp.maximum(a, tiny), xp.ones_like(a))
            scale_neg = xp.where(b > a, a / xp.maximum(b, tiny), xp.ones_like(b))
            V = V * xp.where(Y > 0, data.expand(scale_pos)[:, None],
                             data.expand(scale_neg)[:, None])
        return V

    def dual_point(self, data, Z, intercept_free):
        """Feasible ``theta = -c y v`` and its Fenchel-Young term.

        ``s -> sum_i c [log(1 + exp(-y z)) + H(s v) + y z s v]`` with
        ``H(u) = u log u + (1 - u) log(1 - u)``: a sum of non-negative terms,
        so the gap has no cancellation between two large numbers.
        """
        xp, Y, weight = data.xp, data.Y, data.weight
        V = self._dual_v(data, Z, intercept_free)
        loss = _log1pexp(xp, -Y * Z)
        YZ = Y * Z

        def fenchel_young(s):
            sv = s * V
            terms = loss + _xlogx(xp, sv) + _xlogx(xp, 1 - sv) + YZ * sv
            return as_float(xp.sum(weight * terms))

        return -weight * Y * V, fenchel_young


def _log1pexp(xp, M):
    """``log(1 + exp(M))`` without overflow.  In NumPy 2.4, 8.4 ns against
    18.6 ns per element for ``logaddexp(0, M)`` (2M elements, one run), equal
    to it within 1e-15."""
    return xp.maximum(M, xp.zeros_like(M)) + xp.log1p(xp.exp(-xp.abs(M)))


def _sigmoid(xp, M):
    # exp of a non-positive number only: no overflow
    E = xp.exp(-xp.abs(M))
    return xp.where(M >= 0, 1.0 / (1.0 + E), E / (1.0 + E))


def _xlogx(xp, A):
    safe = xp.where(A > 0, A, xp.ones_like(A))
    return xp.where(A > 0, A * xp.log(safe), xp.zeros_like(A))


def _computed_once(method):
    """Cache a data fit's constant (its data do not change once built): a
    regularization path solves the same data fit at every ``alpha``."""

    @functools.wraps(method)
    def cached(self, *args, **kwargs):
        cache = self.__dict__.setdefault("_cache_" + method.__name__, {})
        key = (args, tuple(sorted(kwargs.items())))
        if key not in cache:
            cache[key] = method(self, *args, **kwargs)
        return cache[key]

    return cached


class BaseDataFit(DeclaresCapabilities, ABC):
    """What a solver sees of the smooth part ``F(W, b)``.

    A cached *state* (linear in ``(W, b)``, so the solver may extrapolate it),
    ``value`` and a fused ``value_and_grad`` at a point and its state, and a
    Lipschitz constant of the gradient.  Capabilities are declared, never
    probed: ``has_dual`` (``dual``: a dual point for a certified gap),
    ``has_quadratic_dual`` (the squared loss without intercept variables: its
    dual point ``theta = c (Z - y)`` moved by ``c_t X_t u_t`` costs exactly
    ``sum_t c_t u_t^T X_t^T X_t u_t / 2`` in the gap, computable from the
    per-task Gram matrices), ``lipschitz_is_exact`` (a fixed step needs no line search),
    ``curvature_varies`` (the step may follow the local curvature),
    ``can_restrict_features`` (``restrict_features``: working sets).
    ``smooth`` is the smooth structural term folded in, if any.
    """

    has_dual = False
    has_quadratic_dual = False
    lipschitz_is_exact = False
    curvature_varies = False
    can_restrict_features = False
    smooth = None
    CAPABILITIES = ("has_dual", "has_quadratic_dual", "lipschitz_is_exact",
                    "curvature_varies", "can_restrict_features")

    @abstractmethod
    def state(self, coef, intercept):
        """The cached linear state at ``(coef, intercept)``."""

    @abstractmethod
    def value(self, coef, intercept, state):
        """``F(W, b)``."""

    @abstractmethod
    def value_and_grad(self, coef, intercept, state):
        """``(F, grad_W F, grad_b F or None)`` from one pass."""

    @abstractmethod
    def lipschitz(self):
        """A Lipschitz constant of the gradient (an estimate when not exact)."""

    def dual(self, coef, intercept, state):
        """``(X^T theta, s -> Fenchel-Young term)`` (when ``has_dual``)."""
        raise NotImplementedError(f"{type(self).__name__} gives no dual point")

    def restrict_features(self, index):
        """The same data fit on a subset of the features (``can_restrict_features``)."""
        raise NotImplementedError(f"{type(self).__name__} cannot restrict its features")


class DataFit(BaseDataFit):
    """Smooth part ``F(W, b)`` evaluated on the data (any loss).

    The cached state is the linear predictor ``Z = X W + b``: it is linear in
    ``(W, b)``, so the solver extrapolates it instead of recomputing it, and one
    FISTA iteration costs one pass over ``X`` for ``Z`` of the new point and one
    for the gradient ``X^T dloss(Z)``.
    """

    has_dual = True
    can_restrict_features = True

    def __init__(self, loss, data, fit_intercept):
        self.loss = loss
        self.data = data
        self.xp = data.xp
        self.fit_intercept = fit_intercept
        self.curvature_varies = loss.curvature_varies
        self.has_quadratic_dual = loss.name == "squared" and not fit_intercept
        self.lipschitz_is_exact = self._exact_bound_affordable()

    def _exact_bound_affordable(self):
        """On a device, the squared loss' exact constant (per-task Gram
        eigenvalues, computed once) buys a fixed step: no line search, so
        FISTA reads nothing back between convergence checks.  Used when the
        Gram matrices are no larger than the data; NumPy keeps the power
        iteration and the line search (a host read costs nothing there)."""
        from ._backend import is_numpy_namespace

        data = self.data
        if is_numpy_namespace(self.xp) or self.loss.name != "squared" or self.fit_intercept:
            return False
        return data.n_tasks * data.n_features <= data.Y.shape[0] * data.Y.shape[1]

    def restrict_features(self, index):
        return DataFit(self.loss, self.data.restrict_features(index), self.fit_intercept)

    def state(self, coef, intercept):
        Z = self.data.linear(coef)
        if self.fit_intercept:
            Z = Z + self.data.expand(intercept)[:, None]
        return Z

    def value(self, coef, intercept, Z):
        return self.loss.value(self.xp, self.data.Y, Z, self.data.weight)

    def value_and_grad(self, coef, intercept, Z):
        f, dZ = self.loss.value_and_derivative(self.xp, self.data.Y, Z, self.data.weight)
        g_intercept = self.data.sample_sum(dZ) if self.fit_intercept else None
        return f, self.data.rlinear(dZ), g_intercept

    @_computed_once
    def lipschitz(self, n_iter=30, rtol=1e-3):
        """Estimate of the Lipschitz constant of the gradient, from below.

        Batched power iteration on ``c_t [X_t, 1]^T [X_t, 1]``, times the loss'
        curvature bound: ``||A v||`` for a unit ``v`` never exceeds ``||A||``, so
        the estimate is at most the constant, and the solver's backtracking
        corrects the underestimate.
        """
        xp, data = self.xp, self.data
        if self.lipschitz_is_exact:
            return self._exact_lipschitz()
        rng = np.random.default_rng(0)
        v = xp.asarray(rng.standard_normal((data.n_tasks, data.n_features)),
                       dtype=data.dtype, device=data.device)
        vb = xp.ones((data.n_tasks,), dtype=data.dtype, device=data.device)
        lam = xp.zeros((data.n_tasks,), dtype=data.dtype, device=data.device)
        for _ in range(n_iter):
            norm = xp.sqrt(xp.sum(v * v, axis=1) + (vb * vb if self.fit_intercept else 0.0))
            norm = xp.where(norm > 0, norm, xp.ones_like(norm))
            v, vb = v / norm[:, None], vb / norm
            Z = data.linear(v) + (data.expand(vb)[:, None] if self.fit_intercept else 0.0)
            R = data.weight * Z
            v, vb = data.rlinear(R), data.sample_sum(R)
            lam_new = xp.sqrt(xp.sum(v * v, axis=1) + (vb * vb if self.fit_intercept else 0.0))
            if as_float(xp.max(xp.abs(lam_new - lam))) <= rtol * as_float(xp.max(lam_new)):
                lam = lam_new
                break
            lam = lam_new
        return max(as_float(xp.max(lam)) * self.loss.curvature, _MIN_LIPSCHITZ)

    def _exact_lipschitz(self):
        """``max_t c_t lambda_max(X_t^T X_t)`` (squared loss, no intercept; the
        padded rows are zero) from the batched Gram matrices, computed once."""
        return _largest_gram_eigenvalue(self.data, self.data.gram_matrices())

    def dual(self, coef, intercept, Z):
        """Dual point from the primal point: ``(X^T theta, s -> loss Fenchel-Young term)``."""
        data = self.data
        theta, fenchel_young = self.loss.dual_point(data, Z, self.fit_intercept)
        return data.rlinear(theta), fenchel_young


class GramDataFit(BaseDataFit):
    """Squared loss on per-task Gram matrices (centred data, no intercept).

    ``F(W) = sum_t c_t (w_t^T G_t w_t / 2 - w_t^T q_t + ||y_t||^2 / 2)`` with
    ``G_t = X_t^T X_t`` and ``q_t = X_t^T y_t``.  The cached state is
    ``H_t = G_t w_t``; an iteration costs one batched ``d x d`` product per
    task instead of two passes over ``X``.  Cheaper than :class:`DataFit`
    when ``n_t >= n_features``.
    """

    has_dual = True
    has_quadratic_dual = True
    lipschitz_is_exact = True
    can_restrict_features = True

    def __init__(self, data):
        if data.gram is None:
            raise ValueError("GramDataFit needs TaskData.compute_gram() first.")
        self.data = data
        self.xp = data.xp
        self.fit_intercept = False
        self.loss = SquaredLoss()
        self.c = data.task_weight

    def restrict_features(self, index):
        return GramDataFit(self.data.restrict_features(index))

    def state(self, coef, intercept):
        return self.data.gram_matvec(coef)

    def value(self, coef, intercept, H):
        xp, data = self.xp, self.data
        per_task = 0.5 * xp.sum(coef * H, axis=1) - xp.sum(coef * data.Xty, axis=1) + 0.5 * data.yty
        return xp.sum(self.c * per_task)

    def value_and_grad(self, coef, intercept, H):
        grad = self.c[:, None] * (H - self.data.Xty)
        return self.value(coef, intercept, H), grad, None

    @_computed_once
    def lipschitz(self):
        return _largest_gram_eigenvalue(self.data, self.data.gram)

    def dual(self, coef, intercept, H):
        # theta_t = c_t (X_t w_t - y_t); its Fenchel-Young term is (1 - s)^2 F(W)
        # (float64 only: the Gram form of F cancels, see ``make_datafit``).
        F = as_float(self.value(coef, intercept, H))
        grad = self.c[:, None] * (H - self.data.Xty)
        return grad, (lambda s: (1.0 - s) ** 2 * F)


# All-zero data has a zero Lipschitz constant; any positive step is then exact.
_MIN_LIPSCHITZ = 1e-30


def _largest_gram_eigenvalue(data, gram):
    """``max_t c_t lambda_max(G_t)``: the exact Lipschitz constant of the
    squared loss' gradient.  eigvalsh is accurate to a few eps * ||G||: that
    margin is added so the constant is a true upper bound."""
    xp = data.xp
    c = data.task_weight
    if data.shared:
        top = xp.max(xp.linalg.eigvalsh(gram)) * xp.max(c)
    else:
        top = xp.max(xp.linalg.eigvalsh(gram)[:, -1] * c)
    eps = float(xp.finfo(data.dtype).eps)
    return max(as_float(top) * (1.0 + 64 * eps), _MIN_LIPSCHITZ)


class SmoothlyPenalizedDataFit(BaseDataFit):
    """``F(W, b) + g(W)`` for a smooth structural term ``g`` (e.g. cASO).

    ``g`` needs ``value_and_grad(coef)`` and ``lipschitz()``; the cached state
    is the data fit's.  With ``g.conjugate`` the duality gap of
    ``F + g + h`` is certified for ``h`` the zero penalty
    (:class:`~mtlreg.penalties.Zero`): the dual point ``V`` built from ``F``'s
    residuals goes to ``g`` whole, and ``dual`` adds ``g``'s Fenchel-Young term
    ``g(W) + g*(-s V) + s <W, V>`` to the loss's.
    """

    def __init__(self, inner, smooth, certify=True):
        self.inner = inner
        self.smooth = smooth
        # ``dual`` hands all of V to the smooth term: valid with the zero prox
        # penalty only, which the caller vouches for with ``certify``.  A term
        # whose conjugate is finite only on a range (the graph quadratic without
        # ridge) gets V moved into it, at a cost the squared loss can state.
        self._to_range = (not smooth.has_conjugate and smooth.has_range_conjugate
                          and inner.has_quadratic_dual)
        self.has_dual = bool(certify) and inner.has_dual and (smooth.has_conjugate
                                                               or self._to_range)
        self.xp = inner.xp
        self.data = inner.data
        self.fit_intercept = inner.fit_intercept
        self.curvature_varies = inner.curvature_varies
        self.lipschitz_is_exact = inner.lipschitz_is_exact  # a sum of upper bounds

    def state(self, coef, intercept):
        return self.inner.state(coef, intercept)

    def value(self, coef, intercept, state):
        return self.inner.value(coef, intercept, state) + self.smooth.value(coef)

    def value_and_grad(self, coef, intercept, state):
        f, g, gb = self.inner.value_and_grad(coef, intercept, state)
        v, gs = self.smooth.value_and_grad(coef)
        return f + v, g + gs, gb

    def lipschitz(self):
        return self.inner.lipschitz() + self.smooth.lipschitz()

    def dual(self, coef, intercept, state):
        xp = self.xp
        V, fenchel_young = self.inner.dual(coef, intercept, state)
        conjugate, moved = self.smooth.conjugate, 0.0
        if self._to_range:
            V, moved = self._into_range(V)
            conjugate = self.smooth.range_conjugate
        g = as_float(self.smooth.value(coef))
        wv = as_float(xp.sum(coef * V))

        def total(s):
            if moved and s != 1.0:  # the moved point's cost is known at s = 1 only
                return math.inf
            return fenchel_young(s) + moved + g + conjugate(-s * V) + s * wv

        return xp.zeros_like(V), total

    def _into_range(self, V):
        """Move the squared loss's dual point ``theta_t = c_t (z_t - y_t)`` to
        ``theta_t - c_t X_t u_t`` with ``u = N a`` (``N`` the smooth term's
        null space over the tasks, ``a`` one vector per null direction) so that
        ``N^T X^T theta = 0``: ``V_t -> V_t - c_t G_t u_t``, ``G_t = X_t^T X_t``,
        with ``B a = N^T V`` for ``B_jk = sum_t N_tj N_tk c_t G_t`` (least
        norm, through a pseudo-inverse: ``N^T V`` lies in B's range).  The
        loss's Fenchel-Young term at the moved point is then
        ``sum_t ||c_t X_t u_t||^2 / (2 c_t) = a . (N^T V) / 2``.
        Returns ``(V moved, that term)``."""
        xp = self.xp
        N = self.smooth.null_space
        k = N.shape[1]
        if k == 0:
            return V, 0.0
        d = V.shape[1]
        cG, B_pinv = self._range_system()
        m = xp.reshape(xp.permute_dims(N, (1, 0)) @ V, (k * d,))
        a = B_pinv @ m
        u = N @ xp.reshape(a, (k, d))  # (T, d)
        moved = 0.5 * as_float(xp.sum(a * m))
        return V - xp.matmul(cG, u[:, :, None])[:, :, 0], max(moved, 0.0)

    @_computed_once
    def _range_system(self):
        """``(c_t G_t, pinv(B))``: they depend on the data only, computed once."""
        xp, data, N = self.xp, self.data, self.smooth.null_space
        T, k, d = data.n_tasks, N.shape[1], data.n_features
        G = data.gram if data.gram is not None else data.gram_matrices()
        if data.shared:
            G = xp.broadcast_to(G[None, :, :], (T, d, d))
        cG = data.task_weight[:, None, None] * G  # (T, d, d)
        NN = xp.reshape(N[:, :, None] * N[:, None, :], (T, k * k))
        B = xp.reshape(xp.tensordot(NN, xp.reshape(cG, (T, d * d)), axes=([0], [0])),
                       (k, k, d, d))
        B = xp.reshape(xp.permute_dims(B, (0, 2, 1, 3)), (k * d, k * d))
        return cG, xp.linalg.pinv(B)


def make_datafit(loss, data, fit_intercept, use_gram):
    if use_gram:
        return GramDataFit(data)
    return DataFit(loss, data, fit_intercept)


def optimal_intercepts_at_zero(loss, data):
    """Intercepts minimizing ``F(0, b)`` (closed form for both losses)."""
    xp = data.xp
    if loss.name == "squared":
        return xp.zeros((data.n_tasks,), dtype=data.dtype, device=data.device)
    pos = data.sample_sum(xp.astype(data.Y > 0, data.dtype) * data.weight)
    tot = data.sample_sum(data.weight)
    tot = xp.where(tot > 0, tot, xp.ones_like(tot))
    p = pos / tot
    eps = math.sqrt(float(xp.finfo(data.dtype).eps))
    p = xp.clip(p, eps, 1 - eps)
    return xp.log(p / (1 - p))
