"""Synthetic generators plant the structure they claim.

Every structural claim is checked on the returned ``coef`` with an independent
computation (SVD rank, row norms, distances, correlations, projections), and
the sampling model on ``(X, y)`` with a per-task loop or a score equation.
"""

import itertools

import numpy as np
import pytest
from scipy.stats import chi2

from mtlreg import L21Regressor, alpha_max
from mtlreg.datasets import make_multitask_classification, make_multitask_regression

STRUCTURES = ["shared_support", "low_rank", "clustered", "related", "outlier_tasks"]
GENERATORS = [make_multitask_regression, make_multitask_classification]


def numerical_rank(A):
    s = np.linalg.svd(A, compute_uv=False)
    return int(np.sum(s > s[0] * max(A.shape) * np.finfo(A.dtype).eps))


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


# --------------------------------------------------------------------------
# shapes, dtypes, task layout, reproducibility

@pytest.mark.parametrize("make", GENERATORS)
@pytest.mark.parametrize("structure", STRUCTURES)
def test_shapes_dtypes_and_task_layout(make, structure):
    T, n, d = 7, 30, 12
    data = make(T, n, d, structure=structure, random_state=0)
    assert data.X.shape == (T * n, d) and data.X.dtype == np.float64
    assert data.y.shape == (T * n,)
    assert data.y.dtype == (np.float64 if make is make_multitask_regression else np.int64)
    assert data.coef.shape == (T, d) and data.coef.dtype == np.float64
    assert data.intercept.shape == (T,)
    assert data.tasks.shape == (T * n,) and np.issubdtype(data.tasks.dtype, np.integer)
    # Long format, rows ordered by task, labels 0..T-1.
    np.testing.assert_array_equal(data.tasks, np.repeat(np.arange(T), n))
    assert data.structure == structure
    assert np.all(np.isfinite(data.X)) and np.all(np.isfinite(data.y))


@pytest.mark.parametrize("make", GENERATORS)
def test_varying_sample_sizes(make):
    sizes = [5, 40, 1, 17, 23]
    data = make(5, sizes, 6, random_state=1)
    np.testing.assert_array_equal(np.bincount(data.tasks, minlength=5), sizes)
    assert np.all(np.diff(data.tasks) >= 0)
    assert data.X.shape == (sum(sizes), 6) and data.y.shape == (sum(sizes),)
    # A tuple or an array works as well as a list.
    same = make(5, np.array(sizes), 6, random_state=1)
    np.testing.assert_array_equal(same.X, data.X)


@pytest.mark.parametrize("make", GENERATORS)
@pytest.mark.parametrize("structure", STRUCTURES)
def test_reproducible_with_random_state(make, structure):
    a = make(6, 20, 8, structure=structure, random_state=42)
    b = make(6, 20, 8, structure=structure, random_state=np.random.RandomState(42))
    c = make(6, 20, 8, structure=structure, random_state=43)
    for key in ("X", "y", "coef", "intercept"):
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a.X, c.X) and not np.array_equal(a.coef, c.coef)


# --------------------------------------------------------------------------
# sampling model

def test_noiseless_regression_is_exactly_linear_per_task():
    data = make_multitask_regression(4, [10, 20, 15, 5], 6, structure="clustered", noise=0.0,
                                     intercept_scale=2.0, random_state=3)
    assert np.any(np.abs(data.intercept) > 0.1)  # intercepts are really there
    for t in range(4):
        rows = data.tasks == t
        np.testing.assert_allclose(data.y[rows], data.X[rows] @ data.coef[t] + data.intercept[t],
                                   rtol=1e-12, atol=1e-12)


def test_regression_noise_is_gaussian_with_std_noise():
    noise = 0.7
    data = make_multitask_regression(5, 2000, 4, structure="low_rank", noise=noise,
                                     random_state=0)
    resid = data.y - np.einsum("ij,ij->i", data.X, data.coef[data.tasks]) - data.intercept[
        data.tasks]
    # The law's standard errors for n = 10000 iid N(0, noise^2): noise / sqrt(n)
    # for the mean, about noise / sqrt(2 n) (0.7%) for the standard deviation;
    # the bounds are 4 and 4.2 of them (the seed gives 0.4 for the latter).
    assert abs(resid.mean()) < 4 * noise / np.sqrt(resid.size)
    np.testing.assert_allclose(resid.std(), noise, rtol=0.03)


def test_intercept_scale_zero_gives_no_intercepts():
    data = make_multitask_regression(4, 10, 3, random_state=0)
    np.testing.assert_array_equal(data.intercept, 0.0)


def test_noiseless_classification_is_the_sign_of_the_linear_predictor():
    data = make_multitask_classification(5, 40, 6, structure="low_rank", noise=0.0,
                                         intercept_scale=0.5, random_state=2)
    z = np.einsum("ij,ij->i", data.X, data.coef[data.tasks]) + data.intercept[data.tasks]
    np.testing.assert_array_equal(data.y, (z > 0).astype(int))


@pytest.mark.parametrize("structure", STRUCTURES)
def test_classification_labels_are_binary_with_both_classes_in_every_task(structure):
    data = make_multitask_classification(8, 60, 10, structure=structure, random_state=5)
    assert set(np.unique(data.y).tolist()) == {0, 1}
    for t in range(8):
        assert set(np.unique(data.y[data.tasks == t]).tolist()) == {0, 1}


def test_classification_follows_logistic_model_with_temperature_noise():
    # At the true parameters the logistic score equations hold in expectation:
    # E[y - p] = 0 and E[(y - p) z] = 0 with p = sigmoid(z / noise).  A wrong
    # temperature (e.g. sigmoid(z)) breaks the second by many standard errors.
    noise = 2.0
    data = make_multitask_classification(4, 5000, 3, structure="related", noise=noise,
                                         intercept_scale=0.5, random_state=0)
    z = np.einsum("ij,ij->i", data.X, data.coef[data.tasks]) + data.intercept[data.tasks]
    p = sigmoid(z / noise)
    for g in (np.ones_like(z), z):
        score = (data.y - p) * g
        assert abs(score.mean()) < 4 * score.std() / np.sqrt(z.size)
    wrong = (data.y - sigmoid(z)) * z
    assert abs(wrong.mean()) > 10 * wrong.std() / np.sqrt(z.size)


# --------------------------------------------------------------------------
# planted structures

@pytest.mark.parametrize("n_informative", [1, 4, 9])
def test_shared_support_rows_are_exactly_the_planted_ones(n_informative):
    data = make_multitask_regression(6, 10, 15, structure="shared_support",
                                     n_informative=n_informative, random_state=n_informative)
    W = data.coef.T
    assert data.support.dtype == bool and data.support.shape == (15,)
    assert data.support.sum() == n_informative
    np.testing.assert_array_equal(np.any(W != 0, axis=1), data.support)
    # Shared: every task uses every support feature.
    assert np.all(W[data.support] != 0)
    assert data.rank is None and data.clusters is None and data.outlier_tasks is None


def test_shared_support_default_and_random_positions():
    supports = [make_multitask_regression(3, 5, 20, random_state=s).support for s in range(5)]
    assert all(s.sum() == 20 // 4 for s in supports)
    assert len({tuple(np.flatnonzero(s)) for s in supports}) > 1


@pytest.mark.parametrize("T, d, rank", [(10, 20, 1), (10, 20, 3), (8, 5, 5), (30, 6, 4)])
def test_low_rank_coef_has_the_planted_rank(T, d, rank):
    data = make_multitask_regression(T, 5, d, structure="low_rank", rank=rank, random_state=0)
    assert data.rank == rank
    assert numerical_rank(data.coef) == rank
    assert data.support is None


def test_low_rank_default_rank():
    data = make_multitask_regression(10, 5, 20, structure="low_rank", random_state=0)
    assert data.rank == 3 and numerical_rank(data.coef) == 3
    data = make_multitask_regression(2, 5, 20, structure="low_rank", random_state=0)
    assert data.rank == 2 and numerical_rank(data.coef) == 2


@pytest.mark.parametrize("n_clusters, task_std", [(3, 0.1), (4, 0.2), (1, 0.1)])
def test_clusters_are_tight_and_labelled(n_clusters, task_std):
    T, d = 13, 30
    data = make_multitask_regression(T, 5, d, structure="clustered", n_clusters=n_clusters,
                                     task_std=task_std, random_state=7)
    labels = data.clusters
    assert labels.shape == (T,)
    np.testing.assert_array_equal(np.unique(labels), np.arange(n_clusters))  # none empty
    dist = np.linalg.norm(data.coef[:, None, :] - data.coef[None, :, :], axis=-1)
    same = labels[:, None] == labels[None, :]
    off_diagonal = ~np.eye(T, dtype=bool)
    if n_clusters > 1:
        assert dist[same & off_diagonal].max() < dist[~same].min()
    # Within-cluster spread is task_std.  By the generator's law
    # (w_t = m_c + task_std v_t, v_t ~ N(0, I_d)) the scatter of each cluster's
    # models about their mean, over task_std^2 and summed over the clusters,
    # is exactly chi-squared with d (T - n_clusters) degrees of freedom:
    # outside its 1e-6 and 1 - 1e-6 quantiles with probability 2e-6 (the seed
    # gives -1.8, -0.6 and -0.4 standard deviations; a task_std off by 30%
    # either way would fall outside on each).
    scatter = sum(np.sum((data.coef[labels == c] - data.coef[labels == c].mean(axis=0)) ** 2)
                  for c in range(n_clusters)) / task_std ** 2
    dof = d * (T - n_clusters)
    assert chi2.ppf(1e-6, dof) < scatter < chi2.ppf(1 - 1e-6, dof)


def test_cluster_assignment_is_random_not_contiguous():
    labels = [tuple(make_multitask_regression(9, 3, 4, structure="clustered",
                                              random_state=s).clusters) for s in range(5)]
    assert len(set(labels)) > 1


@pytest.mark.parametrize("n_groups", [1, 2, 3])
def test_related_task_correlations_have_the_planted_signs(n_groups):
    T = 12
    data = make_multitask_regression(T, 5, 40, structure="related", n_groups=n_groups,
                                     task_std=0.3, random_state=n_groups)
    groups, signs = data.groups, data.signs
    np.testing.assert_array_equal(np.unique(groups), np.arange(n_groups))
    np.testing.assert_array_equal(signs, np.where(groups % 2 == 0, 1, -1))
    corr = np.corrcoef(data.coef)
    for s, t in itertools.combinations(range(T), 2):
        assert np.sign(corr[s, t]) == signs[s] * signs[t], (s, t, corr[s, t])
    # Strength: |corr| is about 1 / (1 + task_std^2 d / ||w0||^2), ||w0||^2 / d
    # ~ chi2_40 / 40.  It cannot exceed 1 = 0.917 + 0.083, and falls 0.1 below
    # 0.917 only for chi2_40 < 16 or so (probability 3e-4); the seeds give
    # 0.920 to 0.929, and no |corr| below 0.86 for the signs above.
    off = corr[~np.eye(T, dtype=bool)]
    np.testing.assert_allclose(np.median(np.abs(off)), 1 / (1 + 0.3 ** 2), atol=0.1)


def test_related_deviation_strength_controls_correlation():
    weak = make_multitask_regression(10, 5, 50, structure="related", task_std=2.0,
                                     random_state=0)
    strong = make_multitask_regression(10, 5, 50, structure="related", task_std=0.05,
                                       random_state=0)
    abs_corr = [np.abs(np.corrcoef(b.coef)[np.triu_indices(10, 1)]).mean()
                for b in (weak, strong)]
    assert abs_corr[0] < 0.5 < 0.95 < abs_corr[1]


@pytest.mark.parametrize("n_out", [1, 3])
def test_outlier_tasks_are_far_from_the_inlier_subspace(n_out):
    T, d, rank = 12, 20, 2
    data = make_multitask_regression(T, 5, d, structure="outlier_tasks", n_outlier_tasks=n_out,
                                     rank=rank, random_state=n_out)
    out = data.outlier_tasks
    assert out.shape == (n_out,) and np.all(np.diff(out) > 0) and out.max() < T
    inliers = np.setdiff1d(np.arange(T), out)
    assert data.rank == rank and numerical_rank(data.coef[inliers]) == rank
    # Projection on the span of the inlier models.
    _, _, Vt = np.linalg.svd(data.coef[inliers], full_matrices=False)
    basis = Vt[:rank]
    residual = data.coef - (data.coef @ basis.T) @ basis
    relative = np.linalg.norm(residual, axis=1) / np.linalg.norm(data.coef, axis=1)
    assert relative[inliers].max() < 1e-10
    assert relative[out].min() > 0.5
    assert numerical_rank(data.coef) == rank + n_out


def test_outlier_tasks_with_shared_support_base():
    data = make_multitask_regression(10, 5, 16, structure="outlier_tasks", base="shared_support",
                                     n_informative=3, n_outlier_tasks=2, random_state=0)
    inliers = np.setdiff1d(np.arange(10), data.outlier_tasks)
    assert data.support.sum() == 3 and data.rank is None
    np.testing.assert_array_equal(np.any(data.coef[inliers] != 0, axis=0), data.support)
    # Outlier models are dense: they use features the inliers never use.
    assert np.all(data.coef[data.outlier_tasks] != 0)


def test_outlier_default_count():
    data = make_multitask_regression(25, 3, 8, structure="outlier_tasks", random_state=0)
    assert data.outlier_tasks.shape == (2,)
    data = make_multitask_regression(2, 3, 8, structure="outlier_tasks", random_state=0)
    assert data.outlier_tasks.shape == (1,)


# --------------------------------------------------------------------------
# input validation

@pytest.mark.parametrize("make", GENERATORS)
@pytest.mark.parametrize("kwargs, match", [
    (dict(structure="sparse"), "structure must be one of"),
    (dict(structure="low_rank", rank=6, n_tasks=5, n_features=20),
     r"rank must be at most min\(n_tasks, n_features\)=5"),
    (dict(structure="low_rank", rank=0), "rank must be at least 1"),
    (dict(structure="low_rank", rank=2.5), "rank must be an integer"),
    (dict(n_informative=21, n_features=20), "n_informative must be at most n_features=20"),
    (dict(structure="clustered", n_clusters=11, n_tasks=10),
     "n_clusters must be at most n_tasks=10"),
    (dict(structure="related", n_groups=11, n_tasks=10), "n_groups must be at most n_tasks=10"),
    (dict(structure="clustered", task_std=-1.0), "task_std must be non-negative"),
    (dict(noise=-0.1), "noise must be non-negative"),
    (dict(noise=float("nan")), "noise must be a finite real number"),
    (dict(intercept_scale=-1.0), "intercept_scale must be non-negative"),
    (dict(n_samples=[10, 20, 30], n_tasks=4), "n_samples has 3 entries but n_tasks is 4"),
    (dict(n_samples=[10, 0, 30], n_tasks=3), r"n_samples\[1\] must be at least 1"),
    (dict(n_samples=0), "n_samples must be at least 1"),
    (dict(n_samples="100"), "n_samples must be an int or a sequence"),
    (dict(n_tasks=0), "n_tasks must be at least 1"),
    (dict(n_features=0), "n_features must be at least 1"),
    (dict(structure="outlier_tasks", n_outlier_tasks=10, n_tasks=10),
     "n_outlier_tasks must be at most n_tasks - 1=9"),
    (dict(structure="outlier_tasks", n_tasks=1), "needs n_tasks >= 2"),
    (dict(structure="outlier_tasks", rank=9, n_outlier_tasks=2, n_tasks=10),
     r"rank must be at most min\(n_tasks - n_outlier_tasks, n_features\)=8"),
    (dict(structure="outlier_tasks", base="clustered"), "base must be 'low_rank' or"),
    (dict(structure="outlier_tasks", n_informative=3), "n_informative applies to base="),
    (dict(structure="outlier_tasks", base="shared_support", rank=2), "rank applies to base="),
    (dict(structure="shared_support", rank=2), "rank is not a parameter of structure="),
    (dict(structure="low_rank", n_clusters=2, task_std=0.1),
     "n_clusters, task_std are not parameters of structure='low_rank'"),
])
def test_invalid_input_raises_clear_value_error(make, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make(**kwargs)


# --------------------------------------------------------------------------
# an estimator recovers what the generator plants

def test_l21_recovers_the_planted_shared_support():
    """Fixed seed, wide margins: at the solution the zero rows' gradients are at
    most 0.35 alpha (the prox zeroes them exactly, with a 65% margin), and the
    support rows' norms at least 1.17, far above the fit's certified distance
    to the optimum (gap 3e-8)."""
    data = make_multitask_regression(10, 100, 30, structure="shared_support", n_informative=5,
                                     noise=0.1, intercept_scale=1.0, random_state=0)
    alpha = 0.05 * alpha_max(data.X, data.y, data.tasks)
    model = L21Regressor(alpha=alpha).fit(data.X, data.y, data.tasks)
    selected = np.linalg.norm(model.coef_, axis=0) > 0
    np.testing.assert_array_equal(selected, data.support)
