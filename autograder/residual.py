"""Checks of notebook 08 (residual gradient flow), the part students receive.

Oracles are public libraries: PyTorch autograd for the hand-derived input gradients,
``torchvision.models.resnet.BasicBlock`` (with its projection shortcut built as torchvision's
``ResNet._make_layer`` builds it) for ``BasicBlock``. The oracles of ``gradient_norms`` and
``gradient_correlation`` and the generators of likely wrong answers live with the grader
(``autograder.grader.checks.residual``), which passes them in; this module builds the random
inputs and real models, compares, and names the mistakes it can recognise from the expected answer
alone. The model classes the checks send to the student's code are registered with
``wire.transferable``, so under grading they cross to the student's kernel as data. Every
``check_*`` function raises ``CheckFailure`` with a readable message, or returns ``None``.
"""
import copy

import numpy as np
import torch
import torch.autograd.functional
import torch.func
import torch.nn as nn
from torchvision.models import resnet

from autograder import wire
from autograder.checking import (
    Case, CheckFailure, assert_close, call_student, check_against_oracle, check_raises, difference,
    is_instance, make_rng, output_and_gradients,
)

IDENTITY_MISSING = (
    "the identity term is missing: y = relu(z) + x adds dL/dy itself to the gradient "
    "(the '+ I' of the derivation)"
)
IDENTITY_ADDED = (
    "the identity term is added: that is the residual block; the plain block "
    "y = relu(x @ W.T + b) @ V.T has no shortcut"
)
SLOPE_AT_INPUT = "relu' is taken at x: it belongs to the pre-activation z = x @ W.T + b"
SLOPE_AT_KINK = "relu'(0) is taken as 1: PyTorch (and this exercise) use relu'(0) = 0, i.e. z > 0"
W_TRANSPOSED = (
    "W is transposed: z = x @ W.T + b, so in row form the gradient is multiplied by W, not W.T"
)
BIAS_IGNORED = "the bias is missing from the pre-activation: relu' is taken at z = x @ W.T + b"
SLOPE_MISSING = "relu' is missing: the gradient passes only through the units with z > 0"
V_TRANSPOSED = "V is transposed: y = h @ V.T + c, so dL/dh = dL/dy @ V"

OUTPUT_SIDE_FIRST = "the norms are in reverse order: the first entry is the block nearest the input"
SQUARED_NORMS = "these are squared norms: take the square root (torch.linalg.norm, Tensor.norm)"
SUMMED_LOSS = (
    "the loss is summed: L is the mean squared error (torch.nn.functional.mse_loss with its "
    "default reduction='mean')"
)
INPUT_INCLUDED = "the input x is counted as a block: return one norm per block, dL/dx excluded"
LAST_BLOCK_MISSING = "the last block (the model's output) is left out: it counts too"
PER_EXAMPLE_MEAN = (
    "this is the mean of the per-example norms: take one norm over the whole batch tensor "
    "(torch.linalg.vector_norm of the full gradient)"
)

LAG_ZERO = "this is the lag-0 correlation (always 1): compare g[:-1] with g[1:]"
NO_MEAN_REMOVAL = (
    "the means are not subtracted (a cosine similarity): Pearson's correlation centres g[:-1] and "
    "g[1:] first"
)
GLOBAL_MEAN = (
    "this is the textbook autocorrelation (one mean and one variance for the whole series): the "
    "exercise asks for Pearson's correlation of g[:-1] and g[1:], each centred and scaled by itself"
)
LAG_TWO = "this compares gradients two grid points apart: the lag is 1 (g[:-1] with g[1:])"
OUTPUTS_CORRELATED = (
    "this is the correlation of the outputs f(x_i), not of the gradients df/dx: differentiate "
    "the model's output with respect to its input (torch.autograd.grad)"
)
FINITE_DIFFERENCES = (
    "the gradient is estimated from the outputs by finite differences (np.gradient, np.diff): "
    "take the exact df/dx with autograd"
)
CONSTANT_NOT_NAN = (
    "a constant gradient has no correlation: test the values themselves (a.min() == a.max()) and "
    "return nan; after centring, rounding leaves tiny non-zero deviations, which give a "
    "meaningless number"
)

# Differentiation by the library: the input-gradient exercises are worked out by hand in NumPy.
AUTOGRAD = (
    torch.autograd.grad, torch.autograd.backward, torch.Tensor.backward,
    torch.autograd.functional.jacobian, torch.autograd.functional.vjp, torch.func.vjp,
    torch.func.grad, torch.func.jacrev, torch.func.jacfwd,
)
# BasicBlock is written from torch.nn layers, not taken from torchvision.
TORCHVISION_BLOCK = (resnet.BasicBlock.__init__, resnet.BasicBlock.forward)

# ----------------------------------------------------------------------------- input gradients


def _input_grad_by_autograd(forward, grad_y, x):
    """dL/dx for y = forward(x) and the given dL/dy, by PyTorch autograd, float64."""
    inputs = torch.tensor(np.asarray(x, dtype=np.float64), requires_grad=True)
    upstream = torch.from_numpy(np.asarray(grad_y, dtype=np.float64))
    (grad,) = torch.autograd.grad(forward(inputs), inputs, upstream)
    return grad.numpy()


def _away_from_kinks(rng, x, W, b):
    """Redraw ``b`` until no pre-activation is within 1e-3 of relu's kink at 0."""
    while np.min(np.abs(x @ W.T + b), initial=np.inf) < 1e-3:
        b = rng.normal(size=b.shape)
    return b


def cases_residual(seed=None, n_cases=25):
    """Random ``(grad_y, W, b, x)`` for residual blocks, N in 1..6, D in 1..8, no kinks."""
    rng = make_rng(seed)
    cases = []
    for i in range(n_cases):
        n, d = (1, 1) if i == 0 else (int(v) for v in rng.integers(1, [7, 9]))
        x, W = rng.normal(size=(n, d)), rng.normal(size=(d, d)) / np.sqrt(d)
        b = _away_from_kinks(rng, x, W, rng.normal(size=d))
        cases.append(Case((rng.normal(size=(n, d)), W, b, x)))
    return cases


def cases_plain(seed=None, n_cases=25):
    """Random ``(grad_y, W, b, V, x)`` for plain blocks, non-square W and V included, no kinks."""
    rng = make_rng(seed)
    cases = []
    for i in range(n_cases):
        n, d_in, hidden, d_out = (int(v) for v in rng.integers(1, [7, 9, 9, 9]))
        if i == 0:
            d_in = hidden = d_out = 3
        x, W = rng.normal(size=(n, d_in)), rng.normal(size=(hidden, d_in)) / np.sqrt(d_in)
        b = _away_from_kinks(rng, x, W, rng.normal(size=hidden))
        V = rng.normal(size=(d_out, hidden))
        cases.append(Case((rng.normal(size=(n, d_out)), W, b, V, x)))
    return cases


def check_residual_input_grad(fn, seed=None, n_cases=25, likely_mistakes=None):
    """``residual_input_grad`` equals PyTorch autograd on random blocks, worked out by hand.

    ``likely_mistakes(grad_y, W, b, x)``: known wrong answers to name, as ``(description, array)``.
    """
    def autograd(grad_y, W, b, x):
        W, b = torch.from_numpy(W), torch.from_numpy(b)
        return _input_grad_by_autograd(lambda t: torch.relu(t @ W.T + b) + t, grad_y, x)

    check_against_oracle(fn, autograd, cases_residual(seed, n_cases), name="residual_input_grad",
                         forbidden=AUTOGRAD, likely_mistakes=likely_mistakes)


def check_plain_input_grad(fn, seed=None, n_cases=25, likely_mistakes=None):
    """``plain_input_grad`` equals PyTorch autograd on random blocks, worked out by hand.

    ``likely_mistakes(grad_y, W, b, V, x)``: known wrong answers to name.
    """
    def autograd(grad_y, W, b, V, x):
        W, b, V = torch.from_numpy(W), torch.from_numpy(b), torch.from_numpy(V)
        return _input_grad_by_autograd(lambda t: torch.relu(t @ W.T + b) @ V.T, grad_y, x)

    check_against_oracle(fn, autograd, cases_plain(seed, n_cases), name="plain_input_grad",
                         forbidden=AUTOGRAD, likely_mistakes=likely_mistakes)


def check_input_grads_reject_bad_input(residual_input_grad, plain_input_grad, seed=None):
    """Both input-gradient functions raise ``ValueError`` for shapes that do not fit together.

    Each is first called on a valid block worked out by hand, so that a function that raises for
    everything does not pass.
    """
    one = np.ones((1, 1))
    # D = 1: z = 1 * 2 + 1 = 3 > 0; residual 1 * 2 + 1 = 3; plain with V = [[3]]: (1 * 3) * 2 = 6
    assert_close(call_student(residual_input_grad, (one, 2 * one, np.ones(1), one),
                              name="residual_input_grad"), [[3.0]],
                 what="residual_input_grad on a valid block with D = 1")
    assert_close(call_student(plain_input_grad, (one, 2 * one, np.ones(1), 3 * one, one),
                              name="plain_input_grad"), [[6.0]],
                 what="plain_input_grad on a valid block with D = 1")
    rng = make_rng(seed)
    x, g = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    W, b = rng.normal(size=(3, 3)), rng.normal(size=3)
    bad_residual = [
        ((g, W, b, x[0]), "x must be 2-D (N, D)"),
        ((g, rng.normal(size=(2, 3)), b, x),
         "W must be square (D, D): y = relu(z) + x needs z and x of one size"),
        ((g, rng.normal(size=(4, 4)), rng.normal(size=4), x), "W is (4, 4) but x has D = 3 columns"),
        ((g, W, rng.normal(size=2), x), "b must have shape (D,) = (3,)"),
        ((g[:3], W, b, x), "grad_y must have the shape of y, (N, D) = (4, 3)"),
    ]
    for args, reason in bad_residual:
        check_raises(residual_input_grad, args, reason=reason, name="residual_input_grad")
    W2, b2, V = rng.normal(size=(5, 3)), rng.normal(size=5), rng.normal(size=(2, 5))
    g2 = rng.normal(size=(4, 2))
    bad_plain = [
        ((g2, W2, b2, V, x[0]), "x must be 2-D (N, D_in)"),
        ((g2, W2[:, :2], b2, V, x), "W is (5, 2) but x has D_in = 3 columns"),
        ((g2, W2, b2[:4], V, x), "b must have shape (H,) = (5,)"),
        ((g2, W2, b2, V[:, :4], x), "V must be (D_out, H) with H = 5"),
        ((g2[:, :1], W2, b2, V, x), "grad_y must have the shape of y, (N, D_out) = (4, 2)"),
    ]
    for args, reason in bad_plain:
        check_raises(plain_input_grad, args, reason=reason, name="plain_input_grad")


# ----------------------------------------------------------------------------- fixture models
# Under grading these cross to the student's kernel as data (class name, parameters, attributes).


@wire.transferable
class ResidualLinear(nn.Module):
    """The notes' residual block on rows: ``y = x + relu(x @ W.T + b)``."""

    def __init__(self, width):
        super().__init__()
        self.linear = nn.Linear(width, width)

    def forward(self, x):
        return x + torch.relu(self.linear(x))


@wire.transferable
class ParallelSum(nn.Module):
    """``y = first(x) + second(x)``."""

    def __init__(self, first, second):
        super().__init__()
        self.first, self.second = first, second

    def forward(self, x):
        return self.first(x) + self.second(x)


@wire.transferable
class Square(nn.Module):
    """f(x) = x ** 2: its gradient 2 x is a straight line, perfectly correlated with itself shifted."""

    def forward(self, x):
        return x ** 2


@wire.transferable
class Zigzag(nn.Module):
    """|x mod 2 - 1|: slope -1 on (0, 1), +1 on (1, 2), and so on."""

    def forward(self, x):
        return torch.abs(torch.remainder(x, 2.0) - 1.0)


@wire.transferable
class Parabola(nn.Module):
    """f(x) = a x^2 + b x (float64): its gradient 2 a x + b is a straight line in x."""

    def __init__(self, a, b):
        super().__init__()
        self.a, self.b = float(a), float(b)

    def forward(self, x):
        return self.a * x ** 2 + self.b * x


@wire.transferable
class TriangleWave(nn.Module):
    """A triangle wave of period p: slope -1 on the first half of each period, +1 on the second."""

    def __init__(self, period):
        super().__init__()
        self.period = float(period)

    def forward(self, x):
        return torch.abs(torch.remainder(x, self.period) - self.period / 2)


def _square_on_half_grid_mistakes():
    """Wrong answers for ``Square()`` on the visible grid 0.5, 1.5, ..., 9.5, from closed forms.

    There f = x^2 and g = 2x exactly; np.gradient of f is exact inside, 2x +- 1 at the two ends.
    """
    x = np.arange(10.0) + 0.5
    g, f = 2 * x, x ** 2
    a, b, centred = g[:-1], g[1:], g - g.mean()
    ends = np.gradient(f, x)
    return [
        (NO_MEAN_REMOVAL, a @ b / np.sqrt((a @ a) * (b @ b))),
        (GLOBAL_MEAN, centred[:-1] @ centred[1:] / (centred @ centred)),
        (OUTPUTS_CORRELATED, np.corrcoef(f[:-1], f[1:])[0, 1]),
        (FINITE_DIFFERENCES, np.corrcoef(ends[:-1], ends[1:])[0, 1]),
    ]


SQUARE_ON_HALF_GRID_MISTAKES = _square_on_half_grid_mistakes()


def _seed_torch(rng):
    torch.manual_seed(int(rng.integers(2**31)))


def _he_init(model, bias_std=0.5):
    """He-normal weights and N(0, bias_std^2) biases for every Linear layer of ``model``."""
    for module in model.modules():
        if isinstance(module, nn.Linear):
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            nn.init.normal_(module.bias, std=bias_std)
    return model


def _blocks(kind, depth, width):
    if kind == "plain":
        return [nn.Sequential(nn.Linear(width, width), nn.ReLU()) for _ in range(depth)]
    return [ResidualLinear(width) for _ in range(depth)]


# ----------------------------------------------------------------------------- gradient_norms


def stack_cases(seed=None, n_cases=8):
    """Random real ``nn.Sequential`` models with inputs and targets, float64.

    Returns a list of ``(description, model, x, target)``: plain and residual fully connected
    stacks, a stack changing widths, a convolutional stack with batch norm in training mode.
    """
    rng = make_rng(seed)
    cases = []
    for i in range(n_cases):
        _seed_torch(rng)
        n = int(rng.integers(1, 6))
        kind = ("plain", "residual", "mixed", "conv")[i % 4]
        if kind == "conv":
            c, side = int(rng.integers(1, 4)), int(rng.integers(4, 8))
            model = nn.Sequential(nn.Conv2d(c, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(),
                                  nn.Conv2d(3, 2, 3, stride=2), nn.Flatten())
            x = torch.randn(max(n, 2), c, side, side)
            description = (f"a conv stack (Conv-BN-ReLU-Conv-Flatten, BN in training mode) on x "
                           f"{tuple(x.shape)}")
        elif kind == "mixed":
            d_in, width, d_out = (int(v) for v in rng.integers(1, 7, size=3))
            model = nn.Sequential(nn.Linear(d_in, width), nn.Tanh(), ResidualLinear(width),
                                  ResidualLinear(width), nn.Linear(width, d_out))
            x = torch.randn(n, d_in)
            description = (f"Linear({d_in}, {width}), Tanh, 2 residual blocks, Linear({width}, "
                           f"{d_out}) on x {tuple(x.shape)}")
        else:
            depth, width = int(rng.integers(1, 9)), int(rng.integers(2, 8))
            model = nn.Sequential(*_blocks(kind, depth, width))
            x = torch.randn(n, width)
            description = f"a {kind} stack of {depth} blocks of width {width} on x {tuple(x.shape)}"
        model = model.double()
        x = x.double()
        with torch.no_grad():
            target = torch.randn(copy.deepcopy(model)(x).shape, dtype=torch.float64)
        cases.append((description, model, x, target))
    return cases


def _as_floats(result):
    """Lists and tuples of numbers become float64 arrays; anything else is returned as it is."""
    if isinstance(result, (list, tuple)):
        try:
            return np.array([float(v) for v in result])
        except (TypeError, ValueError):
            return result
    return result


def check_gradient_norms(fn, oracle, seed=None, n_cases=8, likely_mistakes=None):
    """``gradient_norms`` equals ``oracle(model, x, target)`` on real random stacks.

    ``oracle`` returns the expected norms, float64 ``(len(model),)``; it gets its own copies.
    ``likely_mistakes(model, x, target)`` returns further known wrong answers (it gets copies).
    """
    for description, model, x, target in stack_cases(seed, n_cases):
        expected = np.asarray(oracle(copy.deepcopy(model), x.clone(), target.clone()),
                              dtype=np.float64)
        extra = (likely_mistakes(copy.deepcopy(model), x.clone(), target.clone())
                 if likely_mistakes else [])
        actual = _as_floats(call_student(fn, (model, x, target), name="gradient_norms"))
        if hasattr(actual, "shape") and actual.shape == (len(model) + 1,):
            raise CheckFailure(f"gradient_norms on {description} returned {len(model) + 1} norms "
                               f"for {len(model)} blocks.\nLikely cause: {INPUT_INCLUDED}")
        if hasattr(actual, "shape") and actual.shape == (len(model) - 1,) and len(model) > 1:
            raise CheckFailure(f"gradient_norms on {description} returned {len(model) - 1} norms "
                               f"for {len(model)} blocks.\nLikely cause: {LAST_BLOCK_MISSING}")
        likely = [(OUTPUT_SIDE_FIRST, expected[::-1]), (SQUARED_NORMS, expected ** 2),
                  (SUMMED_LOSS, expected * target.numel()), *extra]
        assert_close(actual, expected, what=f"gradient_norms on {description}", likely=likely)


# ----------------------------------------------------------------------------- gradient_correlation


def mlp_1d(rng, kind, depth, width):
    """A real 1-input, 1-output network: Linear(1, width), ``depth`` blocks, Linear(width, 1).

    Weights He-normal, biases N(0, 0.25) (zero biases would make it piecewise linear in two
    pieces only); float64.
    """
    _seed_torch(rng)
    model = nn.Sequential(nn.Linear(1, width), *_blocks(kind, depth, width), nn.Linear(width, 1))
    return _he_init(model).double()


def calibrated_batch_norm_1d(rng, xs, depth, width):
    """A plain 1-D network with BatchNorm1d in evaluation mode, its statistics taken on ``xs``.

    ``xs`` should not be the evaluation grid itself: on an evenly spaced grid with an odd number
    of points the first batch norm puts a ReLU kink exactly on the middle point. eps = 0.1 bounds
    how much batch norm can amplify a unit that barely varies over the grid
    (with eps = 1e-5 a few such layers make the result depend on rounding).
    """
    _seed_torch(rng)
    blocks = [nn.Sequential(nn.Linear(width, width), nn.BatchNorm1d(width, eps=0.1, momentum=None),
                            nn.ReLU()) for _ in range(depth)]
    model = _he_init(nn.Sequential(nn.Linear(1, width), *blocks, nn.Linear(width, 1))).double()
    with torch.no_grad():
        model.train()(torch.from_numpy(xs))
    return model.eval()


def _bends(model, xs):
    """Whether ``model`` bends inside ``xs``: its secant slopes between interior points differ.

    Then neither g[:-1] nor g[1:] is constant, and their correlation is well defined (computed
    without autograd, from the outputs).
    """
    with torch.no_grad():
        f = model(torch.from_numpy(xs))[:, 0].numpy()
    slopes = np.diff(f) / np.diff(xs[:, 0])
    return np.ptp(slopes[1:-1]) > 1e-3 * np.abs(slopes).max()


def _grid_model(rng, kind, xs):
    """``(description, model)`` of the given kind with a gradient that varies over ``xs``."""
    while True:
        depth, width = int(rng.integers(1, 7)), int(rng.integers(3, 25))
        if kind == "mean":
            linear = nn.Linear(1, 1).double()
            with torch.no_grad():
                linear.weight.fill_(5.0)
            model = ParallelSum(linear, mlp_1d(rng, "plain", depth, width))
            description = f"5 x + a plain network of depth {depth}, width {width}"
        elif kind == "batch norm":
            depth, width = min(depth, 3), max(width, 8)
            statistics = rng.uniform(xs[0, 0], xs[-1, 0], size=(64, 1))
            model = calibrated_batch_norm_1d(rng, statistics, depth, width)
            description = (f"a plain network with batch norm (evaluation mode), depth {depth}, "
                           f"width {width}")
        else:
            model = mlp_1d(rng, kind, depth, width)
            description = f"a {kind} network of depth {depth}, width {width}"
        if _bends(model, xs):
            return description, model


def grid_cases(seed=None, n_cases=10):
    """Random ``(description, model, xs)`` for gradient_correlation: real 1-D networks, sorted grids.

    Plain and residual stacks of random depth and width, an unevenly spaced grid, a network whose
    gradient has a large mean (``5 x`` plus a small network), and a batch-norm network in
    evaluation mode; every model bends on its grid (a constant gradient has no correlation).
    """
    rng = make_rng(seed)
    cases = []
    for i in range(n_cases):
        n = int(rng.integers(10, 120))
        low = float(rng.uniform(-3, 0))
        high = low + float(rng.uniform(1, 4))
        xs = np.linspace(low, high, n)[:, None]
        kind = ("plain", "residual", "uneven", "mean", "batch norm")[i % 5]
        if kind == "uneven":
            xs = np.unique(rng.uniform(low, high, size=n))[:, None]
            kind = "plain"
        description, model = _grid_model(rng, kind, xs)
        cases.append((f"{description}, {len(xs)} grid points in [{xs[0, 0]:.3g}, {xs[-1, 0]:.3g}]",
                      model, xs))
    return cases


def pearson_lag1(g):
    """Pearson correlation of ``g[:-1]`` and ``g[1:]`` (numpy.corrcoef); NaN if one is constant."""
    g = np.asarray(g, dtype=np.float64)
    if np.ptp(g[:-1]) == 0 or np.ptp(g[1:]) == 0:
        return float("nan")
    return float(np.corrcoef(g[:-1], g[1:])[0, 1])


def _correlation_of(fn, model, xs, description):
    """The student's ``gradient_correlation(model, xs)``, which must be a float."""
    actual = call_student(fn, (model, xs), name="gradient_correlation")
    if not isinstance(actual, (float, np.floating)):
        raise CheckFailure(f"gradient_correlation on {description} returned "
                           f"{type(actual).__name__}; return a float")
    return actual


def check_gradient_correlation(fn, gradients, seed=None, n_cases=10, likely_mistakes=None):
    """``gradient_correlation`` equals the lag-1 Pearson correlation of ``gradients(model, xs)``.

    ``gradients`` returns d output / d input at each grid point, float64 ``(N,)``; it gets its
    own copies. The models are real 1-D networks (see ``grid_cases``).
    ``likely_mistakes(model, xs, g)`` returns known wrong answers to name (it gets copies).
    """
    for description, model, xs in grid_cases(seed, n_cases):
        g = np.asarray(gradients(copy.deepcopy(model), xs.copy()), dtype=np.float64)
        likely = likely_mistakes(copy.deepcopy(model), xs.copy(), g) if likely_mistakes else []
        actual = _correlation_of(fn, model, xs, description)
        assert_close(actual, pearson_lag1(g), what=f"gradient_correlation on {description}",
                     likely=[(LAG_ZERO, 1.0), *likely])


def small_correlation_cases(seed=None, n_cases=6):
    """Random ``(description, model, xs, expected)`` whose lag-1 correlation is known exactly.

    A quadratic of random sign and scale on an evenly spaced grid (a linear gradient: 1), a
    triangle wave of random period sampled once per half period (alternating slopes: -1), and two
    stacked linear layers without activation (a constant gradient: nan).
    """
    rng = make_rng(seed)
    cases = []
    for i in range(n_cases):
        n = int(rng.integers(4, 40))
        if i % 3 == 0:
            a = float(rng.choice([-1, 1]) * rng.uniform(0.5, 3))
            b = float(rng.uniform(-2, 2))
            xs = (rng.uniform(-3, 0) + rng.uniform(0.05, 0.5) * np.arange(n))[:, None]
            cases.append((f"{a:.3g} x^2 + {b:.3g} x on {n} evenly spaced points", Parabola(a, b),
                          xs, 1.0))
        elif i % 3 == 1:
            period = float(rng.uniform(0.5, 4))
            start = int(rng.integers(-5, 5)) * period / 2 + period / 4
            xs = (start + np.arange(n) * period / 2)[:, None]
            cases.append((f"a triangle wave of period {period:.3g} sampled every half period "
                          f"({n} points)", TriangleWave(period), xs, -1.0))
        else:
            width = int(rng.integers(2, 6))
            affine = nn.Sequential(nn.Linear(1, width), nn.Linear(width, 1)).double()
            _seed_torch(rng)
            _he_init(affine)
            xs = np.linspace(float(rng.uniform(-3, 0)), float(rng.uniform(1, 3)), n)[:, None]
            cases.append((f"two stacked linear layers (width {width}, no activation: a constant "
                          f"gradient) on {n} points", affine, xs, float("nan")))
    return cases


def inexact_constant_case():
    """A constant gradient whose mean is not exactly that constant in floating point.

    ``nn.Linear(1, 1)`` of slope 0.1 on 4 points: g[:-1] is three copies of 0.1, whose mean is
    0.10000000000000002; centred, they are tiny but not zero, so only a test of the values
    themselves (``a.min() == a.max()``) sees the constant.
    """
    line = nn.Linear(1, 1).double()
    with torch.no_grad():
        line.weight.fill_(0.1)
        line.bias.zero_()
    return ("a line of slope 0.1 on 4 points (a constant gradient whose mean is not exactly 0.1)",
            line, np.arange(4.0)[:, None], float("nan"))


def check_gradient_correlation_small_cases(fn, seed=None, n_cases=6):
    """``gradient_correlation`` is 1, -1 or nan on models whose answer is known exactly."""
    for description, model, xs, expected in [*small_correlation_cases(seed, n_cases),
                                             inexact_constant_case()]:
        actual = _correlation_of(fn, model, xs, description)
        if np.isnan(expected):
            if not np.isnan(actual):
                raise CheckFailure(f"gradient_correlation on {description}: expected nan, got "
                                   f"{actual!r}.\nLikely cause: {CONSTANT_NOT_NAN}")
            continue
        assert_close(actual, expected, what=f"gradient_correlation on {description}",
                     likely=[(LAG_ZERO, 1.0)] if expected < 0 else [])


def check_gradient_functions_reject_bad_input(gradient_norms, gradient_correlation):
    """``gradient_norms`` and ``gradient_correlation`` reject what they cannot measure.

    Each is first called on a valid model worked out by hand, so that a function that raises for
    everything does not pass.
    """
    identity = nn.Linear(2, 2, bias=False).double()
    with torch.no_grad():
        identity.weight.copy_(torch.eye(2))
    # y = x = [1, 0], L = (1 + 0) / 2, dL/dy = 2 y / 2 = [1, 0]: norm 1
    norms = call_student(gradient_norms, (nn.Sequential(identity),
                                          torch.tensor([[1.0, 0.0]], dtype=torch.float64),
                                          torch.zeros(1, 2, dtype=torch.float64)),
                         name="gradient_norms")
    assert_close(_as_floats(norms), [1.0], what="gradient_norms on one identity layer")
    grid = np.linspace(-1.0, 1.0, 9)[:, None]
    assert_close(_correlation_of(gradient_correlation, Square(), grid, "x ** 2"), 1.0,
                 what="gradient_correlation of x ** 2 on an even grid")
    torch.manual_seed(806)
    stack = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 2)).double()
    x, target = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 2, dtype=torch.float64)
    bad_norms = [
        ((nn.Linear(3, 2).double(), x, target), TypeError,
         "model must be an nn.Sequential of blocks (one norm per block)"),
        ((nn.Sequential(), x, target), ValueError, "an empty nn.Sequential has no block"),
        ((stack, x, target[:, :1]), ValueError,
         "the model's output (4, 2) and the target (4, 1) differ in shape"),
    ]
    for args, exception, reason in bad_norms:
        check_raises(gradient_norms, args, exception=exception, reason=reason, name="gradient_norms")
    net = nn.Sequential(nn.Linear(1, 4), nn.ReLU(), nn.Linear(4, 1)).double()
    bad_grids = [
        ((grid, grid), TypeError, "model must be a torch.nn.Module (here the grid is passed twice)"),
        ((net, grid[:, 0]), ValueError, "xs must have shape (N, 1)"),
        ((net, np.hstack([grid, grid])), ValueError, "xs must have shape (N, 1)"),
        ((net, grid[:2]), ValueError, "a lag-1 correlation needs at least 3 grid points"),
        ((net, grid[::-1].copy()), ValueError, "xs must be sorted in increasing order"),
        ((net, np.vstack([grid[:4], grid[3:]])), ValueError,
         "xs must be strictly increasing (a repeated point)"),
        ((nn.Linear(1, 2).double(), grid), ValueError, "the model must have one output per point"),
    ]
    for args, exception, reason in bad_grids:
        check_raises(gradient_correlation, args, exception=exception, reason=reason,
                     name="gradient_correlation")


# ----------------------------------------------------------------------------- BasicBlock

BLOCK_CONFIGS = [(1, 1, 1), (3, 3, 1), (2, 5, 1), (4, 4, 2), (3, 6, 2), (5, 2, 3), (6, 3, 1)]
LAYER_NAMES = (
    "name the layers as torchvision does: conv1, bn1, conv2, bn2, and downsample = "
    "nn.Sequential(1x1 conv, BatchNorm2d) for a projection shortcut, None for the identity"
)
NO_FINAL_RELU = "the final ReLU (after the addition) is missing"
RELU_BEFORE_ADDITION = (
    "a ReLU is applied to bn2's output before the addition: add bn2(conv2(...)) and the shortcut "
    "first, then apply the one final ReLU"
)
NO_SHORTCUT = "the shortcut is missing (a plain block)"


def torchvision_basic_block(c_in, c_out, stride=1):
    """torchvision's BasicBlock with the projection shortcut ``ResNet._make_layer`` would give it."""
    downsample = None
    if stride != 1 or c_in != c_out:
        downsample = nn.Sequential(resnet.conv1x1(c_in, c_out, stride), nn.BatchNorm2d(c_out))
    return resnet.BasicBlock(c_in, c_out, stride, downsample)


def hand_worked_state():
    """A state_dict for ``BasicBlock(1, 1)`` whose evaluation-mode output is easy to work out.

    Both 3x3 kernels pass the centre pixel only (identity convolutions); both batch norms have
    mean 0, variance 1 - eps (so that they divide by 1) and scale 1; bn1's shift is 0, bn2's -1.
    """
    state = torchvision_basic_block(1, 1).double().state_dict()
    for key, value in state.items():
        if key.endswith("num_batches_tracked"):
            continue
        value.zero_()
        if key.endswith("running_var"):
            value.fill_(1 - 1e-5)
        elif key.endswith("bn1.weight") or key.endswith("bn2.weight"):
            value.fill_(1.0)
    for conv in ("conv1", "conv2"):
        state[f"{conv}.weight"][0, 0, 1, 1] = 1.0
    state["bn2.bias"].fill_(-1.0)
    return state


def _count(module):
    return sum(p.numel() for p in module.parameters())


def _parameter_hint(c_in, c_out, stride, extra):
    projection = stride != 1 or c_in != c_out
    hints = {
        2 * c_out: "the 3x3 convolutions have biases: use bias=False (BatchNorm's shift "
                   "makes a bias redundant)",
        c_out: "a convolution has a bias: use bias=False (the BatchNorm after it has a shift, "
               "which makes a bias redundant)",
        3 * c_out: "the convolutions have biases: use bias=False (BatchNorm's shift makes a "
                   "bias redundant)",
    }
    if projection:
        hints[-2 * c_out] = "the projection shortcut has no BatchNorm2d after its 1x1 convolution"
        hints[-(c_in * c_out + 2 * c_out)] = (
            "there is no projection: the identity cannot be added when the stride is not 1 or "
            "the channels change")
        hints[8 * c_in * c_out] = "the projection convolution is 3x3: it is a 1x1 convolution"
    else:
        hints[c_in * c_out + 2 * c_out] = (
            "a projection is used although the identity fits (stride 1, c_in == c_out)")
    return hints.get(extra, "")


def make_block(cls, c_in, c_out, stride=1):
    """``(cls(c_in, c_out, stride) in float64, its label)``; fails unless it is an nn.Module."""
    label = f"BasicBlock({c_in}, {c_out}, stride={stride})"
    block = call_student(cls, (c_in, c_out, stride), name="BasicBlock", forbidden=TORCHVISION_BLOCK)
    if not is_instance(block, nn.Module):
        raise CheckFailure(f"{label} returned {type(block).__name__}; it must be an nn.Module")
    return block.double(), label


def block_output(block, x, label):
    """``block(x)`` as a float64 NumPy array; fails unless the block returns a tensor."""
    out = call_student(block, (x,), name=f"{label}.forward", forbidden=TORCHVISION_BLOCK)
    if not isinstance(out, torch.Tensor):
        raise CheckFailure(f"{label}.forward returned {type(out).__name__}; return a torch.Tensor")
    return out.detach().numpy().astype(np.float64)


def check_basic_block_structure(cls, configs=None, seed=None):
    """Parameter count, state_dict layout and output shapes equal torchvision's BasicBlock."""
    rng = make_rng(seed)
    for c_in, c_out, stride in configs or BLOCK_CONFIGS:
        block, label = make_block(cls, c_in, c_out, stride)
        reference = torchvision_basic_block(c_in, c_out, stride).double()
        got, want = _count(block), _count(reference)
        if got != want:
            hint = _parameter_hint(c_in, c_out, stride, got - want)
            raise CheckFailure(f"{label} has {got} parameters, torchvision's BasicBlock {want}"
                               + (f".\nLikely cause: {hint}" if hint else ""))
        shapes = {k: tuple(v.shape) for k, v in block.state_dict().items()}
        expected = {k: tuple(v.shape) for k, v in reference.state_dict().items()}
        if shapes != expected:
            missing = sorted(set(expected) - set(shapes))
            unexpected = sorted(set(shapes) - set(expected))
            wrong = sorted(k for k in set(shapes) & set(expected) if shapes[k] != expected[k])
            raise CheckFailure(
                f"{label}: state_dict differs from torchvision's BasicBlock (missing {missing}, "
                f"unexpected {unexpected}, wrong shapes {wrong}): {LAYER_NAMES}")
        for side in (int(rng.integers(3, 9)), int(rng.integers(3, 9))):
            x = torch.randn(2, c_in, side, side + 1, dtype=torch.float64)
            got_shape = block_output(block, x, label).shape
            with torch.no_grad():
                want_shape = tuple(reference(x).shape)
            if got_shape != want_shape:
                raise CheckFailure(
                    f"{label}.forward on x {tuple(x.shape)} returned {got_shape}, expected "
                    f"{want_shape}: (H + 2*1 - 3) // stride + 1 rows, c_out channels")


def check_basic_block_rejects_bad_input(cls):
    """``BasicBlock`` raises TypeError / ValueError for impossible channel counts and strides."""
    bad = [
        ((0, 4, 1), ValueError, "c_in must be at least 1"),
        ((4, 0, 1), ValueError, "c_out must be at least 1"),
        ((4, 4, 0), ValueError, "the stride must be at least 1"),
        ((4.0, 4, 1), TypeError, "c_in must be an integer"),
        ((4, 4, 1.5), TypeError, "the stride must be an integer"),
    ]
    for args, exception, reason in bad:
        check_raises(cls, args, exception=exception, reason=reason, name="BasicBlock")


def _randomize(block, generator):
    """Random weights, BN affine parameters and running statistics (positive variances)."""
    state = {}
    for key, value in block.state_dict().items():
        if key.endswith("running_var"):
            state[key] = torch.rand(value.shape, generator=generator, dtype=value.dtype) + 0.5
        elif value.is_floating_point():
            state[key] = torch.randn(value.shape, generator=generator, dtype=value.dtype) * 0.5
        else:
            state[key] = value
    block.load_state_dict(state)


def _compare_gradients(grads, want_grads, what):
    """The parameter gradients ``grads`` (name -> tensor or None) equal ``want_grads``."""
    for name, want in want_grads.items():
        got = grads.get(name)
        if got is None:
            raise CheckFailure(f"{what}: no gradient reaches {name}; the loss must depend on it")
        assert_close(got.numpy(), want.numpy(), what=f"the gradient with respect to {name} of {what}")


def check_basic_block_outputs(cls, seed=None, n_cases=8, likely_mistakes=None):
    """Outputs and gradients equal torchvision's BasicBlock loaded with the same state.

    Training mode (batch statistics) and evaluation mode (running statistics), random
    configurations with identity and projection shortcuts; the gradients with respect to the
    input and to every parameter, computed where the block lives. ``likely_mistakes(reference,
    x)`` returns known wrong outputs, computed from torchvision's modules (it gets copies).
    """
    rng = make_rng(seed)
    generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
    for i in range(n_cases):
        c_in, c_out, stride = BLOCK_CONFIGS[i % len(BLOCK_CONFIGS)]
        block, label = make_block(cls, c_in, c_out, stride)
        reference = torchvision_basic_block(c_in, c_out, stride).double()
        _randomize(block, generator)
        try:
            reference.load_state_dict(block.state_dict())
        except RuntimeError as error:
            raise CheckFailure(f"{label}: its state_dict does not load into torchvision's "
                               f"BasicBlock ({error}): {LAYER_NAMES}") from None
        n, side = int(rng.integers(2, 4)), int(rng.integers(3, 8))
        x = torch.randn(n, c_in, side, side, generator=generator, dtype=torch.float64)
        for mode in ("train", "eval"):
            student, oracle = copy.deepcopy(block), copy.deepcopy(reference)
            student.train(mode == "train")
            oracle.train(mode == "train")
            with torch.no_grad():
                shape = copy.deepcopy(oracle)(x).shape
            upstream = torch.randn(shape, generator=generator, dtype=torch.float64)
            want_out, (want_grad,), want_grads = output_and_gradients(
                oracle, (x,), upstream, with_parameters=True)
            out, (grad,), grads = call_student(
                student, ((x,), upstream), {"with_parameters": True}, name=f"{label}.forward",
                forbidden=TORCHVISION_BLOCK, helper="output_and_gradients")
            what = f"{label} in {mode} mode on x {tuple(x.shape)}"
            if grad is None:
                raise CheckFailure(f"{what}: the output does not depend on the input")
            out = out.numpy()
            if difference(out, want_out.numpy(), check_dtype=False) is not None:
                variants = (likely_mistakes(copy.deepcopy(reference).train(mode == "train"), x)
                            if likely_mistakes else [])
                assert_close(out, want_out.numpy(), what=f"the output of {what}", likely=variants)
            assert_close(grad.numpy(), want_grad.numpy(),
                         what=f"the gradient with respect to the input of {what}")
            _compare_gradients(grads, want_grads, what)
