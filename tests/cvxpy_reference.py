"""Independent reference optima: a CVXPY problem solved by Clarabel at the
tightest tolerance it calls optimal (the tests compare mtlreg against it)."""

import warnings


def solve_clarabel(problem, tolerances=(1e-10, 1e-9, 1e-8)):
    """``problem.value`` at the first tolerance with status OPTIMAL.

    Clarabel may call the tightest tolerance "inaccurate" on a problem it
    solves well at the next one; a reference that is never optimal fails.
    """
    import cvxpy as cp

    for eps in tolerances:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # cvxpy's "may be inaccurate"
            problem.solve(solver=cp.CLARABEL, tol_gap_abs=eps, tol_gap_rel=eps, tol_feas=eps)
        if problem.status == cp.OPTIMAL:
            return problem.value
    raise AssertionError(f"CVXPY reference not optimal: {problem.status}")
