"""Structure terms minimized over a matrix ``M`` in closed form: cASO and
convex clustered MTL.

Both are ``g(W) = c * min_M tr(W_s^T (eta I + M)^-1 W_s)`` over symmetric
``M`` with ``tr M = k`` and ``0 <= M <= I`` (MALSAR's parametrization:
``eta = beta / alpha``, ``c = alpha * eta * (1 + eta)``):

* cASO (Chen, Tang, Liu & Ye 2009): ``M`` is ``n_features x n_features`` and
  ``W_s = W`` -- the tasks share a ``k``-dimensional feature subspace;
* clustered MTL (Jacob, Bach & Vert 2008; Zhou, Chen & Ye 2011): ``M`` is
  ``n_tasks x n_tasks`` and ``W_s = W^T`` -- the tasks form ``k`` clusters.

With ``W_s = U diag(sigma) V^T``, the minimizing ``M`` shares ``U`` and has
eigenvalues ``m_i = clip(s sigma_i - eta, 0, 1)`` with ``sum_i m_i = k`` (a
1-D search on ``s``), so ``g(W) = c * sum_i sigma_i^2 / (eta + m_i)``.  ``g``
is convex and differentiable with gradient ``2 c (eta I + M*)^-1 W_s``
(Danskin), Lipschitz with constant ``2 c / eta``: the solver treats it as a
smooth term.  ``ridge * ||W||_F^2`` is added to it.

The term depends on the nonzero singular values of ``W`` alone: a zero
singular value adds ``0 / (eta + m_i) = 0``, and the optimal ``m_i`` of the
nonzero ones do not depend on how many zeros there are (with more than ``k``
nonzero values the zeros get ``m_i = 0``; with at most ``k`` the nonzero ones
saturate at 1).  cASO and clustered MTL are therefore one function of ``W``
(Zhou, Chen & Ye, NIPS 2011), and both are computed on the smaller side of
``W``: the ``min(d, T) x min(d, T)`` Gram matrix, ``O(T d min(d, T))`` a
gradient, never a ``T x T`` matrix when ``T > d``.  Only the readout
:meth:`ASOPenalty.optimal_M` differs (``d x d`` or ``T x T``).

Its conjugate has a closed form too, which certifies a duality gap: for
fixed ``M`` the term is the quadratic ``tr(W_s B W_s^T)`` with
``B = c (eta I + M)^-1 + ridge I``, whose conjugate is
``tr(V_s B^-1 V_s^T) / 4``; the maximum over ``M`` aligns ``M`` with
``S = V_s^T V_s`` (von Neumann's trace inequality), leaving a concave 1-D
problem over the eigenvalues: ``(eta + m_i) / (c + ridge (eta + m_i))``
summed against the eigenvalues ``lambda_i`` of ``S``, maximized where
``m_i = clip(s sqrt(lambda_i) - eta - c / ridge, 0, 1)`` (for ``ridge = 0``:
``m = 1`` on the ``k`` largest ``lambda_i``).
"""

import math

from .._backend import as_float, device, get_namespace, small_linalg
from ._base import SmoothTerm

__all__ = ["ASOPenalty", "ClusteredPenalty", "aso_eigenvalues", "factored_matrix"]


def aso_eigenvalues(xp, sigma, eta, k):
    """Eigenvalues ``m`` of the optimal ``M`` for singular values ``sigma``
    (length ``d``, zeros for the missing singular values), in the namespace
    of ``sigma`` and without reading anything back to the host.

    Minimizes ``sum_i sigma_i^2 / (eta + m_i)`` over ``0 <= m_i <= 1``,
    ``sum_i m_i = k``: ``m_i(s) = clip(s * sigma_i - eta, 0, 1)`` with ``s``
    such that ``sum_i m_i(s) = k``; when fewer than ``k`` singular values
    are positive, those get 1 and the directions with ``sigma = 0`` (where
    any split is optimal) share the rest evenly.

    ``S(s) = sum_i clip(s sigma_i - eta, 0, 1)`` is piecewise linear in
    ``s``: term ``i`` starts at ``s = eta / sigma_i`` (slope ``+sigma_i``,
    offset ``-eta``) and saturates at ``(1 + eta) / sigma_i`` (slope
    ``-sigma_i``, offset ``+1 + eta``).  Sorting the ``2d`` events and
    accumulating slope and offset gives ``S`` at every event; ``S(s) = k``
    is then solved on the segment where ``S`` crosses ``k``.  O(d log d)
    and a fixed number of array operations (no bisection).
    """
    d = sigma.shape[0]
    dtype = sigma.dtype
    dev = device(sigma)
    if k >= d:
        return xp.ones((d,), dtype=dtype, device=dev)
    # sigma comes from the eigenvalues of a Gram matrix, accurate to d eps ||Gram||:
    # singular values below sqrt(d eps) sigma_max are zeros to that rounding (counted as
    # positive, their events eta / sigma would reach 1e8 and more and swamp the sums)
    floor = math.sqrt(d * float(xp.finfo(dtype).eps)) * xp.max(sigma)
    positive = sigma > floor
    n_pos = xp.sum(xp.astype(positive, dtype))
    safe = xp.where(positive, sigma, xp.ones_like(sigma))
    inf = xp.full((d,), float("inf"), dtype=dtype, device=dev)
    zero = xp.zeros_like(sigma)
    events = xp.concat([xp.where(positive, eta / safe, inf),
                        xp.where(positive, (1.0 + eta) / safe, inf)])
    d_slope = xp.concat([xp.where(positive, sigma, zero), xp.where(positive, -sigma, zero)])
    d_offset = xp.concat([xp.where(positive, zero - eta, zero),
                          xp.where(positive, zero + (1.0 + eta), zero)])
    order = xp.argsort(events)
    at = xp.take(events, order)
    slope = xp.cumulative_sum(xp.take(d_slope, order))
    offset = xp.cumulative_sum(xp.take(d_offset, order))
    finite = at < float("inf")
    reached = xp.where(finite, slope * xp.where(finite, at, zero[:1]) + offset, inf[:1])
    # first event with S >= k (k > 0 and S = 0 at the first event: index >= 1)
    first = xp.sum(xp.astype(reached < k, xp.int64))
    seg = xp.reshape(xp.clip(first - 1, 0, 2 * d - 1), (1,))
    left = xp.take(at, seg)
    left = xp.where(left < float("inf"), left, xp.zeros_like(left))  # no positive sigma
    right = xp.take(at, xp.clip(seg + 1, 0, 2 * d - 1))
    right = xp.where(right < float("inf"), right, left)
    # On the segment [left, right] the same directions are rising (0 < s sigma - eta < 1)
    # and saturated; S(s) = n_sat + s sum_rising sigma - eta n_rising = k is solved with
    # sums over those directions, not with the cumulative sums above, whose differences
    # cancel: then sum_i m_i = k to the rounding of a sum of d terms.
    probe = 0.5 * (left + right)
    rising = positive & (probe * sigma > eta) & (probe * sigma < 1.0 + eta)
    n_sat = xp.sum(xp.astype(positive & (probe * sigma >= 1.0 + eta), dtype))
    n_rising = xp.sum(xp.astype(rising, dtype))
    sum_rising = xp.sum(xp.where(rising, sigma, zero))
    solved = (k - n_sat + eta * n_rising) / xp.where(sum_rising > 0, sum_rising,
                                                      xp.ones_like(sum_rising))
    # a flat segment (nothing rising) sits at S = k up to rounding: take its left end
    s_star = xp.clip(xp.where(sum_rising > 0, solved, left), left, right)
    m = xp.where(positive, xp.clip(s_star * sigma - eta, 0.0, 1.0), zero)
    # fewer positive directions than k: they saturate, the rest share the mass
    n_zero = xp.maximum(d - n_pos, xp.ones_like(n_pos))
    spread = xp.minimum((k - n_pos) / n_zero, xp.ones_like(n_pos))
    saturated = xp.where(positive, xp.ones_like(sigma), zero + spread)
    return xp.where(n_pos <= k, saturated, m)


def factored_matrix(V, m, rest):
    """``V diag(m) V^T + rest (I - V V^T)`` as a dense matrix (in ``V``'s namespace)."""
    xp = get_namespace(V)
    M = (V * (m - rest)[None, :]) @ xp.permute_dims(V, (1, 0))
    if rest:
        M = M + rest * xp.eye(V.shape[0], dtype=V.dtype, device=device(V))
    return M


class ASOPenalty(SmoothTerm):
    """The cASO term (``M`` over features) as a smooth function of ``coef``
    (``W = coef.T``), plus ``ridge * ||W||_F^2``."""

    over_tasks = False  # M acts on the features (cASO) or on the tasks (clustered MTL)
    has_conjugate = True
    # over the features a zero task column adds w_t^T (eta I + M)^-1 w_t = 0; over the
    # tasks it adds a zero singular value, where M may put trace for free (the other
    # tasks' term can only fall)
    zero_task_is_free = True
    # the minimum over a fixed set of M of a quadratic form in W (plus the ridge's)
    is_two_homogeneous = True

    def __init__(self, xp, alpha, beta, n_components, ridge=0.0):
        self.xp = xp
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.k = int(n_components)
        self.ridge = float(ridge)
        self.eta = self.beta / self.alpha
        self.c = self.alpha * self.eta * (1.0 + self.eta)

    @staticmethod
    def _smaller_side(coef):
        """True for the tasks' side (``coef`` is ``(T, d)``): the smaller Gram."""
        return coef.shape[0] <= coef.shape[1]

    def _gram(self, coef, tasks_side):
        """``coef coef^T`` (``T x T``, the tasks' side) or ``coef^T coef``
        (``d x d``), symmetrized."""
        xp = self.xp
        A = coef @ xp.permute_dims(coef, (1, 0)) if tasks_side else \
            xp.permute_dims(coef, (1, 0)) @ coef
        return 0.5 * (A + xp.permute_dims(A, (1, 0)))

    def _apply(self, coef, U, factor, tasks_side):
        """``coef`` multiplied by ``U diag(factor) U^T`` on the given side."""
        xp = self.xp
        if tasks_side:
            return (U * factor[None, :]) @ (xp.permute_dims(U, (1, 0)) @ coef)
        return ((coef @ U) * factor[None, :]) @ xp.permute_dims(U, (1, 0))

    def _optimal_m(self, coef, tasks_side):
        xp = self.xp
        lam, U = small_linalg(xp, "eigh", self._gram(coef, tasks_side))
        sigma = xp.sqrt(xp.maximum(lam, xp.zeros_like(lam)))
        return U, lam, aso_eigenvalues(xp, sigma, self.eta, self.k)

    def value_and_grad(self, coef):
        """``g(coef)`` and its gradient ``2 c coef (eta I + M*)^-1`` (+ ridge)."""
        xp = self.xp
        side = self._smaller_side(coef)
        U, lam, m = self._optimal_m(coef, side)
        inv = 1.0 / (self.eta + m)
        # the value stays a device scalar: the solver reads it at checks only
        value = self.c * xp.sum(xp.maximum(lam, xp.zeros_like(lam)) * inv)
        grad = 2.0 * self.c * self._apply(coef, U, inv, side)
        if self.ridge:
            value = value + self.ridge * xp.sum(coef * coef)
            grad = grad + 2.0 * self.ridge * coef
        return value, grad

    def value(self, coef):
        return self.value_and_grad(coef)[0]

    def optimal_M_factors(self, coef):
        """The minimizing ``M`` on the structure's own side (``n = d`` for cASO,
        ``T`` for clustered MTL) as ``M = V diag(m) V^T + rest (I - V V^T)``:
        ``V`` (``n x r``, orthonormal columns), ``m`` (``r``) and the scalar
        ``rest``, computed from the smaller side's eigendecomposition (no
        ``n x n`` matrix).  From the other side, ``V`` holds the singular
        vectors of the ``r`` singular values above the rounding floor of
        :func:`aso_eigenvalues`, and ``rest`` is what that function gives the
        ``n - r`` zero directions on the structure's side: 0 with more than
        ``k`` of them positive, else the remaining trace shared evenly."""
        xp = self.xp
        side = self._smaller_side(coef)
        U, lam, m = self._optimal_m(coef, side)
        if side == self.over_tasks:
            return U, m, 0.0
        sigma = xp.sqrt(xp.maximum(lam, xp.zeros_like(lam)))
        n_small = sigma.shape[0]
        floor = math.sqrt(n_small * float(xp.finfo(sigma.dtype).eps)) * as_float(xp.max(sigma))
        keep = xp.nonzero(sigma > floor)[0]
        # largest singular values first (eigh's order is ascending)
        keep = xp.flip(keep)
        U, sigma, m = xp.take(U, keep, axis=1), xp.take(sigma, keep), xp.take(m, keep)
        # the other side's singular vectors: coef^T u / sigma (features) or coef u / sigma
        V = (coef @ U if not side else xp.permute_dims(coef, (1, 0)) @ U) / sigma[None, :]
        # orthonormal to rounding (a column of a small sigma carries eps sigma_max / sigma):
        # a thin QR, column by column from the largest singular value
        V = xp.linalg.qr(V)[0] if V.shape[1] else V
        n, r = V.shape[0], V.shape[1]
        if r > self.k or n == r:
            return V, m, 0.0
        return V, xp.ones_like(m), min((self.k - r) / (n - r), 1.0)

    def optimal_M(self, coef):
        """The minimizing ``M`` on the structure's own side, dense (``d x d`` for
        cASO, ``T x T`` for clustered MTL); see :meth:`optimal_M_factors`."""
        return factored_matrix(*self.optimal_M_factors(coef))

    def lipschitz(self):
        return 2.0 * self.c / self.eta + 2.0 * self.ridge

    def conjugate(self, V):
        """``g*(V) = sup_W <W, V> - g(W)`` (closed form, see the module doc)."""
        xp = self.xp
        lam = small_linalg(xp, "eigvalsh", self._gram(V, self._smaller_side(V)))  # ascending
        lam = xp.maximum(lam, xp.zeros_like(lam))
        n = lam.shape[0]
        if self.ridge == 0.0:  # M puts its k units on the largest eigenvalues
            top = xp.astype(xp.arange(n, device=device(lam)) >= n - min(self.k, n), lam.dtype)
            return as_float(xp.sum(lam * (self.eta + top))) / (4.0 * self.c)
        m = aso_eigenvalues(xp, xp.sqrt(lam), self.eta + self.c / self.ridge, self.k)
        shifted = self.eta + m
        return as_float(xp.sum(lam * shifted / (self.c + self.ridge * shifted))) / 4.0


class ClusteredPenalty(ASOPenalty):
    """The convex clustered-MTL term (``M`` over the tasks), plus ridge."""

    over_tasks = True
