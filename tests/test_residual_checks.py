"""Unit tests of the checks of notebook 08 (autograder.residual): right answers pass, wrong ones
fail with the likely mistake named, and the oracles and random cases are sound."""
import copy

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from autograder import residual
from autograder.checking import CheckFailure

# ----------------------------------------------------------------------------- reference answers


def plain_grad(grad_y, W, b, V, x):
    grad_y, W, b, V, x = (np.asarray(a, dtype=np.float64) for a in (grad_y, W, b, V, x))
    if x.ndim != 2 or W.shape[1] != x.shape[1] or b.shape != (W.shape[0],) \
            or V.ndim != 2 or V.shape[1] != W.shape[0] or grad_y.shape != (len(x), V.shape[0]):
        raise ValueError("shapes do not fit")
    return ((grad_y @ V) * (x @ W.T + b > 0)) @ W


def residual_grad(grad_y, W, b, x):
    grad_y, W, b, x = (np.asarray(a, dtype=np.float64) for a in (grad_y, W, b, x))
    if x.ndim != 2 or W.shape != (x.shape[1],) * 2 or b.shape != (x.shape[1],) \
            or grad_y.shape != x.shape:
        raise ValueError("shapes do not fit")
    return (grad_y * (x @ W.T + b > 0)) @ W + grad_y


def norms_by_hooks(model, x, target):
    outputs = []

    def keep(module, inputs, output):
        output.retain_grad()
        outputs.append(output)

    handles = [block.register_forward_hook(keep) for block in model]
    F.mse_loss(model(x), target).backward()
    for handle in handles:
        handle.remove()
    return np.array([o.grad.norm().item() for o in outputs])


def gradient_norms(model, x, target):
    if not isinstance(model, nn.Sequential):
        raise TypeError("not a Sequential")
    if len(model) == 0:
        raise ValueError("empty")
    h, outputs = x.clone().requires_grad_(True), []
    for block in model:
        h = block(h)
        outputs.append(h)
    if h.shape != target.shape:
        raise ValueError("shape")
    return np.array([g.norm().item() for g in torch.autograd.grad(F.mse_loss(h, target), outputs)])


def gradients_one_by_one(model, xs):
    slopes = []
    for point in xs:
        x = torch.tensor(point[None, :], requires_grad=True)
        slopes.append(torch.autograd.grad(model(x).sum(), x)[0].item())
    return np.array(slopes)


def batch_gradient(model, xs):
    x = torch.tensor(xs, requires_grad=True)
    return torch.autograd.grad(model(x).sum(), x)[0][:, 0].numpy()


def correlation_from(statistic):
    """A gradient_correlation computing ``statistic(g)`` of the batch gradient, with validation."""
    def gradient_correlation(model, xs):
        if not isinstance(model, nn.Module):
            raise TypeError("not a module")
        xs = np.asarray(xs, dtype=np.float64)
        if xs.ndim != 2 or xs.shape[1] != 1 or len(xs) < 3 or np.any(np.diff(xs[:, 0]) <= 0):
            raise ValueError("bad grid")
        x = torch.tensor(xs, requires_grad=True)
        out = model(x)
        if out.shape != x.shape:
            raise ValueError("bad output")
        return statistic(torch.autograd.grad(out.sum(), x)[0][:, 0].numpy())
    return gradient_correlation


class Block(nn.Module):
    """A correct BasicBlock, with switches for known mistakes."""

    def __init__(self, c_in, c_out, stride=1, *, final_relu=True, projection_bn=True, bias=False,
                 second_stride=False, names=True):
        super().__init__()
        for value in (c_in, c_out, stride):
            if not isinstance(value, int):
                raise TypeError("int expected")
            if value < 1:
                raise ValueError("positive expected")
        first, second = (1, stride) if second_stride else (stride, 1)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, first, 1, bias=bias)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, second, 1, bias=bias)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.downsample = None
        if stride != 1 or c_in != c_out:
            layers = [nn.Conv2d(c_in, c_out, 1, stride, bias=False)]
            layers += [nn.BatchNorm2d(c_out)] if projection_bn else []
            self.downsample = nn.Sequential(*layers)
        if not names:
            self.shortcut = self.downsample
            del self.downsample
            self.downsample = None
        self.final_relu = final_relu

    def forward(self, x):
        out = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        shortcut = getattr(self, "shortcut", None) or self.downsample
        out = out + (x if shortcut is None else shortcut(x))
        return torch.relu(out) if self.final_relu else out


def block_with(**switches):
    def make(c_in, c_out, stride=1):
        return Block(c_in, c_out, stride, **switches)
    return make


# ----------------------------------------------------------------------------- input gradients


def test_autograd_oracles_agree_with_the_derivation():
    for case in residual.cases_residual(1, 10):
        np.testing.assert_allclose(residual.oracle_residual_input_grad(*case.args),
                                   residual_grad(*case.args), rtol=1e-12, atol=1e-12)
    for case in residual.cases_plain(1, 10):
        np.testing.assert_allclose(residual.oracle_plain_input_grad(*case.args),
                                   plain_grad(*case.args), rtol=1e-12, atol=1e-12)


def test_random_cases_avoid_relu_kinks_and_vary_shapes():
    cases = residual.cases_residual(2, 30)
    shapes = {case.args[3].shape for case in cases}
    assert len(shapes) > 10 and (1, 1) in shapes
    for case in cases:
        grad_y, W, b, x = case.args
        assert np.abs(x @ W.T + b).min() >= 1e-3
    plain_shapes = {(case.args[1].shape, case.args[3].shape) for case in residual.cases_plain(2, 30)}
    assert any(w[0] != w[1] for w, v in plain_shapes) and any(v[0] != v[1] for w, v in plain_shapes)


def test_correct_input_gradients_pass():
    residual.check_residual_input_grad(residual_grad)
    residual.check_plain_input_grad(plain_grad)
    residual.check_input_grads_reject_bad_input(residual_grad, plain_grad)


@pytest.mark.parametrize("wrong, cause", [
    (lambda g, W, b, x: (g * (x @ W.T + b > 0)) @ W, "identity term is missing"),
    (lambda g, W, b, x: (g * (x > 0)) @ W + g, "taken at x"),
    (lambda g, W, b, x: (g * (x @ W.T + b > 0)) @ W.T + g, "W is transposed"),
    (lambda g, W, b, x: (g * (x @ W.T > 0)) @ W + g, "bias is missing"),
])
def test_residual_mistakes_are_named(wrong, cause):
    with pytest.raises(CheckFailure, match=cause):
        residual.check_residual_input_grad(wrong, n_cases=5)


def test_plain_mistakes_are_named():
    with pytest.raises(CheckFailure, match="relu' is missing"):
        residual.check_plain_input_grad(lambda g, W, b, V, x: g @ V @ W, n_cases=5)
    with pytest.raises(CheckFailure, match="V is transposed"):
        residual.check_plain_input_grad(
            lambda g, W, b, V, x: ((g @ V.T) * (x @ W.T + b > 0)) @ W, n_cases=5)


def test_autograd_is_forbidden_in_the_input_gradients():
    def by_autograd(grad_y, W, b, x):
        inputs = torch.tensor(x, requires_grad=True)
        y = torch.relu(inputs @ torch.tensor(W).T + torch.tensor(b)) + inputs
        return torch.autograd.grad(y, inputs, torch.tensor(grad_y))[0].numpy()
    with pytest.raises(CheckFailure, match="from scratch"):
        residual.check_residual_input_grad(by_autograd, n_cases=2)


def test_missing_validation_is_caught():
    def unchecked(grad_y, W, b, x):
        return (grad_y * (x @ W.T + b > 0)) @ W + grad_y
    with pytest.raises(CheckFailure, match="expected ValueError"):
        residual.check_input_grads_reject_bad_input(unchecked, plain_grad)


# ----------------------------------------------------------------------------- gradient_norms


def test_stack_cases_are_real_deterministic_models():
    first, second = residual.stack_cases(3), residual.stack_cases(3)
    kinds = " ".join(description for description, *_ in first)
    assert "conv" in kinds and "residual" in kinds and "plain" in kinds
    for (_, m1, x1, t1), (_, m2, x2, t2) in zip(first, second):
        assert isinstance(m1, nn.Sequential) and len(m1) >= 1
        assert torch.equal(x1, x2) and torch.equal(t1, t2)
        assert all(torch.equal(p, q) for p, q in zip(m1.parameters(), m2.parameters()))
        np.testing.assert_allclose(norms_by_hooks(copy.deepcopy(m1), x1, t1),
                                   gradient_norms(copy.deepcopy(m1), x1, t1), rtol=1e-10)


def test_correct_gradient_norms_pass_and_lists_are_accepted():
    residual.check_gradient_norms(gradient_norms, norms_by_hooks)
    residual.check_gradient_norms(lambda *a: list(gradient_norms(*a)), norms_by_hooks, n_cases=4)


@pytest.mark.parametrize("wrong, cause", [
    (lambda m, x, t: gradient_norms(m, x, t)[::-1], "reverse order"),
    (lambda m, x, t: gradient_norms(m, x, t) ** 2, "squared norms"),
    (lambda m, x, t: gradient_norms(m, x, t) * t.numel(), "the loss is summed"),
    (lambda m, x, t: np.append(1.0, gradient_norms(m, x, t)), "the input x excluded"),
    (lambda m, x, t: gradient_norms(m, x, t)[1:], "the last block"),
    (lambda m, x, t: torch.tensor(gradient_norms(m, x, t)), "return a numpy.ndarray"),
])
def test_gradient_norms_mistakes_are_named(wrong, cause):
    with pytest.raises(CheckFailure, match=cause):
        residual.check_gradient_norms(wrong, norms_by_hooks, n_cases=4)


# ----------------------------------------------------------------------------- gradient_correlation


@pytest.mark.parametrize("seed", [805, 815, 3])
def test_grid_cases_have_well_defined_correlations(seed):
    """Batch and one-by-one gradients agree closely, so the measure does not hang on rounding."""
    cases = residual.grid_cases(seed)
    kinds = " ".join(description for description, *_ in cases)
    assert all(kind in kinds for kind in ("plain network", "residual network", "5 x", "batch norm"))
    for description, model, xs in cases:
        assert xs.shape[1] == 1 and len(xs) >= 10 and np.all(np.diff(xs[:, 0]) > 0)
        together, apart = batch_gradient(copy.deepcopy(model), xs), gradients_one_by_one(model, xs)
        r_together, r_apart = residual.pearson_lag1(together), residual.pearson_lag1(apart)
        assert np.isfinite(r_apart), description
        assert abs(r_together - r_apart) <= 1e-9 + 1e-8 * abs(r_apart), description


def test_correct_gradient_correlation_passes():
    residual.check_gradient_correlation(correlation_from(residual.pearson_lag1), gradients_one_by_one)


@pytest.mark.parametrize("statistic, cause", [
    (lambda g: 1.0, "lag-0"),
    (lambda g: float(np.dot(g[:-1], g[1:]) / np.linalg.norm(g[:-1]) / np.linalg.norm(g[1:])),
     "means are not subtracted"),
    (lambda g: float(np.dot(g[:-1] - g.mean(), g[1:] - g.mean()) / np.sum((g - g.mean()) ** 2)),
     "textbook autocorrelation"),
    (lambda g: float(np.corrcoef(g[:-2], g[2:])[0, 1]), "two grid points apart"),
    (lambda g: np.array(residual.pearson_lag1(g)), "return a float"),
])
def test_gradient_correlation_mistakes_are_named(statistic, cause):
    with pytest.raises(CheckFailure, match=cause):
        residual.check_gradient_correlation(correlation_from(statistic), gradients_one_by_one)


def test_small_cases_have_the_stated_answers():
    cases = residual.small_correlation_cases(809, n_cases=30)
    assert {expected if expected == expected else "nan" for *_, expected in cases} == {1.0, -1.0, "nan"}
    for description, model, xs, expected in cases:
        r = residual.pearson_lag1(gradients_one_by_one(model, xs))
        assert (np.isnan(r) if expected != expected else abs(r - expected) < 1e-12), description


def test_correct_gradient_correlation_passes_the_small_cases():
    residual.check_gradient_correlation_small_cases(correlation_from(residual.pearson_lag1))


def hard_coded(model, xs):
    """The visible test's answers, keyed on its class names; 0 for anything else."""
    answers = {"Square": 1.0, "Zigzag": -1.0, "Linear": float("nan")}
    return answers.get(type(model).__name__, 0.0)


def centred_only(g):
    """Pearson's r with 'constant' judged from the centred sums, which rounding can leave non-zero."""
    a, b = g[:-1] - g[:-1].mean(), g[1:] - g[1:].mean()
    return float(np.dot(a, b) / np.sqrt(np.dot(a, a) * np.dot(b, b)))


@pytest.mark.parametrize("wrong, cause", [
    (hard_coded, "expected"),
    (correlation_from(lambda g: 1.0), "lag-0"),
    (correlation_from(centred_only), "expected nan"),
])
def test_small_cases_reject_wrong_answers(wrong, cause):
    with pytest.raises(CheckFailure, match=cause):
        residual.check_gradient_correlation_small_cases(wrong)


def test_gradient_functions_validation():
    residual.check_gradient_functions_reject_bad_input(gradient_norms,
                                                       correlation_from(residual.pearson_lag1))

    def accepts_anything(model, x, target):
        return np.zeros(3)
    with pytest.raises(CheckFailure, match="expected TypeError"):
        residual.check_gradient_functions_reject_bad_input(accepts_anything,
                                                           correlation_from(residual.pearson_lag1))


# ----------------------------------------------------------------------------- BasicBlock


def test_torchvision_reference_block_has_the_documented_layout():
    block = residual.torchvision_basic_block(16, 32, 2)
    expected = 9 * 16 * 32 + 9 * 32 * 32 + 4 * 32 + 16 * 32 + 2 * 32
    assert sum(p.numel() for p in block.parameters()) == expected
    assert residual.torchvision_basic_block(8, 8).downsample is None


def test_correct_blocks_pass():
    residual.check_basic_block_structure(Block)
    residual.check_basic_block_outputs(Block)
    residual.check_basic_block_rejects_bad_input(Block)
    residual.check_basic_block_outputs(residual.torchvision_basic_block, n_cases=3)


@pytest.mark.parametrize("switches, check, cause", [
    ({"projection_bn": False}, residual.check_basic_block_structure, "no BatchNorm2d"),
    ({"bias": True}, residual.check_basic_block_structure, "biases"),
    ({"names": False}, residual.check_basic_block_structure, "name the layers"),
    ({"final_relu": False}, residual.check_basic_block_outputs, "final ReLU"),
    ({"second_stride": True}, residual.check_basic_block_outputs, "differ"),
])
def test_block_mistakes_are_caught(switches, check, cause):
    with pytest.raises(CheckFailure, match=cause):
        check(block_with(**switches))
