"""Plots of task-by-task matrices (optional: needs matplotlib).

Each function returns the matplotlib ``Axes`` it drew on.
"""

import numpy as np

from ._backend import to_numpy as _backend_to_numpy

__all__ = ["plot_task_matrix", "plot_task_clusters", "plot_task_correlation", "plot_cv_curve"]


def to_numpy(values):
    """Arrays of any namespace, or plain sequences, as NumPy."""
    if isinstance(values, (list, tuple)):
        return np.asarray(values)
    return _backend_to_numpy(values)


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "mtlreg.plotting needs matplotlib: pip install matplotlib (or mtlreg[plot])."
        ) from exc
    return plt


def plot_task_matrix(matrix, labels=None, *, order=None, ax=None, cmap="RdBu_r",
                     symmetric=True, title=None, colorbar=True, boundaries=None):
    """Draw a ``n_tasks x n_tasks`` matrix as a heatmap with task labels.

    Parameters
    ----------
    matrix : array of shape (n_tasks, n_tasks)
        E.g. ``ClusteredRegressor.cluster_matrix_``, or a task correlation.
    labels : sequence of length n_tasks, default=None
        Tick labels (e.g. ``estimator.tasks_``); ``0 .. n_tasks-1`` if None.
    order : sequence of int, default=None
        Permutation of the tasks to draw them in (e.g. sorted by cluster).
    ax : matplotlib Axes, default=None
        Axes to draw on; a new figure if None.
    cmap : str, default="RdBu_r"
    symmetric : bool, default=True
        Colour scale symmetric around 0 (``[-m, m]``, ``m = max |matrix|``).
    title : str, default=None
    colorbar : bool, default=True
    boundaries : sequence of int, default=None
        Positions (in drawing order) after which a separating line is drawn,
        e.g. cluster boundaries.

    Returns
    -------
    matplotlib.axes.Axes
    """
    plt = _pyplot()
    A = np.asarray(to_numpy(matrix), dtype=np.float64)
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"matrix must be square (n_tasks, n_tasks), got shape {A.shape}.")
    T = A.shape[0]
    names = np.arange(T) if labels is None else np.asarray(to_numpy(labels))
    if names.shape[0] != T:
        raise ValueError(f"labels has {names.shape[0]} entries for a {T} x {T} matrix.")
    perm = np.arange(T) if order is None else np.asarray(order)
    if sorted(perm.tolist()) != list(range(T)):
        raise ValueError(f"order must be a permutation of 0..{T - 1}.")
    A = A[np.ix_(perm, perm)]
    if ax is None:
        _, ax = plt.subplots(figsize=(min(2 + 0.25 * T, 12), min(2 + 0.25 * T, 12)))
    bound = float(np.max(np.abs(A))) or 1.0
    kw = dict(vmin=-bound, vmax=bound) if symmetric else {}
    image = ax.imshow(A, cmap=cmap, interpolation="nearest", **kw)
    if T <= 60:  # more labels than that are unreadable
        ticks = np.arange(T)
        ax.set_xticks(ticks, [str(v) for v in names[perm]], rotation=90)
        ax.set_yticks(ticks, [str(v) for v in names[perm]])
    for b in boundaries or ():
        ax.axhline(b - 0.5, color="k", linewidth=1)
        ax.axvline(b - 0.5, color="k", linewidth=1)
    if title:
        ax.set_title(title)
    if colorbar:
        ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    return ax


def plot_task_clusters(estimator, *, ax=None, cmap="RdBu_r", title=None):
    """Draw a fitted clustered model's ``cluster_matrix_``, tasks ordered by
    ``clusters_``, with lines between clusters.

    Parameters
    ----------
    estimator : fitted ClusteredRegressor or ClusteredClassifier
    ax, cmap, title : see :func:`plot_task_matrix`.

    Returns
    -------
    matplotlib.axes.Axes
    """
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator, "cluster_matrix_")
    clusters = np.asarray(to_numpy(estimator.clusters_))
    order = np.argsort(clusters, kind="stable")
    sizes = np.bincount(clusters)
    boundaries = np.cumsum(sizes)[:-1].tolist()
    return plot_task_matrix(estimator.cluster_matrix_, estimator.tasks_, order=order, ax=ax,
                            cmap=cmap, title=title or "task similarity M (ordered by cluster)",
                            boundaries=boundaries)


def plot_task_correlation(estimator, *, ax=None, cmap="RdBu_r", title=None, order=None):
    """Draw a fitted relation model's ``task_correlation_`` (colour scale
    ``[-1, 1]``) with the task labels.

    Parameters
    ----------
    estimator : fitted RelationRegressor or RelationClassifier
    ax, cmap, title, order : see :func:`plot_task_matrix`.

    Returns
    -------
    matplotlib.axes.Axes
    """
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator, "task_correlation_")
    ax = plot_task_matrix(estimator.task_correlation_, estimator.tasks_, order=order, ax=ax,
                          cmap=cmap, title=title or "learned task correlation")
    ax.images[0].set_clim(-1.0, 1.0)
    return ax


def plot_cv_curve(search, *, scoring=None, band="se", ax=None, log_scale=True, title=None):
    """Mean cross-validation score along the path, with its error band.

    One line per combination of the other parameters of
    :class:`mtlreg.model_selection.MultiTaskCV`'s ``param_grid``; the band
    is ``mean +- SE`` with ``SE = std(split scores, ddof=1) / sqrt(n_splits)``
    (``band="se"``, the width the one-standard-error rule uses) or
    ``mean +- std`` (``band="std"``, ``GridSearchCV``'s ``std_test_score``).
    The selected value is marked by a vertical line.

    Parameters
    ----------
    search : fitted MultiTaskCV
    scoring : str, default=None
        Which scorer's curve, for a search with several (default: the one
        that selected, else the first).
    band : {"se", "std", None}, default="se"
    ax : matplotlib Axes, default=None
    log_scale : bool, default=True
        Logarithmic axis for the path parameter.
    title : str, default=None

    Returns
    -------
    matplotlib.axes.Axes
    """
    if not hasattr(search, "cv_results_"):
        raise ValueError("plot_cv_curve needs a fitted MultiTaskCV (no cv_results_ yet).")
    if band not in ("se", "std", None):
        raise ValueError(f"band must be 'se', 'std' or None, got {band!r}.")
    res = search.cv_results_
    if search.multimetric_:
        names = list(search.scorer_)
        key = scoring if scoring is not None else (
            search.refit if isinstance(search.refit, str) else names[0])
        if key not in names:
            raise ValueError(f"scoring must be one of {names}, got {key!r}.")
    else:
        if scoring not in (None, "score"):
            raise ValueError("this search has a single scorer: leave scoring=None.")
        key = "score"
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    param = search.path_param
    n_splits = search.n_splits_
    splits = np.stack([np.asarray(res[f"split{k}_test_{key}"], dtype=float)
                       for k in range(n_splits)])
    mean = np.asarray(res[f"mean_test_{key}"], dtype=float)
    spread = {"se": splits.std(axis=0, ddof=1) / np.sqrt(n_splits) if n_splits > 1
              else np.zeros_like(mean), "std": splits.std(axis=0), None: None}[band]
    values = np.array([row[param] for row in res["params"]], dtype=float)
    others = [tuple(sorted((k, v) for k, v in row.items() if k != param))
              for row in res["params"]]
    for combo in dict.fromkeys(others):
        rows = np.array([i for i, o in enumerate(others) if o == combo])
        rows = rows[np.argsort(values[rows])]
        label = ", ".join(f"{k}={v}" for k, v in combo) or None
        line, = ax.plot(values[rows], mean[rows], marker="o", markersize=3, label=label)
        if spread is not None:
            ax.fill_between(values[rows], mean[rows] - spread[rows], mean[rows] + spread[rows],
                            color=line.get_color(), alpha=0.2, linewidth=0)
    if hasattr(search, "best_params_"):
        ax.axvline(search.best_params_[param], color="k", linestyle="--", linewidth=1,
                   label=f"selected ({search.selection})")
    if log_scale:
        ax.set_xscale("log")
    ax.set_xlabel(param)
    ax.set_ylabel(f"mean test {key}" + {"se": " (+- SE)", "std": " (+- std)", None: ""}[band])
    if title:
        ax.set_title(title)
    ax.legend(fontsize="small")
    return ax
