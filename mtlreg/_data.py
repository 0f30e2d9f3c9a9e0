"""Task data model: validated, task-sorted samples in a batched layout.

Two layouts reach the solvers:

* **chunked** (long format, ``fit(X, y, tasks=...)``): the samples of each
  task are cut into chunks of one common length ``m`` and stored as the rows
  of ``X``, an array of shape ``(n_rows, m, n_features)``; the last chunk of a
  task is zero-padded and the padding carries zero weight.  Per-task products
  are batched matrix products over the rows, and per-task sums add the rows of
  a task with one gather, so no Python loop runs over the tasks in an
  iteration; large tasks get per-task loops where they are cheaper (the Gram
  matrices, sums over a task's row slice, zeroing padded rows, and
  :func:`build_gram_task_data`, which keeps the Gram form alone).  ``m`` is
  chosen to minimize padding plus gather cost: with tasks of equal size every
  task is one row; with very unequal sizes (one task of 5,000 samples, 199 of
  5) the memory stays near ``n_samples * n_features`` instead of
  ``n_tasks * max_t n_t * n_features``.
* **shared** (shared design, ``fit(X, Y)`` with a 2-D ``Y``): one ``X`` of
  shape ``(n_samples, n_features)`` serves every task; ``X @ W`` is one matrix
  product, and each task is one row of the ``(n_tasks, n_samples)`` arrays.

In both layouts the linear predictor, the targets and the loss weights are
``(n_rows, m)`` arrays; ``weight[r, i]`` is ``c_t`` of the row's task
(``1 / n_t`` for ``loss_scaling="mean"``, ``1`` for ``"sum"``) on real
samples and ``0`` on padding.  ``expand`` maps a per-task vector to the rows,
``task_sum`` adds the rows of each task.
"""

import copy
import math

import numpy as np

from ._backend import device, is_numpy_namespace

__all__ = ["TaskData", "build_task_data", "build_gram_task_data", "build_shared_gram_data",
           "encode_tasks", "stack_tasks"]

# A task's sum loops over its rows' slice (one call, about 5 us) instead of the
# padded gather (about 5 ns a number) when the gather would move this many numbers
# per task (measured on one BLAS thread, see TaskData.task_slices)
SUM_LOOP_SIZE = 2048

# Padding cells are zeroed row by row (one call, about 5 us) instead of by a pass
# over all of X (about 1 ns a number) when X holds this many numbers per padded row
ZERO_ROWS_SIZE = 5000

# Long-format squared-loss fits on the Gram path compute the Gram form task by task
# from X itself (build_gram_task_data) when the mean task holds this many numbers
DIRECT_GRAM_SIZE = 16384


def stack_tasks(X_list, y_list):
    """Stack per-task arrays into the long format ``(X, y, tasks)``.

    The MALSAR / RMTL convention holds one design matrix and one target vector
    per task; mtlreg's estimators take the long format, where a label per
    sample says which task it belongs to.

    Parameters
    ----------
    X_list : sequence of array-like of shape (n_t, n_features)
        Design matrix of each task.
    y_list : sequence of array-like of shape (n_t,)
        Targets of each task.

    Returns
    -------
    X : ndarray of shape (sum_t n_t, n_features)
    y : ndarray of shape (sum_t n_t,)
    tasks : ndarray of shape (sum_t n_t,)
        Task label of each row: the position ``t`` of the task in the lists.

    Examples
    --------
    >>> import numpy as np
    >>> from mtlreg import stack_tasks
    >>> X, y, tasks = stack_tasks([np.ones((2, 3)), np.zeros((1, 3))], [[1, 2], [3]])
    >>> X.shape, tasks.tolist()
    ((3, 3), [0, 0, 1])
    """
    if len(X_list) != len(y_list):
        raise ValueError(
            f"stack_tasks needs one y per X: got {len(X_list)} design matrices "
            f"and {len(y_list)} target vectors."
        )
    if len(X_list) == 0:
        raise ValueError("stack_tasks needs at least one task; got empty lists.")
    Xs, ys, labels = [], [], []
    n_features = None
    for t, (Xt, yt) in enumerate(zip(X_list, y_list)):
        Xt = np.asarray(Xt)
        yt = np.asarray(yt)
        if Xt.ndim != 2:
            raise ValueError(f"task {t}: X must be 2-D, got shape {Xt.shape}.")
        if yt.ndim != 1:
            yt = yt.reshape(-1) if yt.ndim == 2 and 1 in yt.shape else yt
        if yt.ndim != 1:
            raise ValueError(f"task {t}: y must be 1-D, got shape {yt.shape}.")
        if Xt.shape[0] != yt.shape[0]:
            raise ValueError(
                f"task {t}: X has {Xt.shape[0]} samples but y has {yt.shape[0]}."
            )
        if Xt.shape[0] == 0:
            raise ValueError(f"task {t} has no samples.")
        if n_features is None:
            n_features = Xt.shape[1]
        elif Xt.shape[1] != n_features:
            raise ValueError(
                f"task {t}: X has {Xt.shape[1]} features, task 0 has {n_features}."
            )
        Xs.append(Xt)
        ys.append(yt)
        labels.append(np.full(Xt.shape[0], t))
    return np.concatenate(Xs), np.concatenate(ys), np.concatenate(labels)


def encode_tasks(tasks, n_samples):
    """Check task labels and map them to indices into their sorted unique values.

    Returns
    -------
    labels : ndarray of shape (n_tasks,)
        Sorted unique labels.
    index : ndarray of int64, shape (n_samples,)
        ``labels[index] == tasks``.
    """
    tasks = _checked_labels(tasks, n_samples)
    try:
        labels, index = np.unique(tasks, return_inverse=True)
    except TypeError as exc:
        raise ValueError(
            "task labels must be mutually comparable so that they can be sorted "
            f"(for example all str or all int): {exc}"
        ) from exc
    return labels, index.reshape(-1).astype(np.int64)


def lookup_tasks(tasks, labels, n_samples):
    """Indices of ``tasks`` in the fitted, sorted ``labels``; unknown labels raise."""
    tasks = _checked_labels(tasks, n_samples)
    try:
        index = np.searchsorted(labels, tasks)
    except TypeError as exc:
        raise ValueError(
            f"task labels of type {tasks.dtype} cannot be compared with the "
            f"labels seen in fit ({labels.dtype}): {exc}"
        ) from exc
    index = np.minimum(index, labels.shape[0] - 1)
    unknown = labels[index] != tasks
    if np.any(unknown):
        missing = list(dict.fromkeys(tasks[unknown].tolist()))
        shown = ", ".join(repr(v) for v in missing[:10])
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        raise ValueError(
            f"task label(s) {shown}{more} were not seen in fit; the model knows "
            f"{labels.shape[0]} task(s)."
        )
    return index.astype(np.int64)


def _checked_labels(tasks, n_samples):
    """Task labels as a 1-D NumPy array, one per sample, none missing."""
    tasks = _labels_to_numpy(tasks)
    if tasks.shape[0] != n_samples:
        raise ValueError(
            f"tasks has {tasks.shape[0]} labels but X has {n_samples} samples: "
            "give one label per sample (the task it belongs to)."
        )
    _check_no_missing_labels(tasks)
    return tasks


def _label_kind(v):
    if isinstance(v, (bool, int, float, np.number, np.bool_)):
        return "number"
    return type(v).__name__


def _labels_to_numpy(tasks):
    if isinstance(tasks, (list, tuple)) or (isinstance(tasks, np.ndarray) and tasks.dtype == object):
        kinds = {_label_kind(v) for v in tasks if v is not None and not _is_missing(v)}
        if len(kinds) > 1:
            # np.asarray would turn 1 and "1" into the same string label
            raise ValueError(
                f"task labels mix types ({', '.join(sorted(kinds))}); use labels of one "
                "type so that distinct tasks stay distinct."
            )
    if isinstance(tasks, (list, tuple)) and any(isinstance(v, tuple) for v in tasks):
        # tuple labels: one object per sample, not a 2-D array
        labels = np.empty(len(tasks), dtype=object)
        labels[:] = list(tasks)
        return labels
    if hasattr(tasks, "to_numpy"):  # pandas Series / Index
        tasks = tasks.to_numpy()
    elif not isinstance(tasks, np.ndarray):
        try:
            from ._backend import to_numpy

            tasks = to_numpy(tasks)
        except TypeError:
            tasks = np.asarray(tasks)
    tasks = np.asarray(tasks)
    if tasks.ndim == 2 and tasks.shape[1] == 1:
        tasks = tasks[:, 0]
    if tasks.ndim != 1:
        raise ValueError(f"tasks must be 1-D (one label per sample), got shape {tasks.shape}.")
    return tasks


def _check_no_missing_labels(tasks):
    if tasks.dtype.kind == "f" and np.isnan(tasks).any():
        raise ValueError("tasks contains NaN; every sample needs a task label.")
    if tasks.dtype.kind in "mM" and np.isnat(tasks).any():
        raise ValueError("tasks contains NaT; every sample needs a task label.")
    if tasks.dtype.kind == "O":
        for v in tasks:
            if v is None or _is_missing(v):
                raise ValueError("tasks contains a missing label (None, NaN or NaT); "
                                 "every sample needs a task label.")


def _is_missing(v):
    """NaN-like scalars (float NaN, NaT of NumPy or pandas) are not equal to themselves."""
    try:
        return bool(v != v)
    except (TypeError, ValueError):  # an object without a scalar comparison
        return False


class TaskData:
    """Multi-task data in the batched layout the solvers work on.

    Attributes
    ----------
    xp : namespace
    shared : bool
        True for a shared design (one ``X`` for all tasks).
    X : array
        ``(n_rows, m, n_features)`` (chunked) or ``(m, n_features)`` (shared);
        ``None`` when only the Gram matrices are kept.
    Y : array of shape (n_rows, m), or None
        Targets (centred per task when the intercept is eliminated), 0 on padding;
        None for the Gram form alone (:meth:`from_moments`).
    weight : array of shape (n_rows, m), or None
        Loss weight ``c_t`` of each sample, 0 on padding (None as ``Y``).
    task_weight : array of shape (n_tasks,)
        ``c_t``.
    n_samples_task : ndarray of shape (n_tasks,)
        ``n_t`` (host-side NumPy).
    row_task, task_rows : int arrays or None
        Task of each row, and the rows of each task (padded with ``n_rows``);
        ``None`` when row ``t`` is task ``t``.
    padded_rows : host int ndarray or None
        The rows that hold padding cells (None: no padding).
    task_slices : host int ndarray of shape (n_tasks, 2) or None
        First and past-the-last row of each task (a task's rows are
        consecutive).  The Gram matrices loop over these slices (one product
        per task on a view of its rows) unless the tasks are small: one
        product per row and a gather of ``n_rows`` ``d x d`` results cost
        1.5-8x more time, and ``n_rows / n_tasks`` times the memory, once
        ``d >= 32`` or a task spans two rows or more on average (measured on
        one BLAS thread).  The products of an iteration (``linear``,
        ``rlinear``) and the centring stay batched: per-task loops of them
        were slower.  With NumPy, :meth:`task_sum` adds a task's consecutive
        rows with one call when the padded gather would move at least
        ``SUM_LOOP_SIZE`` numbers per task.
    X_offset, y_offset : arrays or None
        Per-task means removed by centring, to recover the intercepts.
    gram, Xty, yty : arrays or None
        ``X_t^T X_t`` (``(n_tasks, d, d)``, or ``(d, d)`` when shared),
        ``X_t^T y_t`` and ``y_t^T y_t`` when the Gram path is used.
    """

    def __init__(self, xp, X, Y, weight, task_weight, n_samples_task, shared,
                 row_task=None, task_rows=None, task_slices=None):
        self.xp = xp
        self.X = X
        self.Y = Y
        self.weight = weight
        self.task_weight = task_weight
        self.n_samples_task = n_samples_task
        self.shared = shared
        self.row_task = row_task
        self.task_rows = task_rows
        self.task_slices = task_slices
        self.padded_rows = None
        self.n_tasks = n_samples_task.shape[0]
        self.n_features = X.shape[-1]
        self.dtype = Y.dtype
        self.device = device(Y)
        self.X_offset = None
        self.y_offset = None
        self.gram = None
        self.Xty = None
        self.yty = None

    @classmethod
    def from_moments(cls, xp, gram, Xty, yty, task_weight, n_samples_task, X_offset=None,
                     y_offset=None):
        """The Gram form alone (no per-sample arrays): per-task ``X_t^T X_t``,
        ``X_t^T y_t``, ``||y_t||^2`` and the offsets removed by centring, as
        :func:`build_gram_task_data` computes them."""
        data = cls.__new__(cls)
        data.xp = xp
        data.X = data.Y = data.weight = None
        data.task_weight = task_weight
        data.n_samples_task = n_samples_task
        data.shared = False
        data.row_task = data.task_rows = data.task_slices = data.padded_rows = None
        data.n_tasks = n_samples_task.shape[0]
        data.n_features = gram.shape[-1]
        data.dtype = gram.dtype
        data.device = device(gram)
        data.gram, data.Xty, data.yty = gram, Xty, yty
        data.X_offset, data.y_offset = X_offset, y_offset
        return data

    # -- rows <-> tasks --------------------------------------------------------
    def expand(self, values):
        """Per-task ``values`` (n_tasks, ...) -> per-row (n_rows, ...)."""
        if self.row_task is None:
            return values
        return self.xp.take(values, self.row_task, axis=0)

    def task_sum(self, values):
        """Per-row ``values`` (n_rows, ...) -> sum over each task's rows (n_tasks, ...)."""
        if self.task_rows is None:
            return values
        xp = self.xp
        if self.task_slices is not None and is_numpy_namespace(xp) and \
                self.task_rows.shape[1] * math.prod(values.shape[1:]) >= SUM_LOOP_SIZE:
            # large tasks: one sum per task over its consecutive rows (no padded gather)
            return xp.stack([xp.sum(values[int(a):int(b), ...], axis=0)
                             for a, b in self.task_slices])
        zero = xp.zeros((1,) + tuple(values.shape[1:]), dtype=values.dtype, device=self.device)
        gathered = xp.take(xp.concat([values, zero], axis=0),
                           xp.reshape(self.task_rows, (-1,)), axis=0)
        shape = tuple(self.task_rows.shape) + tuple(values.shape[1:])
        return xp.sum(xp.reshape(gathered, shape), axis=1)

    def _gram_loops(self):
        """Whether the Gram matrices loop over the tasks' row slices (see the
        class docstring): the python loop costs about 10 us a task, the batched
        product about 5 us a row plus its gather of ``d x d`` per row."""
        return self.task_slices is not None and (
            self.n_features >= 32 or self.X.shape[0] >= 2 * self.n_tasks)

    def _task_samples(self, A, t):
        """Task ``t``'s rows of a per-sample ``(n_rows, m, ...)`` array, flattened
        to ``(rows * m, ...)`` (a view)."""
        a, b = self.task_slices[t]
        return self.xp.reshape(A[a:b, ...], ((b - a) * A.shape[1],) + tuple(A.shape[2:]))

    def sample_sum(self, A):
        """Sum of a per-sample ``(n_rows, m)`` array over each task's samples."""
        return self.task_sum(self.xp.sum(A, axis=1))

    # -- linear maps ---------------------------------------------------------
    def linear(self, coef):
        """Linear predictor ``X_t w_t`` of every sample, shape (n_rows, m)."""
        xp = self.xp
        if self.shared:
            return coef @ xp.permute_dims(self.X, (1, 0))
        return xp.matmul(self.X, self.expand(coef)[:, :, None])[:, :, 0]

    def rlinear(self, R):
        """Adjoint ``X_t^T r_t`` of a per-sample ``R``, shape (n_tasks, n_features)."""
        xp = self.xp
        if self.shared:
            return R @ self.X
        return self.task_sum(xp.matmul(R[:, None, :], self.X)[:, 0, :])

    # -- preprocessing -------------------------------------------------------
    def center(self, center_y=True):
        """Remove each task's feature means (and target means, with ``center_y``).

        With an unpenalized intercept per task this is an exact
        reparametrization, ``x . w + b = (x - mean_t x) . w + b'``: for the
        squared loss it eliminates the intercept (``center_y=True``), for the
        logistic loss it only improves the conditioning (``center_y=False``).
        """
        xp = self.xp
        if self.shared:
            x_mean = xp.mean(self.X, axis=0)
            self.X = self.X - x_mean[None, :]
            self.X_offset = xp.broadcast_to(x_mean[None, :], (self.n_tasks, self.n_features))
            if center_y:
                self.y_offset = xp.mean(self.Y, axis=1)
                self.Y = self.Y - self.y_offset[:, None]
            return self
        n_t = xp.asarray(self.n_samples_task, dtype=self.dtype, device=self.device)
        mask = xp.astype(self.weight > 0, self.dtype)
        self.X_offset = self.task_sum(xp.sum(self.X, axis=1)) / n_t[:, None]
        # in place: the chunked layout is the data's own copy (build_task_data), and
        # two temporaries of its size cost more than the centring itself
        self.X -= self.expand(self.X_offset)[:, None, :]
        self._zero_padding(mask)
        if center_y:
            self.y_offset = self.sample_sum(self.Y) / n_t
            self.Y = (self.Y - self.expand(self.y_offset)[:, None]) * mask
        return self

    def _zero_padding(self, mask):
        """``X *= mask`` (0 on the padding cells, 1 elsewhere): nothing without
        padding, only the rows that hold padding when they are few (see
        ``ZERO_ROWS_SIZE``)."""
        rows = self.padded_rows
        if rows is None:
            return
        if rows.shape[0] * ZERO_ROWS_SIZE <= math.prod(self.X.shape):
            for r in rows:
                self.X[int(r), ...] *= mask[int(r), :, None]
        else:
            self.X *= mask[:, :, None]

    def gram_matrices(self, weight=None):
        """``X_t^T X_t`` per task (batched), or ``X^T X`` for a shared design; with a
        per-sample ``weight`` (shaped like ``Y``), ``X_t^T diag(weight_t) X_t`` per task."""
        xp = self.xp
        if self.shared:
            XT = xp.permute_dims(self.X, (1, 0))
            if weight is None:
                return XT @ self.X
            return (XT[None, :, :] * weight[:, None, :]) @ self.X
        if self._gram_loops():
            grams = []
            for t in range(self.n_tasks):
                Xt = self._task_samples(self.X, t)
                XtT = xp.permute_dims(Xt, (1, 0))
                grams.append(XtT @ Xt if weight is None else
                             (XtT * self._task_samples(weight, t)[None, :]) @ Xt)
            return xp.stack(grams)
        XT = xp.permute_dims(self.X, (0, 2, 1))
        return self.task_sum(xp.matmul(XT if weight is None else XT * weight[:, None, :], self.X))

    def compute_gram(self, keep_X=False):
        """Cache ``X_t^T X_t``, ``X_t^T y_t`` and ``||y_t||^2`` (squared loss)."""
        self.gram = self.gram_matrices()
        self.Xty = self.rlinear(self.Y)
        self.yty = self.sample_sum(self.Y * self.Y)
        if not keep_X:
            self.X = None
        return self

    def restrict_features(self, index):
        """The same tasks on the features ``index`` (a device int array): one
        list for every task (1-D), or one per task (``(n_tasks, k)``; the data
        then stop being a shared design, each task seeing its own columns)."""
        xp = self.xp
        if index.ndim == 2:
            return self._restrict_per_task(index)
        sub = copy.copy(self)
        last = 2 if not self.shared else 1
        if self.X is not None:
            sub.X = xp.take(self.X, index, axis=last)
        if self.gram is not None:
            sub.gram = xp.take(xp.take(self.gram, index, axis=last), index, axis=last - 1)
        if self.Xty is not None:
            sub.Xty = xp.take(self.Xty, index, axis=1)
        if self.X_offset is not None:
            sub.X_offset = xp.take(self.X_offset, index, axis=1)
        sub.n_features = index.shape[0]
        return sub

    def _restrict_per_task(self, index):
        xp = self.xp
        sub = copy.copy(self)
        T, k = index.shape
        flat = xp.reshape(index, (-1,))
        if self.shared:
            # row t of the per-task layout is task t: (T, m, k) from the shared (m, d)
            if self.X is not None:
                cols = xp.reshape(xp.take(self.X, flat, axis=1), (self.X.shape[0], T, k))
                sub.X = xp.permute_dims(cols, (1, 0, 2))
            if self.gram is not None:  # G[idx_t][:, idx_t]
                rows = xp.reshape(xp.take(self.gram, flat, axis=0), (T, k, self.n_features))
                sub.gram = take_per_row(xp, rows, index)
            sub.shared = False
            sub.row_task = sub.task_rows = sub.task_slices = None
        else:
            if self.X is not None:
                sub.X = take_per_row(xp, self.X, self.expand(index))
            if self.gram is not None:  # G_t[idx_t][:, idx_t], using the symmetry of G_t
                cols = take_per_row(xp, self.gram, index)
                sub.gram = take_per_row(xp, xp.permute_dims(cols, (0, 2, 1)), index)
        if self.Xty is not None:
            sub.Xty = take_per_row(xp, self.Xty, index)
        if self.X_offset is not None:
            sub.X_offset = take_per_row(xp, self.X_offset, index)
        sub.n_features = k
        return sub

    def gram_matvec(self, coef):
        """``G_t w_t`` for every task, shape (n_tasks, n_features)."""
        xp = self.xp
        if self.shared:
            return coef @ self.gram  # gram is symmetric
        return xp.matmul(self.gram, coef[:, :, None])[:, :, 0]


def take_per_row(xp, A, index):
    """``A[r, ..., index[r, :]]`` for every ``r``: the last axis of ``A`` (shape
    ``(R, ..., d)``) gathered with row ``r``'s own indices (``index`` of shape
    ``(R, k)``).  One flat ``take`` (the array API's ``take_along_axis`` is
    recent)."""
    shape = tuple(A.shape)
    R, d, k = shape[0], shape[-1], index.shape[1]
    M = math.prod(shape[1:-1])
    dev = device(A)
    rows = xp.reshape(xp.arange(R, device=dev) * (M * d), (R, 1, 1))
    middle = xp.reshape(xp.arange(M, device=dev) * d, (1, M, 1))
    flat = rows + middle + xp.reshape(xp.astype(index, rows.dtype), (R, 1, k))
    out = xp.take(xp.reshape(A, (-1,)), xp.reshape(flat, (-1,)))
    return xp.reshape(out, shape[:-1] + (k,))


def task_weights(n_samples_task, loss_scaling):
    """``c_t`` of each task as a host-side float array."""
    n = np.asarray(n_samples_task, dtype=np.float64)
    if loss_scaling == "mean":
        return 1.0 / n
    if loss_scaling == "sum":
        return np.ones_like(n)
    raise ValueError(f"loss_scaling must be 'mean' or 'sum', got {loss_scaling!r}.")


def chunk_length(counts, n_features):
    """Common chunk length ``m`` minimizing padded cells plus per-task gathers.

    Cost of ``m``: ``sum_t ceil(n_t / m) m`` padded samples in ``X`` plus
    ``n_tasks * ceil(max n_t / m)`` row gathers in every per-task sum, each
    row gather moving ``n_features`` numbers like a sample does.
    """
    m_max = int(counts.max())
    candidates = {m_max} | {2 ** j for j in range(3, max(3, m_max.bit_length()))
                            if 2 ** j < m_max}

    def cost(m):
        rows = -(-counts // m)
        return int((rows * m).sum()) + counts.shape[0] * int(-(-m_max // m))

    return min(sorted(candidates, reverse=True), key=cost)


def padded_samples(counts, n_features):
    """Samples stored by :func:`build_task_data`'s chunked layout, padding included."""
    m = chunk_length(counts, n_features)
    return int((-(-counts // m) * m).sum())


def gram_task_data_applies(xp, counts, n_features):
    """Whether :func:`build_gram_task_data` is the cheaper way to the Gram form: with
    NumPy, when the tasks are large (``mean n_t * d >= DIRECT_GRAM_SIZE``), so that
    its Python loop over the tasks costs less than the chunked copy and its
    centring passes."""
    return is_numpy_namespace(xp) and \
        float(np.mean(counts)) * n_features >= DIRECT_GRAM_SIZE


def build_gram_task_data(xp, X, y, task_index, n_tasks, *, loss_scaling="mean", center=True):
    """The Gram form of long-format data, task by task: each task's rows (a view
    when ``X`` is sorted by task, else a gather of that task's rows), centred
    on a temporary of the task's size, then ``X_t^T X_t``, ``X_t^T y_t`` and
    ``||y_t||^2``.  No copy of all of ``X`` is made (the chunked layout of
    :func:`build_task_data` is one), and no per-sample array is kept."""
    counts = np.bincount(task_index, minlength=n_tasks)
    if np.any(counts == 0):
        raise ValueError(f"task(s) {np.flatnonzero(counts == 0).tolist()} have no samples.")
    dev = device(X)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    in_order = bool(np.all(task_index[1:] >= task_index[:-1]))
    order = None if in_order else np.argsort(task_index, kind="stable")
    grams, cross, squares, x_means, y_means = [], [], [], [], []
    for t in range(n_tasks):
        a, b = int(bounds[t]), int(bounds[t + 1])
        if in_order:
            Xt, yt = X[a:b, :], y[a:b]
        else:
            rows = xp.asarray(order[a:b], device=dev)
            Xt, yt = xp.take(X, rows, axis=0), xp.take(y, rows, axis=0)
        if center:
            x_means.append(xp.mean(Xt, axis=0))
            y_means.append(xp.mean(yt))
            Xt, yt = Xt - x_means[-1][None, :], yt - y_means[-1]
        XtT = xp.permute_dims(Xt, (1, 0))
        grams.append(XtT @ Xt)
        cross.append(XtT @ yt)
        squares.append(xp.sum(yt * yt))
    c = task_weights(counts, loss_scaling)
    return TaskData.from_moments(
        xp, xp.stack(grams), xp.stack(cross), xp.stack(squares),
        xp.asarray(c, dtype=X.dtype, device=dev), counts,
        xp.stack(x_means) if center else None, xp.stack(y_means) if center else None)


#: implicit centring of a shared design's Gram matrix while every feature's squared mean
#: is at most this many times its variance (``n mean_j^2 <= CANCELLATION (X_c^T
#: X_c)_jj``).  A raw product's rounding is bounded by its magnitude, ``n (var + mean^2)``
#: per diagonal entry against the centred copy's ``n var``, so the centred entries'
#: rounding bound grows by at most a factor ``1 + CANCELLATION`` over the copy's.  Else
#: (a constant feature, a large offset) the centred copy.
CANCELLATION = 1e4


def build_shared_gram_data(xp, X, Y, *, loss_scaling="mean", center=True):
    """The Gram form of a shared design (``Y`` of shape (n_samples, n_tasks)) with no
    copy of ``X``: ``X^T X - n mean mean^T`` (the centring applied inside the
    product, as scikit-learn does for sparse designs), ``X^T y_t`` and ``||y_t||^2``
    from the centred targets (``n x T``).  When a feature's mean is large against
    its spread (:data:`CANCELLATION`), or in float32, the Gram matrix comes from a
    centred copy instead: subtracting ``n mean_j^2`` would cancel its digits."""
    n, d = X.shape
    T = Y.shape[1]
    dev = device(X)
    counts = np.full(T, n)
    c = xp.asarray(task_weights(counts, loss_scaling), dtype=X.dtype, device=dev)
    XT = xp.permute_dims(X, (1, 0))
    Yt = xp.permute_dims(Y, (1, 0))
    gram = XT @ X
    if not center:
        return _shared(TaskData.from_moments(xp, gram, Yt @ X, xp.sum(Yt * Yt, axis=1), c,
                                             counts))
    x_mean = xp.mean(X, axis=0)
    y_mean = xp.mean(Yt, axis=1)
    Yc = Yt - y_mean[:, None]
    root = math.sqrt(n) * x_mean  # n mean mean^T as an exactly symmetric outer product
    offset = root[:, None] * root[None, :]
    gram = gram - offset
    spread = xp.linalg.diagonal(gram)
    if X.dtype != xp.float64 or \
            not bool(xp.all(xp.linalg.diagonal(offset) <= CANCELLATION * spread)):
        Xc = X - x_mean[None, :]
        gram = xp.permute_dims(Xc, (1, 0)) @ Xc
        Xty = Yc @ Xc
    else:
        # X_c^T y_c = X^T y_c - mean (1^T y_c); the second term is rounding-sized
        Xty = Yc @ X - xp.sum(Yc, axis=1)[:, None] * x_mean[None, :]
    return _shared(TaskData.from_moments(
        xp, gram, Xty, xp.sum(Yc * Yc, axis=1), c, counts,
        xp.broadcast_to(x_mean[None, :], (T, d)), y_mean))


def _shared(data):
    data.shared = True
    return data


def build_task_data(xp, X, y, task_index=None, n_tasks=None, *, loss_scaling="mean"):
    """Arrange validated arrays into a :class:`TaskData`.

    Parameters
    ----------
    xp : namespace of ``X`` and ``y``.
    X : array of shape (n_samples, n_features)
    y : array of shape (n_samples,) with ``task_index``, or (n_samples, n_tasks)
        for a shared design (``task_index=None``).
    task_index : host int ndarray of shape (n_samples,), optional
        Task of each sample, in ``0 .. n_tasks - 1``.
    """
    dev = device(X)
    dtype = X.dtype
    n_samples, n_features = X.shape
    if y.shape[0] != n_samples:
        raise ValueError(f"X has {n_samples} samples but y has {y.shape[0]}.")
    if task_index is None:
        if y.ndim != 2:
            raise ValueError("a shared design needs a 2-D Y of shape (n_samples, n_tasks).")
        n_tasks = y.shape[1]
        counts = np.full(n_tasks, n_samples)
        c = task_weights(counts, loss_scaling)
        weight = xp.asarray(np.repeat(c[:, None], n_samples, axis=1), dtype=dtype, device=dev)
        Y = xp.permute_dims(y, (1, 0))
        return TaskData(xp, X, Y, weight, xp.asarray(c, dtype=dtype, device=dev), counts,
                        shared=True)

    counts = np.bincount(task_index, minlength=n_tasks)
    if np.any(counts == 0):
        raise ValueError(f"task(s) {np.flatnonzero(counts == 0).tolist()} have no samples.")
    m = chunk_length(counts, n_features)
    rows_per_task = -(-counts // m)
    n_rows = int(rows_per_task.sum())
    first_row = np.concatenate([[0], np.cumsum(rows_per_task)[:-1]])
    order = np.argsort(task_index, kind="stable")
    sorted_task = task_index[order]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    position = np.arange(n_samples) - starts[sorted_task]
    cell = (first_row[sorted_task] + position // m) * m + position % m
    gather = np.full(n_rows * m, n_samples, dtype=np.int64)  # n_samples -> zero row
    gather[cell] = order

    # padding cells read row 0 and are zeroed in place (no padded copy of X first)
    valid = (gather < n_samples).reshape(n_rows, m)
    source = xp.asarray(np.where(gather < n_samples, gather, 0), device=dev)
    X3 = xp.reshape(xp.take(X, source, axis=0), (n_rows, m, n_features))
    Y = xp.reshape(xp.take(y, source, axis=0), (n_rows, m))
    padded_rows = None if valid.all() else np.flatnonzero(~valid.all(axis=1))
    if padded_rows is not None:
        valid_dev = xp.asarray(valid, dtype=dtype, device=dev)
        Y *= valid_dev
    c = task_weights(counts, loss_scaling)
    row_task = np.repeat(np.arange(n_tasks), rows_per_task)
    weight = xp.asarray(np.where(valid, c[row_task][:, None], 0.0), dtype=dtype, device=dev)
    row_task_dev = task_rows_dev = None
    if n_rows != n_tasks:
        k_max = int(rows_per_task.max())
        k = np.arange(k_max)[None, :]
        task_rows = np.where(k < rows_per_task[:, None], first_row[:, None] + k, n_rows)
        row_task_dev = xp.asarray(row_task, device=dev)
        task_rows_dev = xp.asarray(task_rows, device=dev)
    slices = None if n_rows == n_tasks else \
        np.stack([first_row, first_row + rows_per_task], axis=1)
    data = TaskData(xp, X3, Y, weight, xp.asarray(c, dtype=dtype, device=dev), counts,
                    shared=False, row_task=row_task_dev, task_rows=task_rows_dev,
                    task_slices=slices)
    data.padded_rows = padded_rows
    if padded_rows is not None:
        data._zero_padding(valid_dev)
    return data
