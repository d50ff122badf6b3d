"""Unit tests of the checks of notebook 03 (autograder.parameters and its hidden part in
autograder.grader.checks.parameters): oracles, specs, messages."""
import re

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from autograder import checking
from autograder import parameters as P
from autograder.checking import CheckFailure
from autograder.grader import notebooks
from autograder.grader.checks import parameters as hidden


# ----------------------------------------------------------------------------- references
# Plain formula implementations, the answers a correct student gives.

def _pair(kernel_size):
    if isinstance(kernel_size, (tuple, list)):
        if len(kernel_size) != 2:
            raise ValueError("kernel_size must be an int or a pair")
        return _positive(kernel_size[0]), _positive(kernel_size[1])
    return _positive(kernel_size), _positive(kernel_size)


def _positive(value):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("not an integer")
    if value < 1:
        raise ValueError("below 1")
    return value


def _channels(c_in, c_out, groups):
    c_in, c_out, groups = _positive(c_in), _positive(c_out), _positive(groups)
    if c_in % groups or c_out % groups:
        raise ValueError("groups must divide the channels")
    return c_in, c_out, groups


def conv2d_params(c_in, c_out, kernel_size, bias=True, groups=1):
    c_in, c_out, groups = _channels(c_in, c_out, groups)
    kh, kw = _pair(kernel_size)
    return c_out * (c_in // groups * kh * kw + int(bias))


def linear_params(n_in, n_out, bias=True):
    return _positive(n_out) * (_positive(n_in) + int(bias))


def depthwise_separable_params(c_in, c_out, kernel_size, bias=True):
    return conv2d_params(c_in, c_in, kernel_size, bias, groups=c_in) + conv2d_params(c_in, c_out, 1, bias)


def conv2d_macs(c_in, c_out, kernel_size, out_h, out_w, groups=1):
    c_in, c_out, groups = _channels(c_in, c_out, groups)
    kh, kw = _pair(kernel_size)
    return _positive(out_h) * _positive(out_w) * c_out * c_in // groups * kh * kw


def count_params(spec):
    if not isinstance(spec, (list, tuple)):
        raise TypeError("spec must be a list")
    total = 0
    for layer in spec:
        if not isinstance(layer, dict):
            raise TypeError("a layer must be a dict")
        kind = layer.get("type")
        if kind in P.PARAMETER_FREE_TYPES:
            continue
        required = {"conv2d": ("c_in", "c_out", "kernel_size"), "linear": ("n_in", "n_out"),
                    "batchnorm2d": ("channels",)}
        if kind not in required or any(key not in layer for key in required[kind]):
            raise ValueError("unknown type or missing key")
        if kind == "conv2d":
            total += conv2d_params(layer["c_in"], layer["c_out"], layer["kernel_size"],
                                   layer.get("bias", True), layer.get("groups", 1))
        elif kind == "linear":
            total += linear_params(layer["n_in"], layer["n_out"], layer.get("bias", True))
        else:
            total += 2 * _positive(layer["channels"]) if layer.get("affine", True) else 0
    return total


# ----------------------------------------------------------------------------- oracles and specs

def _count(spec):
    return P.parameter_count(P._modules_of(spec))


def test_pytorch_gives_the_hand_worked_counts():
    assert P.parameter_count(torch.nn.Conv2d(3, 64, 11, device="meta")) == 64 * (3 * 121 + 1) == 23296
    assert _count([{"type": "conv2d", "c_in": 6, "c_out": 8, "kernel_size": (1, 3), "bias": False,
                    "groups": 2}]) == 8 * 3 * 3
    assert P.parameter_count(P._separable_block(32, 64, 3, True)) == 32 * 10 + 64 * 33
    assert P.measured_macs(torch.nn.Conv2d(3, 64, 11, device="meta"), (1, 3, 65, 65)) == 55 * 55 * 64 * 3 * 121
    assert _count([]) == 0
    assert _count(P.lenet5_spec()) == 61706


@pytest.mark.parametrize("c_in, c_out, kernel_size, out_h, out_w, groups", [
    (1, 1, 1, 1, 1, 1), (6, 4, (3, 5), 5, 5, 2), (4, 4, 3, 2, 7, 4), (3, 6, (2, 1), 4, 3, 3),
])
def test_flop_counter_agrees_with_a_convolution_of_ones(c_in, c_out, kernel_size, out_h, out_w, groups):
    kh, kw = P._kernel_pair(kernel_size)
    conv = torch.nn.Conv2d(c_in, c_out, (kh, kw), groups=groups, device="meta")
    measured = P.measured_macs(conv, (1, c_in, out_h + kh - 1, out_w + kw - 1))
    assert measured == hidden.brute_force_macs(c_in, c_out, kernel_size, out_h, out_w, groups)


def test_batchnorm_counts_weight_and_bias_but_not_running_statistics():
    assert _count([{"type": "batchnorm2d", "channels": 5}]) == 10
    assert _count([{"type": "batchnorm2d", "channels": 5, "affine": False}]) == 0


@pytest.mark.parametrize("name", sorted(P.MODEL_SPECS))
def test_model_specs_match_torchvision_layer_by_layer(name):
    with torch.device("meta"):
        model = getattr(torchvision.models, name)(weights=None)
    owners = [m for m in model.modules()
              if not list(m.children()) and any(True for _ in m.parameters(recurse=False))]
    expected = [sum(p.numel() for p in m.parameters()) for m in owners]
    spec = P.MODEL_SPECS[name]()
    counted = [_count([layer]) for layer in spec if layer["type"] in ("conv2d", "linear", "batchnorm2d")]
    assert counted == expected
    assert _count(spec) == hidden.torchvision_params(name)


def test_known_totals_of_torchvision_models():
    assert {name: hidden.torchvision_params(name) for name in P.MODEL_SPECS} == {
        "alexnet": 61_100_840, "vgg16": 138_357_544, "resnet18": 11_689_512}


def test_lenet5_spec_is_the_notebooks(repo):
    nb = notebooks.read(repo / "solutions" / "03_parameters" / "03_parameters.ipynb")
    cell = next(c for c in nb.cells if notebooks.grade_id(c) == "lenet5_definition")
    namespace = {}
    exec(cell.source, namespace)
    assert namespace["LENET5_SPEC"] == P.lenet5_spec()
    assert P.parameter_count(namespace["LeNet5"]()) == _count(P.lenet5_spec())


def test_random_cases_cover_groups_depthwise_pairs_and_bias():
    cases = P.cases_conv2d_params(301)
    kwargs = [case.kwargs for case in cases]
    assert any(k.get("groups", 1) > 1 for k in kwargs)
    assert any(k.get("groups", 1) == case.args[0] > 1 for k, case in zip(kwargs, cases))
    assert any(k.get("bias") is False for k in kwargs) and any("bias" not in k for k in kwargs)
    assert any(isinstance(case.args[2], tuple) and case.args[2][0] != case.args[2][1] for case in cases)
    assert any(case.args[3] != case.args[4] for case in P.cases_conv2d_macs(304))


def test_random_specs_use_every_layer_type_and_option():
    layers = [layer for case in P.cases_count_params(305) for layer in case.args[0]]
    assert {layer["type"] for layer in layers} == set(P.LAYER_TYPES)
    assert any(layer.get("affine") is False for layer in layers)
    assert any(layer.get("bias") is False for layer in layers if layer["type"] == "conv2d")
    assert any(layer.get("bias") is False for layer in layers if layer["type"] == "linear")
    assert any(layer.get("groups", 1) > 1 for layer in layers if layer["type"] == "conv2d")


def test_random_cases_follow_the_seed():
    assert P.cases_count_params(7) == P.cases_count_params(7)
    assert P.cases_count_params(7) != P.cases_count_params(8)


# ----------------------------------------------------------------------------- checks

def test_checks_pass_on_correct_implementations():
    P.check_linear_params(linear_params)
    P.check_conv2d_params(conv2d_params)
    P.check_conv2d_params_rejects_bad_input(conv2d_params)
    P.check_depthwise_separable_params(depthwise_separable_params)
    P.check_conv2d_macs(conv2d_macs)
    P.check_count_params(count_params)
    P.check_count_params_rejects_bad_specs(count_params)
    hidden.check_linear_params(linear_params)
    hidden.check_conv2d_params(conv2d_params)
    hidden.check_depthwise_separable_params(depthwise_separable_params)
    hidden.check_conv2d_macs(conv2d_macs)
    hidden.check_conv2d_macs_brute_force(conv2d_macs)
    hidden.check_count_params(count_params)
    hidden.check_count_params_models(count_params)
    hidden.check_count_params_spec(count_params, P.lenet5_spec(), 61706)


@pytest.mark.parametrize("check, wrong, cause", [
    (hidden.check_conv2d_params,
     lambda c_in, c_out, k, bias=True, groups=1: conv2d_params(c_in, c_out, k, False, groups),
     "the bias is missing"),
    (hidden.check_conv2d_params,
     lambda c_in, c_out, k, bias=True, groups=1: conv2d_params(c_in, c_out, k, bias),
     "groups is ignored"),
    (hidden.check_linear_params, lambda n_in, n_out, bias=True: n_in * n_out + int(bias), "a single bias"),
    (hidden.check_depthwise_separable_params,
     lambda c_in, c_out, k, bias=True: conv2d_params(c_in, c_out, k, bias),
     "the full \\(standard\\) convolution"),
    (hidden.check_conv2d_macs, lambda *args, groups=1: 2 * conv2d_macs(*args, groups=groups), "FLOPs"),
    (hidden.check_count_params,
     lambda spec: count_params(spec) + sum(2 * layer["channels"] for layer in spec
                                           if layer["type"] == "batchnorm2d"),
     "running mean and variance are buffers"),
])
def test_likely_mistakes_are_named(check, wrong, cause):
    # A fixed draw for the hidden checks: a draw whose first wrong count comes from a layer
    # that several mistakes explain alike names none of them.
    checking.set_grading_seed(2026)
    try:
        with pytest.raises(CheckFailure, match=cause):
            check(wrong)
    finally:
        checking.set_grading_seed(None)


def test_the_student_side_checks_name_no_formula_mistake():
    """Formula mistakes need the grader's generators; the visible checks say what differs."""
    with pytest.raises(CheckFailure) as failure:
        P.check_conv2d_params(lambda c_in, c_out, k, bias=True, groups=1: conv2d_params(c_in, c_out, k, bias))
    assert "Likely cause" not in str(failure.value)


def test_a_float_count_is_rejected_with_its_cause():
    def true_division(c_in, c_out, kernel_size, bias=True, groups=1):
        return float(conv2d_params(c_in, c_out, kernel_size, bias, groups))

    with pytest.raises(CheckFailure, match=r"returned float 23296\.0; return an int.\nLikely cause: a division is `/`"):
        P.check_conv2d_params(true_division)


def test_a_known_type_refused_is_named():
    def no_adaptive_pooling(spec):
        for index, layer in enumerate(spec):
            if layer["type"] == "adaptive_avgpool2d":
                raise ValueError(f"layer {index}: unknown type 'adaptive_avgpool2d'; known types: "
                                 "conv2d, linear, batchnorm2d, avgpool2d")
        return count_params(spec)

    spec = [{"type": "avgpool2d"}, {"type": "adaptive_avgpool2d"}, {"type": "conv2d", "c_in": 1,
                                                                     "c_out": 1, "kernel_size": 1}]
    with pytest.raises(CheckFailure, match=re.escape(P.known_type_refused("adaptive_avgpool2d"))):
        hidden.check_count_params_spec(no_adaptive_pooling, spec, 2)


def test_building_torch_modules_is_forbidden():
    def shortcut(c_in, c_out, kernel_size, bias=True, groups=1):
        conv = nn.Conv2d(c_in, c_out, kernel_size, bias=bias, groups=groups, device="meta")
        return sum(p.numel() for p in conv.parameters())

    def counts_modules(spec):
        return P.parameter_count(P._modules_of(spec))

    with pytest.raises(CheckFailure, match="from scratch"):
        P.check_conv2d_params(shortcut)
    with pytest.raises(CheckFailure, match="from scratch"):
        P.check_count_params(counts_modules)


def test_lenient_validation_is_caught_and_named():
    def checks_c_in_only(c_in, c_out, kernel_size, bias=True, groups=1):
        if c_in % groups:
            raise ValueError("groups must divide c_in")
        kh, kw = _pair(kernel_size)
        return c_out * (_positive(c_in) // groups * kh * kw + int(bias))

    def key_error(spec):
        return sum(linear_params(layer["n_in"], layer["n_out"]) if layer["type"] == "linear"
                   else conv2d_params(layer["c_in"], layer["c_out"], layer["kernel_size"])
                   for layer in spec)

    def no_validation(n_in, n_out, bias=True):
        return n_out * (n_in + int(bias))

    with pytest.raises(CheckFailure, match="does not divide c_out=6(.|\n)*Likely cause: only C_in"):
        P.check_conv2d_params_rejects_bad_input(checks_c_in_only)
    with pytest.raises(CheckFailure, match="TypeError|KeyError|returned without error"):
        P.check_count_params_rejects_bad_specs(key_error)
    with pytest.raises(CheckFailure, match=re.escape(f"Likely cause: {P.SIZES_NOT_CHECKED}")):
        P.check_linear_params(no_validation)


def test_missing_keys_and_unknown_types_are_named():
    def counts(spec, known_only):
        if not isinstance(spec, (list, tuple)):
            raise TypeError("a list")
        total = 0
        for layer in spec:
            if not isinstance(layer, dict):
                raise TypeError("dicts")
            kind = layer.get("type")
            if known_only and kind not in P.LAYER_TYPES:
                raise ValueError(f"unknown type {kind!r}")
            if kind == "conv2d":
                total += conv2d_params(layer["c_in"], layer["c_out"], layer["kernel_size"])
            elif kind == "linear":
                total += linear_params(layer["n_in"], layer["n_out"])
            elif kind == "batchnorm2d":
                total += 2 * layer["channels"]
        return total

    with pytest.raises(CheckFailure, match=re.escape(f"Likely cause: {P.UNKNOWN_TYPE_COUNTED}")):
        P.check_count_params_rejects_bad_specs(lambda spec: counts(spec, known_only=False))
    with pytest.raises(CheckFailure, match=re.escape(f"Likely cause: {P.MISSING_KEY_READ}")):
        P.check_count_params_rejects_bad_specs(lambda spec: counts(spec, known_only=True))


def test_no_student_side_function_counts_with_the_graded_arguments():
    """The student side builds modules and counts them only inside its checks."""
    for call in (lambda: P.parameter_count(3), lambda: P.measured_macs(3, 64)):
        with pytest.raises((TypeError, AttributeError)):
            call()
    assert not any(name.startswith("oracle_") for name in vars(P))


def test_assert_count_messages():
    P.assert_count(np.int64(12), 12)
    with pytest.raises(CheckFailure, match="returned 10, expected 12 \\(2 too few\\)"):
        P.assert_count(10, 12)
    with pytest.raises(CheckFailure, match="returned bool True"):
        P.assert_count(True, 1)
    with pytest.raises(CheckFailure, match="Likely cause: off"):
        P.assert_count(13, 12, likely=[("off", 13)])
