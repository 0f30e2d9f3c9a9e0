"""Disease progression: a score at five time points from baseline features.

Synthetic longitudinal data with a stated model (no bundled data set has time points):

* ``n = 300`` patients, ``d = 40`` baseline features (standard normal), five visits at
  0, 6, 12, 24 and 36 months;
* at visit ``t`` the score is ``y_t = X w_t + noise`` (standard deviation 2), with
  ``w_t = w_base + (t / 36) w_slope`` on 8 relevant features (the same at every visit,
  drifting smoothly with time) and 0 on the other 32;
* patients miss visits: a patient is seen at each visit independently, with
  probabilities 1, 0.9, 0.75, 0.6 and 0.45 in the order above, so later visits have
  fewer samples.

Patients are split 60/40 into training and test sets. Each estimator's strengths are
chosen by 3-fold cross-validation over patients in the training set (a grid of ``alpha``
relative to ``alpha_max``, and of ``beta`` for the temporal group lasso). The script
prints each model's test mean squared error per visit and overall.

Run: ``python examples/progression_tgl.py`` (4 s here).
"""

import numpy as np

import mtlreg

VISITS = np.array([0, 6, 12, 24, 36])
PRESENT = np.array([1.0, 0.9, 0.75, 0.6, 0.45])


def make_progression(n=300, d=40, relevant=8, noise=2.0, seed=0):
    """Long format ``(X, y, visit, patient)`` of the model in the module docstring."""
    rng = np.random.default_rng(seed)
    baseline = rng.standard_normal((n, d))
    base = np.zeros(d)
    slope = np.zeros(d)
    base[:relevant] = rng.normal(0.0, 1.0, relevant)
    slope[:relevant] = rng.normal(0.0, 1.0, relevant)
    rows, ys, visits, patients = [], [], [], []
    for t, (month, p) in enumerate(zip(VISITS, PRESENT)):
        seen = np.flatnonzero(rng.random(n) < p)
        w = base + (month / VISITS[-1]) * slope
        rows.append(baseline[seen])
        ys.append(baseline[seen] @ w + noise * rng.standard_normal(seen.size))
        visits.append(np.full(seen.size, month))
        patients.append(seen)
    return (np.concatenate(rows), np.concatenate(ys), np.concatenate(visits),
            np.concatenate(patients))


def mse_by_visit(est, X, y, visit):
    pred = est.predict(X, tasks=visit)
    return np.array([np.mean((y[visit == m] - pred[visit == m]) ** 2) for m in VISITS])


def cross_validated(make, grid, X, y, visit, patient, folds=3, seed=1):
    """The grid point with the lowest mean validation MSE, refitted on all of X."""
    fold = np.random.default_rng(seed).integers(0, folds, patient.max() + 1)[patient]
    scores = []
    for params in grid:
        errors = []
        for k in range(folds):
            train, valid = fold != k, fold == k
            est = make(**params).fit(X[train], y[train], tasks=visit[train])
            pred = est.predict(X[valid], tasks=visit[valid])
            errors.append(np.mean((y[valid] - pred) ** 2))
        scores.append(np.mean(errors))
    best = grid[int(np.argmin(scores))]
    return make(**best).fit(X, y, tasks=visit), best


def main():
    X, y, visit, patient = make_progression()
    test_patients = np.random.default_rng(2).random(patient.max() + 1) < 0.4
    test = test_patients[patient]
    Xtr, ytr, vtr, ptr = X[~test], y[~test], visit[~test], patient[~test]
    fractions = [0.3, 0.1, 0.03, 0.01]
    models = {}
    for name, Est in [("Lasso per visit", mtlreg.LassoRegressor),
                      ("L2,1 (shared features)", mtlreg.L21Regressor),
                      ("TGL (L2,1 + temporal)", mtlreg.TGLRegressor)]:
        amax = mtlreg.alpha_max(Xtr, ytr, vtr, estimator=Est(), param="alpha")
        grid = [{"alpha": f * amax} for f in fractions]
        if Est is mtlreg.TGLRegressor:
            grid = [{**g, "beta": b} for g in grid for b in (0.1, 1.0, 10.0)]
        models[name] = cross_validated(Est, grid, Xtr, ytr, vtr, ptr)
    counts = [int(np.sum(visit[test] == m)) for m in VISITS]
    print("test samples per visit (months " + ", ".join(map(str, VISITS)) + "):", counts)
    print(f"{'model':26s} {'chosen':28s} " + " ".join(f"{m:>6d}" for m in VISITS) + "    all")
    for name, (est, params) in models.items():
        per_visit = mse_by_visit(est, X[test], y[test], visit[test])
        overall = np.sum(per_visit * counts) / np.sum(counts)
        chosen = ", ".join(f"{k}={v:.3g}" for k, v in params.items())
        print(f"{name:26s} {chosen:28s} " + " ".join(f"{e:6.2f}" for e in per_visit)
              + f" {overall:6.2f}")


if __name__ == "__main__":
    main()
