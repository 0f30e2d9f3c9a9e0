"""Readability of the plots: every case is rendered to PNG (Agg), and after a
draw every text drawn (tick labels, axis labels, title, colour bar, legend)
must lie inside the figure, the ticks must carry the task labels in the
drawing order, and no warning may be raised.

The heatmaps are drawn from 1 to 500 tasks with permuted orders and short,
long and integer labels; ``plot_cv_curve`` with a grid holding 0 (0 selected),
several scorers with ``refit=False``, and one scorer.
"""

import re
import warnings

import numpy as np
import pytest

from mtlreg import ClusteredRegressor, DirtyRegressor, L21Regressor, RelationRegressor
from mtlreg.model_selection import MultiTaskCV, TaskStratifiedKFold

N_TASKS = [1, 2, 6, 50, 500]
# Each heatmap at each size, in a permuted order: plot_task_matrix with long labels
# (short strings and integers too on the small sizes), plot_task_clusters with
# short strings, plot_task_correlation with integers.
MATRIX_CASES = ([(T, "long") for T in N_TASKS]
                + [(T, kind) for T in (1, 2, 6) for kind in ("strings", "integers")])
DPI = 50  # of the PNGs: the checks are made at the figure's own 100 dpi


# -- helpers ------------------------------------------------------------------------------------

def _labels(kind, T, rng):
    """Task labels whose sorted order is not their positions' (shuffled)."""
    ids = rng.permutation(T) + 100
    if kind == "integers":
        return ids
    if kind == "strings":
        return np.array([f"s{i}" for i in ids])
    return np.array([f"school {i} of the north district" for i in ids])


def _symmetric(T, rng):
    A = rng.uniform(-1.0, 1.0, (T, T))
    return (A + A.T) / 2


def _draw(fig, monkeypatch):
    """``fig.canvas.draw()``; the texts it drew, with something written."""
    from matplotlib.text import Text

    drawn = []
    original = Text.draw

    def recording(self, renderer):
        original(self, renderer)
        if self.get_visible() and self.get_text():
            drawn.append(self)

    with monkeypatch.context() as m:
        m.setattr(Text, "draw", recording)
        fig.canvas.draw()
    return drawn


def _assert_readable(fig, monkeypatch, path):
    """Drawn texts inside the figure (within a pixel); the PNG written at the
    figure's own size (no ``bbox_inches="tight"`` to hide an overflow)."""
    texts = _draw(fig, monkeypatch)
    box = fig.bbox
    outside = []
    for text in texts:
        e = text.get_window_extent()
        if (e.x0 < box.x0 - 1 or e.y0 < box.y0 - 1 or e.x1 > box.x1 + 1
                or e.y1 > box.y1 + 1):
            outside.append((text.get_text(), tuple(np.round(e.extents, 1))))
    assert not outside, f"texts outside the {box.width:.0f} x {box.height:.0f} figure: {outside}"
    fig.savefig(path, dpi=DPI)
    import matplotlib.image as mpimg

    height, width = mpimg.imread(path).shape[:2]
    expected = fig.get_size_inches() * DPI
    assert abs(width - expected[0]) <= 1 and abs(height - expected[1]) <= 1
    return texts


def _assert_task_ticks(ax, expected, texts, all_fit=None):
    """Both axes label tasks ``expected`` (drawing order): every ``step``-th
    one from the first, all of them when they fit (``all_fit``: on a new
    figure, up to 50 tasks); labels at least 7 points and not overlapping."""
    T = len(expected)
    for axis, ticklabels in ((0, ax.get_xticklabels()), (1, ax.get_yticklabels())):
        positions = (ax.get_xticks() if axis == 0 else ax.get_yticks())
        step = int(positions[1] - positions[0]) if len(positions) > 1 else 1
        np.testing.assert_array_equal(positions, np.arange(0, T, step))
        assert [t.get_text() for t in ticklabels] == [str(v) for v in expected[::step]]
        shown = [t for t in ticklabels if t in texts]
        assert len(shown) == len(ticklabels)  # every label is drawn
        assert min(t.get_fontsize() for t in shown) >= 7
        extents = sorted((t.get_window_extent() for t in shown),
                         key=lambda e: (e.x0 if axis == 0 else e.y0))
        for a, b in zip(extents, extents[1:]):  # side by side, not on top of each other
            assert (b.x0 >= a.x1 - 0.5) if axis == 0 else (b.y0 >= a.y1 - 0.5)
        if all_fit is None:  # a new figure
            all_fit = T <= 50
            assert step == 1 or 20 <= len(ticklabels) <= 80
        assert (step == 1) == all_fit
        if step > 1:  # the axis label says so: "500 tasks, every 10th labelled"
            assert re.fullmatch(f"{T} tasks, every {step}(st|nd|rd|th) labelled", ax.get_xlabel())
            assert ax.get_ylabel() == ax.get_xlabel()


def _no_warnings(call):
    """``call()``, asserting that it raised no warning of any kind."""
    with warnings.catch_warnings(record=True) as log:
        warnings.simplefilter("always")
        result = call()
    assert [str(w.message) for w in log] == []
    return result


# -- heatmaps -----------------------------------------------------------------------------------

@pytest.mark.parametrize("T, kind", MATRIX_CASES)
def test_plot_task_matrix_is_readable(plt, monkeypatch, tmp_path, T, kind):
    from mtlreg.plotting import plot_task_matrix

    rng = np.random.default_rng(T)
    labels = _labels(kind, T, rng)
    order = rng.permutation(T)
    A = _symmetric(T, rng)
    ax = None

    def draw_and_render():
        nonlocal ax
        ax = plot_task_matrix(A, labels, order=order, title="task matrix, permuted order",
                              boundaries=[T // 2] if T > 1 else None)
        return _assert_readable(ax.figure, monkeypatch, tmp_path / f"matrix_{T}_{kind}.png")

    texts = _no_warnings(draw_and_render)
    np.testing.assert_array_equal(np.asarray(ax.images[0].get_array()), A[np.ix_(order, order)])
    _assert_task_ticks(ax, labels[order], texts)
    assert ax.get_title() in [t.get_text() for t in texts]
    assert len(ax.figure.axes) == 2  # the colour bar, its labels drawn
    assert set(ax.figure.axes[1].get_yticklabels()) & set(texts)


@pytest.mark.parametrize("T", N_TASKS)
def test_plot_task_clusters_is_readable(plt, monkeypatch, tmp_path, T):
    from mtlreg.plotting import plot_task_clusters

    rng = np.random.default_rng(10 + T)
    est = ClusteredRegressor()  # the fitted attributes the plot reads
    est.tasks_ = np.sort(_labels("strings", T, rng))
    est.clusters_ = rng.integers(0, min(T, 3), T)
    lam, V = np.linalg.eigh(_symmetric(T, rng))
    est.cluster_factors_ = (V, lam, 0.0)  # cluster_matrix_ is built from them
    order = np.argsort(est.clusters_, kind="stable")
    ax = None

    def draw_and_render():
        nonlocal ax
        ax = plot_task_clusters(est)
        return _assert_readable(ax.figure, monkeypatch, tmp_path / f"clusters_{T}.png")

    texts = _no_warnings(draw_and_render)
    if T > 2:
        assert not np.array_equal(order, np.arange(T))
    _assert_task_ticks(ax, est.tasks_[order], texts)
    assert ax.get_title() == "task similarity M (ordered by cluster)"


@pytest.mark.parametrize("T", N_TASKS)
def test_plot_task_correlation_is_readable(plt, monkeypatch, tmp_path, T):
    from mtlreg.plotting import plot_task_correlation

    rng = np.random.default_rng(20 + T)
    est = RelationRegressor()  # the fitted attributes the plot reads
    est.tasks_ = np.sort(_labels("integers", T, rng))
    C = _symmetric(T, rng)
    np.fill_diagonal(C, 1.0)
    lam, V = np.linalg.eigh(C)  # a covariance with unit diagonal: its correlation is C
    est.task_covariance_factors_ = (V, lam, 0.0)
    order = rng.permutation(T)
    ax = None

    def draw_and_render():
        nonlocal ax
        ax = plot_task_correlation(est, order=order)
        return _assert_readable(ax.figure, monkeypatch, tmp_path / f"correlation_{T}.png")

    texts = _no_warnings(draw_and_render)
    _assert_task_ticks(ax, est.tasks_[order], texts)
    assert ax.images[0].get_clim() == (-1.0, 1.0)


def test_ticks_are_labels_not_positions_at_500_tasks(plt):
    """The first report: 500 integer tasks in a permuted order were ticked
    0, 100, 200 ... (positions that read as task numbers)."""
    from mtlreg.plotting import plot_task_matrix

    rng = np.random.default_rng(5)
    order = rng.permutation(500)
    ax = plot_task_matrix(_symmetric(500, rng), order=order)
    ticks = ax.get_xticks().astype(int)
    assert [t.get_text() for t in ax.get_xticklabels()] == [str(v) for v in order[ticks]]
    assert [t.get_text() for t in ax.get_xticklabels()] != [str(v) for v in ticks]


def test_given_axes_keep_their_figure_and_label_what_fits(plt, monkeypatch, tmp_path):
    """On the caller's Axes the figure keeps its size; the number of labels
    follows the room the Axes has (139 tasks on a third of a 12 x 4.5 figure)."""
    from mtlreg.plotting import plot_task_matrix

    rng = np.random.default_rng(7)
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.5), layout="constrained")
    labels = _labels("strings", 139, rng)
    order = rng.permutation(139)
    ax = _no_warnings(lambda: plot_task_matrix(_symmetric(139, rng), labels, order=order,
                                               ax=axes[1], title="139 tasks"))
    assert ax is axes[1]
    np.testing.assert_allclose(fig.get_size_inches(), (12, 4.5))
    texts = _assert_readable(fig, monkeypatch, tmp_path / "given_axes.png")
    _assert_task_ticks(ax, labels[order], texts, all_fit=False)
    assert len(ax.get_xticklabels()) >= 10


# -- cross-validation curves --------------------------------------------------------------------

def _dense_problem():
    """Every feature relevant, little noise: least squares (alpha = 0) wins."""
    rng = np.random.default_rng(0)
    T, n, d = 3, 30, 4
    index = np.repeat(np.arange(T), n)
    X = rng.standard_normal((T * n, d))
    W = rng.standard_normal((T, d))
    y = np.sum(X * W[index], axis=1) + 0.01 * rng.standard_normal(T * n)
    return X, y, np.array(["north", "south", "east"])[index]


def _cv3():
    return TaskStratifiedKFold(3, shuffle=True, random_state=0)


@pytest.fixture(scope="module")
def searches():
    X, y, tasks = _dense_problem()
    fit = dict(X=X, y=y, tasks=tasks)
    return {
        "zero": MultiTaskCV(L21Regressor(tol=1e-8), alphas=[1.0, 0.1, 0.01, 0.0],
                            cv=_cv3()).fit(**fit),
        "several, refit=False": MultiTaskCV(
            L21Regressor(tol=1e-8), alphas=[1.0, 0.1, 0.01], cv=_cv3(),
            scoring=["r2", "neg_mean_squared_error"], refit=False).fit(**fit),
        "several, refit=False, grid": MultiTaskCV(
            DirtyRegressor(tol=1e-6), {"beta": [0.5, 0.05]}, alphas=[1.0, 0.1, 0.0],
            cv=_cv3(), scoring=["r2", "neg_mean_squared_error"], refit=False).fit(**fit),
        "one scorer": MultiTaskCV(L21Regressor(tol=1e-8), alphas=[1.0, 0.1, 0.01], cv=_cv3(),
                                  scoring="r2").fit(**fit),
    }


def _render_cv(search, monkeypatch, path, **kwargs):
    from mtlreg.plotting import plot_cv_curve

    ax = None

    def draw_and_render():
        nonlocal ax
        ax = plot_cv_curve(search, title="cross-validation curve", **kwargs)
        return _assert_readable(ax.figure, monkeypatch, path)

    texts = _no_warnings(draw_and_render)
    assert ax.get_xlabel() in [t.get_text() for t in texts]
    assert ax.get_ylabel() in [t.get_text() for t in texts]
    return ax, texts


def test_plot_cv_curve_keeps_a_selection_at_zero(plt, monkeypatch, tmp_path, searches):
    search = searches["zero"]
    assert search.best_params_["alpha"] == 0.0
    ax, texts = _render_cv(search, monkeypatch, tmp_path / "cv_zero.png")
    assert ax.get_xscale() == "symlog"
    left, right = ax.get_xlim()
    assert -0.01 < left < 0.0 and right > 1.0  # 0 and the whole grid inside, no negative decade
    selected = ax.get_lines()[-1]
    np.testing.assert_array_equal(selected.get_xdata(), [0.0, 0.0])
    x_pixel = ax.transData.transform((0.0, 0.0))[0]
    assert ax.bbox.x0 + 2 < x_pixel < ax.bbox.x1  # drawn inside the axes, off the spine
    assert "neg_mean_squared_error" in ax.get_ylabel()  # the default scorer, named
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["selected (min): alpha=0"]
    line = ax.get_lines()[0]  # every grid value on the curve, 0 included
    np.testing.assert_array_equal(line.get_xdata(), [0.0, 0.01, 0.1, 1.0])


def test_plot_cv_curve_several_scorers_without_refit(plt, monkeypatch, tmp_path, searches):
    search = searches["several, refit=False"]
    assert not hasattr(search, "best_params_")
    for scoring in (None, "neg_mean_squared_error"):
        ax, _ = _render_cv(search, monkeypatch, tmp_path / f"cv_several_{scoring}.png",
                           scoring=scoring)
        assert ax.get_legend() is None  # nothing to list: no legend, no warning
        assert ax.get_ylabel().startswith(f"{scoring or 'r2'}\n")
        assert ax.get_xscale() == "log"
        plt.close(ax.figure)
    search = searches["several, refit=False, grid"]
    ax, texts = _render_cv(search, monkeypatch, tmp_path / "cv_several_grid.png")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["beta=0.5", "beta=0.05"]
    assert ax.get_xscale() == "symlog" and ax.get_ylabel().startswith("r2")


@pytest.mark.parametrize("band", ["se", "std", None])
def test_plot_cv_curve_one_scorer(plt, monkeypatch, tmp_path, searches, band):
    search = searches["one scorer"]
    ax, _ = _render_cv(search, monkeypatch, tmp_path / f"cv_one_{band}.png", band=band)
    assert ax.get_xscale() == "log"
    assert ax.get_ylabel() == "r2\n(mean over 3 test folds" + {
        "se": " ± SE", "std": " ± std", None: ""}[band] + ")"
    alpha = search.best_params_["alpha"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        f"selected (min): alpha={alpha:.3g}"]
