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

import copy
import functools
import math
from abc import ABC, abstractmethod

import numpy as np

from ._backend import as_float, small_linalg, to_numpy
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
        ``sum c (1 - s_t)^2 (z - y)^2 / 2 = sum_t (1 - s_t)^2 F_t(Z)``: no
        cancellation (``s`` one number, or one per task).
        """
        xp = data.xp
        R = Z - data.Y
        return data.weight * R, _per_task_quadratic(xp, data.sample_sum(0.5 * data.weight * R * R))

    def dual_metric(self, data, theta):
        """Inverse curvature of ``F*`` per sample: ``c``."""
        return data.weight

    def fenchel_young_at(self, data, Z, theta):
        """The Fenchel-Young term of any ``theta``:
        ``s -> sum_i (c r_i - s theta_i)^2 / (2 c)`` with ``r = z - y`` (a sum of
        squares: no cancellation; ``F*`` is finite everywhere)."""
        xp, weight = data.xp, data.weight
        real = weight > 0
        inv = xp.where(real, 1.0 / xp.where(real, weight, xp.ones_like(weight)),
                       xp.zeros_like(weight))
        CR = weight * (Z - data.Y)

        def fenchel_young(s):
            D = CR - s * theta
            return 0.5 * as_float(xp.sum(D * D * inv))

        return fenchel_young


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

    def derivatives(self, xp, Y, Z, weight):
        """``weight * loss'(y, z)`` and ``weight * loss''(y, z)`` per sample
        (``loss'' = sigma(z) sigma(-z) = e / (1 + e)^2`` with ``e = exp(-|z|)``:
        no cancellation)."""
        M = -Y * Z
        E = xp.exp(-xp.abs(M))
        return -weight * Y * _sigmoid(xp, M), weight * E / ((1.0 + E) * (1.0 + E))

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
        V = self._dual_v(data, Z, intercept_free)
        return -data.weight * data.Y * V, self._fenchel_young(data, Z, V)

    def _fenchel_young(self, data, Z, V):
        xp, Y, weight = data.xp, data.Y, data.weight
        loss = _log1pexp(xp, -Y * Z)
        YZ = Y * Z

        def fenchel_young(s):
            sv = (data.expand(s)[:, None] if getattr(s, "ndim", 0) == 1 else s) * V
            terms = loss + _xlogx(xp, sv) + _xlogx(xp, 1 - sv) + YZ * sv
            return as_float(xp.sum(weight * terms))

        fenchel_young.per_task = True  # s may be one scale per task
        return fenchel_young

    def dual_metric(self, data, theta):
        """Inverse curvature of ``F*`` per sample at a feasible ``theta``: ``c v (1 - v)``."""
        xp = data.xp
        V = xp.clip(self._v_of(data, theta), 0.0, 1.0)
        return data.weight * V * (1.0 - V)

    def _v_of(self, data, theta):
        xp, weight = data.xp, data.weight
        real = weight > 0
        return xp.where(real, -theta * data.Y / xp.where(real, weight, xp.ones_like(weight)),
                        xp.zeros_like(theta))

    def fenchel_young_at(self, data, Z, theta):
        """The Fenchel-Young term of any ``theta`` (``s -> F(Z) + F*(s theta) -
        s <Z, theta>``), or None when ``theta`` is outside ``F*``'s domain:
        ``v = -theta / (c y)`` must lie in [0, 1] (to the rounding of ``v``,
        ``8 eps``; such a ``v`` is clipped into the box)."""
        xp = data.xp
        V = self._v_of(data, theta)
        slack = 8.0 * float(xp.finfo(theta.dtype).eps)
        if as_float(xp.min(V)) < -slack or as_float(xp.max(V)) > 1.0 + slack:
            return None
        return self._fenchel_young(data, Z, xp.clip(V, 0.0, 1.0))


def _per_task_quadratic(xp, F):
    """The squared loss's Fenchel-Young term ``s -> sum_t (1 - s_t)^2 F_t`` from the
    per-task losses ``F_t`` (``s`` one number, or one per task): no cancellation."""
    def fenchel_young(s):
        return as_float(xp.sum((1.0 - s) ** 2 * F))

    fenchel_young.per_task = True
    return fenchel_young


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
    ``can_restrict_features`` (``restrict_features``: working sets),
    ``restricted_state_is_full`` (the state at coefficients that vanish outside
    a feature subset is the restricted data fit's state at that subset's
    coefficients: a working set's state costs no pass over all the features),
    ``has_range_dual`` (``range_gram`` and ``range_dual``: the dual point moved
    into the range of a term flat along some directions over the tasks, see
    :class:`RangeMover`), ``has_proximal_solve`` (``proximal_solve``: the
    minimizer of ``F(W) + rho ||W - V||^2 / 2`` in closed form, for ADMM).
    ``smooth`` is the smooth structural term folded in, if any.
    """

    has_dual = False
    has_quadratic_dual = False
    has_range_dual = False
    has_proximal_solve = False
    lipschitz_is_exact = False
    curvature_varies = False
    can_restrict_features = False
    restricted_state_is_full = False
    smooth = None
    parts_of = None  # the data fit of the parts' sum, when the variable stacks parts
    n_parts = 1
    CAPABILITIES = ("has_dual", "has_quadratic_dual", "has_range_dual", "has_proximal_solve",
                    "lipschitz_is_exact", "curvature_varies", "can_restrict_features",
                    "restricted_state_is_full")

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

    def range_gram(self):
        """``c_t Gc_t`` per task (``has_range_dual``; see :class:`RangeMover`)."""
        raise NotImplementedError(f"{type(self).__name__} cannot move its dual point")

    def proximal_solve(self, V, rho):
        """``argmin_W F(W) + rho ||W - V||^2 / 2`` (``has_proximal_solve``)."""
        raise NotImplementedError(f"{type(self).__name__} has no closed-form proximal solve")

    def bregman(self, Z, W):
        """``F(Z) - F(W) - <grad F(W), Z - W>`` (``has_proximal_solve``: ``F`` is a
        quadratic, and this is ``(Z - W)^T H (Z - W) / 2``, non-negative as computed)."""
        raise NotImplementedError(f"{type(self).__name__} has no closed-form proximal solve")

    def to_solver_intercept(self, intercept):
        """The solver's intercept variable for the intercepts ``intercept`` (the same,
        unless the data fit rescales it: :func:`intercept_scale_for`)."""
        return intercept

    def from_solver_intercept(self, intercept):
        """The intercepts of the solver's intercept variable."""
        return intercept

    def range_dual(self, coef, intercept, state, mover):
        """``dual`` with ``theta`` moved by ``mover`` (``has_range_dual``): ``V``
        has ``N^T V = 0``; the Fenchel-Young term is ``inf`` where the moved
        point leaves the loss's conjugate domain (the logistic box)."""
        raise NotImplementedError(f"{type(self).__name__} cannot move its dual point")


class DataFit(BaseDataFit):
    """Smooth part ``F(W, b)`` evaluated on the data (any loss).

    The cached state is the linear predictor ``Z = X W + b``: it is linear in
    ``(W, b)``, so the solver extrapolates it instead of recomputing it, and one
    FISTA iteration costs one pass over ``X`` for ``Z`` of the new point and one
    for the gradient ``X^T dloss(Z)``.
    """

    has_dual = True
    has_range_dual = True
    can_restrict_features = True
    restricted_state_is_full = True  # Z = X W + b needs only W's non-zero columns

    def __init__(self, loss, data, fit_intercept, intercept_scale=1.0):
        self.loss = loss
        self.data = data
        self.xp = data.xp
        self.fit_intercept = fit_intercept
        # the solver's intercept variable is b / intercept_scale (see intercept_scale_for)
        self.intercept_scale = float(intercept_scale)
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
        return DataFit(self.loss, self.data.restrict_features(index), self.fit_intercept,
                       self.intercept_scale)

    def gram_form(self):
        """The same data fit on the Gram matrices of its data, or None: for the
        squared loss without an intercept variable, in float64 (the Gram form of
        ``F`` cancels on near-exact fits, see :func:`make_datafit`), when the Gram
        matrices hold at most ``GRAM_FORM_RATIO`` times as many numbers as the
        design.  For the few features of a working set, coordinate descent then
        costs ``O(n_tasks k)`` per coordinate instead of a pass over the samples."""
        data = self.data
        if not self.has_quadratic_dual or data.dtype != self.xp.float64:
            return None
        k = data.n_features
        gram_size = k * k * (1 if data.shared else data.n_tasks)
        if gram_size > GRAM_FORM_RATIO * math.prod(data.X.shape):
            return None
        return GramDataFit(copy.copy(data).compute_gram())

    def to_solver_intercept(self, intercept):
        """The solver's intercept variable ``b / s`` for the intercepts ``b``."""
        return None if intercept is None else intercept / self.intercept_scale

    def from_solver_intercept(self, intercept):
        """The intercepts ``b = s b'`` of the solver's variable ``b'``."""
        return None if intercept is None else intercept * self.intercept_scale

    def state(self, coef, intercept):
        Z = self.data.linear(coef)
        if self.fit_intercept:
            Z = Z + self.data.expand(self.intercept_scale * intercept)[:, None]
        return Z

    def value(self, coef, intercept, Z):
        return self.loss.value(self.xp, self.data.Y, Z, self.data.weight)

    def value_and_grad(self, coef, intercept, Z):
        f, dZ = self.loss.value_and_derivative(self.xp, self.data.Y, Z, self.data.weight)
        g_intercept = self.intercept_scale * self.data.sample_sum(dZ) if self.fit_intercept \
            else None
        return f, self.data.rlinear(dZ), g_intercept

    @_computed_once
    def lipschitz(self, n_iter=30, rtol=1e-3):
        """Estimate of the Lipschitz constant of the gradient, from below.

        Batched power iteration on ``c_t [X_t, s 1]^T [X_t, s 1]`` (``s`` the
        intercept scale), times the loss'
        curvature bound: ``||A v||`` for a unit ``v`` never exceeds ``||A||``, so
        the estimate is at most the constant, and the solver's backtracking
        corrects the underestimate.
        """
        xp, data = self.xp, self.data
        s = self.intercept_scale
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
            Z = data.linear(v) + (data.expand(s * vb)[:, None] if self.fit_intercept else 0.0)
            R = data.weight * Z
            v, vb = data.rlinear(R), s * data.sample_sum(R)
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

    def range_gram(self):
        """``c_t Gc_t``: the per-task Gram, centred on the task's samples when the
        intercept is a variable (``Gc_t = G_t - s_t s_t^T / n_t``, ``s_t = X_t^T 1``)."""
        return self._metric_gram(self.data.weight)[0]

    def _metric_gram(self, D):
        """``(sum_i D_i xc_i xc_i^T, S, n)`` per task for a per-sample metric ``D``
        (0 on the padding), with ``xc_i = x_i - S_t / n_t`` centred on the
        ``D``-weighted mean (``S_t = X_t^T D_t``, ``n_t = sum_i D_i``) when the
        intercept is a variable; ``S, n`` are None otherwise."""
        data, xp = self.data, self.xp
        G = data.gram_matrices(D)
        if not self.fit_intercept:
            return G, None, None
        S, n = data.rlinear(D), data.sample_sum(D)
        n = xp.where(n > 0, n, xp.ones_like(n))
        return G - S[:, :, None] * S[:, None, :] / n[:, None, None], S, n

    @_computed_once
    def _range_sums(self):
        return self._metric_gram(self.data.weight)[1:]

    def range_dual(self, coef, intercept, Z, mover):
        """The move of :class:`RangeMover` in the metric ``D = c`` (the squared
        loss's: its exact Fenchel-Young cost, no pass over the data); for another
        loss, the moved ``theta`` is checked against the loss's domain, and if
        it left it (a logistic ``v`` moved out of [0, 1]), moved again in the
        loss's own metric (``D_i = c v_i (1 - v_i)``, the inverse curvature of
        ``F*``: samples with ``v`` near 0 or 1 barely move), at the price of a
        weighted Gram, ``O(n d^2)``.  Infinite where both leave it."""
        data, xp = self.data, self.xp
        theta, _ = self.loss.dual_point(data, Z, self.fit_intercept)
        V = data.rlinear(theta)
        if self.has_quadratic_dual:
            V, cost = mover.move_quadratic(V)
            return V, _only_at_one(cost)
        moved = self._move(Z, theta, V, mover, data.weight, *self._range_sums())
        if moved is None:
            D = self.loss.dual_metric(data, theta)
            G, S, n = self._metric_gram(D)
            moved = self._move(Z, theta, V, RangeMover(xp, mover.N, G), D, S, n)
        if moved is None:
            return V, (lambda s: math.inf)
        return moved

    def _move(self, Z, theta, V, mover, D, S, n):
        """``theta - D (X u - 1 S.u / n)`` for ``mover``'s ``u``, with its ``V`` and
        Fenchel-Young term; None if it leaves the loss's domain."""
        data, xp = self.data, self.xp
        u, _ = mover.solve(V)
        if u is None:
            return V, self.loss.fenchel_young_at(data, Z, theta)
        XU = data.linear(u)
        if S is not None:
            XU = XU - xp.astype(data.weight > 0, data.dtype) * data.expand(
                xp.sum(S * u, axis=1) / n)[:, None]
        fenchel_young = self.loss.fenchel_young_at(data, Z, theta - D * XU)
        if fenchel_young is None:
            return None
        return mover.moved(V, u), fenchel_young


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
    has_range_dual = True
    has_proximal_solve = True
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

    def feature_curvature(self):
        """``(mean_t c_t (G_t)_jj, data_bearing)``: each feature's curvature, and whether
        it carries data (a constant feature centres to rounding noise, not to zero: a
        curvature below eps times the largest is that noise)."""
        xp, data = self.xp, self.data
        diagonal = xp.linalg.diagonal(data.gram)
        if data.shared:
            mean = xp.mean(self.c) * diagonal
        else:
            mean = xp.mean(self.c[:, None] * diagonal, axis=0)
        eps = float(xp.finfo(mean.dtype).eps)
        return mean, mean > eps * xp.max(mean)

    def feature_scale(self):
        """``s_j = sqrt(mean_t c_t (G_t)_jj)`` (1 for a feature without data, or whose
        curvature is at the rounding level of the largest): the
        scale of feature ``j``'s curvature, whose square is 1 for standardized data."""
        xp = self.xp
        mean, data_bearing = self.feature_curvature()
        return xp.where(data_bearing, xp.sqrt(xp.where(data_bearing, mean, xp.ones_like(mean))),
                        xp.ones_like(mean))

    def rescaled(self, scale):
        """The same data fit in the variable ``W' = W * scale`` (feature ``j``
        multiplied by ``scale_j``): Gram ``G_t / (s s^T)``, ``X_t^T y_t / s``."""
        data = copy.copy(self.data)
        outer = scale[:, None] * scale[None, :]
        data.gram = self.data.gram / (outer if data.shared else outer[None, :, :])
        data.Xty = self.data.Xty / scale[None, :]
        return GramDataFit(data)

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
        # theta_t = c_t (X_t w_t - y_t); its Fenchel-Young term is sum_t (1 - s_t)^2 F_t(W)
        # (float64 only: the Gram form of F cancels, see ``make_datafit``).
        xp, data = self.xp, self.data
        per_task = 0.5 * xp.sum(coef * H, axis=1) - xp.sum(coef * data.Xty, axis=1) \
            + 0.5 * data.yty
        grad = self.c[:, None] * (H - data.Xty)
        return grad, _per_task_quadratic(xp, self.c * per_task)

    def proximal_solve(self, V, rho, n_parts=1):
        """``argmin`` of ``F(sum_i P_i) + rho sum_i ||P_i - V_i||^2 / 2`` over ``n_parts``
        stacked parts (``V`` of shape ``(n_parts T, d)``), per task in the eigenbasis
        of ``c_t G_t = Q diag(lam) Q^T`` (computed once): with ``v_i = Q^T V_i``,
        ``q = Q^T c_t X_t^T y_t`` and ``k = n_parts``, the sum ``S = sum_i P_i``
        has ``S = (k q + rho sum_i v_i) / (k lam + rho)`` and each part
        ``P_i = Q (v_i + (q - lam S) / rho)``."""
        xp = self.xp
        lam, Q, q = self._eigen()
        T = lam.shape[0]
        d = V.shape[1]
        one = Q.ndim == 2  # one eigenbasis for all tasks
        v = xp.reshape(V, (n_parts, T, d)) @ Q if one else \
            xp.matmul(xp.reshape(V, (n_parts, T, 1, d)), Q)[:, :, 0, :]
        S = (n_parts * q + rho * xp.sum(v, axis=0)) / (n_parts * lam + rho)
        parts = v + ((q - lam * S) / rho)[None, :, :]
        if one:
            out = parts @ xp.permute_dims(Q, (1, 0))
        else:
            out = xp.matmul(parts[:, :, None, :], xp.permute_dims(Q, (0, 2, 1))[None, ...])[
                :, :, 0, :]
        return xp.reshape(out, (n_parts * T, d))

    def bregman(self, Z, W):
        xp = self.xp
        D = Z - W
        return 0.5 * as_float(xp.sum(self.c[:, None] * D * self.data.gram_matvec(D)))

    @_computed_once
    def _eigen(self):
        """``(lam, Q, Q^T c_t X_t^T y_t)`` of ``c_t G_t`` (one ``eigh`` for a shared
        design with equal ``c_t``, else one per task)."""
        xp, data, c = self.xp, self.data, self.c
        cq = c[:, None] * data.Xty
        # once per fit, with the library's threads: not an iteration's small algebra
        # (and OpenBLAS 0.3.21's one-thread eigh of a 4 x 4 Gram was twice as far from
        # orthogonal as its threaded one, beyond the proximal-solve contract's bound)
        if data.shared and as_float(xp.max(c) - xp.min(c)) == 0.0:
            lam, Q = xp.linalg.eigh(data.gram)
            lam = xp.maximum(lam, xp.zeros_like(lam))
            return c[:, None] * lam[None, :], Q, cq @ Q
        G = c[:, None, None] * (data.gram[None, :, :] if data.shared else data.gram)
        lam, Q = xp.linalg.eigh(G)
        lam = xp.maximum(lam, xp.zeros_like(lam))
        return lam, Q, xp.matmul(cq[:, None, :], Q)[:, 0, :]

    def range_gram(self):
        c = self.c
        G = self.data.gram
        return c[:, None, None] * (G[None, :, :] if self.data.shared else G)

    def range_dual(self, coef, intercept, H, mover):
        V, cost = mover.move_quadratic(self.dual(coef, intercept, H)[0])
        return V, _only_at_one(cost)


def _only_at_one(cost):
    """The Fenchel-Young term of a moved squared-loss dual point: known at ``s = 1``."""
    return lambda s: cost if s == 1.0 else math.inf


# A working set's Gram form is built at every outer iteration: worth it while it is no
# more than this many times the design (on the speed suite's dense d >> n problem, 2,000
# features in use for 200 samples, building it cost more than FISTA's iterations saved).
GRAM_FORM_RATIO = 4

# All-zero data has a zero Lipschitz constant; any positive step is then exact.
_MIN_LIPSCHITZ = 1e-30


def _largest_gram_eigenvalue(data, gram):
    """``max_t c_t lambda_max(G_t)``: the exact Lipschitz constant of the
    squared loss' gradient.  eigvalsh is accurate to a few eps * ||G||: that
    margin is added so the constant is a true upper bound."""
    xp = data.xp
    c = data.task_weight
    if data.shared:
        top = xp.max(small_linalg(xp, "eigvalsh", gram)) * xp.max(c)
    else:
        top = xp.max(small_linalg(xp, "eigvalsh", gram)[:, -1] * c)
    eps = float(xp.finfo(data.dtype).eps)
    return max(as_float(top) * (1.0 + 64 * eps), _MIN_LIPSCHITZ)


class SmoothlyPenalizedDataFit(BaseDataFit):
    """``F(W, b) + g(W)`` for a smooth structural term ``g`` (e.g. cASO).

    ``g`` needs ``value_and_grad(coef)`` and ``lipschitz()``; the cached state
    is the data fit's.  The dual point that certifies the gap of
    ``F + g + h`` (``h`` the prox penalty) takes one of three routes
    (``route``):

    * ``"conjugate"`` -- ``h`` is the zero penalty (``prox_is_zero``) and ``g``
      has a conjugate: the dual point ``V = X^T theta`` goes to ``g`` whole,
      and ``dual`` adds ``g``'s Fenchel-Young term ``g(W) + g*(-s V) + s <W, V>``
      to the loss's (``h`` gets ``V = 0``).
    * ``"range"`` -- the same, for a ``g`` whose conjugate is finite only on a
      range over the tasks (``has_range_conjugate``, the graph quadratic
      without ridge): the data fit moves ``theta`` into that range first
      (``range_dual``; :class:`RangeMover`).
    * ``"homogeneous"`` -- ``h`` is not zero and ``g`` is convex and
      positively homogeneous of degree two (``is_two_homogeneous``:
      ``g(t W) = t^2 g(W)``, e.g. a positive semidefinite quadratic form).
      Then so is ``g*``, and ``g(W) + g*(grad g(W)) = <W, grad g(W)> = 2 g(W)``
      (Euler), so the dual point ``s grad g(W)`` for ``g`` has the
      Fenchel-Young term ``g + s^2 g - 2 s g = (1 - s)^2 g(W)``, finite for
      every ``s``: ``dual`` adds ``grad g(W)`` to ``V`` and ``(1 - s)^2 g(W)``
      to the loss's term, and ``h`` receives the rest (``h*`` of
      ``-s (X^T theta + grad g(W))``, scaled into ``h``'s dual ball as for any
      penalty).  At the optimum ``-(X^T theta + grad g)`` is a subgradient of
      ``h`` and the gap is 0.  (For ``g = <W, Q W>`` this is ``g`` read as a
      squared loss of ``Q^1/2 W``.)

    Otherwise ``has_dual`` is False and the solver stops on the gradient
    mapping.
    """

    def __init__(self, inner, smooth, prox_is_zero=True):
        self.inner = inner
        self.smooth = smooth
        if prox_is_zero and smooth.has_conjugate:
            route = "conjugate"
        elif prox_is_zero and smooth.has_range_conjugate and inner.has_range_dual:
            route = "range"
        elif not prox_is_zero and smooth.is_two_homogeneous:
            route = "homogeneous"
        else:
            route = None
        self.route = route if inner.has_dual else None  # "conjugate", "range", "homogeneous"
        self.has_dual = self.route is not None
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
        if self.route == "homogeneous":
            V, fenchel_young = self.inner.dual(coef, intercept, state)
            g, grad = self.smooth.value_and_grad(coef)
            g = as_float(g)
            return V + grad, (lambda s: fenchel_young(s) + (1.0 - s) ** 2 * g)
        if self.route == "range":
            V, fenchel_young = self.inner.range_dual(coef, intercept, state, self._mover())
            conjugate = self.smooth.range_conjugate
        else:
            V, fenchel_young = self.inner.dual(coef, intercept, state)
            conjugate = self.smooth.conjugate
        g = as_float(self.smooth.value(coef))
        wv = as_float(xp.sum(coef * V))

        def total(s):
            return fenchel_young(s) + g + conjugate(-s * V) + s * wv

        return xp.zeros_like(V), total

    @_computed_once
    def _mover(self):
        """The range system depends on the data only: built once."""
        return RangeMover(self.xp, self.smooth.null_space, self.inner.range_gram())


class RangeMover:
    """Moves a dual point into the range of a term flat along ``N`` over the tasks.

    ``N`` (``n_tasks x k``, orthonormal columns) spans the term's null space;
    its conjugate is finite only where ``N^T V = 0``.  The data fit's dual
    point ``theta_t`` moves to ``theta_t - c_t Xc_t u_t`` with ``u = N a``
    (``a`` one ``d``-vector per null direction; ``Xc_t`` is ``X_t``, centred
    on the task's samples when an intercept is free, so the intercept
    constraint ``sum_i theta_ti = 0`` still holds), which moves
    ``V_t = X_t^T theta_t`` to ``V_t - c_t Gc_t u_t`` (``Gc_t = Xc_t^T
    Xc_t``).  ``N^T V = 0`` afterwards asks ``B a = N^T V`` with
    ``B_jk = sum_t N_tj N_tk c_t Gc_t``, solved with least norm through a
    pseudo-inverse (``N^T V`` lies in B's range: ``N^T X^T theta`` is a
    combination of ``Xc_t^T`` columns).  When the columns of ``N`` have
    disjoint supports (the connected components of a task graph), ``B`` is
    block diagonal: ``k`` systems of size ``d``, not one of size ``k d``.
    """

    def __init__(self, xp, N, gram):
        self.xp = xp
        T, k = N.shape
        self.N = N
        self.k = k
        if k == 0:
            return
        d = gram.shape[-1]
        if gram.ndim == 2:
            gram = xp.broadcast_to(gram[None, :, :], (T, d, d))
        self.cG = gram  # c_t Gc_t, (T, d, d)
        support = np.abs(to_numpy(N)) > 0
        self.blocks = bool(np.all(np.sum(support, axis=1) <= 1))
        if self.blocks:
            B = xp.tensordot(N * N, xp.reshape(gram, (T, d * d)), axes=([0], [0]))
            self.B_pinv = small_linalg(xp, "pinv", xp.reshape(B, (k, d, d)))
        else:
            NN = xp.reshape(N[:, :, None] * N[:, None, :], (T, k * k))
            B = xp.reshape(xp.tensordot(NN, xp.reshape(gram, (T, d * d)), axes=([0], [0])),
                           (k, k, d, d))
            B = xp.reshape(xp.permute_dims(B, (0, 2, 1, 3)), (k * d, k * d))
            self.B_pinv = small_linalg(xp, "pinv", B)

    def solve(self, V):
        """``(u, a . N^T V)`` for the dual point's ``V``; ``u`` is None without a null space."""
        xp, N, k = self.xp, self.N, self.k
        if k == 0:
            return None, 0.0
        d = V.shape[1]
        m = xp.permute_dims(N, (1, 0)) @ V  # (k, d)
        if self.blocks:
            a = xp.matmul(self.B_pinv, m[:, :, None])[:, :, 0]
        else:
            a = xp.reshape(self.B_pinv @ xp.reshape(m, (k * d,)), (k, d))
        return N @ a, as_float(xp.sum(a * m))

    def moved(self, V, u):
        """``V_t - c_t Gc_t u_t``."""
        return V - self.xp.matmul(self.cG, u[:, :, None])[:, :, 0]

    def move_quadratic(self, V):
        """For the squared loss without intercept variables: the moved ``V`` and its
        Fenchel-Young term, ``sum_t ||c_t X_t u_t||^2 / (2 c_t) = a . (N^T V) / 2``
        (exact and non-negative)."""
        u, am = self.solve(V)
        if u is None:
            return V, 0.0
        return self.moved(V, u), max(0.5 * am, 0.0)


def make_datafit(loss, data, fit_intercept, use_gram):
    if use_gram:
        return GramDataFit(data)
    scale = intercept_scale_for(data) if fit_intercept else 1.0
    return DataFit(loss, data, fit_intercept, scale)


def intercept_scale_for(data):
    """``s`` of the solver's intercept variable ``b' = b / s``: the coefficients and
    the intercepts share one step size, and the intercepts' curvature
    ``curvature c_t n_t`` does not scale with the features' (``c_t
    ||X_t[:, j]||^2``).  With features scaled by 1e-8 the step that suits ``W``
    is 1e16 times too long for ``b``, the line search settles on ``b``'s, and
    ``W`` barely moves.  In ``b'`` the intercept column is ``s 1`` with
    curvature ``s^2 c_t n_t``; ``s^2 = max_t c_t ||X_t||_F^2 / (d max_t c_t
    n_t)`` (the features' mean curvature, 1 for standardized features) puts
    both on one scale.  A power of two: ``b = s b'`` is then exact.  The
    objective, the dual point and the certificate are unchanged (a change of
    variables of an unpenalized block)."""
    xp = data.xp
    # sums of squares by vecdot: no temporary of the design's size
    X2 = xp.vecdot(data.X, data.X, axis=-2) if data.shared else \
        data.task_sum(xp.sum(xp.vecdot(data.X, data.X, axis=-1), axis=1))
    c = data.task_weight
    features = as_float(xp.max(c * X2)) if not data.shared else \
        as_float(xp.sum(X2)) * as_float(xp.max(c))
    n = as_float(xp.max(c * data.sample_sum(xp.astype(data.weight > 0, data.dtype))))
    if not (features > 0 and n > 0 and math.isfinite(features)):
        return 1.0
    return 2.0 ** round(0.5 * math.log2(features / (data.n_features * n)))


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
