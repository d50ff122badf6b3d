"""Unit tests of the checks of notebook 02 (autograder.output_size and its hidden part in
autograder.grader.checks.output_size): oracles, verdicts, messages."""
import re

import pytest
import torch
from torch import nn

from autograder import output_size as checks
from autograder import parameters
from autograder.checking import CheckFailure
from autograder.grader.checks import output_size as hidden


# ----------------------------------------------------------------------------- reference answers
# Written here, in the tests (the package ships to students): the formulas of the notebook.

def conv_size(n, kernel_size, stride=1, padding=0, dilation=1):
    for value in (n, kernel_size, stride, padding, dilation):
        if not isinstance(value, int):
            raise TypeError("sizes are ints")
    if min(n, kernel_size, stride, dilation) < 1 or padding < 0:
        raise ValueError("size out of range")
    span = dilation * (kernel_size - 1) + 1
    if span > n + 2 * padding:
        raise ValueError("the kernel does not fit")
    return (n + 2 * padding - span) // stride + 1


def pool_size(n, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    stride = kernel_size if stride is None else stride
    for value in (n, kernel_size, stride, padding, dilation):
        if not isinstance(value, int):
            raise TypeError("sizes are ints")
    if min(n, kernel_size, stride, dilation) < 1 or padding < 0:
        raise ValueError("size out of range")
    if padding > kernel_size // 2:
        raise ValueError("padding above kernel_size // 2")
    room = n + 2 * padding - dilation * (kernel_size - 1) - 1
    out = (-(-room // stride) if ceil_mode else room // stride) + 1
    if ceil_mode and (out - 1) * stride >= n + padding:
        out -= 1
    if out < 1:
        raise ValueError("no window")
    return out


def transpose_size(n, kernel_size, stride=1, padding=0, output_padding=0, dilation=1):
    for value in (n, kernel_size, stride, padding, output_padding, dilation):
        if not isinstance(value, int):
            raise TypeError("sizes are ints")
    if min(n, kernel_size, stride, dilation) < 1 or min(padding, output_padding) < 0:
        raise ValueError("size out of range")
    if output_padding >= stride and output_padding >= dilation:
        raise ValueError("output_padding too large")
    out = (n - 1) * stride - 2 * padding + dilation * (kernel_size - 1) + output_padding + 1
    if out < 1:
        raise ValueError("empty output")
    return out


def same(kernel_size, dilation=1):
    if not isinstance(kernel_size, int) or not isinstance(dilation, int):
        raise TypeError("sizes are ints")
    if kernel_size < 1 or dilation < 1:
        raise ValueError("size out of range")
    if dilation * (kernel_size - 1) % 2:
        raise ValueError("odd span")
    return dilation * (kernel_size - 1) // 2


def field(layers):
    if not isinstance(layers, (list, tuple)):
        raise TypeError("layers is a list")
    size, jump = 1, 1
    for layer in layers:
        if len(layer) != 3:
            raise ValueError("triples")
        if not all(isinstance(v, int) for v in layer):
            raise TypeError("ints")
        k, s, d = layer
        if min(layer) < 1:
            raise ValueError("sizes >= 1")
        size += d * (k - 1) * jump
        jump *= s
    return size, jump


# ----------------------------------------------------------------------------- oracles

def _conv(n, kernel_size, stride=1, padding=0, dilation=1):
    return checks._pytorch_size("conv", dict(n=n, kernel_size=kernel_size, stride=stride,
                                             padding=padding, dilation=dilation))


def _pool(n, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    return checks._pytorch_size("pool", dict(n=n, kernel_size=kernel_size, stride=stride,
                                             padding=padding, dilation=dilation,
                                             ceil_mode=ceil_mode))


def _transpose(n, kernel_size, stride=1, padding=0, output_padding=0, dilation=1):
    return checks._pytorch_size("transpose", dict(n=n, kernel_size=kernel_size, stride=stride,
                                                  padding=padding, output_padding=output_padding,
                                                  dilation=dilation))


def test_conv_oracle_matches_known_sizes_and_failures():
    assert _conv(5, 3, 2) == (2, None)
    assert _conv(7, 3, dilation=2) == (3, None)
    size, reason = _conv(3, 5)
    assert size is None and reason.startswith("Conv1d: ") and "Kernel size" in reason


def test_pool_oracle_covers_ceil_mode_and_the_padding_rule():
    assert _pool(7, 2) == (3, None)
    assert _pool(7, 2, ceil_mode=True) == (4, None)
    assert _pool(5, 2, 2, 1, ceil_mode=True) == (3, None)
    size, reason = _pool(8, 2, padding=2)
    assert size is None and "half" in reason


def test_transpose_oracle_treats_an_empty_output_as_a_failure():
    params = dict(kernel_size=4, stride=1, padding=2, output_padding=0, dilation=1)
    size, reason = checks.pytorch_output_size("ConvTranspose2d", 1, **params)
    assert size is None and "empty output of shape (1, 1, 0, 0)" in reason
    assert _transpose(1, 4, 1, 2)[0] is None
    assert _transpose(2, 3, 2) == (5, None)
    assert _transpose(3, 3, 1, 0, 1, 2) == (8, None)
    assert _transpose(3, 3, 1, 0, 1, 1)[0] is None


def test_answers_are_kept_per_grid_point():
    grid = checks.conv_grid(full=False)[:5]
    first = checks._pytorch_sizes("conv", grid)
    assert checks._pytorch_sizes("conv", grid) == first
    assert all(("conv", tuple(sorted(point.items()))) in checks._ANSWERS for point in grid)


def test_fast_settings_give_the_same_shapes_and_errors_as_the_defaults():
    cases = [("Conv1d", dict(kernel_size=3, stride=2, padding=1, dilation=2)),
             ("Conv2d", dict(kernel_size=4, stride=3, padding=0, dilation=1)),
             ("ConvTranspose1d", dict(kernel_size=4, stride=1, padding=2, output_padding=0,
                                      dilation=1)),
             ("ConvTranspose2d", dict(kernel_size=4, stride=2, padding=3, output_padding=1,
                                      dilation=2)),
             ("ConvTranspose2d", dict(kernel_size=3, stride=2, padding=1, output_padding=1,
                                      dilation=1)),
             ("MaxPool2d", dict(kernel_size=3, stride=2, padding=1, dilation=2, ceil_mode=True))]
    for name, params in cases:
        for n in range(1, 7):
            default = checks.pytorch_output_size(name, n, **params)
            with checks.tiny_layers():
                fast = checks.pytorch_output_size(name, n, **params)
            assert (default[0], default[1] is None) == (fast[0], fast[1] is None), (name, n, params)
    assert torch.get_num_threads() >= 1 and torch.backends.mkldnn.enabled


def test_size_keeping_paddings_are_found_by_search():
    assert checks._paddings_keeping((1, 6), 3, 1) == (1,)
    assert checks._paddings_keeping((1, 6), 3, 3) == (3,)
    assert checks._paddings_keeping((1, 6), 4, 1) == ()


@pytest.mark.parametrize("layers, expected", [
    ((), (1, 1)), (((3, 1, 1),), (3, 1)), (((3, 1, 2),), (5, 1)),
    (((3, 1, 1), (3, 1, 1)), (5, 1)), (((2, 2, 1), (3, 1, 1)), (6, 2)),
    (((1, 2, 1), (3, 1, 1)), (5, 2)), (((3, 2, 1),) * 3, (15, 8)),
])
def test_empirical_receptive_field(layers, expected):
    assert checks._measured_fields([layers]) == [expected]


def test_grids_are_exhaustive_and_include_failures():
    assert len(checks.conv_grid()) == 8 * 5 * 3 * 4 * 3
    assert len(checks.pool_grid()) == 8 * 5 * 4 * 4 * 3 * 2
    assert len(checks.conv_transpose_grid()) == 5 * 4 * 3 * 4 * 3 * 3
    stacks = checks.receptive_field_stacks(seed=0)
    assert () in stacks and len(set(stacks)) > 400


def test_random_stacks_follow_the_seed():
    assert checks.receptive_field_stacks(seed=3) == checks.receptive_field_stacks(seed=3)
    assert checks.receptive_field_stacks(seed=3) != checks.receptive_field_stacks(seed=4)
    assert checks.receptive_field_stacks(full=False) == checks.receptive_field_stacks(full=False)


def test_no_student_side_function_answers_with_the_graded_arguments():
    """The PyTorch runners take a layer name or a grid point, not a graded function's arguments."""
    for call in (lambda: checks.pytorch_output_size(5, 3), lambda: checks._pytorch_size(5, 3),
                 lambda: checks._paddings_keeping(3), lambda: checks._gradient_supports(3)):
        with pytest.raises((TypeError, AttributeError, KeyError)):
            call()
    assert checks._gradient_supports([(3, 1, 1)]) == ((0, 2), (1, 3))


# ----------------------------------------------------------------------------- the reference passes

@pytest.mark.parametrize("check, fn", [
    (checks.check_conv_output_size, conv_size),
    (checks.check_pool_output_size, pool_size),
    (checks.check_conv_transpose_output_size, transpose_size),
    (checks.check_same_padding, same),
    (checks.check_receptive_field, field),
    (checks.check_conv_output_size_rejects_bad_input, conv_size),
    (checks.check_pool_output_size_rejects_bad_input, pool_size),
    (checks.check_conv_transpose_output_size_rejects_bad_input, transpose_size),
    (checks.check_receptive_field_rejects_bad_input, field),
    (hidden.check_conv_output_size, conv_size),
    (hidden.check_pool_output_size, pool_size),
    (hidden.check_conv_transpose_output_size, transpose_size),
    (hidden.check_same_padding, same),
    (hidden.check_receptive_field, field),
])
def test_reference_answers_pass(check, fn):
    check(fn)


def test_hand_worked_sizes_pass_and_fail():
    hidden.check_sizes(transpose_size, [((5, 3), {"dilation": 2, "output_padding": 1}, 10)],
                       name="conv_transpose_output_size")
    with pytest.raises(CheckFailure, match=re.escape(f"Likely cause: {checks.DILATION_IGNORED}")):
        hidden.check_sizes(_without(transpose_size, dilation=1),
                           [((5, 3), {"dilation": 2, "output_padding": 0}, 9)],
                           name="conv_transpose_output_size")


# ----------------------------------------------------------------------------- wrong answers

def _without(fn, **fixed):
    """``fn`` with some keyword arguments ignored (forced to ``fixed``)."""
    def wrong(*args, **kwargs):
        return fn(*args, **{**kwargs, **fixed})
    return wrong


def strides_added(layers):
    size, jump = 1, 1
    for k, s, d in layers:
        size += d * (k - 1) * jump
        jump += s - 1
    return size, jump


@pytest.mark.parametrize("check, wrong, cause", [
    (hidden.check_conv_output_size, _without(conv_size, dilation=1), checks.DILATION_IGNORED),
    (hidden.check_conv_output_size,
     lambda n, k, stride=1, padding=0, dilation=1: (n + 2 * padding - dilation * (k - 1) - 1) // stride,
     checks.PLUS_ONE_MISSING),
    (hidden.check_pool_output_size, _without(pool_size, ceil_mode=False), checks.CEIL_MODE_IGNORED),
    (hidden.check_conv_transpose_output_size, _without(transpose_size, output_padding=0),
     checks.OUTPUT_PADDING_IGNORED),
    (hidden.check_same_padding, lambda k, dilation=1: (k - 1) // 2, checks.DILATION_IGNORED),
    (hidden.check_receptive_field,
     lambda layers: (1 + sum(d * (k - 1) for k, _, d in layers), field(layers)[1]),
     checks.GROWTH_NOT_SCALED),
    (hidden.check_receptive_field, strides_added, checks.STRIDES_ADDED),
])
def test_likely_mistakes_are_named(check, wrong, cause):
    with pytest.raises(CheckFailure, match=re.escape(f"Likely cause: {cause}")):
        check(wrong)


def test_the_student_side_grids_name_no_formula_mistake():
    """Formula mistakes need the grader's generators; the visible grid says what differs."""
    with pytest.raises(CheckFailure) as failure:
        checks.check_conv_output_size(_without(conv_size, dilation=1))
    assert "Likely cause" not in str(failure.value)


def test_pool_last_window_rule_is_named():
    def keeps_last_window(n, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
        stride = kernel_size if stride is None else stride
        if padding > kernel_size // 2:
            raise ValueError("padding")
        room = n + 2 * padding - dilation * (kernel_size - 1) - 1
        out = (-(-room // stride) if ceil_mode else room // stride) + 1
        if out < 1:
            raise ValueError("no window")
        return out
    with pytest.raises(CheckFailure, match=re.escape(checks.LAST_WINDOW_KEPT)):
        hidden.check_pool_output_size(keeps_last_window)


@pytest.mark.parametrize("full", [False, True])
def test_a_missing_pool_padding_rule_is_named_by_its_outcomes(full):
    def no_padding_rule(n, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
        return pool_size(n, kernel_size, stride, 0, dilation, ceil_mode) if padding > kernel_size // 2 \
            else pool_size(n, kernel_size, stride, padding, dilation, ceil_mode)
    with pytest.raises(CheckFailure, match=re.escape(f"Likely cause: {checks.POOL_PADDING_RULE}")):
        checks.check_pool_output_size(no_padding_rule, full=full)


def test_output_padding_checked_against_the_stride_only_is_named():
    def stride_only(n, kernel_size, stride=1, padding=0, output_padding=0, dilation=1):
        if output_padding >= stride:
            raise ValueError("output_padding must be smaller than the stride")
        return transpose_size(n, kernel_size, stride, padding, output_padding, dilation)
    cause = re.escape(f"Likely cause: {checks.OUTPUT_PADDING_STRIDE_ONLY}")
    with pytest.raises(CheckFailure, match=cause):
        hidden.check_conv_transpose_output_size(stride_only)
    with pytest.raises(CheckFailure, match=cause):
        hidden.check_sizes(stride_only, [((5, 3), {"dilation": 2, "output_padding": 1}, 10)],
                           name="conv_transpose_output_size")


def test_sizes_returned_where_pytorch_gives_nothing_are_named():
    def no_fit_check(n, k, stride=1, padding=0, dilation=1):
        return (n + 2 * padding - dilation * (k - 1) - 1) // stride + 1

    def no_output_padding_rule(n, kernel_size, stride=1, padding=0, output_padding=0, dilation=1):
        out = (n - 1) * stride - 2 * padding + dilation * (kernel_size - 1) + output_padding + 1
        if out < 1:
            raise ValueError("empty output")
        return out
    with pytest.raises(CheckFailure, match=re.escape(f"Likely cause: {checks.NO_OUTPUT_RETURNED}")):
        checks.check_conv_output_size(no_fit_check, full=False)
    with pytest.raises(CheckFailure, match=re.escape(f"Likely cause: {checks.OUTPUT_PADDING_NOT_CHECKED}")):
        hidden.check_conv_transpose_output_size(no_output_padding_rule)


def test_failures_name_the_first_wrong_call_and_count_them():
    with pytest.raises(CheckFailure) as failure:
        checks.check_conv_output_size(_without(conv_size, dilation=1))
    message = str(failure.value)
    assert "disagrees with PyTorch's Conv1d/Conv2d on" in message
    assert re.search(r"first: conv_output_size\(\d+, \d+, stride=\d, padding=\d, dilation=[23]\)", message)


def test_floats_are_refused_with_their_cause():
    def true_division(n, k, stride=1, padding=0, dilation=1):
        return (n + 2 * padding - dilation * (k - 1) - 1) / stride + 1
    with pytest.raises(CheckFailure, match=r"returned float .*return an int\nLikely cause: the division is `/`"):
        checks.check_conv_output_size(true_division, full=False)


def test_a_missing_error_quotes_pytorch():
    def never_raises(n, k, stride=1, padding=0, dilation=1):
        return max(0, (n + 2 * padding - dilation * (k - 1) - 1) // stride + 1)
    with pytest.raises(CheckFailure, match=r"returned 0, but PyTorch's Conv1d/Conv2d fails \(Conv1d: "):
        checks.check_conv_output_size(never_raises, full=False)


def test_errors_need_a_message_and_the_right_type():
    def silent_error(*args, **kwargs):
        try:
            return conv_size(*args, **kwargs)
        except ValueError:
            raise ValueError() from None

    def wrong_type(*args, **kwargs):
        try:
            return conv_size(*args, **kwargs)
        except ValueError as error:
            raise RuntimeError(str(error)) from None
    with pytest.raises(CheckFailure, match="without a message"):
        checks.check_conv_output_size(silent_error, full=False)
    with pytest.raises(CheckFailure, match="raised RuntimeError .*expected ValueError"):
        checks.check_conv_output_size(wrong_type, full=False)


def test_an_error_where_pytorch_gives_a_size_is_reported():
    def refuses_stride(n, k, stride=1, padding=0, dilation=1):
        if stride > 1:
            raise ValueError("no strides")
        return conv_size(n, k, stride, padding, dilation)
    with pytest.raises(CheckFailure, match=r"raised ValueError \(no strides\), but PyTorch's Conv1d/Conv2d gives"):
        checks.check_conv_output_size(refuses_stride, full=False)


def test_stubs_say_not_implemented():
    def stub(*args, **kwargs):
        raise NotImplementedError()
    for check in (checks.check_conv_output_size, checks.check_pool_output_size,
                  checks.check_conv_transpose_output_size, checks.check_same_padding,
                  checks.check_receptive_field, checks.check_conv_output_size_rejects_bad_input):
        with pytest.raises(CheckFailure, match="not implemented yet"):
            check(stub)


def test_asking_pytorch_is_forbidden():
    def asks_pytorch(n, k, stride=1, padding=0, dilation=1):
        return nn.Conv1d(1, 1, k, stride, padding, dilation)(torch.zeros(1, 1, n)).shape[-1]

    def asks_the_oracle(layers):
        (first, last), (next_first, _) = checks._gradient_supports(tuple(layers))
        return last - first + 1, next_first - first
    with pytest.raises(CheckFailure, match="from scratch"):
        checks.check_conv_output_size(asks_pytorch, full=False)
    with pytest.raises(CheckFailure, match="from scratch"):
        checks.check_receptive_field(asks_the_oracle, full=False)


def test_receptive_field_must_return_a_pair_of_ints():
    with pytest.raises(CheckFailure, match="return a tuple of two ints"):
        checks.check_receptive_field(lambda layers: list(field(layers)), full=False)


# ----------------------------------------------------------------------------- invalid inputs

def test_missing_validation_is_named():
    def accepts_floats(n, k, stride=1, padding=0, dilation=1):
        return conv_size(int(n), int(k), int(stride), padding, dilation)

    def divides_by_the_stride(n, k, stride=1, padding=0, dilation=1):
        if stride == 0:
            return (n - k) // stride
        return conv_size(n, k, stride, padding, dilation)

    def long_layers(layers):
        return field([tuple(layer)[:3] for layer in layers]) if isinstance(layers, list) else field(layers)
    with pytest.raises(CheckFailure, match=re.escape(f"Likely cause: {checks.FLOAT_ACCEPTED}")):
        checks.check_conv_output_size_rejects_bad_input(accepts_floats)
    with pytest.raises(CheckFailure, match=r"raised ZeroDivisionError .*\nLikely cause: the stride is not checked"):
        checks.check_conv_output_size_rejects_bad_input(divides_by_the_stride)
    with pytest.raises(CheckFailure, match=re.escape(f"Likely cause: {checks.LAYER_LENGTH_NOT_CHECKED}")):
        checks.check_receptive_field_rejects_bad_input(long_layers)


def test_a_wrong_error_is_not_given_the_cause_of_a_missing_one():
    def value_error_for_floats(n, k, stride=1, padding=0, dilation=1):
        if isinstance(n, float):
            raise ValueError("n is a float")
        return conv_size(n, k, stride, padding, dilation)
    with pytest.raises(CheckFailure) as failure:
        checks.check_conv_output_size_rejects_bad_input(value_error_for_floats)
    assert "raised ValueError (n is a float); expected TypeError" in str(failure.value)
    assert "Likely cause" not in str(failure.value)


def test_an_odd_span_rounded_to_a_padding_is_named():
    with pytest.raises(CheckFailure, match=re.escape(f"Likely cause: {checks.SAME_ODD_ROUNDED}")):
        checks.check_rejects(lambda k, dilation=1: (k - 1) // 2,
                             [((4,), {}, ValueError, "K - 1 is odd", {"returned": checks.SAME_ODD_ROUNDED})],
                             name="same_padding")
    checks.check_rejects(same, [((4,), {}, ValueError, "K - 1 is odd")], name="same_padding")


def test_assert_size_checks_type_value_and_names_the_mistake():
    checks.assert_size(3, 3, what="x")
    checks.assert_size((5, 1), (5, 1), what="x")
    with pytest.raises(CheckFailure, match=r"returned float 3.0; expected an int.\nLikely cause: the division is `/`"):
        checks.assert_size(3.0, 3, what="x")
    with pytest.raises(CheckFailure, match="returned 5, expected 3.\nLikely cause: because"):
        checks.assert_size(5, 3, what="x", likely=[("because", 5)])
    with pytest.raises(CheckFailure, match="expected a tuple of 2 ints"):
        checks.assert_size([5, 1], (5, 1), what="x")
    with pytest.raises(CheckFailure, match="expected an int"):
        checks.assert_size(True, 1, what="x")


@pytest.mark.parametrize("check", [
    checks.check_conv_output_size_rejects_bad_input,
    checks.check_pool_output_size_rejects_bad_input,
    checks.check_conv_transpose_output_size_rejects_bad_input,
    checks.check_receptive_field_rejects_bad_input,
    parameters.check_conv2d_params_rejects_bad_input,
    parameters.check_count_params_rejects_bad_specs,
])
def test_a_function_that_raises_for_everything_fails_the_bad_input_checks(check):
    """Check that the bad-input checks first require a valid input's answer."""
    def refuse(*args, **kwargs):
        if any(isinstance(a, float) for a in args):
            raise TypeError("not an integer")
        raise ValueError("impossible")

    with pytest.raises(CheckFailure, match="a valid input must give"):
        check(refuse)
