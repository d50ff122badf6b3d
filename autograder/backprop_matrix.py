"""Checks of notebook 04 (backprop as an unrolled sparse matrix).

Oracles are independent of the exercises: PyTorch's ``F.conv1d``/``F.conv2d`` applied to every
unit impulse (the columns of the unrolled matrix ``M`` are the layer's responses to the impulses),
PyTorch autograd for the gradients (``dx``, ``dw``, ``db`` and the gradients of smooth test
functions), and SciPy's ``correlate2d``/``convolve2d`` for the single-channel identities
(``dw`` is a correlation of the input with the output gradient, ``dx`` a full convolution of the
output gradient with the kernel). Every ``check_*`` function raises ``CheckFailure`` with a
readable message, or returns ``None``.

A sparse matrix from a student is read through its CSR arrays (``data``, ``indices``,
``indptr``) with numpy's own operations, never through methods a subclass could override.
"""
import tracemalloc

import numpy as np
import scipy.linalg
import scipy.optimize
import scipy.signal
import scipy.sparse
import torch
import torch.nn.functional as F

from autograder.checking import (
    Case, CheckFailure, _likely_cause, call_student, check_against_oracle, check_raises,
    describe_call, difference,
)

_ndarray = np.ndarray
_CSR_TYPES = tuple(t for t in (scipy.sparse.csr_matrix, getattr(scipy.sparse, "csr_array", None))
                   if t is not None)
_is_tracing, _start_tracing, _stop_tracing = (tracemalloc.is_tracing, tracemalloc.start,
                                              tracemalloc.stop)
_traced_memory, _reset_peak = tracemalloc.get_traced_memory, tracemalloc.reset_peak

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
DENSE_LIMIT_BYTES = 16 * 2 ** 20


# ----------------------------------------------------------------------------- oracles

def _pair(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def oracle_conv1d_matrix(kernel, n, stride=1, padding=0):
    """The unrolled matrix ``(n_out, n)`` of F.conv1d: its columns are the responses to impulses."""
    impulses = torch.eye(n, dtype=torch.float64)[:, None, :]  # (n, 1, n): one impulse per input
    weights = torch.as_tensor(np.asarray(kernel, dtype=np.float64))[None, None, :]
    responses = F.conv1d(impulses, weights, stride=stride, padding=padding)  # (n, 1, n_out)
    return np.ascontiguousarray(responses[:, 0, :].numpy().T)


def oracle_conv2d_matrix(kernel, input_shape, stride=1, padding=0):
    """The dense unrolled matrix ``(H_out W_out, H W)`` of F.conv2d on row-major flattened images."""
    h, w = input_shape
    impulses = torch.eye(h * w, dtype=torch.float64).reshape(h * w, 1, h, w)
    weights = torch.as_tensor(np.asarray(kernel, dtype=np.float64))[None, None]
    responses = F.conv2d(impulses, weights, stride=stride, padding=padding)  # (HW, 1, Ho, Wo)
    return np.ascontiguousarray(responses.reshape(h * w, -1).numpy().T)


def oracle_conv2d_forward(image, kernel, stride=1, padding=0):
    """F.conv2d of one image ``(H, W)`` with one kernel, flattened row-major."""
    out = F.conv2d(torch.from_numpy(image)[None, None], torch.from_numpy(kernel)[None, None],
                   stride=stride, padding=padding)
    return out.reshape(-1).numpy()


def oracle_conv2d_backward(x, w, grad_out, stride=1, padding=0):
    """``(dx, dw, db)`` of ``sum(grad_out * F.conv2d(x, w, b, stride, padding))`` by autograd."""
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    wt = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    bt = torch.zeros(w.shape[0], dtype=torch.float64, requires_grad=True)
    out = F.conv2d(xt, wt, bt, stride=stride, padding=padding)
    out.backward(torch.as_tensor(np.asarray(grad_out, dtype=np.float64)))
    return xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()


def oracle_input_gradient(image, kernel, grad, stride=1, padding=0):
    """Autograd's gradient of ``sum(grad * F.conv2d(image, kernel))`` for one image, flattened."""
    dx, _, _ = oracle_conv2d_backward(image[None, None], kernel[None, None],
                                      grad.reshape(1, 1, *_out_shape(image.shape, kernel.shape,
                                                                     stride, padding)),
                                      stride, padding)
    return dx.reshape(-1)


def _out_shape(input_shape, kernel_shape, stride, padding):
    (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
    return ((input_shape[0] + 2 * ph - kernel_shape[0]) // sh + 1,
            (input_shape[1] + 2 * pw - kernel_shape[1]) // sw + 1)


# ----------------------------------------------------------------------------- sparse results

def _csr_parts(matrix, name):
    """``(rows, columns, values, shape)`` of a student's CSR matrix; CheckFailure if it is not one."""
    if type(matrix) not in _CSR_TYPES:
        if type(matrix) is _ndarray:
            raise CheckFailure(
                f"{name} returned a dense numpy.ndarray; return a scipy.sparse CSR matrix, e.g. "
                "scipy.sparse.csr_matrix((values, (rows, columns)), shape=(H_out * W_out, H * W))")
        if scipy.sparse.issparse(matrix) and isinstance(matrix, _CSR_TYPES):
            raise CheckFailure(f"{name} returned {type(matrix).__name__}, a subclass of scipy's CSR "
                               "matrix; return scipy.sparse.csr_matrix itself")
        if scipy.sparse.issparse(matrix):
            raise CheckFailure(f"{name} returned a sparse matrix in {matrix.format!r} format; "
                               "return CSR (convert with .tocsr())")
        raise CheckFailure(f"{name} returned {type(matrix).__module__}.{type(matrix).__name__}; "
                           "return a scipy.sparse CSR matrix")
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


def _csr_matvec(parts, vector):
    rows, columns, values, shape = parts
    out = np.zeros(shape[0])
    np.add.at(out, rows, values * vector[columns])
    return out


# ----------------------------------------------------------------------------- likely mistakes

def _mistakes_conv1d_matrix(kernel, n, stride=1, padding=0):
    found = [(KERNEL_FLIPPED, oracle_conv1d_matrix(kernel[::-1].copy(), n, stride, padding)),
             ("M is transposed: it has one row per output and one column per input",
              oracle_conv1d_matrix(kernel, n, stride, padding).T)]
    if padding:
        found.append((PADDING_COLUMNS_KEPT, oracle_conv1d_matrix(kernel, n + 2 * padding, stride)))
    if stride > 1:
        n_out = (n + 2 * padding - len(kernel)) // stride + 1
        found.append(("the stride is ignored: row r starts at column r * stride - padding",
                      oracle_conv1d_matrix(kernel, n, 1, padding)[:n_out]))
    return found


def _mistakes_conv2d_matrix(kernel, input_shape, stride=1, padding=0):
    h, w = input_shape
    expected = oracle_conv2d_matrix(kernel, input_shape, stride, padding)
    ho, wo = _out_shape(input_shape, kernel.shape, stride, padding)
    (ph, pw) = _pair(padding)
    found = [
        ("the kernel is rotated by 180 degrees (a convolution): M holds the kernel as it is",
         oracle_conv2d_matrix(kernel[::-1, ::-1].copy(), input_shape, stride, padding)),
        ("images are flattened column by column: flatten row-major, pixel (i, j) -> i * W + j",
         expected.reshape(ho, wo, h, w).transpose(1, 0, 3, 2).reshape(ho * wo, h * w)),
        ("the input pixels are numbered column by column: flatten row-major, pixel (a, b) -> "
         "a * W + b", expected.reshape(ho * wo, h, w).transpose(0, 2, 1).reshape(ho * wo, h * w)),
    ]
    if kernel.shape[0] == kernel.shape[1]:
        found.append(("the kernel is transposed: its first axis runs over rows (height)",
                      oracle_conv2d_matrix(kernel.T.copy(), input_shape, stride, padding)))
    if ph or pw:
        found.append((PADDING_COLUMNS_KEPT,
                      oracle_conv2d_matrix(kernel, (h + 2 * ph, w + 2 * pw), stride)))
    return found


def _mistakes_backward(x, w, grad_out, stride=1, padding=0):
    """``{part: [(description, wrong answer)]}`` for dx, dw and db."""
    dx, dw, db = oracle_conv2d_backward(x, w, grad_out, stride, padding)
    n = x.shape[0]
    (ph, pw) = _pair(padding)
    x_pad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    mistakes = {
        "dx": [("dx uses the kernel rotated by 180 degrees: scattering g[n, o, i, j] * "
                "w[o, c, m, q] back to x_pad[n, c, i S + m, j S + q] needs w as it is",
                oracle_conv2d_backward(x, w[:, :, ::-1, ::-1].copy(), grad_out, stride,
                                       padding)[0]),
               ("dx still contains the padding: crop it, dx = dx_pad[:, :, P:P + H, P:P + W]",
                oracle_conv2d_backward(x_pad, w, grad_out, stride, 0)[0])],
        "dw": [("dw is not summed over the batch: only the first sample's gradient",
                oracle_conv2d_backward(x[:1], w, grad_out[:1], stride, padding)[1]),
               ("dw is averaged over the batch: the loss sums over the samples, so sum",
                dw / n),
               ("dw is rotated by 180 degrees: it is a correlation of x with g, not a convolution",
                dw[:, :, ::-1, ::-1])],
        "db": [("db only sums the first sample: sum g over the batch and all positions",
                grad_out[0].sum(axis=(1, 2))),
               ("db is averaged instead of summed over the batch and positions",
                grad_out.mean(axis=(0, 2, 3)))],
    }
    if x.shape[1] == w.shape[0]:
        mistakes["dx"].append((
            "dx uses w with its channel axes swapped: dx[n, c] sums over output channels o of "
            "g[n, o] and w[o, c]",
            oracle_conv2d_backward(x, w.transpose(1, 0, 2, 3).copy(), grad_out, stride,
                                   padding)[0]))
    return mistakes


# ----------------------------------------------------------------------------- random cases

def _rng(seed):
    return np.random.default_rng(seed)


def _random_stride_padding(rng, i):
    """A stride and a padding: an int (even i) or an (h, w) pair (odd i)."""
    if i % 2:
        return (tuple(int(v) for v in rng.integers(1, 4, size=2)),
                tuple(int(v) for v in rng.integers(0, 3, size=2)))
    return int(rng.integers(1, 4)), int(rng.integers(0, 3))


def cases_conv1d_matrix(seed, n_cases=20, *, strided):
    """Random ``(kernel, n)`` cases; with ``strided``, strides 1-3 and paddings 0-3."""
    rng = _rng(seed)
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


def cases_conv2d_matrix(seed, n_cases=15, *, strided):
    """Random ``(kernel, (H, W))`` cases, non-square; with ``strided``, ints and (h, w) pairs."""
    rng = _rng(seed)
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


def cases_conv2d_backward(seed, n_cases=12, *, strided):
    """Random NCHW ``(x, w, grad_out)`` cases; with ``strided``, strides and paddings."""
    rng = _rng(seed)
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
        out = _out_shape((h, w), (kh, kw), stride, padding)
        args = (rng.normal(size=(n, c_in, h, w)), rng.normal(size=(c_out, c_in, kh, kw)),
                rng.normal(size=(n, c_out) + out))
        cases.append(Case(args, {"stride": stride, "padding": padding} if strided else {}))
    return cases


class SmoothFunction:
    """A scalar test function: called on a numpy array; ``torch`` is its autograd twin."""

    def __init__(self, label, numpy_fn, torch_fn):
        self.label, self.numpy_fn, self.torch_fn = label, numpy_fn, torch_fn

    def __call__(self, x):
        return self.numpy_fn(x)

    def __repr__(self):
        return self.label


def _numpy_conv2d(x, w):
    windows = np.lib.stride_tricks.sliding_window_view(x, w.shape[2:], axis=(2, 3))
    return np.tensordot(windows, w, axes=([1, 4, 5], [1, 2, 3])).transpose(0, 3, 1, 2)


def smooth_functions(seed):
    """``[(SmoothFunction, x, eps)]``: smooth scalar functions of arrays of several shapes."""
    rng = _rng(seed)
    a, v = rng.normal(size=7), rng.normal(size=(3, 2))
    w, g = rng.normal(size=(2, 2, 3, 3)) / 3, rng.normal(size=(1, 2, 3, 3))
    q = rng.normal(size=(6, 6))
    sym, b = q @ q.T / 6 + np.eye(6), rng.normal(size=6)
    c = rng.normal(size=(3, 3))
    return [
        (SmoothFunction("f(x) = sum(a * sin(x)) + sum(x**2) / 2",
                        lambda x: np.sum(a * np.sin(x)) + np.sum(x ** 2) / 2,
                        lambda x: (torch.sum(torch.from_numpy(a) * torch.sin(x))
                                   + torch.sum(x ** 2) / 2)),
         rng.normal(size=7), 1e-6),
        (SmoothFunction("f(x) = log(sum(exp(x)))", lambda x: np.log(np.sum(np.exp(x))),
                        lambda x: torch.logsumexp(x.reshape(-1), 0)),
         rng.normal(size=(3, 4)), 1e-6),
        (SmoothFunction("f(x) = sum(tanh(x @ v)) for x (4, 3)", lambda x: np.sum(np.tanh(x @ v)),
                        lambda x: torch.sum(torch.tanh(x @ torch.from_numpy(v)))),
         rng.normal(size=(4, 3)), 1e-5),
        (SmoothFunction("f(x) = sum(g * tanh(conv2d(x, w))) for x (1, 2, 5, 5)",
                        lambda x: np.sum(g * np.tanh(_numpy_conv2d(x, w))),
                        lambda x: torch.sum(torch.from_numpy(g) * torch.tanh(
                            F.conv2d(x, torch.from_numpy(w))))),
         rng.normal(size=(1, 2, 5, 5)), 1e-6),
        (SmoothFunction("f(x) = x @ A @ x / 2 + b @ x (a quadratic)",
                        lambda x: x @ sym @ x / 2 + b @ x,
                        lambda x: x @ torch.from_numpy(sym) @ x / 2 + torch.from_numpy(b) @ x),
         rng.normal(size=6), 1e-2),
        (SmoothFunction("f(x) = sum(x * (C @ x)) for x (3, 2) (a quadratic)",
                        lambda x: np.sum(x * (c @ x)),
                        lambda x: torch.sum(x * (torch.from_numpy(c) @ x))),
         rng.normal(size=(3, 2)), 0.25),
    ]


# ----------------------------------------------------------------------------- checks

def check_conv1d_matrix(fn, seed=401, n_cases=20, *, strided=False):
    """``conv1d_matrix`` equals the unrolled F.conv1d; ``M @ x`` equals F.conv1d(x), from scratch."""
    cases = cases_conv1d_matrix(seed, n_cases, strided=strided)
    check_against_oracle(fn, oracle_conv1d_matrix, cases, name="conv1d_matrix",
                         forbidden=LIBRARY_MATRIX, likely_mistakes=_mistakes_conv1d_matrix)
    rng = _rng(seed + 1)
    for case in cases[:5]:
        kernel, n = case.args
        matrix = call_student(fn, case.args, case.kwargs, name="conv1d_matrix",
                              forbidden=LIBRARY_MATRIX)
        x = rng.normal(size=n)
        expected = F.conv1d(torch.from_numpy(x)[None, None], torch.from_numpy(kernel)[None, None],
                            stride=case.kwargs.get("stride", 1),
                            padding=case.kwargs.get("padding", 0)).reshape(-1).numpy()
        message = difference(matrix @ x, expected)
        if message is not None:
            call = describe_call("conv1d_matrix", case.args, case.kwargs)
            raise CheckFailure(f"M @ x with M = {call} differs from F.conv1d(x): {message}")


def check_conv1d_matrix_rejects_bad_input(fn):
    """``conv1d_matrix`` raises ValueError/TypeError for impossible kernels and parameters."""
    rng = _rng(402)
    k = rng.normal(size=3)
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


def check_conv2d_matrix(fn, seed=411, n_cases=15, *, strided=False):
    """``conv2d_matrix`` is the CSR unrolled F.conv2d: ``M @ x`` is the correlation, ``M.T @ g`` dx."""
    rng = _rng(seed + 1)
    for case in cases_conv2d_matrix(seed, n_cases, strided=strided):
        kernel, shape = case.args
        call = describe_call("conv2d_matrix", case.args, case.kwargs)
        result = call_student(fn, case.args, case.kwargs, name="conv2d_matrix",
                              forbidden=LIBRARY_MATRIX)
        dense = csr_to_dense(result)
        message = difference(dense, oracle_conv2d_matrix(kernel, shape, **case.kwargs))
        if message is not None:
            likely = _mistakes_conv2d_matrix(*case.args, **case.kwargs)
            raise CheckFailure(f"{call}.toarray() {message}"
                               f"{_likely_cause(dense, likely, 1e-6, 1e-9)}")
        parts = _csr_parts(result, "conv2d_matrix")
        image = rng.normal(size=shape)
        message = difference(_csr_matvec(parts, image.reshape(-1)),
                             oracle_conv2d_forward(image, kernel, **case.kwargs))
        if message is not None:
            raise CheckFailure(f"M @ x.ravel() with M = {call} differs from F.conv2d: {message}")
        grad = rng.normal(size=parts[3][0])
        message = difference(_csr_matvec((parts[1], parts[0], parts[2], parts[3][::-1]), grad),
                             oracle_input_gradient(image, kernel, grad, **case.kwargs))
        if message is not None:
            raise CheckFailure(f"M.T @ g with M = {call} differs from autograd's input gradient: "
                               f"{message}")


def check_conv2d_matrix_is_sparse(fn, side=64, seed=412):
    """A ``side`` x ``side`` image: correct, at most K_h K_w entries a row, never dense in memory."""
    kernel = _rng(seed).normal(size=(3, 3))
    args, kwargs = (kernel, (side, side)), {"padding": 1}
    was_tracing = _is_tracing()
    if not was_tracing:
        _start_tracing()
    _reset_peak()
    baseline = _traced_memory()[0]
    try:
        result = call_student(fn, args, kwargs, name="conv2d_matrix", forbidden=LIBRARY_MATRIX)
        still_tracing = _is_tracing()
        peak = _traced_memory()[1] - baseline
    finally:
        if not was_tracing and _is_tracing():
            _stop_tracing()
    if not still_tracing:
        raise CheckFailure("conv2d_matrix stopped tracemalloc, which this check uses to measure "
                           "its memory; leave it running")
    call = describe_call("conv2d_matrix", args, kwargs)
    parts = _csr_parts(result, "conv2d_matrix")
    rows, columns = side * side, side * side
    if parts[3] != (rows, columns):
        raise CheckFailure(f"{call} has shape {parts[3]}, expected {(rows, columns)}")
    dense_bytes = rows * columns * 8
    if peak > DENSE_LIMIT_BYTES:
        raise CheckFailure(
            f"{call} used {peak / 2 ** 20:.0f} MB of memory while it ran; the dense "
            f"{rows} x {columns} matrix takes {dense_bytes / 2 ** 20:.0f} MB, the sparse one "
            "under 1 MB. Do not build a dense matrix: build index arrays (rows, columns, values) "
            "of the non-zero entries and call scipy.sparse.csr_matrix((values, (rows, columns)), "
            "shape=...).")
    if len(parts[2]) > 9 * rows:
        raise CheckFailure(f"{call} stores {len(parts[2])} entries, more than the 9 per row a 3x3 "
                           "kernel can fill: it stores duplicates or zeros")
    image = _rng(seed + 1).normal(size=(side, side))
    message = difference(_csr_matvec(parts, image.reshape(-1)),
                         oracle_conv2d_forward(image, kernel, padding=1))
    if message is not None:
        raise CheckFailure(f"M @ x.ravel() with M = {call} differs from F.conv2d: {message}")


def check_conv2d_matrix_rejects_bad_input(fn):
    """``conv2d_matrix`` raises ValueError/TypeError for impossible kernels, shapes and parameters."""
    rng = _rng(413)
    k = rng.normal(size=(3, 3))
    bad = [
        ((rng.normal(size=3), (5, 5)), {}, ValueError, "the kernel must be 2-D (K_h, K_w)"),
        ((k, (5, 5, 5)), {}, ValueError, "input_shape must be a pair (H, W)"),
        ((k, (0, 5)), {}, ValueError, "the image height must be at least 1"),
        ((k, (2, 5)), {}, ValueError, "a 3x3 kernel does not fit in a 2x5 image with padding 0"),
        ((rng.normal(size=(3, 6)), (5, 5)), {"padding": (0, 0)}, ValueError,
         "a 3x6 kernel is wider than a 5x5 image"),
        ((k, (5, 5)), {"stride": 0}, ValueError, "the stride must be at least 1"),
        ((k, (5, 5)), {"padding": -1}, ValueError, "the padding cannot be negative"),
        ((k, (5, 5)), {"stride": 2.5}, TypeError, "the stride must be an integer"),
    ]
    for args, kwargs, exception, reason in bad:
        check_raises(fn, args, kwargs, exception=exception, reason=reason, name="conv2d_matrix")


def _backward_parts(result, call):
    """``{"dx": ..., "dw": ..., "db": ...}`` from a student's result; CheckFailure if not a triple."""
    if not isinstance(result, tuple) or len(result) != 3:
        raise CheckFailure(f"{call} must return a tuple (dx, dw, db), got "
                           f"{type(result).__name__}")
    return dict(zip(("dx", "dw", "db"), result))


def check_conv2d_backward(fn, seed=421, n_cases=12, *, strided=False):
    """``conv2d_backward`` matches PyTorch autograd of F.conv2d (with bias), from scratch."""
    for case in cases_conv2d_backward(seed, n_cases, strided=strided):
        call = describe_call("conv2d_backward", case.args, case.kwargs)
        result = call_student(fn, case.args, case.kwargs, name="conv2d_backward",
                              forbidden=LIBRARY_BACKWARD)
        parts = _backward_parts(result, call)
        expected = dict(zip(("dx", "dw", "db"), oracle_conv2d_backward(*case.args, **case.kwargs)))
        for part in ("dx", "dw", "db"):
            message = difference(parts[part], expected[part])
            if message is not None:
                likely = _mistakes_backward(*case.args, **case.kwargs)[part]
                raise CheckFailure(f"{call}: {part} {message}"
                                   f"{_likely_cause(parts[part], likely, 1e-6, 1e-9)}")


def check_conv2d_backward_single_channel(fn, seed=422, n_cases=10):
    """One channel, stride 1: dw = correlate2d(x, g), dx = convolve2d(g, w, "full"), db = sum(g)."""
    rng = _rng(seed)
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
    rng = _rng(423)
    x, w = rng.normal(size=(2, 3, 6, 6)), rng.normal(size=(4, 3, 3, 3))
    g = rng.normal(size=(2, 4, 4, 4))
    bad = [
        ((x[0], w, g), {}, ValueError, "x must be 4-D (N, C_in, H, W)"),
        ((x, w[0], g), {}, ValueError, "w must be 4-D (C_out, C_in, K_h, K_w)"),
        ((x, rng.normal(size=(4, 2, 3, 3)), g), {}, ValueError, "x has 3 channels but w expects 2"),
        ((x, w, g[:, :, :3]), {}, ValueError,
         "grad_out must have the output's shape (2, 4, 4, 4)"),
        ((x, w, g[:1]), {}, ValueError, "grad_out has 1 sample but x has 2"),
        ((x, w, g), {"stride": 0}, ValueError, "the stride must be at least 1"),
        ((x, w, g), {"padding": -1}, ValueError, "the padding cannot be negative"),
        ((x, rng.normal(size=(4, 3, 7, 3)), g), {}, ValueError,
         "a 7x3 kernel does not fit in a 6x6 input"),
        ((x, w, g), {"stride": 1.5}, TypeError, "the stride must be an integer"),
    ]
    for args, kwargs, exception, reason in bad:
        check_raises(fn, args, kwargs, exception=exception, reason=reason, name="conv2d_backward")


def oracle_gradient(f, x, eps=1e-6):
    """Autograd's gradient of the SmoothFunction ``f`` at ``x`` (``eps`` is not used)."""
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    f.torch_fn(xt).backward()
    return xt.grad.numpy()


def _mistakes_numerical_gradient(f, x, eps=1e-6):
    grad = oracle_gradient(f, x)
    forward = np.zeros_like(x)
    base = float(f(x))
    for index in np.ndindex(x.shape):
        step = x.copy()
        step[index] += eps
        forward[index] = (float(f(step)) - base) / eps
    return [("the step is not divided by 2: central differences divide by 2 * eps", 2 * grad),
            ("these are forward differences (f(x + eps) - f(x)) / eps: use central ones, "
             "(f(x + eps) - f(x - eps)) / (2 eps), whose error is O(eps^2), not O(eps)", forward)]


def check_numerical_gradient(fn, seed=431, rtol=1e-6, atol=1e-8):
    """``numerical_gradient`` matches autograd on smooth functions; quadratics exactly for any eps."""
    cases = [Case((f, x), {"eps": eps}) for f, x, eps in smooth_functions(seed)]
    check_against_oracle(fn, oracle_gradient, cases, name="numerical_gradient", rtol=rtol,
                         atol=atol, forbidden=LIBRARY_NUMERICAL,
                         likely_mistakes=_mistakes_numerical_gradient)


def check_numerical_gradient_rejects_bad_input(fn):
    """``numerical_gradient`` raises for a non-positive eps and for a non-scalar f."""
    x = np.arange(3.0)
    square = SmoothFunction("f(x) = sum(x**2)", lambda v: np.sum(v ** 2), None)
    vector = SmoothFunction("f(x) = 2 * x (not a scalar)", lambda v: 2 * v, None)
    check_raises(fn, (square, x), {"eps": 0.0}, reason="eps must be positive",
                 name="numerical_gradient")
    check_raises(fn, (square, x), {"eps": -1e-3}, reason="eps must be positive",
                 name="numerical_gradient")
    check_raises(fn, (vector, x), exception=(ValueError, TypeError),
                 reason="f returns an array of 3 values; a gradient needs a scalar f",
                 name="numerical_gradient")
