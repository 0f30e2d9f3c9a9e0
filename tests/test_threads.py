"""Small dense linear algebra runs on one BLAS thread (no oversubscription).

The speed effect is measured in ``benchmarks/bench_threads.py``; these tests
check the mechanism: which calls run under the bound, that the bound is
lifted afterwards, and that other array libraries are left alone.
"""

from contextlib import nullcontext

import numpy as np
import pytest
from threadpoolctl import ThreadpoolController

import mtlreg
import mtlreg.problem
from mtlreg import _backend
from mtlreg._backend import SMALL_SIDE, SMALL_WORK, input_namespace, one_blas_thread, small_linalg

from certificates import assert_same_optimum


def blas_threads():
    """The BLAS libraries' thread counts right now (empty without a BLAS threadpoolctl sees)."""
    return [p["num_threads"] for p in ThreadpoolController().info() if p["user_api"] == "blas"]


@pytest.fixture
def default_threads():
    counts = blas_threads()
    if not counts:
        pytest.skip("threadpoolctl finds no BLAS library to bound in this environment")
    if max(counts) == 1:
        pytest.skip("BLAS already runs on one thread here: bounded and unbounded look alike")
    return counts


def test_one_blas_thread_bounds_and_restores(default_threads):
    xp = input_namespace(np.empty(0))
    with one_blas_thread(xp):
        assert blas_threads() == [1] * len(default_threads)
    assert blas_threads() == default_threads
    with one_blas_thread(xp, when=False):
        assert blas_threads() == default_threads


def test_one_blas_thread_leaves_other_libraries_alone(default_threads):
    array_api_strict = pytest.importorskip("array_api_strict")
    with one_blas_thread(array_api_strict):
        assert blas_threads() == default_threads


@pytest.mark.parametrize("side, bounded", [(SMALL_SIDE, True), (SMALL_SIDE + 1, False)])
def test_small_linalg_bounds_by_the_smaller_side(monkeypatch, default_threads, side, bounded):
    seen = []
    real = np.linalg.svd

    def spy(a, **kwargs):
        seen.append(blas_threads())
        return real(a, **kwargs)

    xp = input_namespace(np.empty(0))
    monkeypatch.setattr(xp.linalg, "svd", spy)
    a = np.ones((side + 7, side))  # the larger side does not count
    U, s, Vt = small_linalg(xp, "svd", a, full_matrices=False)
    assert seen == [[1] * len(default_threads) if bounded else default_threads]
    np.testing.assert_allclose(s[0], np.sqrt(a.size), rtol=1e-12)  # rank one: ||a||_F
    assert blas_threads() == default_threads


def _spy_solver(monkeypatch):
    seen = []
    real = mtlreg.problem._choose_solver

    def choose(objective, datafit, penalty):
        solver = real(objective, datafit, penalty)

        def spied(*args, **kwargs):
            seen.append(blas_threads())
            return solver(*args, **kwargs)
        return spied

    monkeypatch.setattr(mtlreg.problem, "_choose_solver", choose)
    return seen


@pytest.mark.parametrize("n_samples, bounded", [(200, True), (SMALL_WORK // 4 + 1, False)])
def test_solve_of_a_small_problem_runs_on_one_thread(monkeypatch, default_threads, n_samples,
                                                     bounded):
    # logistic loss: the data path, where an iteration reads X (n_samples x 4)
    seen = _spy_solver(monkeypatch)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n_samples, 4))
    Y = (X[:, :2] + rng.standard_normal((n_samples, 2)) > 0).astype(int)
    est = mtlreg.L21Classifier(alpha=0.01, tol=1e-4).fit(X, Y)
    assert est.converged_
    assert seen == [[1] * len(default_threads) if bounded else default_threads]
    assert blas_threads() == default_threads


def test_bounds_do_not_change_the_model(default_threads, monkeypatch):
    """The bound changes the thread count, not the optimum: the same fit with the
    bounds switched off certifies the same one (each objective within its gap)."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((60, 5))
    y = X @ rng.standard_normal(5) + rng.standard_normal(60)
    tasks = np.repeat([0, 1, 2], 20)
    fit = mtlreg.TraceRegressor(alpha=0.05, tol=1e-9).fit(X, y, tasks=tasks)
    monkeypatch.setattr(_backend, "one_blas_thread", lambda xp, when=True: nullcontext())
    monkeypatch.setattr(mtlreg.problem, "one_blas_thread", lambda xp, when=True: nullcontext())
    free = mtlreg.TraceRegressor(alpha=0.05, tol=1e-9).fit(X, y, tasks=tasks)
    assert fit.converged_ and free.converged_
    assert_same_optimum(fit.objective_, fit.dual_gap_, free.objective_, free.dual_gap_)


def test_interleaved_fits_in_threads_restore_the_thread_count(default_threads):
    """Two bounded sections that enter and leave out of order (fits in two Python
    threads) must leave the libraries' counts as they were: with one limiter per
    section, the second would restore the first's limit of 1 for good.  (What a
    thread sees inside depends on the library: an OpenMP-threaded BLAS keeps its
    count per thread, so only the end state is checked.)"""
    import threading

    xp = input_namespace(np.empty(0))
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    inside = []

    def first():
        with one_blas_thread(xp):
            first_in.set()
            second_in.wait(5)
        first_out.set()

    def second():
        first_in.wait(5)
        with one_blas_thread(xp):
            second_in.set()
            first_out.wait(5)  # the first section has left; this one is still open
            inside.append(True)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert inside == [True]
    assert blas_threads() == default_threads
