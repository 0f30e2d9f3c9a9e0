"""Low-rank family: trace-norm multi-task learning.

Notation as in :mod:`mtlreg.feature`: ``W = coef_.T`` is ``n_features x
n_tasks``; ``||W||_*`` is the sum of its singular values.
"""

from numbers import Integral

from sklearn.utils._param_validation import Interval

from ._docstring import estimator_doc
from .base import (
    MATRIX_STRUCTURE_CONSTRAINTS,
    MultiTaskClassifierBase,
    MultiTaskRegressorBase,
    TwoPartClassifierBase,
    TwoPartRegressorBase,
    numerical_rank,
    set_params_from_init,
)
from .penalties import L1, ASOPenalty, NuclearNorm, Zero
from .problem import Objective, Part

__all__ = ["TraceRegressor", "TraceClassifier", "SparseTraceRegressor",
           "SparseTraceClassifier", "CASORegressor", "CASOClassifier"]

_TRACE_DETAIL = """The trace (nuclear) norm ``alpha * ||W||_*`` pulls the task models into a
    common low-dimensional subspace: the solution's rank falls as ``alpha``
    grows.  Solved by ADMM on the squared loss's Gram path and by FISTA
    otherwise (``docs/solvers.md``); the prox is singular-value soft thresholding with
    a thin SVD of the ``n_tasks x n_features`` coefficients (the only heavy
    step, ``O(n_tasks n_features min(n_tasks, n_features))`` per iteration),
    and the duality gap is certified through the spectral norm, the dual of
    the trace norm.  ``alpha_max`` (the smallest ``alpha`` with ``W = 0``) is
    the spectral norm of the loss gradient at ``W = 0``: see
    :func:`mtlreg.alpha_max` with ``penalty="trace"``."""

_TRACE_ATTRS = """
    rank_ : int
        Numerical rank of ``W``: singular values above
        ``max(n_tasks, n_features) * eps * sigma_max``."""


class _Trace:
    def get_objective(self, problem):
        xp = problem.xp
        return Objective(parts=(Part(NuclearNorm(xp, self.alpha, ridge=self.ridge),
                                     param="alpha"),),
                         readouts=lambda solution: {"rank_": numerical_rank(xp, solution.coef)})


class TraceRegressor(_Trace, MultiTaskRegressorBase):
    __doc__ = estimator_doc("Trace-norm multi-task regression (shared low-rank subspace).",
                            "alpha * ||W||_*", _TRACE_DETAIL, "1.0", extra_attrs=_TRACE_ATTRS)


class TraceClassifier(_Trace, MultiTaskClassifierBase):
    __doc__ = estimator_doc("Trace-norm multi-task logistic regression.", "alpha * ||W||_*",
                            _TRACE_DETAIL, "0.01", extra_attrs=_TRACE_ATTRS, classifier=True)


_SPARSE_TRACE_DETAIL = """Sparse plus low-rank decomposition ``W = L + S`` (penalized form): the
    tasks share a low-rank component ``L`` (``alpha * ||L||_*``), and a sparse
    component ``S`` (``beta * ||S||_1``) carries entry-wise exceptions.  Note
    that ``ridge`` acts on each part, ``ridge * (||L||_F^2 + ||S||_F^2)``.
    Solved jointly over ``(L, S)`` on the stacked parts, by ADMM on the squared
    loss's Gram path and by FISTA otherwise (Lipschitz constant twice the data
    fit's; prox part by part), with the duality gap
    certified through ``max(sigma_max(V) / alpha, max|V| / beta)``."""

_SPARSE_TRACE_PARAMS = """
    beta : float, default=alpha's default
        Strength of the elementwise L1 penalty on the sparse part ``S``."""

_SPARSE_TRACE_ATTRS = """
    coef_lowrank_ : ndarray of shape (n_tasks, n_features)
        ``L.T``.
    coef_sparse_ : ndarray of shape (n_tasks, n_features)
        ``S.T``; ``coef_lowrank_ + coef_sparse_ == coef_``.
    rank_ : int
        Numerical rank of ``L``."""


class _SparseTrace:
    def get_objective(self, problem):
        xp, T, d = problem.xp, problem.n_tasks, problem.n_features
        # ceilings: ||S||_1 <= sqrt(d T) ||S||_F <= sqrt(d T) ||S||_*, ||S||_* <= ||S||_1;
        # the spectral norm and max |G_jt| are <= ||G||_F
        return Objective(
            parts=(Part(NuclearNorm(xp, self.alpha, ridge=self.ridge), param="alpha",
                        name="coef_lowrank_", ceiling=((T * d) ** 0.5, 1.0)),
                   Part(L1(xp, self.beta, ridge=self.ridge), param="beta",
                        name="coef_sparse_", ceiling=(1.0, 1.0))),
            readouts=lambda solution: {"rank_": numerical_rank(xp, solution.parts[0, ...])})


class SparseTraceRegressor(_SparseTrace, TwoPartRegressorBase):
    __doc__ = estimator_doc(
        "Sparse plus low-rank multi-task regression (W = L + S).",
        "alpha * ||L||_* + beta * ||S||_1  [W = L + S]",
        _SPARSE_TRACE_DETAIL, "1.0", _SPARSE_TRACE_PARAMS, _SPARSE_TRACE_ATTRS,
        ridge="ridge * (||L||_F^2 + ||S||_F^2)")


class SparseTraceClassifier(_SparseTrace, TwoPartClassifierBase):
    __doc__ = estimator_doc(
        "Sparse plus low-rank multi-task logistic regression (W = L + S).",
        "alpha * ||L||_* + beta * ||S||_1  [W = L + S]",
        _SPARSE_TRACE_DETAIL, "0.01", _SPARSE_TRACE_PARAMS, _SPARSE_TRACE_ATTRS,
        classifier=True, ridge="ridge * (||L||_F^2 + ||S||_F^2)")


_CASO_DETAIL = """Convex alternating structure optimization (Chen, Tang, Liu & Ye 2009), with
    MALSAR's parameters: ``eta = beta / alpha``, ``c = alpha * eta * (1 + eta)``,
    and the structural term ``c * min_M tr(W^T (eta I + M)^-1 W)`` over
    symmetric ``M`` (``n_features x n_features``) with ``tr M = n_components``
    and ``0 <= M <= I``.  The minimum over ``M`` has a closed form on the
    singular values of ``W`` (eigenvalues ``clip(s sigma_i - eta, 0, 1)`` summing
    to ``n_components``, found by bisection on ``s``), so the term is a convex,
    differentiable function of ``W`` with gradient ``2 c (eta I + M*)^-1 W``;
    FISTA treats it as part of the smooth objective (one ``d x d``
    eigendecomposition per gradient), and stops on a certified duality gap:
    the term's conjugate has a closed form (:mod:`mtlreg.penalties.aso`).
    ``ridge`` adds ``ridge * ||W||_F^2``."""

_CASO_PARAMS = """
    beta : float, default=alpha's default
        Second cASO strength (MALSAR's ``rho2``); ``eta = beta / alpha``.
    n_components : int, default=2
        ``tr M``: the dimension of the shared predictive structure (MALSAR's
        ``k``).  ``tr M = k`` with ``0 <= M <= I`` needs ``k <= n_features``;
        a larger value means ``M = I`` (the term is then a ridge,
        ``c / (eta + 1) * ||W||_F^2``), and ``n_components_`` says what was
        used."""

_CASO_ATTRS = """
    structure_matrix_ : ndarray of shape (n_features, n_features)
        The optimal ``M`` at the solution (its leading eigenvectors span the
        shared feature subspace).
    n_components_ : int
        ``min(n_components, n_features)``: the ``tr M`` the fit used."""


class _CASO:
    _parameter_constraints = {
        **MATRIX_STRUCTURE_CONSTRAINTS,
        "n_components": [Interval(Integral, 1, None, closed="left")],
    }

    def get_objective(self, problem):
        k = min(self.n_components, problem.n_features)  # more than n_features: M = I
        term = ASOPenalty(problem.xp, self.alpha, self.beta, k, ridge=self.ridge)
        return Objective(parts=(Part(Zero(problem.xp)),), smooth=term,
                         readouts=lambda solution: {
                             "structure_matrix_": term.optimal_M(solution.coef),
                             "n_components_": k})


class CASORegressor(_CASO, MultiTaskRegressorBase):
    __doc__ = estimator_doc(
        "Convex alternating structure optimization (cASO), squared loss.",
        "c * min_M tr(W^T (eta I + M)^-1 W)  [eta = beta/alpha, c = alpha eta (1 + eta)]",
        _CASO_DETAIL, "0.1", _CASO_PARAMS, _CASO_ATTRS)

    def __init__(self, alpha=0.1, beta=0.1, *, n_components=2, ridge=0.0,
                 loss_scaling="mean", fit_intercept=True, tol=1e-6, max_iter=5000,
                 warm_start=False, device=None):
        set_params_from_init(self, locals())


class CASOClassifier(_CASO, MultiTaskClassifierBase):
    __doc__ = estimator_doc(
        "Convex alternating structure optimization (cASO), logistic loss.",
        "c * min_M tr(W^T (eta I + M)^-1 W)  [eta = beta/alpha, c = alpha eta (1 + eta)]",
        _CASO_DETAIL, "0.01", _CASO_PARAMS, _CASO_ATTRS, classifier=True)

    def __init__(self, alpha=0.01, beta=0.01, *, n_components=2, ridge=0.0,
                 loss_scaling="mean", fit_intercept=True, tol=1e-6, max_iter=5000,
                 warm_start=False, device=None):
        set_params_from_init(self, locals())
