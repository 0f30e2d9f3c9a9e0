"""Array-namespace helpers: the only place that knows which array library runs.

All numerical code in mtlreg receives an array namespace ``xp`` (NumPy, CuPy,
array-api-strict, ...) found with :func:`get_namespace`, and creates every new
array on the device of its inputs.  Arrays move between libraries only at the
fit/predict boundary.
"""

import array_api_compat
import numpy as np

__all__ = ["get_namespace", "device", "is_numpy_namespace", "to_numpy", "as_float",
           "compute_device", "move_to"]


def get_namespace(*arrays):
    """Array namespace shared by ``arrays`` (array_api_compat wrapper)."""
    return array_api_compat.array_namespace(*arrays)


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
