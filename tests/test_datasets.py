"""Bundled real data sets: documented shapes, splits and provenance, offline.

The expected numbers come from the data's own documentation (the
``<name>.PROVENANCE.txt`` files and the papers they cite), not from running
the loaders.
"""

import socket
from importlib import resources

import numpy as np
import pytest

from mtlreg.datasets import load_computer, load_landmine, load_parkinsons, load_school


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Loading must work offline: any socket use fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("a data loader tried to use the network")
    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def check_long_format(data, n_samples, n_features, n_tasks):
    assert data.X.shape == (n_samples, n_features) and data.X.dtype == np.float64
    assert data.y.shape[0] == n_samples
    assert data.tasks.shape == (n_samples,) and np.issubdtype(data.tasks.dtype, np.integer)
    np.testing.assert_array_equal(np.unique(data.tasks), np.arange(n_tasks))
    assert np.all(np.diff(data.tasks) >= 0), "rows are ordered by task"
    assert len(data.feature_names) == n_features
    assert np.all(np.isfinite(data.X)) and np.all(np.isfinite(data.y))


def check_split(train, test, tasks):
    n = tasks.shape[0]
    assert np.intersect1d(train, test).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(n))
    assert np.unique(train).size == train.size and np.unique(test).size == test.size
    n_tasks = tasks.max() + 1
    assert np.all(np.bincount(tasks[train], minlength=n_tasks) > 0)
    assert np.all(np.bincount(tasks[test], minlength=n_tasks) > 0)


def test_bundled_files_are_package_data():
    root = resources.files("mtlreg.datasets") / "data"
    for name in ("school", "landmine", "parkinsons", "computer"):
        assert (root / f"{name}.npz").is_file()
        assert (root / f"{name}.PROVENANCE.txt").is_file()


def test_school():
    data = load_school()
    check_long_format(data, 15362, 28, 139)
    np.testing.assert_array_equal(data.X[:, 27], 1.0)  # column 28 is the bias
    sizes = np.bincount(data.tasks)
    assert (sizes.min(), np.median(sizes), sizes.max()) == (22, 103, 251)
    assert np.all(data.y == np.round(data.y)) and data.y.min() >= 1 and data.y.max() <= 70
    # Columns 22-28 (school-level attributes + bias) are constant within a task.
    for t in range(139):
        rows = data.X[data.tasks == t, 21:]
        assert np.all(rows == rows[0])

    assert len(data.splits) == 10
    train_sets = []
    for train, test in data.splits:
        assert (train.size, test.size) == (11472, 3890)
        check_split(train, test, data.tasks)
        # Argyriou et al.: a stratified split, floor(0.75 n_t) training rows per task.
        np.testing.assert_array_equal(np.bincount(data.tasks[train], minlength=139),
                                      np.floor(0.75 * sizes))
        train_sets.append(frozenset(train.tolist()))
    assert len(set(train_sets)) == 10, "the 10 splits are different"


def test_landmine():
    data = load_landmine()
    check_long_format(data, 14820, 9, 29)
    assert data.y.dtype == np.int64 and set(np.unique(data.y).tolist()) == {0, 1}
    np.testing.assert_array_equal(
        np.bincount(data.tasks),
        [690, 690, 689, 508, 509, 509, 510, 511, 508, 509, 689, 688, 508, 510, 507,
         445, 449, 448, 449, 449, 451, 454, 447, 449, 445, 448, 448, 454, 449])
    positives = np.bincount(data.tasks, weights=data.y)
    assert positives.min() == 15 and positives.max() == 48  # both classes in every task
    assert abs(data.y.mean() - 0.061) < 0.001
    assert data.splits is None


@pytest.mark.parametrize("target", ["motor_UPDRS", "total_UPDRS", "both"])
def test_parkinsons_targets(target):
    data = load_parkinsons(target=target)
    check_long_format(data, 5875, 19, 42)
    assert data.y.shape == ((5875, 2) if target == "both" else (5875,))
    assert data.target_names == ["motor_UPDRS", "total_UPDRS"]
    sizes = np.bincount(data.tasks)
    assert (sizes.min(), sizes.max()) == (101, 168)
    assert data.feature_names[:3] == ["age", "sex", "test_time"]


def test_parkinsons_both_matches_single_targets():
    both = load_parkinsons("both").y
    np.testing.assert_array_equal(both[:, 0], load_parkinsons("motor_UPDRS").y)
    np.testing.assert_array_equal(both[:, 1], load_parkinsons("total_UPDRS").y)
    np.testing.assert_array_equal(load_parkinsons().y, both[:, 0])  # default is motor
    # The total UPDRS score contains the motor section, so it is never smaller.
    assert np.all(both[:, 1] >= both[:, 0])
    # age and sex are patient attributes, constant within a task.
    data = load_parkinsons()
    for t in range(42):
        rows = data.X[data.tasks == t, :2]
        assert np.all(rows == rows[0])


def test_parkinsons_unknown_target():
    with pytest.raises(ValueError, match="target must be one of"):
        load_parkinsons(target="UPDRS")


def test_computer():
    data = load_computer()
    check_long_format(data, 3800, 14, 190)
    np.testing.assert_array_equal(np.bincount(data.tasks), 20)
    np.testing.assert_array_equal(data.X[:, 0], 1.0)  # constant column
    assert set(np.unique(data.X[:, 1:]).tolist()) == {-1.0, 1.0}
    # Every respondent rated the same 20 profiles.
    design = data.X.reshape(190, 20, 14)
    assert np.all(design == design[0])
    assert set(np.unique(data.y).tolist()) <= set(range(11))

    assert len(data.splits) == 1
    train, test = data.splits[0]
    check_split(train, test, data.tasks)
    position = np.arange(3800) % 20  # profile index within a respondent
    np.testing.assert_array_equal(np.sort(position[train]), np.repeat(np.arange(16), 190))
    np.testing.assert_array_equal(np.sort(position[test]), np.repeat(np.arange(16, 20), 190))


@pytest.mark.parametrize("load, words", [
    (load_school, ["jiayuzhou/MALSAR", "tjanez/PyMTL", "Goldstein", "Argyriou"]),
    (load_landmine, ["daizhongxiang/Federated_Bayesian_Optimization", "Xue"]),
    (load_parkinsons, ["behnazrzf/Parkinson-s_Telemonitoring", "UCI", "Tsanas"]),
    (load_computer, ["probml/pmtkdata", "Lenk"]),
])
def test_descr_names_source_and_citation(load, words):
    descr = load().DESCR
    assert "CITATION" in descr and "source repo" in descr
    assert "commit" in descr  # the source is pinned to a commit
    for word in words:
        assert word in descr, word
