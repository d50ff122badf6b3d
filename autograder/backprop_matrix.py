"""Checks of notebook 04 (backprop as an unrolled sparse matrix): the student side.

The checks here compare with public libraries only: PyTorch's ``F.conv1d``/``F.conv2d`` applied
to random signals and images (``M @ x`` must equal the convolution of ``x``),
``torch.nn.grad.conv2d_input`` and autograd for the gradients, and SciPy's
``correlate2d``/``convolve2d`` for the single-channel identities (``dw`` is a correlation of the
input with the output gradient, ``dx`` a full convolution of the output gradient with the kernel).
The hidden checks that compare the unrolled matrices entry by entry, and the numerical gradients
with autograd, live with the grader (``autograder.grader.checks.backprop_matrix``).

The test functions handed to ``numerical_gradient`` are course classes registered with
``wire.transferable``: their state is plain data (arrays and numbers), so under grading they
cross to the student's kernel as data and run there; ``__call__`` is the NumPy formula and
``torch_value`` the same formula on tensors, from which the grader takes autograd's gradient.

Every ``check_*`` function raises ``CheckFailure`` with a readable message, or returns ``None``.
A sparse matrix from a student is read through its CSR arrays (``data``, ``indices``,
``indptr``) with numpy's own operations, never through methods a subclass could override.
"""
import numpy as np
import scipy.linalg
import scipy.optimize
import scipy.signal
import scipy.sparse
import torch
import torch.nn.functional as F

from autograder import wire
from autograder.checking import (
    Case, CheckFailure, _likely_cause, call_student, check_accepts, check_raises, describe_call, describe_type,
    difference, make_rng,
)

_ndarray = np.ndarray
_CSR_TYPES = tuple(t for t in (scipy.sparse.csr_matrix, getattr(scipy.sparse, "csr_array", None))
                   if t is not None)

LIBRARY_CONV = (
    F.conv1d, F.conv2d, torch.conv1d, torch.conv2d, F.conv_transpose1d, F.conv_transpose2d,
    torch.conv_transpose1d, torch.conv_transpose2d, F.unfold, np.correlate, np.convolve,
    scipy.signal.correlate, scipy.signal.convolve, scipy.signal.correlate2d,
    scipy.signal.convolve2d, scipy.signal.fftconvolve, scipy.signal.oaconvolve,
)
LIBRARY_AUTOGRAD = (
    torch.autograd.grad, torch.autograd.backward, torch.Tensor.backward,
    torch.autograd.functional.jacobian, torch.autograd.functional.vjp,
    torch.nn.grad.conv2d_input, torch.nn.grad.conv2d_weight,
)
LIBRARY_MATRIX = LIBRARY_CONV + LIBRARY_AUTOGRAD + (
    scipy.linalg.toeplitz, scipy.linalg.convolution_matrix,
)
LIBRARY_BACKWARD = (F.conv1d, F.conv2d, torch.conv1d, torch.conv2d, F.conv_transpose1d,
                    F.conv_transpose2d, torch.conv_transpose1d, torch.conv_transpose2d,
                    F.unfold, F.fold) + LIBRARY_AUTOGRAD
LIBRARY_NUMERICAL = LIBRARY_AUTOGRAD + (scipy.optimize.approx_fprime, scipy.optimize.check_grad)

KERNEL_FLIPPED = ("the kernel is flipped (a convolution): row r of M holds the kernel as it is, "
                  "k[0] in column r * stride - padding")
PADDING_COLUMNS_KEPT = ("the padding zeros are columns of M: M acts on the unpadded input, so "
                        "drop the entries that fall on the padding")
STRIDE_IGNORED = ("the stride is ignored: row r starts at column r * stride - padding, so "
                  "consecutive rows move by the stride")
ONE_SIDED_PADDING = ("the padding is on one side only: the padded input has `padding` zeros on "
                     "each side, so row r starts at column r * stride - padding")
ONE_ROW_SHORT = ("M is one row short: n_out = (n + 2 * padding - K) // stride + 1 (the first "
                 "window counts too)")
M_TRANSPOSED = "M is transposed: it has one row per output and one column per input"
KERNEL_ROTATED = ("the kernel is rotated by 180 degrees (a convolution): M holds the kernel as it "
                  "is, M[i * W_out + j, a * W + b] = kernel[a + P_h - i * S_h, b + P_w - j * S_w]")
KERNEL_TRANSPOSED = "the kernel is transposed: its first axis runs over rows (height)"
INPUT_COLUMN_MAJOR = ("the input pixels are numbered column by column: flatten row-major, "
                      "pixel (a, b) -> a * W + b")
BOTH_COLUMN_MAJOR = ("images are flattened column by column: flatten row-major, input pixel "
                     "(a, b) -> a * W + b and output pixel (i, j) -> i * W_out + j")
OUTPUT_COLUMN_MAJOR = ("the output pixels are numbered column by column: output pixel (i, j) is "
                       "row i * W_out + j of M")
DENSE_MATRIX = ("the matrix is built dense (or converted with .toarray()): build the index arrays "
                "rows, columns, values of the non-zeros and return scipy.sparse.csr_matrix((values, "
                "(rows, columns)), shape=(H_out * W_out, H * W))")
DENSE_MEMORY = ("the dense matrix is built before the sparse one (np.zeros((H_out * W_out, H * W)), "
                "then csr_matrix of it): compute the row, column and value of each non-zero and "
                "pass those index arrays to scipy.sparse.csr_matrix((values, (rows, columns)), "
                "shape=...)")
SPARSE_SIDE = 256  # a dense M of a 256x256 image takes 32 GiB, more than a graded kernel may use


# ----------------------------------------------------------------------------- test functions

class _TestFunction:
    """A scalar function of an array: ``__call__`` is its NumPy formula, ``torch_value`` the same
    formula on a tensor (for autograd). Subclasses hold arrays and numbers only."""

    formula = ""

    def __repr__(self):
        return f"f(x) = {self.formula}"


@wire.transferable
class SumOfPowers(_TestFunction):
    """f(x) = sum(x ** power); its gradient is power * x ** (power - 1)."""

    def __init__(self, power):
        self.power = int(power)

    @property
    def formula(self):
        return f"sum(x**{self.power})"

    def __call__(self, x):
        return np.sum(x ** self.power)

    def torch_value(self, x):
        return torch.sum(x ** self.power)


@wire.transferable
class Product(_TestFunction):
    """f(x) = x[first] * x[second], two entries of x (index tuples); a product is linear in each."""

    def __init__(self, first, second):
        self.first, self.second = tuple(int(i) for i in first), tuple(int(i) for i in second)

    @property
    def formula(self):
        return f"x[{', '.join(map(str, self.first))}] * x[{', '.join(map(str, self.second))}]"

    def __call__(self, x):
        return x[self.first] * x[self.second]

    def torch_value(self, x):
        return x[self.first] * x[self.second]


@wire.transferable
class WeightedSines(_TestFunction):
    """f(x) = sum(a * sin(x)) + c * sum(x**2) / 2, with ``a`` of x's shape and a number ``c``."""

    formula = "sum(a * sin(x)) + c * sum(x**2) / 2"

    def __init__(self, a, c=0.0):
        self.a, self.c = np.asarray(a, dtype=np.float64), float(c)

    def __call__(self, x):
        return np.sum(self.a * np.sin(x)) + self.c * np.sum(x ** 2) / 2

    def torch_value(self, x):
        return torch.sum(torch.from_numpy(self.a) * torch.sin(x)) + self.c * torch.sum(x ** 2) / 2


@wire.transferable
class LogSumExp(_TestFunction):
    """f(x) = log(sum(exp(x))) over all the entries of x."""

    formula = "log(sum(exp(x)))"

    def __call__(self, x):
        return np.log(np.sum(np.exp(x)))

    def torch_value(self, x):
        return torch.logsumexp(x.reshape(-1), 0)


@wire.transferable
class TanhOfProduct(_TestFunction):
    """f(x) = sum(tanh(x @ v)), for x whose last axis has v's first length."""

    formula = "sum(tanh(x @ v))"

    def __init__(self, v):
        self.v = np.asarray(v, dtype=np.float64)

    def __call__(self, x):
        return np.sum(np.tanh(x @ self.v))

    def torch_value(self, x):
        return torch.sum(torch.tanh(x @ torch.from_numpy(self.v)))


@wire.transferable
class Quadratic(_TestFunction):
    """f(x) = sum(x * (A @ x)) / 2 + sum(b * x), for x of shape (n,) or (n, m); A is (n, n)."""

    formula = "sum(x * (A @ x)) / 2 + sum(b * x) (a quadratic)"

    def __init__(self, a, b):
        self.a, self.b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)

    def __call__(self, x):
        return np.sum(x * (self.a @ x)) / 2 + np.sum(self.b * x)

    def torch_value(self, x):
        a, b = torch.from_numpy(self.a), torch.from_numpy(self.b)
        return torch.sum(x * (a @ x)) / 2 + torch.sum(b * x)


@wire.transferable
class Scaled(_TestFunction):
    """f(x) = factor * x: an array, not a scalar (numerical_gradient must refuse it)."""

    def __init__(self, factor):
        self.factor = float(factor)

    @property
    def formula(self):
        return f"{self.factor:g} * x (an array, not a scalar)"

    def __call__(self, x):
        return self.factor * x

    def torch_value(self, x):
        return self.factor * x


# ----------------------------------------------------------------------------- PyTorch's results

def _tensor(array):
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float64))


def _conv1d_signals(kernel, signals, stride=1, padding=0):
    """F.conv1d of each row of ``signals`` (m, n) with ``kernel``: (m, n_out)."""
    return F.conv1d(_tensor(signals)[:, None], _tensor(kernel)[None, None], stride=stride,
                    padding=padding)[:, 0].numpy()


def _conv2d_images(kernel, images, stride=1, padding=0):
    """F.conv2d of each image of ``images`` (m, H, W) with ``kernel``, flattened: (m, H_out W_out)."""
    out = F.conv2d(_tensor(images)[:, None], _tensor(kernel)[None, None], stride=stride,
                   padding=padding)
    return out.reshape(len(images), -1).numpy()


def _conv_output_shape(input_shape, kernel_shape, stride, padding):
    """The output's spatial shape of PyTorch's convolution (computed on meta tensors)."""
    conv = F.conv1d if len(input_shape) == 1 else F.conv2d
    x = torch.empty((1, 1) + tuple(input_shape), device="meta")
    w = torch.empty((1, 1) + tuple(kernel_shape), device="meta")
    return tuple(int(s) for s in conv(x, w, stride=stride, padding=padding).shape[2:])


def _autograd_conv2d(x, w, b, grad_out, stride=1, padding=0):
    """``{"dx", "dw", "db"}`` of ``sum(grad_out * F.conv2d(x, w, b, stride, padding))``, autograd."""
    xt, wt, bt = (_tensor(a).requires_grad_(True) for a in (x, w, b))
    F.conv2d(xt, wt, bt, stride=stride, padding=padding).backward(_tensor(grad_out))
    return {"dx": xt.grad.numpy(), "dw": wt.grad.numpy(), "db": bt.grad.numpy()}


def _pair(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


# ----------------------------------------------------------------------------- sparse results

def _csr_parts(matrix, name):
    """``(rows, columns, values, shape)`` of a student's CSR matrix; CheckFailure if it is not one."""
    if type(matrix) not in _CSR_TYPES:
        if type(matrix) is _ndarray:
            raise CheckFailure(f"{name} returned a dense numpy.ndarray, not a scipy.sparse CSR "
                               f"matrix.\nLikely cause: {DENSE_MATRIX}")
        if scipy.sparse.issparse(matrix) and isinstance(matrix, _CSR_TYPES):
            raise CheckFailure(f"{name} returned {type(matrix).__name__}, a subclass of scipy's CSR "
                               "matrix; return scipy.sparse.csr_matrix itself")
        if scipy.sparse.issparse(matrix):
            raise CheckFailure(f"{name} returned a sparse matrix in {matrix.format!r} format; "
                               "return CSR (convert with .tocsr())")
        raise CheckFailure(f"{name} returned {describe_type(matrix)}; return a scipy.sparse CSR "
                           "matrix")
    data, indices, indptr, shape = matrix.data, matrix.indices, matrix.indptr, matrix.shape
    if not all(type(a) is _ndarray for a in (data, indices, indptr)) or data.dtype.kind != "f":
        raise CheckFailure(f"{name} returned a CSR matrix whose arrays are not floating-point "
                           "numpy arrays: build it from float64 values")
    rows, columns = (int(s) for s in shape)
    counts = np.diff(indptr)
    if (indptr.shape != (rows + 1,) or indptr[0] != 0 or (counts < 0).any()
            or indptr[-1] != len(indices) or len(indices) != len(data)
            or (len(indices) and not (0 <= indices.min() and indices.max() < columns))):
        raise CheckFailure(f"{name} returned an invalid CSR matrix (inconsistent indptr/indices)")
    return np.repeat(np.arange(rows), counts), indices, data, (rows, columns)


def csr_to_dense(matrix, name="conv2d_matrix"):
    """The dense ndarray of a student's CSR matrix (duplicates summed); CheckFailure if not CSR."""
    rows, columns, values, shape = _csr_parts(matrix, name)
    dense = np.zeros(shape)
    np.add.at(dense, (rows, columns), values)
    return dense


def _csr_product(parts, vectors, transpose=False):
    """``M @ vectors`` (or ``M.T @ vectors``) for the CSR ``parts`` and ``vectors`` (length, m)."""
    rows, columns, values, shape = parts
    if transpose:
        rows, columns, shape = columns, rows, shape[::-1]
    out = np.zeros((shape[0], vectors.shape[1]))
    np.add.at(out, rows, values[:, None] * vectors[columns])
    return out


# ----------------------------------------------------------------------------- random cases

def _random_stride_padding(rng, i):
    """A stride and a padding: an int (even i) or an (h, w) pair (odd i)."""
    if i % 2:
        return (tuple(int(v) for v in rng.integers(1, 4, size=2)),
                tuple(int(v) for v in rng.integers(0, 3, size=2)))
    return int(rng.integers(1, 4)), int(rng.integers(0, 3))


def cases_conv1d_matrix(rng, n_cases=20, *, strided):
    """Random ``(kernel, n)`` cases; with ``strided``, strides 1-3 and paddings 0-3."""
    cases = [Case((rng.normal(size=1), 4))] if not strided else [
        Case((rng.normal(size=3), 4), {"stride": 2, "padding": 3})]
    while len(cases) < n_cases:
        k = int(rng.integers(1, 6))
        kwargs = {}
        if strided:
            kwargs = {"stride": int(rng.integers(1, 4)), "padding": int(rng.integers(0, 4))}
        n = int(rng.integers(max(1, k - 2 * kwargs.get("padding", 0)), k + 10))
        cases.append(Case((rng.normal(size=k), n), kwargs))
    return cases


def cases_conv2d_matrix(rng, n_cases=15, *, strided):
    """Random ``(kernel, (H, W))`` cases, non-square; with ``strided``, ints and (h, w) pairs."""
    cases = []
    for i in range(n_cases):
        kh, kw = (int(v) for v in rng.integers(1, 5, size=2))
        kwargs = {}
        if strided:
            stride, padding = _random_stride_padding(rng, i)
            kwargs = {"stride": stride, "padding": padding}
        h, w = int(rng.integers(kh, kh + 7)), int(rng.integers(kw, kw + 7))
        cases.append(Case((rng.normal(size=(kh, kw)), (h, w)), kwargs))
    return cases


def cases_conv2d_backward(rng, n_cases=12, *, strided):
    """Random NCHW ``(x, w, grad_out)`` cases; with ``strided``, strides and paddings."""
    cases = []
    for i in range(n_cases):
        n, c_in, c_out = (int(v) for v in rng.integers(1, 4, size=3))
        if i % 4 == 0:
            c_out = c_in
        if i == 1:
            n = 3
        kh, kw = (int(v) for v in rng.integers(1, 5, size=2))
        stride, padding = _random_stride_padding(rng, i) if strided else (1, 0)
        h, w = int(rng.integers(kh, kh + 7)), int(rng.integers(kw, kw + 7))
        out = _conv_output_shape((h, w), (kh, kw), stride, padding)
        args = (rng.normal(size=(n, c_in, h, w)), rng.normal(size=(c_out, c_in, kh, kw)),
                rng.normal(size=(n, c_out) + out))
        cases.append(Case(args, {"stride": stride, "padding": padding} if strided else {}))
    return cases


# ----------------------------------------------------------------------------- checks

# The invalid-input check of the test cells: the failure names ``cause`` as the likely mistake.
check_rejects = check_raises


def _matrix_shape_cause(shape, expected, padding_columns):
    """A likely cause for an unrolled matrix of the wrong ``shape`` (``""`` if none is known)."""
    if shape == (expected[0], padding_columns) and padding_columns != expected[1]:
        return f".\nLikely cause: {PADDING_COLUMNS_KEPT}"
    if shape == expected[::-1]:
        return f".\nLikely cause: {M_TRANSPOSED}"
    return ""


def check_conv1d_matrix(fn, seed=None, n_cases=20, *, strided=False):
    """``conv1d_matrix(kernel, n, ...) @ x`` equals ``F.conv1d(x)`` for random x, from scratch."""
    rng = make_rng(seed)
    for case in cases_conv1d_matrix(rng, n_cases, strided=strided):
        kernel, n = case.args
        stride, padding = case.kwargs.get("stride", 1), case.kwargs.get("padding", 0)
        call = describe_call("conv1d_matrix", case.args, case.kwargs)
        matrix = call_student(fn, case.args, case.kwargs, name="conv1d_matrix",
                              forbidden=LIBRARY_MATRIX)
        expected = (_conv_output_shape((n,), kernel.shape, stride, padding)[0], n)
        if type(matrix) is not _ndarray:
            raise CheckFailure(f"{call} returned {describe_type(matrix)}; return a numpy.ndarray")
        if matrix.shape != expected:
            cause = _matrix_shape_cause(matrix.shape, expected, n + 2 * padding)
            if not cause and matrix.shape == (expected[0] - 1, n):
                cause = f".\nLikely cause: {ONE_ROW_SHORT}"
            raise CheckFailure(f"{call} returned shape {matrix.shape}, expected (n_out, n) = "
                               f"{expected}{cause}")
        if matrix.dtype != np.float64:
            raise CheckFailure(f"{call} returned dtype {matrix.dtype}, expected float64")
        signals = rng.normal(size=(n, n))  # n random signals: M @ x on all of them fixes M
        got = (matrix @ signals.T).T
        message = difference(got, _conv1d_signals(kernel, signals, stride, padding))
        if message is not None:
            likely = [(KERNEL_FLIPPED, _conv1d_signals(kernel[::-1], signals, stride, padding))]
            if stride > 1:
                likely.append((STRIDE_IGNORED, _conv1d_signals(kernel, signals, 1, padding)
                               [:, :expected[0]]))
            if padding:
                likely.append((ONE_SIDED_PADDING, _conv1d_signals(
                    kernel, np.pad(signals, ((0, 0), (0, 2 * padding))), stride)))
            raise CheckFailure(f"M @ x with M = {call} differs from F.conv1d(x) (one signal x per "
                               f"column of the result): {message}"
                               f"{_likely_cause(got, likely, 1e-6, 1e-9)}")


def check_conv1d_matrix_rejects_bad_input(fn):
    """``conv1d_matrix`` raises ValueError/TypeError for impossible kernels and parameters."""
    rng = np.random.default_rng(402)
    k = rng.normal(size=3)
    check_accepts(fn, (k, 5), name="conv1d_matrix")
    bad = [
        ((rng.normal(size=(2, 2)), 5), {}, ValueError, "the kernel must be 1-D"),
        ((np.zeros(0), 5), {}, ValueError, "the kernel is empty"),
        ((k, 0), {}, ValueError, "the input length n must be at least 1"),
        ((k, 2), {}, ValueError, "a kernel of length 3 does not fit in an input of length 2"),
        ((k, 5), {"stride": 0}, ValueError, "the stride must be at least 1"),
        ((k, 5), {"padding": -1}, ValueError, "the padding cannot be negative"),
        ((k, 5), {"stride": 1.5}, TypeError, "the stride must be an integer"),
        ((k, 5.0), {}, TypeError, "the length n must be an integer"),
    ]
    for args, kwargs, exception, reason in bad:
        check_raises(fn, args, kwargs, exception=exception, reason=reason, name="conv1d_matrix")


def check_conv2d_matrix(fn, seed=None, n_cases=15, *, strided=False):
    """``conv2d_matrix`` is a CSR matrix with ``M @ x`` = F.conv2d(x), ``M.T @ g`` = autograd's dx."""
    rng = make_rng(seed)
    for case in cases_conv2d_matrix(rng, n_cases, strided=strided):
        kernel, (h, w) = case.args
        stride, padding = case.kwargs.get("stride", 1), case.kwargs.get("padding", 0)
        (ph, pw) = _pair(padding)
        call = describe_call("conv2d_matrix", case.args, case.kwargs)
        result = call_student(fn, case.args, case.kwargs, name="conv2d_matrix",
                              forbidden=LIBRARY_MATRIX)
        parts = _csr_parts(result, "conv2d_matrix")
        out = _conv_output_shape((h, w), kernel.shape, stride, padding)
        expected = (out[0] * out[1], h * w)
        if parts[3] != expected:
            cause = _matrix_shape_cause(parts[3], expected, (h + 2 * ph) * (w + 2 * pw))
            raise CheckFailure(f"{call} has shape {parts[3]}, expected (H_out * W_out, H * W) = "
                               f"{expected}{cause}")
        images = rng.normal(size=(h * w, h, w))  # H W random images: M @ x on all of them fixes M
        got = _csr_product(parts, images.reshape(h * w, -1).T).T
        message = difference(got, _conv2d_images(kernel, images, stride, padding))
        if message is not None:
            likely = _conv2d_matrix_mistakes(kernel, images, stride, padding)
            raise CheckFailure(f"M @ x.ravel() with M = {call} differs from F.conv2d(x) (one image "
                               f"x per column of the result): {message}"
                               f"{_likely_cause(got, likely, 1e-6, 1e-9)}")
        grads = rng.normal(size=(3,) + out)
        got = _csr_product(parts, grads.reshape(3, -1).T, transpose=True).T
        want = torch.nn.grad.conv2d_input((3, 1, h, w), _tensor(kernel)[None, None],
                                          _tensor(grads)[:, None], stride=stride, padding=padding)
        message = difference(got, want.reshape(3, -1).numpy())
        if message is not None:
            raise CheckFailure(f"M.T @ g with M = {call} differs from PyTorch's input gradient of "
                               f"F.conv2d: {message}")


def _conv2d_matrix_mistakes(kernel, images, stride, padding):
    """``(cause, M' @ x)`` for likely wrong matrices M', through F.conv2d of rearranged images."""
    count, h, w = images.shape
    out = _conv_output_shape((h, w), kernel.shape, stride, padding)
    by_columns = images.reshape(count, w, h).transpose(0, 2, 1)  # x.ravel() read column by column

    def column_major_output(flat):
        return flat.reshape(count, *out).transpose(0, 2, 1).reshape(count, -1)

    found = [(KERNEL_ROTATED, _conv2d_images(kernel[::-1, ::-1], images, stride, padding)),
             (INPUT_COLUMN_MAJOR, _conv2d_images(kernel, by_columns, stride, padding)),
             (OUTPUT_COLUMN_MAJOR, column_major_output(_conv2d_images(kernel, images, stride,
                                                                      padding))),
             (BOTH_COLUMN_MAJOR, column_major_output(_conv2d_images(kernel, by_columns, stride,
                                                                    padding)))]
    if kernel.shape[0] == kernel.shape[1]:
        found.append((KERNEL_TRANSPOSED, _conv2d_images(kernel.T, images, stride, padding)))
    return found


def check_conv2d_matrix_is_sparse(fn, side=SPARSE_SIDE, seed=None):
    """A ``side`` x ``side`` image: correct, at most K_h K_w entries a row, never dense in memory.

    Under grading the student's kernel may use a few GiB; the dense matrix of a 256x256 image
    takes 32 GiB, so building it fails with a MemoryError, which this check names.
    """
    rng = make_rng(seed)
    kernel = rng.normal(size=(3, 3))
    args, kwargs = (kernel, (side, side)), {"padding": 1}
    call = describe_call("conv2d_matrix", args, kwargs)
    dense_gib = (side * side) ** 2 * 8 / 2 ** 30
    try:
        result = call_student(fn, args, kwargs, name="conv2d_matrix", forbidden=LIBRARY_MATRIX)
    except CheckFailure as failure:
        if isinstance(failure.__cause__, MemoryError):
            raise CheckFailure(f"{call} ran out of memory: the dense {side * side} x {side * side} "
                               f"matrix takes {dense_gib:.0f} GiB, the sparse one a few MB.\n"
                               f"Likely cause: {DENSE_MEMORY}") from None
        raise
    parts = _csr_parts(result, "conv2d_matrix")
    rows = side * side
    if parts[3] != (rows, rows):
        raise CheckFailure(f"{call} has shape {parts[3]}, expected {(rows, rows)}")
    if len(parts[2]) > 9 * rows:
        raise CheckFailure(f"{call} stores {len(parts[2])} entries, more than the 9 per row a 3x3 "
                           "kernel can fill: it stores duplicates or zeros")
    image = rng.normal(size=(1, side, side))
    message = difference(_csr_product(parts, image.reshape(1, -1).T).T,
                         _conv2d_images(kernel, image, padding=1))
    if message is not None:
        raise CheckFailure(f"M @ x.ravel() with M = {call} differs from F.conv2d: {message}")


def check_conv2d_matrix_rejects_bad_input(fn):
    """``conv2d_matrix`` raises ValueError/TypeError for impossible kernels, shapes and parameters."""
    rng = np.random.default_rng(413)
    k = rng.normal(size=(3, 3))
    check_accepts(fn, (k, (5, 5)), name="conv2d_matrix")
    bad = [
        ((rng.normal(size=3), (5, 5)), {}, ValueError, "the kernel must be 2-D (K_h, K_w)"),
        ((k, (5, 5, 5)), {}, ValueError, "input_shape must be a pair (H, W)"),
        ((k, (0, 5)), {}, ValueError, "the image height must be at least 1"),
        ((k, (2, 5)), {}, ValueError, "a 3x3 kernel does not fit in a 2x5 image with padding 0"),
        ((k, (5, 5)), {"stride": 0}, ValueError, "the stride must be at least 1"),
        ((k, (5, 5)), {"padding": -1}, ValueError, "the padding cannot be negative"),
        ((k, (5, 5)), {"stride": 2.5}, TypeError, "the stride must be an integer"),
    ]
    for args, kwargs, exception, reason in bad:
        check_raises(fn, args, kwargs, exception=exception, reason=reason, name="conv2d_matrix")
    check_rejects(fn, (rng.normal(size=(3, 6)), (5, 5)), {"padding": (0, 0)},
                  reason="a 3x6 kernel is wider than a 5x5 image", name="conv2d_matrix",
                  cause="the fit test covers the height only: raise ValueError when K_h > H + 2 "
                        "P_h or K_w > W + 2 P_w")


def _backward_parts(result, call):
    """``{"dx": ..., "dw": ..., "db": ...}`` from a student's result; CheckFailure if not a triple."""
    if not isinstance(result, tuple) or len(result) != 3:
        raise CheckFailure(f"{call} must return a tuple (dx, dw, db), got "
                           f"{describe_type(result)}")
    return dict(zip(("dx", "dw", "db"), result))


def _backward_mistakes(x, w, grad_out, stride=1, padding=0):
    """``{part: [(description, wrong answer)]}`` for dx, dw and db, through PyTorch's autograd."""
    bias = np.zeros(w.shape[0])
    right = _autograd_conv2d(x, w, bias, grad_out, stride, padding)
    n = x.shape[0]
    (ph, pw) = _pair(padding)
    x_pad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    mistakes = {
        "dx": [("dx uses the kernel rotated by 180 degrees: scattering g[n, o, i, j] * "
                "w[o, c, m, q] back to x_pad[n, c, i S + m, j S + q] needs w as it is",
                _autograd_conv2d(x, w[:, :, ::-1, ::-1], bias, grad_out, stride, padding)["dx"]),
               ("dx still contains the padding: crop it, dx = dx_pad[:, :, P:P + H, P:P + W]",
                _autograd_conv2d(x_pad, w, bias, grad_out, stride, 0)["dx"])],
        "dw": [("dw is not summed over the batch: only the first sample's gradient",
                _autograd_conv2d(x[:1], w, bias, grad_out[:1], stride, padding)["dw"]),
               ("dw is averaged over the batch: the loss sums over the samples, so sum",
                right["dw"] / n),
               ("dw is rotated by 180 degrees: it is a correlation of x with g, not a convolution",
                right["dw"][:, :, ::-1, ::-1])],
        "db": [("db only sums the first sample: sum g over the batch and all positions",
                grad_out[0].sum(axis=(1, 2))),
               ("db is averaged instead of summed over the batch and positions",
                grad_out.mean(axis=(0, 2, 3)))],
    }
    fits = x.shape[2] >= w.shape[2] and x.shape[3] >= w.shape[3]
    if (ph or pw) and fits and _conv_output_shape(x.shape[2:], w.shape[2:], stride, 0) == grad_out.shape[2:]:
        mistakes["dw"].append((
            "dw correlates the unpadded input: the windows are those of x_pad, x with its padding",
            _autograd_conv2d(x, w, bias, grad_out, stride, 0)["dw"]))
    if x.shape[1] == w.shape[0]:
        mistakes["dx"].append((
            "dx uses w with its channel axes swapped: dx[n, c] sums over output channels o of "
            "g[n, o] and w[o, c]",
            _autograd_conv2d(x, w.transpose(1, 0, 2, 3), bias, grad_out, stride, padding)["dx"]))
    return mistakes


def check_conv2d_backward(fn, seed=None, n_cases=12, *, strided=False):
    """``conv2d_backward`` matches PyTorch autograd of F.conv2d (with bias), from scratch."""
    for case in cases_conv2d_backward(make_rng(seed), n_cases, strided=strided):
        x, w, grad_out = case.args
        call = describe_call("conv2d_backward", case.args, case.kwargs)
        result = call_student(fn, case.args, case.kwargs, name="conv2d_backward",
                              forbidden=LIBRARY_BACKWARD)
        parts = _backward_parts(result, call)
        expected = _autograd_conv2d(x, w, np.zeros(w.shape[0]), grad_out, **case.kwargs)
        for part in ("dx", "dw", "db"):
            message = difference(parts[part], expected[part])
            if message is not None:
                likely = _backward_mistakes(*case.args, **case.kwargs)[part]
                raise CheckFailure(f"{call}: {part} {message}"
                                   f"{_likely_cause(parts[part], likely, 1e-6, 1e-9)}")


def check_conv2d_backward_single_channel(fn, seed=None, n_cases=10):
    """One channel, stride 1: dw = correlate2d(x, g), dx = convolve2d(g, w, "full"), db = sum(g)."""
    rng = make_rng(seed)
    for _ in range(n_cases):
        kh, kw = (int(v) for v in rng.integers(1, 5, size=2))
        h, w = int(rng.integers(kh, kh + 7)), int(rng.integers(kw, kw + 7))
        image, kernel = rng.normal(size=(h, w)), rng.normal(size=(kh, kw))
        grad = rng.normal(size=(h - kh + 1, w - kw + 1))
        args = (image[None, None], kernel[None, None], grad[None, None])
        call = describe_call("conv2d_backward", args, {})
        parts = _backward_parts(call_student(fn, args, name="conv2d_backward",
                                             forbidden=LIBRARY_BACKWARD), call)
        expected = {
            "dx": (scipy.signal.convolve2d(grad, kernel, mode="full")[None, None],
                   "the full convolution of g with w"),
            "dw": (scipy.signal.correlate2d(image, grad, mode="valid")[None, None],
                   "the correlation of x with g (still a correlation)"),
            "db": (np.array([grad.sum()]), "the sum of g"),
        }
        for part, (want, meaning) in expected.items():
            message = difference(parts[part], want)
            if message is not None:
                raise CheckFailure(f"{call}: {part} is not {meaning}: {message}")


def check_conv2d_backward_rejects_bad_input(fn):
    """``conv2d_backward`` raises ValueError/TypeError for inconsistent shapes and parameters."""
    rng = np.random.default_rng(423)
    x, w = rng.normal(size=(2, 3, 6, 6)), rng.normal(size=(4, 3, 3, 3))
    g = rng.normal(size=(2, 4, 4, 4))
    check_accepts(fn, (x, w, g), name="conv2d_backward")
    bad = [
        ((x[0], w, g), {}, ValueError, "x must be 4-D (N, C_in, H, W)"),
        ((x, w[0], g), {}, ValueError, "w must be 4-D (C_out, C_in, K_h, K_w)"),
        ((x, rng.normal(size=(4, 2, 3, 3)), g), {}, ValueError, "x has 3 channels but w expects 2"),
        ((x, w, g[:, :, :3]), {}, ValueError,
         "grad_out must have the output's shape (2, 4, 4, 4)"),
        ((x, w, g[:1]), {}, ValueError, "grad_out has 1 sample but x has 2"),
        ((x, w, g), {"padding": -1}, ValueError, "the padding cannot be negative"),
        ((x, rng.normal(size=(4, 3, 7, 3)), g), {}, ValueError,
         "a 7x3 kernel does not fit in a 6x6 input"),
        ((x, w, g), {"stride": 1.5}, TypeError, "the stride must be an integer"),
    ]
    for args, kwargs, exception, reason in bad:
        check_raises(fn, args, kwargs, exception=exception, reason=reason, name="conv2d_backward")
    check_rejects(fn, (x, w, g), {"stride": 0}, reason="the stride must be at least 1",
                  name="conv2d_backward",
                  cause="stride 0 is accepted: check stride >= 1 before dividing by it")


def check_numerical_gradient_rejects_bad_input(fn):
    """``numerical_gradient`` raises for a non-positive eps and for a non-scalar f."""
    x = np.arange(3.0)
    square = SumOfPowers(2)
    check_accepts(fn, (square, x), name="numerical_gradient")
    for eps in (0.0, -1e-3):
        check_rejects(fn, (square, x), {"eps": eps}, reason="eps must be positive",
                      name="numerical_gradient",
                      cause="eps is not checked: test `eps > 0` before dividing by 2 * eps")
    check_raises(fn, (Scaled(2.0), x), exception=(ValueError, TypeError),
                 reason="f returns an array of 3 values; a gradient needs a scalar f",
                 name="numerical_gradient")
