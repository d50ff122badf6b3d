"""Hidden checks of notebook 02 (output-size formulas): grader only, never shipped.

The likely wrong answers of each graded function, which are near-copies of the exercise's
solution with one mistake, and the hidden checks that pass them to the student-side checks of
:mod:`autograder.output_size` (PyTorch's layers and autograd over the full grids). Hidden tests
pass no seed: the random stacks of the receptive-field check come from the grading run's seed.
"""
from autograder import output_size as checks
from autograder.output_size import (
    CEIL_MODE_IGNORED, DILATION_IGNORED, GROWTH_NOT_SCALED, JUMP_LAST_STRIDE, JUMP_TOO_EARLY,
    LAST_WINDOW_KEPT, LAST_WINDOW_RULE_PADDED, OUTPUT_PADDING_IGNORED, PADDING_ONCE,
    PLUS_ONE_MISSING, ROUNDS_UP, SAME_D_TIMES_K, SAME_ROUNDED_DOWN, SPAN_D_TIMES_K,
    STRIDE_NONE_IS_ONE, STRIDES_ADDED, TRANSPOSE_N_TIMES_STRIDE, TRANSPOSE_PADDING_ADDED,
)


def _floor_size(room, stride):
    """Windows of one stride in a room of ``room`` pixels beyond the first window."""
    return room // stride + 1


def mistakes_conv_output_size(n, kernel_size, stride=1, padding=0, dilation=1):
    """Known wrong outputs of ``conv_output_size`` (a size below 1 predicts a ValueError)."""
    k, s, p, d = kernel_size, stride, padding, dilation
    return [
        (DILATION_IGNORED, _floor_size(n + 2 * p - k, s)),
        (PADDING_ONCE, _floor_size(n + p - d * (k - 1) - 1, s)),
        (ROUNDS_UP, -(-(n + 2 * p - d * (k - 1) - 1) // s) + 1),
        (PLUS_ONE_MISSING, (n + 2 * p - d * (k - 1) - 1) // s),
        (SPAN_D_TIMES_K, _floor_size(n + 2 * p - d * k, s)),
    ]


def mistakes_pool_output_size(n, kernel_size, stride=None, padding=0, dilation=1,
                              ceil_mode=False):
    """Known wrong outputs of ``pool_output_size``."""
    k, p, d = kernel_size, padding, dilation
    s = k if stride is None else stride
    room = n + 2 * p - d * (k - 1) - 1
    uncorrected = -(-room // s) + 1 if ceil_mode else _floor_size(room, s)
    corrected_padded = uncorrected
    if ceil_mode and (uncorrected - 1) * s >= n + 2 * p:
        corrected_padded -= 1
    one = 1 if stride is None else s
    return [
        (STRIDE_NONE_IS_ONE, -(-room // one) + 1 if ceil_mode else _floor_size(room, one)),
        (CEIL_MODE_IGNORED, _floor_size(room, s)),
        (LAST_WINDOW_KEPT, uncorrected),
        (LAST_WINDOW_RULE_PADDED, corrected_padded),
        (DILATION_IGNORED,
         -(-(n + 2 * p - k) // s) + 1 if ceil_mode else _floor_size(n + 2 * p - k, s)),
    ]


def mistakes_conv_transpose_output_size(n, kernel_size, stride=1, padding=0, output_padding=0,
                                        dilation=1):
    """Known wrong outputs of ``conv_transpose_output_size``."""
    k, s, p, q, d = kernel_size, stride, padding, output_padding, dilation
    return [
        (OUTPUT_PADDING_IGNORED, (n - 1) * s - 2 * p + d * (k - 1) + 1),
        (DILATION_IGNORED, (n - 1) * s - 2 * p + (k - 1) + q + 1),
        (TRANSPOSE_PADDING_ADDED, (n - 1) * s + 2 * p + d * (k - 1) + q + 1),
        (TRANSPOSE_N_TIMES_STRIDE, n * s - 2 * p + d * (k - 1) + q + 1),
    ]


def mistakes_same_padding(kernel_size, dilation=1):
    """Known wrong outputs of ``same_padding``."""
    k, d = kernel_size, dilation
    return [(DILATION_IGNORED, (k - 1) // 2), (SAME_ROUNDED_DOWN, d * (k - 1) // 2),
            (SAME_D_TIMES_K, d * k // 2)]


def mistakes_receptive_field(layers):
    """Known wrong ``(size, jump)`` of ``receptive_field`` (``None``: any value)."""
    size_late, size_nodil, size_flat, size_added, jump, jump_added = 1, 1, 1, 1, 1, 1
    for k, s, d in layers:
        size_nodil += (k - 1) * jump
        size_flat += d * (k - 1)
        size_late += d * (k - 1) * jump * s
        size_added += d * (k - 1) * jump_added
        jump *= s
        jump_added += s - 1
    jump_last = layers[-1][1] if layers else 1
    return [
        (JUMP_TOO_EARLY, (size_late, jump)),
        (DILATION_IGNORED, (size_nodil, jump)),
        (GROWTH_NOT_SCALED, (size_flat, jump)),
        (JUMP_LAST_STRIDE, (None, jump_last)),
        (STRIDES_ADDED, (size_added, jump_added)),
    ]


def check_conv_output_size(fn):
    """The student-side check on the full grid, with the likely mistakes."""
    checks.check_conv_output_size(fn, likely_mistakes=mistakes_conv_output_size)


def check_pool_output_size(fn):
    """The student-side check on the full grid, with the likely mistakes."""
    checks.check_pool_output_size(fn, likely_mistakes=mistakes_pool_output_size)


def check_conv_transpose_output_size(fn):
    """The student-side check on the full grid, with the likely mistakes."""
    checks.check_conv_transpose_output_size(fn, likely_mistakes=mistakes_conv_transpose_output_size)


def check_same_padding(fn):
    """The student-side check on every K <= 7 and D <= 4, with the likely mistakes."""
    checks.check_same_padding(fn, likely_mistakes=mistakes_same_padding)


def check_receptive_field(fn, seed=None):
    """The student-side check on every stack, random ones drawn from ``seed``, with the likely
    mistakes."""
    checks.check_receptive_field(fn, seed=seed, likely_mistakes=mistakes_receptive_field)


def check_sizes(fn, cases, *, name):
    """``checks.check_sizes`` with the likely mistakes of ``name``."""
    mistakes = {"conv_output_size": mistakes_conv_output_size,
                "pool_output_size": mistakes_pool_output_size,
                "conv_transpose_output_size": mistakes_conv_transpose_output_size,
                "same_padding": mistakes_same_padding}[name]
    checks.check_sizes(fn, cases, name=name, likely_mistakes=mistakes)
