"""The data model of every mtlreg estimator.

Long format ``fit(X, y, tasks=...)`` and shared design ``fit(X, Y)``, task
labels, pandas input, metadata routing of ``tasks``, binary class labels,
input validation, edge cases and pickling.  Expected values are computed by
hand (NumPy) or by an independent solver, never taken from an earlier run.
"""

import copy
import pickle
import re
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import sklearn
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Lasso, Ridge
from sklearn.model_selection import GridSearchCV, KFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import mtlreg
from mtlreg import (
    L21Classifier,
    L21Regressor,
    LassoClassifier,
    LassoRegressor,
    MTFLClassifier,
    MTFLRegressor,
    alpha_max,
    stack_tasks,
)

from certificates import (assert_same_solution, estimator_problem, rounding,
                          squared_loss_certificate, strong_convexity)

REGRESSORS = [LassoRegressor, L21Regressor, MTFLRegressor]
CLASSIFIERS = [LassoClassifier, L21Classifier, MTFLClassifier]
ESTIMATORS = REGRESSORS + CLASSIFIERS


def _is_classifier(Est):
    return Est in CLASSIFIERS



# --------------------------------------------------------------------------- data
def _long_problem(n=90, d=4, n_tasks=3, seed=0):
    """Regression and binary targets in long format, task index 0..n_tasks-1."""
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d)
    idx = np.arange(n) % n_tasks
    rng.shuffle(idx)
    W = rng.randn(n_tasks, d)
    W[:, 0] += 2.0  # a shared direction
    z = np.einsum("ij,ij->i", X, W[idx])
    y = z + 0.1 * rng.randn(n)
    y_cls = (z + 0.3 * rng.randn(n)) > 0
    return X, y, y_cls, idx


def _targets(Est, y, y_cls):
    return y_cls.astype(np.int64) if _is_classifier(Est) else y


def _linear(est, X, tasks):
    """x . w_t + b_t computed by hand from coef_ / intercept_ / tasks_."""
    labels = list(np.asarray(est.tasks_).tolist())
    rows = [labels.index(t) for t in _as_list(tasks)]
    coef = np.asarray(est.coef_)
    b = np.asarray(est.intercept_)
    return np.array([X[i] @ coef[k] + b[k] for i, k in enumerate(rows)])


def _as_list(tasks):
    return [t if not isinstance(t, np.generic) else t.item() for t in list(tasks)]


def _raw_output(est, X, tasks=None):
    if hasattr(est, "decision_function"):
        return est.decision_function(X, tasks=tasks)
    return est.predict(X, tasks=tasks)


def _object_array(values):
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


# ------------------------------------------------------------ certified agreement
# Two fits of one convex problem by different code paths (shared design and
# long format, warm and cold, float32 and float64) agree only as far as their
# certificates say (certificates.assert_same_solution): with s >= F(x) - F*
# for each (its duality gap plus the rounding of the objective's sums), each
# objective within its own gap above the other, and the points within the
# distance the data fit's curvature on the segment [a, b] gives them (the
# penalty convex), coef_ and intercept_ together; it returns that bound.  The
# problem is b's (estimator_problem); a point without a certificate of its own
# for it gets one (excess).


def _objective(est, coef, intercept, X, y, tasks):
    """The objective of the docstrings, in float64 by hand (ridge = 0)."""
    value = 0.0
    problem = estimator_problem(est, X, y, tasks)  # labels as +-1
    for t, (Xt, yt, c) in enumerate(zip(problem["Xs"], problem["ys"], problem["weights"])):
        z = Xt @ coef[t] + intercept[t]
        if problem["loss"] == "logistic":
            value += c * np.sum(np.logaddexp(0.0, -yt * z))
        else:
            value += c / 2 * np.sum((yt - z) ** 2)
    name = type(est).__name__
    if name.startswith("Lasso"):
        return value + est.alpha * np.abs(coef).sum()
    if name.startswith("L21"):
        return value + est.alpha * np.linalg.norm(coef, axis=0).sum()
    assert name.startswith("MTFL")
    return value + est.alpha * np.linalg.svd(coef, compute_uv=False).sum() ** 2


def _decision_move(X, delta):
    """How far x . w + b can move when (w, b) moves by delta: ||[x, 1]|| delta."""
    return np.linalg.norm(np.c_[X, np.ones(X.shape[0])], axis=1) * delta


# ------------------------------------------------------------------ long format
LABEL_KINDS = {
    "str": ["beta", "alpha", "gamma"],
    "int_noncontiguous": [10, 3, 7],
    "tuple_list": [(1, "x"), (0, "y"), (1, "a")],
    "tuple_object_array": [(1, "x"), (0, "y"), (1, "a")],
}
UNSEEN = {
    "str": "delta",
    "int_noncontiguous": 99,
    "tuple_list": (5, "z"),
    "tuple_object_array": (5, "z"),
}


def _tasks_of_kind(kind, idx):
    labels = LABEL_KINDS[kind]
    values = [labels[i] for i in idx]
    if kind == "tuple_object_array":
        return _object_array(values)
    if kind == "tuple_list":
        return values  # a plain list of tuples, as a user would write it
    return np.array(values)


@pytest.mark.parametrize("kind", list(LABEL_KINDS))
@pytest.mark.parametrize("Est", ESTIMATORS, ids=lambda c: c.__name__)
def test_long_format_labels_shapes_and_predict(Est, kind):
    X, y, y_cls, idx = _long_problem()
    tasks = _tasks_of_kind(kind, idx)
    est = Est(alpha=1e-3).fit(X, _targets(Est, y, y_cls), tasks=tasks)

    expected_labels = sorted(set(LABEL_KINDS[kind]))
    assert _as_list(est.tasks_) == expected_labels
    assert est.n_tasks_ == 3
    assert est.coef_.shape == (3, X.shape[1])
    assert est.intercept_.shape == (3,)

    rng = np.random.RandomState(1)
    X_new = rng.randn(7, X.shape[1])
    new_idx = np.array([2, 0, 1, 1, 2, 0, 2])
    tasks_new = _tasks_of_kind(kind, new_idx)
    assert_allclose(_raw_output(est, X_new, tasks_new), _linear(est, X_new, tasks_new),
                    rtol=1e-12, atol=1e-12)

    unseen = UNSEEN[kind]
    bad = list(_tasks_of_kind(kind, new_idx))
    bad[3] = unseen
    bad = _object_array(bad) if kind.startswith("tuple") else np.array(bad)
    with pytest.raises(ValueError, match=re.escape(str(unseen))):
        est.predict(X_new, tasks=bad)

    with pytest.raises(ValueError, match="tasks"):
        est.predict(X_new)


@pytest.mark.parametrize("kind", ["str", "int_noncontiguous"])
def test_each_label_gets_its_own_task_model(kind):
    """The row of coef_/intercept_ for label L is fitted on L's samples: give each
    label a distinct intercept (in an order other than sorted) and recover it."""
    X, _, _, idx = _long_problem(n=120, seed=3)
    labels = LABEL_KINDS[kind]
    offset = {labels[0]: 5.0, labels[1]: -3.0, labels[2]: 11.0}
    tasks = np.array([labels[i] for i in idx])
    w = np.array([1.0, -2.0, 0.5, 0.0])
    y = X @ w + np.array([offset[t.item() if isinstance(t, np.generic) else t]
                          for t in tasks])
    est = L21Regressor(alpha=1e-6, tol=1e-10).fit(X, y, tasks=tasks)
    # Noise-free: the data fit's gradient vanishes at the planted (w, offset),
    # so the optimum is within alpha sqrt(d) / mu of it (the L2,1 subgradient
    # has norm <= sqrt(d)), and the fit within sqrt(2 s / mu) of the optimum
    # (strong convexity, s its certified gap): far below the distance between
    # two labels' models (their offsets differ by 6 or more).
    mu = strong_convexity(points=[(est.coef_, est.intercept_)],
                          **estimator_problem(est, X, tasks=tasks))
    assert mu > 0, "the data fit is not strongly convex here"
    bound = 1e-6 * np.sqrt(X.shape[1]) / mu + np.sqrt(
        2 * (est.dual_gap_ + rounding(est.objective_)) / mu)
    assert bound < 1
    for k, label in enumerate(_as_list(est.tasks_)):
        assert np.sqrt(np.sum((est.coef_[k] - w) ** 2)
                       + (est.intercept_[k] - offset[label]) ** 2) <= bound, label


def test_single_label_long_format_predicts_without_tasks():
    X, y, _, _ = _long_problem()
    est = L21Regressor(alpha=0.01).fit(X, y, tasks=np.full(X.shape[0], "only"))
    assert est.n_tasks_ == 1
    assert_allclose(est.predict(X), X @ est.coef_[0] + est.intercept_[0], rtol=1e-12)


# ------------------------------------------------------------------ shared design
@pytest.mark.parametrize("loss_scaling", ["mean", "sum"])
@pytest.mark.parametrize("Est", ESTIMATORS, ids=lambda c: c.__name__)
def test_shared_design_equals_stacked_long_format(Est, loss_scaling):
    rng = np.random.RandomState(0)
    n, d, T = 40, 5, 3
    X = rng.randn(n, d)
    Z = X @ rng.randn(d, T)
    Y = (Z + 0.3 * rng.randn(n, T)) > 0 if _is_classifier(Est) else Z + 0.1 * rng.randn(n, T)
    est = Est(alpha=0.05, tol=1e-10, loss_scaling=loss_scaling).fit(X, Y)
    assert est.n_tasks_ == T
    assert_array_equal(est.tasks_, np.arange(T))
    assert est.coef_.shape == (T, d)
    assert est.intercept_.shape == (T,)
    P = est.predict(X)
    assert P.shape == (n, T)
    raw = _raw_output(est, X)
    assert raw.shape == (n, T)
    assert_allclose(raw, X @ est.coef_.T + est.intercept_[None, :], rtol=1e-12, atol=1e-12)

    Xs, ys, ts = stack_tasks([X] * T, [Y[:, t] for t in range(T)])
    long = Est(alpha=0.05, tol=1e-10, loss_scaling=loss_scaling).fit(Xs, ys, tasks=ts)
    assert_same_solution(est, long, **estimator_problem(long, Xs, tasks=ts),
                         coefficients=True)
    for t in range(T):
        assert_allclose(_raw_output(est, X, np.full(n, t)), raw[:, t], rtol=1e-12, atol=1e-12)


def test_shared_design_single_column_y_is_one_task():
    X, y, _, _ = _long_problem()
    est = LassoRegressor(alpha=0.01).fit(X, y)
    assert est.n_tasks_ == 1
    assert est.coef_.shape == (1, X.shape[1])
    pred = est.predict(X)
    assert pred.shape == (X.shape[0],)
    assert_allclose(pred, X @ est.coef_[0] + est.intercept_[0], rtol=1e-12)


# ------------------------------------------------------------------ stack_tasks
def test_stack_tasks_round_trip():
    rng = np.random.RandomState(0)
    sizes = [3, 1, 5]
    X_list = [rng.randn(n, 4) for n in sizes]
    y_list = [rng.randn(n) for n in sizes]
    y_list[1] = y_list[1].reshape(-1, 1)  # a column vector is accepted
    X, y, tasks = stack_tasks(X_list, y_list)
    assert X.shape == (sum(sizes), 4)
    assert y.shape == (sum(sizes),)
    assert_array_equal(tasks, np.repeat(np.arange(3), sizes))
    for t in range(3):
        assert_array_equal(X[tasks == t], X_list[t])
        assert_array_equal(y[tasks == t], np.ravel(y_list[t]))


def test_stack_tasks_errors():
    rng = np.random.RandomState(0)
    with pytest.raises(ValueError, match="one y per X"):
        stack_tasks([rng.randn(3, 2), rng.randn(2, 2)], [rng.randn(3)])
    with pytest.raises(ValueError, match=r"task 1: X has 2 samples but y has 3"):
        stack_tasks([rng.randn(3, 2), rng.randn(2, 2)], [rng.randn(3), rng.randn(3)])
    with pytest.raises(ValueError, match=r"task 1: X has 3 features"):
        stack_tasks([rng.randn(3, 2), rng.randn(2, 3)], [rng.randn(3), rng.randn(2)])
    with pytest.raises(ValueError, match="at least one task"):
        stack_tasks([], [])
    with pytest.raises(ValueError, match="no samples"):
        stack_tasks([rng.randn(3, 2), np.zeros((0, 2))], [rng.randn(3), np.zeros(0)])


# ------------------------------------------------------------------ pandas
@pytest.mark.parametrize("Est", [L21Regressor, L21Classifier], ids=lambda c: c.__name__)
def test_pandas_long_format(Est):
    pd = pytest.importorskip("pandas")
    X, y, y_cls, idx = _long_problem()
    names = np.array(["f0", "f1", "f2", "f3"])
    df = pd.DataFrame(X, columns=names, index=np.arange(X.shape[0])[::-1] * 7)
    target = np.where(y_cls, "hi", "lo") if _is_classifier(Est) else y
    ys = pd.Series(target, index=df.index, name="target")
    ts = pd.Series(np.array(["u", "v", "w"])[idx], index=df.index, name="task")

    # the reference gets the frame's own array (pandas' column-major block): the
    # same data in the same layout through the same code, hence the same fit
    # (a C-ordered copy would take other BLAS kernels, and two fits agree
    # only within their certificates)
    A = df.to_numpy()
    est = Est(alpha=0.01).fit(df, ys, tasks=ts)
    ref = Est(alpha=0.01).fit(A, target, tasks=ts.to_numpy())
    assert_array_equal(est.feature_names_in_, names)
    assert_array_equal(est.tasks_, ["u", "v", "w"])
    assert_array_equal(est.coef_, ref.coef_)
    assert_array_equal(est.predict(df, tasks=ts), ref.predict(A, tasks=ts.to_numpy()))
    assert est.score(df, ys, tasks=ts) == ref.score(A, target, tasks=ts.to_numpy())
    with pytest.raises(ValueError, match="feature names"):
        est.predict(df[["f1", "f0", "f2", "f3"]], tasks=ts)


def test_pandas_shared_design():
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(0)
    X = rng.randn(30, 3)
    Yv = X @ rng.randn(3, 4) + 0.1 * rng.randn(30, 4)
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    Ydf = pd.DataFrame(Yv, columns=list("pqrs"))
    # the frames' own arrays (column-major): the same operations, the same fit
    # (with C-ordered copies the coefficients differed by 1e-16: other BLAS
    # kernels, and two fits agree only within their certificates)
    est = L21Regressor(alpha=0.01).fit(df, Ydf)
    ref = L21Regressor(alpha=0.01).fit(df.to_numpy(), Ydf.to_numpy())
    assert est.n_tasks_ == 4
    assert_array_equal(est.feature_names_in_, ["a", "b", "c"])
    assert_array_equal(est.coef_, ref.coef_)
    assert est.predict(df).shape == (30, 4)
    assert_array_equal(est.predict(df), ref.predict(df.to_numpy()))


# ------------------------------------------------------------------ metadata routing
def _routing_problem(Est):
    X, y, y_cls, idx = _long_problem(n=90, seed=2)
    tasks = np.array(["a", "b", "c"])[idx]
    target = np.where(y_cls, "pos", "neg") if _is_classifier(Est) else y
    return X, target, tasks


def _requested(est):
    est = est.set_fit_request(tasks=True).set_predict_request(tasks=True)
    est = est.set_score_request(tasks=True)
    if hasattr(est, "predict_proba"):
        est = est.set_predict_proba_request(tasks=True)
        est = est.set_decision_function_request(tasks=True)
    return est


ROUTING_ESTIMATORS = [L21Regressor(alpha=0.01), L21Classifier(alpha=0.01)]


@pytest.mark.parametrize("est", ROUTING_ESTIMATORS, ids=lambda e: type(e).__name__)
def test_routing_request_methods_exist(est):
    with sklearn.config_context(enable_metadata_routing=True):
        for method in ("set_fit_request", "set_predict_request", "set_score_request"):
            assert callable(getattr(est, method))
        routing = _requested(clone(est)).get_metadata_routing()
        for method in ("fit", "predict", "score"):
            assert routing.consumes(method, ["tasks"]) == {"tasks"}


@pytest.mark.parametrize("est", ROUTING_ESTIMATORS, ids=lambda e: type(e).__name__)
def test_routing_pipeline(est):
    X, y, tasks = _routing_problem(type(est))
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = make_pipeline(StandardScaler(), _requested(clone(est)))
        pipe.fit(X, y, tasks=tasks)
        pred = pipe.predict(X, tasks=tasks)
        Xs = StandardScaler().fit_transform(X)
        ref = clone(est).fit(Xs, y, tasks=tasks)
        assert_array_equal(pred, ref.predict(Xs, tasks=tasks))
        if hasattr(pipe, "predict_proba"):
            assert_allclose(pipe.predict_proba(X, tasks=tasks),
                            ref.predict_proba(Xs, tasks=tasks), rtol=1e-12)
            assert_allclose(pipe.decision_function(X, tasks=tasks),
                            ref.decision_function(Xs, tasks=tasks), rtol=1e-12)


@pytest.mark.parametrize("est", ROUTING_ESTIMATORS, ids=lambda e: type(e).__name__)
def test_routing_pipeline_score(est):
    """Pipeline.score routes ``sample_weight=None`` to the final step under
    routing, so the step's score must accept ``sample_weight`` (as every
    scikit-learn regressor / classifier score does)."""
    X, y, tasks = _routing_problem(type(est))
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = make_pipeline(StandardScaler(), _requested(clone(est))).fit(X, y, tasks=tasks)
        score = pipe.score(X, y, tasks=tasks)
        Xs = StandardScaler().fit_transform(X)
        ref = clone(est).fit(Xs, y, tasks=tasks)
        assert score == pytest.approx(ref.score(Xs, y, tasks=tasks), rel=1e-12)


def _hand_cv_scores(est, X, y, tasks, cv):
    scores = []
    for train, test in cv.split(X, y):
        model = clone(est).fit(X[train], y[train], tasks=tasks[train])
        scores.append(model.score(X[test], y[test], tasks=tasks[test]))
    return np.array(scores)


@pytest.mark.parametrize("est", ROUTING_ESTIMATORS, ids=lambda e: type(e).__name__)
def test_routing_cross_validate(est):
    X, y, tasks = _routing_problem(type(est))
    cv = KFold(3, shuffle=True, random_state=0)
    with sklearn.config_context(enable_metadata_routing=True):
        res = cross_validate(_requested(clone(est)), X, y, params={"tasks": tasks}, cv=cv)
    scores = res["test_score"]
    assert np.all(np.isfinite(scores))
    assert_allclose(scores, _hand_cv_scores(est, X, y, tasks, cv), rtol=1e-10)


@pytest.mark.parametrize("est", ROUTING_ESTIMATORS, ids=lambda e: type(e).__name__)
def test_routing_grid_search(est):
    X, y, tasks = _routing_problem(type(est))
    cv = KFold(3, shuffle=True, random_state=0)
    alphas = [0.001, 0.05, 0.5]
    with sklearn.config_context(enable_metadata_routing=True):
        search = GridSearchCV(_requested(clone(est)), {"alpha": alphas}, cv=cv)
        search.fit(X, y, tasks=tasks)
        means = [_hand_cv_scores(clone(est).set_params(alpha=a), X, y, tasks, cv).mean()
                 for a in alphas]
        best = int(np.argmax(means))
        assert search.best_score_ == pytest.approx(means[best], rel=1e-10)
        assert search.best_params_ == {"alpha": alphas[best]}
        assert_allclose(search.cv_results_["mean_test_score"], means, rtol=1e-10)
        # refit on all data with the chosen alpha (BaseSearchCV.predict takes no
        # metadata, so predict through best_estimator_)
        ref = clone(est).set_params(alpha=alphas[best]).fit(X, y, tasks=tasks)
        assert_array_equal(search.best_estimator_.predict(X, tasks=tasks),
                           ref.predict(X, tasks=tasks))


@pytest.mark.parametrize("Est", [L21Regressor, L21Classifier], ids=lambda c: c.__name__)
def test_score_is_pooled_and_accepts_sample_weight(Est):
    from sklearn.metrics import accuracy_score, r2_score

    X, y, tasks = _routing_problem(Est)
    est = Est(alpha=0.01).fit(X, y, tasks=tasks)
    pred = est.predict(X, tasks=tasks)
    w = np.random.RandomState(0).uniform(0.1, 2.0, X.shape[0])
    metric = accuracy_score if _is_classifier(Est) else r2_score
    assert est.score(X, y, tasks=tasks) == pytest.approx(metric(y, pred), rel=1e-12)
    assert est.score(X, y, sample_weight=w, tasks=tasks) == pytest.approx(
        metric(y, pred, sample_weight=w), rel=1e-12)


# ------------------------------------------------------------------ classifiers
LABEL_PAIRS = {
    "str": ["yes", "no"],  # unsorted on purpose: "yes" marks z > 0
    "minus_one_one": [1, -1],
    "zero_one": [0, 1],
    "bool": [True, False],
}


@pytest.mark.parametrize("pair", list(LABEL_PAIRS))
@pytest.mark.parametrize("Est", CLASSIFIERS, ids=lambda c: c.__name__)
def test_classifier_labels_proba_and_decision(Est, pair):
    X, _, y_cls, idx = _long_problem(n=120, seed=4)
    pos_label, neg_label = LABEL_PAIRS[pair]
    y = np.where(y_cls, pos_label, neg_label)
    est = Est(alpha=0.01).fit(X, y, tasks=idx)
    assert_array_equal(est.classes_, np.unique(y))
    assert list(est.classes_) == sorted([pos_label, neg_label])

    pred = est.predict(X, tasks=idx)
    assert pred.dtype.kind == y.dtype.kind
    assert set(pred.tolist()) <= {pos_label, neg_label}
    dec = est.decision_function(X, tasks=idx)
    assert_allclose(dec, _linear(est, X, idx), rtol=1e-12, atol=1e-12)
    assert_array_equal(pred == est.classes_[1], dec > 0)

    P = est.predict_proba(X, tasks=idx)
    assert P.shape == (X.shape[0], 2)
    assert_allclose(P.sum(axis=1), 1.0, rtol=1e-12)
    assert_allclose(P[:, 1], 1.0 / (1.0 + np.exp(-dec)), rtol=1e-10)
    assert_array_equal(est.classes_[np.argmax(P, axis=1)], pred)
    # log-probabilities from the logits (exact where P rounds to 1), and
    # consistent with P
    log_P = est.predict_log_proba(X, tasks=idx)
    assert_allclose(log_P, np.stack([-np.logaddexp(0, dec), -np.logaddexp(0, -dec)], axis=1),
                    rtol=1e-12, atol=1e-300)
    assert_allclose(np.exp(log_P), P, rtol=1e-12)
    # the column of pos_label holds the probability of pos_label: the model is
    # accurate, so that column is large exactly where pos_label was observed
    # (fixed seed: 0.975 to 1.0 of the 120 training samples, so 15 or more
    # predictions would have to flip; the other column would give 0.025 at most)
    col = list(est.classes_).index(pos_label)
    assert np.mean((P[:, col] > 0.5) == y_cls) > 0.85
    assert est.score(X, y, tasks=idx) == pytest.approx(np.mean(pred == y))


@pytest.mark.parametrize("Est", CLASSIFIERS, ids=lambda c: c.__name__)
def test_classifier_label_swap_negates_the_logit(Est):
    X, _, y_cls, idx = _long_problem(n=120, seed=4)
    a = Est(alpha=0.01, tol=1e-10).fit(X, np.where(y_cls, "b", "a"), tasks=idx)
    b = Est(alpha=0.01, tol=1e-10).fit(X, np.where(y_cls, "a", "b"), tasks=idx)
    # swapping the labels negates y: b's problem is a's at -(w, b), so -b is a
    # certified solution of a's problem, within the certified distance of a
    negated = SimpleNamespace(coef_=-b.coef_, intercept_=-b.intercept_,
                              objective_=b.objective_, dual_gap_=b.dual_gap_)
    delta = assert_same_solution(negated, a, **estimator_problem(a, X, tasks=idx),
                                 coefficients=True)
    z = a.decision_function(X, tasks=idx)
    assert np.all(np.abs(z + b.decision_function(X, tasks=idx))
                  <= _decision_move(X, delta) + rounding(*z))


@pytest.mark.parametrize("Est", CLASSIFIERS, ids=lambda c: c.__name__)
def test_classifier_more_than_two_classes_raises(Est):
    X, _, _, idx = _long_problem()
    y = np.array(["a", "b", "c"])[idx]
    with pytest.raises(ValueError, match="classes"):
        Est().fit(X, y, tasks=np.zeros(X.shape[0], dtype=int))


# every classifier whose penalty does not couple a task without loss to the others (a
# zero column of W is free: norms, squared trace norms, cASO's feature-side term); the
# task graph and task clustering are tested in test_relation.py / test_clustering.py
DECOUPLED = CLASSIFIERS + [mtlreg.TraceClassifier, mtlreg.SparseTraceClassifier,
                           mtlreg.CASOClassifier, mtlreg.RelationClassifier,
                           mtlreg.DirtyClassifier, mtlreg.RobustClassifier,
                           mtlreg.RMTFLClassifier]


@pytest.mark.parametrize("one_class", [0, 1])
@pytest.mark.parametrize("Est", DECOUPLED, ids=lambda c: c.__name__)
def test_classifier_single_class_task_decouples(Est, one_class):
    X, _, y_cls, idx = _long_problem(n=120, seed=5)
    y = y_cls.astype(np.int64)
    y[idx == 1] = one_class
    kw = dict(alpha=0.02, tol=1e-10, max_iter=20000)
    if "beta" in Est().get_params():
        kw["beta"] = 0.02
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = Est(**kw).fit(X, y, tasks=idx)
        keep = idx != 1
        ref = Est(**kw).fit(X[keep], y[keep], tasks=idx[keep])
    assert_array_equal(est.tasks_, [0, 1, 2])
    # task 1 gets no loss weight (its loss vanishes only as b_1 -> +-inf), so
    # w_1 = 0 is optimal and the others solve ref's problem: est's certified
    # gap bounds their suboptimality there
    kept = SimpleNamespace(coef_=est.coef_[[0, 2]], intercept_=est.intercept_[[0, 2]],
                           objective_=est.objective_, dual_gap_=est.dual_gap_)
    assert_same_solution(kept, ref, **estimator_problem(ref, X[keep], tasks=idx[keep]),
                         coefficients=True)
    assert_array_equal(est.coef_[1], 0.0)
    X1 = X[idx == 1]
    assert np.all(est.predict(X1, tasks=np.ones(len(X1), int)) == one_class)
    P = est.predict_proba(X1, tasks=np.ones(len(X1), int))
    assert np.all(P[:, list(est.classes_).index(one_class)] > 1 - 1e-6)
    assert np.all(np.isfinite(est.decision_function(X1, tasks=np.ones(len(X1), int))))


# ------------------------------------------------------------------ bad input
def _bad_problem(Est):
    X, y, y_cls, idx = _long_problem(n=30)
    return X, _targets(Est, y, y_cls).astype(np.float64), idx


@pytest.mark.parametrize("value, word", [(np.nan, "NaN"), (np.inf, "infinity")])
@pytest.mark.parametrize("Est", ESTIMATORS, ids=lambda c: c.__name__)
def test_non_finite_X_raises(Est, value, word):
    X, y, idx = _bad_problem(Est)
    X[3, 1] = value
    with pytest.raises(ValueError, match=word):
        Est().fit(X, y, tasks=idx)
    X_ok, y, idx = _bad_problem(Est)
    est = Est().fit(X_ok, y, tasks=idx)
    with pytest.raises(ValueError, match=word):
        est.predict(X, tasks=idx)


@pytest.mark.parametrize("value, word", [(np.nan, "NaN"), (np.inf, "infinity")])
@pytest.mark.parametrize("Est", REGRESSORS, ids=lambda c: c.__name__)
def test_non_finite_y_raises(Est, value, word):
    X, y, idx = _bad_problem(Est)
    y[2] = value
    with pytest.raises(ValueError, match=word):
        Est().fit(X, y, tasks=idx)


@pytest.mark.parametrize("Est", CLASSIFIERS, ids=lambda c: c.__name__)
def test_nan_label_raises_for_classifier(Est):
    X, y, idx = _bad_problem(Est)
    y[2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        Est().fit(X, y, tasks=idx)


@pytest.mark.parametrize("Est", ESTIMATORS, ids=lambda c: c.__name__)
def test_tasks_length_mismatch_raises(Est):
    X, y, idx = _bad_problem(Est)
    with pytest.raises(ValueError, match=r"tasks has 29 labels but X has 30 samples"):
        Est().fit(X, y, tasks=idx[:-1])
    est = Est().fit(X, y, tasks=idx)
    with pytest.raises(ValueError, match=r"tasks has 31 labels but X has 30 samples"):
        est.predict(X, tasks=np.r_[idx, 0])


@pytest.mark.parametrize("Est", ESTIMATORS, ids=lambda c: c.__name__)
def test_unseen_task_at_predict_raises(Est):
    X, y, idx = _bad_problem(Est)
    est = Est().fit(X, y, tasks=idx + 10)
    with pytest.raises(ValueError, match=r"\b42\b.*not seen in fit"):
        est.predict(X[:3], tasks=[10, 42, 11])


@pytest.mark.parametrize("Est", ESTIMATORS, ids=lambda c: c.__name__)
def test_missing_task_label_raises(Est):
    X, y, idx = _bad_problem(Est)
    with pytest.raises(ValueError, match="NaN"):
        Est().fit(X, y, tasks=np.where(idx == 0, np.nan, idx))
    with pytest.raises(ValueError, match="None"):
        Est().fit(X, y, tasks=_object_array([None] + ["a"] * (len(idx) - 1)))


@pytest.mark.parametrize("kind", ["datetime64", "pandas", "object"])
def test_nat_task_label_raises(kind):
    """NaT is a missing label, as NaN and None are (it used to become a task)."""
    import pandas as pd

    X, y, idx = _bad_problem(L21Regressor)
    days = np.datetime64("2020-01-01") + idx.astype("timedelta64[D]")
    days[0] = np.datetime64("NaT")
    tasks = {"datetime64": days, "pandas": pd.Series(days),
             "object": _object_array([pd.NaT] + ["a"] * (len(idx) - 1))}[kind]
    with pytest.raises(ValueError, match="NaT"):
        L21Regressor().fit(X, y, tasks=tasks)


@pytest.mark.parametrize("Est", REGRESSORS, ids=lambda c: c.__name__)
def test_regressor_non_numeric_y_raises(Est):
    X, _, idx = _bad_problem(Est)
    y = np.array(["low", "high"] * 15)
    with pytest.raises(ValueError, match="numeric"):
        Est().fit(X, y, tasks=idx)


@pytest.mark.parametrize("Est", ESTIMATORS, ids=lambda c: c.__name__)
def test_tasks_with_2d_y_raises(Est):
    X, y, idx = _bad_problem(Est)
    Y = np.c_[y, y[::-1]]
    with pytest.raises(ValueError, match="2-D"):
        Est().fit(X, Y, tasks=idx)


@pytest.mark.parametrize("Est", ESTIMATORS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("param, value", [("alpha", -1.0), ("loss_scaling", "foo"),
                                          ("ridge", -0.5), ("max_iter", 0)])
def test_invalid_parameters_raise(Est, param, value):
    X, y, idx = _bad_problem(Est)
    with pytest.raises(ValueError, match=param):
        Est(**{param: value}).fit(X, y, tasks=idx)


@pytest.mark.parametrize("Est", [MTFLRegressor, MTFLClassifier], ids=lambda c: c.__name__)
@pytest.mark.parametrize("param, value", [("solver", "foo"), ("epsilon", -1.0)])
def test_invalid_mtfl_parameters_raise(Est, param, value):
    X, y, idx = _bad_problem(Est)
    with pytest.raises(ValueError, match=param):
        Est(**{param: value}).fit(X, y, tasks=idx)


# ------------------------------------------------------------------ edge cases
@pytest.mark.parametrize("Est", REGRESSORS, ids=lambda c: c.__name__)
def test_task_with_one_sample(Est):
    X, y, _, idx = _long_problem()
    tasks = idx.copy()
    tasks[0] = 7  # task 7 has exactly one sample
    est = Est(alpha=0.01, tol=1e-10).fit(X, y, tasks=tasks)
    assert_array_equal(est.tasks_, [0, 1, 2, 7])
    # its centred design is zero: the penalty alone sets w_7 = 0, b_7 = y_0
    assert_allclose(est.coef_[3], 0.0, atol=1e-10)
    assert est.intercept_[3] == pytest.approx(y[0], abs=1e-10)
    assert est.predict(X[:1], tasks=[7])[0] == pytest.approx(y[0], abs=1e-10)


@pytest.mark.parametrize("Est", CLASSIFIERS, ids=lambda c: c.__name__)
def test_classifier_task_with_one_sample(Est):
    X, _, y_cls, idx = _long_problem()
    tasks = idx.copy()
    tasks[0] = 7
    y = y_cls.astype(int)
    est = Est(alpha=0.01).fit(X, y, tasks=tasks)
    assert est.predict(X[:1], tasks=[7])[0] == y[0]
    assert np.all(np.isfinite(est.coef_)) and np.all(np.isfinite(est.intercept_))


@pytest.mark.parametrize("Est", REGRESSORS, ids=lambda c: c.__name__)
def test_constant_target(Est):
    X, _, _, idx = _long_problem()
    est = Est(alpha=0.01).fit(X, np.full(X.shape[0], 3.5), tasks=idx)
    assert_array_equal(est.coef_, 0.0)
    assert_allclose(est.intercept_, 3.5, rtol=1e-12)
    # a different constant per task
    consts = np.array([-1.0, 2.0, 40.0])
    est = Est(alpha=0.01).fit(X, consts[idx], tasks=idx)
    assert_allclose(est.coef_, 0.0, atol=1e-12)
    assert_allclose(est.intercept_, consts, rtol=1e-12)


@pytest.mark.parametrize("Est", ESTIMATORS, ids=lambda c: c.__name__)
def test_constant_column(Est):
    X, y, y_cls, idx = _long_problem()
    X = X.copy()
    X[:, 2] = 5.0
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = Est(alpha=0.01).fit(X, _targets(Est, y, y_cls), tasks=idx)
    assert np.all(np.isfinite(est.coef_)) and np.all(np.isfinite(est.intercept_))
    assert_allclose(est.coef_[:, 2], 0.0, atol=1e-8)
    assert np.any(np.abs(est.coef_) > 1e-3)


ALPHA_MAX_CASES = [
    (LassoRegressor, "l1", "squared"), (L21Regressor, "l21", "squared"),
    (LassoClassifier, "l1", "logistic"), (L21Classifier, "l21", "logistic"),
]


@pytest.mark.parametrize("loss_scaling", ["mean", "sum"])
@pytest.mark.parametrize("Est, penalty, loss", ALPHA_MAX_CASES,
                         ids=[c[0].__name__ for c in ALPHA_MAX_CASES])
def test_alpha_max_gives_zero_coef(Est, penalty, loss, loss_scaling):
    X, y, y_cls, idx = _long_problem(n=60, seed=6)
    target = _targets(Est, y, y_cls)
    amax = alpha_max(X, target, tasks=idx, penalty=penalty, loss=loss,
                     loss_scaling=loss_scaling)
    assert amax > 0
    kw = dict(loss_scaling=loss_scaling, tol=1e-10)
    at = Est(alpha=amax, **kw).fit(X, target, tasks=idx)
    # at the threshold the optimum is W = 0 with the intercepts optimal there
    # (b_t: the task's mean, or its log-odds), up to the rounding of amax (a
    # suboptimality far below the objective's rounding level): the fit is
    # within its certified distance of that point
    if loss == "squared":
        b0 = np.array([target[idx == t].mean() for t in range(3)])
    else:
        p = np.array([target[idx == t].mean() for t in range(3)])
        b0 = np.log(p / (1 - p))
    optimum = SimpleNamespace(coef_=np.zeros_like(at.coef_), intercept_=b0)
    assert_same_solution(optimum, at, **estimator_problem(at, X, tasks=idx),
                         excess=(rounding(at.objective_), None), coefficients=True)
    above = Est(alpha=1.5 * amax, **kw).fit(X, target, tasks=idx)
    assert_array_equal(above.coef_, 0.0)
    below = Est(alpha=0.9 * amax, **kw).fit(X, target, tasks=idx)
    assert np.max(np.abs(below.coef_)) > 1e-4


@pytest.mark.parametrize("Est", ESTIMATORS, ids=lambda c: c.__name__)
def test_single_task(Est):
    X, y, y_cls, _ = _long_problem()
    target = _targets(Est, y, y_cls)
    est = Est(alpha=0.01, tol=1e-10).fit(X, target)
    assert est.n_tasks_ == 1
    assert est.coef_.shape == (1, X.shape[1])
    assert est.intercept_.shape == (1,)
    assert est.predict(X).shape == (X.shape[0],)
    zeros = np.zeros(X.shape[0], int)
    long = Est(alpha=0.01, tol=1e-10).fit(X, target, tasks=zeros)
    delta = assert_same_solution(est, long, **estimator_problem(long, X, tasks=zeros),
                                 coefficients=True)
    z = _raw_output(long, X)
    assert np.all(np.abs(_raw_output(est, X) - z) <= _decision_move(X, delta) + rounding(*z))


def test_single_task_matches_sklearn():
    """One task: the Lasso penalties are sklearn's Lasso; MTFL's alpha*||w||_2^2 is a
    ridge, alpha_sklearn = 2 * n * alpha (sklearn's Ridge does not divide by n).
    Each solution, mtlreg's and scikit-learn's, is within ||r|| / mu of the
    optimum (r its minimal-norm subgradient, computed in NumPy with its
    rounding: tests/certificates.py), so the two within the sum."""
    X, y, _, _ = _long_problem()
    n = X.shape[0]

    def distance_to_optimum(coef, intercept, **penalty):
        return squared_loss_certificate([X], [y], np.atleast_2d(coef), np.atleast_1d(intercept),
                                        weights=[1.0 / n], **penalty).distance

    def check(est, sk, **penalty):
        bound = distance_to_optimum(est.coef_, est.intercept_, **penalty) \
            + distance_to_optimum(sk.coef_, sk.intercept_, **penalty)
        distance = np.sqrt(np.sum((est.coef_[0] - sk.coef_) ** 2)
                           + (est.intercept_[0] - sk.intercept_) ** 2)
        assert distance <= bound, (distance, bound)
        assert bound < 1e-6  # both converged: the check has teeth

    sk = Lasso(alpha=0.05, tol=1e-12, max_iter=100000).fit(X, y)
    for Est in (LassoRegressor, L21Regressor):
        check(Est(alpha=0.05, tol=1e-12, max_iter=100000).fit(X, y), sk, l1=0.05)
    ridge = Ridge(alpha=2 * n * 0.05).fit(X, y)
    check(MTFLRegressor(alpha=0.05, tol=1e-12, max_iter=100000).fit(X, y), ridge,
          quadratic=2 * 0.05 * np.eye(X.shape[1]))


@pytest.mark.parametrize("Est", ESTIMATORS, ids=lambda c: c.__name__)
def test_float32_stays_float32(Est):
    X, y, y_cls, idx = _long_problem()
    X32 = X.astype(np.float32)
    target = y_cls if _is_classifier(Est) else y.astype(np.float32)
    est = Est(alpha=0.01).fit(X32, target, tasks=idx)
    assert est.coef_.dtype == np.float32
    assert est.intercept_.dtype == np.float32
    if _is_classifier(Est):
        assert est.decision_function(X32, tasks=idx).dtype == np.float32
        assert est.predict_proba(X32, tasks=idx).dtype == np.float32
    else:
        assert est.predict(X32, tasks=idx).dtype == np.float32
    # The float32 solution, evaluated (in float64, by hand) on the float64
    # problem: F(est) - F* <= F(est) - F(ref) + s_ref, s_ref ref's certified
    # gap; so it lies within the certified distance of ref.
    target64 = _targets(Est, y, y_cls)
    ref = Est(alpha=0.01, tol=1e-10).fit(X, target64, tasks=idx)
    F_ref = _objective(ref, ref.coef_, ref.intercept_, X, target64, idx)
    assert abs(F_ref - ref.objective_) <= rounding(F_ref)  # the formula is the docstring's
    as64 = SimpleNamespace(coef_=est.coef_.astype(float), intercept_=est.intercept_.astype(float))
    s_ref = ref.dual_gap_ + rounding(F_ref)
    s_est = _objective(ref, as64.coef_, as64.intercept_, X, target64, idx) - F_ref + s_ref \
        + rounding(F_ref)
    delta = assert_same_solution(as64, ref, **estimator_problem(ref, X, tasks=idx),
                                 excess=(s_est, None), coefficients=True)
    assert delta < 1e-2  # float32 accuracy (its tol is floored at 100 eps32 = 1.2e-5)


@pytest.mark.parametrize("Est", ESTIMATORS, ids=lambda c: c.__name__)
def test_tiny_max_iter_warns(Est):
    X, y, y_cls, idx = _long_problem()
    with pytest.warns(ConvergenceWarning, match="max_iter=2"):
        est = Est(alpha=0.01, max_iter=2).fit(X, _targets(Est, y, y_cls), tasks=idx)
    assert est.converged_ is False
    assert est.n_iter_ == 2


@pytest.mark.parametrize("Est", ESTIMATORS, ids=lambda c: c.__name__)
def test_warm_start_reuses_solution(Est):
    X, y, y_cls, idx = _long_problem()
    target = _targets(Est, y, y_cls)
    cold = Est(alpha=0.01, tol=1e-10)
    cold.fit(X, target, tasks=idx)
    n_cold = cold.n_iter_
    cold.fit(X, target, tasks=idx)
    assert cold.n_iter_ == n_cold  # control: without warm_start nothing is reused

    warm = Est(alpha=0.01, tol=1e-10, warm_start=True)
    warm.fit(X, target, tasks=idx)
    first, n_first = copy.deepcopy(warm), warm.n_iter_
    assert n_first == n_cold
    warm.fit(X, target, tasks=idx)
    assert warm.n_iter_ < n_first
    assert warm.converged_
    assert_same_solution(warm, first, **estimator_problem(first, X, tasks=idx),
                         coefficients=True)


# ------------------------------------------------------------------ pickling
@pytest.mark.parametrize("Est", ESTIMATORS, ids=lambda c: c.__name__)
def test_pickle_round_trip(Est):
    X, y, y_cls, idx = _long_problem()
    tasks = np.array(["t0", "t1", "t2"])[idx]
    target = np.where(y_cls, "yes", "no") if _is_classifier(Est) else y
    est = Est(alpha=0.01).fit(X, target, tasks=tasks)
    clone_ = pickle.loads(pickle.dumps(est))
    assert_array_equal(clone_.tasks_, est.tasks_)
    assert_array_equal(clone_.predict(X, tasks=tasks), est.predict(X, tasks=tasks))
    if _is_classifier(Est):
        assert_array_equal(clone_.classes_, est.classes_)
        assert_array_equal(clone_.predict_proba(X, tasks=tasks),
                           est.predict_proba(X, tasks=tasks))
    with pytest.raises(ValueError, match="not seen in fit"):
        clone_.predict(X[:1], tasks=["t9"])


def test_mixed_type_task_labels_raise():
    """1 and "1" must not silently become one task."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((6, 2)), rng.standard_normal(6)
    with pytest.raises(ValueError, match="mix types"):
        L21Regressor().fit(X, y, tasks=["a", 1, "1", "a", 1, "1"])


def test_alpha_max_checks_its_inputs():
    rng = np.random.default_rng(0)
    X, tasks = rng.standard_normal((14, 3)), np.arange(14) % 2
    with pytest.raises(ValueError, match=r"inconsistent numbers of samples: \[14, 15\]"):
        alpha_max(X, rng.standard_normal(15), tasks)
    with pytest.raises(ValueError, match="2-D y"):
        alpha_max(X, rng.standard_normal((14, 2)), tasks)
    with pytest.raises(ValueError, match="13 labels but X has 14 samples"):
        alpha_max(X, rng.standard_normal(14), tasks[:13])


@pytest.mark.parametrize("Est", [L21Regressor, L21Classifier], ids=lambda c: c.__name__)
def test_shared_design_model_scored_with_a_1d_y_raises(Est):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 3))
    Y = X @ rng.standard_normal((3, 2))
    if Est is L21Classifier:
        Y = (Y > 0).astype(int)
    est = Est(alpha=0.01).fit(X, Y)
    with pytest.raises(ValueError, match="2-D Y of shape"):
        est.score(X, Y[:, 0])
    # the same model scores per sample with the task (column) of each sample
    tasks = np.arange(30) % 2
    y_long = Y[np.arange(30), tasks]
    expected = (np.mean(est.predict(X, tasks=tasks) == y_long) if Est is L21Classifier
                else 1 - np.sum((y_long - est.predict(X, tasks=tasks)) ** 2)
                / np.sum((y_long - y_long.mean()) ** 2))
    assert est.score(X, y_long, tasks=tasks) == pytest.approx(expected, rel=1e-12)
