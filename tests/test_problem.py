"""The fit seam (:mod:`mtlreg.problem`): prepare -> Problem, solve -> Solution, alpha_max.

Each check is against something independent of the seam's own code: the
estimators' ``fit`` (which must run exactly the seam), a gradient written
here in NumPy (``alpha_max``), certified duality gaps (warm starts, the
sparse-group penalty against L2,1 and L1), or an error that names the
problem.
"""

import dataclasses

import numpy as np
import pytest

import mtlreg
from mtlreg.penalties import L1, L21, Penalty, SmoothTerm, SparseL21
from mtlreg.problem import Objective, Part, Problem, Solution, prepare, solve
from mtlreg.solvers import require

from certificates import assert_same_optimum, assert_stopping_rule, rounding, sum_rounding
from problems import regression_tasks


def _long(seed=0, sizes=(30, 45, 38), d=6):
    Xs, ys = regression_tasks(seed, sizes, d)
    return mtlreg.stack_tasks(Xs, ys)


# -- prepare ----------------------------------------------------------------------------------

def test_prepare_gives_a_frozen_typed_problem():
    X, y, tasks = _long()
    problem = prepare(X, y, tasks)
    assert isinstance(problem, Problem)
    assert (problem.n_tasks, problem.n_features) == (3, 6)
    assert problem.squared and problem.fit_intercept and problem.loss_scaling == "mean"
    assert problem.labels.tolist() == [0, 1, 2] and problem.task_index.shape == (113,)
    with pytest.raises(dataclasses.FrozenInstanceError):
        problem.fit_intercept = False


@pytest.mark.parametrize("gram, expected", [("auto", True), (True, True), (False, False)])
def test_prepare_gram_choice(gram, expected):
    X, y, tasks = _long()  # n_t >= d: the Gram form is the cheaper one
    assert prepare(X, y, tasks, gram=gram).use_gram is expected
    assert prepare(X, y > 0, tasks, loss="logistic", gram=gram).use_gram is False


def test_prepare_errors_name_the_problem():
    X, y, tasks = _long()
    with pytest.raises(ValueError, match="loss must be one of"):
        prepare(X, y, tasks, loss="hinge")
    with pytest.raises(ValueError, match="gram must be"):
        prepare(X, y, tasks, gram="yes")
    with pytest.raises(ValueError, match="two classes"):
        prepare(X, np.ones(len(y)), tasks, loss="logistic")


# -- solve: what fit runs --------------------------------------------------------------------

@pytest.mark.parametrize("Est", [mtlreg.L21Regressor, mtlreg.DirtyClassifier,
                                 mtlreg.CASORegressor, mtlreg.RelationRegressor],
                         ids=lambda c: c.__name__)
def test_fit_is_prepare_then_solve(Est):
    """The estimator's fit and a hand-run seam give bit-identical solutions."""
    X, y, tasks = _long()
    if "Classifier" in Est.__name__:
        y = y > np.median(y)
    est = Est(max_iter=300).fit(X, y, tasks=tasks)
    problem = est.prepare(X, y, tasks)
    solution = solve(problem, est.get_objective(problem), tol=est.tol, max_iter=est.max_iter)
    assert np.array_equal(solution.coef, est.coef_)
    assert np.array_equal(solution.intercept, est.intercept_)
    assert solution.objective == est.objective_ and solution.n_iter == est.n_iter_
    assert isinstance(est.solution_, Solution)
    assert np.array_equal(est.solution_.parts.sum(axis=0), est.coef_)


def test_warm_start_from_a_solution_keeps_the_certified_optimum():
    X, y, tasks = _long()
    problem = prepare(X, y, tasks)
    top = mtlreg.alpha_max(problem, penalty="l21")
    objective = Objective(parts=(Part(L21(problem.xp, 0.2 * top), param="alpha"),))
    cold = solve(problem, objective, tol=1e-10)
    warm = solve(problem, objective, start=cold, tol=1e-10)
    again = solve(problem, objective, start=(cold.parts, cold.intercept), tol=1e-10)
    assert cold.converged and warm.converged and again.converged
    # started at a certified optimum: the first convergence check already stops
    assert warm.n_iter <= 10 and again.n_iter == warm.n_iter
    assert_same_optimum(warm.objective, warm.dual_gap, cold.objective, cold.dual_gap,
                        rounding(cold.objective))


def test_start_of_the_wrong_shape_is_an_error():
    X, y, tasks = _long()
    problem = prepare(X, y, tasks)
    objective = Objective(parts=(Part(L21(problem.xp, 0.1)),))
    with pytest.raises(ValueError, match=r"start has parts of shape \(2, 6\).*\(1, 3, 6\)"):
        solve(problem, objective, start=(np.zeros((2, 6)), np.zeros(2)))


def test_fit_problem_refuses_a_problem_prepared_with_other_settings():
    X, y, tasks = _long()
    problem = prepare(X, y, tasks, fit_intercept=False)
    with pytest.raises(ValueError, match="prepared with loss='squared', fit_intercept=False"):
        mtlreg.L21Regressor().fit_problem(problem)
    with pytest.raises(ValueError, match="loss='squared'"):
        mtlreg.L21Classifier().fit_problem(prepare(X, y, tasks))


def test_objective_checks_its_pieces():
    xp = prepare(*_long()).xp
    with pytest.raises(TypeError, match="non-empty tuple of Part"):
        Objective(parts=())
    with pytest.raises(TypeError, match="Part.penalty must be a Penalty"):
        Objective(parts=(Part(object()),))
    with pytest.raises(TypeError, match="smooth must be a SmoothTerm"):
        Objective(parts=(Part(L1(xp, 1.0)),), smooth=L1(xp, 1.0))
    with pytest.raises(ValueError, match="solver must be one of"):
        Objective(parts=(Part(L1(xp, 1.0)),), solver="newton")
    problem = prepare(*_long())
    two = Objective(parts=(Part(L1(xp, 1.0)), Part(L21(xp, 1.0))), solver="alternating")
    with pytest.raises(ValueError, match="alternating solver takes a single part"):
        solve(problem, two)


@pytest.mark.parametrize("case", ["residuals", "large means", "near-exact"])
def test_reported_objective_on_the_gram_path_is_within_its_rounding_bound(case):
    """On the Gram path ``solve`` reports the Gram form's objective, with the bound on
    its rounding (``_gram_rounding``) added to the certified gap, when that sum still
    certifies ``tol``; else the objective evaluated on the data (a near-exact fit, where
    the Gram form cancels).  The bound holds against the objective evaluated here
    from the raw data in extended precision, at the returned ``W`` and intercepts,
    also for features and targets with means far from zero."""
    from mtlreg.problem import _gram_rounding

    noise, shift = {"residuals": (1.0, 0.0), "large means": (1.0, 1e4),
                    "near-exact": (1e-7, 0.0)}[case]
    Xs, ys = regression_tasks(4, (30, 45, 38), 6, noise=noise)
    Xs, ys = [Xt + shift for Xt in Xs], [yt + shift for yt in ys]
    X, y, tasks = mtlreg.stack_tasks(Xs, ys)
    problem = prepare(X, y, tasks)
    assert problem.use_gram
    amax = mtlreg.alpha_max(X, y, tasks, penalty="l21")
    alpha = amax * (1e-9 if case == "near-exact" else 0.1)
    tol = 1e-8
    solution = solve(problem, mtlreg.L21Regressor(alpha=alpha).get_objective(problem), tol=tol)
    assert solution.converged or case == "near-exact"  # (near-exact: whether the gap
    W, b = solution.coef, solution.intercept  # certifies tol does not matter here)
    exact, size = np.longdouble(0), 0.0
    for t, (Xt, yt) in enumerate(zip(Xs, ys)):
        r = yt.astype(np.longdouble) - Xt.astype(np.longdouble) @ W[t] - b[t]
        exact += r @ r / (2 * len(yt))
        size += np.sum((np.abs(yt) + np.abs(Xt) @ np.abs(W[t]) + abs(b[t])) ** 2) / len(yt)
    penalty = alpha * np.sum(np.linalg.norm(W, axis=0))
    exact = float(exact) + penalty
    bound = _gram_rounding(problem, problem.xp.asarray(W))
    penalty_rounding = sum_rounding(4 * W.size, penalty)
    gram_value, raw_gap = float(solution.raw.objective), float(solution.raw.dual_gap)
    assert abs(gram_value - exact) <= bound + penalty_rounding
    if solution.objective == gram_value and solution.dual_gap != raw_gap:
        # kept: the reported gap includes the bound and still certifies tol
        assert solution.dual_gap == raw_gap + bound
        assert solution.dual_gap <= tol * solution.objective
    else:  # the data pass, accurate to its own sums over all the samples
        assert abs(solution.objective - exact) <= sum_rounding(4 * (len(y) + 6), size) + \
            penalty_rounding
    assert (solution.dual_gap == raw_gap + bound) == (case == "residuals")


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("in_order", [True, False])
def test_gram_form_task_by_task_reaches_the_chunked_layouts_optimum(in_order, fit_intercept,
                                                                     monkeypatch):
    """Large tasks go to the Gram form straight from X (``build_gram_task_data``):
    the same certified optimum as through the chunked layout, sorted rows or not."""
    import mtlreg._data as data_module

    X, y, tasks = _long(seed=3, sizes=(60, 45, 80), d=6)
    if in_order:
        order = np.argsort(tasks, kind="stable")
        X, y, tasks = X[order], y[order], tasks[order]
    fits = []
    for size in (0, np.inf):  # every task large, no task large
        monkeypatch.setattr(data_module, "DIRECT_GRAM_SIZE", size)
        problem = prepare(X, y, tasks, fit_intercept=fit_intercept)
        # task by task no per-sample array is kept; through the chunked layout Y stays
        assert problem.use_gram and (problem.data.Y is None) == (size == 0)
        est = mtlreg.L21Regressor(alpha=0.05, tol=1e-12, fit_intercept=fit_intercept)
        fits.append(est.fit(X, y, tasks=tasks))
    direct, chunked = fits
    assert direct.converged_ and chunked.converged_
    assert_same_optimum(direct.objective_, direct.dual_gap_, chunked.objective_,
                        chunked.dual_gap_)


# -- capabilities are declared and checked ------------------------------------------------------

def test_solvers_name_what_is_missing():
    xp = prepare(*_long()).xp
    with pytest.raises(TypeError, match="needs has_auxiliary from its penalty; L21"):
        require("alternating_minimization", L21(xp, 1.0), "penalty",
                capabilities=("has_auxiliary",))
    with pytest.raises(TypeError, match="does not declare the capability 'has_conjugat'"):
        require("fista", L21(xp, 1.0), "penalty", capabilities=("has_conjugat",))
    with pytest.raises(TypeError, match=r"needs prox\(\) from its penalty"):
        require("fista", object(), "penalty", methods=("prox",))


def test_protocols_are_abstract():
    with pytest.raises(TypeError):
        Penalty()
    with pytest.raises(TypeError):
        SmoothTerm()


# -- alpha_max on a prepared problem --------------------------------------------------------------

@pytest.mark.parametrize("loss_scaling", ["mean", "sum"])
def test_alpha_max_of_a_problem_is_the_dual_norm_of_the_gradient(loss_scaling):
    """Squared loss with intercepts: grad_W F(0, b*) has rows -c_t X_tc^T y_tc
    (X and y centred per task); the L2,1 threshold is its largest feature norm."""
    X, y, tasks = _long()
    problem = prepare(X, y, tasks, loss_scaling=loss_scaling)
    G = []
    for t in range(3):
        Xt, yt = X[tasks == t], y[tasks == t]
        c = 1.0 / len(yt) if loss_scaling == "mean" else 1.0
        G.append(-c * (Xt - Xt.mean(axis=0)).T @ (yt - yt.mean()))
    expected = np.linalg.norm(np.array(G), axis=0).max()
    got = mtlreg.alpha_max(problem, penalty="l21")
    assert abs(got - expected) <= sum_rounding(len(y), expected)
    assert got == mtlreg.alpha_max(X, y, tasks, penalty="l21", loss_scaling=loss_scaling)
    with pytest.raises(TypeError, match="takes no y or tasks"):
        mtlreg.alpha_max(problem, y)


def test_alpha_max_of_a_smooth_parameter_is_an_error():
    X, y, tasks = _long()
    with pytest.raises(ValueError, match="no closed-form threshold for 'alpha'"):
        mtlreg.alpha_max(X, y, tasks, estimator=mtlreg.MTFLRegressor())


# -- the worked example of docs/architecture.md: a new penalty through the seam -------------------

@pytest.mark.parametrize("l1_ratio, Reference", [(0.0, mtlreg.L21Regressor),
                                                 (1.0, mtlreg.LassoRegressor)])
def test_sparse_l21_ends_are_l21_and_lasso(l1_ratio, Reference):
    X, y, tasks = _long()
    problem = prepare(X, y, tasks)
    alpha = 0.2 * mtlreg.alpha_max(problem, penalty="l1")
    fit = solve(problem, Objective(parts=(Part(SparseL21(problem.xp, alpha,
                                                         l1_ratio=l1_ratio)),)), tol=1e-10)
    ref = Reference(alpha=alpha, tol=1e-10).fit(X, y, tasks=tasks)
    assert fit.converged and ref.converged_
    assert_same_optimum(fit.objective, fit.dual_gap, ref.objective_, ref.dual_gap_,
                        rounding(ref.objective_))


def test_sparse_l21_threshold_and_working_sets():
    """Just above its alpha_max the solution is zero, just below it is not; with
    many features the working-set solver certifies the full problem's gap."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((90, 240))
    tasks = np.repeat([0, 1, 2], 30)
    y = X[:, :4] @ rng.standard_normal(4) + 0.1 * rng.standard_normal(90)
    problem = prepare(X, y, tasks)
    top = mtlreg.alpha_max(problem, penalty="sparse_l21")
    above = solve(problem, Objective(parts=(Part(SparseL21(problem.xp, top * (1 + 1e-9))),)))
    assert np.all(above.coef == 0)
    below = solve(problem, Objective(parts=(Part(SparseL21(problem.xp, 0.3 * top)),)),
                  tol=1e-8)
    assert below.converged and np.abs(below.coef).max() > 0
    assert_stopping_rule(below.converged, below.dual_gap, below.objective, 1e-8)
    assert len(below.history) >= 1 and below.raw.n_iter == below.n_iter


def test_solver_inputs_are_what_solve_hands_its_solver():
    """The benchmark suites time a solver on ``solver_inputs``: the same run as solve's,
    for the solver named, and for ``"auto"`` ADMM on the squared loss's Gram path (no
    working sets here: 6 features), FISTA otherwise."""
    from mtlreg.problem import solver_inputs
    from mtlreg.solvers import admm, fista

    X, y, tasks = _long()
    for loss, target in (("squared", y), ("logistic", y > np.median(y))):
        problem = prepare(X, target, tasks, loss=loss)
        runs = [("fista", fista)] + ([("admm", admm), ("auto", admm)] if problem.use_gram
                                     else [("auto", fista)])
        for name, run in runs:
            objective = Objective(parts=(Part(L21(problem.xp, 0.01)),
                                         Part(L1(problem.xp, 0.02))), solver=name)
            raw = run(*solver_inputs(problem, objective), tol=1e-8, max_iter=500)
            solution = solve(problem, objective, tol=1e-8, max_iter=500)
            assert np.array_equal(raw.coef, solution.raw.coef) and raw.n_iter == solution.n_iter


def test_a_misspelt_capability_is_an_error_when_the_class_is_defined():
    with pytest.raises(TypeError, match="seperable_over_features, which is not a capability"):
        class Typo(L21):
            seperable_over_features = True
    from mtlreg.losses import BaseDataFit
    with pytest.raises(TypeError, match="has_duals, which is not a capability"):
        class TypoFit(BaseDataFit):
            has_duals = True


def test_smooth_term_of_a_decomposed_objective_acts_on_the_sum_of_the_parts():
    """F(P + Q) + g(P + Q) with zero part penalties: the reported objective is the
    formula at the returned sum, and it is the one-part optimum of F + g (both
    certified: the zero penalties hand the whole dual point to g)."""
    from mtlreg.penalties import ASOPenalty, Zero

    X, y, tasks = _long()
    problem = prepare(X, y, tasks)
    xp = problem.xp
    term = ASOPenalty(xp, 0.1, 0.1, 2)
    one = solve(problem, Objective(parts=(Part(Zero(xp)),), smooth=term), tol=1e-10)
    two = solve(problem, Objective(parts=(Part(Zero(xp)), Part(Zero(xp))), smooth=term),
                tol=1e-10)
    assert one.converged and two.converged
    W = two.coef
    formula = float(problem.datafit.value(W, None, problem.datafit.state(W, None))) \
        + float(term.value(W))
    assert abs(two.objective - formula) <= rounding(formula)
    assert_same_optimum(two.objective, two.dual_gap, one.objective, one.dual_gap,
                        rounding(one.objective))


def test_solver_options_go_to_plain_fista_even_with_many_features():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((60, 220))
    tasks = np.repeat([0, 1], 30)
    y = X[:, 0] + 0.1 * rng.standard_normal(60)
    problem = prepare(X, y, tasks)
    penalty = L21(problem.xp, 0.5 * mtlreg.alpha_max(problem, penalty="l21"))
    fit = solve(problem, Objective(parts=(Part(penalty),), solver_options={"check_every": 5}),
                tol=1e-6)
    assert fit.converged and fit.n_iter % 5 == 0 and fit.raw.lipschitz == fit.raw.lipschitz


def test_alpha_max_of_a_problem_refuses_other_settings():
    X, y, tasks = _long()
    problem = prepare(X, y > 0, tasks, loss="logistic")
    assert mtlreg.alpha_max(problem, penalty="l1") == mtlreg.alpha_max(
        problem, penalty="l1", loss="logistic")
    with pytest.raises(ValueError, match="prepared with loss='logistic'.*fit_intercept=False"):
        mtlreg.alpha_max(problem, penalty="l1", fit_intercept=False)
    with pytest.raises(ValueError, match="L21Classifier has loss_scaling='sum'"):
        mtlreg.alpha_max(problem, estimator=mtlreg.L21Classifier(loss_scaling="sum"))


def test_old_alpha_max_import_still_works_with_a_warning():
    import mtlreg.feature

    with pytest.warns(FutureWarning, match="use mtlreg.alpha_max"):
        old = mtlreg.feature.alpha_max
    assert old is mtlreg.alpha_max
