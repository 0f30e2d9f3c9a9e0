"""Task-aware metrics and scorers (mtlreg.metrics).

Every reference value is computed by hand: a loop over the tasks that applies
scikit-learn's single-task metric (or the formula in NumPy) to each task's
slice, then averages.

Tolerances.  A metric and its reference are one closed form summed in another
order over at most 80 samples of size O(10): they differ by a few n eps
relative (the R2 and explained-variance values here are 0.5 or more away from
0, so ``1 - ratio`` does not cancel), and ``rtol=1e-12`` (about 4500 eps) is
that rounding level with room.  The scikit-learn searches (GridSearchCV,
cross_validate) refit the same estimator on the same folds as the hand loops:
the same operations on the same data in this process, equal up to the
rounding of the averages (``rtol=1e-10`` leaves room).
"""

import warnings

import numpy as np
import pytest
import sklearn
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import (
    accuracy_score,
    explained_variance_score,
    mean_squared_error,
    r2_score,
    roc_auc_score,
)
from sklearn.model_selection import GridSearchCV, KFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mtlreg import L21Classifier, L21Regressor
from problems import three_tasks as _problem
from mtlreg.metrics import (
    TaskScorer,
    default_scorer,
    get_scorer,
    get_scorer_names,
    task_accuracy_score,
    task_explained_variance_score,
    task_mean_squared_error,
    task_normalized_mean_squared_error,
    task_r2_score,
    task_roc_auc_score,
)


# ------------------------------------------------------------ hand references
def _nmse_1task(y, p, w=None):
    ybar = np.average(y, weights=w)
    return np.average((y - p) ** 2, weights=w) / np.average((y - ybar) ** 2, weights=w)


def _auc_1task(y, s, w=None):
    return roc_auc_score(y == "pos", s, sample_weight=w)


# metric, single-task reference, kind of data
METRICS = {
    "mse": (task_mean_squared_error,
            lambda y, p, w: mean_squared_error(y, p, sample_weight=w), "regression"),
    "nmse": (task_normalized_mean_squared_error, _nmse_1task, "regression"),
    "ev": (task_explained_variance_score,
           lambda y, p, w: explained_variance_score(y, p, sample_weight=w), "regression"),
    "r2": (task_r2_score, lambda y, p, w: r2_score(y, p, sample_weight=w), "regression"),
    "accuracy": (task_accuracy_score,
                 lambda y, p, w: accuracy_score(y, p, sample_weight=w), "labels"),
    "roc_auc": (task_roc_auc_score, _auc_1task, "scores"),
}

LABELS = np.array(["delta", "alpha", "charlie"])  # unsorted on purpose
SIZES = (15, 25, 40)  # unequal, so "tasks" and "samples" averages differ


def _data(kind, seed=0):
    """Long-format (y_true, y_pred, tasks, weights), samples shuffled."""
    rng = np.random.default_rng(seed)
    tasks = np.repeat(LABELS, SIZES)
    n = tasks.shape[0]
    center = {lab: 3.0 * i for i, lab in enumerate(LABELS)}
    y = np.array([center[lab] for lab in tasks]) + rng.standard_normal(n)
    if kind == "regression":
        pred = y + 0.3 * rng.standard_normal(n) + 0.2
    elif kind == "labels":
        y = np.where(rng.standard_normal(n) > 0, "pos", "neg")
        flip = rng.uniform(size=n) < np.array([0.1 * (i + 1) for i in np.unique(
            tasks, return_inverse=True)[1]])
        pred = np.where(flip, np.where(y == "pos", "neg", "pos"), y)
    else:  # scores
        y = np.where(rng.standard_normal(n) > 0, "pos", "neg")
        pred = (y == "pos") + 1.2 * rng.standard_normal(n)
    w = rng.uniform(0.1, 2.0, n)
    order = rng.permutation(n)
    return y[order], pred[order], tasks[order], w[order]


def _per_task(reference, y, p, tasks, w=None):
    values, sizes = [], []
    for label in np.unique(tasks):
        m = tasks == label
        values.append(reference(y[m], p[m], None if w is None else w[m]))
        sizes.append(m.sum() if w is None else w[m].sum())
    return np.array(values), np.array(sizes, dtype=float)


def _expected(values, sizes, average):
    if average is None:
        return values
    if average == "tasks":
        return values.mean()
    return np.sum(sizes * values) / np.sum(sizes)


# ----------------------------------------------------------------- metrics
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("average", ["tasks", "samples", None])
@pytest.mark.parametrize("name", list(METRICS))
def test_metric_matches_per_task_loop(name, average, weighted):
    metric, reference, kind = METRICS[name]
    y, p, tasks, w = _data(kind)
    w = w if weighted else None
    values, sizes = _per_task(reference, y, p, tasks, w)
    got = metric(y, p, tasks, average=average, sample_weight=w)
    assert_allclose(got, _expected(values, sizes, average), rtol=1e-12)
    if average is not None:
        assert isinstance(got, float)
    else:
        assert got.shape == (3,)


def test_averages_differ_on_unequal_tasks():
    """The two averages are different numbers here, so the test above tells
    them apart."""
    y, p, tasks, _ = _data("regression")
    a = task_r2_score(y, p, tasks, average="tasks")
    b = task_r2_score(y, p, tasks, average="samples")
    assert abs(a - b) > 1e-3


def _shared_design(kind, seed=1):
    """2-D (n, 3) data and the same data in long format with labels
    "cat", "ant", "bee" for columns 2, 0, 1 (sorted: ant, bee, cat)."""
    rng = np.random.default_rng(seed)
    n, T = 20, 3
    Y = rng.standard_normal((n, T)) + np.arange(T)
    if kind == "regression":
        P = Y + 0.4 * rng.standard_normal((n, T))
    elif kind == "labels":
        Y = np.where(Y > np.arange(T), "pos", "neg")
        P = np.where(rng.uniform(size=(n, T)) < 0.25, "neg", Y)
    else:
        Y = np.where(rng.standard_normal((n, T)) > 0, "pos", "neg")
        P = (Y == "pos") + rng.standard_normal((n, T))
    names = np.array(["ant", "bee", "cat"])
    y, p, t = Y.T.reshape(-1), P.T.reshape(-1), np.repeat(names, n)
    order = rng.permutation(n * T)
    w = rng.uniform(0.5, 1.5, n)
    return Y, P, w, y[order], p[order], t[order], np.tile(w, T)[order]


@pytest.mark.parametrize("name", list(METRICS))
def test_long_format_and_shared_design_agree(name):
    metric, reference, kind = METRICS[name]
    Y, P, w, y, p, t, w_long = _shared_design(kind)
    shared = metric(Y, P, average=None)
    assert_allclose(metric(y, p, t, average=None), shared, rtol=1e-12)
    by_column = [reference(Y[:, j], P[:, j], None) for j in range(3)]
    assert_allclose(shared, by_column, rtol=1e-12)
    # row weights of a shared design apply to every task
    assert_allclose(metric(Y, P, average=None, sample_weight=w),
                    metric(y, p, t, average=None, sample_weight=w_long), rtol=1e-12)
    for average in ("tasks", "samples"):
        assert metric(Y, P, average=average) == pytest.approx(np.mean(by_column), rel=1e-12)


def test_shared_design_r2_is_sklearn_uniform_average():
    Y, P, *_ = _shared_design("regression")
    assert task_r2_score(Y, P) == pytest.approx(r2_score(Y, P), rel=1e-12)


def test_one_task_without_labels():
    y, p, _, w = _data("regression")
    assert task_mean_squared_error(y, p, sample_weight=w) == pytest.approx(
        mean_squared_error(y, p, sample_weight=w), rel=1e-12)
    assert_allclose(task_r2_score(y, p, average=None), [r2_score(y, p)], rtol=1e-12)


@pytest.mark.parametrize("weighted", [False, True])
def test_mse_samples_average_is_pooled_mse(weighted):
    y, p, tasks, w = _data("regression")
    w = w if weighted else None
    pooled = mean_squared_error(y, p, sample_weight=w)
    got = task_mean_squared_error(y, p, tasks, average="samples", sample_weight=w)
    assert got == pytest.approx(pooled, rel=1e-12)
    assert task_mean_squared_error(y, p, tasks, sample_weight=w) != pytest.approx(pooled)


def test_nmse_is_one_minus_r2_per_task():
    y, p, tasks, w = _data("regression")
    y[tasks == "alpha"] = 2.5  # a constant task too
    for sw in (None, w):
        assert_allclose(task_normalized_mean_squared_error(y, p, tasks, average=None,
                                                           sample_weight=sw),
                        1.0 - task_r2_score(y, p, tasks, average=None, sample_weight=sw),
                        rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("exact", [True, False], ids=["perfect", "imperfect"])
def test_constant_target_task_follows_sklearn_force_finite(exact):
    y, p, tasks, _ = _data("regression")
    const = tasks == "charlie"
    y[const] = 2.5
    p[const] = 2.5 if exact else 2.5 + np.linspace(-1, 1, const.sum())
    j = list(np.unique(tasks)).index("charlie")
    r2 = task_r2_score(y, p, tasks, average=None)[j]
    ev = task_explained_variance_score(y, p, tasks, average=None)[j]
    nmse = task_normalized_mean_squared_error(y, p, tasks, average=None)[j]
    assert r2 == r2_score(y[const], p[const]) == (1.0 if exact else 0.0)
    assert ev == explained_variance_score(y[const], p[const]) == (1.0 if exact else 0.0)
    assert nmse == 1.0 - r2


def test_constant_target_detected_exactly():
    """A constant 0.1 has a mean that rounds; scikit-learn then divides by a
    rounding-sized variance (R2 about -1e29).  mtlreg applies the convention."""
    y = np.full(3, 0.1)
    p = y + np.array([-0.01, 0.0, 0.01])
    assert r2_score(y, p) < -1e20  # scikit-learn's rounding artefact, as documented
    assert task_r2_score(y, p) == 0.0
    assert task_explained_variance_score(y, p) == 0.0
    assert task_normalized_mean_squared_error(y, p) == 1.0
    assert task_r2_score(y, y.copy()) == 1.0
    # a constant offset is a zero residual variance: EV 1, R2 0
    assert task_explained_variance_score(y, y + 0.3) == 1.0
    assert task_r2_score(y, y + 0.3) == 0.0


def test_auc_single_class_task_is_nan_and_left_out():
    y, s, tasks, w = _data("scores")
    y[tasks == "charlie"] = "neg"
    labels = list(np.unique(tasks))
    j = labels.index("charlie")
    with pytest.warns(UndefinedMetricWarning, match="'charlie'"):
        per_task = task_roc_auc_score(y, s, tasks, average=None, sample_weight=w)
    assert np.isnan(per_task[j])
    others = [lab for lab in labels if lab != "charlie"]
    ref = [_auc_1task(y[tasks == lab], s[tasks == lab], w[tasks == lab]) for lab in others]
    assert_allclose(np.delete(per_task, j), ref, rtol=1e-12)
    with pytest.warns(UndefinedMetricWarning, match="left out of the average"):
        mean = task_roc_auc_score(y, s, tasks, sample_weight=w)
    assert mean == pytest.approx(np.mean(ref), rel=1e-12)
    sizes = [w[tasks == lab].sum() for lab in others]
    with pytest.warns(UndefinedMetricWarning):
        pooled = task_roc_auc_score(y, s, tasks, average="samples", sample_weight=w)
    assert pooled == pytest.approx(np.average(ref, weights=sizes), rel=1e-12)


def test_auc_no_task_with_both_classes_is_nan():
    y, s, tasks, _ = _data("scores")
    y = np.where(tasks == "alpha", "pos", "neg")
    with pytest.warns(UndefinedMetricWarning, match="averaged AUC is NaN"):
        assert np.isnan(task_roc_auc_score(y, s, tasks))
    with pytest.warns(UndefinedMetricWarning):
        assert np.isnan(task_roc_auc_score(np.full(5, "pos"), np.arange(5.0)))


def test_auc_pos_label():
    y, s, tasks, _ = _data("scores")
    default = task_roc_auc_score(y, s, tasks, average=None)  # "pos" > "neg"
    assert_allclose(task_roc_auc_score(y, s, tasks, average=None, pos_label="pos"), default)
    # continuous scores have no ties: the other class's AUC is 1 - AUC
    assert_allclose(task_roc_auc_score(y, s, tasks, average=None, pos_label="neg"),
                    1.0 - default, rtol=1e-12)
    y01 = (y == "pos").astype(int)
    assert_allclose(task_roc_auc_score(y01, s, tasks, average=None), default, rtol=1e-12)
    with pytest.raises(ValueError, match="pos_label='yes' is not one of the labels"):
        task_roc_auc_score(y, s, tasks, pos_label="yes")
    with pytest.raises(ValueError, match="binary labels; y_true has 3 classes"):
        task_roc_auc_score(np.array([0, 1, 2, 1]), np.arange(4.0))


def test_accuracy_labels_of_any_type():
    tasks = np.array([2, 1, 2, 1, 1])
    y = np.array([True, False, True, True, False])
    p = np.array([True, True, True, True, False])
    assert_allclose(task_accuracy_score(y, p, tasks, average=None), [2 / 3, 1.0])
    # numbers are never equal to their string spelling
    assert task_accuracy_score(np.array([1, 0]), np.array(["1", "0"])) == 0.0


def test_input_containers():
    y, p, tasks, w = _data("regression")
    ref = task_r2_score(y, p, tasks, average=None, sample_weight=w)
    assert_allclose(task_r2_score(list(y), list(p), list(tasks), average=None,
                                  sample_weight=list(w)), ref, rtol=1e-15)
    pd = pytest.importorskip("pandas")
    assert_allclose(task_r2_score(pd.Series(y), pd.Series(p), pd.Series(tasks), average=None,
                                  sample_weight=pd.Series(w)), ref, rtol=1e-15)
    xp = pytest.importorskip("array_api_strict")  # no device emulation: any NumPy
    assert_allclose(task_r2_score(xp.asarray(y), xp.asarray(p), tasks, average=None,
                                  sample_weight=xp.asarray(w)), ref, rtol=1e-15)


def _bad(**change):
    y, p, tasks, w = _data("regression")
    args = {"y_true": y, "y_pred": p, "tasks": tasks, "average": "tasks",
            "sample_weight": w}
    args.update(change)
    return args


def _nan_at_3(a):
    a = a.copy()
    a[3] = np.nan
    return a


def _inf_at_0(a):
    a = a.copy()
    a[0] = np.inf
    return a


BAD_INPUTS = {
    "tasks length": (lambda a: dict(tasks=a["tasks"][:-1]), "tasks has 79 labels but y_true has 80"),
    "y_pred length": (lambda a: dict(y_pred=a["y_pred"][:-1]), r"y_pred has shape \(79,\) but y_true"),
    "y_pred 2-D": (lambda a: dict(y_pred=a["y_pred"][:, None]), r"y_pred has shape \(80, 1\)"),
    "2-D with tasks": (lambda a: dict(y_true=np.stack([a["y_true"]] * 2, 1),
                                      y_pred=np.stack([a["y_pred"]] * 2, 1)),
                       "tasks was given with a 2-D y_true"),
    "3-D y": (lambda a: dict(y_true=a["y_true"].reshape(2, 4, 10),
                             y_pred=a["y_pred"].reshape(2, 4, 10), tasks=None),
              "y_true must be 1-D .* or 2-D"),
    "NaN in y_pred": (lambda a: dict(y_pred=_nan_at_3(a["y_pred"])), "y_pred contains NaN"),
    "NaN in y_true": (lambda a: dict(y_true=_nan_at_3(a["y_true"])), "y_true contains NaN"),
    "inf in y_true": (lambda a: dict(y_true=_inf_at_0(a["y_true"])), "y_true contains infinity"),
    "unknown average": (lambda a: dict(average="macro"), "average must be 'tasks', 'samples' or None"),
    "negative weight": (lambda a: dict(sample_weight=a["sample_weight"] - 1.0),
                        "sample_weight has negative values"),
    "weight length": (lambda a: dict(sample_weight=a["sample_weight"][:5]),
                      "sample_weight has 5 values but y_true has 80"),
    "NaN weight": (lambda a: dict(sample_weight=_nan_at_3(a["sample_weight"])),
                   "sample_weight contains NaN"),
    "zero-weight task": (lambda a: dict(sample_weight=np.where(a["tasks"] == "alpha", 0.0, 1.0)),
                         "task.* 'alpha' have zero total sample weight"),
    "string targets": (lambda a: dict(y_true=a["y_true"].astype(str)), "y_true must be numeric"),
    "missing task label": (lambda a: dict(tasks=np.where(np.arange(80) == 7, None,
                                                         a["tasks"]).astype(object)),
                           "missing label"),
    "empty": (lambda a: dict(y_true=a["y_true"][:0], y_pred=a["y_pred"][:0], tasks=None,
                             sample_weight=None), "y_true is empty"),
}


@pytest.mark.parametrize("metric", [task_mean_squared_error, task_normalized_mean_squared_error,
                                    task_explained_variance_score, task_r2_score],
                         ids=lambda f: f.__name__)
@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_raises(case, metric):
    change, message = BAD_INPUTS[case]
    args = _bad()
    args.update(change(args))
    with pytest.raises(ValueError, match=message):
        metric(**args)


def test_bad_input_classification_metrics():
    y, s, tasks, _ = _data("scores")
    with pytest.raises(ValueError, match="y_pred contains NaN"):
        task_roc_auc_score(y, _nan_at_3(s), tasks)
    with pytest.raises(ValueError, match="y_pred has shape"):
        task_accuracy_score(y, y[:-1], tasks)
    with pytest.raises(ValueError, match="average must be"):
        task_accuracy_score(y, y, tasks, average="weighted")
    with pytest.raises(ValueError, match="tasks has 3 labels"):
        task_roc_auc_score(y, s, tasks[:3])


# ------------------------------------------------------------------ scorers


REGRESSION_SCORERS = {
    "neg_mean_squared_error": (-1, task_mean_squared_error),
    "neg_normalized_mean_squared_error": (-1, task_normalized_mean_squared_error),
    "explained_variance": (1, task_explained_variance_score),
    "r2": (1, task_r2_score),
}


@pytest.fixture(scope="module")
def fitted_regressor():
    X, y, tasks = _problem()
    return L21Regressor(alpha=0.01).fit(X, y, tasks=tasks), X, y, tasks


@pytest.fixture(scope="module")
def fitted_classifier():
    X, y, tasks = _problem(classifier=True)
    return L21Classifier(alpha=0.01).fit(X, y, tasks=tasks), X, y, tasks


@pytest.mark.parametrize("average", ["tasks", "samples"])
@pytest.mark.parametrize("name", list(REGRESSION_SCORERS))
def test_regression_scorer_is_signed_metric_of_predictions(fitted_regressor, name, average):
    est, X, y, tasks = fitted_regressor
    sign, metric = REGRESSION_SCORERS[name]
    w = np.linspace(0.5, 2.0, y.shape[0])
    scorer = get_scorer(name, average=average)
    pred = est.predict(X, tasks=tasks)
    got = scorer(est, X, y, tasks=tasks)
    assert isinstance(got, float)
    assert got == pytest.approx(sign * metric(y, pred, tasks, average=average), rel=1e-12)
    assert scorer(est, X, y, tasks=tasks, sample_weight=w) == pytest.approx(
        sign * metric(y, pred, tasks, average=average, sample_weight=w), rel=1e-12)


def test_classifier_scorers(fitted_classifier):
    est, X, y, tasks = fitted_classifier
    pred = est.predict(X, tasks=tasks)
    assert get_scorer("accuracy")(est, X, y, tasks=tasks) == pytest.approx(
        task_accuracy_score(y, pred, tasks), rel=1e-12)
    logits = est.decision_function(X, tasks=tasks)
    auc = get_scorer("roc_auc")(est, X, y, tasks=tasks)
    per_task = [roc_auc_score(y[tasks == t] == est.classes_[1], logits[tasks == t])
                for t in np.unique(tasks)]
    assert auc == pytest.approx(np.mean(per_task), rel=1e-12)
    assert 0.5 < auc <= 1.0


class _Stub:
    """A fitted 'estimator' that returns given scores (tasks are ignored)."""

    def __init__(self, scores, classes=None):
        self.scores = scores
        self.classes_ = classes

    def predict(self, X, tasks=None):
        return self.scores

    decision_function = predict


def test_roc_auc_scorer_takes_pos_label_from_classes_1():
    """The logit is that of classes_[1], whichever label sorts last."""
    y, s, tasks, _ = _data("scores")
    scorer = get_scorer("roc_auc")
    stub = _Stub(s, classes=np.array(["neg", "pos"]))
    assert scorer(stub, None, y, tasks=tasks) == pytest.approx(
        task_roc_auc_score(y, s, tasks, pos_label="pos"), rel=1e-12)
    # scores of "neg" (classes_[1] = "neg"): the AUC of "neg", not 1 - it
    flipped = _Stub(-s, classes=np.array(["pos", "neg"]))
    assert scorer(flipped, None, y, tasks=tasks) == pytest.approx(
        task_roc_auc_score(y, -s, tasks, pos_label="neg"), rel=1e-12)
    assert scorer(flipped, None, y, tasks=tasks) == pytest.approx(
        scorer(stub, None, y, tasks=tasks), rel=1e-12)


def test_shared_design_scored_without_tasks():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((40, 4))
    Y = X @ rng.standard_normal((4, 3)) + 0.3 * rng.standard_normal((40, 3))
    est = L21Regressor(alpha=0.01).fit(X, Y)
    P = est.predict(X)
    assert P.shape == (40, 3)
    for name, (sign, metric) in REGRESSION_SCORERS.items():
        assert get_scorer(name)(est, X, Y) == pytest.approx(sign * metric(Y, P), rel=1e-12)
    assert get_scorer("r2")(est, X, Y) == pytest.approx(r2_score(Y, P), rel=1e-12)
    with pytest.raises(ValueError, match="fitted on a shared design .* 2-D y_true"):
        get_scorer("r2")(est, X, Y[:, 0])
    # column indices as tasks: one task per sample
    cols = np.arange(40) % 3
    y_long = Y[np.arange(40), cols]
    assert get_scorer("r2")(est, X, y_long, tasks=cols) == pytest.approx(
        task_r2_score(y_long, P[np.arange(40), cols], cols), rel=1e-12)


def test_scorer_without_tasks_on_long_format_model_says_how_to_route(fitted_regressor):
    est, X, y, _ = fitted_regressor
    for scorer in (get_scorer("r2"), get_scorer("neg_mean_squared_error")):
        with pytest.raises(ValueError, match=r"needs the task label .* fitted in long format "
                                             r"on 3 tasks.*enable_metadata_routing=True.*"
                                             r"set_fit_request\(tasks=True\)"):
            scorer(est, X, y)
    pipe = make_pipeline(StandardScaler(), L21Regressor(alpha=0.01)).fit(
        X, y, l21regressor__tasks=fitted_regressor[3])
    with pytest.raises(ValueError, match="needs the task label"):
        get_scorer("r2")(pipe, X, y)


def test_single_task_long_format_model_needs_no_tasks():
    X, y, tasks = _problem()
    one = tasks == "a"
    est = L21Regressor(alpha=0.01).fit(X[one], y[one], tasks=tasks[one])
    assert get_scorer("r2")(est, X[one], y[one]) == pytest.approx(
        r2_score(y[one], est.predict(X[one])), rel=1e-12)


def _hand_cv(est, X, y, tasks, cv, scorer_name, sample_weight=None):
    sign, metric = {**REGRESSION_SCORERS, "accuracy": (1, task_accuracy_score),
                    "roc_auc": (1, task_roc_auc_score)}[scorer_name]
    scores = []
    for train, test in cv.split(X, y):
        model = clone(est).fit(X[train], y[train], tasks=tasks[train])
        w = None if sample_weight is None else sample_weight[test]
        if scorer_name == "roc_auc":
            pred = model.decision_function(X[test], tasks=tasks[test])
            value = metric(y[test], pred, tasks[test], sample_weight=w,
                           pos_label=model.classes_[1])
        else:
            pred = model.predict(X[test], tasks=tasks[test])
            value = metric(y[test], pred, tasks[test], sample_weight=w)
        scores.append(sign * value)
    return np.array(scores)


CV = KFold(3, shuffle=True, random_state=0)


def test_grid_search_routes_tasks_to_scorer():
    X, y, tasks = _problem()
    alphas = [0.001, 0.05, 0.5]
    est = L21Regressor()
    with sklearn.config_context(enable_metadata_routing=True):
        search = GridSearchCV(clone(est).set_fit_request(tasks=True), {"alpha": alphas},
                              scoring=get_scorer("neg_mean_squared_error"), cv=CV)
        search.fit(X, y, tasks=tasks)
    means = [_hand_cv(clone(est).set_params(alpha=a), X, y, tasks, CV,
                      "neg_mean_squared_error").mean() for a in alphas]
    scores = search.cv_results_["mean_test_score"]
    assert np.all(np.isfinite(scores))
    assert_allclose(scores, means, rtol=1e-10)
    assert search.best_params_ == {"alpha": alphas[int(np.argmax(means))]}


def test_grid_search_multi_metric():
    X, y, tasks = _problem()
    alphas = [0.01, 0.3]
    est = L21Regressor()
    scoring = {"mse": get_scorer("neg_mean_squared_error"), "r2": get_scorer("r2"),
               "nmse": get_scorer("neg_normalized_mean_squared_error")}
    with sklearn.config_context(enable_metadata_routing=True):
        search = GridSearchCV(clone(est).set_fit_request(tasks=True), {"alpha": alphas},
                              scoring=scoring, refit="r2", cv=CV)
        search.fit(X, y, tasks=tasks)
    for key, name in [("mse", "neg_mean_squared_error"), ("r2", "r2"),
                      ("nmse", "neg_normalized_mean_squared_error")]:
        means = [_hand_cv(clone(est).set_params(alpha=a), X, y, tasks, CV, name).mean()
                 for a in alphas]
        assert_allclose(search.cv_results_[f"mean_test_{key}"], means, rtol=1e-10)
    # per task nMSE = 1 - R2, so the scores -nMSE and R2 differ by exactly 1
    assert_allclose(search.cv_results_["mean_test_nmse"] - search.cv_results_["mean_test_r2"],
                    -1.0, rtol=1e-12)


@pytest.mark.parametrize("name", ["r2", "explained_variance"])
def test_cross_validate_routes_tasks(name):
    X, y, tasks = _problem()
    est = L21Regressor(alpha=0.01)
    with sklearn.config_context(enable_metadata_routing=True):
        res = cross_validate(clone(est).set_fit_request(tasks=True), X, y, cv=CV,
                             scoring=get_scorer(name), params={"tasks": tasks})
    assert np.all(np.isfinite(res["test_score"]))
    assert_allclose(res["test_score"], _hand_cv(est, X, y, tasks, CV, name), rtol=1e-10)


def test_cross_validate_classifier_roc_auc_and_accuracy():
    X, y, tasks = _problem(classifier=True)
    est = L21Classifier(alpha=0.01)
    scoring = {"roc_auc": get_scorer("roc_auc"), "accuracy": get_scorer("accuracy")}
    with sklearn.config_context(enable_metadata_routing=True):
        res = cross_validate(clone(est).set_fit_request(tasks=True), X, y, cv=CV,
                             scoring=scoring, params={"tasks": tasks})
    for name in scoring:
        assert np.all(np.isfinite(res[f"test_{name}"]))
        assert_allclose(res[f"test_{name}"], _hand_cv(est, X, y, tasks, CV, name),
                        rtol=1e-10)


def test_sample_weight_routed_only_when_requested():
    X, y, tasks = _problem()
    w = np.random.default_rng(5).uniform(0.2, 3.0, y.shape[0])
    est = L21Regressor(alpha=0.01)
    with sklearn.config_context(enable_metadata_routing=True):
        scorer = get_scorer("r2").set_score_request(sample_weight=True)
        res = cross_validate(clone(est).set_fit_request(tasks=True), X, y, cv=CV,
                             scoring=scorer, params={"tasks": tasks, "sample_weight": w})
        assert_allclose(res["test_score"], _hand_cv(est, X, y, tasks, CV, "r2", w),
                        rtol=1e-10)
        # by default the scorer does not request sample_weight: passing it is an error
        with pytest.raises(Exception, match="sample_weight"):
            cross_validate(clone(est).set_fit_request(tasks=True), X, y, cv=CV,
                           scoring=get_scorer("r2"),
                           params={"tasks": tasks, "sample_weight": w})


def test_metadata_requests():
    with sklearn.config_context(enable_metadata_routing=True):
        scorer = get_scorer("r2")
        routing = scorer.get_metadata_routing()
        assert routing.consumes("score", ["tasks", "sample_weight"]) == {"tasks"}
        scorer.set_score_request(sample_weight=True)  # keeps tasks requested
        assert scorer.get_metadata_routing().consumes(
            "score", ["tasks", "sample_weight"]) == {"tasks", "sample_weight"}
        scorer.set_score_request(tasks=False)
        assert scorer.get_metadata_routing().consumes(
            "score", ["tasks", "sample_weight"]) == {"sample_weight"}
        # each get_scorer call builds a new scorer with the default requests
        assert get_scorer("r2").get_metadata_routing().consumes(
            "score", ["tasks"]) == {"tasks"}
        with pytest.raises(TypeError, match="Unexpected args"):
            scorer.set_score_request(groups=True)
    with pytest.raises(RuntimeError, match="enable_metadata_routing"):
        get_scorer("r2").set_score_request(tasks=True)


def test_set_score_request_tasks_false_stops_routing():
    X, y, tasks = _problem()
    with sklearn.config_context(enable_metadata_routing=True):
        est = L21Regressor(alpha=0.01).set_fit_request(tasks=True)
        scorer = get_scorer("r2").set_score_request(tasks=False)
        with pytest.warns(UserWarning, match="Scoring failed"):
            res = cross_validate(est, X, y, cv=CV, scoring=scorer, params={"tasks": tasks})
        assert np.all(np.isnan(res["test_score"]))
        with pytest.raises(ValueError, match="needs the task label"):
            cross_validate(est, X, y, cv=CV, scoring=scorer, params={"tasks": tasks},
                           error_score="raise")
        # the default scorer, same call: finite
        res = cross_validate(est, X, y, cv=CV, scoring=get_scorer("r2"),
                             params={"tasks": tasks})
        assert np.all(np.isfinite(res["test_score"]))


def test_repr_and_constructor_checks():
    assert repr(get_scorer("neg_mean_squared_error")) == \
        "TaskScorer(task_mean_squared_error, sign=-1, average='tasks')"
    assert repr(get_scorer("roc_auc", average="samples")) == (
        "TaskScorer(task_roc_auc_score, sign=1, response_method='decision_function', "
        "average='samples')")
    with pytest.raises(ValueError, match="average must be 'tasks' or 'samples', not None"):
        TaskScorer(task_r2_score, average=None)
    with pytest.raises(ValueError, match="average must be"):
        TaskScorer(task_r2_score, average="macro")
    with pytest.raises(ValueError, match="response_method must be one of"):
        TaskScorer(task_r2_score, response_method="predict_proba")
    with pytest.raises(ValueError, match="pos_label is taken from the estimator"):
        TaskScorer(task_roc_auc_score, response_method="decision_function", pos_label=1)
    with pytest.raises(ValueError, match="sign must be 1 or -1"):
        TaskScorer(task_r2_score, sign=2)


def test_custom_task_scorer_passes_metric_kwargs():
    y, s, tasks, _ = _data("scores")
    scorer = TaskScorer(task_roc_auc_score, average="samples", pos_label="neg")
    got = scorer(_Stub(s), None, y, tasks=tasks)
    assert got == pytest.approx(task_roc_auc_score(y, s, tasks, average="samples",
                                                   pos_label="neg"), rel=1e-12)
    assert got < 0.5  # the scores are those of "pos"


def test_get_scorer_names_and_lookup():
    names = get_scorer_names()
    assert names == sorted(["neg_mean_squared_error", "neg_normalized_mean_squared_error",
                            "explained_variance", "r2", "accuracy", "roc_auc"])
    scorer = get_scorer("r2")
    assert get_scorer(scorer) is scorer
    assert get_scorer("r2") is not get_scorer("r2")
    with pytest.raises(ValueError, match="'neg_mean_absolute_error' is not a task-aware "
                                         "scorer; valid names: accuracy, explained_variance"):
        get_scorer("neg_mean_absolute_error")
    with pytest.raises(ValueError, match="scikit-learn's own scorer strings"):
        get_scorer("f1")


def test_default_scorer(fitted_regressor, fitted_classifier):
    est, X, y, tasks = fitted_regressor
    scorer = default_scorer(est)
    assert scorer.metric is task_mean_squared_error and scorer.sign == -1
    pred = est.predict(X, tasks=tasks)
    mse = [mean_squared_error(y[tasks == t], pred[tasks == t]) for t in np.unique(tasks)]
    assert scorer(est, X, y, tasks=tasks) == pytest.approx(-np.mean(mse), rel=1e-12)

    clf, Xc, yc, tc = fitted_classifier
    scorer = default_scorer(clf)
    assert scorer.metric is task_accuracy_score and scorer.sign == 1
    pred = clf.predict(Xc, tasks=tc)
    acc = [accuracy_score(yc[tc == t], pred[tc == t]) for t in np.unique(tc)]
    assert scorer(clf, Xc, yc, tasks=tc) == pytest.approx(np.mean(acc), rel=1e-12)


def test_no_warnings_on_clean_input():
    y, p, tasks, w = _data("scores")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        task_roc_auc_score(y, p, tasks, sample_weight=w)
    assert_array_equal(np.isnan(task_roc_auc_score(y, p, tasks, average=None)), False)
