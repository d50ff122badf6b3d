"""Checks of notebook 03 (counting parameters and multiply-accumulates): the student-side part.

The oracles are PyTorch itself: a parameter count is ``sum(p.numel() for p in
module.parameters())`` of real ``torch.nn`` modules, built on the ``meta`` device (shapes only, no
memory, however large the layer), and multiply-accumulates (MACs) are counted by
``torch.utils.flop_counter.FlopCounterMode``, which reports two FLOPs per MAC. Counts are exact
integers: a student function must return an ``int``.

No function here computes a graded function's count from its arguments: the checks build the
modules and count them inline. A failing check names a likely cause where the outcome shows it
by itself (a float returned, an input not validated, a known layer type refused); the likely
wrong counts, which take the formulas to predict, are grader-only
(:mod:`autograder.grader.checks.parameters`), whose hidden checks call these with them. A
student's function runs on all the cases of a check in one ``checking.call_each`` (under grading
one round trip to the student's kernel, where the from-scratch watch runs: building a module,
reading its parameters or counting FLOPs with PyTorch is forbidden there). Every ``check_*``
function raises ``CheckFailure`` with a readable message, or returns ``None``.

The specs of AlexNet, VGG-16 and ResNet-18 are data (lists of layer dicts, see ``count_params``
in the notebook), written from the papers' tables; the hidden tests compare their counts with
``torchvision.models``.
"""
import re

import numpy as np
import torch
from torch import nn
from torch.utils import flop_counter

from autograder.checking import Case, CheckFailure, call_each, describe_call, make_rng
from autograder.output_size import check_rejects  # the same invalid-input check as notebook 02

PARAMETER_FREE_TYPES = ("relu", "tanh", "maxpool2d", "avgpool2d", "adaptive_avgpool2d", "flatten",
                        "dropout")
LAYER_TYPES = ("conv2d", "linear", "batchnorm2d") + PARAMETER_FREE_TYPES
META = torch.device("meta")
FORBIDDEN = (
    nn.Module.__init__, nn.Module.parameters, nn.Module.named_parameters, nn.Module.state_dict,
    flop_counter.FlopCounterMode.__init__, flop_counter.conv_flop_count,
)

MISSING_BIAS = "the bias is missing: each output unit has one bias (when bias=True)"
BIAS_COUNTED_WHEN_OFF = "a bias is counted although bias=False"
BIAS_PER_INPUT = "one bias per input: the biases belong to the n_out outputs"
SINGLE_BIAS = "a single bias for the whole layer: each of the n_out units has its own"
BIAS_PER_INPUT_CHANNEL = "the bias is counted once per input channel: a filter has one bias"
GROUPS_IGNORED = ("groups is ignored: with groups=g each filter sees only C_in / g input channels, "
                  "so a filter has (C_in / g) K_h K_w weights")
OUTPUTS_DIVIDED_BY_GROUPS = ("C_out is divided by groups as well: there are still C_out filters, "
                             "only each filter's depth is C_in / groups")
KERNEL_NOT_SQUARED = "the kernel is counted as K, not K_h * K_w weights per input channel"
KERNEL_HEIGHT_ONLY = "a (h, w) kernel is counted as h * h: use K_h * K_w"
TRUE_DIVISION = "a division is `/`, which gives a float: use `//` (exact integer division)"
FLOPS_NOT_MACS = "this counts FLOPs (a multiply and an add each): count multiply-accumulates"
BIAS_ADDITIONS_COUNTED = "the bias additions are counted: the convention here leaves them out"
PARAMETERS_NOT_MACS = ("this counts parameters at one position, not multiply-accumulates at every "
                       "output position")
WIDTH_AS_HEIGHT = "the output width is taken as the height"
DEPTHWISE_FULL = ("the depthwise step is a full convolution: with groups=C_in each of its C_in "
                  "filters sees one channel, K_h K_w weights")
STANDARD_NOT_SEPARABLE = "this is the full (standard) convolution, not its separable version"
POINTWISE_K_BY_K = "the pointwise step is K_h x K_w: it is a 1x1 convolution"
DEPTHWISE_BIAS_MISSING = "the depthwise convolution's bias is missing (both steps have one)"
POINTWISE_BIAS_MISSING = "the pointwise convolution's bias is missing (both steps have one)"
BN_RUNNING_STATISTICS = ("batchnorm2d has 2 parameters per channel (weight and bias; 0 when "
                         "affine=False); its running mean and variance are buffers, not parameters")
BN_NOT_COUNTED = "batchnorm2d layers are not counted: they have a weight and a bias per channel"
SPEC_BIAS_IGNORED = "a layer's 'bias': False is ignored"
SPEC_GROUPS_IGNORED = "a conv2d layer's 'groups' is ignored"
SPEC_AFFINE_IGNORED = "a batchnorm2d layer's 'affine': False is ignored"
SIZES_NOT_CHECKED = "the sizes are not validated: every size must be an int >= 1 (ValueError below 1)"
GROUPS_CHECKED_ON_C_IN_ONLY = ("only C_in is checked against groups: C_out must be split into "
                               "equal groups too")
UNKNOWN_TYPE_COUNTED = ("an unknown layer type is counted as 0 parameters: raise ValueError "
                        "naming it")
MISSING_KEY_READ = ("a missing key is read directly (layer['c_out']) and raises KeyError: check "
                    "the required keys first and raise ValueError naming the missing one")


def known_type_refused(layer_type):
    """The likely cause of an error on a valid spec that names one of its layer types."""
    return (f"the layer type '{layer_type}' is not known to count_params: it is in the table "
            "of types (a layer without parameters if it is not conv2d, linear or batchnorm2d)")


# ----------------------------------------------------------------------------- PyTorch's counts

def parameter_count(module):
    """PyTorch's own count of the learnable parameters of ``module``."""
    return int(sum(p.numel() for p in module.parameters()))


def measured_macs(module, input_shape):
    """Multiply-accumulates of one forward pass of ``module`` on a meta tensor of ``input_shape``.

    Counted by ``FlopCounterMode`` (2 FLOPs per multiply-accumulate; bias additions not counted).
    """
    with flop_counter.FlopCounterMode(display=False) as counter:
        module(torch.empty(input_shape, device=META))
    return int(counter.get_total_flops()) // 2


def _kernel_pair(kernel_size):
    """``(K_h, K_w)`` from an int or an ``(h, w)`` pair."""
    if isinstance(kernel_size, (tuple, list)):
        return int(kernel_size[0]), int(kernel_size[1])
    return int(kernel_size), int(kernel_size)


def _parameter_free_module(layer):
    kind = layer["type"]
    if kind in ("maxpool2d", "avgpool2d"):
        pool = nn.MaxPool2d if kind == "maxpool2d" else nn.AvgPool2d
        return pool(layer.get("kernel_size", 2), layer.get("stride"))
    factories = {"relu": nn.ReLU, "tanh": nn.Tanh, "flatten": nn.Flatten,
                 "adaptive_avgpool2d": lambda: nn.AdaptiveAvgPool2d(layer.get("output_size", 1)),
                 "dropout": lambda: nn.Dropout(layer.get("p", 0.5))}
    return factories[kind]()


def _modules_of(spec, device=META):
    """The torch modules a (valid) spec describes, in an ``nn.Sequential``, for PyTorch to count."""
    modules = []
    for layer in spec:
        kind = layer["type"]
        if kind == "conv2d":
            modules.append(nn.Conv2d(layer["c_in"], layer["c_out"], _kernel_pair(layer["kernel_size"]),
                                     bias=layer.get("bias", True), groups=layer.get("groups", 1),
                                     device=device))
        elif kind == "linear":
            modules.append(nn.Linear(layer["n_in"], layer["n_out"], bias=layer.get("bias", True),
                                     device=device))
        elif kind == "batchnorm2d":
            modules.append(nn.BatchNorm2d(layer["channels"], affine=layer.get("affine", True),
                                          device=device))
        else:
            modules.append(_parameter_free_module(layer))
    return nn.Sequential(*modules)


def _separable_block(c_in, c_out, kernel_size, bias):
    """A depthwise ``K_h x K_w`` conv (groups=C_in), then a pointwise 1x1 conv, on the meta device."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_in, _kernel_pair(kernel_size), groups=c_in, bias=bias, device=META),
        nn.Conv2d(c_in, c_out, 1, bias=bias, device=META))


# ----------------------------------------------------------------------------- network specs

def _conv(c_in, c_out, kernel_size, stride=1, padding=0, bias=True):
    return {"type": "conv2d", "c_in": c_in, "c_out": c_out, "kernel_size": kernel_size,
            "stride": stride, "padding": padding, "bias": bias}


def _linear(n_in, n_out):
    return {"type": "linear", "n_in": n_in, "n_out": n_out}


def lenet5_spec():
    """LeNet-5 in its common modern form (32x32 grey input, tanh, average pooling, 10 classes): the
    notebook's ``LENET5_SPEC``."""
    spec = []
    for c_in, c_out, pool in [(1, 6, True), (6, 16, True), (16, 120, False)]:
        spec += [{"type": "conv2d", "c_in": c_in, "c_out": c_out, "kernel_size": 5}, {"type": "tanh"}]
        if pool:
            spec.append({"type": "avgpool2d", "kernel_size": 2})
    return spec + [{"type": "flatten"}, _linear(120, 84), {"type": "tanh"}, _linear(84, 10)]


def alexnet_spec():
    """AlexNet as torchvision builds it (one-tower variant, 224x224 RGB input, 1000 classes)."""
    spec = []
    for c_in, c_out, kernel, stride, padding, pool in [(3, 64, 11, 4, 2, True),
                                                       (64, 192, 5, 1, 2, True),
                                                       (192, 384, 3, 1, 1, False),
                                                       (384, 256, 3, 1, 1, False),
                                                       (256, 256, 3, 1, 1, True)]:
        spec += [_conv(c_in, c_out, kernel, stride, padding), {"type": "relu"}]
        if pool:
            spec.append({"type": "maxpool2d", "kernel_size": 3, "stride": 2})
    spec += [{"type": "adaptive_avgpool2d", "output_size": 6}, {"type": "flatten"},
             {"type": "dropout"}, _linear(256 * 6 * 6, 4096), {"type": "relu"},
             {"type": "dropout"}, _linear(4096, 4096), {"type": "relu"}, _linear(4096, 1000)]
    return spec


VGG16_STAGES = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))


def vgg16_spec():
    """VGG-16 (configuration D): thirteen 3x3 convolutions in five stages, then three dense layers."""
    spec, c_in = [], 3
    for c_out, repeats in VGG16_STAGES:
        for _ in range(repeats):
            spec += [_conv(c_in, c_out, 3, padding=1), {"type": "relu"}]
            c_in = c_out
        spec.append({"type": "maxpool2d", "kernel_size": 2, "stride": 2})
    spec += [{"type": "adaptive_avgpool2d", "output_size": 7}, {"type": "flatten"},
             _linear(512 * 7 * 7, 4096), {"type": "relu"}, {"type": "dropout"},
             _linear(4096, 4096), {"type": "relu"}, {"type": "dropout"}, _linear(4096, 1000)]
    return spec


def _basic_block(c_in, c_out, stride):
    """Conv-BN-ReLU-conv-BN, plus a 1x1 projection (conv + BN) when the shape changes."""
    block = [_conv(c_in, c_out, 3, stride, 1, bias=False), {"type": "batchnorm2d", "channels": c_out},
             {"type": "relu"}, _conv(c_out, c_out, 3, 1, 1, bias=False),
             {"type": "batchnorm2d", "channels": c_out}]
    if stride != 1 or c_in != c_out:
        block += [_conv(c_in, c_out, 1, stride, 0, bias=False),
                  {"type": "batchnorm2d", "channels": c_out}]
    return block + [{"type": "relu"}]


def resnet18_spec():
    """ResNet-18: a 7x7 stem, four stages of two basic blocks, global average pooling, one dense layer.

    The skip connections add no parameters, so the spec lists only the layers that own some.
    """
    spec = [_conv(3, 64, 7, 2, 3, bias=False), {"type": "batchnorm2d", "channels": 64},
            {"type": "relu"}, {"type": "maxpool2d", "kernel_size": 3, "stride": 2}]
    c_in = 64
    for c_out, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
        spec += _basic_block(c_in, c_out, stride) + _basic_block(c_out, c_out, 1)
        c_in = c_out
    return spec + [{"type": "adaptive_avgpool2d", "output_size": 1}, {"type": "flatten"},
                   _linear(512, 1000)]


MODEL_SPECS = {"alexnet": alexnet_spec, "vgg16": vgg16_spec, "resnet18": resnet18_spec}


# ----------------------------------------------------------------------------- comparing counts

def _is_integer(value):
    return type(value) is int or isinstance(value, np.integer)


def _difference(actual, expected):
    """How the count ``actual`` differs from the int ``expected``; ``None`` if it does not."""
    if not _is_integer(actual):
        return f"returned {type(actual).__name__} {actual!r}; return an int"
    actual = int(actual)
    if actual == expected:
        return None
    gap = actual - expected
    return f"returned {actual:,}, expected {expected:,} ({abs(gap):,} {'too many' if gap > 0 else 'too few'})"


def _likely(actual, likely):
    if isinstance(actual, (float, np.floating)):
        return f".\nLikely cause: {TRUE_DIVISION}"
    if not _is_integer(actual):
        return ""
    for description, wrong in likely:
        if int(actual) == wrong:
            return f".\nLikely cause: {description}"
    return ""


def assert_count(actual, expected, *, what="the count", likely=()):
    """Fail unless ``actual`` is an int equal to ``expected``.

    ``likely`` is a sequence of ``(description, wrong_count)`` pairs: known wrong answers.
    """
    message = _difference(actual, int(expected))
    if message is not None:
        raise CheckFailure(f"{what} {message}{_likely(actual, likely)}")


def _refused_type(case, error):
    """The cause of an error on a valid spec that names one of the spec's layer types (quoted, or
    else as a word), or None."""
    types = {layer["type"] for layer in case.args[0]}
    for pattern in (r"['\"]{}['\"]", r"(?<!\w){}(?!\w)"):
        named = {kind for kind in types if re.search(pattern.format(re.escape(kind)), str(error))}
        if named:
            return known_type_refused(named.pop()) if len(named) == 1 else None
    return None


def check_counts(fn, cases, expected, *, name, likely_mistakes=None):
    """Fail unless ``fn`` returns the int ``expected[i]`` on ``cases[i]`` (``Case``s), all called
    in one round trip, building no module. ``likely_mistakes(*args, **kwargs)``: known wrong
    counts, ``(description, count)`` pairs, named when the answer equals one."""
    outcomes = call_each(fn, [(case.args, case.kwargs) for case in cases], name=name,
                         forbidden=FORBIDDEN)
    for case, count, (actual, error) in zip(cases, expected, outcomes):
        call = describe_call(name, case.args, case.kwargs)
        if error is not None:
            cause = _refused_type(case, error) if name == "count_params" else None
            likely = f"\nLikely cause: {cause}" if cause else ""
            raise CheckFailure(f"{call} raised {type(error).__name__}: {error}{likely}")
        message = _difference(actual, count)
        if message is not None:
            likely = likely_mistakes(*case.args, **case.kwargs) if likely_mistakes else ()
            raise CheckFailure(f"{call} {message}{_likely(actual, likely)}")


# ----------------------------------------------------------------------------- random cases

def _random_kernel(rng):
    kh, kw = (int(v) for v in rng.integers(1, 8, size=2))
    return int(kh) if rng.random() < 0.5 else (kh, kw)


def _random_channels(rng):
    """``(c_in, c_out, groups)`` with groups dividing both; depthwise (groups=C_in) included."""
    groups = int(rng.choice([1, 1, 2, 3, 4, 8]))
    c_in, c_out = groups * int(rng.integers(1, 17)), groups * int(rng.integers(1, 17))
    if rng.random() < 0.15:
        groups = c_in
        c_out = c_in * int(rng.integers(1, 4))
    return c_in, c_out, groups


def cases_conv2d_params(seed=None, n_cases=40):
    """Random conv layers: groups, (h, w) kernels, with and without bias, defaults omitted."""
    rng = make_rng(seed)
    cases = [Case((3, 64, 11)), Case((6, 4, (1, 5)), {"bias": False, "groups": 2})]
    for _ in range(n_cases - 2):
        c_in, c_out, groups = _random_channels(rng)
        kwargs = {"bias": bool(rng.random() < 0.6)} if rng.random() < 0.7 else {}
        if groups > 1 or rng.random() < 0.3:
            kwargs["groups"] = groups
        cases.append(Case((c_in, c_out, _random_kernel(rng)), kwargs))
    return cases


def cases_linear_params(seed=None, n_cases=30):
    """Random dense layers, up to 200x200x3 inputs, with and without bias."""
    rng = make_rng(seed)
    cases = [Case((32 * 32 * 3, 1)), Case((200 * 200 * 3, 10), {"bias": False})]
    for _ in range(n_cases - 2):
        n_in, n_out = int(rng.integers(1, 5000)), int(rng.integers(1, 600))
        cases.append(Case((n_in, n_out), {"bias": bool(rng.random() < 0.6)} if rng.random() < 0.7 else {}))
    return cases


def cases_depthwise_separable_params(seed=None, n_cases=30):
    """Random depthwise separable blocks, (h, w) kernels, with and without bias."""
    rng = make_rng(seed)
    cases = [Case((32, 64, 3)), Case((5, 7, (3, 1)), {"bias": False})]
    for _ in range(n_cases - 2):
        c_in, c_out = int(rng.integers(1, 300)), int(rng.integers(1, 300))
        kwargs = {"bias": bool(rng.random() < 0.6)} if rng.random() < 0.7 else {}
        cases.append(Case((c_in, c_out, _random_kernel(rng)), kwargs))
    return cases


def cases_conv2d_macs(seed=None, n_cases=40):
    """Random conv layers and output sizes (non-square included), groups and depthwise included."""
    rng = make_rng(seed)
    cases = [Case((3, 64, 11, 55, 55)), Case((8, 4, (3, 1), 5, 9), {"groups": 4})]
    for _ in range(n_cases - 2):
        c_in, c_out, groups = _random_channels(rng)
        out_h, out_w = (int(v) for v in rng.integers(1, 60, size=2))
        kwargs = {"groups": groups} if groups > 1 or rng.random() < 0.3 else {}
        cases.append(Case((c_in, c_out, _random_kernel(rng), out_h, out_w), kwargs))
    return cases


def _random_layer(rng):
    kind = str(rng.choice(["conv2d"] * 3 + ["linear"] * 2 + ["batchnorm2d"] * 2
                          + list(PARAMETER_FREE_TYPES)))
    if kind == "conv2d":
        c_in, c_out, groups = _random_channels(rng)
        layer = {"type": kind, "c_in": c_in, "c_out": c_out, "kernel_size": _random_kernel(rng)}
        if groups > 1 or rng.random() < 0.3:
            layer["groups"] = groups
        if rng.random() < 0.3:
            layer.update(stride=int(rng.integers(1, 3)), padding=int(rng.integers(0, 3)))
    elif kind == "linear":
        layer = {"type": kind, "n_in": int(rng.integers(1, 3000)), "n_out": int(rng.integers(1, 500))}
    elif kind == "batchnorm2d":
        layer = {"type": kind, "channels": int(rng.integers(1, 513))}
        if rng.random() < 0.5:
            layer["affine"] = bool(rng.random() < 0.5)
    else:
        layer = {"type": kind}
        if kind in ("maxpool2d", "avgpool2d"):
            layer["kernel_size"] = int(rng.integers(2, 4))
    if kind in ("conv2d", "linear") and rng.random() < 0.5:
        layer["bias"] = bool(rng.random() < 0.5)
    return layer


def cases_count_params(seed=None, n_cases=30):
    """Random specs of 0 to 10 layers of every type (the empty spec included)."""
    rng = make_rng(seed)
    cases = [Case(([],))]
    for _ in range(n_cases - 1):
        cases.append(Case(([_random_layer(rng) for _ in range(int(rng.integers(1, 11)))],)))
    return cases


# ----------------------------------------------------------------------------- checks

def check_linear_params(fn, seed=None, n_cases=30, likely_mistakes=None):
    """``linear_params`` equals the parameter count of ``torch.nn.Linear``; bad sizes raise."""
    cases = cases_linear_params(seed, n_cases)
    expected = [parameter_count(nn.Linear(*case.args, **case.kwargs, device=META)) for case in cases]
    check_counts(fn, cases, expected, name="linear_params", likely_mistakes=likely_mistakes)
    unchecked = {"returned": SIZES_NOT_CHECKED}
    check_rejects(fn, [((0, 3), {}, ValueError, "n_in must be at least 1", unchecked),
                       ((3, -1), {}, ValueError, "n_out must be at least 1", unchecked),
                       ((3, 1.5), {}, TypeError, "n_out must be an integer")], name="linear_params")


def check_conv2d_params(fn, seed=None, n_cases=40, likely_mistakes=None):
    """``conv2d_params`` equals the parameter count of ``torch.nn.Conv2d``, by formula."""
    cases = cases_conv2d_params(seed, n_cases)
    expected = [parameter_count(nn.Conv2d(c_in, c_out, _kernel_pair(kernel_size), **case.kwargs,
                                          device=META))
                for case in cases for c_in, c_out, kernel_size in [case.args]]
    check_counts(fn, cases, expected, name="conv2d_params", likely_mistakes=likely_mistakes)


def check_conv2d_params_rejects_bad_input(fn):
    """``conv2d_params`` raises ``ValueError``/``TypeError`` for impossible layers."""
    unchecked = {"returned": SIZES_NOT_CHECKED}
    check_rejects(fn, [
        ((6, 8, 3), {"groups": 4}, ValueError, "groups=4 does not divide c_in=6"),
        ((8, 6, 3), {"groups": 4}, ValueError, "groups=4 does not divide c_out=6",
         {"returned": GROUPS_CHECKED_ON_C_IN_ONLY}),
        ((4, 4, 3), {"groups": 0}, ValueError, "groups must be at least 1"),
        ((0, 4, 3), {}, ValueError, "c_in must be at least 1", unchecked),
        ((3, -2, 3), {}, ValueError, "c_out must be at least 1", unchecked),
        ((3, 4, 0), {}, ValueError, "the kernel size must be at least 1", unchecked),
        ((3, 4, (3, 0)), {}, ValueError, "the kernel width must be at least 1", unchecked),
        ((3, 4, (3, 3, 3)), {}, (ValueError, TypeError), "kernel_size is an int or an (h, w) pair"),
        ((3.0, 4, 3), {}, TypeError, "c_in must be an integer"),
        ((3, 4, 2.5), {}, TypeError, "the kernel size must be an integer"),
    ], name="conv2d_params", valid=((3, 4, 3), {}, 112))


def check_depthwise_separable_params(fn, seed=None, n_cases=30, likely_mistakes=None):
    """``depthwise_separable_params`` equals the count of a depthwise + pointwise ``nn.Conv2d`` pair."""
    name = "depthwise_separable_params"
    cases = cases_depthwise_separable_params(seed, n_cases)
    expected = [parameter_count(_separable_block(*case.args, case.kwargs.get("bias", True)))
                for case in cases]
    check_counts(fn, cases, expected, name=name, likely_mistakes=likely_mistakes)
    unchecked = {"returned": SIZES_NOT_CHECKED}
    check_rejects(fn, [((0, 4, 3), {}, ValueError, "c_in must be at least 1", unchecked),
                       ((4, 0, 3), {}, ValueError, "c_out must be at least 1", unchecked),
                       ((4, 4, 0), {}, ValueError, "the kernel size must be at least 1", unchecked),
                       ((4, 4, 1.5), {}, TypeError, "the kernel size must be an integer")],
                  name=name)


def check_conv2d_macs(fn, seed=None, n_cases=40, likely_mistakes=None):
    """``conv2d_macs`` equals PyTorch's FlopCounterMode count / 2 on a stride-1 conv with that
    output size."""
    name = "conv2d_macs"
    cases = cases_conv2d_macs(seed, n_cases)
    expected = []
    for case in cases:
        c_in, c_out, kernel_size, out_h, out_w = case.args
        kh, kw = _kernel_pair(kernel_size)
        conv = nn.Conv2d(c_in, c_out, (kh, kw), **case.kwargs, device=META)
        expected.append(measured_macs(conv, (1, c_in, out_h + kh - 1, out_w + kw - 1)))
    check_counts(fn, cases, expected, name=name, likely_mistakes=likely_mistakes)
    unchecked = {"returned": SIZES_NOT_CHECKED}
    check_rejects(fn, [
        ((4, 4, 3, 0, 5), {}, ValueError, "the output height must be at least 1", unchecked),
        ((4, 4, 3, 5, -1), {}, ValueError, "the output width must be at least 1", unchecked),
        ((6, 4, 3, 5, 5), {"groups": 4}, ValueError, "groups=4 does not divide c_in=6"),
        ((4, 6, 3, 5, 5), {"groups": 4}, ValueError, "groups=4 does not divide c_out=6",
         {"returned": GROUPS_CHECKED_ON_C_IN_ONLY}),
        ((4, 4, 3, 5, 2.5), {}, TypeError, "the output width must be an integer"),
    ], name=name)


def check_count_params(fn, seed=None, n_cases=30, likely_mistakes=None):
    """``count_params`` equals PyTorch's count of the modules random specs describe."""
    cases = cases_count_params(seed, n_cases)
    expected = [parameter_count(_modules_of(case.args[0])) for case in cases]
    check_counts(fn, cases, expected, name="count_params", likely_mistakes=likely_mistakes)


def check_count_params_rejects_bad_specs(fn):
    """``count_params`` raises ``TypeError`` for what is not a list of dicts, ``ValueError`` for bad layers."""
    conv = {"type": "conv2d", "c_in": 3, "c_out": 4, "kernel_size": 3}
    missing = {"KeyError": MISSING_KEY_READ}
    check_rejects(fn, [
        (({"type": "relu"},), {}, TypeError, "the spec is a dict, not a list of layer dicts"),
        ((["relu"],), {}, TypeError, "a layer is a string, not a dict"),
        (([{"c_in": 3}],), {}, ValueError, "the layer has no 'type'",
         {"returned": UNKNOWN_TYPE_COUNTED}),
        (([{"type": "conv3d", "c_in": 3, "c_out": 4, "kernel_size": 3}],), {}, ValueError,
         "'conv3d' is not a known layer type", {"returned": UNKNOWN_TYPE_COUNTED}),
        (([{"type": "conv2d", "c_in": 3, "kernel_size": 3}],), {}, ValueError,
         "the conv2d layer has no 'c_out'", missing),
        (([{"type": "linear", "n_in": 3}],), {}, ValueError, "the linear layer has no 'n_out'",
         missing),
        (([{"type": "batchnorm2d"}],), {}, ValueError, "the batchnorm2d layer has no 'channels'",
         missing),
        (([conv, dict(conv, c_in=6, groups=4)],), {}, ValueError, "groups=4 does not divide c_in=6"),
        (([{"type": "linear", "n_in": 0, "n_out": 3}],), {}, ValueError, "n_in must be at least 1",
         {"returned": SIZES_NOT_CHECKED}),
    ], name="count_params", valid=(([conv],), {}, 112))
