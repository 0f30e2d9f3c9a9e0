"""Penalties on the coefficient matrix ``coef`` of shape (n_tasks, n_features).

Formulas in the docs write ``W = coef.T`` (n_features x n_tasks), with the
task models ``w_t`` as columns, following DESIGN.md.

Two kinds (:mod:`mtlreg.penalties._base`): a :class:`Penalty` has
``value(coef)`` and ``prox(coef, step)``, and those with a conjugate (norms,
and squared norms) also give the solver what it needs to certify a duality
gap, ``dual_scale(V)`` and ``conjugate(V)``; a :class:`SmoothTerm` has
``value_and_grad(coef)`` and ``lipschitz()`` and sits in the data fit.

``NORMS`` names the norms that have a threshold ``alpha_max`` (the smallest
strength at which the penalized part of a model is zero): the names that
:func:`mtlreg.alpha_max` accepts.  A new norm penalty is one module here and
one line in ``NORMS`` (see ``docs/architecture.md``).
"""

from ._base import NormPenalty, Penalty, SmoothTerm
from .l1 import L1
from .l21 import L21, TaskL2
from .linf import L1Inf
from .nuclear import NuclearNorm
from .aso import ASOPenalty, ClusteredPenalty
from .graph import GraphQuadratic
from .quadratic import MetricQuadratic, Zero
from .sparse_group import SparseL21
from .trace import SquaredTraceNorm, TaskSquaredTraceNorm

NORMS = {"l1": L1, "l21": L21, "l1inf": L1Inf, "task_l2": TaskL2, "trace": NuclearNorm,
         "sparse_l21": SparseL21}

__all__ = ["Penalty", "SmoothTerm", "NormPenalty", "NORMS", "L1", "L21", "TaskL2", "L1Inf",
           "NuclearNorm", "SparseL21", "MetricQuadratic", "SquaredTraceNorm", "TaskSquaredTraceNorm", "Zero",
           "ASOPenalty", "ClusteredPenalty", "GraphQuadratic"]
