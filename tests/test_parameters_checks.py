"""Unit tests of the checks of notebook 03 (autograder.parameters): oracles, specs, messages."""
import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from autograder import parameters as P
from autograder.checking import CheckFailure


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

def test_oracles_give_the_hand_worked_counts():
    assert P.oracle_conv2d_params(3, 64, 11) == 64 * (3 * 121 + 1) == 23296
    assert P.oracle_conv2d_params(6, 8, (1, 3), bias=False, groups=2) == 8 * 3 * 3
    assert P.oracle_linear_params(32 * 32 * 3, 1, bias=False) == 3072
    assert P.oracle_linear_params(200 * 200 * 3, 1, bias=False) == 120000
    assert P.oracle_depthwise_separable_params(32, 64, 3) == 32 * 10 + 64 * 33
    assert P.oracle_conv2d_macs(3, 64, 11, 55, 55) == 55 * 55 * 64 * 3 * 121
    assert P.oracle_count_params([]) == 0


@pytest.mark.parametrize("c_in, c_out, kernel_size, out_h, out_w, groups", [
    (1, 1, 1, 1, 1, 1), (6, 4, (3, 5), 5, 5, 2), (4, 4, 3, 2, 7, 4), (3, 6, (2, 1), 4, 3, 3),
])
def test_mac_oracle_agrees_with_a_convolution_of_ones(c_in, c_out, kernel_size, out_h, out_w, groups):
    kh, kw = P._kernel_pair(kernel_size)
    x = torch.ones(1, c_in, out_h + kh - 1, out_w + kw - 1, dtype=torch.float64)
    w = torch.ones(c_out, c_in // groups, kh, kw, dtype=torch.float64)
    brute_force = int(torch.nn.functional.conv2d(x, w, groups=groups).sum())
    assert P.oracle_conv2d_macs(c_in, c_out, kernel_size, out_h, out_w, groups) == brute_force


def test_batchnorm_counts_weight_and_bias_but_not_running_statistics():
    assert P.oracle_count_params([{"type": "batchnorm2d", "channels": 5}]) == 10
    assert P.oracle_count_params([{"type": "batchnorm2d", "channels": 5, "affine": False}]) == 0


@pytest.mark.parametrize("name", sorted(P.MODEL_SPECS))
def test_model_specs_match_torchvision_layer_by_layer(name):
    with torch.device("meta"):
        model = getattr(torchvision.models, name)(weights=None)
    owners = [m for m in model.modules()
              if not list(m.children()) and any(True for _ in m.parameters(recurse=False))]
    expected = [sum(p.numel() for p in m.parameters()) for m in owners]
    spec = P.MODEL_SPECS[name]()
    counted = [P.oracle_count_params([layer]) for layer in spec
               if layer["type"] in ("conv2d", "linear", "batchnorm2d")]
    assert counted == expected
    assert P.oracle_count_params(spec) == P.torchvision_params(name)


def test_known_totals_of_torchvision_models():
    assert {name: P.torchvision_params(name) for name in P.MODEL_SPECS} == {
        "alexnet": 61_100_840, "vgg16": 138_357_544, "resnet18": 11_689_512}


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


# ----------------------------------------------------------------------------- checks

def test_checks_pass_on_correct_implementations():
    P.check_linear_params(linear_params)
    P.check_conv2d_params(conv2d_params)
    P.check_conv2d_params_rejects_bad_input(conv2d_params)
    P.check_depthwise_separable_params(depthwise_separable_params)
    P.check_conv2d_macs(conv2d_macs)
    P.check_count_params(count_params)
    P.check_count_params_models(count_params)
    P.check_count_params_rejects_bad_specs(count_params)


@pytest.mark.parametrize("check, wrong, cause", [
    (P.check_conv2d_params,
     lambda c_in, c_out, k, bias=True, groups=1: conv2d_params(c_in, c_out, k, False, groups),
     "the bias is missing"),
    (P.check_conv2d_params,
     lambda c_in, c_out, k, bias=True, groups=1: conv2d_params(c_in, c_out, k, bias),
     "groups is ignored"),
    (P.check_linear_params, lambda n_in, n_out, bias=True: n_in * n_out + int(bias), "a single bias"),
    (P.check_depthwise_separable_params,
     lambda c_in, c_out, k, bias=True: conv2d_params(c_in, c_out, k, bias),
     "the full \\(standard\\) convolution"),
    (P.check_conv2d_macs, lambda *args, groups=1: 2 * conv2d_macs(*args, groups=groups), "FLOPs"),
    (P.check_count_params,
     lambda spec: count_params(spec) + sum(2 * layer["channels"] for layer in spec
                                           if layer["type"] == "batchnorm2d"),
     "running mean and variance are buffers"),
])
def test_likely_mistakes_are_named(check, wrong, cause):
    with pytest.raises(CheckFailure, match=cause):
        check(wrong)


def test_a_float_count_is_rejected_with_a_hint():
    def true_division(c_in, c_out, kernel_size, bias=True, groups=1):
        return float(conv2d_params(c_in, c_out, kernel_size, bias, groups))

    with pytest.raises(CheckFailure, match=r"returned float 23296\.0; return an int \(use //"):
        P.check_conv2d_params(true_division)


def test_building_torch_modules_is_forbidden():
    def shortcut(c_in, c_out, kernel_size, bias=True, groups=1):
        conv = nn.Conv2d(c_in, c_out, kernel_size, bias=bias, groups=groups, device="meta")
        return sum(p.numel() for p in conv.parameters())

    def oracle_call(spec):
        return P.oracle_count_params(spec)

    with pytest.raises(CheckFailure, match="from scratch"):
        P.check_conv2d_params(shortcut)
    with pytest.raises(CheckFailure, match="oracle_count_params"):
        P.check_count_params(oracle_call)


def test_lenient_validation_is_caught():
    def checks_c_in_only(c_in, c_out, kernel_size, bias=True, groups=1):
        if c_in % groups:
            raise ValueError("groups must divide c_in")
        kh, kw = _pair(kernel_size)
        return c_out * (_positive(c_in) // groups * kh * kw + int(bias))

    def key_error(spec):
        return sum(P.oracle_count_params([layer]) for layer in spec)

    with pytest.raises(CheckFailure, match="does not divide c_out=6"):
        P.check_conv2d_params_rejects_bad_input(checks_c_in_only)
    with pytest.raises(CheckFailure, match="TypeError|KeyError|returned without error"):
        P.check_count_params_rejects_bad_specs(key_error)


def test_assert_count_messages():
    P.assert_count(np.int64(12), 12)
    with pytest.raises(CheckFailure, match="returned 10, expected 12 \\(2 too few\\)"):
        P.assert_count(10, 12)
    with pytest.raises(CheckFailure, match="returned bool True"):
        P.assert_count(True, 1)
    with pytest.raises(CheckFailure, match="Likely cause: off"):
        P.assert_count(13, 12, likely=[("off", 13)])
