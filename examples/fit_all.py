"""Fit every mtlreg estimator on bundled real data and print Markdown tables.

Regression, School (139 tasks): split 1 of Argyriou et al. (``load_school().splits[0]``).
The constant bias column is dropped (each task gets a fitted intercept); the
other 27 features are standardized with the training part's mean and scale.
Metrics on the test part: nMSE = MSE / Var(y_test), and scikit-learn's
explained variance 1 - Var(y_test - y_pred) / Var(y_test).

Classification, Landmine (29 tasks): a 50/50 train/test split, stratified by
task and class, seed 0; features standardized on the training half.  Metrics on
the test half: ROC AUC of ``decision_function(X, tasks)`` pooled over all test
samples, the mean of the 29 per-task AUCs, and accuracy (94% of the samples
are negatives, so accuracy says little).

Hyper-parameters: every method, baselines included, picks its regularization
strength from a small grid by the error on a validation part (25% of the
training part, stratified by task, and by class for Landmine), then is refitted
on the whole training part.  L1 / L2,1 use fractions of ``mtlreg.alpha_max``
(computed on the data being fitted); MTFL, which has no ``alpha_max`` (its
squared penalty has zero gradient at ``W = 0``), uses absolute values.
The test part is used only for the reported metrics.

Run:  python examples/fit_all.py
"""

import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import explained_variance_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import mtlreg
from mtlreg.datasets import load_landmine, load_school

SEED = 0
L1_L21_FRACTIONS = [0.3, 0.1, 0.03, 0.01, 0.003]  # times alpha_max
MTFL_ALPHAS = {"regression": [1.0, 0.3, 0.1, 0.03, 0.01, 0.003],
               "classification": [1e-2, 3e-3, 1e-3, 3e-4, 1e-4]}
RIDGE_ALPHAS = [0.1, 1.0, 10.0, 100.0, 1000.0]  # sklearn Ridge: ||y - Xw||^2 + a ||w||^2
LOGREG_CS = [0.01, 0.1, 1.0, 10.0, 100.0]       # sklearn LogisticRegression C


# -- baselines: one scikit-learn model per task, or one pooled model ------------------
class PerTask:
    """A scikit-learn estimator fitted separately on each task's samples."""

    def __init__(self, make):
        self.make = make

    def fit(self, X, y, tasks):
        self.models_ = {t: self.make().fit(X[tasks == t], y[tasks == t]) for t in np.unique(tasks)}
        return self

    def _apply(self, method, X, tasks):
        out = np.empty(X.shape[0])
        for t, model in self.models_.items():
            rows = tasks == t
            if rows.any():
                out[rows] = getattr(model, method)(X[rows])
        return out

    def predict(self, X, tasks):
        return self._apply("predict", X, tasks)

    def decision_function(self, X, tasks):
        return self._apply("decision_function", X, tasks)


class Pooled:
    """One scikit-learn estimator for all tasks (task labels ignored)."""

    def __init__(self, make):
        self.make = make

    def fit(self, X, y, tasks):
        self.model_ = self.make().fit(X, y)
        return self

    def predict(self, X, tasks):
        return self.model_.predict(X)

    def decision_function(self, X, tasks):
        return self.model_.decision_function(X)


# -- metrics ------------------------------------------------------------------------------
def nmse(y, pred):
    return float(np.mean((y - pred) ** 2) / np.var(y))


def mean_task_auc(y, score, tasks):
    return float(np.mean([roc_auc_score(y[tasks == t], score[tasks == t])
                          for t in np.unique(tasks)]))


# -- model selection on a validation part of the training data ------------------------
def select_and_fit(candidates, X, y, tasks, val_loss, strata):
    """Pick the candidate with the smallest validation loss; refit it on all of (X, y).

    ``candidates(X, y, tasks)`` returns ``[(label, factory), ...]``; the grid is built
    from the data it is given, so alpha_max fractions are recomputed on each part.
    """
    fit_idx, val_idx = train_test_split(np.arange(y.shape[0]), test_size=0.25,
                                        random_state=SEED, stratify=strata)
    best = None
    for label, make in candidates(X[fit_idx], y[fit_idx], tasks[fit_idx]):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = make().fit(X[fit_idx], y[fit_idx], tasks=tasks[fit_idx])
        loss = val_loss(model, X[val_idx], y[val_idx], tasks[val_idx])
        if best is None or loss < best[0]:
            best = (loss, label)
    chosen = dict(candidates(X, y, tasks))[best[1]]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        start = time.perf_counter()
        model = chosen().fit(X, y, tasks=tasks)
        seconds = time.perf_counter() - start
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        print(f"note: {best[1]} raised a ConvergenceWarning on the final fit")
    return model, best[1], seconds


def l1_l21_grid(cls, penalty, loss):
    def candidates(X, y, tasks):
        amax = mtlreg.alpha_max(X, y, tasks, penalty=penalty, loss=loss)
        return [(f"{f:g} alpha_max", lambda a=f * amax: cls(alpha=a)) for f in L1_L21_FRACTIONS]
    return candidates


def fixed_grid(values, make, fmt):
    def candidates(X, y, tasks):
        return [(fmt.format(v), lambda v=v: make(v)) for v in values]
    return candidates


def solver_columns(model):
    if not hasattr(model, "n_iter_"):
        return "-", "-", "-"
    gap = "-" if model.dual_gap_ is None else f"{model.dual_gap_:.2e}"
    return str(model.n_iter_), gap, "yes" if model.converged_ else "NO"


def markdown(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


# -- the two problems -------------------------------------------------------------------
def school():
    data = load_school()
    train, test = data.splits[0]
    keep = [j for j, name in enumerate(data.feature_names) if name != "bias"]
    X = data.X[:, keep]
    scaler = StandardScaler().fit(X[train])
    Xtr, Xte = scaler.transform(X[train]), scaler.transform(X[test])
    ytr, yte = data.y[train], data.y[test]
    ttr, tte = data.tasks[train], data.tasks[test]

    def val_loss(model, X, y, tasks):
        return nmse(y, model.predict(X, tasks=tasks))

    methods = [
        ("LassoRegressor", l1_l21_grid(mtlreg.LassoRegressor, "l1", "squared")),
        ("L21Regressor", l1_l21_grid(mtlreg.L21Regressor, "l21", "squared")),
        ("MTFLRegressor", fixed_grid(MTFL_ALPHAS["regression"],
                                     lambda a: mtlreg.MTFLRegressor(alpha=a), "alpha={:g}")),
        ("per-task Ridge (sklearn)", fixed_grid(
            RIDGE_ALPHAS, lambda a: PerTask(lambda: Ridge(alpha=a)), "alpha={:g}")),
        ("pooled Ridge (sklearn)", fixed_grid(
            RIDGE_ALPHAS, lambda a: Pooled(lambda: Ridge(alpha=a)), "alpha={:g}")),
    ]
    rows = []
    for name, candidates in methods:
        model, label, seconds = select_and_fit(candidates, Xtr, ytr, ttr, val_loss, ttr)
        pred = model.predict(Xte, tasks=tte)
        rows.append([name, label, f"{nmse(yte, pred):.4f}",
                     f"{explained_variance_score(yte, pred):.4f}",
                     *solver_columns(model), f"{seconds:.2f}"])
    title = (f"School, split 1: {np.unique(ttr).size} tasks, {Xtr.shape[0]} train / "
             f"{Xte.shape[0]} test samples, {Xtr.shape[1]} features")
    header = ["method", "chosen alpha", "test nMSE", "test expl. var.", "n_iter_",
              "dual_gap_", "converged_", "fit s"]
    return title, markdown(header, rows)


def landmine():
    data = load_landmine()
    strata = data.tasks * 2 + data.y
    train, test = train_test_split(np.arange(data.y.shape[0]), test_size=0.5,
                                   random_state=SEED, stratify=strata)
    scaler = StandardScaler().fit(data.X[train])
    Xtr, Xte = scaler.transform(data.X[train]), scaler.transform(data.X[test])
    ytr, yte = data.y[train], data.y[test]
    ttr, tte = data.tasks[train], data.tasks[test]

    def val_loss(model, X, y, tasks):
        return -roc_auc_score(y, model.decision_function(X, tasks=tasks))

    def logreg(C):
        return lambda: LogisticRegression(C=C, max_iter=1000)

    methods = [
        ("LassoClassifier", l1_l21_grid(mtlreg.LassoClassifier, "l1", "logistic")),
        ("L21Classifier", l1_l21_grid(mtlreg.L21Classifier, "l21", "logistic")),
        ("MTFLClassifier", fixed_grid(MTFL_ALPHAS["classification"],
                                      lambda a: mtlreg.MTFLClassifier(alpha=a), "alpha={:g}")),
        ("per-task LogisticRegression (sklearn)", fixed_grid(
            LOGREG_CS, lambda C: PerTask(logreg(C)), "C={:g}")),
        ("pooled LogisticRegression (sklearn)", fixed_grid(
            LOGREG_CS, lambda C: Pooled(logreg(C)), "C={:g}")),
    ]
    rows = []
    for name, candidates in methods:
        model, label, seconds = select_and_fit(candidates, Xtr, ytr, ttr, val_loss,
                                               ttr * 2 + ytr)
        score = model.decision_function(Xte, tasks=tte)
        accuracy = np.mean((score > 0).astype(yte.dtype) == yte)
        rows.append([name, label, f"{roc_auc_score(yte, score):.4f}",
                     f"{mean_task_auc(yte, score, tte):.4f}", f"{accuracy:.4f}",
                     *solver_columns(model), f"{seconds:.2f}"])
    title = (f"Landmine, 50/50 split (seed {SEED}): {np.unique(ttr).size} tasks, "
             f"{Xtr.shape[0]} train / {Xte.shape[0]} test samples, {Xtr.shape[1]} features")
    header = ["method", "chosen alpha / C", "test AUC (pooled)", "mean task AUC",
              "accuracy", "n_iter_", "dual_gap_", "converged_", "fit s"]
    return title, markdown(header, rows)


def main():
    start = time.perf_counter()
    print(f"mtlreg {mtlreg.__version__}; 'fit s' = final fit on the training part; "
          "alphas chosen on a validation part of it.\n")
    for problem in (school, landmine):
        title, table = problem()
        print(f"### {title}\n\n{table}\n")
    print(f"total wall time: {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
