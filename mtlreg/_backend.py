"""Array-namespace helpers: the only place that knows which array library runs.

All numerical code in mtlreg receives an array namespace ``xp`` (NumPy, CuPy,
array-api-strict, ...) found with :func:`get_namespace`, and creates every new
array on the device of its inputs.  Arrays move between libraries only at the
fit/predict boundary.
"""

import contextlib
import functools
import threading

import array_api_compat
import numpy as np

__all__ = ["get_namespace", "input_namespace", "device", "is_numpy_namespace", "to_numpy", "as_float",
           "compute_device", "move_to", "check_same_namespace", "one_blas_thread", "small_linalg",
           "SMALL_SIDE", "SMALL_WORK"]

# Small dense linear algebra runs on one BLAS thread.  A threaded LAPACK
# decomposition synchronizes its threads at every panel; when another process
# holds a core, each synchronization waits for a time slice.  Measured on the
# 2-core development machine with one busy-looping process beside it
# (``benchmarks/bench_threads.py``): a 27 x 27 ``eigh`` took 16 ms on 2
# OpenBLAS threads and 0.18 ms on one.
SMALL_SIDE = 512        # decompositions of matrices up to this side: one thread
SMALL_WORK = 1 << 18    # solves touching up to this many numbers per iteration: one thread


@functools.lru_cache(maxsize=1)
def _blas_controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


class _OneThread:
    """The BLAS limit is process-wide: fits running in several Python threads share
    it.  The first to enter sets it, the last to leave restores the libraries'
    own counts (a reference count under a lock), so that interleaved fits cannot
    leave the process on one thread.  While any small solve runs, a large one in
    another thread also runs on one BLAS thread."""

    _lock = threading.Lock()
    _depth = 0
    _limit = None

    def __enter__(self):
        with _OneThread._lock:
            if _OneThread._depth == 0:
                _OneThread._limit = _blas_controller().limit(limits=1, user_api="blas")
            _OneThread._depth += 1
        return self

    def __exit__(self, *exc):
        with _OneThread._lock:
            _OneThread._depth -= 1
            if _OneThread._depth == 0:
                _OneThread._limit.restore_original_limits()
                _OneThread._limit = None
        return False


def one_blas_thread(xp, when=True):
    """Context manager: one BLAS thread while it is open, when ``xp`` is NumPy's
    and ``when`` holds; otherwise nothing.  Other array libraries (CuPy) manage
    their own parallelism."""
    if not when or not is_numpy_namespace(xp):
        return contextlib.nullcontext()
    return _OneThread()


def small_linalg(xp, name, a, **kwargs):
    """``xp.linalg.<name>(a, **kwargs)``, on one BLAS thread when the matrices
    of ``a`` (its last two axes) have a side of at most :data:`SMALL_SIDE` (the
    smaller side: a thin SVD's work is linear in the larger one)."""
    side = min(a.shape[-2:]) if a.ndim >= 2 else 0
    with one_blas_thread(xp, side <= SMALL_SIDE):
        return getattr(xp.linalg, name)(a, **kwargs)


def get_namespace(*arrays):
    """Array namespace shared by ``arrays`` (array_api_compat wrapper)."""
    return array_api_compat.array_namespace(*arrays)


def input_namespace(X):
    """The namespace scikit-learn validates ``X`` into.

    Under ``sklearn.config_context(array_api_dispatch=True)``: the array's
    own (CuPy, torch, array-api-strict, ...); otherwise, and for lists,
    pandas objects and other array-likes, NumPy's (through array_api_compat,
    so that the 2023.12 standard's functions exist with NumPy 1.x too).
    """
    import sklearn

    if sklearn.get_config()["array_api_dispatch"]:
        try:
            return get_namespace(X)
        except TypeError:
            pass
    return array_api_compat.array_namespace(np.empty(0))


def device(x):
    """Device on which ``x`` lives (``"cpu"`` for NumPy)."""
    return array_api_compat.device(x)


def is_numpy_namespace(xp):
    """NumPy itself, or an array_api_compat wrapper of it (scikit-learn vendors one)."""
    name = getattr(xp, "__name__", "")
    return name == "numpy" or name.endswith("array_api_compat.numpy")


def to_numpy(x):
    """Copy an array of any supported library to a NumPy array on the host."""
    if isinstance(x, np.ndarray):
        return x
    if array_api_compat.is_cupy_array(x):
        return x.get()
    xp = get_namespace(x)
    if hasattr(xp, "__name__") and "array_api_strict" in xp.__name__:
        # array-api-strict only exports through DLPack on its CPU device.
        cpu = xp.__array_namespace_info__().default_device()
        x = x.to_device(cpu)
    return np.asarray(np.from_dlpack(x))


def as_float(x):
    """Host-side Python float of a 0-d array (a device sync on GPUs)."""
    return float(x)


def compute_device(name):
    """``(xp, device)`` where an estimator's ``device=name`` computes.

    ``"cuda"`` / ``"cuda:N"``: CuPy's namespace and that GPU; an error that
    says what is missing when CuPy or a CUDA device is not there.
    """
    import re

    match = re.fullmatch(r"cuda(?::(\d+))?", name)
    if match is None:
        raise ValueError(f"device must be None, 'cpu', 'cuda' or 'cuda:N', got {name!r}.")
    index = int(match.group(1) or 0)
    try:
        import cupy
    except ImportError:
        raise ImportError(
            f"device={name!r} needs CuPy and a CUDA GPU, and CuPy is not installed: "
            "pip install cupy-cuda12x (or mtlreg[gpu]), or leave device=None to compute "
            "with NumPy."
        ) from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDA driver missing or broken
        raise RuntimeError(f"device={name!r}: CuPy found no usable CUDA driver ({exc}).") \
            from None
    if index >= count:
        raise RuntimeError(f"device={name!r}: CuPy sees {count} CUDA device(s).")
    return array_api_compat.array_namespace(cupy.empty(0)), cupy.cuda.Device(index)


def move_to(xp, dev, x):
    """Copy the host array ``x`` to ``dev`` in namespace ``xp``."""
    if array_api_compat.is_cupy_namespace(xp):
        with dev:
            return xp.asarray(x)
    return xp.asarray(x, device=dev)


def check_same_namespace(X, estimator, *, attribute, method):
    """Raise if ``X`` is not in the namespace and on the device of a fitted attribute.

    Under ``sklearn.config_context(array_api_dispatch=True)`` an estimator
    fitted on, say, CuPy arrays predicts only on CuPy arrays on the same
    device.  NumPy arrays, lists and other array-likes count as one
    namespace.  (scikit-learn has its own version of this check only from
    1.9, and privately: this one works on every supported release.)
    """
    import sklearn

    if not sklearn.get_config()["array_api_dispatch"]:
        return
    fitted = getattr(estimator, attribute)
    fit_xp = get_namespace(fitted)
    try:
        X_xp = get_namespace(X)
    except TypeError:  # a list or another array-like: NumPy's side
        X_xp, X_device = None, None
    else:
        X_device = device(X)
    if is_numpy_namespace(fit_xp) and (X_xp is None or is_numpy_namespace(X_xp)):
        return
    if X_xp is fit_xp and X_device == device(fitted):
        return
    if X_xp is None:
        detail = (f"Array namespace used during fit ({fit_xp.__name__}) is not compatible "
                  f"with the array-like input passed to {method}.")
    elif X_xp is not fit_xp:
        detail = (f"Array namespaces used during fit ({fit_xp.__name__}) and {method} "
                  f"({X_xp.__name__}) differ.")
    else:
        detail = f"Devices used during fit ({device(fitted)}) and {method} ({X_device}) differ."
    raise ValueError(
        f"Inputs passed to {type(estimator).__name__}.{method}() must use the same "
        f"namespace and the same device as those passed to fit(). {detail} Convert X, "
        f"or refit the estimator on arrays of the namespace and device you predict on."
    )
