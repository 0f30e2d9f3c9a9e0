"""Low-rank family: trace-norm multi-task learning.

Notation as in :mod:`mtlreg.feature`: ``W = coef_.T`` is ``n_features x
n_tasks``; ``||W||_*`` is the sum of its singular values.
"""

from ._backend import as_float
from ._docstring import estimator_doc
from .base import MultiTaskClassifierBase, MultiTaskRegressorBase, NormPenaltyMixin
from .penalties import NuclearNorm

__all__ = ["TraceRegressor", "TraceClassifier"]

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


class _TraceMixin(NormPenaltyMixin):
    _penalty_class = NuclearNorm

    def _store_extra(self, result, penalty, xp):
        s = xp.linalg.svdvals(self.coef_)
        top = as_float(xp.max(s)) if s.shape[0] else 0.0
        eps = float(xp.finfo(self.coef_.dtype).eps)
        cutoff = max(self.coef_.shape) * eps * top
        self.rank_ = int(as_float(xp.sum(xp.astype(s > cutoff, xp.int64)))) if top > 0 else 0


class TraceRegressor(_TraceMixin, MultiTaskRegressorBase):
    __doc__ = estimator_doc("Trace-norm multi-task regression (shared low-rank subspace).",
                            "alpha * ||W||_*", _TRACE_DETAIL, "1.0", extra_attrs=_TRACE_ATTRS)


class TraceClassifier(_TraceMixin, MultiTaskClassifierBase):
    __doc__ = estimator_doc("Trace-norm multi-task logistic regression.", "alpha * ||W||_*",
                            _TRACE_DETAIL, "0.01", extra_attrs=_TRACE_ATTRS, classifier=True)
