"""Hidden checks of notebook 08 (residual gradient flow): grader only, never shipped to students.

The oracles of ``gradient_norms`` (forward hooks and ``.grad``) and ``gradient_correlation`` (one
forward and backward pass per grid point), and the generators of likely wrong answers, which are
near-copies of the exercises' solutions. Each check passes them to the student-side check of the
same name in :mod:`autograder.residual`, which builds the random cases and compares. Hidden tests
pass no seed: the cases come from the grading run's seed.
"""
import numpy as np
import torch
import torch.nn.functional as F

from autograder import residual
from autograder.residual import (
    BIAS_IGNORED, FINITE_DIFFERENCES, GLOBAL_MEAN, IDENTITY_ADDED, IDENTITY_MISSING, LAG_TWO,
    NO_FINAL_RELU, NO_MEAN_REMOVAL, NO_SHORTCUT, OUTPUTS_CORRELATED, PER_EXAMPLE_MEAN,
    RELU_BEFORE_ADDITION, SLOPE_AT_INPUT, SLOPE_MISSING, V_TRANSPOSED, W_TRANSPOSED,
)

SECOND_STRIDE = (
    "the stride is on the second convolution: conv1 carries the block's stride, conv2 has stride 1"
)

# ----------------------------------------------------------------------------- input gradients


def _relu_slope(z):
    return (z > 0).astype(np.float64)


def mistakes_residual(grad_y, W, b, x):
    """Known wrong dL/dx of a residual block ``y = relu(x @ W.T + b) + x``."""
    z = x @ W.T + b
    through = grad_y * _relu_slope(z)
    return [
        (IDENTITY_MISSING, through @ W),
        (SLOPE_AT_INPUT, (grad_y * _relu_slope(x)) @ W + grad_y),
        (W_TRANSPOSED, through @ W.T + grad_y),
        (BIAS_IGNORED, (grad_y * _relu_slope(x @ W.T)) @ W + grad_y),
        (SLOPE_MISSING, grad_y @ W + grad_y),
    ]


def mistakes_plain(grad_y, W, b, V, x):
    """Known wrong dL/dx of a plain block ``y = relu(x @ W.T + b) @ V.T``."""
    z = x @ W.T + b
    grad_h = grad_y @ V
    found = [(SLOPE_MISSING, grad_h @ W),
             (BIAS_IGNORED, (grad_h * _relu_slope(x @ W.T)) @ W)]
    if grad_y.shape[1] == V.shape[1]:
        found.append((V_TRANSPOSED, (grad_y @ V.T * _relu_slope(z)) @ W))
    if W.shape[0] == W.shape[1]:
        found.append((W_TRANSPOSED, (grad_h * _relu_slope(z)) @ W.T))
    if grad_y.shape[1] == x.shape[1]:
        found.append((IDENTITY_ADDED, (grad_h * _relu_slope(z)) @ W + grad_y))
    return found


def check_residual_input_grad(fn, seed=None, n_cases=25):
    """``residual_input_grad`` equals autograd on random blocks; known mistakes are named."""
    residual.check_residual_input_grad(fn, seed, n_cases, likely_mistakes=mistakes_residual)


def check_plain_input_grad(fn, seed=None, n_cases=25):
    """``plain_input_grad`` equals autograd on random blocks; known mistakes are named."""
    residual.check_plain_input_grad(fn, seed, n_cases, likely_mistakes=mistakes_plain)


# ----------------------------------------------------------------------------- gradient_norms


def _block_output_grads(model, x, target):
    """dL/d(output of each block), kept with forward hooks and read from ``.grad``."""
    outputs = []

    def keep(module, inputs, output):
        output.retain_grad()
        outputs.append(output)

    handles = [block.register_forward_hook(keep) for block in model]
    F.mse_loss(model(x), target).backward()
    for handle in handles:
        handle.remove()
    return [output.grad for output in outputs]


def norms_by_hooks(model, x, target):
    """The oracle of ``gradient_norms``: the Euclidean norm of each block's output gradient."""
    return np.array([grad.norm().item() for grad in _block_output_grads(model, x, target)])


def mistakes_norms(model, x, target):
    """Known wrong answers of ``gradient_norms`` beyond those the expected answer gives."""
    grads = _block_output_grads(model, x, target)
    return [(PER_EXAMPLE_MEAN, [g.flatten(1).norm(dim=1).mean().item() for g in grads])]


def check_gradient_norms(fn, seed=None, n_cases=8):
    """``gradient_norms`` equals the norms read with forward hooks on random real stacks."""
    residual.check_gradient_norms(fn, norms_by_hooks, seed, n_cases, likely_mistakes=mistakes_norms)


# ----------------------------------------------------------------------------- gradient_correlation


def gradients_one_by_one(model, xs):
    """The oracle: d model / d x at each grid point, one point per forward and backward pass."""
    slopes = []
    for point in xs:
        x = torch.tensor(point[None, :], requires_grad=True)
        (slope,) = torch.autograd.grad(model(x).sum(), x)
        slopes.append(slope.item())
    return np.array(slopes)


def _pearson(a, b):
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def mistakes_correlation(model, xs, g):
    """Known wrong answers of ``gradient_correlation`` for ``model`` on ``xs`` with gradient ``g``."""
    found = []
    a, b = g[:-1], g[1:]
    scale = np.sqrt(np.dot(a, a) * np.dot(b, b))
    if scale > 0:
        found.append((NO_MEAN_REMOVAL, np.dot(a, b) / scale))
    centred = g - g.mean()
    if np.dot(centred, centred) > 0:
        found.append((GLOBAL_MEAN, np.dot(centred[:-1], centred[1:]) / np.dot(centred, centred)))
    if len(g) > 3:
        found.append((LAG_TWO, _pearson(g[:-2], g[2:])))
    with torch.no_grad():
        f = model(torch.from_numpy(xs))[:, 0].numpy()
    found.append((OUTPUTS_CORRELATED, residual.pearson_lag1(f)))
    found.append((FINITE_DIFFERENCES, residual.pearson_lag1(np.gradient(f, xs[:, 0]))))
    return found


def check_gradient_correlation(fn, seed=None, n_cases=10):
    """``gradient_correlation`` equals the lag-1 Pearson correlation of per-point autograd."""
    residual.check_gradient_correlation(fn, gradients_one_by_one, seed, n_cases,
                                        likely_mistakes=mistakes_correlation)


# ----------------------------------------------------------------------------- BasicBlock


def block_variants(reference, x):
    """Known wrong outputs of a BasicBlock, computed from torchvision's modules."""
    with torch.no_grad():
        shortcut = x if reference.downsample is None else reference.downsample(x)
        inner = torch.relu(reference.bn1(reference.conv1(x)))
        main = reference.bn2(reference.conv2(inner))
        found = [(NO_FINAL_RELU, (main + shortcut).numpy()),
                 (RELU_BEFORE_ADDITION, (torch.relu(main) + shortcut).numpy()),
                 (RELU_BEFORE_ADDITION, torch.relu(torch.relu(main) + shortcut).numpy()),
                 (NO_SHORTCUT, torch.relu(main).numpy())]
        if reference.stride != 1:
            inner = torch.relu(reference.bn1(F.conv2d(x, reference.conv1.weight, padding=1)))
            main = reference.bn2(F.conv2d(inner, reference.conv2.weight, stride=reference.stride,
                                          padding=1))
            found.append((SECOND_STRIDE, torch.relu(main + shortcut).numpy()))
    return found


def check_basic_block_outputs(cls, seed=None, n_cases=8):
    """Outputs and gradients equal torchvision's BasicBlock; known mistakes are named."""
    residual.check_basic_block_outputs(cls, seed, n_cases, likely_mistakes=block_variants)
