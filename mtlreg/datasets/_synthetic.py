"""Synthetic multi-task problems with a planted, known structure.

Every generator draws a true ``W`` (``n_features x n_tasks``, columns ``w_t``)
with one of the five structures the package's families assume, then samples
long-format data ``(X, y, tasks)`` from it.  The returned ``coef`` is ``W.T``,
the orientation of every estimator's ``coef_``, so a fitted model can be
compared with the truth row by row.
"""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import Bunch, check_random_state

__all__ = ["make_multitask_regression", "make_multitask_classification"]

_STRUCTURES = ("shared_support", "low_rank", "clustered", "related", "outlier_tasks")

# Structure parameters each structure reads; any other one given is a mistake.
_STRUCTURE_PARAMS = {
    "shared_support": ("n_informative",),
    "low_rank": ("rank",),
    "clustered": ("n_clusters", "task_std"),
    "related": ("n_groups", "task_std"),
    "outlier_tasks": ("n_outlier_tasks", "base", "rank", "n_informative"),
}

_GENERATIVE_MODEL = r"""
    Generative model.  ``T = n_tasks``, ``d = n_features``, task ``t`` has
    ``n_t`` samples; ``W`` is ``d x T`` with columns ``w_t`` and ``b`` the
    intercepts.  Every draw is independent:

        x_ti ~ N(0, I_d),    b_t ~ N(0, intercept_scale^2),

    and ``W`` has the planted ``structure``:

    * ``"shared_support"`` -- a random set ``S`` of ``n_informative`` features
      (rows) is used by every task:

          W_jt ~ N(0, 1) for j in S,    W_jt = 0 for j not in S.

    * ``"low_rank"`` -- ``W = U V`` with inner dimension ``r = rank``:

          U ~ N(0, 1)^(d x r),    V ~ N(0, 1/r)^(r x T)    (so Var W_jt = 1).

    * ``"clustered"`` -- tasks fall into ``k = n_clusters`` non-empty clusters
      (random assignment ``c(t)``), each with a centroid model ``m_c``:

          m_c ~ N(0, I_d),    w_t = m_c(t) + task_std * v_t,    v_t ~ N(0, I_d).

    * ``"related"`` -- one common model ``w0`` shared with a planted sign:
      tasks fall into ``n_groups`` non-empty groups ``g(t)`` (random
      assignment), group ``g`` has sign ``s_g = +1`` for even ``g`` and ``-1``
      for odd ``g``, and

          w0 ~ N(0, I_d),    w_t = s_g(t) * w0 + task_std * v_t,    v_t ~ N(0, I_d),

      so ``corr(w_s, w_t)`` is close to ``s_g(s) s_g(t) / (1 + task_std^2)``:
      positive within a sign, negative across signs.

    * ``"outlier_tasks"`` -- ``n_outlier_tasks`` randomly chosen tasks ``O``
      have dense models ``w_t ~ N(0, I_d)``; the other tasks follow ``base``
      (``"low_rank"`` with ``rank``, or ``"shared_support"`` with
      ``n_informative``) as above.  The structure robust MTL and rMTFL assume.
"""

_PARAMETERS = """
    Parameters
    ----------
    n_tasks : int, default=10
        Number of tasks ``T``; task labels are ``0 .. T-1``.
    n_samples : int or sequence of int, default=100
        Samples per task: one int for equal sizes, or one size per task.
    n_features : int, default=20
        Number of features ``d``.
    structure : str, default="shared_support"
        The structure planted in ``W``, one of ``"shared_support"``,
        ``"low_rank"``, ``"clustered"``, ``"related"``, ``"outlier_tasks"``
        (see the generative model above).
    noise : float, default=@noise_default@
        @noise_doc@
    intercept_scale : float, default=0.0
        Standard deviation of the intercepts ``b_t`` (``0``: no intercepts).
    random_state : int, RandomState instance or None, default=None
        Seed or generator; the same seed gives the same problem.
    n_informative : int, default=max(1, n_features // 4)
        ``"shared_support"`` (and ``"outlier_tasks"`` with
        ``base="shared_support"``): number of features every task uses.
    rank : int, default=min(3, n_tasks, n_features)
        ``"low_rank"`` (and ``"outlier_tasks"`` with ``base="low_rank"``, where
        the default and the bound count the inlier tasks only): rank of ``W``.
    n_clusters : int, default=min(3, n_tasks)
        ``"clustered"``: number of task clusters.
    n_groups : int, default=min(2, n_tasks)
        ``"related"``: number of task groups, with alternating signs.
    task_std : float, default=0.1
        ``"clustered"`` and ``"related"``: scale of each task's own deviation
        ``v_t`` from its cluster centroid / signed common model.
    n_outlier_tasks : int, default=max(1, n_tasks // 10)
        ``"outlier_tasks"``: number of tasks with dense models (at most
        ``n_tasks - 1``).
    base : {"low_rank", "shared_support"}, default="low_rank"
        ``"outlier_tasks"``: structure of the inlier tasks.

    A structure parameter that the chosen ``structure`` does not use raises
    a ``ValueError`` rather than being ignored.

    Returns
    -------
    Bunch
        X : ndarray of shape (n_samples_total, n_features)
            Rows ordered by task.
        y : ndarray of shape (n_samples_total,)
            @y_doc@
        tasks : ndarray of shape (n_samples_total,), int
            Task label ``0 .. T-1`` of each row (non-decreasing).
        coef : ndarray of shape (n_tasks, n_features)
            The true ``W.T`` (row ``t`` is ``w_t``), as an estimator's ``coef_``.
        intercept : ndarray of shape (n_tasks,)
            The true ``b``.
        structure : str
        support : ndarray of shape (n_features,), bool, or None
            The planted feature support (``"shared_support"``, and the inlier
            support of ``"outlier_tasks"`` with ``base="shared_support"``).
        rank : int or None
            The planted rank (``"low_rank"``; inlier rank for ``"outlier_tasks"``
            with ``base="low_rank"``).
        clusters : ndarray of shape (n_tasks,), int, or None
            ``"clustered"``: cluster label ``0 .. n_clusters-1`` of each task.
        groups : ndarray of shape (n_tasks,), int, or None
            ``"related"``: group label ``0 .. n_groups-1`` of each task.
        signs : ndarray of shape (n_tasks,), int, or None
            ``"related"``: sign ``+1 / -1`` of ``w0`` in each task's model.
        outlier_tasks : ndarray of int or None
            ``"outlier_tasks"``: sorted labels of the outlier tasks.
"""

_REG_NOISE = """Standard deviation of the Gaussian noise:
        ``y_ti = x_ti . w_t + b_t + noise * e_ti`` with ``e_ti ~ N(0, 1)``;
        ``0`` gives exact linear responses."""

_CLF_NOISE = """Temperature of the logistic model:
        ``P(y_ti = 1) = 1 / (1 + exp(-(x_ti . w_t + b_t) / noise))``.
        ``1`` is the standard logistic model, larger values flip more labels,
        ``0`` gives the noiseless labels ``y_ti = [x_ti . w_t + b_t > 0]``."""


def _fill(template, **fields):
    for name, text in fields.items():
        template = template.replace(f"@{name}@", text)
    return template


def _check_int(name, value, low, high=None, high_text=None):
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}.")
    if value < low:
        raise ValueError(f"{name} must be at least {low}, got {value}.")
    if high is not None and value > high:
        raise ValueError(f"{name} must be at most {high_text or high}, got {value}.")
    return int(value)


def _check_float(name, value):
    if isinstance(value, bool) or not isinstance(value, Real) or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite real number, got {value!r}.")
    if value < 0:
        raise ValueError(f"{name} must be non-negative, got {value}.")
    return float(value)


def _check_sizes(n_samples, n_tasks):
    if isinstance(n_samples, Integral) and not isinstance(n_samples, bool):
        return np.full(n_tasks, _check_int("n_samples", n_samples, 1), dtype=np.int64)
    if isinstance(n_samples, (str, bytes)) or not hasattr(n_samples, "__len__"):
        raise ValueError("n_samples must be an int or a sequence of one int per task, "
                         f"got {n_samples!r}.")
    sizes = list(n_samples)
    if len(sizes) != n_tasks:
        raise ValueError(f"n_samples has {len(sizes)} entries but n_tasks is {n_tasks}: "
                         "give one sample size per task.")
    return np.array([_check_int(f"n_samples[{t}]", s, 1) for t, s in enumerate(sizes)],
                    dtype=np.int64)


def _random_labels(rng, n_items, n_labels):
    """Labels 0..n_labels-1, each used at least once, in random order."""
    return rng.permutation(np.arange(n_items) % n_labels)


def _low_rank(rng, d, T, rank):
    U = rng.standard_normal((d, rank))
    V = rng.standard_normal((rank, T)) / np.sqrt(rank)
    return U @ V


def _shared_support(rng, d, T, n_informative):
    support = np.zeros(d, dtype=bool)
    support[rng.choice(d, size=n_informative, replace=False)] = True
    W = np.zeros((d, T))
    W[support] = rng.standard_normal((n_informative, T))
    return W, support


def _planted_model(structure, T, d, rng, params):
    """Draw ``W`` (d x T) and the structure information returned with it."""
    info = dict(support=None, rank=None, clusters=None, groups=None, signs=None,
                outlier_tasks=None)
    task_std = params.get("task_std")
    task_std = 0.1 if task_std is None else _check_float("task_std", task_std)

    if structure == "shared_support":
        k = params.get("n_informative")
        k = max(1, d // 4) if k is None else _check_int(
            "n_informative", k, 1, d, f"n_features={d}")
        W, info["support"] = _shared_support(rng, d, T, k)

    elif structure == "low_rank":
        r = params.get("rank")
        r = min(3, T, d) if r is None else _check_int(
            "rank", r, 1, min(T, d), f"min(n_tasks, n_features)={min(T, d)}")
        W, info["rank"] = _low_rank(rng, d, T, r), r

    elif structure == "clustered":
        k = params.get("n_clusters")
        k = min(3, T) if k is None else _check_int(
            "n_clusters", k, 1, T, f"n_tasks={T}")
        clusters = _random_labels(rng, T, k)
        centroids = rng.standard_normal((d, k))
        W = centroids[:, clusters] + task_std * rng.standard_normal((d, T))
        info["clusters"] = clusters

    elif structure == "related":
        g = params.get("n_groups")
        g = min(2, T) if g is None else _check_int("n_groups", g, 1, T, f"n_tasks={T}")
        groups = _random_labels(rng, T, g)
        signs = np.where(groups % 2 == 0, 1, -1)
        w0 = rng.standard_normal(d)
        W = w0[:, None] * signs[None, :] + task_std * rng.standard_normal((d, T))
        info["groups"], info["signs"] = groups, signs

    else:  # outlier_tasks
        if T < 2:
            raise ValueError("structure='outlier_tasks' needs n_tasks >= 2 (at least one "
                             f"inlier and one outlier task), got n_tasks={T}.")
        n_out = params.get("n_outlier_tasks")
        n_out = max(1, T // 10) if n_out is None else _check_int(
            "n_outlier_tasks", n_out, 1, T - 1, f"n_tasks - 1={T - 1}")
        base = params.get("base") or "low_rank"
        if base not in ("low_rank", "shared_support"):
            raise ValueError("base must be 'low_rank' or 'shared_support', "
                             f"got {base!r}.")
        n_in = T - n_out
        if base == "low_rank":
            if params.get("n_informative") is not None:
                raise ValueError("n_informative applies to base='shared_support', "
                                 "not base='low_rank'.")
            r = params.get("rank")
            r = min(3, n_in, d) if r is None else _check_int(
                "rank", r, 1, min(n_in, d),
                f"min(n_tasks - n_outlier_tasks, n_features)={min(n_in, d)}")
            W_in, info["rank"] = _low_rank(rng, d, n_in, r), r
        else:
            if params.get("rank") is not None:
                raise ValueError("rank applies to base='low_rank', "
                                 "not base='shared_support'.")
            k = params.get("n_informative")
            k = max(1, d // 4) if k is None else _check_int(
                "n_informative", k, 1, d, f"n_features={d}")
            W_in, info["support"] = _shared_support(rng, d, n_in, k)
        outliers = np.sort(rng.choice(T, size=n_out, replace=False))
        inliers = np.setdiff1d(np.arange(T), outliers)
        W = np.empty((d, T))
        W[:, inliers] = W_in
        W[:, outliers] = rng.standard_normal((d, n_out))
        info["outlier_tasks"] = outliers
    return W, info


def _make(n_tasks, n_samples, n_features, structure, noise, intercept_scale,
          random_state, params):
    n_tasks = _check_int("n_tasks", n_tasks, 1)
    n_features = _check_int("n_features", n_features, 1)
    sizes = _check_sizes(n_samples, n_tasks)
    if structure not in _STRUCTURES:
        raise ValueError(f"structure must be one of {list(_STRUCTURES)}, got {structure!r}.")
    unused = sorted(name for name, value in params.items()
                    if value is not None and name not in _STRUCTURE_PARAMS[structure])
    if unused:
        raise ValueError(
            f"{', '.join(unused)} {'is not a parameter' if len(unused) == 1 else 'are not parameters'}"
            f" of structure={structure!r}, which takes {list(_STRUCTURE_PARAMS[structure])}.")
    noise = _check_float("noise", noise)
    intercept_scale = _check_float("intercept_scale", intercept_scale)
    rng = check_random_state(random_state)

    W, info = _planted_model(structure, n_tasks, n_features, rng, params)
    intercept = intercept_scale * rng.standard_normal(n_tasks)
    tasks = np.repeat(np.arange(n_tasks, dtype=np.int64), sizes)
    X = rng.standard_normal((int(sizes.sum()), n_features))
    # Row i uses its own task's model: z_i = x_i . w_{t(i)} + b_{t(i)}.
    z = np.einsum("ij,ij->i", X, W.T[tasks]) + intercept[tasks]
    return Bunch(X=X, z=z, tasks=tasks, coef=np.ascontiguousarray(W.T), intercept=intercept,
                 structure=structure, noise=noise, rng=rng, **info)


def _finish(bunch, y):
    del bunch["z"], bunch["rng"]
    bunch["y"] = y
    # Put the data first when printed / iterated.
    order = ["X", "y", "tasks", "coef", "intercept"]
    return Bunch(**{k: bunch[k] for k in order}, **{k: v for k, v in bunch.items()
                                                     if k not in order})


def make_multitask_regression(n_tasks=10, n_samples=100, n_features=20, *,
                              structure="shared_support", noise=0.1, intercept_scale=0.0,
                              random_state=None, n_informative=None, rank=None,
                              n_clusters=None, n_groups=None, task_std=None,
                              n_outlier_tasks=None, base=None):
    params = dict(n_informative=n_informative, rank=rank, n_clusters=n_clusters,
                  n_groups=n_groups, task_std=task_std, n_outlier_tasks=n_outlier_tasks,
                  base=base)
    b = _make(n_tasks, n_samples, n_features, structure, noise, intercept_scale,
              random_state, params)
    y = b.z + b.noise * b.rng.standard_normal(b.z.shape[0])
    return _finish(b, y)


def make_multitask_classification(n_tasks=10, n_samples=100, n_features=20, *,
                                  structure="shared_support", noise=1.0, intercept_scale=0.0,
                                  random_state=None, n_informative=None, rank=None,
                                  n_clusters=None, n_groups=None, task_std=None,
                                  n_outlier_tasks=None, base=None):
    params = dict(n_informative=n_informative, rank=rank, n_clusters=n_clusters,
                  n_groups=n_groups, task_std=task_std, n_outlier_tasks=n_outlier_tasks,
                  base=base)
    b = _make(n_tasks, n_samples, n_features, structure, noise, intercept_scale,
              random_state, params)
    if b.noise == 0:
        y = (b.z > 0).astype(np.int64)
    else:
        # Logistic sampling: y = 1 iff u < sigmoid(z / noise), u ~ U(0, 1).
        u = b.rng.uniform(size=b.z.shape[0])
        p = 0.5 * (1.0 + np.tanh(0.5 * b.z / b.noise))  # overflow-free sigmoid
        y = (u < p).astype(np.int64)
    return _finish(b, y)


make_multitask_regression.__doc__ = (
    """Multi-task regression data with a planted structure in the true models.

    ``y_ti = x_ti . w_t + b_t + noise * e_ti``, ``e_ti ~ N(0, 1)``, with ``W``
    drawn with the chosen ``structure``.
""" + _GENERATIVE_MODEL + _fill(_PARAMETERS, noise_default="0.1", noise_doc=_REG_NOISE,
                                      y_doc="Real responses.") + """
    Examples
    --------
    >>> from mtlreg.datasets import make_multitask_regression
    >>> data = make_multitask_regression(n_tasks=5, n_samples=[30, 40, 50, 60, 70],
    ...                                  structure="low_rank", rank=2, random_state=0)
    >>> data.X.shape, data.coef.shape, data.rank
    ((250, 20), (5, 20), 2)
    """)

make_multitask_classification.__doc__ = (
    """Multi-task binary classification data with a planted structure in the true models.

    Labels follow a logistic model on the linear predictor
    ``z_ti = x_ti . w_t + b_t`` with temperature ``noise``:
    ``P(y_ti = 1) = sigmoid(z_ti / noise)``, ``y_ti`` in {0, 1}; ``W`` is
    drawn with the chosen ``structure``.  With the default
    ``intercept_scale=0`` both classes are equally likely in every task.
""" + _GENERATIVE_MODEL + _fill(_PARAMETERS, noise_default="1.0", noise_doc=_CLF_NOISE,
                                      y_doc="Labels in {0, 1} (int64).") + """
    Examples
    --------
    >>> from mtlreg.datasets import make_multitask_classification
    >>> data = make_multitask_classification(n_tasks=4, structure="clustered",
    ...                                      n_clusters=2, random_state=0)
    >>> sorted(set(data.y.tolist())), data.clusters.shape
    ([0, 1], (4,))
    """)
