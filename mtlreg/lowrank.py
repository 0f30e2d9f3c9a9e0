"""Low-rank family: trace-norm multi-task learning.

Notation as in :mod:`mtlreg.feature`: ``W = coef_.T`` is ``n_features x
n_tasks``; ``||W||_*`` is the sum of its singular values.
"""

from numbers import Integral

from sklearn.utils._param_validation import Interval

from ._backend import as_float
from ._docstring import estimator_doc
from .base import (
    MatrixStructureMixin,
    MultiTaskClassifierBase,
    MultiTaskRegressorBase,
    NormPenaltyMixin,
    TwoPartClassifierBase,
    TwoPartRegressorBase,
    set_params_from_init,
)
from .penalties import L1, ASOPenalty, NuclearNorm

__all__ = ["TraceRegressor", "TraceClassifier", "SparseTraceRegressor",
           "SparseTraceClassifier", "CASORegressor", "CASOClassifier"]

_TRACE_DETAIL = """The trace (nuclear) norm ``alpha * ||W||_*`` pulls the task models into a
    common low-dimensional subspace: the solution's rank falls as ``alpha``
    grows.  Solved by FISTA; the prox is singular-value soft thresholding with
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


def numerical_rank(xp, W):
    """Singular values above ``max(W.shape) * eps * sigma_max`` (0 for ``W = 0``)."""
    s = xp.linalg.svdvals(W)
    top = as_float(xp.max(s)) if s.shape[0] else 0.0
    if top == 0.0:
        return 0
    cutoff = max(W.shape) * float(xp.finfo(W.dtype).eps) * top
    return int(as_float(xp.sum(xp.astype(s > cutoff, xp.int64))))


class _TraceMixin(NormPenaltyMixin):
    _penalty_class = NuclearNorm
    _zero_norm_map = {"alpha": "trace"}

    def _store_extra(self, result, penalty, xp):
        self.rank_ = numerical_rank(xp, self.coef_)


class TraceRegressor(_TraceMixin, MultiTaskRegressorBase):
    __doc__ = estimator_doc("Trace-norm multi-task regression (shared low-rank subspace).",
                            "alpha * ||W||_*", _TRACE_DETAIL, "1.0", extra_attrs=_TRACE_ATTRS)


class TraceClassifier(_TraceMixin, MultiTaskClassifierBase):
    __doc__ = estimator_doc("Trace-norm multi-task logistic regression.", "alpha * ||W||_*",
                            _TRACE_DETAIL, "0.01", extra_attrs=_TRACE_ATTRS, classifier=True)


_SPARSE_TRACE_DETAIL = """Sparse plus low-rank decomposition ``W = L + S`` (penalized form): the
    tasks share a low-rank component ``L`` (``alpha * ||L||_*``), and a sparse
    component ``S`` (``beta * ||S||_1``) carries entry-wise exceptions.  Note
    that ``ridge`` acts on each part, ``ridge * (||L||_F^2 + ||S||_F^2)``.
    Solved jointly over ``(L, S)`` by FISTA on the stacked parts (Lipschitz
    constant twice the data fit's; prox part by part), with the duality gap
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


class _SparseTraceMixin:
    _part_attributes = ("coef_lowrank_", "coef_sparse_")
    _zero_norm_map = {"alpha": "trace", "beta": "l1"}

    def _ceiling_constants(self, n_tasks, n_features):
        # ||S||_1 <= sqrt(d T) ||S||_F <= sqrt(d T) ||S||_*, ||S||_* <= ||S||_1; the
        # spectral norm and max |G_jt| are <= ||G||_F
        return {"alpha": ("beta", (n_tasks * n_features) ** 0.5, 1.0),
                "beta": ("alpha", 1.0, 1.0)}

    def _part_penalties(self, xp):
        return [NuclearNorm(xp, self.alpha, ridge=self.ridge), L1(xp, self.beta, ridge=self.ridge)]

    def _store_extra(self, result, penalty, xp):
        super()._store_extra(result, penalty, xp)
        self.rank_ = numerical_rank(xp, self.coef_lowrank_)


class SparseTraceRegressor(_SparseTraceMixin, TwoPartRegressorBase):
    __doc__ = estimator_doc(
        "Sparse plus low-rank multi-task regression (W = L + S).",
        "alpha * ||L||_* + beta * ||S||_1  [W = L + S]",
        _SPARSE_TRACE_DETAIL, "1.0", _SPARSE_TRACE_PARAMS, _SPARSE_TRACE_ATTRS,
        ridge="ridge * (||L||_F^2 + ||S||_F^2)")


class SparseTraceClassifier(_SparseTraceMixin, TwoPartClassifierBase):
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
        ``k``); at most ``n_features``."""

_CASO_ATTRS = """
    structure_matrix_ : ndarray of shape (n_features, n_features)
        The optimal ``M`` at the solution (its leading eigenvectors span the
        shared feature subspace)."""


class _CASOMixin(MatrixStructureMixin):
    _parameter_constraints = {
        **MatrixStructureMixin._parameter_constraints,
        "n_components": [Interval(Integral, 1, None, closed="left")],
    }
    _structure_class = ASOPenalty
    _count_param = "n_components"
    _matrix_attribute = "structure_matrix_"


class CASORegressor(_CASOMixin, MultiTaskRegressorBase):
    __doc__ = estimator_doc(
        "Convex alternating structure optimization (cASO), squared loss.",
        "c * min_M tr(W^T (eta I + M)^-1 W)  [eta = beta/alpha, c = alpha eta (1 + eta)]",
        _CASO_DETAIL, "0.1", _CASO_PARAMS, _CASO_ATTRS)

    def __init__(self, alpha=0.1, beta=0.1, *, n_components=2, ridge=0.0,
                 loss_scaling="mean", fit_intercept=True, tol=1e-6, max_iter=5000,
                 warm_start=False, device=None):
        set_params_from_init(self, locals())


class CASOClassifier(_CASOMixin, MultiTaskClassifierBase):
    __doc__ = estimator_doc(
        "Convex alternating structure optimization (cASO), logistic loss.",
        "c * min_M tr(W^T (eta I + M)^-1 W)  [eta = beta/alpha, c = alpha eta (1 + eta)]",
        _CASO_DETAIL, "0.01", _CASO_PARAMS, _CASO_ATTRS, classifier=True)

    def __init__(self, alpha=0.01, beta=0.01, *, n_components=2, ridge=0.0,
                 loss_scaling="mean", fit_intercept=True, tol=1e-6, max_iter=5000,
                 warm_start=False, device=None):
        set_params_from_init(self, locals())
