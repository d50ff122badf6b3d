"""Unit tests of the checking core: messages, copies, guards, likely mistakes."""
import numpy as np
import pytest
import scipy.signal
import torch.nn.functional as F

from autograder import convolution
from autograder.checking import (
    Case, CheckFailure, assert_close, call_student, check_against_oracle, check_raises, difference,
)
from autograder.guards import count_student_lines, forbidden_calls


def test_difference_accepts_equal_arrays_within_tolerance():
    a = np.array([1.0, 2.0, 3.0])
    assert difference(a * (1 + 1e-8), a) is None


def test_difference_reports_type_shape_dtype_and_first_mismatch():
    expected = np.zeros((2, 3))
    assert "list" in difference([0, 0], expected)
    assert "shape (2, 4), expected (2, 3)" in difference(np.zeros((2, 4)), expected)
    assert "off by one" in difference(np.zeros((1, 2)), expected)
    assert "off by one" not in difference(np.zeros((2, 6)), expected)
    assert "dtype float32" in difference(np.zeros((2, 3), np.float32), expected)
    wrong = expected.copy()
    wrong[1, 2], wrong[0, 1] = 5.0, 4.0
    message = difference(wrong, expected)
    assert "2 of 6 values differ" in message and "index [0, 1]" in message
    assert "got 4.0, expected 0.0" in message


def test_difference_rejects_ndarray_subclasses_and_nan():
    class Always(np.ndarray):
        def __eq__(self, other):
            return True
    assert "Always" in difference(np.zeros(3).view(Always), np.zeros(3))
    assert "1 of 3" in difference(np.array([0.0, np.nan, 0.0]), np.zeros(3))


def test_assert_close_names_the_likely_mistake():
    with pytest.raises(CheckFailure, match="Likely cause: flipped"):
        assert_close(np.array([2.0, 2.0]), [-2.0, -2.0], likely=[("flipped", [2.0, 2.0])])
    assert_close(np.float64(3.0), 3.0)


def test_call_student_passes_copies_and_catches_in_place_changes():
    seen = []

    def keeps(x):
        seen.append(x)
        return x.sum()

    original = np.arange(3.0)
    call_student(keeps, (original,))
    assert seen[0] is not original

    def mutates(x):
        x[0] = 99.0
        return x

    with pytest.raises(CheckFailure, match="changed its argument 1 in place"):
        call_student(mutates, (original,))
    assert original[0] == 0.0


def test_call_student_explains_stubs_and_errors():
    def stub(x):
        raise NotImplementedError()

    def broken(x):
        return x[10]

    with pytest.raises(CheckFailure, match="stub is not implemented yet"):
        call_student(stub, (np.zeros(2),))
    with pytest.raises(CheckFailure, match=r"broken\(array of shape \(2,\) \(float64\)\) raised IndexError"):
        call_student(broken, (np.zeros(2),))


def test_forbidden_calls_are_caught_however_imported():
    from scipy.signal import correlate2d as renamed
    image, kernel = np.ones((4, 4)), np.ones((2, 2))

    def cheats(image, kernel):
        return renamed(image, kernel, mode="valid")

    def cheats_with_numpy(x, k):
        return np.convolve(x, k[::-1], "valid")

    with pytest.raises(CheckFailure, match="scipy.signal._signaltools.correlate2d"):
        call_student(cheats, (image, kernel), forbidden=convolution.LIBRARY_2D)
    with pytest.raises(CheckFailure, match="from scratch"):
        call_student(cheats_with_numpy, (np.ones(5), np.ones(2)), forbidden=convolution.LIBRARY_1D)
    with forbidden_calls([F.conv2d]) as watch:
        np.zeros(3).sum()
    assert watch.called == []


def test_count_student_lines_grows_with_python_loops_only():
    def loops(n):
        total = 0
        for i in range(n):
            total += i
        return total

    def vectorized(n):
        return np.arange(n).sum()

    assert count_student_lines(loops, 100)[1] > count_student_lines(loops, 10)[1] + 100
    assert count_student_lines(vectorized, 10_000)[1] == count_student_lines(vectorized, 10)[1]


def test_check_against_oracle_reports_the_failing_call():
    def off_by_one(x, k):
        return np.correlate(x, k, "valid")[:-1]

    with pytest.raises(CheckFailure, match=r"off_by_one\(array of shape"):
        check_against_oracle(off_by_one, convolution.oracle_correlate1d,
                             [Case((np.arange(5.0), np.ones(2)))])


def test_check_raises_requires_the_named_exception():
    def silent(x):
        return x

    def wrong_error(x):
        raise KeyError("x")

    def right(x):
        raise ValueError("bad")

    with pytest.raises(CheckFailure, match="returned without error; expected ValueError because it is bad"):
        check_raises(silent, (1,), reason="it is bad")
    with pytest.raises(CheckFailure, match="raised KeyError"):
        check_raises(wrong_error, (1,), reason="it is bad")
    check_raises(right, (1,), reason="it is bad")


@pytest.mark.parametrize("check, wrong, cause", [
    (convolution.check_correlate1d, lambda x, k: np.convolve(x, k, "valid"), "kernel is flipped"),
    (convolution.check_convolve1d, lambda x, k: np.correlate(x, k, "valid"), "cross-correlation"),
    (convolution.check_correlate2d, lambda i, k: scipy.signal.convolve2d(i, k, "valid"),
     "kernel is flipped"),
    (convolution.check_convolve2d,
     lambda i, k: scipy.signal.correlate2d(i, np.ascontiguousarray(k[::-1, :]), "valid"),
     "only the rows"),
])
def test_likely_mistakes_are_named(check, wrong, cause):
    with pytest.raises(CheckFailure, match=cause):
        _unguarded(check, wrong)


def _unguarded(check, student, seed=3, n_cases=5):
    """Run ``check`` with the from-scratch guard off: the wrong answers use the oracle libraries."""
    original = {name: getattr(convolution, name) for name in ("LIBRARY_1D", "LIBRARY_2D")}
    try:
        convolution.LIBRARY_1D, convolution.LIBRARY_2D = (), ()
        check(student, seed=seed, n_cases=n_cases)
    finally:
        for name, value in original.items():
            setattr(convolution, name, value)


def test_conv2d_mistakes_are_named():
    def no_bias(x, w, b=None, stride=1, padding=0):
        return convolution.oracle_conv2d(x, w, None, stride, padding)
    with pytest.raises(CheckFailure, match="the bias is missing"):
        _unguarded(convolution.check_conv2d, no_bias, seed=4, n_cases=6)


def test_worked_example_gives_minus_two():
    x, w, b = convolution.worked_example()
    out = convolution.oracle_conv2d(x, w, b, stride=2, padding=1)
    assert out.shape == (1, 2, 3, 3) and out[0, 0, 1, 1] == -2.0


def test_one_thread_restores_the_thread_count_it_found_nested_or_decorated():
    """Check that one_thread runs its body on one thread and restores the count, nested and as a decorator."""
    import torch

    from autograder.threads import one_thread

    @one_thread()
    def inner():
        assert torch.get_num_threads() == 1
        with one_thread():
            assert torch.get_num_threads() == 1
        return torch.get_num_threads()

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with one_thread():
            assert inner() == 1
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("check", [
    "backprop_matrix.check_conv1d_matrix_rejects_bad_input",
    "backprop_matrix.check_conv2d_matrix_rejects_bad_input",
    "backprop_matrix.check_conv2d_backward_rejects_bad_input",
    "backprop_matrix.check_numerical_gradient_rejects_bad_input",
    "upsampling.check_max_unpool2d_rejects_bad_input",
    "upsampling.check_conv_transpose1d_rejects_bad_input",
    "upsampling.check_conv_transpose2d_rejects_bad_input",
    "upsampling.check_bilinear_kernel_rejects_bad_input",
])
def test_a_function_that_raises_for_everything_fails_the_bad_input_checks(check):
    """Check that the bad-input checks first require a valid input to be accepted."""
    import importlib

    module, function = check.split(".")

    def refuse(*args, **kwargs):
        raise TypeError("refuses everything") if any(isinstance(a, float) for a in args) \
            else ValueError("refuses everything")

    with pytest.raises(CheckFailure, match="a valid input must be accepted"):
        getattr(importlib.import_module(f"autograder.{module}"), function)(refuse)


@pytest.mark.parametrize("check", ["pooling.check_pool2d_rejects_bad_input",
                                   "upsampling.check_upsample_rejects_bad_input"])
def test_a_function_that_raises_for_everything_fails_the_named_bad_input_checks(check):
    """Check that the bad-input checks shared by several functions require a valid input too."""
    import importlib

    module, function = check.split(".")

    def refuse(*args, **kwargs):
        raise ValueError("refuses everything")

    with pytest.raises(CheckFailure, match="a valid input must be accepted"):
        getattr(importlib.import_module(f"autograder.{module}"), function)(refuse, "f")
