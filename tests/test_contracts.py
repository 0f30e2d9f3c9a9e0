"""Contract tests: every penalty, smooth term and data fit against independent math.

The protocols of :mod:`mtlreg.penalties._base` and :mod:`mtlreg.losses` promise
more than any one estimator exercises: a proximal operator, a Fenchel
conjugate, a dual norm and its zero threshold, per-feature scores, a gradient
and a Lipschitz constant, a dual point whose Fenchel-Young term certifies a
duality gap.  This module checks each promise, for every class that makes it,
against mathematics written here and nowhere in the package.

Two tables drive it, and each has a test that fails when a class is added
without a row:

* ``TERMS``: one row (or more, for variants) per concrete :class:`Penalty` or
  :class:`SmoothTerm` exported in ``mtlreg.penalties.__all__``.  A row builds the
  term on a small random problem, with and without ridge where the class takes
  one, together with an independent NumPy value, a CVXPY expression of the value
  where one exists, and the magnitudes its rounding is measured against.
* ``DATAFITS``: one row (or more) per concrete :class:`BaseDataFit` in
  ``mtlreg.losses.__all__`` and :class:`mtlreg._parts.SumOfParts`, built as
  :func:`mtlreg.problem.prepare` builds them (centring, Gram cache), with the
  per-task arrays the fit sees, so that its objective, gradient, Lipschitz
  constant and optima are computed here from the data.

The contract, term by term (``h`` a penalty, ``g`` a smooth term, ``F`` a data fit):

* value: ``h(W)`` equals the NumPy formula and the CVXPY expression (cASO and clustered
  MTL: a minimum over ``M``, which any feasible ``M`` bounds and ``optimal_M`` attains);
* prox (every :class:`Penalty`): ``prox(V, s)`` minimizes ``1/2 ||X - V||^2 + s h(X)``,
  checked against CVXPY through :func:`cvxpy_reference.assert_matches_reference`
  and the strong convexity of that objective;
* conjugate (``has_conjugate``): ``dual_scale(V)`` is the largest ``s`` in [0, 1] with
  ``h*(s V)`` finite; the Fenchel-Young inequality ``h(W) + h*(V) >= <W, V>`` on random
  pairs (``V`` scaled by ``dual_scale``), the equality ``h(P) + h*(V - P) = <P, V - P>``
  at ``P = prox(V, 1)`` (Moreau), and ``h*(V)`` against a CVXPY computation of ``sup_W
  <V, W> - h(W)`` where that is bounded;
* norms (:class:`NormPenalty`): ``dual_norm(V) = max <V, W>`` over ``norm(W) <= 1``,
  and ``alpha_max`` as the zero threshold of the prox; per-feature scores of the
  separable norms decide which features the prox sets to zero;
* auxiliary matrices (``has_auxiliary``): the W-step penalty majorizes ``h`` and, with
  ``perturbation``, equals the perturbed closed form at the current point;
* smooth terms: gradient against central differences and an independent formula,
  ``lipschitz()`` an upper bound on ``||grad g(A) - grad g(B)|| / ||A - B||``, the
  conjugate against a numerical supremum, Fenchel-Young at the gradient;
* every term: exact zeros at ``W = 0`` (no NaN, no warning), float32 kept;
* data fits: gradient against central differences and the data, value consistent
  with ``value_and_grad`` and with the data, a state linear in ``(W, b)``,
  ``lipschitz()`` an upper bound where it is declared exact (``lipschitz_is_exact``)
  and never above the exact constant where it is a power-iteration estimate,
  ``restrict_features`` the same fit on fewer features, ``curvature_varies = False``
  a quadratic; the dual point (``has_dual``): its Fenchel-Young term non-negative on
  ``s`` in [0, 1], the gradient itself where no intercept constrains it, zero gap at
  the optimum of an unpenalized (or graph-penalized) least-squares fit, and a gap that
  bounds the suboptimality ``P(W, b) - P*`` at any point (weak duality).

Tolerances
----------
Every tolerance follows from a guarantee, stated where it is used:

* rounding: :func:`certificates.sum_rounding` with a term count ``work(shape) = 16
  max(shape) n_tasks n_features``, the backward error of a thin SVD or eigh of the
  coefficient matrix (``16 max(shape) eps`` relative, :func:`certificates.svd_rounding`)
  on each of the ``n_tasks n_features`` entries summed into a scalar (plain sums
  of ``n`` terms are within ``n eps / 2`` of their sum of magnitudes, far less),
  against the magnitudes each row states (``Case.scale``, ``Case.conj_scale``);
  data fits against the magnitudes of their per-sample terms with ``n + d``
  counted as :func:`certificates.sum_rounding` says;
* CVXPY: the reference's own checked accuracy (:mod:`cvxpy_reference`);
* finite differences: for a convex ``f`` whose gradient is ``L``-Lipschitz,
  ``0 <= f(x + h e) - f(x) - h <grad f(x), e> <= L h^2 / 2`` on a unit ``e``, so the
  central difference is within ``L h / 4`` of the directional derivative, plus
  ``delta / h`` for values computed to ``delta``; ``h = 2 sqrt(delta / L)`` balances
  the two.  ``L`` there is the constant from the math, computed here;
* numerical suprema (scipy): for a ``mu``-strongly concave objective ``phi``, ``phi(x)
  <= sup phi <= phi(x) + ||grad phi(x)||^2 / (2 mu)``; numerical minima: ``P* <= P(x)``
  at any point ``x``, whatever the optimizer's accuracy;
* strict inequalities that are decided by a margin (zero thresholds) use margins
  far above the rounding: ``1 +- 1e-6`` against ``n eps``.

Findings are marked ``xfail(strict=True)`` with the reason: the case must keep
failing until the code is fixed, and then the mark must go.
"""

import inspect
import math
from dataclasses import dataclass, field
from typing import Callable, Optional

import array_api_compat.numpy as xp
import cvxpy as cp
import numpy as np
import pytest
import scipy.optimize
import scipy.sparse as sp

import mtlreg.losses as losses_module
import mtlreg.penalties as penalties_module
from mtlreg._data import build_task_data
from mtlreg._parts import SumOfParts
from mtlreg.losses import (BaseDataFit, LogisticLoss, SmoothlyPenalizedDataFit, SquaredLoss,
                           make_datafit)
from mtlreg.penalties import (L1, L21, NORMS, ASOPenalty, ClusteredPenalty, GraphQuadratic,
                              L1Inf, MetricQuadratic, NormPenalty, NuclearNorm, Penalty,
                              SmoothTerm, SparseL21, SquaredTraceNorm, TaskL2,
                              TaskSquaredTraceNorm, Zero)

from certificates import EPS, rounding, sum_rounding, svd_rounding
from cvxpy_reference import assert_matches_reference, solve_reference

SHAPES = [(3, 4), (2, 5), (1, 3), (4, 2)]  # (n_tasks, n_features): wide, a single task, tall
RIDGE = 0.3
ALPHA = 0.7


def fro(A):
    return float(np.linalg.norm(A))


def work(shape):
    """Term count of a scalar built from a ``shape`` matrix (module docstring)."""
    return 16 * max(shape) * shape[0] * shape[1]


def level(shape, magnitude):
    """Rounding level of a scalar (or array) of ``magnitude`` built from a ``shape`` matrix."""
    return sum_rounding(work(shape), magnitude)


def rng_for(*key):
    """A generator seeded by the test's own parameters: each case is reproducible alone."""
    return np.random.default_rng([ord(ch) for ch in repr(key)])


# =============================================================================================
# Independent references
# =============================================================================================

def nuclear(W):
    return float(np.sum(np.linalg.svd(W, compute_uv=False)))


def water_filling(sigma, eta, k):
    """``argmin_m sum_i sigma_i^2 / (eta + m_i)`` over ``0 <= m <= 1``, ``sum m = k``.

    The optimality conditions give ``m_i = clip(s sigma_i - eta, 0, 1)`` with the
    level ``s`` fixed by ``sum m = k``, found by bisection (``sum clip`` is
    non-decreasing in ``s``); directions with ``sigma = 0`` cost nothing whatever
    their ``m``, and take what the others leave (at most 1 each).
    """
    sigma = np.asarray(sigma, dtype=np.float64)
    d = sigma.size
    if k >= d:
        return np.ones(d)
    positive = sigma > 0
    if np.count_nonzero(positive) <= k:
        m = positive.astype(float)
        if np.any(~positive):
            m[~positive] = (k - np.count_nonzero(positive)) / np.count_nonzero(~positive)
        return m
    lo, hi = 0.0, (1.0 + eta) / sigma[positive].min()
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if np.sum(np.clip(mid * sigma - eta, 0.0, 1.0)) < k:
            lo = mid
        else:
            hi = mid
    return np.clip(hi * sigma - eta, 0.0, 1.0)


def sparse_group_scores(V, tau):
    """Per feature ``j``, the dual norm of ``tau ||x||_1 + (1 - tau) ||x||_2`` at ``V_j,:``:
    the least ``s`` with ``V_j,: = s (tau a + (1 - tau) b)``, ``||a||_inf, ||b||_2 <= 1``,
    i.e. with ``||S_{tau s}(v)||_2 <= (1 - tau) s`` (``S`` the soft threshold): the left
    side minus the right is decreasing in ``s``; bisection to the last bit."""
    out = np.zeros(V.shape[1])
    for j in range(V.shape[1]):
        v = np.abs(V[:, j])
        if not np.any(v):
            continue
        his = ([np.max(v) / tau] if tau > 0 else []) + ([np.linalg.norm(v) / (1 - tau)]
                                                        if tau < 1 else [])
        lo, hi = 0.0, min(his)
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            if np.linalg.norm(np.maximum(v - tau * mid, 0.0)) > (1 - tau) * mid:
                lo = mid
            else:
                hi = mid
        out[j] = hi
    return out


class StructureMatrix:
    """The cASO / clustered-MTL term ``c min_M tr(W_s^T (eta I + M)^-1 W_s) + ridge ||W||^2``
    over ``0 <= M <= I``, ``tr M = k`` (``W_s = W`` over the features, ``W^T`` over the
    tasks), by a full SVD of ``W_s`` and :func:`water_filling`: value, Danskin gradient,
    and the conjugate at ``ridge = 0`` by Ky Fan's maximum principle."""

    def __init__(self, alpha, beta, k, ridge, over_tasks):
        self.eta = beta / alpha
        self.c = alpha * self.eta * (1.0 + self.eta)
        self.k, self.ridge, self.over_tasks = k, ridge, over_tasks

    def side(self, coef):
        return coef if self.over_tasks else coef.T  # W_s, dim x other

    def _spectrum(self, coef):
        Ws = self.side(coef)
        U, s, _ = np.linalg.svd(Ws, full_matrices=True)
        sigma = np.zeros(U.shape[0])
        sigma[:s.size] = s
        return Ws, U, sigma

    def value(self, coef):
        _, _, sigma = self._spectrum(coef)
        m = water_filling(sigma, self.eta, self.k)
        return self.c * float(np.sum(sigma**2 / (self.eta + m))) + self.ridge * np.sum(coef**2)

    def grad(self, coef):
        Ws, U, sigma = self._spectrum(coef)
        m = water_filling(sigma, self.eta, self.k)
        Gs = 2.0 * self.c * (U / (self.eta + m)) @ (U.T @ Ws)
        G = Gs if self.over_tasks else Gs.T
        return G + 2.0 * self.ridge * coef

    def value_at(self, coef, M):
        """The quadratic ``c tr(W_s^T (eta I + M)^-1 W_s) + ridge ||W||^2`` for a given ``M``."""
        Ws = self.side(coef)
        A = self.eta * np.eye(M.shape[0]) + M
        return self.c * float(np.sum(Ws * np.linalg.solve(A, Ws))) + self.ridge * np.sum(coef**2)

    def conjugate_no_ridge(self, V):
        """``g = min_M q_M`` gives ``g* = max_M q_M*`` with ``q_M*(V) = tr(V_s^T (eta I + M)
        V_s) / (4 c)``, linear in ``M``: its maximum over the constraint set is ``eta
        ||V||^2`` plus the sum of the ``k`` largest eigenvalues of ``V_s V_s^T`` (Ky Fan)."""
        Vs = self.side(V)
        lam = np.linalg.eigvalsh(Vs @ Vs.T)
        top = float(np.sum(lam[::-1][:min(self.k, lam.size)]))
        return (self.eta * float(np.sum(V**2)) + top) / (4.0 * self.c)


# =============================================================================================
# The table of penalties and smooth terms
# =============================================================================================

@dataclass
class Case:
    """One term built on a small problem, with everything this module checks it against."""

    term: object
    value: Callable                      #: independent NumPy value of the term at ``coef``
    cvx: Optional[Callable] = None       #: CVXPY expression of the value, or None
    scale: Callable = None               #: ``W -> `` magnitudes the value is computed from
    #: ``V -> `` magnitudes the conjugate is computed from: ``a ||V||^2``, and ``h* <= a ||V||^2``
    conj_scale: Callable = None
    slope: Callable = None               #: ``r -> `` bound on the subgradients on the r-ball
    mu: float = 0.0                      #: strong convexity modulus of the term
    # norms
    rebuild: Optional[Callable] = None   #: ``(alpha, ridge) -> `` the same norm penalty
    norm: Optional[Callable] = None      #: NumPy norm Omega (unscaled)
    cvx_norm: Optional[Callable] = None  #: CVXPY Omega
    dual_norm: Optional[Callable] = None  #: NumPy dual norm, from its textbook formula
    scores: Optional[Callable] = None    #: NumPy per-feature scores (separable norms)
    # smooth terms
    lipschitz: float = None              #: Lipschitz constant of the gradient, from the math
    grad: Optional[Callable] = None      #: independent NumPy gradient
    grad_rounding: Callable = None       #: ``W -> `` bound on the gradient's rounding (max entry)
    conjugate_bounds: Optional[Callable] = None  #: ``V -> (lower, upper)`` on the conjugate
    structure: object = None             #: StructureMatrix of a cASO / clustered term
    over_tasks: Optional[bool] = None    #: side of the auxiliary matrix: tasks, or features


@dataclass(frozen=True)
class Row:
    cls: type
    build: Callable      #: ``(shape, ridge, rng) -> Case``
    ridges: tuple = (0.0, RIDGE)


def _norm_row(cls, norm, cvx_norm, dual_norm, scores=None, **kwargs):
    def build(shape, ridge, rng):
        n = shape[0] * shape[1]
        return Case(
            term=cls(xp, ALPHA, ridge=ridge, **kwargs),
            rebuild=lambda alpha, ridge_: cls(xp, alpha, ridge=ridge_, **kwargs),
            value=lambda W: ALPHA * norm(W) + ridge * np.sum(W**2),
            cvx=lambda X: ALPHA * cvx_norm(X) + ridge * cp.sum_squares(X),
            # every norm here is at most sqrt(n) ||W||_F, a sum of non-negative terms
            scale=lambda W: ALPHA * np.sqrt(n) * fro(W) + ridge * fro(W) ** 2,
            # h*(V) = ||prox_{alpha Omega}(V)||^2 / (4 ridge) <= ||V||^2 / (4 ridge); 0 without
            conj_scale=lambda V: np.sum(V**2) / (4 * ridge) if ridge else 0.0,
            slope=lambda r: ALPHA * np.sqrt(n) + 2 * ridge * r,
            mu=2 * ridge, norm=norm, cvx_norm=cvx_norm, dual_norm=dual_norm, scores=scores)
    return Row(cls, build)


def _sparse_group_row(tau):
    return _norm_row(
        SparseL21,
        lambda W: tau * np.abs(W).sum() + (1 - tau) * np.linalg.norm(W, axis=0).sum(),
        lambda X: tau * cp.sum(cp.abs(X)) + (1 - tau) * cp.sum(cp.norm(X, 2, axis=0)),
        lambda V: sparse_group_scores(V, tau).max(), lambda V: sparse_group_scores(V, tau),
        l1_ratio=tau)


def _squared_trace_row(cls):
    def build(shape, ridge, rng):
        r = min(shape)
        return Case(
            term=cls(xp, ALPHA, ridge=ridge),
            value=lambda W: ALPHA * nuclear(W) ** 2 + ridge * np.sum(W**2),
            cvx=lambda X: ALPHA * cp.square(cp.normNuc(X)) + ridge * cp.sum_squares(X),
            # ||W||_*^2 <= rank ||W||_F^2; its SVD's error enters twice (a square)
            scale=lambda W: (2 * ALPHA * r + ridge) * fro(W) ** 2,
            # the conjugate's terms: sum u s, ridge sum s^2 (s <= u / (2 ridge)) and alpha S^2
            conj_scale=lambda V: np.sum(V**2) * (1 / (4 * ALPHA) + (1 / ridge if ridge else 0)),
            slope=lambda rad: 2 * (ALPHA * r + ridge) * rad, mu=2 * ridge,
            over_tasks=cls is TaskSquaredTraceNorm)
    return Row(cls, build)


def _metric_row(over_tasks):
    def build(shape, ridge, rng):
        m = shape[0] if over_tasks else shape[1]
        U, _ = np.linalg.qr(rng.standard_normal((m, m)))
        lam = rng.uniform(0.3, 1.3, m)
        F = U / np.sqrt(lam)  # D^-1 = F F^T
        cond = lam.max() / lam.min()
        top = 1.0 / lam.min()

        def value(W):  # alpha tr(W_s^T D^-1 W_s) by a solve with D, not with U and lam
            Ws = W if over_tasks else W.T
            D = (U * lam) @ U.T
            return ALPHA * float(np.sum(Ws * np.linalg.solve(D, Ws))) + ridge * np.sum(W**2)

        def cvx(X):
            proj = F.T @ X if over_tasks else X @ F
            return ALPHA * cp.sum_squares(proj) + ridge * cp.sum_squares(X)

        return Case(
            term=MetricQuadratic(xp, ALPHA, U, lam, ridge=ridge, over_tasks=over_tasks),
            value=value, cvx=cvx,
            # a solve with D is exact to cond(D) eps relative
            scale=lambda W: 2 * (ALPHA * top * cond + ridge) * fro(W) ** 2,
            slope=lambda r: 2 * (ALPHA * top + ridge) * r,
            mu=2 * (ALPHA / lam.max() + ridge))
    return Row(MetricQuadratic, build)


def _zero_row():
    def build(shape, ridge, rng):
        return Case(term=Zero(xp), value=lambda W: 0.0, cvx=lambda X: cp.Constant(0.0),
                    scale=lambda W: 0.0, conj_scale=lambda V: 0.0, slope=lambda r: 0.0)
    return Row(Zero, build, ridges=(0.0,))


def _graph_term(L, ridge, form, like=None):
    """The graph quadratic of ``L`` in one of its three forms (see GraphQuadratic)."""
    if form == "complete":
        return GraphQuadratic(xp, ALPHA, None, ridge=ridge, like=like, n_tasks=L.shape[0])
    return GraphQuadratic(xp, ALPHA, sp.csr_matrix(L) if form == "sparse" else L, ridge=ridge,
                          like=like, sparse=form == "sparse")


def _dense_laplacian(term):
    L = term.laplacian
    if L is None:
        T = term.form.n_tasks
        return T * np.eye(T) - np.ones((T, T))
    return L.toarray() if sp.issparse(L) else np.asarray(L)


def _graph_row(form="eigen"):
    """The eigen form on a weighted complete graph; the sparse form on the same
    graph given sparse; the closed form of the complete graph with unit weights."""
    def build(shape, ridge, rng):
        T = shape[0]
        # oriented, weighted incidence matrix of the complete graph: L = R R^T = D - A
        edges = [(a, b) for a in range(T) for b in range(a + 1, T)]
        R = np.zeros((T, len(edges)))
        for e, (a, b) in enumerate(edges):
            w = 1.0 if form == "complete" else np.sqrt(rng.uniform(0.5, 1.5))
            R[a, e], R[b, e] = w, -w
        L = R @ R.T
        lam_max = np.linalg.norm(R, 2) ** 2 if edges else 0.0
        lip = 2 * (ALPHA * lam_max + ridge)
        size = ALPHA * np.trace(L) + ridge  # ||L||_F <= tr L: |coef| |L| |coef| <= tr L ||W||^2
        lam = np.linalg.eigvalsh(L)
        # least eigenvalue of Q = alpha L + ridge I (without ridge: on L's range)
        q_min = ridge if ridge else ALPHA * min(lam[lam > 1e-9 * max(lam[-1], 1.0)], default=1.0)

        def cvx(X):
            graph = ALPHA * cp.sum_squares(R.T @ X) if edges else cp.Constant(0.0)
            return graph + ridge * cp.sum_squares(X)

        return Case(
            term=_graph_term(L, ridge, form),
            value=lambda W: ALPHA * np.sum((R.T @ W) ** 2) + ridge * np.sum(W**2), cvx=cvx,
            scale=lambda W: 2 * size * fro(W) ** 2,
            # tr(V^T Q^-1 V) / 4 with Q >= q_min I (on L's range without ridge)
            conj_scale=lambda V: np.sum(V**2) / (4 * q_min),
            slope=lambda r: lip * r, mu=2 * ridge, lipschitz=lip,
            grad=lambda W: 2 * (ALPHA * L @ W + ridge * W),
            # 2 (alpha L coef + ridge coef): T-term products
            grad_rounding=lambda W: level(shape, 2 * size * fro(W)))
    return Row(GraphQuadratic, build)


def _structure_row(cls):
    over_tasks = cls is ClusteredPenalty

    def build(shape, ridge, rng):
        alpha, beta = 0.6, 0.3
        m = shape[0] if over_tasks else shape[1]
        k = 1 if m <= 2 else 2
        ref = StructureMatrix(alpha, beta, k, ridge, over_tasks)
        lip = 2 * ref.c / ref.eta + 2 * ridge
        quad = ref.c / ref.eta + ridge  # the term is at most quad ||W||^2

        def grad_rounding(W):
            # eigh of the m x m Gram W_s^T W_s is backward stable: exact for a Gram matrix
            # within E, ||E|| <= 64 m eps ||W||_2^2 (certificates.spectral_rounding).  In a
            # computed direction u of eigenvalue ~0, ||W_s^T u||^2 <= ||E||, and the
            # implementation also counts sigma below sqrt(m eps) sigma_max as zero: either
            # way, up to m directions whose components (at most sqrt(64 m eps) ||W||_2 each)
            # are weighted by factors in [2 c / (eta + 1), 2 c / eta] instead of the exact
            # ones; the rest carries the relative rounding of eigh and the products.
            W2 = np.linalg.norm(W, 2) if W.size else 0.0
            return lip * m * np.sqrt(64 * m * EPS) * W2 + level(shape, lip * fro(W))

        def conjugate_bounds(V):
            if ridge == 0.0:
                kf = ref.conjugate_no_ridge(V)
                return kf, kf
            return _strongly_concave_sup(ref.value, ref.grad, V, mu=2 * ridge)

        return Case(
            term=cls(xp, alpha, beta, k, ridge=ridge), value=ref.value, cvx=None,
            scale=lambda W: 2 * quad * fro(W) ** 2,
            conj_scale=lambda V: np.sum(V**2) * (ref.eta + 1) / (4 * ref.c),
            slope=lambda r: lip * r, mu=2 * ridge,
            lipschitz=lip, grad=ref.grad, grad_rounding=grad_rounding,
            conjugate_bounds=conjugate_bounds,
            structure=ref, over_tasks=over_tasks)
    return Row(cls, build)


def _strongly_concave_sup(value, grad, V, mu):
    """``(lower, upper)`` on ``sup_W <V, W> - g(W)`` for a ``mu``-strongly convex ``g``:
    L-BFGS's point ``x`` gives ``phi(x) <= sup <= phi(x) + ||grad phi(x)||^2 / (2 mu)``."""
    shape = V.shape

    def negphi(x):
        W = x.reshape(shape)
        return value(W) - float(np.sum(V * W)), (grad(W) - V).ravel()

    res = scipy.optimize.minimize(negphi, np.zeros(V.size), jac=True, method="L-BFGS-B",
                                  options=dict(ftol=1e-16, gtol=1e-13, maxiter=5000))
    W = res.x.reshape(shape)
    phi = -negphi(res.x)[0]
    r = fro(grad(W) - V)
    return phi, phi + r * r / (2 * mu)


TERMS = {
    "L1": _norm_row(L1, lambda W: np.abs(W).sum(), lambda X: cp.sum(cp.abs(X)),
                    lambda V: np.abs(V).max(), lambda V: np.abs(V).max(axis=0)),
    "L21": _norm_row(L21, lambda W: np.linalg.norm(W, axis=0).sum(),
                     lambda X: cp.sum(cp.norm(X, 2, axis=0)),
                     lambda V: np.linalg.norm(V, axis=0).max(),
                     lambda V: np.linalg.norm(V, axis=0)),
    "TaskL2": _norm_row(TaskL2, lambda W: np.linalg.norm(W, axis=1).sum(),
                        lambda X: cp.sum(cp.norm(X, 2, axis=1)),
                        lambda V: np.linalg.norm(V, axis=1).max()),
    "L1Inf": _norm_row(L1Inf, lambda W: np.abs(W).max(axis=0).sum(),
                       lambda X: cp.sum(cp.max(cp.abs(X), axis=0)),
                       lambda V: np.abs(V).sum(axis=0).max(), lambda V: np.abs(V).sum(axis=0)),
    "NuclearNorm": _norm_row(NuclearNorm, nuclear, cp.normNuc,
                             lambda V: np.linalg.norm(V, 2)),
    **{f"SparseL21[l1_ratio={tau}]": _sparse_group_row(tau) for tau in (0.0, 0.3, 0.5, 0.9, 1.0)},
    "SquaredTraceNorm": _squared_trace_row(SquaredTraceNorm),
    "TaskSquaredTraceNorm": _squared_trace_row(TaskSquaredTraceNorm),
    "MetricQuadratic[features]": _metric_row(over_tasks=False),
    "MetricQuadratic[tasks]": _metric_row(over_tasks=True),
    "Zero": _zero_row(),
    "ASOPenalty": _structure_row(ASOPenalty),
    "ClusteredPenalty": _structure_row(ClusteredPenalty),
    "GraphQuadratic": _graph_row(),
    "GraphQuadratic[sparse]": _graph_row("sparse"),
    "GraphQuadratic[complete]": _graph_row("complete"),
}


def build(name, shape, ridge):
    return TERMS[name].build(shape, ridge, rng_for("build", name, shape, ridge))


def _params(where=lambda row: True, shapes=SHAPES, ridges=None, conjugate=False):
    """``(name, shape, ridge)`` of the rows ``where`` selects; with ``conjugate``, only the
    built terms that declare ``has_conjugate``."""
    out = []
    for name, row in TERMS.items():
        if not where(row):
            continue
        for ridge in (row.ridges if ridges is None else [r for r in row.ridges if r in ridges]):
            for shape in shapes:
                if conjugate and not build(name, shape, ridge).term.has_conjugate:
                    continue
                out.append(pytest.param(name, shape, ridge, id=f"{name}-{shape[0]}x{shape[1]}-"
                                                               f"ridge{ridge}"))
    return out


def _is_penalty(row):
    return issubclass(row.cls, Penalty)


def _is_smooth(row):
    return issubclass(row.cls, SmoothTerm)


def _is_norm(row):
    return issubclass(row.cls, NormPenalty)


def _separable(row):
    return _is_norm(row) and row.cls.separable_over_features


def _exported(module, bases):
    """Concrete classes exported in ``module.__all__`` that subclass one of ``bases``."""
    found = set()
    for name in module.__all__:
        obj = getattr(module, name)
        if inspect.isclass(obj) and issubclass(obj, bases) and not inspect.isabstract(obj):
            found.add(obj)
    return found


# =============================================================================================
# Coverage of the tables
# =============================================================================================

def test_terms_table_covers_every_exported_penalty_and_smooth_term():
    exported = _exported(penalties_module, (Penalty, SmoothTerm))
    covered = {row.cls for row in TERMS.values()}
    missing = sorted(c.__name__ for c in exported - covered)
    assert not missing, (f"mtlreg.penalties exports {missing} without a row in "
                         f"tests/test_contracts.py::TERMS: add a row (how to build it, its "
                         f"NumPy value, its CVXPY expression where one exists)")
    extra = sorted(c.__name__ for c in covered - exported)
    assert not extra, f"TERMS has rows for {extra}, which mtlreg.penalties does not export"


def test_every_registered_norm_is_a_norm_penalty_with_a_row():
    for name, cls in NORMS.items():
        assert issubclass(cls, NormPenalty) and callable(getattr(cls, "alpha_max", None)), name
        assert cls in {row.cls for row in TERMS.values()}, (
            f"NORMS[{name!r}] = {cls.__name__} has no row in TERMS: add one")


@pytest.mark.parametrize("name", sorted(TERMS))
def test_declared_capabilities_are_provided(name):
    """What a term declares, it provides (solvers rely on the declaration, never probe)."""
    row = TERMS[name]
    case = build(name, (3, 4), row.ridges[-1])
    term = case.term
    assert isinstance(term, (Penalty, SmoothTerm))
    V = rng_for("capabilities", name).standard_normal((3, 4))
    if isinstance(term, Penalty):
        if term.separable_over_features:
            assert np.shape(term.feature_scores(V)) == (4,)
        else:
            with pytest.raises(NotImplementedError):
                term.feature_scores(V)
        if term.has_auxiliary:
            for method in ("auxiliary_step", "step_penalty", "perturbation"):
                assert callable(getattr(term, method, None)), method
        assert term.is_zero == (row.cls is Zero)
    if term.has_conjugate and row.cls is not Zero:  # Zero: see its dual_scale test
        scale = term.dual_scale(V) if isinstance(term, Penalty) else 1.0
        assert math.isfinite(float(term.conjugate(scale * V)))


# =============================================================================================
# Edge cases: the zero matrix, float32
# =============================================================================================

@pytest.mark.parametrize("name, shape, ridge", _params(shapes=[(3, 4), (4, 2)]))
def test_zero_matrix(name, shape, ridge):
    """At ``W = 0``, where every term here has its minimum 0: value 0, prox 0, gradient 0,
    conjugate 0 (``h*(0) = -min h``), dual norm 0 -- exactly, with no NaN and no
    RuntimeWarning (an error for mtlreg, ``setup.cfg``) from a division by a zero norm or
    singular value."""
    case = build(name, shape, ridge)
    term = case.term
    Z = np.zeros(shape)
    assert float(term.value(Z)) == 0.0
    if isinstance(term, Penalty):
        assert np.all(np.asarray(term.prox(Z, 0.7)) == 0.0)
        if term.has_conjugate:
            assert term.dual_scale(Z) == 1.0
    else:
        value, grad = term.value_and_grad(Z)
        assert float(value) == 0.0 and np.all(np.asarray(grad) == 0.0)
    if term.has_conjugate:
        assert float(term.conjugate(Z)) == 0.0
    if isinstance(term, NormPenalty):
        assert float(term.dual_norm(Z)) == 0.0 and term.alpha_max(Z) == 0.0
        if term.separable_over_features:
            assert np.all(np.asarray(term.feature_scores(Z)) == 0.0)


@pytest.mark.parametrize("name", sorted(TERMS))
def test_float32_stays_float32(name):
    """DESIGN.md section 4: float32 in, float32 out (prox, gradient), for terms built from
    float32 parameters."""
    shape = (3, 4)
    V = rng_for("float32", name).standard_normal(shape).astype(np.float32)
    row = TERMS[name]
    case = build(name, shape, row.ridges[-1])
    term = case.term
    if isinstance(term, MetricQuadratic):
        term = MetricQuadratic(xp, term.alpha, np.asarray(term.U, dtype=np.float32),
                               np.asarray(term.lam, dtype=np.float32), ridge=term.ridge,
                               over_tasks=term.over_tasks)
    elif isinstance(term, GraphQuadratic):
        form = {"_Sparse": "sparse", "_Complete": "complete"}.get(type(term.form).__name__,
                                                                  "eigen")
        term = _graph_term(_dense_laplacian(term), term.ridge, form, like=V)
    if isinstance(term, Penalty):
        assert np.asarray(term.prox(V, 0.7)).dtype == np.float32
    else:
        assert np.asarray(term.value_and_grad(V)[1]).dtype == np.float32


# =============================================================================================
# Values
# =============================================================================================

@pytest.mark.parametrize("name, shape, ridge", _params())
def test_value_matches_numpy_and_cvxpy(name, shape, ridge):
    case = build(name, shape, ridge)
    rng = rng_for("value", name, shape, ridge)
    for _ in range(3):
        W = rng.standard_normal(shape) * rng.uniform(0.1, 3.0)
        got = float(case.term.value(W))
        expected = case.value(W)
        tol = level(shape, case.scale(W))
        assert abs(got - expected) <= tol, (got, expected, tol)
        if case.cvx is not None:
            X = cp.Variable(shape)
            X.value = W
            assert abs(float(case.cvx(X).value) - expected) <= tol
        if isinstance(case.term, SmoothTerm):
            # value is value_and_grad's value: one formula, evaluated by the same code
            assert abs(float(case.term.value_and_grad(W)[0]) - got) <= tol


@pytest.mark.parametrize("name, shape, ridge",
                         _params(lambda row: row.cls in (ASOPenalty, ClusteredPenalty)))
def test_structure_term_is_a_minimum_over_the_constraint_set(name, shape, ridge):
    """``g(W) = c min_M tr(W_s^T (eta I + M)^-1 W_s)``: any feasible ``M`` (``0 <= M <= I``,
    ``tr M = k``) gives at least ``g``; the water-filling ``M`` attains it."""
    case = build(name, shape, ridge)
    ref = case.structure
    rng = rng_for("minimum", name, shape, ridge)
    m = shape[0] if ref.over_tasks else shape[1]
    for _ in range(3):
        W = rng.standard_normal(shape)
        g = float(case.term.value(W))
        # the solves: cond(eta I + M) <= (1 + eta) / eta, relative
        tol = level(shape, case.scale(W)) * (1 + ref.eta) / ref.eta
        for _ in range(10):
            Q, _ = np.linalg.qr(rng.standard_normal((m, m)))
            mm = water_filling(rng.uniform(0.1, 2.0, m), rng.uniform(0.0, 1.0), ref.k)
            M = (Q * mm) @ Q.T
            assert ref.value_at(W, M) >= g - tol
        Ws, U, sigma = ref._spectrum(W)
        M_star = (U * water_filling(sigma, ref.eta, ref.k)) @ U.T
        assert abs(ref.value_at(W, M_star) - g) <= tol
        # The term's own minimizer: m x m (cASO and clustered MTL are one spectral function
        # of W, told apart only by the side of M), feasible to the rounding of an m x m
        # eigh and its products (certificates.spectral_rounding), and attaining g.  With
        # q(G, M) = c tr((eta I + M)^-1 G), linear in the Gram matrix G = W_s W_s^T, and
        # M = M*(G + E) exact for a Gram matrix within ||E|| <= 64 m eps ||W||_2^2 (eigh's
        # backward error): q(G, M) - g(G) <= [g(G + E) - g(G)] + c tr((eta I + M)^-1 E)
        # <= 2 c m ||E|| / eta.
        M = np.asarray(case.term.optimal_M(W))
        assert M.shape == (m, m)
        M = 0.5 * (M + M.T)
        mu_M = np.linalg.eigvalsh(M)
        feasible = 64 * m * EPS
        assert mu_M.min() >= -feasible and mu_M.max() <= 1 + feasible
        assert abs(np.trace(M) - min(ref.k, m)) <= feasible * m
        E = 64 * m * EPS * np.linalg.norm(W, 2) ** 2
        # an M outside the set by `feasible` lowers q by at most c ||W||_F^2 feasible / eta^2
        low = ref.c * fro(W) ** 2 * feasible / ref.eta**2
        assert -tol - low <= ref.value_at(W, M) - g <= tol + 2 * ref.c * m * E / ref.eta


# =============================================================================================
# Penalties: prox
# =============================================================================================

STEPS = {(3, 4): 0.4, (2, 5): 1.0, (1, 3): 3.0, (4, 2): 0.7}


@pytest.mark.parametrize("name, shape, ridge", _params(_is_penalty))
def test_prox_matches_cvxpy(name, shape, ridge):
    """``P = prox(V, s)`` against CVXPY's minimizer ``Q`` of the ``mu``-strongly convex
    ``f(X) = 1/2 ||X - V||^2 + s h(X)``, ``mu >= 1 + s mu_h``: ``f(P)`` is not above the
    reference's re-evaluated value and the reference is within its claimed accuracy of
    ``f(P)`` (:func:`assert_matches_reference`); then ``||Q - P|| <= sqrt(2 (f(Q) -
    f(P)) / mu)`` since ``P`` minimizes ``f``, plus ``P``'s own rounding."""
    case = build(name, shape, ridge)
    step = STEPS[shape]
    rng = rng_for("prox", name, shape, ridge)
    V = 2.0 * rng.standard_normal(shape)
    P = np.asarray(case.term.prox(V, step))
    assert P.shape == V.shape

    X = cp.Variable(shape)
    ref = solve_reference(cp.Problem(cp.Minimize(0.5 * cp.sum_squares(X - V)
                                                 + step * case.cvx(X))))
    Q = X.value

    def f(Z):
        return 0.5 * np.sum((Z - V) ** 2) + step * case.value(Z)

    assert_matches_reference(f(P), 0.0, ref, at_reference=f(Q))
    mu = 1.0 + step * case.mu
    slack = rounding(f(P), ref.upper)
    p_rounding = 2 * np.sqrt(min(shape)) * svd_rounding(V)
    bound = np.sqrt(2.0 * max(ref.upper - f(P) + slack, 0.0) / mu) + p_rounding
    assert fro(Q - P) <= bound, (fro(Q - P), bound)


def test_zero_penalty_is_zero():
    """Zero: value 0, the prox is the identity (exactly), the conjugate is the indicator
    of ``{0}``."""
    pen = Zero(xp)
    rng = rng_for("zero")
    V = rng.standard_normal((3, 4))
    assert float(pen.value(V)) == 0.0
    assert np.array_equal(np.asarray(pen.prox(V, 0.7)), V)
    assert float(pen.conjugate(np.zeros((3, 4)))) == 0.0
    assert float(pen.conjugate(V)) == math.inf
    W = np.zeros((3, 4))
    W[1, 2] = 1e-300
    assert float(pen.conjugate(W)) == math.inf


def test_zero_penalty_dual_scale_makes_the_conjugate_finite():
    """(A finding of this file, fixed: Zero.dual_scale returned 1.0 for V != 0.)"""
    pen = Zero(xp)
    V = rng_for("zero-dual-scale").standard_normal((3, 4))
    s = pen.dual_scale(V)
    assert 0.0 <= s <= 1.0 and math.isfinite(float(pen.conjugate(s * V)))
    assert s == 0.0  # the largest s with s V = 0
    assert pen.dual_scale(np.zeros((3, 4))) == 1.0


# =============================================================================================
# Penalties: conjugates
# =============================================================================================

def _conjugate_params(where=lambda row: True):
    """Terms with a conjugate; Zero's (the indicator of {0}) has its own tests."""
    return _params(lambda row: where(row) and row.cls is not Zero, conjugate=True)


@pytest.mark.parametrize("name, shape, ridge", _conjugate_params())
def test_fenchel_young_inequality(name, shape, ridge):
    """``h(W) + h*(s V) >= <W, s V>`` for random pairs, ``s = dual_scale(V)`` (1 for a
    smooth term), at the rounding of the three quantities."""
    case = build(name, shape, ridge)
    term = case.term
    rng = rng_for("fy", name, shape, ridge)
    for _ in range(50):
        W = rng.standard_normal(shape) * rng.uniform(0.01, 3.0)
        V = rng.standard_normal(shape) * rng.uniform(0.01, 3.0)
        if isinstance(term, Penalty):
            s = term.dual_scale(V)
            assert 0.0 <= s <= 1.0
            V = s * V
        hW, hV = float(term.value(W)), float(term.conjugate(V))
        tol = level(shape, case.scale(W) + case.conj_scale(V) + np.sum(np.abs(W * V)))
        assert hW + hV >= np.sum(W * V) - tol, (hW + hV - np.sum(W * V), tol)


@pytest.mark.parametrize("name, shape, ridge", _conjugate_params(_is_penalty))
def test_dual_scale_is_the_largest_feasible_scale(name, shape, ridge):
    """``dual_scale(V)``: the largest ``s`` in [0, 1] with ``h*(s V)`` finite.  A norm
    without ridge: ``h*`` is the indicator of the dual ball of radius ``alpha``, so ``s =
    min(1, alpha / Omega*(V))`` (the textbook dual norm, to its rounding); everything else
    here has a conjugate finite everywhere, so ``s = 1``."""
    case = build(name, shape, ridge)
    pen = case.term
    rng = rng_for("dual-scale", name, shape, ridge)
    for size in (0.01, 0.3, 1.0, 3.0, 30.0):
        V = rng.standard_normal(shape) * size
        s = pen.dual_scale(V)
        if isinstance(pen, NormPenalty) and ridge == 0.0:
            dn = case.dual_norm(V)
            expected = min(1.0, ALPHA / dn)
            assert abs(s - expected) <= level(shape, 1.0), (s, expected)
        else:
            assert s == 1.0
            assert math.isfinite(float(pen.conjugate(V)))


@pytest.mark.parametrize("name, shape, ridge", _conjugate_params(_is_penalty))
def test_fenchel_young_equality_at_the_prox(name, shape, ridge):
    """Moreau: ``G = V - P`` with ``P = prox(V, 1)`` is a subgradient of ``h`` at ``P``,
    so ``h(P) + h*(G) = <P, G>``; ``G`` needs no dual scaling (``dual_scale(G) = 1`` up to
    the rounding of ``G``).  Tolerance: the rounding of the three quantities, plus the
    effect of ``P``'s own rounding ``delta`` on them (slopes of ``h`` and ``h*``, which
    are at most the bound on ``h``'s subgradients, ``||V||`` and ``||P||``)."""
    case = build(name, shape, ridge)
    term = case.term
    rng = rng_for("moreau", name, shape, ridge)
    n = shape[0] * shape[1]
    for _ in range(10):
        V = rng.standard_normal(shape) * rng.uniform(0.1, 3.0)
        P = np.asarray(term.prox(V, 1.0))
        G = V - P
        s = term.dual_scale(G)
        assert s >= 1.0 - level(shape, np.sqrt(n) * fro(V)) / ALPHA
        hP, hG = float(term.value(P)), float(term.conjugate(G))
        delta = 2 * np.sqrt(min(shape)) * svd_rounding(V)
        tol = (level(shape, case.scale(P) + case.conj_scale(G) + np.sum(np.abs(P * G)))
               + delta * (case.slope(fro(V)) + fro(V) + 2 * fro(P)))
        assert abs(hP + hG - np.sum(P * G)) <= tol, (hP + hG - np.sum(P * G), tol)


@pytest.mark.parametrize("name, shape, ridge", _conjugate_params(_is_penalty))
def test_conjugate_matches_cvxpy(name, shape, ridge):
    """``h*(V) = sup_W <V, W> - h(W)``: CVXPY minimizes ``h(W) - <V, W>``, bounded where
    ``ridge > 0``, for the squared trace norms, and for norms with ``V`` strictly inside the
    dual ball (``0.9 dual_scale(V) V``; on its boundary the minimizers form a ray)."""
    case = build(name, shape, ridge)
    term = case.term
    rng = rng_for("conjugate", name, shape, ridge)
    for _ in range(2):
        V = rng.standard_normal(shape) * rng.uniform(0.3, 3.0)
        if isinstance(term, NormPenalty) and ridge == 0.0:
            V = 0.9 * term.dual_scale(V) * V
        X = cp.Variable(shape)
        ref = solve_reference(cp.Problem(cp.Minimize(case.cvx(X) - cp.sum(cp.multiply(V, X)))))
        Xr = X.value
        assert_matches_reference(-float(term.conjugate(V)), 0.0, ref,
                                 at_reference=case.value(Xr) - float(np.sum(V * Xr)))


# =============================================================================================
# Norms: dual norm, alpha_max, feature scores
# =============================================================================================

@pytest.mark.parametrize("name, shape, ridge", _params(_is_norm, ridges=(0.0,)))
def test_dual_norm_matches_cvxpy(name, shape, ridge):
    """``Omega*(V) = max <V, W>`` over ``Omega(W) <= 1``.  With the radius optimized out,
    ``Omega*(V)^2 / 2 = sup_W <V, W> - Omega(W)^2 / 2`` (the conjugate of ``Omega^2 / 2``):
    an unconstrained problem, so CVXPY's re-evaluated value is a true bound
    (:mod:`cvxpy_reference`).  Its maximizer, normalized, is a point of the unit ball
    where ``<V, W>`` reaches the dual norm (Hoelder's equality)."""
    case = build(name, shape, ridge)
    pen = case.term
    rng = rng_for("dual-norm", name, shape)
    for _ in range(2):
        V = rng.standard_normal(shape) * rng.uniform(0.3, 3.0)
        dn = float(pen.dual_norm(V))
        assert abs(dn - case.dual_norm(V)) <= level(shape, np.sqrt(V.size) * fro(V))
        X = cp.Variable(shape)
        ref = solve_reference(cp.Problem(cp.Minimize(0.5 * cp.square(case.cvx_norm(X))
                                                     - cp.sum(cp.multiply(V, X)))))
        Xr = X.value
        assert_matches_reference(-0.5 * dn * dn, 0.0, ref,
                                 at_reference=0.5 * case.norm(Xr) ** 2 - float(np.sum(V * Xr)))
        W = Xr / case.norm(Xr)
        # Hoelder: <V, W> <= Omega(W) Omega*(V) = Omega*(V), at the rounding of the three
        assert float(np.sum(V * W)) <= dn + level(shape, np.sqrt(V.size) * fro(V))
        # and the maximizer attains it, as far as the reference is accurate: the optimum
        # -dn^2/2 is reached at Xr within ref.accuracy, with Omega(Xr) = <V, Xr> = dn^2 at
        # the exact maximizer
        assert float(np.sum(V * W)) >= dn - np.sqrt(2 * (ref.accuracy + rounding(ref.upper)))


@pytest.mark.parametrize("name, shape, ridge", _params(_is_norm))
def test_alpha_max_is_the_zero_threshold(name, shape, ridge):
    """For the quadratic data fit ``F(W) = 1/2 ||W - V||^2``, ``grad F(0) = -V`` and ``W =
    0`` minimizes ``F + alpha Omega + ridge ||.||^2`` iff ``alpha >= Omega*(V)``: the prox
    (step 1) is exactly 0 at ``alpha = (1 + 1e-6) alpha_max(-V)`` and not at ``0.99
    alpha_max(-V)``; ``alpha_max(-V) = Omega*(V)`` (norms are symmetric).  The margins are
    far above the rounding of the thresholds (``n eps`` relative)."""
    case = build(name, shape, ridge)
    rng = rng_for("alpha-max", name, shape, ridge)
    for _ in range(10):
        V = rng.standard_normal(shape) * rng.uniform(0.1, 3.0)
        amax = case.term.alpha_max(-V)
        assert abs(amax - case.dual_norm(V)) <= level(shape, np.sqrt(V.size) * fro(V))
        above = np.asarray(case.rebuild((1 + 1e-6) * amax, ridge).prox(V, 1.0))
        assert np.all(above == 0.0)
        below = np.asarray(case.rebuild(0.99 * amax, ridge).prox(V, 1.0))
        assert np.any(below != 0.0)


@pytest.mark.parametrize("name, shape, ridge", _params(_separable))
def test_feature_scores_decide_the_zero_features(name, shape, ridge):
    """Separable norms: ``Omega*(V) = max_j score_j(V)``, and feature ``j`` of
    ``prox_{alpha Omega + ridge}(V)`` is zero iff ``score_j(V) <= alpha`` (the working-set
    rule), checked with ``alpha`` midway between two consecutive scores."""
    case = build(name, shape, ridge)
    pen = case.term
    rng = rng_for("scores", name, shape, ridge)
    for _ in range(10):
        V = rng.standard_normal(shape) * rng.uniform(0.3, 3.0, size=shape[1])[None, :]
        scores = np.asarray(pen.feature_scores(V))
        tol = level(shape, np.sqrt(V.size) * fro(V))
        np.testing.assert_array_less(np.abs(scores - case.scores(V)), tol + 1e-300)
        assert abs(float(np.max(scores)) - float(pen.dual_norm(V))) <= tol
        ordered = np.sort(case.scores(V))
        if ordered.size < 2 or ordered[-1] - ordered[0] <= 1e-3 * ordered[-1]:
            continue
        i = int(np.argmax(np.diff(ordered)))
        alpha = 0.5 * (ordered[i] + ordered[i + 1])  # a gap >= range / (d - 1): far from both
        P = np.asarray(case.rebuild(alpha, ridge).prox(V, 1.0))
        zero = case.scores(V) <= alpha
        assert np.all(P[:, zero] == 0.0)
        assert np.all(np.any(P[:, ~zero] != 0.0, axis=0))


# =============================================================================================
# Penalties with an auxiliary matrix (alternating minimization)
# =============================================================================================

@pytest.mark.parametrize("name, shape, ridge",
                         _params(lambda row: _is_penalty(row) and row.cls.has_auxiliary))
def test_auxiliary_step_majorizes_the_penalty(name, shape, ridge):
    """``alpha ||W||_*^2 = min_{D > 0, tr D = 1} alpha tr(W_s^T D^-1 W_s)``.  The auxiliary
    step's ``D_eps = R / tr R``, ``R = (W_s W_s^T + eps I)^1/2``, is feasible, so its W-step
    penalty majorizes ``h`` everywhere; at ``W`` itself the W-step penalty plus
    ``perturbation`` is ``alpha (tr R)^2 + ridge ||W||^2 = alpha (sum_i sqrt(sigma_i^2 +
    eps))^2 + ridge ||W||^2`` over all ``m`` directions (``m`` = features, or tasks)."""
    case = build(name, shape, ridge)
    pen = case.term
    rng = rng_for("auxiliary", name, shape, ridge)
    m = shape[0] if case.over_tasks else shape[1]
    for eps in (1e-1, 1e-3):
        W = rng.standard_normal(shape)
        aux = pen.auxiliary_step(W, eps)
        U, lam = (np.asarray(a) for a in aux)
        assert lam.shape == (m,) and np.all(lam > 0)
        assert abs(lam.sum() - 1.0) <= sum_rounding(4 * m, 1.0)
        step_pen = pen.step_penalty(aux)
        assert isinstance(step_pen, Penalty)
        sigma = np.zeros(m)
        s = np.linalg.svd(W, compute_uv=False)
        sigma[:s.size] = s
        expected = ALPHA * np.sum(np.sqrt(sigma**2 + eps)) ** 2 + ridge * np.sum(W**2)
        got = float(step_pen.value(W)) + pen.perturbation(aux, eps)
        # through D^-1: cond(D) eps relative
        cond = lam.max() / lam.min()
        assert abs(got - expected) <= level(shape, cond * expected)
        for _ in range(5):
            W2 = rng.standard_normal(shape) * rng.uniform(0.1, 3.0)
            h2 = case.value(W2)
            assert float(step_pen.value(W2)) >= h2 - level(shape, cond * case.scale(W2))


# =============================================================================================
# Smooth terms
# =============================================================================================

def _smooth_params(conjugate=False):
    return _params(_is_smooth, conjugate=conjugate)


def central_differences(f, x, h):
    """Central differences of ``f`` at ``x`` along every coordinate."""
    out = np.zeros(x.size)
    flat = x.ravel()
    for j in range(x.size):
        e = np.zeros(x.size)
        e[j] = h
        out[j] = (f((flat + e).reshape(x.shape)) - f((flat - e).reshape(x.shape))) / (2 * h)
    return out.reshape(x.shape)


def fd_step_and_tolerance(delta, lipschitz):
    """``h = 2 sqrt(delta / L)`` and the bound ``L h / 4 + delta / h`` on a convex, ``L``-smooth
    ``f`` whose values are exact to ``delta`` (module docstring)."""
    if lipschitz <= 0:
        return 1e-3, 2 * delta / 1e-3  # f is linear: no truncation
    h = 2 * np.sqrt(delta / lipschitz)
    return h, lipschitz * h / 4 + delta / h


@pytest.mark.parametrize("name, shape, ridge", _smooth_params())
def test_smooth_gradient_matches_finite_differences(name, shape, ridge):
    case = build(name, shape, ridge)
    term = case.term
    rng = rng_for("smooth-fd", name, shape, ridge)
    for _ in range(3):
        W = rng.standard_normal(shape) * rng.uniform(0.3, 2.0)
        value, grad = term.value_and_grad(W)
        grad = np.asarray(grad)
        assert grad.shape == W.shape
        radius = fro(W) + 1.0
        delta = level(shape, case.scale(np.full(shape, radius / np.sqrt(W.size))))
        h, tol = fd_step_and_tolerance(delta, case.lipschitz)
        assert h <= 1.0  # the differences' points lie within the radius
        fd = central_differences(lambda Z: float(term.value(Z)), W, h)
        err = np.max(np.abs(fd - grad))
        assert err <= tol + case.grad_rounding(W), (err, tol, case.grad_rounding(W))
        # and the gradient of the independent formula (Danskin's, for cASO), at both roundings
        assert np.max(np.abs(case.grad(W) - grad)) <= 2 * case.grad_rounding(W)


@pytest.mark.parametrize("name, shape, ridge", _smooth_params())
def test_smooth_lipschitz_is_an_upper_bound(name, shape, ridge):
    """``||grad g(A) - grad g(B)|| <= lipschitz() ||A - B||`` on random pairs, on pairs a
    small step apart, and ``lipschitz()`` is at least the constant from the math where
    that constant is attained (the graph term, a quadratic: along the top eigenvector of
    ``L``)."""
    case = build(name, shape, ridge)
    term = case.term
    L = float(term.lipschitz())
    rng = rng_for("smooth-lipschitz", name, shape, ridge)
    pairs = []
    for _ in range(30):
        A = rng.standard_normal(shape) * rng.uniform(0.1, 3.0)
        B = A + rng.standard_normal(shape) * rng.choice([1e-3, 0.1, 3.0])
        pairs.append((A, B))
    if isinstance(term, GraphQuadratic) and shape[0] > 1:
        lam, U = np.linalg.eigh(_dense_laplacian(term))
        A = rng.standard_normal(shape)
        pairs.append((A, A + np.outer(U[:, -1], rng.standard_normal(shape[1]))))
        assert L >= case.lipschitz - level(shape, case.lipschitz)
    for A, B in pairs:
        gA, gB = (np.asarray(term.value_and_grad(Z)[1]) for Z in (A, B))
        tol = np.sqrt(A.size) * (case.grad_rounding(A) + case.grad_rounding(B))
        assert fro(gA - gB) <= L * fro(A - B) + tol, (fro(gA - gB) / fro(A - B), L)


@pytest.mark.parametrize("name, shape, ridge", _smooth_params(conjugate=True))
def test_smooth_conjugate_matches_numerical_sup(name, shape, ridge):
    """``g*(V) = sup_W <V, W> - g(W)``: CVXPY where ``g`` is expressible (the graph term),
    else Ky Fan's closed form (``ridge = 0``) or L-BFGS on the ``2 ridge``-strongly concave
    objective with its gradient bound (module docstring)."""
    case = build(name, shape, ridge)
    term = case.term
    rng = rng_for("smooth-conjugate", name, shape, ridge)
    for _ in range(2):
        V = rng.standard_normal(shape) * rng.uniform(0.3, 3.0)
        got = float(term.conjugate(V))
        if case.cvx is not None:
            X = cp.Variable(shape)
            ref = solve_reference(cp.Problem(cp.Minimize(case.cvx(X)
                                                         - cp.sum(cp.multiply(V, X)))))
            Xr = X.value
            assert_matches_reference(-got, 0.0, ref,
                                     at_reference=case.value(Xr) - float(np.sum(V * Xr)))
        else:
            lower, upper = case.conjugate_bounds(V)
            tol = level(shape, case.conj_scale(V))
            assert lower - tol <= got <= upper + tol, (lower, got, upper, tol)


@pytest.mark.parametrize("name, shape, ridge", _smooth_params(conjugate=True))
def test_smooth_fenchel_young_equality_at_the_gradient(name, shape, ridge):
    """``g(W) + g*(grad g(W)) = <W, grad g(W)>``.  The computed gradient is ``G + d`` with
    ``||d||`` within its rounding bound, and ``e = g*(G + d) - g*(G) - <W, d>`` is at least
    0 (``W`` is a subgradient of ``g*`` at ``G``).  Above: ``g*(V) <= a ||V||^2``
    (``conj_scale``) bounds the subgradients of the convex ``g*`` near ``G`` by ``4 a (||G||
    + ||d||)``, so ``e <= (4 a (||G|| + ||d||) + ||W||) ||d||``; and ``e <= ||d||^2 / (2
    mu)`` when ``g`` is ``mu``-strongly convex (``g*`` is then ``1 / mu``-smooth).  cASO
    without ridge is not strongly convex: water-filling gives every rising direction the
    same ``sigma_i / (eta + m_i)``, ties at which ``g*`` (Ky Fan) is not differentiable."""
    case = build(name, shape, ridge)
    term = case.term
    rng = rng_for("smooth-moreau", name, shape, ridge)
    for _ in range(5):
        W = rng.standard_normal(shape) * rng.uniform(0.3, 2.0)
        value, G = term.value_and_grad(W)
        G = np.asarray(G)
        gap = float(value) + float(term.conjugate(G)) - float(np.sum(W * G))
        d = np.sqrt(W.size) * case.grad_rounding(W)
        a = case.conj_scale(np.ones(1))  # g*(V) <= a ||V||^2
        excess = (4 * a * (fro(G) + d) + fro(W)) * d
        if case.mu > 0:
            excess = min(excess, d * d / (2 * case.mu))
        tol = level(shape, case.scale(W) + case.conj_scale(G) + np.sum(np.abs(W * G)))
        assert -tol <= gap <= tol + excess, (gap, tol, excess)


@pytest.mark.parametrize("name, shape, ridge", _smooth_params())
def test_two_homogeneous_as_declared(name, shape, ridge):
    """``is_two_homogeneous``: ``g(t W) = t^2 g(W)`` for ``t >= 0``, from the independent
    values, and Euler's ``<W, grad g(W)> = 2 g(W)`` from mtlreg's gradient (each to the
    rounding of its two sides).  The route of the certified gap under a non-zero
    prox penalty rests on both (``SmoothlyPenalizedDataFit``, route "homogeneous").
    Every smooth term here declares it (the graph quadratic; cASO and clustering are
    minima over a fixed set of ``M`` of quadratic forms), so there is no
    counter-example branch; a wrong declaration fails the first assertion."""
    case = build(name, shape, ridge)
    term = case.term
    assert term.is_two_homogeneous
    rng = rng_for("two-homogeneous", name, shape, ridge)
    for _ in range(10):
        W = rng.standard_normal(shape) * rng.uniform(0.3, 2.0)
        g = case.value(W)
        for t in (0.0, 0.5, 3.0):
            gt = case.value(t * W)
            assert abs(gt - t * t * g) <= level(shape, case.scale(t * W) + t * t * case.scale(W))
        value, G = term.value_and_grad(W)
        euler = float(np.sum(W * np.asarray(G)))
        tol = level(shape, case.scale(W)) + np.sqrt(W.size) * fro(W) * case.grad_rounding(W)
        assert abs(euler - 2 * float(value)) <= tol + level(shape, np.sum(np.abs(W * G)))


# =============================================================================================
# The table of data fits
# =============================================================================================

def _layout(kind, logistic, rng):
    """``(X, y or Y, task_index or None, Xs, ys)``: the arrays for ``build_task_data`` and
    the per-task arrays for the references.  ``long``: unequal tasks (chunked rows, one task
    spread over several); ``shared``: one design, a 2-D ``Y``; ``single``: one task."""
    sizes, d = {"long": ((3, 20, 4), 4), "shared": ((9, 9), 5), "single": ((5,), 3)}[kind]
    if kind == "shared":
        X = rng.standard_normal((sizes[0], d)) + 0.5
        Xs = [X] * len(sizes)
    else:
        Xs = [rng.standard_normal((n, d)) + 0.5 for n in sizes]
        X = np.concatenate(Xs)
    W = rng.standard_normal((len(sizes), d))
    ys = []
    for t, Xt in enumerate(Xs):
        z = Xt @ W[t] + 0.5 * rng.standard_normal(len(Xt)) + 0.7 * t
        if logistic:
            y = np.where(z > np.median(z), 1.0, -1.0)
            y[0], y[1] = 1.0, -1.0  # both classes in every task
        else:
            y = z
        ys.append(y)
    if kind == "shared":
        return X, np.stack(ys, axis=1), None, Xs, ys
    index = np.concatenate([np.full(n, t) for t, n in enumerate(sizes)])
    return X, np.concatenate(ys), index, Xs, ys


@dataclass
class FitCase:
    """A data fit with the per-task arrays it sees (``Xs`` centred where it centres)."""

    fit: BaseDataFit
    Xs: list
    ys: list
    c: np.ndarray
    loss: str                     #: "squared" or "logistic"
    intercept: bool               #: whether ``b`` is a variable of the fit
    n_parts: int = 1
    smooth: Optional[Case] = None
    s: float = 1.0                #: the solver's intercept variable is ``b / s``
    shape: tuple = field(init=False)

    def __post_init__(self):
        self.shape = (len(self.Xs), self.Xs[0].shape[1])

    # -- the objective, from the data --------------------------------------------------
    def coef_of(self, stacked):
        T = self.shape[0]
        return stacked.reshape(self.n_parts, T, -1).sum(axis=0)

    def value(self, stacked, b):
        W = self.coef_of(stacked)
        total = 0.0
        for t, (X, y) in enumerate(zip(self.Xs, self.ys)):
            z = X @ W[t] + (self.s * b[t] if self.intercept else 0.0)
            if self.loss == "squared":
                total += self.c[t] * 0.5 * np.sum((y - z) ** 2)
            else:
                total += self.c[t] * np.sum(np.logaddexp(0.0, -y * z))
        if self.smooth is not None:
            total += self.smooth.value(W)
        return total

    def grad(self, stacked, b):
        """``(grad_coef, grad_b)`` of :meth:`value`, from the data."""
        W = self.coef_of(stacked)
        G = np.zeros(self.shape)
        gb = np.zeros(self.shape[0])
        for t, (X, y) in enumerate(zip(self.Xs, self.ys)):
            z = X @ W[t] + (self.s * b[t] if self.intercept else 0.0)
            r = z - y if self.loss == "squared" else -y * scipy.special.expit(-y * z)
            G[t] = self.c[t] * X.T @ r
            gb[t] = self.s * self.c[t] * np.sum(r)
        if self.smooth is not None:
            G = G + self.smooth.grad(W)
        return np.concatenate([G] * self.n_parts), (gb if self.intercept else None)

    def lipschitz(self):
        """``curvature max_t c_t lambda_max(A_t^T A_t)`` (``A_t = [X_t, 1]`` with an intercept),
        times the number of parts (each moves the sum), plus the smooth term's."""
        curvature = 1.0 if self.loss == "squared" else 0.25
        top = 0.0
        for X, c in zip(self.Xs, self.c):
            A = np.hstack([X, np.full((len(X), 1), self.s)]) if self.intercept else X
            top = max(top, c * np.linalg.norm(A, 2) ** 2)
        L = self.n_parts * curvature * top
        return L + (self.smooth.lipschitz if self.smooth is not None else 0.0)

    def worst_direction(self):
        """A direction of ``(coef, b)`` along which the data part's curvature is ``L``
        (squared loss without intercept): every part moves along the top eigenvector of
        the task attaining the maximum."""
        tops = [c * np.linalg.norm(X, 2) ** 2 for X, c in zip(self.Xs, self.c)]
        t = int(np.argmax(tops))
        v = np.linalg.svd(self.Xs[t])[2][0]
        D = np.zeros(self.shape)
        D[t] = v
        return np.concatenate([D] * self.n_parts)

    # -- rounding ---------------------------------------------------------------------
    def n_terms(self):
        """Sums of ``n_t`` per-sample terms, each from a ``d``-term product, or the Gram
        form's ``d^2``-term quadratic of ``n_t``-term Gram entries; a few further
        operations per term (exp, log1p, the sigmoid)."""
        n, d = max(len(X) for X in self.Xs), self.shape[1]
        return 2 * (n + d * d) + 16

    def _magnitudes(self, stacked, b):
        """Per task, per sample: a bound on ``|z|`` (``|x| |w| + |b|``, with ``|w|`` the sum
        of the parts' magnitudes)."""
        T = self.shape[0]
        Wabs = np.abs(stacked).reshape(self.n_parts, T, -1).sum(axis=0)
        return [np.abs(X) @ Wabs[t] + (self.s * abs(b[t]) if self.intercept else 0.0)
                for t, X in enumerate(self.Xs)]

    def value_rounding(self, stacked, b):
        zs = self._magnitudes(stacked, b)
        size = 0.0
        for t, (z, y) in enumerate(zip(zs, self.ys)):
            if self.loss == "squared":
                size += self.c[t] * np.sum((np.abs(y) + z) ** 2)
            else:
                size += self.c[t] * np.sum(z + 1.0)  # log(1 + exp(m)) <= |m| + log 2
        out = sum_rounding(self.n_terms(), size)
        if self.smooth is not None:
            out += level(self.shape, self.smooth.scale(self.coef_of(np.abs(stacked))))
        return out

    def grad_rounding(self, stacked, b):
        """Bound on the largest entry's rounding of the gradient (``c_t X_t^T r_t``)."""
        zs = self._magnitudes(stacked, b)
        top = 0.0
        for t, (X, z, y) in enumerate(zip(self.Xs, zs, self.ys)):
            r = np.abs(y) + z if self.loss == "squared" else np.ones(len(y))
            mags = self.c[t] * np.abs(X).T @ r
            top = max(top, float(mags.max()), self.c[t] * float(np.sum(r)))
        out = sum_rounding(self.n_terms(), top)
        if self.smooth is not None:
            out += self.smooth.grad_rounding(self.coef_of(stacked))
        return out

    def dual_magnitude(self, stacked, b):
        """Entrywise bound on the data part's dual point ``V = X^T theta`` (``|theta_i| <=
        c |residual|`` for the squared loss, ``c`` for the logistic loss), ``(T, d)``."""
        zs = self._magnitudes(stacked, b)
        out = np.zeros(self.shape)
        for t, (X, z, y) in enumerate(zip(self.Xs, zs, self.ys)):
            r = np.abs(y) + z if self.loss == "squared" else np.ones(len(y))
            out[t] = self.c[t] * np.abs(X).T @ r
        return out

    def smooth_fy_rounding(self, stacked, b):
        """Rounding of the smooth term's Fenchel-Young term ``g(W) + g*(-s V) + s <W, V>``
        (``V`` the data part's dual point, which the fit hands to ``g``)."""
        W = self.coef_of(stacked)
        Vmag = self.dual_magnitude(stacked, b)
        return level(self.shape, self.smooth.scale(W) + self.smooth.conj_scale(Vmag)
                     + np.sum(np.abs(W) * Vmag))

    def random_point(self, rng, size=1.0):
        T, d = self.shape
        coef = rng.standard_normal((self.n_parts * T, d)) * size
        b = rng.standard_normal(T) * size if self.intercept else None
        return coef, b


def _datafit_case(kind, loss, *, centre, gram=False, parts=1, smooth=None, scaling="mean",
                  prox_is_zero=True, feature_scale=1.0):
    """Builds as :func:`mtlreg.problem.prepare` does: the squared loss's intercept is
    eliminated by centring (``fit_intercept=False`` in the fit); the logistic loss keeps
    its intercept as a variable (``center(center_y=False)``)."""
    logistic = loss == "logistic"

    def make(rng):
        X, y, index, Xs, ys = _layout(kind, logistic, rng)
        X, Xs = X * feature_scale, [Xt * feature_scale for Xt in Xs]
        T = len(Xs)
        data = build_task_data(xp, X, y, index, T if index is not None else None,
                               loss_scaling=scaling)
        if centre:
            data.center(center_y=not logistic)
            Xs = [Xt - Xt.mean(axis=0) for Xt in Xs]
            if not logistic:
                ys = [yt - yt.mean() for yt in ys]
        if gram:
            data.compute_gram()
        loss_obj = LogisticLoss() if logistic else SquaredLoss()
        intercept = logistic and centre
        fit = make_datafit(loss_obj, data, intercept, gram)
        c = np.array([1.0 / len(Xt) if scaling == "mean" else 1.0 for Xt in Xs])
        smooth_case = None
        if parts > 1:
            fit = SumOfParts(fit, parts)
        if smooth is not None:
            name, ridge = smooth
            smooth_case = build(name, (T, Xs[0].shape[1]), ridge)
            fit = SmoothlyPenalizedDataFit(fit, smooth_case.term, prox_is_zero=prox_is_zero)
        scale = getattr(fit, "intercept_scale", getattr(getattr(fit, "inner", None),
                                                         "intercept_scale", 1.0))
        return FitCase(fit, Xs, ys, c, loss, intercept, parts, smooth_case, scale)

    return make


DATAFITS = {
    "DataFit[squared, centred]": _datafit_case("long", "squared", centre=True),
    "DataFit[squared, no intercept]": _datafit_case("long", "squared", centre=False),
    "DataFit[squared, shared]": _datafit_case("shared", "squared", centre=True),
    "DataFit[logistic, intercept]": _datafit_case("long", "logistic", centre=True),
    "DataFit[logistic, no intercept]": _datafit_case("long", "logistic", centre=False),
    "DataFit[logistic, shared]": _datafit_case("shared", "logistic", centre=True),
    "DataFit[squared, one task]": _datafit_case("single", "squared", centre=True),
    "DataFit[logistic, intercept, sum]": _datafit_case("long", "logistic", centre=True,
                                                       scaling="sum"),
    # features at 1e-3: the solver's intercept variable is b / s with s = 2^-10
    "DataFit[logistic, intercept, small features]": _datafit_case(
        "long", "logistic", centre=True, feature_scale=1e-3),
    "DataFit[logistic, intercept, shared, large features]": _datafit_case(
        "shared", "logistic", centre=True, feature_scale=1e3),
    "GramDataFit[centred]": _datafit_case("long", "squared", centre=True, gram=True),
    "GramDataFit[no intercept]": _datafit_case("long", "squared", centre=False, gram=True),
    "GramDataFit[shared]": _datafit_case("shared", "squared", centre=True, gram=True),
    "GramDataFit[sum]": _datafit_case("long", "squared", centre=True, gram=True, scaling="sum"),
    "SmoothlyPenalizedDataFit[graph]": _datafit_case("long", "squared", centre=True,
                                                     smooth=("GraphQuadratic", RIDGE)),
    "SmoothlyPenalizedDataFit[aso, gram]": _datafit_case("long", "squared", centre=True,
                                                         gram=True, smooth=("ASOPenalty", RIDGE)),
    "SmoothlyPenalizedDataFit[aso, no ridge]": _datafit_case("shared", "squared", centre=True,
                                                             smooth=("ASOPenalty", 0.0)),
    "SmoothlyPenalizedDataFit[clustered, logistic]": _datafit_case(
        "long", "logistic", centre=True, smooth=("ClusteredPenalty", RIDGE)),
    # the graph quadratic without ridge: the dual point moved into the Laplacian's range
    "SmoothlyPenalizedDataFit[graph, range, squared]": _datafit_case(
        "long", "squared", centre=True, smooth=("GraphQuadratic", 0.0)),
    "SmoothlyPenalizedDataFit[graph, range, logistic]": _datafit_case(
        "long", "logistic", centre=True, smooth=("GraphQuadratic", 0.0)),
    "SmoothlyPenalizedDataFit[sparse graph]": _datafit_case(
        "long", "squared", centre=True, smooth=("GraphQuadratic[sparse]", RIDGE)),
    "SmoothlyPenalizedDataFit[sparse graph, range, logistic]": _datafit_case(
        "long", "logistic", centre=True, smooth=("GraphQuadratic[sparse]", 0.0)),
    "SmoothlyPenalizedDataFit[complete graph, range, squared]": _datafit_case(
        "long", "squared", centre=True, smooth=("GraphQuadratic[complete]", 0.0)),
    "SmoothlyPenalizedDataFit[graph, range, logistic, shared]": _datafit_case(
        "shared", "logistic", centre=True, smooth=("GraphQuadratic", 0.0)),
    "SmoothlyPenalizedDataFit[graph, range, logistic, no intercept]": _datafit_case(
        "long", "logistic", centre=False, smooth=("GraphQuadratic", 0.0)),
    # under a non-zero prox penalty: the quadratic read as a squared loss of W
    "SmoothlyPenalizedDataFit[graph, homogeneous, squared]": _datafit_case(
        "long", "squared", centre=True, smooth=("GraphQuadratic", 0.0), prox_is_zero=False),
    "SmoothlyPenalizedDataFit[clustered, homogeneous, logistic]": _datafit_case(
        "long", "logistic", centre=True, smooth=("ClusteredPenalty", RIDGE),
        prox_is_zero=False),
    "SumOfParts[squared]": _datafit_case("long", "squared", centre=True, parts=2),
    "SumOfParts[gram]": _datafit_case("shared", "squared", centre=True, gram=True, parts=3),
    "SumOfParts[logistic, intercept]": _datafit_case("long", "logistic", centre=True,
                                                     parts=2),
}


def fit_case(name):
    return DATAFITS[name](rng_for("datafit", name))


def _fit_names(where=lambda case: True):
    return [name for name in DATAFITS if where(fit_case(name))]


def test_datafit_table_covers_every_data_fit():
    exported = _exported(losses_module, BaseDataFit) | {SumOfParts}
    covered = {type(fit_case(name).fit) for name in DATAFITS}
    missing = sorted(c.__name__ for c in exported - covered)
    assert not missing, (f"{missing} have no row in tests/test_contracts.py::DATAFITS: add a "
                         f"row (how to build it, the per-task arrays it sees)")
    extra = sorted(c.__name__ for c in covered - exported)
    assert not extra, f"DATAFITS has rows for {extra}, which are not exported data fits"


# =============================================================================================
# Data fits
# =============================================================================================

@pytest.mark.parametrize("name", list(DATAFITS))
def test_datafit_value_and_grad(name):
    """``value`` equals ``value_and_grad``'s value and the objective computed here from the
    data; the gradient (coefficients and intercepts) equals the one computed here and
    matches central differences (tolerance from the math's Lipschitz constant, module
    docstring)."""
    case = fit_case(name)
    fit = case.fit
    rng = rng_for("datafit-fd", name)
    L = case.lipschitz()
    for size in (0.3, 1.0):
        coef, b = case.random_point(rng, size)
        state = fit.state(coef, b)
        value = float(fit.value(coef, b, state))
        f, g, gb = fit.value_and_grad(coef, b, state)
        delta = case.value_rounding(coef, b)
        assert abs(float(f) - value) <= 2 * delta
        assert abs(value - case.value(coef, b)) <= 2 * delta, (value, case.value(coef, b), delta)
        g = np.asarray(g)
        assert g.shape == coef.shape
        assert (gb is None) == (not case.intercept)
        # against the gradient written here from the data, at both roundings
        g_ref, gb_ref = case.grad(coef, b)
        assert np.max(np.abs(g - g_ref)) <= 2 * case.grad_rounding(coef, b)
        if case.intercept:
            assert np.max(np.abs(np.asarray(gb) - gb_ref)) <= 2 * case.grad_rounding(coef, b)
        # every value on the differences' segments: magnitudes at |coef| + 1, |b| + 1 (h <= 1)
        h, tol = fd_step_and_tolerance(case.value_rounding(np.abs(coef) + 1.0,
                                                           None if b is None else
                                                           np.abs(b) + 1.0), L)
        assert h <= 1.0
        tol += case.grad_rounding(coef, b)

        def F(c_, b_):
            return float(fit.value(c_, b_, fit.state(c_, b_)))

        fd = central_differences(lambda Z: F(Z, b), coef, h)
        assert np.max(np.abs(fd - g)) <= tol, (np.max(np.abs(fd - g)), tol)
        if case.intercept:
            fdb = central_differences(lambda z: F(coef, z), b, h)
            assert np.max(np.abs(fdb - np.asarray(gb))) <= tol


@pytest.mark.parametrize("name", list(DATAFITS))
def test_datafit_state_is_linear(name):
    """The cached state is linear in ``(W, b)`` (the solver extrapolates it): ``state(a A +
    c B) = a state(A) + c state(B)``, to the rounding of ``d``-term products (``n_t``-term
    Gram entries) of data of norm ``||X||_F``."""
    case = fit_case(name)
    fit = case.fit
    rng = rng_for("datafit-state", name)
    A, a = case.random_point(rng)
    B, bb = case.random_point(rng)
    s, t = 0.7, -1.9
    mix_b = None if a is None else s * a + t * bb
    lhs = np.asarray(fit.state(s * A + t * B, mix_b))
    rhs = s * np.asarray(fit.state(A, a)) + t * np.asarray(fit.state(B, bb))
    x_norm = np.sqrt(sum(np.sum(X**2) for X in case.Xs))
    size = (1 + x_norm) ** 2 * (abs(s) + abs(t)) * (fro(A) + fro(B) + (0 if a is None else
                                                                       fro(a) + fro(bb)))
    assert fro(lhs - rhs) <= sum_rounding(case.n_terms(), size)


@pytest.mark.parametrize("name", list(DATAFITS))
def test_datafit_lipschitz(name):
    """Declared exact (``lipschitz_is_exact``): an upper bound on ``||grad F(A) - grad F(B)||
    / ||A - B||`` over random pairs and the data's worst direction, and at least the
    constant computed here.  A power-iteration estimate (the docstring: the solver's
    backtracking corrects an underestimate) is only bounded above: ``||A v|| <= ||A||``
    for a unit ``v``, so it never exceeds the exact constant; the pairs are then checked
    against that exact constant."""
    case = fit_case(name)
    fit = case.fit
    L_exact = case.lipschitz()
    L = float(fit.lipschitz())
    assert L > 0
    tol_L = level(case.shape, L_exact) + sum_rounding(case.n_terms(), L_exact)
    # a smooth term's constant may be a bound above its exact one (the sparse graph form's)
    excess = float(case.smooth.term.lipschitz()) - case.smooth.lipschitz if case.smooth else 0.0
    assert excess >= -tol_L
    if fit.lipschitz_is_exact:
        assert L >= L_exact - tol_L, (L, L_exact)
        bound = L
    else:
        assert L <= L_exact + max(excess, 0.0) + tol_L, (L, L_exact)
        bound = L_exact
    rng = rng_for("datafit-lipschitz", name)
    pairs = []
    for _ in range(10):
        A, a = case.random_point(rng)
        D, db = case.random_point(rng, rng.choice([1e-2, 1.0]))
        pairs.append(((A, a), (A + D, None if a is None else a + db)))
    if case.loss == "squared" and not case.intercept:
        A, a = case.random_point(rng)
        pairs.append(((A, a), (A + case.worst_direction(), a)))
    for (A, a), (B, bb) in pairs:
        _, gA, gbA = fit.value_and_grad(A, a, fit.state(A, a))
        _, gB, gbB = fit.value_and_grad(B, bb, fit.state(B, bb))
        diff = np.sum((np.asarray(gA) - np.asarray(gB)) ** 2)
        dist = np.sum((A - B) ** 2)
        if a is not None:
            diff += np.sum((np.asarray(gbA) - np.asarray(gbB)) ** 2)
            dist += np.sum((a - bb) ** 2)
        n_entries = A.size + (0 if a is None else a.size)
        tol = np.sqrt(n_entries) * (case.grad_rounding(A, a) + case.grad_rounding(B, bb))
        assert np.sqrt(diff) <= bound * np.sqrt(dist) + tol, (np.sqrt(diff / dist), bound)


@pytest.mark.parametrize("name", _fit_names(lambda case: case.fit.has_dual))
def test_datafit_dual_fenchel_young_is_nonnegative(name):
    """``dual()``'s Fenchel-Young term ``F(Z) + F*(s theta) - s <Z, theta>`` (plus the
    smooth term's, for a smoothly penalized fit) is non-negative for ``s`` in [0, 1]."""
    case = fit_case(name)
    fit = case.fit
    rng = rng_for("datafit-dual", name)
    for size in (0.1, 1.0, 3.0):
        coef, b = case.random_point(rng, size)
        V, fenchel_young = fit.dual(coef, b, fit.state(coef, b))
        assert np.asarray(V).shape == coef.shape
        tol = case.value_rounding(coef, b)
        if case.smooth is not None:
            tol += case.smooth_fy_rounding(coef, b)
        for s in np.linspace(0.0, 1.0, 5):
            assert fenchel_young(s) >= -tol, (s, fenchel_young(s), tol)


def _least_squares(case):
    """``W*`` of the unpenalized fit, task by task (``lstsq``), and ``r``: a bound on
    ``||grad F(W*)||`` from ``lstsq``'s backward stability (exact for data within ``16 (n +
    d) eps`` relative: the gradient is then off by that times ``||X|| (||X|| ||w|| + ||y||)``)."""
    T, d = case.shape
    W = np.zeros((T, d))
    r = 0.0
    for t, (X, y) in enumerate(zip(case.Xs, case.ys)):
        W[t] = np.linalg.lstsq(X, y, rcond=None)[0]
        nx = np.linalg.norm(X, 2)
        r += (case.c[t] * sum_rounding(16 * (len(y) + d),
                                       nx * (nx * np.linalg.norm(W[t]) + np.linalg.norm(y)))) ** 2
    return W, np.sqrt(r)


def _graph_optimum(case):
    """``W*`` of ``F + g`` for the graph term ``alpha tr(W L W^T) + ridge ||W||^2``: the
    linear system ``c_t X_t^T (X_t w_t - y_t) + 2 ((alpha L + ridge I) coef)_t = 0``."""
    T, d = case.shape
    Q = _dense_laplacian(case.smooth.term) * ALPHA + case.smooth.term.ridge * np.eye(T)
    H = np.zeros((T * d, T * d))
    rhs = np.zeros(T * d)
    for t, (X, y) in enumerate(zip(case.Xs, case.ys)):
        H[t * d:(t + 1) * d, t * d:(t + 1) * d] += case.c[t] * X.T @ X
        rhs[t * d:(t + 1) * d] = case.c[t] * X.T @ y
    H += 2 * np.kron(Q, np.eye(d))
    return np.linalg.solve(H, rhs).reshape(T, d), H


@pytest.mark.parametrize("name", _fit_names(
    lambda case: case.fit.has_dual and case.loss == "squared"
    and (case.smooth is None or (isinstance(case.smooth.term, GraphQuadratic)
                                 and case.fit.route in ("conjugate", "range")))))
def test_datafit_dual_gap_vanishes_at_the_least_squares_optimum(name):
    """At the optimum ``W*`` of the unpenalized least-squares fit (``lstsq``; the parts
    split it), the dual point ``V = X^T theta = grad F(W*)`` is 0, so the zero penalty's
    conjugate is finite there and the gap ``fy(1) + <W*, V>`` is 0.  With the graph term,
    ``W*`` solves a linear system and the whole dual point goes to ``g``: the gap
    ``fy(1) = [loss FY] + g(W) + g*(-V) + <W, V>`` with ``-V = grad g(W*) + delta``,
    ``delta = -grad (F + g)(W*)`` measured here, is at most ``||delta||^2 / (2 mu)``
    (``g*`` is ``1 / mu``-smooth, ``mu = 2 ridge``) and at least 0 (two Fenchel-Young
    terms).
    Without ridge (route "range", the residuals' dual point moved into the range of
    ``L``): ``N^T V = -N^T delta`` (``N^T L = 0``), so the move costs at most
    ``||delta||^2 / (2 lambda_min(B))`` (``B = sum_t N_t^2 c_t X_t^T X_t``, ``N`` the
    orthonormal null vector of the complete graph's ``L``), and ``g*`` on the range is
    ``1 / mu``-smooth with ``mu = 2 alpha lambda_min^+(L)``."""
    case = fit_case(name)
    fit = case.fit
    if case.smooth is None:
        W, r = _least_squares(case)
        parts = np.concatenate([W * (i + 1) / sum(range(1, case.n_parts + 1))
                                for i in range(case.n_parts)])
        V, fy = fit.dual(parts, None, fit.state(parts, None))
        V = np.asarray(V)
        tol_V = r + case.grad_rounding(parts, None)
        assert np.max(np.abs(V)) <= tol_V, (np.max(np.abs(V)), tol_V)
        gap = fy(1.0) + float(np.sum(parts * V))
        assert abs(gap) <= case.value_rounding(parts, None) + fro(parts) * tol_V * np.sqrt(V.size)
        return
    W, H = _graph_optimum(case)
    V, fy = fit.dual(W, None, fit.state(W, None))
    assert np.all(np.asarray(V) == 0.0)  # the whole dual point goes to the smooth term
    # the optimality residual, computed here, plus its rounding (products with H)
    T, d = case.shape
    rhs = np.concatenate([case.c[t] * X.T @ y for t, (X, y) in enumerate(zip(case.Xs, case.ys))])
    resid = H @ W.ravel() - rhs
    delta = fro(resid) + sum_rounding(case.n_terms() + T * d,
                                      fro(np.abs(H) @ np.abs(W.ravel())) + fro(rhs))
    ridge = case.smooth.term.ridge
    L = _dense_laplacian(case.smooth.term)
    lam = np.linalg.eigvalsh(L)
    mu = 2 * ridge if ridge else 2 * ALPHA * lam[1]  # the complete graph: one null vector
    tol = case.value_rounding(W, None) + case.smooth_fy_rounding(W, None)
    # mtlreg's V is the data part's gradient to its rounding e: -V = grad g(W*) + delta + e
    e = np.sqrt(W.size) * case.grad_rounding(W, None)
    bound = (delta + e) ** 2 / (2 * mu)
    if not ridge:
        B = sum(c * X.T @ X for c, X in zip(case.c, case.Xs)) / T
        bound += (delta + e) ** 2 / (2 * np.linalg.eigvalsh(B)[0])
    gap = fy(1.0)
    assert -tol <= gap <= tol + bound, (gap, tol, bound)


def _theta_is_the_gradient(case):
    """Fits whose dual point needs no correction: ``theta = grad loss(Z)`` (the squared
    loss's intercept is eliminated by centring, or absent; no intercept for the
    logistic loss), so ``V = X^T theta = grad_W F`` (tiled over the parts) and the loss's
    Fenchel-Young term is 0 at ``s = 1`` (equality at the gradient)."""
    return case.fit.has_dual and case.smooth is None and not case.intercept


@pytest.mark.parametrize("name", _fit_names(_theta_is_the_gradient))
def test_dual_point_is_the_gradient(name):
    case = fit_case(name)
    fit = case.fit
    rng = rng_for("dual-gradient", name)
    for size in (0.3, 2.0):
        coef, b = case.random_point(rng, size)
        state = fit.state(coef, b)
        V, fy = fit.dual(coef, b, state)
        _, g, _ = fit.value_and_grad(coef, b, state)
        assert np.max(np.abs(np.asarray(V) - np.asarray(g))) <= 2 * case.grad_rounding(coef, b)
        assert abs(fy(1.0)) <= case.value_rounding(coef, b), fy(1.0)


@pytest.mark.parametrize("name", _fit_names(lambda case: case.fit.has_dual and case.intercept
                                            and case.smooth is None))
def test_logistic_dual_point_at_the_optimal_intercepts(name):
    """With a free intercept, ``theta`` must sum to zero in every task; at ``W = 0`` with
    the optimal intercepts ``b_t = log(p_t / (1 - p_t))`` (``p_t`` the share of
    positives) the gradient ``theta = grad loss(Z)`` already does, and the loss's
    Fenchel-Young term is 0 at ``s = 1``."""
    case = fit_case(name)
    fit = case.fit
    p = np.array([np.mean(y > 0) for y in case.ys])
    coef = np.zeros((case.n_parts * case.shape[0], case.shape[1]))
    b = np.log(p / (1 - p)) / case.s  # the solver's intercept variable
    V, fy = fit.dual(coef, b, fit.state(coef, b))
    assert abs(fy(1.0)) <= case.value_rounding(coef, b), fy(1.0)
    assert np.max(np.abs(np.asarray(V) - case.grad(coef, b)[0])) <= 2 * case.grad_rounding(
        coef, b)


def _minimize(case, ridge):
    """A point ``x`` of ``P = F (+ g) + ridge ||coef||^2`` by L-BFGS (the data's own
    objective and gradient): ``P* <= P(x)`` whatever its accuracy."""
    n_coef = case.n_parts * case.shape[0] * case.shape[1]

    def unpack(x):
        coef = x[:n_coef].reshape(case.n_parts * case.shape[0], case.shape[1])
        return coef, (x[n_coef:] if case.intercept else None)

    def P(x):
        coef, b = unpack(x)
        g, gb = case.grad(coef, b)
        value = case.value(coef, b) + ridge * np.sum(coef**2)
        grad = (g + 2 * ridge * coef).ravel()
        return value, (np.concatenate([grad, gb]) if case.intercept else grad)

    x0 = np.zeros(n_coef + (case.shape[0] if case.intercept else 0))
    res = scipy.optimize.minimize(P, x0, jac=True, method="L-BFGS-B",
                                  options=dict(ftol=1e-16, gtol=1e-12, maxiter=10000))
    return unpack(res.x), (lambda coef, b: case.value(coef, b) + ridge * np.sum(coef**2))


@pytest.mark.parametrize("name", _fit_names(lambda case: case.fit.has_dual))
def test_datafit_dual_certifies_the_gap(name):
    """The point of ``dual()``: with the dual point it gives, the duality gap of ``F +
    h`` bounds the suboptimality ``P(W, b) - P*``, at any ``(W, b)``.  Here ``h = rho
    ||W||^2`` (finite conjugate ``||U||^2 / (4 rho)``, so ``s = 1``): gap ``= fy(1) + h(W)
    + h*(-V) + <W, V>``; for a smoothly penalized fit, ``h`` is the zero penalty, the whole
    dual point goes to ``g`` (``V = 0``) and the gap is ``fy(1)``.  Since ``P* <= P(x)``
    for L-BFGS's ``x``, the gap must be at least ``P(W, b) - P(x)``: at ``x`` moved in the
    coefficients, in the intercepts alone (a dual point not feasible for the intercepts
    misses that), and at random points.  Under a non-zero prox
    penalty (route "homogeneous") the smooth term's dual point ``grad g`` joins ``V``
    and ``h = rho ||W||^2`` receives it."""
    case = fit_case(name)
    fit = case.fit
    to_smooth = case.smooth is not None and fit.route != "homogeneous"  # V = 0: all to g
    rho = 0.0 if to_smooth else 0.2
    (coef_x, b_x), P = _minimize(case, rho)
    P_x = P(coef_x, b_x)
    rng = rng_for("dual-certificate", name)
    points = [(coef_x, b_x)]
    for size in (0.1, 1.0):
        D, db = case.random_point(rng, size)
        points.append((coef_x + D, b_x))
        if case.intercept:
            points.append((coef_x, b_x + db))
        points.append(case.random_point(rng, size))
    for coef, b in points:
        V, fy = fit.dual(coef, b, fit.state(coef, b))
        V = np.asarray(V)
        gap = fy(1.0)
        if rho:
            gap += rho * np.sum(coef**2) + np.sum(V**2) / (4 * rho) + np.sum(coef * V)
        else:
            assert np.all(V == 0.0)
        tol = 2 * case.value_rounding(coef, b) + case.value_rounding(coef_x, b_x)
        if case.smooth is not None:
            tol += case.smooth_fy_rounding(coef, b)
        if not to_smooth:
            tol += sum_rounding(4 * coef.size, rho * np.sum(coef**2) + np.sum(V**2) / (4 * rho)
                                + np.sum(np.abs(coef * V)))
        assert gap >= P(coef, b) - P_x - tol, (gap, P(coef, b) - P_x, tol)


@pytest.mark.parametrize("name", _fit_names(lambda case: case.fit.has_proximal_solve))
def test_proximal_solve_meets_its_optimality_condition(name):
    """``P = proximal_solve(V, rho)`` minimizes ``F(sum_i P_i) + rho ||P - V||^2 / 2``, a
    strongly convex quadratic: per task its gradient ``A p - b`` vanishes, with ``A`` the
    stacked system (``k`` parts: ``11^T kron c_t G_t + rho I``) and ``b`` the stacked
    ``c_t q_t + rho v_i``.  The solve goes through ``eigh`` of ``c_t G_t`` (backward stable:
    ``||E|| <= 16 d eps ||A||``) and products with its nearly orthogonal eigenvectors
    (``||Q^T Q - I|| <= 16 d eps``), which costs ``(lambda_max(A) / lambda_min(A)) 16 d eps
    ||b||`` more in the residual: ``||A p - b|| <= 16 d eps (||A|| ||p|| + kappa(A) ||b||)``
    per task, ``d`` the task's system size, computed here from the data.  The solver's
    ``c_t G_t`` and ``c_t q_t`` are themselves ``n_t``-term sums, off by ``16 n_t eps c_t
    (||X_t||^2 ||w_t|| + ||X_t|| ||y_t||)`` (Higham), seen through the same ``kappa(A)``;
    the gradient here is recomputed from the data to ``grad_rounding``."""
    case = fit_case(name)
    fit = case.fit
    rng = rng_for("proximal-solve", name)
    k, (T, d) = case.n_parts, case.shape
    for rho in (1e-3, 1.0, 1e3):
        V, _ = case.random_point(rng)
        P = np.asarray(fit.proximal_solve(V, rho))
        grad = case.grad(P, None)[0] + rho * (P - V)
        Ps, Vs, Gs = P.reshape(k, T, d), V.reshape(k, T, d), grad.reshape(k, T, d)
        for t, (X, y, c) in enumerate(zip(case.Xs, case.ys, case.c)):
            lam = np.linalg.eigvalsh(c * X.T @ X)
            top = k * max(lam[-1], 0.0) + rho
            low = rho if k > 1 else max(lam[0], 0.0) + rho
            b = np.concatenate([c * X.T @ y + rho * Vs[i, t] for i in range(k)])
            bound = 16 * k * d * EPS * (top * np.linalg.norm(Ps[:, t]) + top / low
                                        * np.linalg.norm(b))
            # the solver's c_t G_t and c_t q_t are n_t-term sums (Higham): their rounding
            # times the solution, seen through the same conditioning
            nx = np.linalg.norm(X)
            bound += 16 * k * len(X) * EPS * c * (nx * nx * np.linalg.norm(Ps.sum(axis=0)[t])
                                                   + nx * np.linalg.norm(y)) * top / low
            tol = bound + np.sqrt(k * d) * case.grad_rounding(P, None)
            assert np.linalg.norm(Gs[:, t]) <= tol, (np.linalg.norm(Gs[:, t]), tol)


@pytest.mark.parametrize("name", _fit_names(lambda case: case.fit.can_restrict_features))
def test_restrict_features_is_the_same_fit_on_those_features(name):
    """``restrict_features(index)``: the data fit of the coefficients that are zero outside
    ``index``, on the features ``index``: same value, same gradient on those features."""
    case = fit_case(name)
    fit = case.fit
    rng = rng_for("restrict", name)
    d = case.shape[1]
    index = np.sort(rng.choice(d, size=max(1, d // 2), replace=False))
    sub = fit.restrict_features(xp.asarray(index))
    coef, b = case.random_point(rng)
    coef[:, np.setdiff1d(np.arange(d), index)] = 0.0
    small = coef[:, index]
    f, g, gb = fit.value_and_grad(coef, b, fit.state(coef, b))
    fs, gs, gbs = sub.value_and_grad(small, b, sub.state(small, b))
    assert abs(float(f) - float(fs)) <= 2 * case.value_rounding(coef, b)
    assert np.max(np.abs(np.asarray(g)[:, index] - np.asarray(gs))) <= 2 * case.grad_rounding(
        coef, b)
    if gb is not None:
        assert np.max(np.abs(np.asarray(gb) - np.asarray(gbs))) <= 2 * case.grad_rounding(
            coef, b)


def _quadratic(case):
    smooth = case.smooth
    return not case.fit.curvature_varies and (smooth is None
                                              or isinstance(smooth.term, GraphQuadratic))


@pytest.mark.parametrize("name", _fit_names(_quadratic))
def test_constant_curvature_means_quadratic(name):
    """``curvature_varies = False`` declares a quadratic data part (the step need not
    follow the local curvature): second differences along a direction ``D`` are the same
    at every base point (with a quadratic smooth term too; cASO's term is not one)."""
    case = fit_case(name)
    fit = case.fit
    rng = rng_for("quadratic", name)
    D, db = case.random_point(rng)

    def second(coef, b):
        def F(t):
            c_ = coef + t * D
            b_ = None if b is None else b + t * db
            return float(fit.value(c_, b_, fit.state(c_, b_)))
        return F(1.0) - 2 * F(0.0) + F(-1.0)

    A, a = case.random_point(rng)
    B, bb = case.random_point(rng, 3.0)
    tol = 4 * sum(case.value_rounding(np.abs(X) + np.abs(D), None if x is None else
                                      np.abs(x) + np.abs(db)) for X, x in ((A, a), (B, bb)))
    assert abs(second(A, a) - second(B, bb)) <= tol


# =============================================================================================
# The declared zero_task_is_free: zeroing a task's coefficients never raises the term
# =============================================================================================

@pytest.mark.parametrize("name, shape, ridge", _params())
def test_zero_task_is_free_as_declared(name, shape, ridge):
    """Where declared, the independent value at ``W`` with one task's row zeroed is at
    most the value at ``W`` (to the rounding of the two values): the solver then
    sets a task without loss to ``w_t = 0`` without raising the objective.  Where
    not declared (a task graph, task clustering), some random ``W`` shows why."""
    case = build(name, shape, ridge)
    rng = rng_for("zero-task", name, shape, ridge)
    rises = []
    for _ in range(30):
        W = rng.standard_normal(shape) * rng.uniform(0.3, 2.0)
        t = rng.integers(shape[0])
        Z = W.copy()
        Z[t] = 0.0
        before, after = case.value(W), case.value(Z)
        rises.append(after - before - rounding(before, after))
    if case.term.zero_task_is_free:
        assert max(rises) <= 0.0
    elif shape[0] > 1 and not isinstance(case.term, MetricQuadratic):
        assert max(rises) > 0.0, "declare zero_task_is_free: no raise was found"
