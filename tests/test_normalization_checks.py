"""Unit tests of the checks of notebook 07: the student side (autograder.normalization) and the
grader's hidden checks (autograder.grader.checks.normalization).

References are the solution notebook's own cells and PyTorch; the wrong implementations are the
mistakes the checks must recognise and name.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from autograder import normalization as checks
from autograder.grader import notebooks
from autograder.grader.checks import normalization as hidden
from autograder.checking import CheckFailure

SOLUTION = "solutions/07_normalization/07_normalization.ipynb"


@pytest.fixture(scope="module")
def reference(repo):
    """The solution notebook's graded functions and class, by name."""
    return notebooks.solution_namespace(notebooks.read(repo / SOLUTION), {"np": np})


@pytest.fixture
def unguarded(monkeypatch):
    """Allow the checks' own oracles inside the functions under test (the wrong answers use them)."""
    monkeypatch.setattr(checks, "LIBRARY_NORMS", ())
    monkeypatch.setattr(checks, "LIBRARY_AUTOGRAD", ())


def _t(array):
    return torch.from_numpy(np.array(array, dtype=np.float64))


# ----------------------------------------------------------------------------- oracles

def test_batch_norm_oracle_standardizes_each_channel_over_n_h_w():
    rng = np.random.default_rng(0)
    x = checks.random_batch(rng, 3, 4, 2, 5)
    y = checks.torch_answer("batch_norm", x, np.ones(4), np.zeros(4), eps=0.0 + 1e-12)
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1, rtol=1e-9)


def test_backward_oracle_agrees_with_finite_differences():
    rng = np.random.default_rng(1)
    x, gamma, grad_out = rng.normal(size=(2, 2, 2, 2)), rng.normal(size=2), rng.normal(size=(2, 2, 2, 2))
    dx, _, _ = checks.torch_answer("batch_norm_backward", grad_out, x, gamma, 1e-3)
    step, index = 1e-6, (1, 0, 1, 0)
    plus, minus = x.copy(), x.copy()
    plus[index] += step
    minus[index] -= step
    loss = [np.sum(grad_out * checks.torch_answer("batch_norm", v, gamma, np.zeros(2), 1e-3)) for v in (plus, minus)]
    assert dx[index] == pytest.approx((loss[0] - loss[1]) / (2 * step), rel=1e-6)


def test_interleaved_channels_make_modulo_groups_contiguous():
    order = checks.interleaved_channels(6, 2)
    assert list(order) == [0, 2, 4, 1, 3, 5]


def test_torch_answer_is_no_stand_in_for_a_graded_function():
    """Bound in place of a graded function, it raises neither ValueError nor TypeError."""
    x = np.ones((2, 6, 3, 3))
    for args in [(x, np.ones(6), np.zeros(6)), (x,), (x, 3, np.ones(6), np.zeros(6)), (x, x, np.ones(6), 1e-5)]:
        with pytest.raises(LookupError):
            checks.torch_answer(*args)


def test_library_made_wrong_answers_are_the_hand_written_ones():
    """The student side builds its wrong answers with PyTorch; they equal the formulas."""
    rng = np.random.default_rng(3)
    x, eps = checks.random_batch(rng, 3, 4, 2, 3), 0.1
    mean, var = x.mean(axis=(0, 2, 3), keepdims=True), x.var(axis=(0, 2, 3), ddof=1, keepdims=True)
    np.testing.assert_allclose(checks.batch_norm_with(x, eps, correction=1).numpy(), (x - mean) / np.sqrt(var + eps))
    np.testing.assert_allclose(checks.batch_norm_with(x, 0.0).numpy(),
                               (x - mean) / x.std(axis=(0, 2, 3), keepdims=True))
    grouped = x.reshape(3, 2, 2, 6)
    per_position = (grouped - grouped.mean(axis=2, keepdims=True)) / np.sqrt(grouped.var(axis=2, keepdims=True) + eps)
    np.testing.assert_allclose(checks._per_position_in_groups(x, 2, eps).numpy(), per_position.reshape(x.shape))


# ----------------------------------------------------------------------------- the reference passes

@pytest.mark.parametrize("seed", [None, None, 1])
def test_every_check_passes_on_the_reference(reference, seed):
    for module in (checks, hidden):
        module.check_batch_norm(reference["batch_norm"], seed)
        module.check_layer_norm(reference["layer_norm"], seed)
        module.check_instance_norm(reference["instance_norm"], seed)
        module.check_group_norm(reference["group_norm"], seed)
        module.check_batch_norm_backward(reference["batch_norm_backward"], seed)
        module.check_batchnorm2d_training(reference["BatchNorm2d"], seed)
        module.check_batchnorm2d_eval(reference["BatchNorm2d"], seed)
    checks.check_group_norm_limits(reference["group_norm"], seed)
    checks.check_pixel_norm_invariants(reference["pixel_norm"], seed)
    hidden.check_pixel_norm(reference["pixel_norm"], seed)
    checks.check_rejects_bad_input(*(reference[name] for name in (
        "batch_norm", "BatchNorm2d", "layer_norm", "instance_norm", "group_norm", "pixel_norm",
        "batch_norm_backward")))


def _torch_pixel_norm(x, eps):
    t = _t(x)
    return (t * torch.rsqrt(t.pow(2).mean(dim=1, keepdim=True) + eps)).numpy()


def test_pixel_norm_oracle_is_the_formula(reference):
    x = checks.random_batch(np.random.default_rng(4), 2, 3, 2, 2)
    np.testing.assert_allclose(hidden.oracle_pixel_norm(x, 0.5), x / np.sqrt(np.mean(x ** 2, axis=1, keepdims=True) + 0.5))
    with pytest.raises(CheckFailure, match="differ"):
        hidden.check_pixel_norm(lambda x, eps=1e-8: 2 * reference["pixel_norm"](x, eps))


def test_library_normalizations_are_refused(reference):
    def shortcut(x, gamma, beta, eps=1e-5):
        return F.batch_norm(_t(x), None, None, _t(gamma), _t(beta), training=True, eps=eps).numpy()

    def shortcut_backward(grad_out, x, gamma, eps):
        return checks.torch_answer("batch_norm_backward", grad_out, x, gamma, eps)

    with pytest.raises(CheckFailure, match="from scratch"):
        checks.check_batch_norm(shortcut, n_cases=2)
    with pytest.raises(CheckFailure, match="from scratch"):
        checks.check_batch_norm_backward(shortcut_backward, n_cases=2)

    class TorchLayer:
        def __init__(self, num_features, eps=1e-5, momentum=0.1):
            self.module = torch.nn.BatchNorm2d(num_features, eps=eps, momentum=momentum, dtype=torch.float64)
            self.gamma, self.beta = np.ones(num_features), np.zeros(num_features)
            self.running_mean, self.running_var = np.zeros(num_features), np.ones(num_features)

        def __call__(self, x):
            return self.module(_t(x)).detach().numpy()

    with pytest.raises(CheckFailure, match="from scratch"):
        checks.check_batchnorm2d_training(TorchLayer, momenta=(0.1,), n_steps=1)


@pytest.mark.parametrize("refused", ["batch_norm", "layer_norm", "instance_norm", "pixel_norm", "batch_norm_backward"])
def test_a_function_that_refuses_everything_fails_the_rejection_check(reference, refused):
    def refuses(*args, **kwargs):
        raise ValueError("refused")

    names = ("batch_norm", "BatchNorm2d", "layer_norm", "instance_norm", "group_norm", "pixel_norm",
             "batch_norm_backward")
    functions = [refuses if name == refused else reference[name] for name in names]
    with pytest.raises(CheckFailure, match="raised ValueError"):
        checks.check_rejects_bad_input(*functions)


# ----------------------------------------------------------------------------- mistakes are named

def _standardize(x, axes, eps, ddof=0, eps_outside=False):
    mean = x.mean(axis=axes, keepdims=True)
    std = x.std(axis=axes, keepdims=True, ddof=ddof)
    return (x - mean) / (std + eps if eps_outside else np.sqrt(std ** 2 + eps))


def _per_channel(values):
    return np.asarray(values)[None, :, None, None]


def _group_as_size(x, G, g, b, eps=1e-5):
    n, c, h, w = x.shape
    groups = x.reshape(n, c // G, G * h * w)
    return _per_channel(g) * _standardize(groups, (2,), eps).reshape(x.shape) + _per_channel(b)


def _per_position(x, G, g, b, eps=1e-5):
    n, c, h, w = x.shape
    groups = x.reshape(n, G, c // G, h * w)
    return _per_channel(g) * _standardize(groups, (2,), eps).reshape(x.shape) + _per_channel(b)


@pytest.mark.parametrize("check, wrong, cause", [
    (checks.check_batch_norm,
     lambda x, g, b, eps=1e-5: _per_channel(g) * _standardize(x, (0, 2, 3), eps, ddof=1) + _per_channel(b),
     "unbiased"),
    (hidden.check_batch_norm,
     lambda x, g, b, eps=1e-5: _per_channel(g) * _standardize(x, (0, 2, 3), eps, eps_outside=True) + _per_channel(b),
     "under the square root"),
    (checks.check_batch_norm,
     lambda x, g, b, eps=1e-5: _per_channel(g) * _standardize(x, (0, 2, 3), 0.0) + _per_channel(b),
     "eps is ignored"),
    (checks.check_batch_norm,
     lambda x, g, b, eps=1e-5: _per_channel(g) * _standardize(x, (1, 2, 3), eps) + _per_channel(b),
     "layer norm"),
    (checks.check_batch_norm,
     lambda x, g, b, eps=1e-5: _per_channel(b) * _standardize(x, (0, 2, 3), eps) + _per_channel(g),
     "swapped"),
    (checks.check_layer_norm, lambda x, g, b, eps=1e-5: g * _standardize(x, (2, 3), eps) + b, "instance norm"),
    (checks.check_layer_norm, lambda x, g, b, eps=1e-5: g * _standardize(x, (0, 1, 2, 3), eps) + b,
     "whole batch"),
    (hidden.check_layer_norm, lambda x, g, b, eps=1e-5: g * _standardize(x, (1, 2, 3), eps, ddof=1) + b,
     "unbiased"),
    (checks.check_instance_norm, lambda x, eps=1e-5: _standardize(x, (1, 2, 3), eps), "layer norm"),
    (checks.check_instance_norm, lambda x, eps=1e-5: _standardize(x, (0, 2, 3), eps), "batch norm"),
    (checks.check_instance_norm, lambda x, eps=1e-5: _standardize(x, (2, 3), 0.0), "eps is ignored"),
    (hidden.check_instance_norm, lambda x, eps=1e-5: _standardize(x, (2, 3), eps, ddof=1), "unbiased"),
    (checks.check_group_norm,
     lambda x, G, g, b, eps=1e-5: _per_channel(g) * _standardize(x, (1, 2, 3), eps) + _per_channel(b),
     "num_groups is ignored"),
    (checks.check_group_norm, _group_as_size, "size of a group"),
    (checks.check_group_norm, _per_position, "channels of its group alone"),
])
def test_likely_mistakes_are_named(unguarded, check, wrong, cause):
    # A fixed draw: a case with one channel per group has no per-position mistake to name.
    with pytest.raises(CheckFailure, match=cause):
        check(wrong, 2026, n_cases=6)


def test_interleaved_groups_are_named():
    def interleaved(x, num_groups, gamma, beta, eps=1e-5):
        n, c, h, w = x.shape
        groups = x.reshape(n, c // num_groups, num_groups, h * w).transpose(0, 2, 1, 3)
        x_hat = _standardize(groups, (2, 3), eps).transpose(0, 2, 1, 3).reshape(x.shape)
        return _per_channel(gamma) * x_hat + _per_channel(beta)

    with pytest.raises(CheckFailure, match="interleaved"):
        checks.check_group_norm(interleaved)


def test_group_norm_limits_name_the_swap(unguarded):
    def always_instance(x, num_groups, gamma, beta, eps=1e-5):
        return _per_channel(gamma) * _standardize(x, (2, 3), eps) + _per_channel(beta)

    with pytest.raises(CheckFailure, match="one group: layer norm.*\n.*instance norm"):
        checks.check_group_norm_limits(always_instance)


@pytest.mark.parametrize("wrong, cause", [
    (lambda x, eps=1e-8: x / np.sqrt(np.sum(x ** 2, axis=1, keepdims=True) + eps), "sum of squares"),
    (lambda x, eps=1e-8: x / (np.sqrt(np.mean(x ** 2, axis=1, keepdims=True)) + eps), "square root"),
    (lambda x, eps=1e-8: x / np.sqrt(np.mean(x ** 2, axis=(2, 3), keepdims=True) + eps), r"\(H, W\)"),
])
def test_pixel_norm_mistakes_are_named(wrong, cause):
    with pytest.raises(CheckFailure, match=cause):
        hidden.check_pixel_norm(wrong)


@pytest.mark.parametrize("wrong", [
    lambda x, eps=1e-8: x / np.sqrt(np.mean(x ** 2, axis=1, keepdims=True)),
    lambda x, eps=1e-8: np.abs(x) / np.sqrt(np.mean(x ** 2, axis=1, keepdims=True) + eps),
    lambda x, eps=1e-8: (x - x.mean(axis=1, keepdims=True)) / np.sqrt(np.mean(x ** 2, axis=1, keepdims=True) + eps),
])
def test_pixel_norm_invariants_catch_wrong_versions(wrong):
    with pytest.raises(CheckFailure):
        checks.check_pixel_norm_invariants(wrong)


@pytest.mark.parametrize("wrong, cause", [
    (lambda x, eps=1e-8: x / np.sqrt(np.mean(x ** 2, axis=(2, 3), keepdims=True) + eps), "its own number over"),
    (lambda x, eps=1e-8: (x - x.mean(axis=1, keepdims=True))
     / np.sqrt(np.mean((x - x.mean(axis=1, keepdims=True)) ** 2, axis=1, keepdims=True) + eps), "does not centre"),
    (lambda x, eps=1e-8: x / (np.sqrt(np.mean(x ** 2, axis=1, keepdims=True)) + eps), "added to the root"),
])
def test_pixel_norm_invariants_name_likely_causes(wrong, cause):
    with pytest.raises(CheckFailure, match=cause):
        checks.check_pixel_norm_invariants(wrong)


def _backward(detach_mean=False, detach_std=False, sum_gamma_over_n_only=False, mean_beta=False):
    def backward(grad_out, x, gamma, eps):
        dx, dgamma = hidden.bn_autograd_variant(grad_out, x, gamma, eps, detach_mean=detach_mean,
                                                detach_std=detach_std)
        if sum_gamma_over_n_only:
            dgamma = (grad_out * _standardize(x, (0, 2, 3), eps)).sum(axis=0)
        dbeta = grad_out.mean(axis=(0, 2, 3)) if mean_beta else grad_out.sum(axis=(0, 2, 3))
        return dx, dgamma, dbeta
    return backward


@pytest.mark.parametrize("wrong, cause", [
    (_backward(detach_mean=True), "path through the mean"),
    (_backward(detach_std=True), "path through the variance"),
    (_backward(detach_mean=True, detach_std=True), "constants"),
    (_backward(sum_gamma_over_n_only=True), r"shape \(\d, \d, \d\), expected \(\d,\)"),
    (_backward(mean_beta=True), "dbeta is averaged"),
])
def test_backward_mistakes_are_named(unguarded, wrong, cause):
    with pytest.raises(CheckFailure, match=cause):
        hidden.check_batch_norm_backward(wrong, n_cases=5)


def test_backward_with_the_unbiased_variance_is_named_by_dgamma(reference):
    def unbiased(grad_out, x, gamma, eps):
        dx, _, dbeta = reference["batch_norm_backward"](grad_out, x, gamma, eps)
        return dx, np.sum(grad_out * _standardize(x, (0, 2, 3), eps, ddof=1), axis=(0, 2, 3)), dbeta

    with pytest.raises(CheckFailure, match="dgamma of .*\n.*unbiased variance"):
        checks.check_batch_norm_backward(unbiased, n_cases=5)


def test_backward_must_return_three_arrays(unguarded):
    with pytest.raises(CheckFailure, match=r"tuple \(dx, dgamma, dbeta\)"):
        checks.check_batch_norm_backward(lambda g, x, gamma, eps: g, n_cases=1)


# ----------------------------------------------------------------------------- BatchNorm2d mistakes

def _layer_class(reference, replace):
    """A subclass of the reference layer with one method replaced."""
    return type("Wrong", (reference["BatchNorm2d"],), replace)


def test_batchnorm2d_mistakes_are_named(reference):
    base = reference["BatchNorm2d"]

    def biased(self, x):
        old = self.running_var.copy()
        y = base.forward(self, x)
        if self.training:
            self.running_var = (1 - self.momentum) * old + self.momentum * np.asarray(x).var(axis=(0, 2, 3))
        return y

    def flipped(self, x):
        mean, var = self.running_mean.copy(), self.running_var.copy()
        y = base.forward(self, x)
        if self.training:
            m = self.momentum
            count = x.shape[0] * x.shape[2] * x.shape[3]
            self.running_mean = m * mean + (1 - m) * x.mean(axis=(0, 2, 3))
            self.running_var = m * var + (1 - m) * x.var(axis=(0, 2, 3)) * count / (count - 1)
        return y

    def batch_stats_in_eval(self, x):
        training, self.training = self.training, True
        try:
            return base.forward(self, x)
        finally:
            self.training = training

    def updates_in_eval(self, x):
        if self.training:
            return base.forward(self, x)
        y = base.forward(self, x)
        self.running_mean = self.running_mean + 1.0
        return y

    cases = [
        (biased, checks.check_batchnorm2d_training, "UNBIASED"),
        (flipped, checks.check_batchnorm2d_training, "momentum weighs the old value"),
        (batch_stats_in_eval, checks.check_batchnorm2d_eval, "still normalizes with the batch statistics"),
        (updates_in_eval, checks.check_batchnorm2d_eval, "changed running_mean"),
    ]
    for forward, check, cause in cases:
        with pytest.raises(CheckFailure, match=cause):
            check(_layer_class(reference, {"forward": forward}))


def test_batchnorm2d_initial_state_is_checked(reference):
    base = reference["BatchNorm2d"]

    def zero_variance(self, num_features, eps=1e-5, momentum=0.1):
        base.__init__(self, num_features, eps, momentum)
        self.running_var = np.zeros(num_features)

    with pytest.raises(CheckFailure, match="running_var after construction(.|\n)*starts at 0"):
        checks.check_batchnorm2d_training(_layer_class(reference, {"__init__": zero_variance}))


def test_batchnorm2d_with_a_training_flag_instead_of_methods(reference):
    base = reference["BatchNorm2d"]
    flag_only = type("FlagOnly", (), {"__init__": base.__init__, "__call__": base.__call__,
                                      "forward": base.forward})
    checks.check_batchnorm2d_eval(flag_only, momenta=(0.2,))


def test_missing_attribute_is_reported(reference):
    class NoRunning:
        def __init__(self, num_features, eps=1e-5, momentum=0.1):
            self.gamma, self.beta = np.ones(num_features), np.zeros(num_features)

    with pytest.raises(CheckFailure, match="no attribute 'running_mean'"):
        checks.check_batchnorm2d_training(NoRunning)


# ----------------------------------------------------------------------------- probes

def _torch_norms(channels, height, width):
    return {
        "BatchNorm": lambda x: F.batch_norm(_t(x), None, None, training=True).numpy(),
        "LayerNorm": lambda x: F.layer_norm(_t(x), (channels, height, width)).numpy(),
        "InstanceNorm": lambda x: F.instance_norm(_t(x)).numpy(),
        "GroupNorm": lambda x: F.group_norm(_t(x), 2).numpy(),
        "PixelNorm": lambda x: _torch_pixel_norm(x, 1e-8),
    }


def test_probes_rebuild_the_notes_table():
    x = np.random.default_rng(2).normal(size=(4, 6, 3, 3))
    norms = _torch_norms(6, 3, 3)
    index = (1, 2, 1, 0)
    expected = {"BatchNorm": ("N, H, W", 36, True), "LayerNorm": ("C, H, W", 54, False),
                "InstanceNorm": ("H, W", 9, False), "GroupNorm": ("C (3 of 6), H, W", 27, False),
                "PixelNorm": ("C", 6, False)}
    for name, (axes, size, dependent) in expected.items():
        shared = checks.probe_shared(norms[name], x, index)
        assert checks.describe_shared(shared, index) == axes, name
        assert int(shared.sum()) == size, name
        assert checks.probe_batch_dependence(norms[name], x) is dependent, name


def test_describe_shared_of_a_single_element_is_none():
    mask = np.zeros((2, 3, 2, 2), dtype=bool)
    mask[0, 1, 1, 0] = True
    assert checks.describe_shared(mask, (0, 1, 1, 0)) == "none"
