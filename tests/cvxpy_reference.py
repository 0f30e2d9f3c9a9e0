"""Independent reference optima from CVXPY (Clarabel), and how a fit is compared with one.

A reference is trusted only as far as it is checked:

* its status must be OPTIMAL at the tolerance used (the tightest of
  ``tolerances`` that Clarabel calls optimal);
* its value is the objective re-evaluated exactly (by NumPy, through CVXPY's
  ``.value``) at its primal point ``(W, b)``, which is feasible because ``W``
  and ``b`` are unconstrained: ``Reference.upper >= optimum`` whatever the
  solver's accuracy.  The value Clarabel reports can land *below* the optimum
  when an auxiliary variable (an SDP's ``Omega``, the clustered ``M``) is
  slightly infeasible: 1.5e-6 below it for the MTRL SDP on one x86 machine,
  while the re-evaluated objective was 4e-12 above mtlreg's;
* its own accuracy claim, ``Reference.accuracy``, is the tolerance of its
  duality gap plus the distance between the reported and the re-evaluated
  values: ``upper - optimum <= accuracy`` as far as its dual is feasible.

:func:`assert_matches_reference` then checks a fit against it with no
tolerance of its own: mtlreg's certified gap bounds ``objective - upper`` and
the reference's claim bounds ``upper - objective``.
"""

import math
import warnings
from dataclasses import dataclass

from certificates import rounding  # re-exported: the rounding level of objective values

__all__ = ["Reference", "solve_reference", "solve_clarabel", "assert_matches_reference",
           "rounding"]


@dataclass(frozen=True)
class Reference:
    """An independent solution: ``upper`` is a feasible objective value (>= the optimum)."""

    upper: float     #: the objective evaluated exactly at the reference's primal point
    accuracy: float  #: the reference's own claim: ``upper - optimum <= accuracy``
    reported: float  #: the optimal value Clarabel reported
    tol: float       #: the Clarabel tolerance at which the status was OPTIMAL


# Clarabel's tolerances, tightest first.  The reference takes the tightest one at which
# Clarabel reports OPTIMAL; its value stays a true upper bound whatever the tolerance, and
# its accuracy claim grows with it.  The looser ones are there because Clarabel calls a
# problem "optimal_inaccurate" at 1e-8 on some BLAS kernels and versions (a dirty-model
# logistic problem with NumPy 1.24 / cvxpy 1.6 on OPENBLAS_CORETYPE=Haswell) that it
# solves at 1e-7.
TOLERANCES = (1e-10, 1e-9, 1e-8, 1e-7, 1e-6)


def _solve_optimal(problem, tolerances):
    import cvxpy as cp

    for eps in tolerances:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # cvxpy's "may be inaccurate"
            problem.solve(solver=cp.CLARABEL, tol_gap_abs=eps, tol_gap_rel=eps, tol_feas=eps)
        if problem.status == cp.OPTIMAL:
            return eps
    raise AssertionError(f"CVXPY reference not optimal at {tolerances}: {problem.status}")


def solve_reference(problem, exact=None, tolerances=TOLERANCES):
    """Solve ``problem`` with Clarabel; a :class:`Reference` checked as the module says.

    ``exact`` is a CVXPY expression of the objective in the unconstrained
    variables only (``W``, ``b``; a closed form for a minimum over an
    auxiliary matrix), evaluated at the solution; by default the problem's
    own objective, which is right when the problem has no constraints.
    """
    if exact is None:
        if problem.constraints:
            raise ValueError("a constrained reference needs `exact`: the objective in the "
                             "unconstrained variables, so that its value is a true upper bound")
        exact = problem.objective.expr
    tol = _solve_optimal(problem, tolerances)
    reported = float(problem.value)
    upper = float(exact.value)
    if not math.isfinite(upper):
        raise AssertionError(f"CVXPY reference has a non-finite objective: {upper}")
    accuracy = tol * (1.0 + abs(reported)) + abs(upper - reported)
    return Reference(upper=upper, accuracy=accuracy, reported=reported, tol=tol)


def solve_clarabel(problem, tolerances=TOLERANCES):
    """``Reference.upper`` of an unconstrained problem (see :func:`solve_reference`)."""
    return solve_reference(problem, tolerances=tolerances).upper


def assert_matches_reference(objective, gap, reference, *, at_reference=None):
    """A fit with objective ``objective`` and certified gap ``gap`` against ``reference``.

    * ``objective - upper <= gap``: mtlreg's certificate, tested against a
      feasible value (fails when the fit is further from the optimum than
      its gap says);
    * ``upper - objective <= accuracy``: the reference's own claim (fails
      when the reference is worse than it says, so that the first check
      would be weaker than it looks).

    ``at_reference``: mtlreg's objective function evaluated at the
    reference's point, when the caller has it; it must equal ``upper`` to
    rounding (the two implementations of the objective agree).

    A tolerance the caller must also assert: that ``gap`` itself is small
    (``converged_`` and ``gap <= tol * ...``), or the first check is weak.
    """
    slack = rounding(objective, reference.upper)
    assert gap is not None and gap >= 0, f"no certified gap: {gap}"
    assert objective - reference.upper <= gap + slack, (
        f"objective {objective!r} exceeds the reference's feasible value {reference.upper!r} "
        f"by {objective - reference.upper:.3g}, more than the certified gap {gap:.3g}")
    assert reference.upper - objective <= reference.accuracy + slack, (
        f"the reference's value {reference.upper!r} exceeds the fit's {objective!r} by "
        f"{reference.upper - objective:.3g}, more than its claimed accuracy "
        f"{reference.accuracy:.3g}")
    if at_reference is not None:
        assert abs(at_reference - reference.upper) <= slack, (
            f"the two objective implementations differ at the reference's point: "
            f"{at_reference!r} vs {reference.upper!r}")
