"""Penalties on the coefficient matrix ``coef`` of shape (n_tasks, n_features).

Formulas in the docs write ``W = coef.T`` (n_features x n_tasks), with the
task models ``w_t`` as columns, following DESIGN.md.

Every penalty has ``value(coef)`` and ``prox(coef, step)``; those with a
conjugate (norms, and squared norms) also give the solver what it needs to
certify a duality gap: ``dual_scale(V)`` and ``conjugate(V)``.
"""

from ._base import NormPenalty, Penalty
from .l1 import L1
from .l21 import L21, TaskL2
from .linf import L1Inf
from .nuclear import NuclearNorm
from .aso import ASOPenalty, ClusteredPenalty
from .quadratic import MetricQuadratic, Zero
from .trace import SquaredTraceNorm

__all__ = ["Penalty", "NormPenalty", "L1", "L21", "TaskL2", "L1Inf", "NuclearNorm", "MetricQuadratic",
           "SquaredTraceNorm", "Zero", "ASOPenalty", "ClusteredPenalty"]
