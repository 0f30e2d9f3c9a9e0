"""What ``fit`` hands its solver, for the suites that time the solver loop itself.

``fit(X, y, tasks)`` is ``fit_problem(prepare(X, y, tasks))``, and
``fit_problem`` is :func:`mtlreg.problem.solve` of ``get_objective(problem)``.
The ``scale`` and ``gpu`` suites time FISTA's iterations on that problem and
objective with the convergence checks switched off, which ``solve`` cannot do
(it chooses the solver, working sets included, and its options come from the
objective); so they call :func:`mtlreg.solvers.fista` on the pieces ``solve``
builds from the same problem and objective (:func:`mtlreg.problem.solver_inputs`).
"""

__all__ = ["prepare_objective", "solver_pieces"]


def prepare_objective(est, X, y, tasks):
    """``(problem, objective)``: what ``est.fit(X, y, tasks)`` builds before it
    solves (``est.prepare``, then ``est.get_objective``)."""
    problem = est.prepare(X, y, tasks)
    return problem, est.get_objective(problem)


def solver_pieces(problem, objective):
    """``(datafit, penalty, coef0, intercept0)``: the arguments
    :func:`mtlreg.problem.solve` passes its solver for ``start=None``
    (:func:`mtlreg.problem.solver_inputs`, which ``solve`` itself calls)."""
    from mtlreg.problem import solver_inputs

    if objective.solver != "fista":
        raise ValueError(f"the objective is solved by {objective.solver!r}, not by FISTA: "
                         "its iterations cannot be timed as FISTA's")
    return solver_inputs(problem, objective)
