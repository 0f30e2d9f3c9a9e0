"""Solvers: accelerated proximal gradient and alternating minimization."""

from ._result import SolverResult
from .alternating import alternating_minimization
from .fista import duality_gap, fista

__all__ = ["SolverResult", "fista", "alternating_minimization", "duality_gap"]
