"""Array-namespace helpers: the only place that knows which array library runs.

All numerical code in mtlreg receives an array namespace ``xp`` (NumPy, CuPy,
array-api-strict, ...) found with :func:`get_namespace`, and creates every new
array on the device of its inputs.  Arrays move between libraries only at the
fit/predict boundary.
"""

import array_api_compat
import numpy as np

__all__ = ["get_namespace", "device", "is_numpy_namespace", "to_numpy", "as_float"]


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
