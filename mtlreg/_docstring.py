"""The numpydoc docstring every estimator shares: objective, parameters, attributes."""

_SQUARED = "sum_t c_t * 1/2 ||y_t - X_t w_t - b_t||^2"
_LOGISTIC = "sum_t c_t * sum_i log(1 + exp(-y_ti (x_ti . w_t + b_t)))"


def estimator_doc(summary, penalty, detail, alpha_default, extra_params="", extra_attrs="",
                  classifier=False, ridge="ridge * ||W||_F^2"):
    """Numpydoc text of an estimator: its objective written out, then the
    parameters and fitted attributes every mtlreg estimator shares.  ``ridge``
    is the ridge term as it enters the objective (per part for decomposed
    models)."""
    loss_txt = _LOGISTIC if classifier else _SQUARED
    labels = ("labels ``y_ti`` in {-1, +1} stand for ``classes_[0]``, ``classes_[1]``"
              if classifier else "squared loss")
    class_attrs = """
    classes_ : ndarray of shape (2,)
        The two class labels; ``classes_[1]`` is the positive class.""" if classifier else ""
    return f"""{summary}

    Minimizes, over ``W`` (n_features x n_tasks) and the intercepts ``b``,

        {loss_txt}
            + {penalty} + {ridge}

    ({labels}; ``c_t = 1/n_t`` with ``loss_scaling="mean"``, ``1`` with
    ``"sum"``; the intercepts are not penalized.)

    {detail}

    Parameters
    ----------
    alpha : float, default={alpha_default}
        Strength of the structural penalty.{extra_params}
    ridge : float, default=0
        Strength of the added ``{ridge}``.
    loss_scaling : {{"mean", "sum"}}, default="mean"
        ``"mean"``: each task's loss divided by its ``n_t`` (scikit-learn's and
        RMTL's convention); ``"sum"``: MALSAR's convention.
    fit_intercept : bool, default=True
        Fit one unpenalized intercept per task.
    tol : float, default=1e-6
        Stop when the certified duality gap is at most ``tol`` times the
        objective: ``converged_`` then means the objective is within ``tol``
        of the optimum, relatively (``tol`` is floored at ``100 * eps`` of the
        data's dtype, the rounding level of the loss sums).  A fit whose
        certificate cannot resolve that (an objective near the rounding level
        of the data, or a ``tol`` near ``sqrt(eps)`` on a fit exact to
        rounding) stops at ``max_iter`` with a ConvergenceWarning.  Where no
        certificate exists (the graph models with ``beta > 0``, and
        ``GraphClassifier`` with ``ridge = 0``), the norm of the gradient
        mapping, relative to the gradient at ``W = 0``.
    max_iter : int, default=5000
        Maximum number of iterations (outer iterations for MTFL's
        ``solver="alternating"``).
    warm_start : bool, default=False
        Start from the previous solution (``solution_``) when the shapes match.
    device : {None, "cpu", "cuda", "cuda:N"}, default=None
        Where to compute.  None: where the input arrays live (NumPy on the
        host; CuPy arrays, with scikit-learn's ``array_api_dispatch`` on,
        on their GPU, and the fitted attributes stay there).  ``"cuda"``:
        NumPy inputs are copied once to the GPU (CuPy), solved there, and
        the fitted attributes come back as NumPy arrays.  ``"cpu"``: NumPy.

    Attributes
    ----------
    coef_ : ndarray of shape (n_tasks, n_features)
        ``W.T``: row ``t`` is the model of task ``tasks_[t]``.
    intercept_ : ndarray of shape (n_tasks,)
    tasks_ : ndarray of shape (n_tasks,)
        Sorted task labels (``0 .. n_tasks-1`` for a shared design).
    n_tasks_ : int
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined when ``X`` has string feature names (pandas).
    n_iter_ : int
        Iterations run.
    objective_ : float
        Objective value at the solution.
    dual_gap_ : float or None
        Certified duality gap at the solution (``None`` without a certificate).
    converged_ : bool
        Whether the solver's stopping rule was met before ``max_iter``.
    solution_ : mtlreg.problem.Solution
        The result of the last solve (:func:`mtlreg.problem.solve`): the
        parts of ``W``, intercepts, objective, certified gap, iterations and
        the history of the convergence checks; a warm start begins there.{class_attrs}{extra_attrs}
    """
