"""Hidden checks of notebook 07 (normalization layers): grader only, never shipped to students.

The hand-written normalization formulas that build likely wrong answers (a standardization over
given axes with the unbiased variance or eps outside the root, batch norm's forward pass with its
statistics cut off from autograd), which are near-copies of the exercises' solutions; and the
check of ``pixel_norm`` against the StyleGAN formula evaluated with PyTorch. Each check passes
them to the student-side check of the same name in :mod:`autograder.normalization`, which builds
the random cases and compares. Hidden tests pass no seed: the cases come from the grading run's
seed.
"""
import numpy as np
import torch

from autograder import normalization
from autograder.checking import check_against_oracle
from autograder.normalization import (
    EPS_OUTSIDE, LIBRARY_NORMS, PIXEL_EPS_OUTSIDE, UNBIASED, one_thread, _tensor, affine,
    cases_pixel_norm,
)

MEAN_AS_CONSTANT = ("the mean and the variance are treated as constants: x also reaches the output "
                    "through mean_c and var_c; add the gradient along those paths")
NO_MEAN_PATH = ("the path through the mean is missing: subtract the channel mean of dL/dx_hat "
                "(sum over N, H, W divided by N*H*W)")
NO_VARIANCE_PATH = ("the path through the variance is missing: subtract x_hat times the channel "
                    "mean of dL/dx_hat * x_hat")
PIXEL_SUMMED = "the sum of squares is used: PixelNorm divides by the root of the MEAN over C"
PIXEL_OVER_HW = ("the norm is taken over (H, W) for each channel: PixelNorm normalizes each "
                 "pixel's vector of C channels")
PIXEL_OVER_CHW = ("the norm is taken over (C, H, W) together: PixelNorm normalizes each pixel "
                  "separately, over C only")


def standardized(x, dims, eps, *, correction=0, eps_outside=False):
    """(x - mean) / spread over ``dims`` (a tensor), with the variance's ``correction`` and eps
    under the root or, if ``eps_outside``, added to the standard deviation."""
    x = _tensor(x)
    mean = x.mean(dim=dims, keepdim=True)
    var = x.var(dim=dims, correction=correction, keepdim=True)
    spread = var.sqrt() + eps if eps_outside else (var + eps).sqrt()
    return (x - mean) / spread


# ----------------------------------------------------------------------------- likely mistakes

def mistakes_batch_norm(x, gamma, beta, eps=1e-5):
    """Known wrong answers of ``batch_norm`` (and of BatchNorm2d's training step)."""
    return normalization.mistakes_batch_norm(x, gamma, beta, eps) + [
        (EPS_OUTSIDE, affine(standardized(x, (0, 2, 3), eps, eps_outside=True), gamma, beta))]


def mistakes_layer_norm(x, gamma, beta, eps=1e-5):
    """Known wrong answers of ``layer_norm``."""
    g, b = _tensor(gamma), _tensor(beta)
    found = normalization.mistakes_layer_norm(x, gamma, beta, eps)
    found.append((EPS_OUTSIDE, (standardized(x, (1, 2, 3), eps, eps_outside=True) * g + b).numpy()))
    if x[0].size > 1:
        found.append((UNBIASED.replace("M", "C*H*W"),
                      (standardized(x, (1, 2, 3), eps, correction=1) * g + b).numpy()))
    return found


def mistakes_instance_norm(x, eps=1e-5):
    """Known wrong answers of ``instance_norm``."""
    return normalization.mistakes_instance_norm(x, eps) + [
        (UNBIASED.replace("M", "H*W"), standardized(x, (2, 3), eps, correction=1).numpy()),
        (EPS_OUTSIDE, standardized(x, (2, 3), eps, eps_outside=True).numpy()),
    ]


def mistakes_group_norm(x, num_groups, gamma, beta, eps=1e-5):
    """Known wrong answers of ``group_norm``."""
    n, c, h, w = x.shape
    grouped = x.reshape(n, num_groups, -1)
    found = normalization.mistakes_group_norm(x, num_groups, gamma, beta, eps)
    if c // num_groups * h * w > 1:
        found.append((UNBIASED.replace("M", "(C/G)*H*W"), affine(
            standardized(grouped, (2,), eps, correction=1).reshape(x.shape), gamma, beta)))
    found.append((EPS_OUTSIDE, affine(
        standardized(grouped, (2,), eps, eps_outside=True).reshape(x.shape), gamma, beta)))
    return found


def bn_autograd_variant(grad_out, x, gamma, eps, *, detach_mean=False, detach_std=False,
                        correction=0):
    """``(dx, dgamma)`` of a deliberately altered batch norm (for naming wrong backward passes)."""
    with torch.enable_grad():
        x_t = _tensor(x).requires_grad_()
        gamma_t = _tensor(gamma).requires_grad_()
        mean = x_t.mean(dim=(0, 2, 3), keepdim=True)
        std = (x_t.var(dim=(0, 2, 3), correction=correction, keepdim=True) + eps).sqrt()
        centred = x_t - (mean.detach() if detach_mean else mean)
        y = centred / (std.detach() if detach_std else std) * gamma_t.reshape(1, -1, 1, 1)
        dx, dgamma = torch.autograd.grad(y, (x_t, gamma_t), _tensor(grad_out))
    return dx.numpy(), dgamma.numpy()


def mistakes_batch_norm_backward(grad_out, x, gamma, eps):
    """Known wrong ``{"dx": ..., "dgamma": ..., "dbeta": ...}`` of ``batch_norm_backward``."""
    found = normalization.mistakes_batch_norm_backward(grad_out, x, gamma, eps)
    for description, options in [
        (MEAN_AS_CONSTANT, {"detach_mean": True, "detach_std": True}),
        (NO_MEAN_PATH, {"detach_mean": True}),
        (NO_VARIANCE_PATH, {"detach_std": True}),
        (UNBIASED.replace("M", "N*H*W"), {"correction": 1}),
    ]:
        found["dx"].append((description, bn_autograd_variant(grad_out, x, gamma, eps, **options)[0]))
    return found


# ----------------------------------------------------------------------------- PixelNorm

def oracle_pixel_norm(x, eps=1e-8):
    """x * rsqrt(mean over channels of x**2 + eps), as in the StyleGAN code, with PyTorch."""
    t = _tensor(x)
    return (t * torch.rsqrt(t.pow(2).mean(dim=1, keepdim=True) + eps)).numpy()


def mistakes_pixel_norm(x, eps=1e-8):
    """Known wrong answers of ``pixel_norm``."""
    n, c, h, w = x.shape
    rms = np.sqrt(np.mean(x ** 2, axis=1, keepdims=True))
    found = [
        (PIXEL_SUMMED, oracle_pixel_norm(x, eps / c) / np.sqrt(c)),
        (PIXEL_OVER_HW, oracle_pixel_norm(x.reshape(n, c, h * w, 1).transpose(0, 2, 1, 3), eps)
         .transpose(0, 2, 1, 3).reshape(x.shape)),
        (PIXEL_OVER_CHW, oracle_pixel_norm(x.reshape(n, c * h * w, 1, 1), eps).reshape(x.shape)),
    ]
    if np.all(rms > 0):
        found.append((PIXEL_EPS_OUTSIDE, oracle_pixel_norm(x, 0.0) * rms / (rms + eps)))
    return found


@one_thread()
def check_pixel_norm(fn, seed=None, n_cases=20, name="pixel_norm"):
    """``pixel_norm`` equals the StyleGAN formula evaluated with PyTorch, from scratch."""
    check_against_oracle(fn, oracle_pixel_norm, cases_pixel_norm(seed, n_cases), name=name,
                         forbidden=LIBRARY_NORMS, likely_mistakes=mistakes_pixel_norm)


# ----------------------------------------------------------------------------- checks

def check_batch_norm(fn, seed=None, n_cases=20):
    """``batch_norm`` equals PyTorch's training-mode batch norm; known mistakes named."""
    normalization.check_batch_norm(fn, seed, n_cases, likely_mistakes=mistakes_batch_norm)


def check_layer_norm(fn, seed=None, n_cases=20):
    """``layer_norm`` equals ``F.layer_norm`` over (C, H, W); known mistakes named."""
    normalization.check_layer_norm(fn, seed, n_cases, likely_mistakes=mistakes_layer_norm)


def check_instance_norm(fn, seed=None, n_cases=20):
    """``instance_norm`` equals ``F.instance_norm``; known mistakes named."""
    normalization.check_instance_norm(fn, seed, n_cases, likely_mistakes=mistakes_instance_norm)


def check_group_norm(fn, seed=None, n_cases=20):
    """``group_norm`` equals ``F.group_norm`` for every divisor of C; known mistakes named."""
    normalization.check_group_norm(fn, seed, n_cases, likely_mistakes=mistakes_group_norm)


def check_batch_norm_backward(fn, seed=None, n_cases=20):
    """``batch_norm_backward`` equals autograd through PyTorch's batch norm; mistakes named."""
    normalization.check_batch_norm_backward(fn, seed, n_cases,
                                            likely_mistakes=mistakes_batch_norm_backward)


def check_batchnorm2d_training(cls, seed=None):
    """BatchNorm2d in training mode equals torch.nn.BatchNorm2d step after step."""
    normalization.check_batchnorm2d_training(cls, seed, likely_mistakes=mistakes_batch_norm)


def check_batchnorm2d_eval(cls, seed=None):
    """BatchNorm2d in eval mode equals torch.nn.BatchNorm2d and leaves its statistics alone."""
    normalization.check_batchnorm2d_eval(cls, seed, likely_mistakes=mistakes_batch_norm)
