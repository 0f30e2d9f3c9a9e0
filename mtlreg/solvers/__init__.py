"""Solvers: accelerated proximal gradient, coordinate descent (proximal Newton for
the logistic loss), ADMM and alternating minimization."""

from ._requirements import require
from ._result import SolverResult
from .admm import admm, admm_then_fista, fista_then_admm
from .alternating import alternating_minimization
from .coordinate import coordinate_descent, use_coordinate_descent
from .fista import duality_gap, fista
from .working_set import use_working_set, working_set_fista

__all__ = ["SolverResult", "require", "fista", "admm", "admm_then_fista", "fista_then_admm",
           "alternating_minimization", "duality_gap", "working_set_fista", "use_working_set",
           "coordinate_descent", "use_coordinate_descent"]
