"""Plots of task-by-task matrices and cross-validation curves (optional: needs matplotlib).

Each function returns the matplotlib ``Axes`` it drew on.  Without ``ax`` the
function makes a figure with ``layout="constrained"``, sized from the number
of tasks and the length of their labels, so that tick labels, title, colour
bar and legend fit inside it.  With ``ax`` the figure's size and layout are
the caller's (``plt.subplots(..., layout="constrained")`` keeps labels inside).
"""

import numpy as np

from ._backend import to_numpy as _backend_to_numpy

__all__ = ["plot_task_matrix", "plot_task_clusters", "plot_task_correlation", "plot_cv_curve"]

# Heatmap side (inches) of a new figure: 0.3 in per task, within these bounds.
_SIDE_MIN, _SIDE_MAX, _SIDE_PER_TASK = 3.0, 9.0, 0.3
_MIN_TICK_FONT = 7.0  # points: smaller tick labels are not drawn, a subset is
_LINE = 1.3           # a tick label needs this many times its font size of room
_SPACED = 1.6         # ... and is given this much when only some are labelled


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


def _points(size):
    """A matplotlib font size (number or name such as "medium") in points."""
    from matplotlib.font_manager import FontProperties

    return FontProperties(size=size).get_size_in_points()


def _tick_layout(n_tasks, side_in, base_size):
    """``(fontsize, step)`` of the task tick labels on a heatmap ``side_in``
    inches wide: every label, at up to ``base_size`` points, if they fit;
    else labels of ``_MIN_TICK_FONT`` points on every ``step``-th task, with
    ``step`` in 2, 3, 4, 5, 10, 20, 25, 50, 100 ... and the labels spaced out
    a little more."""
    cell = 72.0 * side_in / n_tasks  # points per task
    size = min(base_size, max(_MIN_TICK_FONT, cell / _LINE))
    if _LINE * size <= cell * (1 + 1e-9):
        return size, 1
    need = _SPACED * size / cell
    steps = [2, 3, 4, 5] + [m * 10 ** k for k in range(12) for m in (10, 20, 25, 50)]
    step = next(m for m in steps if m >= need)
    return size, step


def _ordinal(n):
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def _text_inches(texts, size, weight="normal"):
    """Width of the widest line of ``texts`` in the default font at ``size``."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import text_to_path

    font = FontProperties(size=size, weight=weight)
    lines = [line for text in texts for line in str(text).split("\n")]
    return max((text_to_path.get_text_width_height_descent(line, font, ismath=False)[0]
                for line in lines if line), default=0.0) / 72.0


def plot_task_matrix(matrix, labels=None, *, order=None, ax=None, cmap="RdBu_r",
                     symmetric=True, title=None, colorbar=True, boundaries=None):
    """Draw a ``n_tasks x n_tasks`` matrix as a heatmap with task labels.

    The ticks carry the task labels in the drawing order (``labels[order]``).
    When there is no room for all of them (beyond about 50 tasks on a new
    figure), every ``step``-th task is labelled, starting from the first
    drawn, and the axis label says so.

    Parameters
    ----------
    matrix : array of shape (n_tasks, n_tasks)
        E.g. ``ClusteredRegressor.cluster_matrix_``, or a task correlation.
    labels : sequence of length n_tasks, default=None
        Tick labels (e.g. ``estimator.tasks_``); ``0 .. n_tasks-1`` if None.
    order : sequence of int, default=None
        Permutation of the tasks to draw them in (e.g. sorted by cluster).
    ax : matplotlib Axes, default=None
        Axes to draw on; if None, a new figure with a constrained layout, sized
        to the number of tasks and the length of their labels.
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
    import matplotlib as mpl

    A = np.asarray(to_numpy(matrix), dtype=np.float64)
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"matrix must be square (n_tasks, n_tasks), got shape {A.shape}.")
    T = A.shape[0]
    if T == 0:
        raise ValueError("matrix has no tasks (shape (0, 0)).")
    names = np.arange(T) if labels is None else np.asarray(to_numpy(labels))
    if names.shape[0] != T:
        raise ValueError(f"labels has {names.shape[0]} entries for a {T} x {T} matrix.")
    perm = np.arange(T) if order is None else np.asarray(order)
    if sorted(perm.tolist()) != list(range(T)):
        raise ValueError(f"order must be a permutation of 0..{T - 1}.")
    A = A[np.ix_(perm, perm)]
    drawn = [str(v) for v in names[perm]]  # the labels in drawing order
    base_size = _points(mpl.rcParams["ytick.labelsize"])

    made = ax is None
    if made:
        side = min(max(_SIDE_PER_TASK * T, _SIDE_MIN), _SIDE_MAX)
        if title:  # the title is centred over the heatmap: make that as wide
            side = max(side, 0.1 + _text_inches([title], mpl.rcParams["axes.titlesize"],
                                                mpl.rcParams["axes.titleweight"]))
    else:  # the room the given Axes has, less a colour bar's share
        box = ax.get_position()
        fig_w, fig_h = ax.figure.get_size_inches()
        side = min(box.width * fig_w, box.height * fig_h) * (0.88 if colorbar else 1.0)
    size, step = _tick_layout(T, side, base_size)
    ticks = np.arange(0, T, step)
    shown = [drawn[i] for i in ticks]
    axis_label = f"{T} tasks, every {_ordinal(step)} labelled" if step > 1 else None

    if made:  # the heatmap and around it: tick labels, axis label, title, colour bar
        labels_in = _text_inches(shown, size) + 0.1 + (0.3 if axis_label else 0.0)
        bar_in = 0.09 * side + 0.8 if colorbar else 0.0
        title_in = 0.4 * (title.count("\n") + 1) if title else 0.0
        _, ax = plt.subplots(figsize=(side + labels_in + bar_in + 0.2,
                                      side + labels_in + title_in + 0.2), layout="constrained")

    bound = float(np.max(np.abs(A))) or 1.0
    kw = dict(vmin=-bound, vmax=bound) if symmetric else {}
    image = ax.imshow(A, cmap=cmap, interpolation="nearest", **kw)
    ax.set_xticks(ticks, shown, rotation=90, fontsize=size)
    ax.set_yticks(ticks, shown, fontsize=size)
    if axis_label:
        ax.set_xlabel(axis_label)
        ax.set_ylabel(axis_label)
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

    check_is_fitted(estimator, "task_covariance_factors_")
    ax = plot_task_matrix(estimator.task_correlation_, estimator.tasks_, order=order, ax=ax,
                          cmap=cmap, title=title or "learned task correlation")
    ax.images[0].set_clim(-1.0, 1.0)
    return ax


def _scorer_name(search, key):
    """The metric a curve shows: the scorer's name in a multi-metric search,
    else the name of the single scorer (``neg_mean_squared_error`` ...)."""
    if search.multimetric_:
        return key
    scorer = search.scorer_
    name = getattr(scorer, "name", None) or getattr(scorer, "__name__", None)
    return str(name) if name else "score"


def plot_cv_curve(search, *, scoring=None, band="se", ax=None, log_scale=True, title=None):
    """Mean cross-validation score along the path, with its error band.

    One line per combination of the other parameters of
    :class:`mtlreg.model_selection.MultiTaskCV`'s ``param_grid``; the band
    is ``mean +- SE`` with ``SE = std(split scores, ddof=1) / sqrt(n_splits)``
    (``band="se"``, the width the one-standard-error rule uses) or
    ``mean +- std`` (``band="std"``, ``GridSearchCV``'s ``std_test_score``).
    The selected value is marked by a vertical line (a search with several
    scorers and ``refit=False`` selected none). The y label names the metric.

    Parameters
    ----------
    search : fitted MultiTaskCV
    scoring : str, default=None
        Which scorer's curve, for a search with several (default: the one
        that selected, else the first).
    band : {"se", "std", None}, default="se"
    ax : matplotlib Axes, default=None
        Axes to draw on; if None, a new figure with a constrained layout.
    log_scale : bool, default=True
        Logarithmic axis for the path parameter. A grid holding 0 gets a
        symmetric-log axis instead (``"symlog"``, linear up to the smallest
        positive value), so that 0, and a selection at 0, stay on the plot.
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
    import matplotlib as mpl

    if ax is None:  # a title wider than the plot (6 in less ~1.2 in of labels) widens it
        width = 6.0 if not title else max(6.0, 1.6 + _text_inches(
            [title], mpl.rcParams["axes.titlesize"], mpl.rcParams["axes.titleweight"]))
        _, ax = plt.subplots(figsize=(width, 4.0), layout="constrained")
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
        chosen = float(search.best_params_[param])
        ax.axvline(chosen, color="k", linestyle="--", linewidth=1,
                   label=f"selected ({search.selection}): {param}={chosen:.3g}")
    if log_scale:
        positive = values[values > 0]
        if positive.size == values.size:
            ax.set_xscale("log")
        elif positive.size:  # 0 in the grid: linear from 0 to the smallest positive value
            smallest = float(positive.min())
            ax.set_xscale("symlog", linthresh=smallest)
            # the default margins of a symlog axis show negative decades: pad [0, max]
            # by 5% of its width on the axis instead, 0 just inside the left edge
            scale = ax.xaxis.get_transform()
            lo, hi = scale.transform(np.array([[0.0], [values.max()]])).ravel()
            pad = 0.05 * (hi - lo)
            ax.set_xlim(*scale.inverted().transform(np.array([[lo - pad], [hi + pad]])).ravel())
    ax.set_xlabel(param)
    what = {"se": " ± SE", "std": " ± std", None: ""}[band]
    ax.set_ylabel(f"{_scorer_name(search, key)}\n(mean over {n_splits} test folds{what})")
    if title:
        ax.set_title(title)
    if ax.get_legend_handles_labels()[0]:  # nothing to list: no legend, no warning
        ax.legend(fontsize="small")
    return ax
