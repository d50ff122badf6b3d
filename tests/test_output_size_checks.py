"""Unit tests of the checks of notebook 02 (autograder.output_size): oracles, verdicts, messages."""
import re

import pytest
import torch
from torch import nn

from autograder import output_size as checks
from autograder.checking import CheckFailure


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

def test_conv_oracle_matches_known_sizes_and_failures():
    assert checks.torch_conv_size(5, 3, 2, 0, 1) == (2, None)
    assert checks.torch_conv_size(7, 3, 1, 0, 2) == (3, None)
    size, reason = checks.torch_conv_size(3, 5, 1, 0, 1)
    assert size is None and reason.startswith("Conv1d: ") and "Kernel size" in reason


def test_pool_oracle_covers_ceil_mode_and_the_padding_rule():
    assert checks.torch_pool_size(7, 2, None, 0, 1, False) == (3, None)
    assert checks.torch_pool_size(7, 2, None, 0, 1, True) == (4, None)
    assert checks.torch_pool_size(5, 2, 2, 1, 1, True) == (3, None)
    size, reason = checks.torch_pool_size(8, 2, None, 2, 1, False)
    assert size is None and "half" in reason


def test_transpose_oracle_treats_an_empty_output_as_a_failure():
    params = dict(kernel_size=4, stride=1, padding=2, output_padding=0, dilation=1)
    size, reason = checks._run_layer("ConvTranspose2d", 2, 1, **params)
    assert size is None and "empty output of shape (1, 1, 0, 0)" in reason
    assert checks.torch_conv_transpose_size(1, 4, 1, 2, 0, 1)[0] is None
    assert checks.torch_conv_transpose_size(2, 3, 2, 0, 0, 1) == (5, None)
    assert checks.torch_conv_transpose_size(3, 3, 1, 0, 1, 2) == (8, None)
    assert checks.torch_conv_transpose_size(3, 3, 1, 0, 1, 1)[0] is None


def test_fast_settings_give_the_same_shapes_and_errors_as_the_defaults():
    cases = [("Conv1d", 1, dict(kernel_size=3, stride=2, padding=1, dilation=2)),
             ("Conv2d", 2, dict(kernel_size=4, stride=3, padding=0, dilation=1)),
             ("ConvTranspose1d", 1, dict(kernel_size=4, stride=1, padding=2, output_padding=0,
                                         dilation=1)),
             ("ConvTranspose2d", 2, dict(kernel_size=4, stride=2, padding=3, output_padding=1,
                                         dilation=2)),
             ("ConvTranspose2d", 2, dict(kernel_size=3, stride=2, padding=1, output_padding=1,
                                         dilation=1)),
             ("MaxPool2d", 2, dict(kernel_size=3, stride=2, padding=1, dilation=2, ceil_mode=True))]
    for name, dims, params in cases:
        for n in range(1, 7):
            default = checks._run_layer(name, dims, n, **params)
            with checks._tiny_layers():
                fast = checks._run_layer(name, dims, n, **params)
            assert (default[0], default[1] is None) == (fast[0], fast[1] is None), (name, n, params)
    assert torch.get_num_threads() >= 1 and torch.backends.mkldnn.enabled


def test_size_keeping_paddings_are_found_by_search():
    assert checks.torch_size_keeping_paddings(3, 1) == (1,)
    assert checks.torch_size_keeping_paddings(3, 3) == (3,)
    assert checks.torch_size_keeping_paddings(4, 1) == ()


@pytest.mark.parametrize("layers, expected", [
    ((), (1, 1)), (((3, 1, 1),), (3, 1)), (((3, 1, 2),), (5, 1)),
    (((3, 1, 1), (3, 1, 1)), (5, 1)), (((2, 2, 1), (3, 1, 1)), (6, 2)),
    (((1, 2, 1), (3, 1, 1)), (5, 2)), (((3, 2, 1),) * 3, (15, 8)),
])
def test_empirical_receptive_field(layers, expected):
    assert checks.empirical_receptive_field(layers) == expected


def test_grids_are_exhaustive_and_include_failures():
    assert len(checks.conv_grid()) == 8 * 5 * 3 * 4 * 3
    assert len(checks.pool_grid()) == 8 * 5 * 4 * 4 * 3 * 2
    assert len(checks.conv_transpose_grid()) == 5 * 4 * 3 * 4 * 3 * 3
    stacks = checks.receptive_field_stacks()
    assert () in stacks and len(set(stacks)) > 400


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
])
def test_reference_answers_pass(check, fn):
    check(fn)


# ----------------------------------------------------------------------------- wrong answers

def _without(fn, **fixed):
    """``fn`` with some keyword arguments ignored (forced to ``fixed``)."""
    def wrong(*args, **kwargs):
        return fn(*args, **{**kwargs, **fixed})
    return wrong


@pytest.mark.parametrize("check, wrong, cause", [
    (checks.check_conv_output_size, _without(conv_size, dilation=1), checks.DILATION_IGNORED),
    (checks.check_conv_output_size,
     lambda n, k, stride=1, padding=0, dilation=1: (n + 2 * padding - dilation * (k - 1) - 1) // stride,
     checks.PLUS_ONE_MISSING),
    (checks.check_pool_output_size, _without(pool_size, ceil_mode=False), checks.CEIL_MODE_IGNORED),
    (checks.check_conv_transpose_output_size, _without(transpose_size, output_padding=0),
     checks.OUTPUT_PADDING_IGNORED),
    (checks.check_same_padding, lambda k, dilation=1: (k - 1) // 2, checks.DILATION_IGNORED),
    (checks.check_receptive_field,
     lambda layers: (1 + sum(d * (k - 1) for k, _, d in layers), field(layers)[1]),
     checks.GROWTH_NOT_SCALED),
])
def test_likely_mistakes_are_named(check, wrong, cause):
    with pytest.raises(CheckFailure, match=re.escape(f"Likely cause: {cause}")):
        check(wrong)


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
        checks.check_pool_output_size(keeps_last_window)


def test_failures_name_the_first_wrong_call_and_count_them():
    with pytest.raises(CheckFailure) as failure:
        checks.check_conv_output_size(_without(conv_size, dilation=1))
    message = str(failure.value)
    assert "disagrees with PyTorch's Conv1d/Conv2d on" in message
    assert re.search(r"first: conv_output_size\(\d+, \d+, stride=\d, padding=\d, dilation=[23]\)", message)


def test_floats_are_refused_with_a_hint():
    def true_division(n, k, stride=1, padding=0, dilation=1):
        return (n + 2 * padding - dilation * (k - 1) - 1) / stride + 1
    with pytest.raises(CheckFailure, match=r"returned float .*return an int \(use // for floor division\)"):
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
                  checks.check_receptive_field):
        with pytest.raises(CheckFailure, match="not implemented yet"):
            check(stub)


def test_asking_pytorch_is_forbidden():
    def asks_pytorch(n, k, stride=1, padding=0, dilation=1):
        return nn.Conv1d(1, 1, k, stride, padding, dilation)(torch.zeros(1, 1, n)).shape[-1]

    def asks_the_oracle(layers):
        return checks.empirical_receptive_field(tuple(layers))
    with pytest.raises(CheckFailure, match="from scratch"):
        checks.check_conv_output_size(asks_pytorch, full=False)
    with pytest.raises(CheckFailure, match="from scratch"):
        checks.check_receptive_field(asks_the_oracle, full=False)


def test_receptive_field_must_return_a_pair_of_ints():
    with pytest.raises(CheckFailure, match="return a tuple of two ints"):
        checks.check_receptive_field(lambda layers: list(field(layers)), full=False)


def test_assert_size_checks_type_value_and_names_the_mistake():
    checks.assert_size(3, 3, what="x")
    checks.assert_size((5, 1), (5, 1), what="x")
    with pytest.raises(CheckFailure, match=r"returned float 3.0; expected an int \(use //"):
        checks.assert_size(3.0, 3, what="x")
    with pytest.raises(CheckFailure, match="returned 5, expected 3.\nLikely cause: because"):
        checks.assert_size(5, 3, what="x", likely=[("because", 5)])
    with pytest.raises(CheckFailure, match="expected a tuple of 2 ints"):
        checks.assert_size([5, 1], (5, 1), what="x")
    with pytest.raises(CheckFailure, match="expected an int"):
        checks.assert_size(True, 1, what="x")
