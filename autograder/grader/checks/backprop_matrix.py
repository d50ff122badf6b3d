"""Hidden checks of notebook 04 (backprop as an unrolled sparse matrix): grader only.

The unrolled matrices are compared entry by entry with PyTorch's convolution applied to every unit
impulse (the columns of ``M`` are the layer's responses to the impulses); likely wrong matrices
are built the same way from rearranged impulses. Numerical gradients are compared with autograd
through the ``torch_value`` twin of each test function (``autograder.backprop_matrix``); the
wrong answers of likely mistakes (forward differences, entries not put back) are computed here.
"""
import numpy as np
import torch
import torch.nn.functional as F

from autograder.backprop_matrix import (
    KERNEL_FLIPPED, KERNEL_ROTATED, KERNEL_TRANSPOSED, INPUT_COLUMN_MAJOR, BOTH_COLUMN_MAJOR,
    LIBRARY_MATRIX, LIBRARY_NUMERICAL, M_TRANSPOSED, ONE_ROW_SHORT, ONE_SIDED_PADDING,
    PADDING_COLUMNS_KEPT, STRIDE_IGNORED, LogSumExp, Quadratic, TanhOfProduct, WeightedSines,
    _conv_output_shape, _pair, _tensor, cases_conv1d_matrix, cases_conv2d_matrix, csr_to_dense,
)
from autograder.checking import (
    Case, CheckFailure, _likely_cause, call_student, check_against_oracle, describe_call,
    difference, make_rng,
)

STRIDE_IGNORED_2D = ("the stride is ignored (along one axis or both): output (i, j) reads the "
                     "window at input row i * S_h - P_h, column j * S_w - P_w")
PADDING_SWAPPED = ("the padding of one axis is used for the other: P_h pads the rows (height), "
                   "P_w the columns (width)")


# ----------------------------------------------------------------------------- oracles

def oracle_conv1d_matrix(kernel, n, stride=1, padding=0):
    """The unrolled matrix ``(n_out, n)`` of F.conv1d: its columns are the responses to impulses."""
    impulses = torch.eye(n, dtype=torch.float64)[:, None, :]  # (n, 1, n): one impulse per input
    weights = _tensor(kernel)[None, None, :]
    responses = F.conv1d(impulses, weights, stride=stride, padding=padding)  # (n, 1, n_out)
    return np.ascontiguousarray(responses[:, 0, :].numpy().T)


def oracle_conv2d_matrix(kernel, input_shape, stride=1, padding=0):
    """The dense unrolled matrix ``(H_out W_out, H W)`` of F.conv2d on row-major flattened images."""
    out = _conv_output_shape(input_shape, np.shape(kernel), stride, padding)
    return windows_matrix(kernel, input_shape, out, stride, _pair(padding))


def windows_matrix(kernel, input_shape, out_shape, stride, offset):
    """The dense matrix whose row ``(i, j)`` holds the kernel at input row ``i S_h - offset_h``,
    column ``j S_w - offset_w`` (entries outside the image dropped), for ``out_shape`` outputs.

    With ``offset`` = the padding and ``out_shape`` PyTorch's, it is the unrolled F.conv2d; other
    offsets, strides and shapes give the matrices of likely mistakes. Built by F.conv2d of the
    unit impulses, padded by ``offset`` at the top and left and by enough zeros at the bottom
    and right.
    """
    (h, w), (kh, kw) = input_shape, np.shape(kernel)
    (sh, sw), (oh, ow), (ho, wo) = _pair(stride), offset, out_shape
    impulses = torch.eye(h * w, dtype=torch.float64).reshape(h * w, 1, h, w)
    bottom = max(0, (ho - 1) * sh + kh - h - oh)
    right = max(0, (wo - 1) * sw + kw - w - ow)
    padded = F.pad(impulses, (ow, right, oh, bottom))
    weights = _tensor(kernel)[None, None]
    responses = F.conv2d(padded, weights, stride=(sh, sw))[:, 0, :ho, :wo]
    return np.ascontiguousarray(responses.reshape(h * w, ho * wo).numpy().T)


# ----------------------------------------------------------------------------- likely mistakes

def _mistakes_conv1d_matrix(kernel, n, stride=1, padding=0):
    right = oracle_conv1d_matrix(kernel, n, stride, padding)
    found = [(KERNEL_FLIPPED, oracle_conv1d_matrix(kernel[::-1].copy(), n, stride, padding)),
             (M_TRANSPOSED, right.T)]
    if len(right) > 1:
        found.append((ONE_ROW_SHORT, right[:-1]))
    if padding:
        found.append((PADDING_COLUMNS_KEPT, oracle_conv1d_matrix(kernel, n + 2 * padding, stride)))
        found.append((ONE_SIDED_PADDING,
                      oracle_conv1d_matrix(kernel, n + 2 * padding, stride)[:, :n]))
    if stride > 1:
        found.append((STRIDE_IGNORED, oracle_conv1d_matrix(kernel, n, 1, padding)[:len(right)]))
    return found


def _mistakes_conv2d_matrix(kernel, input_shape, stride=1, padding=0):
    h, w = input_shape
    (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
    out = _conv_output_shape(input_shape, kernel.shape, stride, padding)
    expected = windows_matrix(kernel, input_shape, out, stride, (ph, pw))
    ho, wo = out
    found = [
        (KERNEL_ROTATED, windows_matrix(kernel[::-1, ::-1], input_shape, out, stride, (ph, pw))),
        (BOTH_COLUMN_MAJOR,
         expected.reshape(ho, wo, h, w).transpose(1, 0, 3, 2).reshape(ho * wo, h * w)),
        (INPUT_COLUMN_MAJOR, expected.reshape(ho * wo, h, w).transpose(0, 2, 1).reshape(ho * wo, h * w)),
    ]
    if kernel.shape[0] == kernel.shape[1]:
        found.append((KERNEL_TRANSPOSED, windows_matrix(kernel.T, input_shape, out, stride, (ph, pw))))
    if ph or pw:
        padded_shape = (h + 2 * ph, w + 2 * pw)
        found.append((PADDING_COLUMNS_KEPT, windows_matrix(kernel, padded_shape, out, stride, (0, 0))))
    if ph != pw:
        found += [(PADDING_SWAPPED, windows_matrix(kernel, input_shape, out, stride, (ph, ph))),
                  (PADDING_SWAPPED, windows_matrix(kernel, input_shape, out, stride, (pw, pw))),
                  (PADDING_SWAPPED, windows_matrix(kernel, input_shape, out, stride, (pw, ph)))]
    for ignored in {(1, sw), (sh, 1), (1, 1)} - {(sh, sw)}:
        found.append((STRIDE_IGNORED_2D, windows_matrix(kernel, input_shape, out, ignored, (ph, pw))))
    return found


# ----------------------------------------------------------------------------- checks

def check_conv1d_matrix(fn, seed=None, n_cases=20, *, strided=False):
    """``conv1d_matrix`` equals the unrolled F.conv1d entry by entry, from scratch."""
    cases = cases_conv1d_matrix(make_rng(seed), n_cases, strided=strided)
    check_against_oracle(fn, oracle_conv1d_matrix, cases, name="conv1d_matrix",
                         forbidden=LIBRARY_MATRIX, likely_mistakes=_mistakes_conv1d_matrix)


def check_conv2d_matrix(fn, seed=None, n_cases=15, *, strided=False):
    """``conv2d_matrix`` is the CSR matrix of the unrolled F.conv2d, entry by entry, from scratch."""
    for case in cases_conv2d_matrix(make_rng(seed), n_cases, strided=strided):
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


# ----------------------------------------------------------------------------- numerical gradient

def smooth_functions(rng):
    """``[(test function, x, eps)]``: smooth scalar functions of arrays of several shapes.

    The two quadratics use large steps: central differences are exact on them whatever eps.
    """
    q = rng.normal(size=(6, 6))
    return [
        (WeightedSines(rng.normal(size=7), 1.0), rng.normal(size=7), 1e-6),
        (LogSumExp(), rng.normal(size=(3, 4)), 1e-6),
        (TanhOfProduct(rng.normal(size=(3, 2))), rng.normal(size=(4, 3)), 1e-5),
        (TanhOfProduct(rng.normal(size=(5, 3)) / 3), rng.normal(size=(1, 2, 5, 5)), 1e-6),
        (Quadratic(q @ q.T / 6 + np.eye(6), rng.normal(size=6)), rng.normal(size=6), 1e-2),
        (Quadratic(rng.normal(size=(3, 3)), rng.normal(size=(3, 2))), rng.normal(size=(3, 2)), 0.25),
    ]


def oracle_gradient(f, x, eps=1e-6):
    """Autograd's gradient of the test function ``f`` at ``x`` (``eps`` is not used)."""
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    f.torch_value(xt).backward()
    return xt.grad.numpy()


def _differences(f, x, eps, *, central, restore):
    """Finite differences of ``f`` at ``x``: central or forward, entries put back or not."""
    point = np.array(x, dtype=np.float64)
    grad = np.zeros_like(point)
    base = float(f(point)) if not central else None
    for index in np.ndindex(point.shape):
        original = float(x[index])
        point[index] = original + eps
        plus = float(f(point))
        if central:
            point[index] = original - eps
            grad[index] = (plus - float(f(point))) / (2 * eps)
        else:
            grad[index] = (plus - base) / eps
        if restore:
            point[index] = original
    return grad


def _mistakes_numerical_gradient(f, x, eps=1e-6):
    grad = oracle_gradient(f, x)
    found = [("the step is not divided by 2: central differences divide by 2 * eps", 2 * grad),
             ("these are forward differences (f(x + eps) - f(x)) / eps: use central ones, "
              "(f(x + eps) - f(x - eps)) / (2 eps), whose error is O(eps^2), not O(eps)",
              _differences(f, x, eps, central=False, restore=True)),
             ("x's entries are not put back after their step: restore x[i] before moving on to "
              "the next entry", _differences(f, x, eps, central=True, restore=False))]
    if x.ndim > 1:
        found.append(("the gradient is flattened: return it in x's shape", grad.ravel()))
    return found


def check_numerical_gradient(fn, seed=None, rtol=1e-6, atol=1e-8):
    """``numerical_gradient`` matches autograd on smooth functions; quadratics exactly for any eps."""
    cases = [Case((f, x), {"eps": eps}) for f, x, eps in smooth_functions(make_rng(seed))]
    check_against_oracle(fn, oracle_gradient, cases, name="numerical_gradient", rtol=rtol,
                         atol=atol, forbidden=LIBRARY_NUMERICAL,
                         likely_mistakes=_mistakes_numerical_gradient)
