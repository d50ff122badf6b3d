"""Unit tests of the checks of notebook 04 (autograder.backprop_matrix).

The reference implementations are the solution cells of the source notebook; the wrong ones are
written here, each with the mistake the check must name.
"""
import numpy as np
import pytest
import scipy.signal
import scipy.sparse
import torch
import torch.nn.functional as F

from autograder import backprop_matrix as checks
from autograder.grader import notebooks
from autograder.checking import CheckFailure

SOURCE = "solutions/04_backprop_matrix/04_backprop_matrix.ipynb"


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny tensors: one torch thread, as in the notebook's set-up cell."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def unguarded(monkeypatch):
    """The from-scratch guards off: the wrong answers below are built with the oracle libraries."""
    for name in ("LIBRARY_MATRIX", "LIBRARY_BACKWARD", "LIBRARY_NUMERICAL"):
        monkeypatch.setattr(checks, name, ())


@pytest.fixture(scope="module")
def reference(repo):
    """The solution cells of the notebook, executed: ``{name: function}``."""
    return notebooks.solution_namespace(notebooks.read(repo / SOURCE), {"np": np, "scipy": scipy})


# ----------------------------------------------------------------------------- oracles

def test_oracle_conv1d_matrix_is_the_hand_worked_matrix():
    np.testing.assert_array_equal(checks.oracle_conv1d_matrix(np.array([1.0, 2.0, 3.0]), 4, padding=1),
                                  [[2, 3, 0, 0], [1, 2, 3, 0], [0, 1, 2, 3], [0, 0, 1, 2]])
    np.testing.assert_array_equal(checks.oracle_conv1d_matrix(np.array([1.0, 2.0, 3.0]), 5, stride=2),
                                  [[1, 2, 3, 0, 0], [0, 0, 1, 2, 3]])


@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1), ((1, 3), (2, 0))])
def test_oracle_conv2d_matrix_times_image_is_scipy_correlation(stride, padding):
    rng = np.random.default_rng(0)
    image, kernel = rng.normal(size=(7, 9)), rng.normal(size=(3, 2))
    (sh, sw), (ph, pw) = checks._pair(stride), checks._pair(padding)
    padded = np.pad(image, ((ph, ph), (pw, pw)))
    expected = scipy.signal.correlate2d(padded, kernel, mode="valid")[::sh, ::sw]
    matrix = checks.oracle_conv2d_matrix(kernel, image.shape, stride, padding)
    assert matrix.shape == (expected.size, image.size)
    np.testing.assert_allclose(matrix @ image.ravel(), expected.ravel())


def test_oracle_backward_single_channel_identities():
    rng = np.random.default_rng(1)
    image, kernel, grad = rng.normal(size=(6, 5)), rng.normal(size=(3, 2)), rng.normal(size=(4, 4))
    dx, dw, db = checks.oracle_conv2d_backward(image[None, None], kernel[None, None], grad[None, None])
    np.testing.assert_allclose(dw[0, 0], scipy.signal.correlate2d(image, grad, mode="valid"))
    np.testing.assert_allclose(dx[0, 0], scipy.signal.convolve2d(grad, kernel, mode="full"))
    np.testing.assert_allclose(db, [grad.sum()])
    matrix = checks.oracle_conv2d_matrix(kernel, image.shape)
    np.testing.assert_allclose(matrix.T @ grad.ravel(), dx.ravel())


@pytest.mark.parametrize("seed", [431, 432])
def test_smooth_functions_numpy_and_torch_twins_agree(seed):
    for function, x, _ in checks.smooth_functions(seed):
        value = function.torch_fn(torch.from_numpy(x)).item()
        assert np.isclose(float(function(x)), value), function


def test_quadratic_cases_use_large_steps():
    quadratics = [(f, eps) for f, _, eps in checks.smooth_functions(431) if "quadratic" in repr(f)]
    assert len(quadratics) == 2 and all(eps >= 1e-2 for _, eps in quadratics)


# ----------------------------------------------------------------------------- sparse results

def test_csr_to_dense_reads_csr_matrices_and_arrays_and_sums_duplicates():
    values, rows, columns = np.array([1.0, 2.0, 3.0]), np.array([0, 1, 1]), np.array([2, 0, 0])
    for kind in (scipy.sparse.csr_matrix, scipy.sparse.csr_array):
        matrix = kind((values, (rows, columns)), shape=(2, 3))
        np.testing.assert_array_equal(checks.csr_to_dense(matrix), [[0, 0, 1], [5, 0, 0]])
    raw = scipy.sparse.csr_matrix((values, columns, np.array([0, 1, 3])), shape=(2, 3))
    np.testing.assert_array_equal(checks.csr_to_dense(raw), [[0, 0, 1], [5, 0, 0]])


@pytest.mark.parametrize("value, message", [
    (np.eye(3), "dense numpy.ndarray"),
    (scipy.sparse.coo_matrix(np.eye(3)), "'coo' format"),
    ([[1.0]], "builtins.list"),
])
def test_csr_to_dense_rejects_everything_else(value, message):
    with pytest.raises(CheckFailure, match=message):
        checks.csr_to_dense(value)


def test_csr_to_dense_rejects_subclasses_and_integer_values():
    class Lying(scipy.sparse.csr_matrix):
        def toarray(self, *args, **kwargs):
            return np.zeros(self.shape)

    with pytest.raises(CheckFailure, match="Lying"):
        checks.csr_to_dense(Lying(np.eye(2)))
    with pytest.raises(CheckFailure, match="floating-point"):
        checks.csr_to_dense(scipy.sparse.csr_matrix(np.eye(2, dtype=int)))


# ----------------------------------------------------------------------------- the reference passes

def test_reference_passes_every_check(reference):
    checks.check_conv1d_matrix(reference["conv1d_matrix"])
    checks.check_conv1d_matrix(reference["conv1d_matrix"], strided=True)
    checks.check_conv1d_matrix_rejects_bad_input(reference["conv1d_matrix"])
    checks.check_conv2d_matrix(reference["conv2d_matrix"], strided=True)
    checks.check_conv2d_matrix_is_sparse(reference["conv2d_matrix"])
    checks.check_conv2d_matrix_rejects_bad_input(reference["conv2d_matrix"])
    checks.check_conv2d_backward(reference["conv2d_backward"], strided=True)
    checks.check_conv2d_backward_single_channel(reference["conv2d_backward"])
    checks.check_conv2d_backward_rejects_bad_input(reference["conv2d_backward"])
    checks.check_numerical_gradient(reference["numerical_gradient"])
    checks.check_numerical_gradient_rejects_bad_input(reference["numerical_gradient"])


# ----------------------------------------------------------------------------- mistakes are named

def _conv1d_flipped(kernel, n, stride=1, padding=0):
    return checks.oracle_conv1d_matrix(kernel[::-1].copy(), n, stride, padding)


def _conv1d_padding_kept(kernel, n, stride=1, padding=0):
    return checks.oracle_conv1d_matrix(kernel, n + 2 * padding, stride)


def _conv1d_with_library(kernel, n, stride=1, padding=0):
    columns = [np.correlate(np.pad(e, padding), kernel, "valid")[::stride] for e in np.eye(n)]
    return np.array(columns).T


def test_conv1d_matrix_must_be_built_from_scratch():
    with pytest.raises(CheckFailure, match="numpy.correlate.*from scratch"):
        checks.check_conv1d_matrix(_conv1d_with_library, n_cases=1)


@pytest.mark.parametrize("wrong, strided, message", [
    (_conv1d_flipped, False, "kernel is flipped"),
    (_conv1d_padding_kept, True, "padding zeros are columns of M"),
])
def test_conv1d_matrix_mistakes_are_named(unguarded, wrong, strided, message):
    with pytest.raises(CheckFailure, match=message):
        checks.check_conv1d_matrix(wrong, seed=5, n_cases=8, strided=strided)


def _conv2d_sparse(dense_of):
    def build(kernel, input_shape, stride=1, padding=0):
        return scipy.sparse.csr_matrix(dense_of(kernel, input_shape, stride, padding))
    return build


@pytest.mark.parametrize("wrong, message", [
    (_conv2d_sparse(lambda k, s, st, p: checks.oracle_conv2d_matrix(k[::-1, ::-1].copy(), s, st, p)),
     "rotated by 180 degrees"),
    (_conv2d_sparse(lambda k, s, st, p: checks.oracle_conv2d_matrix(k, s, st, p).reshape(-1, *s)
                    .transpose(0, 2, 1).reshape(-1, s[0] * s[1])),
     "input pixels are numbered column by column"),
    (lambda k, s, stride=1, padding=0: checks.oracle_conv2d_matrix(k, s, stride, padding),
     "dense numpy.ndarray"),
])
def test_conv2d_matrix_mistakes_are_named(unguarded, wrong, message):
    with pytest.raises(CheckFailure, match=message):
        checks.check_conv2d_matrix(wrong, seed=6, n_cases=6, strided=True)


def test_dense_construction_is_caught_by_its_memory(reference):
    def dense_then_sparse(kernel, input_shape, stride=1, padding=0):
        return scipy.sparse.csr_matrix(reference["conv2d_matrix"](kernel, input_shape, stride,
                                                                  padding).toarray())

    with pytest.raises(CheckFailure, match=r"used \d+ MB .* dense 4096 x 4096 matrix takes 128 MB"):
        checks.check_conv2d_matrix_is_sparse(dense_then_sparse)


def test_stopping_tracemalloc_does_not_hide_memory(reference):
    import tracemalloc

    def stops(kernel, input_shape, stride=1, padding=0):
        tracemalloc.stop()
        return reference["conv2d_matrix"](kernel, input_shape, stride, padding)

    with pytest.raises(CheckFailure, match="stopped tracemalloc"):
        checks.check_conv2d_matrix_is_sparse(stops)
    assert not tracemalloc.is_tracing()


def _backward_variant(part, change):
    def backward(x, w, grad_out, stride=1, padding=0):
        gradients = checks.oracle_conv2d_backward(x, w, grad_out, stride, padding)
        result = dict(zip(("dx", "dw", "db"), gradients))
        result[part] = change(x, w, grad_out, stride, padding, result[part])
        return result["dx"], result["dw"], result["db"]
    return backward


@pytest.mark.parametrize("wrong, message", [
    (_backward_variant("dw", lambda x, w, g, s, p, dw: checks.oracle_conv2d_backward(
        x[:1], w, g[:1], s, p)[1]), "dw is not summed over the batch"),
    (_backward_variant("dw", lambda x, w, g, s, p, dw: dw[:, :, ::-1, ::-1]), "dw is rotated"),
    (_backward_variant("db", lambda x, w, g, s, p, db: g.mean(axis=(0, 2, 3))), "db is averaged"),
    (_backward_variant("dx", lambda x, w, g, s, p, dx: checks.oracle_conv2d_backward(
        x, w[:, :, ::-1, ::-1].copy(), g, s, p)[0]), "dx uses the kernel rotated"),
    (lambda x, w, g, stride=1, padding=0: [np.zeros_like(x), np.zeros_like(w), np.zeros(w.shape[0])],
     r"must return a tuple \(dx, dw, db\)"),
])
def test_conv2d_backward_mistakes_are_named(unguarded, wrong, message):
    with pytest.raises(CheckFailure, match=message):
        checks.check_conv2d_backward(wrong, seed=7, n_cases=6)


def test_conv2d_backward_may_not_use_autograd():
    def autograd(x, w, grad_out, stride=1, padding=0):
        xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
        bt = torch.zeros(w.shape[0], dtype=torch.float64, requires_grad=True)
        F.conv2d(xt, wt, bt, stride=stride, padding=padding).backward(torch.from_numpy(grad_out))
        return xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()

    with pytest.raises(CheckFailure, match="from scratch"):
        checks.check_conv2d_backward(autograd, n_cases=1)


def test_single_channel_check_says_which_identity_fails(unguarded):
    wrong = _backward_variant("dw", lambda x, w, g, s, p, dw: 2 * dw)
    with pytest.raises(CheckFailure, match="dw is not the correlation of x with g"):
        checks.check_conv2d_backward_single_channel(wrong, n_cases=2)


def _forward_differences(f, x, eps=1e-6):
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        step = x.copy()
        step[index] += eps
        grad[index] = (f(step) - f(x)) / eps
    return grad


def _central_without_half(f, x, eps=1e-6):
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[index] += eps
        minus[index] -= eps
        grad[index] = (f(plus) - f(minus)) / eps
    return grad


def _in_place(f, x, eps=1e-6):
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        x[index] += eps
        plus = f(x)
        x[index] -= 2 * eps
        minus = f(x)
        x[index] += eps
        grad[index] = (plus - minus) / (2 * eps)
    return grad


@pytest.mark.parametrize("wrong, message", [
    (_forward_differences, "forward differences"),
    (_central_without_half, "not divided by 2"),
    (_in_place, "changed its argument 2 in place"),
])
def test_numerical_gradient_mistakes_are_named(wrong, message):
    with pytest.raises(CheckFailure, match=message):
        checks.check_numerical_gradient(wrong)


def test_numerical_gradient_may_not_use_autograd():
    with pytest.raises(CheckFailure, match="from scratch"):
        checks.check_numerical_gradient(checks.oracle_gradient)
