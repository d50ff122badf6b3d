"""Unit tests of the checks of notebook 04: ``autograder.backprop_matrix`` (the student side,
visible checks) and ``autograder.grader.checks.backprop_matrix`` (the hidden checks).

The reference implementations are the solution cells of the source notebook; the wrong ones are
written here, each with the mistake the check must name.
"""
import subprocess
import sys

import numpy as np
import pytest
import scipy.signal
import scipy.sparse
import torch
import torch.nn.functional as F

from autograder import backprop_matrix as checks
from autograder import wire
from autograder.checking import CheckFailure
from autograder.grader import notebooks
from autograder.grader.checks import backprop_matrix as hidden

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
    for module in (checks, hidden):
        for name in ("LIBRARY_MATRIX", "LIBRARY_BACKWARD", "LIBRARY_NUMERICAL"):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, ())


@pytest.fixture(scope="module")
def reference(repo):
    """The solution cells of the notebook, executed: ``{name: function}``."""
    return notebooks.solution_namespace(notebooks.read(repo / SOURCE), {"np": np, "scipy": scipy})


# ----------------------------------------------------------------------------- oracles

def test_oracle_conv1d_matrix_is_the_hand_worked_matrix():
    np.testing.assert_array_equal(hidden.oracle_conv1d_matrix(np.array([1.0, 2.0, 3.0]), 4, padding=1),
                                  [[2, 3, 0, 0], [1, 2, 3, 0], [0, 1, 2, 3], [0, 0, 1, 2]])
    np.testing.assert_array_equal(hidden.oracle_conv1d_matrix(np.array([1.0, 2.0, 3.0]), 5, stride=2),
                                  [[1, 2, 3, 0, 0], [0, 0, 1, 2, 3]])


@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1), ((1, 3), (2, 0))])
def test_oracle_conv2d_matrix_times_image_is_scipy_correlation(stride, padding):
    rng = np.random.default_rng(0)
    image, kernel = rng.normal(size=(7, 9)), rng.normal(size=(3, 2))
    (sh, sw), (ph, pw) = checks._pair(stride), checks._pair(padding)
    padded = np.pad(image, ((ph, ph), (pw, pw)))
    expected = scipy.signal.correlate2d(padded, kernel, mode="valid")[::sh, ::sw]
    matrix = hidden.oracle_conv2d_matrix(kernel, image.shape, stride, padding)
    assert matrix.shape == (expected.size, image.size)
    np.testing.assert_allclose(matrix @ image.ravel(), expected.ravel())


def test_windows_matrix_with_other_offsets_reads_the_shifted_windows():
    kernel = np.array([[1.0, 2.0], [3.0, 4.0]])
    # stride 2 along the height only, offset (1, 0): output (i, j) starts at row 2 i - 1, column j
    matrix = hidden.windows_matrix(kernel, (3, 3), (2, 2), (2, 1), (1, 0))
    expected = np.zeros((4, 9))
    for i in range(2):
        for j in range(2):
            for m in range(2):
                for q in range(2):
                    a, b = 2 * i - 1 + m, j + q
                    if 0 <= a < 3 and 0 <= b < 3:
                        expected[i * 2 + j, a * 3 + b] = kernel[m, q]
    np.testing.assert_array_equal(matrix, expected)


def test_autograd_backward_single_channel_identities():
    rng = np.random.default_rng(1)
    image, kernel, grad = rng.normal(size=(6, 5)), rng.normal(size=(3, 2)), rng.normal(size=(4, 4))
    parts = checks._autograd_conv2d(image[None, None], kernel[None, None], np.zeros(1), grad[None, None])
    np.testing.assert_allclose(parts["dw"][0, 0], scipy.signal.correlate2d(image, grad, mode="valid"))
    np.testing.assert_allclose(parts["dx"][0, 0], scipy.signal.convolve2d(grad, kernel, mode="full"))
    np.testing.assert_allclose(parts["db"], [grad.sum()])
    matrix = hidden.oracle_conv2d_matrix(kernel, image.shape)
    np.testing.assert_allclose(matrix.T @ grad.ravel(), parts["dx"].ravel())


# ----------------------------------------------------------------------------- test functions

def _hand_worked_functions():
    return [(checks.SumOfPowers(3), np.array([1.0, -2.0]), 3 * np.array([1.0, 4.0])),
            (checks.Product((0, 1), (1, 2)), np.arange(6.0).reshape(2, 3), [[0, 5, 0], [0, 0, 1]]),
            (checks.WeightedSines(np.ones(2)), np.array([0.0, np.pi / 3]), [1.0, 0.5]),
            (checks.Quadratic(np.zeros((2, 2)), [3.0, -1.0]), np.array([10.0, -4.0]), [3.0, -1.0])]


@pytest.mark.parametrize("function, x, gradient", _hand_worked_functions())
def test_test_functions_have_their_hand_worked_gradients(function, x, gradient):
    np.testing.assert_allclose(hidden.oracle_gradient(function, x), gradient, atol=1e-12)


@pytest.mark.parametrize("seed", [431, 432])
def test_smooth_functions_numpy_and_torch_twins_agree(seed):
    for function, x, _ in hidden.smooth_functions(np.random.default_rng(seed)):
        value = function.torch_value(torch.from_numpy(x)).item()
        assert np.isclose(float(function(x)), value), function


def test_quadratic_cases_use_large_steps():
    quadratics = [(f, eps) for f, _, eps in hidden.smooth_functions(np.random.default_rng(0))
                  if "quadratic" in repr(f)]
    assert len(quadratics) == 2 and all(eps >= 1e-2 for _, eps in quadratics)


def test_test_functions_cross_the_wire_as_data():
    cases = [(f, x) for f, x, _ in hidden.smooth_functions(np.random.default_rng(3))]
    cases += [(f, x) for f, x, _ in _hand_worked_functions()] + [(checks.Scaled(2.0), np.ones(3))]
    for function, x in cases:
        encoder = wire.Encoder()
        node = encoder.encode(function)
        assert node["t"] == "obj", function
        copy = wire.Decoder(encoder.buffers).decode(node)
        assert type(copy) is type(function) and repr(copy) == repr(function)
        np.testing.assert_array_equal(copy(x), function(x))


# ----------------------------------------------------------------------------- sparse results

def test_csr_to_dense_reads_csr_matrices_and_arrays_and_sums_duplicates():
    values, rows, columns = np.array([1.0, 2.0, 3.0]), np.array([0, 1, 1]), np.array([2, 0, 0])
    for kind in (scipy.sparse.csr_matrix, scipy.sparse.csr_array):
        matrix = kind((values, (rows, columns)), shape=(2, 3))
        np.testing.assert_array_equal(checks.csr_to_dense(matrix), [[0, 0, 1], [5, 0, 0]])
    raw = scipy.sparse.csr_matrix((values, columns, np.array([0, 1, 3])), shape=(2, 3))
    np.testing.assert_array_equal(checks.csr_to_dense(raw), [[0, 0, 1], [5, 0, 0]])


@pytest.mark.parametrize("value, message", [
    (np.eye(3), "dense numpy.ndarray.*\nLikely cause: the matrix is built dense"),
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

@pytest.mark.parametrize("seed", [1, None])
def test_reference_passes_every_check(reference, seed):
    for module in (checks, hidden):
        module.check_conv1d_matrix(reference["conv1d_matrix"], seed=seed)
        module.check_conv1d_matrix(reference["conv1d_matrix"], seed=seed, strided=True)
        module.check_conv2d_matrix(reference["conv2d_matrix"], seed=seed, strided=True)
    checks.check_conv1d_matrix_rejects_bad_input(reference["conv1d_matrix"])
    checks.check_conv2d_matrix_is_sparse(reference["conv2d_matrix"], seed=seed)
    checks.check_conv2d_matrix_rejects_bad_input(reference["conv2d_matrix"])
    checks.check_conv2d_backward(reference["conv2d_backward"], seed=seed, strided=True)
    checks.check_conv2d_backward_single_channel(reference["conv2d_backward"], seed=seed)
    checks.check_conv2d_backward_rejects_bad_input(reference["conv2d_backward"])
    hidden.check_numerical_gradient(reference["numerical_gradient"], seed=seed)
    checks.check_numerical_gradient_rejects_bad_input(reference["numerical_gradient"])


# ----------------------------------------------------------------------------- mistakes are named

def _conv1d_flipped(kernel, n, stride=1, padding=0):
    return hidden.oracle_conv1d_matrix(kernel[::-1].copy(), n, stride, padding)


def _conv1d_padding_kept(kernel, n, stride=1, padding=0):
    return hidden.oracle_conv1d_matrix(kernel, n + 2 * padding, stride)


def _conv1d_one_sided(kernel, n, stride=1, padding=0):
    return hidden.oracle_conv1d_matrix(kernel, n + 2 * padding, stride)[:, :n]


def _conv1d_stride_ignored(kernel, n, stride=1, padding=0):
    rows = len(hidden.oracle_conv1d_matrix(kernel, n, stride, padding))
    return hidden.oracle_conv1d_matrix(kernel, n, 1, padding)[:rows]


def _conv1d_with_library(kernel, n, stride=1, padding=0):
    columns = [np.correlate(np.pad(e, padding), kernel, "valid")[::stride] for e in np.eye(n)]
    return np.array(columns).T


@pytest.mark.parametrize("module", [checks, hidden])
def test_conv1d_matrix_must_be_built_from_scratch(module):
    with pytest.raises(CheckFailure, match="numpy.correlate.*from scratch"):
        module.check_conv1d_matrix(_conv1d_with_library, seed=0, n_cases=1)


@pytest.mark.parametrize("module", [checks, hidden])
@pytest.mark.parametrize("wrong, strided, message", [
    (_conv1d_flipped, False, "kernel is flipped"),
    (_conv1d_padding_kept, True, "padding zeros are columns of M"),
    (_conv1d_one_sided, True, "padding is on one side only"),
    (_conv1d_stride_ignored, True, "stride is ignored"),
])
def test_conv1d_matrix_mistakes_are_named(unguarded, module, wrong, strided, message):
    with pytest.raises(CheckFailure, match=f"Likely cause: the {message}"):
        module.check_conv1d_matrix(wrong, seed=5, n_cases=8, strided=strided)


def _conv2d_sparse(dense_of):
    def build(kernel, input_shape, stride=1, padding=0):
        return scipy.sparse.csr_matrix(dense_of(kernel, input_shape, stride, padding))
    return build


@pytest.mark.parametrize("module", [checks, hidden])
@pytest.mark.parametrize("wrong, message", [
    (_conv2d_sparse(lambda k, s, st, p: hidden.oracle_conv2d_matrix(k[::-1, ::-1].copy(), s, st, p)),
     "Likely cause: the kernel is rotated by 180 degrees"),
    (_conv2d_sparse(lambda k, s, st, p: hidden.oracle_conv2d_matrix(k, s, st, p).reshape(-1, *s)
                    .transpose(0, 2, 1).reshape(-1, s[0] * s[1])),
     "Likely cause: the input pixels are numbered column by column"),
    (lambda k, s, stride=1, padding=0: hidden.oracle_conv2d_matrix(k, s, stride, padding),
     "dense numpy.ndarray"),
])
def test_conv2d_matrix_mistakes_are_named(unguarded, module, wrong, message):
    with pytest.raises(CheckFailure, match=message):
        module.check_conv2d_matrix(wrong, seed=6, n_cases=6, strided=True)


def test_hidden_conv2d_matrix_check_names_swapped_paddings_and_ignored_strides(unguarded):
    def swapped(kernel, input_shape, stride=1, padding=0):
        out = checks._conv_output_shape(input_shape, kernel.shape, stride, padding)
        ph, _ = checks._pair(padding)
        return scipy.sparse.csr_matrix(hidden.windows_matrix(kernel, input_shape, out, stride, (ph, ph)))

    def width_stride_ignored(kernel, input_shape, stride=1, padding=0):
        out = checks._conv_output_shape(input_shape, kernel.shape, stride, padding)
        sh, _ = checks._pair(stride)
        return scipy.sparse.csr_matrix(hidden.windows_matrix(kernel, input_shape, out, (sh, 1),
                                                             checks._pair(padding)))

    with pytest.raises(CheckFailure, match="Likely cause: the padding of one axis is used for the other"):
        hidden.check_conv2d_matrix(swapped, seed=6, n_cases=15, strided=True)
    with pytest.raises(CheckFailure, match="Likely cause: the stride is ignored"):
        hidden.check_conv2d_matrix(width_stride_ignored, seed=6, n_cases=15, strided=True)


def test_running_out_of_memory_names_the_dense_matrix():
    def dense(kernel, input_shape, stride=1, padding=0):
        raise MemoryError("Unable to allocate 32.0 GiB for an array with shape (65536, 65536)")

    with pytest.raises(CheckFailure, match=r"ran out of memory: the dense 65536 x 65536 matrix takes "
                                           r"32 GiB.*\nLikely cause: the dense matrix is built"):
        checks.check_conv2d_matrix_is_sparse(dense)


def test_dense_construction_fails_under_the_grading_memory_limit(repo):
    """In a process limited as a graded kernel is, building the dense matrix first fails by name."""
    code = f"""
import resource, numpy as np, scipy.sparse
from autograder.grader.session import MEMORY_LIMIT_BYTES
from autograder.grader import notebooks
from autograder import backprop_matrix as checks
from autograder.checking import CheckFailure
reference = notebooks.solution_namespace(notebooks.read({str(repo / SOURCE)!r}), {{"np": np, "scipy": scipy}})

def dense_then_sparse(kernel, input_shape, stride=1, padding=0):
    return scipy.sparse.csr_matrix(reference["conv2d_matrix"](kernel, input_shape, stride, padding).toarray())

resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
checks.check_conv2d_matrix_is_sparse(reference["conv2d_matrix"])
try:
    checks.check_conv2d_matrix_is_sparse(dense_then_sparse)
except CheckFailure as failure:
    print(failure)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=repo,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "ran out of memory" in result.stdout and "Likely cause: the dense matrix" in result.stdout


def test_stored_zeros_are_caught(reference):
    def stored_twice(kernel, input_shape, stride=1, padding=0):
        """The right CSR matrix with every entry stored a second time, as an explicit zero."""
        matrix = reference["conv2d_matrix"](kernel, input_shape, stride, padding)
        data, indices = [], []
        for start, stop in zip(matrix.indptr[:-1], matrix.indptr[1:]):
            data += [matrix.data[start:stop], np.zeros(stop - start)]
            indices += [matrix.indices[start:stop]] * 2
        return scipy.sparse.csr_matrix((np.concatenate(data), np.concatenate(indices),
                                        2 * matrix.indptr), shape=matrix.shape)

    assert stored_twice(np.ones((3, 3)), (4, 4), padding=1).data.size == 2 * 10 ** 2
    with pytest.raises(CheckFailure, match="more than the 9 per row"):
        checks.check_conv2d_matrix_is_sparse(stored_twice, side=32)


def _backward_variant(part, change):
    def backward(x, w, grad_out, stride=1, padding=0):
        result = checks._autograd_conv2d(x, w, np.zeros(w.shape[0]), grad_out, stride, padding)
        result[part] = change(x, w, grad_out, stride, padding, result[part])
        return result["dx"], result["dw"], result["db"]
    return backward


@pytest.mark.parametrize("wrong, message", [
    (_backward_variant("dw", lambda x, w, g, s, p, dw: checks._autograd_conv2d(
        x[:1], w, np.zeros(w.shape[0]), g[:1], s, p)["dw"]), "dw is not summed over the batch"),
    (_backward_variant("dw", lambda x, w, g, s, p, dw: dw[:, :, ::-1, ::-1]), "dw is rotated"),
    (_backward_variant("db", lambda x, w, g, s, p, db: g.mean(axis=(0, 2, 3))), "db is averaged"),
    (_backward_variant("dx", lambda x, w, g, s, p, dx: checks._autograd_conv2d(
        x, w[:, :, ::-1, ::-1].copy(), np.zeros(w.shape[0]), g, s, p)["dx"]), "dx uses the kernel rotated"),
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
        checks.check_conv2d_backward(autograd, seed=0, n_cases=1)


def test_single_channel_check_says_which_identity_fails(unguarded):
    wrong = _backward_variant("dw", lambda x, w, g, s, p, dw: 2 * dw)
    with pytest.raises(CheckFailure, match="dw is not the correlation of x with g"):
        checks.check_conv2d_backward_single_channel(wrong, seed=0, n_cases=2)


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


def _not_put_back(f, x, eps=1e-6):
    point, grad = x.copy(), np.zeros_like(x)
    for index in np.ndindex(x.shape):
        original = point[index]
        point[index] = original + eps
        plus = f(point)
        point[index] = original - eps
        grad[index] = (plus - f(point)) / (2 * eps)
    return grad


def _flattened(f, x, eps=1e-6):
    return _central_without_half(f, x, eps).ravel() / 2


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
    (_forward_differences, "Likely cause: these are forward differences"),
    (_central_without_half, "Likely cause: the step is not divided by 2"),
    (_not_put_back, "Likely cause: x's entries are not put back"),
    (_flattened, "Likely cause: the gradient is flattened"),
    (_in_place, "changed its argument 2 in place"),
])
def test_numerical_gradient_mistakes_are_named(wrong, message):
    with pytest.raises(CheckFailure, match=message):
        hidden.check_numerical_gradient(wrong, seed=0)


def test_numerical_gradient_may_not_use_autograd():
    with pytest.raises(CheckFailure, match="from scratch"):
        hidden.check_numerical_gradient(hidden.oracle_gradient, seed=0)


def test_rejects_checks_name_the_missing_validation():
    def accepts_zero(f, x, eps=1e-6):
        return np.zeros_like(x) / eps if eps else np.zeros_like(x)

    with pytest.raises(CheckFailure, match=r"returned without error; expected ValueError because eps "
                                           r"must be positive.\nLikely cause: eps is not checked"):
        checks.check_numerical_gradient_rejects_bad_input(accepts_zero)


def test_rejects_check_keeps_the_not_implemented_message():
    def numerical_gradient(f, x, eps=1e-6):
        raise NotImplementedError()

    with pytest.raises(CheckFailure, match="not implemented yet") as failure:
        checks.check_numerical_gradient_rejects_bad_input(numerical_gradient)
    assert "Likely cause" not in str(failure.value)


def test_dw_of_the_unpadded_input_is_a_likely_mistake_where_the_shapes_allow_it():
    x, w, g = np.arange(25.0).reshape(1, 1, 5, 5), np.ones((1, 1, 2, 2)), np.ones((1, 1, 2, 2))
    mistakes = checks._backward_mistakes(x, w, g, stride=3, padding=1)["dw"]
    assert any("unpadded input" in cause and np.array_equal(wrong, [[[[36, 40], [56, 60]]]])
               for cause, wrong in mistakes)
    x, g = np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2))  # 4x4 kernel: fits the padded input only
    mistakes = checks._backward_mistakes(x, np.ones((1, 1, 4, 4)), g, stride=1, padding=1)["dw"]
    assert not any("unpadded input" in cause for cause, _ in mistakes)
