"""Unit tests of the checks of notebook 08: the student side (autograder.residual) and the hidden
side (autograder.grader.checks.residual). Right answers pass, wrong ones fail with the likely
mistake named, and the oracles, fixtures and random cases are sound."""
import copy

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from autograder import residual
from autograder.checking import CheckFailure, output_and_gradients
from autograder.grader.checks import residual as hidden

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
                 second_stride=False, names=True, relu_before=False, detach_conv2=False):
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
        self.final_relu, self.relu_before, self.detach_conv2 = final_relu, relu_before, detach_conv2

    def forward(self, x):
        inner = torch.relu(self.bn1(self.conv1(x)))
        if self.detach_conv2:
            out = self.bn2(F.conv2d(inner, self.conv2.weight.detach(), stride=self.conv2.stride,
                                    padding=1))
        else:
            out = self.bn2(self.conv2(inner))
        out = torch.relu(out) if self.relu_before else out
        shortcut = getattr(self, "shortcut", None) or self.downsample
        out = out + (x if shortcut is None else shortcut(x))
        return torch.relu(out) if self.final_relu else out


def block_with(**switches):
    def make(c_in, c_out, stride=1):
        return Block(c_in, c_out, stride, **switches)
    return make


# ----------------------------------------------------------------------------- input gradients


def test_autograd_oracle_agrees_with_the_derivation():
    for case in residual.cases_residual(1, 10):
        grad_y, W, b, x = case.args
        by_autograd = residual._input_grad_by_autograd(
            lambda t: torch.relu(t @ torch.from_numpy(W).T + torch.from_numpy(b)) + t, grad_y, x)
        np.testing.assert_allclose(by_autograd, residual_grad(*case.args), rtol=1e-12, atol=1e-12)


def test_student_side_holds_no_reference_of_the_input_gradients():
    public = [name for name, value in vars(residual).items()
              if callable(value) and not name.startswith("_")]
    assert not [name for name in public if name.startswith(("oracle", "mistakes"))]
    assert hidden.mistakes_residual and hidden.mistakes_plain


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
    residual.check_residual_input_grad(residual_grad, seed=1)
    residual.check_plain_input_grad(plain_grad, seed=1)
    hidden.check_residual_input_grad(residual_grad)
    hidden.check_plain_input_grad(plain_grad)
    residual.check_input_grads_reject_bad_input(residual_grad, plain_grad)


@pytest.mark.parametrize("cases, mistakes, reference", [
    (residual.cases_residual, hidden.mistakes_residual, residual_grad),
    (residual.cases_plain, hidden.mistakes_plain, plain_grad),
])
def test_likely_mistakes_are_wrong_answers(cases, mistakes, reference):
    """Every generated mistake differs from the right answer on most random cases (a 1 x 1 W, for
    one, equals its transpose)."""
    differs, seen = {}, {}
    for case in cases(3, 20):
        right = reference(*case.args)
        for description, wrong in mistakes(*case.args):
            seen[description] = seen.get(description, 0) + 1
            if wrong.shape != right.shape or not np.allclose(wrong, right):
                differs[description] = differs.get(description, 0) + 1
    assert all(differs.get(d, 0) >= 0.8 * n for d, n in seen.items()), (differs, seen)


@pytest.mark.parametrize("wrong, cause", [
    (lambda g, W, b, x: (g * (x @ W.T + b > 0)) @ W, "identity term is missing"),
    (lambda g, W, b, x: (g * (x > 0)) @ W + g, "taken at x"),
    (lambda g, W, b, x: (g * (x @ W.T + b > 0)) @ W.T + g, "W is transposed"),
    (lambda g, W, b, x: (g * (x @ W.T > 0)) @ W + g, "bias is missing"),
])
def test_residual_mistakes_are_named(wrong, cause):
    with pytest.raises(CheckFailure, match=cause):
        hidden.check_residual_input_grad(wrong, seed=801, n_cases=5)


@pytest.mark.parametrize("wrong, cause", [
    (lambda g, W, b, V, x: g @ V @ W, "relu' is missing"),
    (lambda g, W, b, V, x: ((g @ V.T) * (x @ W.T + b > 0)) @ W, "V is transposed"),
    (lambda g, W, b, V, x: ((g @ V) * (x @ W.T > 0)) @ W, "bias is missing"),
    (lambda g, W, b, V, x: ((g @ V) * (x @ W.T + b > 0)) @ W.T, "W is transposed"),
])
def test_plain_mistakes_are_named(wrong, cause):
    with pytest.raises(CheckFailure, match=cause):
        hidden.check_plain_input_grad(wrong, seed=802, n_cases=10)


def test_autograd_is_forbidden_in_the_input_gradients():
    def by_autograd(grad_y, W, b, x):
        inputs = torch.tensor(x, requires_grad=True)
        y = torch.relu(inputs @ torch.tensor(W).T + torch.tensor(b)) + inputs
        return torch.autograd.grad(y, inputs, torch.tensor(grad_y))[0].numpy()
    with pytest.raises(CheckFailure, match="from scratch"):
        residual.check_residual_input_grad(by_autograd, seed=1, n_cases=2)


def test_missing_validation_is_caught():
    def unchecked(grad_y, W, b, x):
        return (grad_y * (x @ W.T + b > 0)) @ W + grad_y
    with pytest.raises(CheckFailure, match="expected ValueError"):
        residual.check_input_grads_reject_bad_input(unchecked, plain_grad)


def test_a_function_that_always_raises_fails_the_bad_input_check():
    def always_raises(*args):
        raise ValueError("shapes")
    with pytest.raises(CheckFailure, match="raised ValueError"):
        residual.check_input_grads_reject_bad_input(always_raises, plain_grad)
    with pytest.raises(CheckFailure, match="raised ValueError"):
        residual.check_input_grads_reject_bad_input(residual_grad, always_raises)


# ----------------------------------------------------------------------------- gradient_norms


def test_stack_cases_are_real_deterministic_models():
    first, second = residual.stack_cases(3), residual.stack_cases(3)
    kinds = " ".join(description for description, *_ in first)
    assert "conv" in kinds and "residual" in kinds and "plain" in kinds
    for (_, m1, x1, t1), (_, m2, x2, t2) in zip(first, second):
        assert isinstance(m1, nn.Sequential) and len(m1) >= 1
        assert torch.equal(x1, x2) and torch.equal(t1, t2)
        assert all(torch.equal(p, q) for p, q in zip(m1.parameters(), m2.parameters()))
        np.testing.assert_allclose(hidden.norms_by_hooks(copy.deepcopy(m1), x1, t1),
                                   gradient_norms(copy.deepcopy(m1), x1, t1), rtol=1e-10)


def test_correct_gradient_norms_pass_and_lists_are_accepted():
    residual.check_gradient_norms(gradient_norms, hidden.norms_by_hooks, seed=804)
    hidden.check_gradient_norms(gradient_norms)
    hidden.check_gradient_norms(lambda *a: list(gradient_norms(*a)), seed=804, n_cases=4)


def per_example_mean(model, x, target):
    """gradient_norms with the norm taken per example and averaged."""
    h, outputs = x.clone().requires_grad_(True), []
    for block in model:
        h = block(h)
        outputs.append(h)
    grads = torch.autograd.grad(F.mse_loss(h, target), outputs)
    return np.array([g.flatten(1).norm(dim=1).mean().item() for g in grads])


@pytest.mark.parametrize("wrong, cause", [
    (lambda m, x, t: gradient_norms(m, x, t)[::-1], "reverse order"),
    (lambda m, x, t: gradient_norms(m, x, t) ** 2, "squared norms"),
    (lambda m, x, t: gradient_norms(m, x, t) * t.numel(), "the loss is summed"),
    (lambda m, x, t: np.append(1.0, gradient_norms(m, x, t)), "the input x is counted"),
    (lambda m, x, t: gradient_norms(m, x, t)[1:], "the last block"),
    (lambda m, x, t: torch.tensor(gradient_norms(m, x, t)), "return a numpy.ndarray"),
    (per_example_mean, "mean of the per-example norms"),
])
def test_gradient_norms_mistakes_are_named(wrong, cause):
    with pytest.raises(CheckFailure, match=cause):
        hidden.check_gradient_norms(wrong, seed=804, n_cases=4)


# ----------------------------------------------------------------------------- gradient_correlation


@pytest.mark.parametrize("seed", [805, 815, 3])
def test_grid_cases_have_well_defined_correlations(seed):
    """Batch and one-by-one gradients agree closely, so the measure does not hang on rounding."""
    cases = residual.grid_cases(seed)
    kinds = " ".join(description for description, *_ in cases)
    assert all(kind in kinds for kind in ("plain network", "residual network", "5 x", "batch norm"))
    for description, model, xs in cases:
        assert xs.shape[1] == 1 and len(xs) >= 10 and np.all(np.diff(xs[:, 0]) > 0)
        together, apart = batch_gradient(copy.deepcopy(model), xs), hidden.gradients_one_by_one(model, xs)
        r_together, r_apart = residual.pearson_lag1(together), residual.pearson_lag1(apart)
        assert np.isfinite(r_apart), description
        assert abs(r_together - r_apart) <= 1e-9 + 1e-8 * abs(r_apart), description


def test_correct_gradient_correlation_passes():
    correct = correlation_from(residual.pearson_lag1)
    residual.check_gradient_correlation(correct, hidden.gradients_one_by_one, seed=805)
    hidden.check_gradient_correlation(correct)


def outputs_correlation(model, xs):
    """gradient_correlation of the outputs instead of the gradients."""
    with torch.no_grad():
        return residual.pearson_lag1(model(torch.from_numpy(xs))[:, 0].numpy())


def finite_differences(model, xs):
    """gradient_correlation with np.gradient of the outputs as the gradient."""
    with torch.no_grad():
        f = model(torch.from_numpy(xs))[:, 0].numpy()
    return residual.pearson_lag1(np.gradient(f, xs[:, 0]))


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
        hidden.check_gradient_correlation(correlation_from(statistic), seed=805)


@pytest.mark.parametrize("wrong, cause", [
    (outputs_correlation, "correlation of the outputs"),
    (finite_differences, "finite differences"),
])
def test_gradient_correlation_mistakes_on_the_outputs_are_named(wrong, cause):
    with pytest.raises(CheckFailure, match=cause):
        hidden.check_gradient_correlation(wrong, seed=805)


def test_visible_square_mistakes_match_their_mistakes():
    """The fixed wrong answers the visible test names are what those mistakes return on x ** 2."""
    grid = np.arange(10.0)[:, None] + 0.5
    g = hidden.gradients_one_by_one(residual.Square(), grid)
    found = dict(hidden.mistakes_correlation(residual.Square(), grid, g))
    for description, value in residual.SQUARE_ON_HALF_GRID_MISTAKES:
        assert found[description] == pytest.approx(value, rel=1e-12), description
        assert abs(value - 1.0) > 1e-4, description  # the check's tolerance is 1e-6
    values = [value for _, value in residual.SQUARE_ON_HALF_GRID_MISTAKES]
    assert min(abs(a - b) for i, a in enumerate(values) for b in values[i + 1:]) > 1e-5
    assert finite_differences(residual.Square(), grid) == pytest.approx(
        dict(residual.SQUARE_ON_HALF_GRID_MISTAKES)[residual.FINITE_DIFFERENCES], rel=1e-12)


def test_small_cases_have_the_stated_answers():
    cases = residual.small_correlation_cases(809, n_cases=30)
    assert {expected if expected == expected else "nan" for *_, expected in cases} == {1.0, -1.0, "nan"}
    for description, model, xs, expected in cases:
        r = residual.pearson_lag1(hidden.gradients_one_by_one(model, xs))
        assert (np.isnan(r) if expected != expected else abs(r - expected) < 1e-12), description


def test_correct_gradient_correlation_passes_the_small_cases():
    residual.check_gradient_correlation_small_cases(correlation_from(residual.pearson_lag1), seed=809)
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
    (correlation_from(centred_only), "expected nan.*\n.*test the values themselves"),
])
def test_small_cases_reject_wrong_answers(wrong, cause):
    with pytest.raises(CheckFailure, match=cause):
        residual.check_gradient_correlation_small_cases(wrong, seed=809)


@pytest.mark.parametrize("seed", range(5))
def test_a_constant_judged_from_centred_sums_fails_whatever_the_seed(seed):
    """Check that the small cases always hold a constant gradient that rounding hides from centred sums."""
    with pytest.raises(CheckFailure, match="expected nan"):
        residual.check_gradient_correlation_small_cases(correlation_from(centred_only), seed=seed)


def test_gradient_functions_validation():
    residual.check_gradient_functions_reject_bad_input(gradient_norms,
                                                       correlation_from(residual.pearson_lag1))

    def never_raises(model, x, target):
        try:
            return gradient_norms(model, x, target)
        except (TypeError, ValueError):
            return np.zeros(1)
    with pytest.raises(CheckFailure, match="expected TypeError"):
        residual.check_gradient_functions_reject_bad_input(never_raises,
                                                           correlation_from(residual.pearson_lag1))

    def always_raises(*args):
        raise ValueError("bad input")
    with pytest.raises(CheckFailure, match="raised ValueError"):
        residual.check_gradient_functions_reject_bad_input(always_raises,
                                                           correlation_from(residual.pearson_lag1))
    with pytest.raises(CheckFailure, match="raised ValueError"):
        residual.check_gradient_functions_reject_bad_input(gradient_norms, always_raises)


# ----------------------------------------------------------------------------- BasicBlock


def test_torchvision_reference_block_has_the_documented_layout():
    block = residual.torchvision_basic_block(16, 32, 2)
    expected = 9 * 16 * 32 + 9 * 32 * 32 + 4 * 32 + 16 * 32 + 2 * 32
    assert sum(p.numel() for p in block.parameters()) == expected
    assert residual.torchvision_basic_block(8, 8).downsample is None


def test_correct_blocks_pass():
    residual.check_basic_block_structure(Block, seed=807)
    residual.check_basic_block_outputs(Block, seed=808)
    hidden.check_basic_block_outputs(Block)
    residual.check_basic_block_rejects_bad_input(Block)


def test_torchvisions_block_is_refused():
    with pytest.raises(CheckFailure, match="from scratch"):
        residual.check_basic_block_outputs(residual.torchvision_basic_block, seed=808, n_cases=3)
    with pytest.raises(CheckFailure, match="from scratch"):
        residual.check_basic_block_structure(residual.torchvision_basic_block, seed=807)


@pytest.mark.parametrize("switches, expected", [
    ({}, [3.0, 0.0, 0.0]),
    ({"final_relu": False}, [3.0, -4.0, 0.0]),
    ({"relu_before": True}, [3.0, 0.0, 0.5]),
    ({"relu_before": True, "final_relu": False}, [3.0, -3.0, 0.5]),
])
def test_hand_worked_state_gives_the_stated_outputs(switches, expected):
    block = Block(1, 1, **switches).double()
    block.load_state_dict(residual.hand_worked_state())
    x = torch.tensor([[[[2.0, -3.0, 0.5]]]], dtype=torch.float64)
    np.testing.assert_allclose(residual.block_output(block.eval(), x, "Block"), [[[expected]]],
                               rtol=1e-12, atol=1e-12)


def test_hidden_block_variants_are_wrong_outputs():
    reference = residual.torchvision_basic_block(3, 6, 2).double()
    x = torch.randn(2, 3, 5, 5, dtype=torch.float64)
    with torch.no_grad():
        right = reference(x).numpy()
    variants = hidden.block_variants(reference, x)
    assert hidden.SECOND_STRIDE in dict(variants)
    for description, wrong in variants:
        assert wrong.shape == right.shape and not np.allclose(wrong, right), description


@pytest.mark.parametrize("switches, check, cause", [
    ({"projection_bn": False}, residual.check_basic_block_structure, "no BatchNorm2d"),
    ({"bias": True}, residual.check_basic_block_structure, "biases"),
    ({"names": False}, residual.check_basic_block_structure, "name the layers"),
    ({"final_relu": False}, hidden.check_basic_block_outputs, "final ReLU"),
    ({"relu_before": True}, hidden.check_basic_block_outputs, "before the addition"),
    ({"second_stride": True}, hidden.check_basic_block_outputs, "stride is on the second"),
    ({"detach_conv2": True}, hidden.check_basic_block_outputs, "no gradient reaches conv2.weight"),
])
def test_block_mistakes_are_caught(switches, check, cause):
    with pytest.raises(CheckFailure, match=cause):
        check(block_with(**switches), seed=808)


def test_output_and_gradients_of_a_block_match_torchvision():
    """The kernel-side helper the outputs check uses returns torchvision's gradients."""
    block, reference = Block(3, 6, 2).double(), residual.torchvision_basic_block(3, 6, 2).double()
    reference.load_state_dict(block.state_dict())
    x, upstream = torch.randn(2, 3, 5, 5, dtype=torch.float64), torch.randn(2, 6, 3, 3, dtype=torch.float64)
    out, (grad,), grads = output_and_gradients(block, (x,), upstream, with_parameters=True)
    want_out, (want_grad,), want_grads = output_and_gradients(reference, (x,), upstream,
                                                              with_parameters=True)
    torch.testing.assert_close(out, want_out)
    torch.testing.assert_close(grad, want_grad)
    assert grads.keys() == want_grads.keys()
    for name in grads:
        torch.testing.assert_close(grads[name], want_grads[name])
