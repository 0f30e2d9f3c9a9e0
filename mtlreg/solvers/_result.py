"""What a solver returns."""

from dataclasses import dataclass, field


@dataclass
class SolverResult:
    """Solution and diagnostics of one solve.

    Attributes
    ----------
    coef : array of shape (n_tasks, n_features)
    intercept : array of shape (n_tasks,) or None
    n_iter : int
        Iterations run (outer iterations for alternating solvers).
    converged : bool
        Whether the stopping rule was met before ``max_iter``.
    objective : float
        Objective at the returned point.
    criterion : float
        Last value of the stopping quantity (gap, gradient mapping or
        relative change).
    dual_gap : float or None
        Certified duality gap at the returned point, when the penalty has a
        conjugate.
    history : list of tuple
        ``(iteration, objective, criterion)`` at each convergence check.
    lipschitz : float
        Final step-size constant ``L`` (FISTA).
    scale : float
        ``F(0, b0)``, the floor of the relative stopping rule.
    n_backtracks : int
        Rejected FISTA trial steps (each costs one more iteration's passes).
    criterion_name : str
        What ``criterion`` measures, for messages.
    note : str
        Why a solver stopped unconverged before ``max_iter`` (empty otherwise).
    solver : str
        Which solver produced it ("fista", "working-set fista", "working-set
        coordinate descent", "coordinate descent", "admm", "admm, then fista",
        "alternating").
    """

    coef: object
    intercept: object
    n_iter: int
    converged: bool
    objective: float
    criterion: float
    dual_gap: object = None
    history: list = field(default_factory=list)
    lipschitz: float = float("nan")
    scale: float = float("nan")
    auxiliary: object = None
    n_backtracks: int = 0
    criterion_name: str = "stopping criterion"
    note: str = ""
    solver: str = "fista"
