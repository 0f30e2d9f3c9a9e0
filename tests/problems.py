"""The problem generators the tests share, in one place.

Each returns small, seeded data with a known structure.  Long format:
``(X, y, tasks)``.  Per-task lists: ``(Xs, ys)``, as
:func:`mtlreg.stack_tasks` takes them.
"""

import numpy as np

CLASS_LABELS = ("no", "yes")  # string class labels; "yes" = classes_[1], the positive class
TASK_LABELS = np.array(["c", "a", "b", "d"])  # unsorted on purpose: tasks_ is sorted


def regression_tasks(seed, sizes, d, noise=0.3):
    rng = np.random.default_rng(seed)
    Xs = [rng.standard_normal((n, d)) + rng.uniform(-1, 1, d) for n in sizes]
    W = rng.standard_normal((len(sizes), d))
    W[:, d // 2:] = 0.0
    ys = [X @ W[t] + noise * rng.standard_normal(n) + 2.0 * t
          for t, (X, n) in enumerate(zip(Xs, sizes))]
    return Xs, ys


def classification_tasks(seed, sizes, d):
    """String labels; both classes in each task, in task-dependent proportions."""
    rng = np.random.default_rng(seed)
    Xs = [rng.standard_normal((n, d)) + rng.uniform(-1, 1, d) for n in sizes]
    W = rng.standard_normal((len(sizes), d))
    W[:, d // 2 + 1:] = 0.0
    ys = []
    for t, X in enumerate(Xs):
        z = X @ W[t] + 0.8 * rng.standard_normal(len(X))
        ys.append(np.where(z > np.quantile(z, 0.3 + 0.1 * t), CLASS_LABELS[1], CLASS_LABELS[0]))
    return Xs, ys


def interleaved_tasks(seed=0, sizes=(40, 40, 40), d=6, classifier=False):
    """Long format, rows of the tasks interleaved, string task labels, three
    relevant features, task intercepts; binary labels "neg" / "pos"."""
    rng = np.random.default_rng(seed)
    T = len(sizes)
    index = rng.permutation(np.repeat(np.arange(T), sizes))
    X = rng.standard_normal((index.shape[0], d))
    W = np.zeros((T, d))
    W[:, :3] = rng.standard_normal((T, 3))
    z = np.sum(X * W[index], axis=1) + 0.5 * rng.standard_normal(index.shape[0])
    tasks = TASK_LABELS[index]
    if classifier:
        return X, np.where(z > 0, "pos", "neg"), tasks
    return X, z + index, tasks


def three_tasks(classifier=False, seed=0):
    """3 tasks x 30 samples x 4 features, long format, string task labels."""
    rng = np.random.default_rng(seed)
    T, n, d = 3, 30, 4
    X = rng.standard_normal((T * n, d))
    W = rng.standard_normal((T, d))
    index = np.repeat(np.arange(T), n)
    z = np.sum(X * W[index], axis=1) + 0.5 * rng.standard_normal(T * n)
    tasks = np.array(["c", "a", "b"])[index]
    y = np.where(z > 0, "pos", "neg") if classifier else z
    return X, y, tasks


def equal_tasks(classifier, seed=0, n=90, d=5):
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((n, d))
    tasks = np.repeat(["a", "b", "c"], n // 3)
    y = X @ rng.standard_normal(d) + rng.standard_normal(n)
    return X, ((y > 0).astype(int) if classifier else y), tasks


def random_tasks(seed=0, n=60, d=5, n_tasks=3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    tasks = rng.integers(0, n_tasks, n)
    y = X @ rng.standard_normal(d) + 0.1 * rng.standard_normal(n)
    return X, y, tasks


def low_rank_tasks(seed, logistic):
    rng = np.random.default_rng(seed)
    sizes, d = (15, 25, 10), 6
    Xs = [rng.standard_normal((n, d)) for n in sizes]
    W = rng.standard_normal((d, 1)) @ rng.standard_normal((1, 3))
    W[0, 1] += 3.0  # one entry-wise exception
    zs = [X @ W[:, t] + 0.3 * rng.standard_normal(len(X)) + 0.5 for t, X in enumerate(Xs)]
    ys = [np.where(z > 0, 1.0, -1.0) for z in zs] if logistic else zs
    return Xs, ys


def two_part_tasks(seed, logistic, sizes=(12, 20, 9, 16), d=5):
    """Tasks of unequal sizes with different intercepts; two features shared by
    all tasks, one task-specific entry and one outlier task, so that both parts
    of every model are active at the strengths used below."""
    rng = np.random.default_rng(seed)
    T = len(sizes)
    Xs = [rng.standard_normal((n, d)) + 0.3 for n in sizes]
    W = np.zeros((d, T))
    W[:2] = rng.choice([-1.0, 1.0], size=(2, 1)) * (1.0 + 0.2 * rng.standard_normal((2, T)))
    W[3, 1] = 1.5
    W[:, 2] += rng.standard_normal(d)
    zs = [X @ W[:, t] + 0.3 * rng.standard_normal(len(X)) + 0.5 * (t - 1)
          for t, X in enumerate(Xs)]
    ys = [np.where(z > 0, 1.0, -1.0) for z in zs] if logistic else zs
    return Xs, ys
