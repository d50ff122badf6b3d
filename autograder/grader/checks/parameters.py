"""Hidden checks of notebook 03 (counting parameters and MACs): grader only, never shipped.

The likely wrong counts of each graded function, which are near-copies of the exercise's
formulas with one mistake; torchvision's counts of whole models; a brute-force MAC count (a
convolution of ones); and the hidden checks that pass them to the student-side checks of
:mod:`autograder.parameters`. Hidden tests pass no seed: their random layers and specs come
from the grading run's seed.
"""
import torch
import torchvision

from autograder import parameters as checks
from autograder.checking import Case, CheckFailure
from autograder.parameters import (
    BIAS_ADDITIONS_COUNTED, BIAS_COUNTED_WHEN_OFF, BIAS_PER_INPUT, BIAS_PER_INPUT_CHANNEL,
    BN_NOT_COUNTED, BN_RUNNING_STATISTICS, DEPTHWISE_BIAS_MISSING, DEPTHWISE_FULL, FLOPS_NOT_MACS,
    GROUPS_IGNORED, KERNEL_HEIGHT_ONLY, KERNEL_NOT_SQUARED, META, MISSING_BIAS, MODEL_SPECS,
    OUTPUTS_DIVIDED_BY_GROUPS, PARAMETERS_NOT_MACS, POINTWISE_BIAS_MISSING, POINTWISE_K_BY_K,
    SINGLE_BIAS, SPEC_AFFINE_IGNORED, SPEC_BIAS_IGNORED, SPEC_GROUPS_IGNORED,
    STANDARD_NOT_SEPARABLE, WIDTH_AS_HEIGHT, _kernel_pair, _modules_of, parameter_count,
)


# ----------------------------------------------------------------------------- likely mistakes

def mistakes_conv2d_params(c_in, c_out, kernel_size, bias=True, groups=1):
    """Known wrong counts of a conv layer's parameters, with their causes."""
    kh, kw = _kernel_pair(kernel_size)
    depth, b = c_in // groups, int(bias)
    found = [(MISSING_BIAS, c_out * depth * kh * kw) if bias else
             (BIAS_COUNTED_WHEN_OFF, c_out * (depth * kh * kw + 1)),
             (GROUPS_IGNORED, c_out * (c_in * kh * kw + b)),
             (OUTPUTS_DIVIDED_BY_GROUPS, c_out // groups * (depth * kh * kw + b)),
             (BIAS_PER_INPUT_CHANNEL, c_out * depth * (kh * kw + b)),
             (KERNEL_HEIGHT_ONLY, c_out * (depth * kh * kh + b))]
    if kh == kw:
        found.append((KERNEL_NOT_SQUARED, c_out * (depth * kh + b)))
    return found


def mistakes_linear_params(n_in, n_out, bias=True):
    """Known wrong counts of a dense layer's parameters."""
    if not bias:
        return [(BIAS_COUNTED_WHEN_OFF, n_out * (n_in + 1))]
    return [(MISSING_BIAS, n_in * n_out), (BIAS_PER_INPUT, n_in * n_out + n_in),
            (SINGLE_BIAS, n_in * n_out + 1)]


def mistakes_depthwise_separable_params(c_in, c_out, kernel_size, bias=True):
    """Known wrong counts of a depthwise separable block."""
    kh, kw = _kernel_pair(kernel_size)
    k, b = kh * kw, int(bias)
    found = [(DEPTHWISE_FULL, c_in * (c_in * k + b) + c_out * (c_in + b)),
             (STANDARD_NOT_SEPARABLE, c_out * (c_in * k + b)),
             (POINTWISE_K_BY_K, c_in * (k + b) + c_out * (c_in * k + b)),
             (KERNEL_HEIGHT_ONLY, c_in * (kh * kh + b) + c_out * (c_in + b))]
    if bias:
        found += [(DEPTHWISE_BIAS_MISSING, c_in * k + c_out * (c_in + 1)),
                  (POINTWISE_BIAS_MISSING, c_in * (k + 1) + c_out * c_in)]
    else:
        found.append((BIAS_COUNTED_WHEN_OFF, c_in * (k + 1) + c_out * (c_in + 1)))
    return found


def mistakes_conv2d_macs(c_in, c_out, kernel_size, out_h, out_w, groups=1):
    """Known wrong MAC counts of a conv layer."""
    kh, kw = _kernel_pair(kernel_size)
    depth, positions = c_in // groups, out_h * out_w
    macs = positions * c_out * depth * kh * kw
    found = [(FLOPS_NOT_MACS, 2 * macs),
             (GROUPS_IGNORED, positions * c_out * c_in * kh * kw),
             (OUTPUTS_DIVIDED_BY_GROUPS, positions * (c_out // groups) * depth * kh * kw),
             (BIAS_ADDITIONS_COUNTED, macs + positions * c_out),
             (PARAMETERS_NOT_MACS, c_out * (depth * kh * kw + 1)),
             (WIDTH_AS_HEIGHT, out_h * out_h * c_out * depth * kh * kw),
             (KERNEL_HEIGHT_ONLY, positions * c_out * depth * kh * kh)]
    if kh == kw:
        found.append((KERNEL_NOT_SQUARED, positions * c_out * depth * kh))
    return found


def _count(spec):
    return parameter_count(_modules_of(spec))


def _with(spec, kind, **changes):
    return [dict(layer, **changes) if layer["type"] == kind else layer for layer in spec]


def mistakes_count_params(spec):
    """Known wrong totals of a spec, each counted by PyTorch on an altered spec."""
    spec = list(spec)
    affine = [layer for layer in spec if layer["type"] == "batchnorm2d" and layer.get("affine", True)]
    return [  # running statistics counted: 4 numbers per channel where there are 2 parameters
        (BN_RUNNING_STATISTICS, _count(spec) + sum(2 * layer["channels"] for layer in affine)),
        (BN_NOT_COUNTED, _count([layer for layer in spec if layer["type"] != "batchnorm2d"])),
        (SPEC_BIAS_IGNORED, _count(_with(_with(spec, "conv2d", bias=True), "linear", bias=True))),
        (SPEC_GROUPS_IGNORED, _count(_with(spec, "conv2d", groups=1))),
        (SPEC_AFFINE_IGNORED, _count(_with(spec, "batchnorm2d", affine=True))),
    ]


# ----------------------------------------------------------------------------- other oracles

def torchvision_params(name):
    """Parameter count of ``torchvision.models.<name>(weights=None)``, built on the meta device."""
    with META:
        model = getattr(torchvision.models, name)(weights=None)
    return parameter_count(model)


def brute_force_macs(c_in, c_out, kernel_size, out_h, out_w, groups=1):
    """Convolve ones with ones: each output equals the number of products summed into it."""
    kh, kw = _kernel_pair(kernel_size)
    x = torch.ones(1, c_in, out_h + kh - 1, out_w + kw - 1, dtype=torch.float64)
    w = torch.ones(c_out, c_in // groups, kh, kw, dtype=torch.float64)
    return int(torch.nn.functional.conv2d(x, w, groups=groups).sum())


# ----------------------------------------------------------------------------- hidden checks

def check_linear_params(fn, n_cases=30):
    """The student-side check on random layers of the grading run, with the likely mistakes."""
    checks.check_linear_params(fn, n_cases=n_cases, likely_mistakes=mistakes_linear_params)


def check_conv2d_params(fn, n_cases=80):
    """The student-side check on random layers of the grading run, with the likely mistakes."""
    checks.check_conv2d_params(fn, n_cases=n_cases, likely_mistakes=mistakes_conv2d_params)


def check_depthwise_separable_params(fn, n_cases=30):
    """The student-side check on random blocks of the grading run, with the likely mistakes."""
    checks.check_depthwise_separable_params(fn, n_cases=n_cases,
                                            likely_mistakes=mistakes_depthwise_separable_params)


def check_conv2d_macs(fn, n_cases=40):
    """The student-side check on random layers of the grading run, with the likely mistakes."""
    checks.check_conv2d_macs(fn, n_cases=n_cases, likely_mistakes=mistakes_conv2d_macs)


def check_conv2d_macs_brute_force(fn):
    """``conv2d_macs`` equals the sum of a convolution of ones with ones on small layers."""
    cases = [Case((c_in, c_out, kernel_size, out_h, out_w), {"groups": groups})
             for c_in, c_out, groups in [(1, 1, 1), (2, 3, 1), (4, 2, 2), (3, 6, 3), (4, 4, 4),
                                         (6, 4, 2)]
             for kernel_size in (1, 2, 3, (1, 3), (2, 1))
             for out_h, out_w in ((1, 1), (2, 3), (4, 1))]
    checks.check_counts(fn, cases, [brute_force_macs(*case.args, **case.kwargs) for case in cases],
                        name="conv2d_macs", likely_mistakes=mistakes_conv2d_macs)


def check_count_params(fn, n_cases=60):
    """The student-side check on random specs of the grading run, with the likely mistakes."""
    checks.check_count_params(fn, n_cases=n_cases, likely_mistakes=mistakes_count_params)


def check_count_params_spec(fn, spec, expected):
    """``count_params(spec)`` is the hand-worked ``expected``, with the likely mistakes."""
    checks.check_counts(fn, [Case((spec,))], [expected], name="count_params",
                        likely_mistakes=mistakes_count_params)


def check_count_params_models(fn, names=tuple(MODEL_SPECS)):
    """``count_params`` of the specs of torchvision models equals torchvision's own count."""
    for name in names:
        try:
            check_count_params_spec(fn, MODEL_SPECS[name](), torchvision_params(name))
        except CheckFailure as failure:
            raise CheckFailure(f"{name}_spec(), counted by torchvision.models.{name}: "
                               f"{failure}") from None
