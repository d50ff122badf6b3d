"""Checks of notebook 07 (normalization layers).

Oracles are PyTorch's: ``torch.nn.functional.batch_norm`` (training mode), ``layer_norm``,
``instance_norm``, ``group_norm``, the module ``torch.nn.BatchNorm2d`` (running statistics, train
and eval mode) and autograd through ``batch_norm`` for the backward pass. PixelNorm has no PyTorch
equivalent: its check takes the oracle as an argument (the hidden test supplies it) and checks the
invariants that define it. Every ``check_*`` function raises ``CheckFailure`` with a readable
message, or returns ``None``. The ``probe_*`` helpers find out empirically what a normalization
function shares between elements; the notebook builds its summary table with them.
"""
import functools

import numpy as np
import torch
import torch.nn.functional as F

from autograder.checking import (
    Case, CheckFailure, assert_close, call_student, check_against_oracle, check_raises,
    describe_call, difference,
)

LIBRARY_NORMS = tuple(function for function in (
    F.batch_norm, torch.batch_norm, torch.native_batch_norm, F.layer_norm, torch.layer_norm,
    torch.native_layer_norm, F.instance_norm, torch.instance_norm, F.group_norm, torch.group_norm,
    torch.native_group_norm, F.normalize, F.local_response_norm, getattr(F, "rms_norm", None),
    getattr(torch, "rms_norm", None),
) if function is not None)
LIBRARY_AUTOGRAD = (torch.autograd.grad, torch.autograd.backward, torch.Tensor.backward)

UNBIASED = (
    "the variance is the unbiased one (divided by M - 1): normalization uses the biased variance, "
    "the mean of squared deviations (divided by M, numpy's default ddof=0)"
)
EPS_OUTSIDE = (
    "eps is added to the standard deviation: it belongs under the square root, "
    "(x - mean) / sqrt(var + eps)"
)
EPS_IGNORED = "eps is ignored: divide by sqrt(var + eps)"
SWAPPED = "gamma and beta are swapped: y = gamma * x_hat + beta"
NO_AFFINE = "gamma and beta are not applied: y = gamma * x_hat + beta"


def _one_thread(check):
    """Run ``check`` with PyTorch single-threaded: its tensors are tiny, and waking a thread pool
    for each of them costs more than the work (tens of milliseconds on a busy machine)."""
    @functools.wraps(check)
    def wrapper(*args, **kwargs):
        previous = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return check(*args, **kwargs)
        finally:
            torch.set_num_threads(previous)
    return wrapper


def _tensor(array):
    return torch.from_numpy(np.array(array, dtype=np.float64))


def _rng(seed):
    return np.random.default_rng(seed)


def _per_channel(values):
    """(C,) -> (1, C, 1, 1) tensor, to scale and shift an NCHW batch channel by channel."""
    return _tensor(values).reshape(1, -1, 1, 1)


def _affine(y, gamma, beta):
    """``gamma[c] * y + beta[c]`` for a tensor ``y`` (N, C, H, W); returns a numpy array."""
    return (y * _per_channel(gamma) + _per_channel(beta)).numpy()


def _assert_close_lazily(actual, expected, *, what, likely):
    """``assert_close`` that computes the known wrong answers (``likely()``) only on failure."""
    if difference(actual, expected, check_dtype=False) is not None:
        assert_close(actual, expected, what=what, likely=likely())


# ----------------------------------------------------------------------------- oracles

def oracle_batch_norm(x, gamma, beta, eps=1e-5):
    """PyTorch's batch norm in training mode (batch statistics, biased variance)."""
    return F.batch_norm(_tensor(x), None, None, _tensor(gamma), _tensor(beta), training=True,
                        eps=eps).numpy()


def oracle_layer_norm(x, gamma, beta, eps=1e-5):
    """PyTorch's ``layer_norm`` over (C, H, W), gamma and beta of shape (C, H, W)."""
    return F.layer_norm(_tensor(x), tuple(np.shape(x)[1:]), _tensor(gamma), _tensor(beta),
                        eps).numpy()


def oracle_instance_norm(x, eps=1e-5):
    """PyTorch's ``instance_norm`` with batch statistics and no affine parameters."""
    return F.instance_norm(_tensor(x), eps=eps).numpy()


def oracle_group_norm(x, num_groups, gamma, beta, eps=1e-5):
    """PyTorch's ``group_norm`` (contiguous channel groups), gamma and beta of shape (C,)."""
    return F.group_norm(_tensor(x), num_groups, _tensor(gamma), _tensor(beta), eps).numpy()


def oracle_batch_norm_backward(grad_out, x, gamma, eps):
    """``(dx, dgamma, dbeta)`` of training-mode batch norm, by autograd through PyTorch's."""
    with torch.enable_grad():
        x_t = _tensor(x).requires_grad_()
        gamma_t = _tensor(gamma).requires_grad_()
        beta_t = torch.zeros_like(gamma_t, requires_grad=True)
        y = F.batch_norm(x_t, None, None, gamma_t, beta_t, training=True, eps=eps)
        grads = torch.autograd.grad(y, (x_t, gamma_t, beta_t), _tensor(grad_out))
    return tuple(g.numpy() for g in grads)


# ----------------------------------------------------------------------------- likely mistakes

def _standardized(x, dims, eps, *, correction=0, eps_outside=False):
    """A deliberately configurable (x - mean) / spread over ``dims`` (tensor), for wrong answers."""
    x = _tensor(x)
    mean = x.mean(dim=dims, keepdim=True)
    var = x.var(dim=dims, correction=correction, keepdim=True)
    spread = var.sqrt() + eps if eps_outside else (var + eps).sqrt()
    return (x - mean) / spread


def _over_n_only(x, eps):
    """Each (c, h, w) position normalized over the batch alone (tensor)."""
    n = x.shape[0]
    return F.batch_norm(_tensor(x).reshape(n, -1), None, None, training=True,
                        eps=eps).reshape(x.shape)


def _mistakes_batch_norm(x, gamma, beta, eps=1e-5):
    n, _, h, w = x.shape
    found = [
        (UNBIASED.replace("M", "N*H*W"), _affine(_standardized(x, (0, 2, 3), eps, correction=1),
                                                 gamma, beta)),
        (EPS_OUTSIDE, _affine(_standardized(x, (0, 2, 3), eps, eps_outside=True), gamma, beta)),
        (EPS_IGNORED, _affine(_standardized(x, (0, 2, 3), 0.0), gamma, beta)),
        ("the statistics are taken per sample over (C, H, W) (that is layer norm): batch norm "
         "averages each channel over (N, H, W), x.mean(axis=(0, 2, 3))",
         _affine(F.layer_norm(_tensor(x), x.shape[1:], eps=eps), gamma, beta)),
        (SWAPPED, oracle_batch_norm(x, beta, gamma, eps)),
        (NO_AFFINE, oracle_batch_norm(x, np.ones_like(gamma), np.zeros_like(beta), eps)),
    ]
    if h * w > 1:
        found.append(("the statistics are taken per sample and channel over (H, W) (that is "
                      "instance norm): batch norm averages each channel over (N, H, W)",
                      _affine(F.instance_norm(_tensor(x), eps=eps), gamma, beta)))
    if n > 1:
        found.append(("the statistics are taken over the batch axis N only: batch norm averages "
                      "each channel over (N, H, W)", _affine(_over_n_only(x, eps), gamma, beta)))
    return found


def _mistakes_layer_norm(x, gamma, beta, eps=1e-5):
    g, b = _tensor(gamma), _tensor(beta)
    found = [
        (EPS_OUTSIDE, (_standardized(x, (1, 2, 3), eps, eps_outside=True) * g + b).numpy()),
        ("the statistics are taken over (N, H, W) per channel (that is batch norm): layer norm "
         "normalizes each sample over (C, H, W), x.mean(axis=(1, 2, 3))",
         (_standardized(x, (0, 2, 3), eps) * g + b).numpy()),
        (SWAPPED, oracle_layer_norm(x, beta, gamma, eps)),
    ]
    if x[0].size > 1:
        found.append((UNBIASED.replace("M", "C*H*W"),
                      (_standardized(x, (1, 2, 3), eps, correction=1) * g + b).numpy()))
    if x.shape[2] * x.shape[3] > 1:
        found.append(("the statistics are taken over (H, W) for each channel (that is instance "
                      "norm): layer norm normalizes each sample over (C, H, W) together",
                      (F.instance_norm(_tensor(x), eps=eps) * g + b).numpy()))
    return found


def _mistakes_instance_norm(x, eps=1e-5):
    found = [
        (UNBIASED.replace("M", "H*W"), _standardized(x, (2, 3), eps, correction=1).numpy()),
        (EPS_OUTSIDE, _standardized(x, (2, 3), eps, eps_outside=True).numpy()),
        ("the statistics are taken per sample over (C, H, W) (that is layer norm): instance norm "
         "normalizes each channel of each sample over (H, W), x.mean(axis=(2, 3))",
         F.layer_norm(_tensor(x), x.shape[1:], eps=eps).numpy()),
        ("the statistics are taken per channel over (N, H, W) (that is batch norm): instance norm "
         "normalizes each sample separately, over (H, W)",
         _standardized(x, (0, 2, 3), eps).numpy()),
    ]
    return found


def interleaved_channels(channels, num_groups):
    """The channel order that makes interleaved groups (c % num_groups) contiguous."""
    return np.concatenate([np.arange(k, channels, num_groups) for k in range(num_groups)])


def _mistakes_group_norm(x, num_groups, gamma, beta, eps=1e-5):
    n, c, h, w = x.shape
    grouped = x.reshape(n, num_groups, -1)
    size = c // num_groups * h * w
    found = []
    if 1 < num_groups < c:
        order = interleaved_channels(c, num_groups)
        inverse = np.argsort(order)
        permuted = F.group_norm(_tensor(x[:, order]), num_groups, eps=eps).numpy()[:, inverse]
        found.append(("the groups are interleaved (channel c in group c % G): GroupNorm's groups "
                      "are contiguous, channels [0, C/G) form group 0, and so on "
                      "(x.reshape(N, G, C // G, H, W))",
                      _affine(torch.from_numpy(np.ascontiguousarray(permuted)), gamma, beta)))
    if size > 1:
        found.append((UNBIASED.replace("M", "(C/G)*H*W"), _affine(
            _standardized(grouped, (2,), eps, correction=1).reshape(x.shape), gamma, beta)))
    found += [
        (EPS_OUTSIDE, _affine(_standardized(grouped, (2,), eps, eps_outside=True).reshape(x.shape),
                              gamma, beta)),
        (SWAPPED, oracle_group_norm(x, num_groups, beta, gamma, eps)),
    ]
    if num_groups != 1:
        found.append(("num_groups is ignored: the whole sample is one group (layer norm)",
                      oracle_group_norm(x, 1, gamma, beta, eps)))
    if num_groups != c:
        found.append(("every channel is its own group (instance norm): a group holds C / G "
                      "contiguous channels", oracle_group_norm(x, c, gamma, beta, eps)))
    return found


def _mistakes_pixel_norm(oracle):
    """Likely mistakes of ``pixel_norm``, computed from the given ``oracle(x, eps)``."""
    def mistakes(x, eps=1e-8):
        n, c, h, w = x.shape
        rms = np.sqrt(np.mean(x ** 2, axis=1, keepdims=True))
        unit = oracle(x, 0.0) if np.all(rms > 0) else None
        found = [
            ("the sum of squares is used: PixelNorm divides by the root of the MEAN over C",
             oracle(x, eps / c) / np.sqrt(c)),
            ("the norm is taken over (H, W) for each channel: PixelNorm normalizes each pixel's "
             "vector of C channels", oracle(
                 x.reshape(n, c, h * w, 1).transpose(0, 2, 1, 3), eps
             ).transpose(0, 2, 1, 3).reshape(x.shape)),
            ("the norm is taken over (C, H, W) together: PixelNorm normalizes each pixel "
             "separately, over C only", oracle(x.reshape(n, c * h * w, 1, 1), eps).reshape(x.shape)),
        ]
        if unit is not None:
            found.append((EPS_OUTSIDE.replace("(x - mean) / sqrt(var + eps)",
                                              "x / sqrt(mean(x**2) + eps)"),
                          unit * rms / (rms + eps)))
        return found
    return mistakes


def _bn_autograd_variant(grad_out, x, gamma, eps, *, detach_mean=False, detach_std=False,
                         correction=0):
    """Gradients of a deliberately altered batch norm (for naming wrong backward passes)."""
    with torch.enable_grad():
        x_t = _tensor(x).requires_grad_()
        gamma_t = _tensor(gamma).requires_grad_()
        mean = x_t.mean(dim=(0, 2, 3), keepdim=True)
        std = (x_t.var(dim=(0, 2, 3), correction=correction, keepdim=True) + eps).sqrt()
        centred = x_t - (mean.detach() if detach_mean else mean)
        y = centred / (std.detach() if detach_std else std) * gamma_t.reshape(1, -1, 1, 1)
        dx, dgamma = torch.autograd.grad(y, (x_t, gamma_t), _tensor(grad_out))
    return dx.numpy(), dgamma.numpy()


def _mistakes_batch_norm_backward(grad_out, x, gamma, eps):
    dx = {}
    for description, options in [
        ("the mean and the variance are treated as constants: x also reaches the output through "
         "mean_c and var_c; add the gradient along those paths",
         {"detach_mean": True, "detach_std": True}),
        ("the path through the mean is missing: subtract the channel mean of dL/dx_hat "
         "(sum over N, H, W divided by N*H*W)", {"detach_mean": True}),
        ("the path through the variance is missing: subtract x_hat times the channel mean of "
         "dL/dx_hat * x_hat", {"detach_std": True}),
        (UNBIASED.replace("M", "N*H*W"), {"correction": 1}),
    ]:
        dx[description] = _bn_autograd_variant(grad_out, x, gamma, eps, **options)[0]
    dx["gamma is missing from dx: dL/dx_hat = grad_out * gamma"] = oracle_batch_norm_backward(
        grad_out, x, np.ones_like(gamma), eps)[0]
    summed_x = np.sum(grad_out * x, axis=(0, 2, 3))
    return {
        "dx": list(dx.items()),
        "dgamma": [("dgamma multiplies grad_out by x: it is the sum of grad_out * x_hat, the "
                    "normalized input", summed_x)],
        "dbeta": [("dbeta is averaged: it is the SUM of grad_out over N, H, W",
                   np.mean(grad_out, axis=(0, 2, 3)))],
    }


# ----------------------------------------------------------------------------- random cases

def random_batch(rng, n, c, h, w):
    """A batch (N, C, H, W) whose samples and channels have their own offsets and scales."""
    loc = rng.normal(0.0, 2.0, size=(n, c, 1, 1))
    scale = rng.uniform(0.3, 3.0, size=(n, c, 1, 1))
    return loc + scale * rng.normal(size=(n, c, h, w))


EPSILONS = (1e-5, 1e-5, 1e-3, 0.1, 1.0)


def _shape(rng, *, batch_values=True, spatial_values=False):
    """(N, C, H, W) with N*H*W >= 2 if ``batch_values`` and H*W >= 2 if ``spatial_values``."""
    while True:
        n, c = (int(v) for v in rng.integers(1, 5, size=2))
        h, w = (int(v) for v in rng.integers(1, 6, size=2))
        if (not batch_values or n * h * w >= 2) and (not spatial_values or h * w >= 2):
            return n, c, h, w


def _eps_kwargs(rng, index):
    return {} if index % 4 == 0 else {"eps": float(EPSILONS[int(rng.integers(len(EPSILONS)))])}


def cases_batch_norm(seed, n_cases=20):
    """Random ``batch_norm`` cases: N, C, H, W from 1 to 5 (N*H*W >= 2), several eps."""
    rng = _rng(seed)
    fixed = [(1, 3, 2, 3), (4, 2, 1, 1), (2, 1, 4, 4)]
    cases = []
    for i in range(n_cases):
        n, c, h, w = fixed[i] if i < len(fixed) else _shape(rng)
        cases.append(Case((random_batch(rng, n, c, h, w), rng.normal(size=c),
                           rng.normal(size=c)), _eps_kwargs(rng, i)))
    return cases


def cases_layer_norm(seed, n_cases=20):
    """Random ``layer_norm`` cases, gamma and beta of shape (C, H, W)."""
    rng = _rng(seed)
    cases = []
    for i in range(n_cases):
        n, c, h, w = {0: (2, 3, 2, 2), 5: (1, 3, 1, 1)}.get(i) or _shape(rng, batch_values=False)
        cases.append(Case((random_batch(rng, n, c, h, w), rng.normal(size=(c, h, w)),
                           rng.normal(size=(c, h, w))), _eps_kwargs(rng, i)))
    return cases


def cases_instance_norm(seed, n_cases=20):
    """Random ``instance_norm`` cases with H*W >= 2."""
    rng = _rng(seed)
    cases = []
    for i in range(n_cases):
        n, c, h, w = (2, 3, 1, 2) if i == 0 else _shape(rng, spatial_values=True)
        cases.append(Case((random_batch(rng, n, c, h, w),), _eps_kwargs(rng, i)))
    return cases


def cases_group_norm(seed, n_cases=20):
    """Random ``group_norm`` cases: C up to 12, every divisor of C as a number of groups."""
    rng = _rng(seed)
    cases = []
    for i in range(n_cases):
        n = int(rng.integers(1, 4))
        c = int(rng.choice([2, 4, 6, 8, 9, 12])) if i else 6
        divisors = [g for g in range(1, c + 1) if c % g == 0]
        groups = int(rng.choice(divisors)) if i else 3
        h, w = (int(v) for v in rng.integers(1, 5, size=2))
        cases.append(Case((random_batch(rng, n, c, h, w), groups, rng.normal(size=c),
                           rng.normal(size=c)), _eps_kwargs(rng, i)))
    return cases


def cases_pixel_norm(seed, n_cases=20):
    """Random ``pixel_norm`` cases; some pixels have tiny vectors, where eps matters."""
    rng = _rng(seed)
    cases = []
    for i in range(n_cases):
        n, c, h, w = (int(v) for v in rng.integers(1, 5, size=4))
        c = max(c, 2) if i % 5 else c
        x = random_batch(rng, n, c, h, w)
        x[..., 0, 0] *= 1e-3  # one small pixel per sample
        eps = [1e-8, 1e-8, 1e-4, 0.5, 2.0][i % 5]
        cases.append(Case((x,), {} if i % 5 == 0 else {"eps": eps}))
    return cases


def cases_batch_norm_backward(seed, n_cases=20):
    """Random ``(grad_out, x, gamma, eps)`` cases with N*H*W >= 2."""
    rng = _rng(seed)
    cases = []
    for i in range(n_cases):
        n, c, h, w = (2, 3, 2, 2) if i == 0 else _shape(rng)
        eps = float(EPSILONS[i % len(EPSILONS)])
        cases.append(Case((rng.normal(size=(n, c, h, w)), random_batch(rng, n, c, h, w),
                           rng.normal(size=c), eps)))
    return cases


# ----------------------------------------------------------------------------- checks

@_one_thread
def check_batch_norm(fn, seed=701, n_cases=20, name="batch_norm"):
    """``batch_norm`` equals PyTorch's training-mode batch norm, from scratch."""
    check_against_oracle(fn, oracle_batch_norm, cases_batch_norm(seed, n_cases), name=name,
                         forbidden=LIBRARY_NORMS, likely_mistakes=_mistakes_batch_norm)


@_one_thread
def check_layer_norm(fn, seed=711, n_cases=20, name="layer_norm"):
    """``layer_norm`` equals ``F.layer_norm`` over (C, H, W), from scratch."""
    check_against_oracle(fn, oracle_layer_norm, cases_layer_norm(seed, n_cases), name=name,
                         forbidden=LIBRARY_NORMS, likely_mistakes=_mistakes_layer_norm)


@_one_thread
def check_instance_norm(fn, seed=721, n_cases=20, name="instance_norm"):
    """``instance_norm`` equals ``F.instance_norm`` (no affine), from scratch."""
    check_against_oracle(fn, oracle_instance_norm, cases_instance_norm(seed, n_cases), name=name,
                         forbidden=LIBRARY_NORMS, likely_mistakes=_mistakes_instance_norm)


@_one_thread
def check_group_norm(fn, seed=731, n_cases=20, name="group_norm"):
    """``group_norm`` equals ``F.group_norm`` for every divisor of C, from scratch."""
    check_against_oracle(fn, oracle_group_norm, cases_group_norm(seed, n_cases), name=name,
                         forbidden=LIBRARY_NORMS, likely_mistakes=_mistakes_group_norm)


@_one_thread
def check_group_norm_limits(fn, seed=732, n_cases=8, name="group_norm"):
    """One group is layer norm over (C, H, W); C groups is instance norm (with gamma, beta)."""
    rng = _rng(seed)
    for i in range(n_cases):
        n, c, h, w = _shape(rng, spatial_values=True)
        c = max(c, 2)
        x = random_batch(rng, n, c, h, w)
        gamma, beta = rng.normal(size=c), rng.normal(size=c)
        eps = float(EPSILONS[i % len(EPSILONS)])
        one = call_student(fn, (x, 1, gamma, beta, eps), name=name, forbidden=LIBRARY_NORMS)
        layer = F.layer_norm(_tensor(x), (c, h, w), eps=eps)
        assert_close(one, _affine(layer, gamma, beta), what=describe_call(name, (x, 1, gamma, beta, eps), {})
                     + " (one group: layer norm over (C, H, W), then gamma and beta per channel)",
                     likely=[("with one group every channel was normalized alone (instance norm)",
                              _affine(F.instance_norm(_tensor(x), eps=eps), gamma, beta))])
        every = call_student(fn, (x, c, gamma, beta, eps), name=name, forbidden=LIBRARY_NORMS)
        instance = F.instance_norm(_tensor(x), weight=_tensor(gamma), bias=_tensor(beta), eps=eps)
        assert_close(every, instance.numpy(), what=describe_call(name, (x, c, gamma, beta, eps), {})
                     + f" ({c} groups of one channel: instance norm)",
                     likely=[("with C groups the whole sample was one group (layer norm): each "
                              "group must hold C / num_groups channels", _affine(layer, gamma, beta))])


@_one_thread
def check_pixel_norm(fn, oracle, seed=741, n_cases=20, name="pixel_norm"):
    """``pixel_norm`` equals ``oracle(x, eps)`` (an independent formula), from scratch."""
    check_against_oracle(fn, lambda x, eps=1e-8: oracle(x, eps), cases_pixel_norm(seed, n_cases),
                         name=name, forbidden=LIBRARY_NORMS,
                         likely_mistakes=_mistakes_pixel_norm(oracle))


@_one_thread
def check_pixel_norm_invariants(fn, seed=742, n_cases=12, name="pixel_norm"):
    """What defines PixelNorm, checked without a formula for it.

    At every pixel the output is a positive multiple of the input vector over C, and the mean
    over C of its squares is ms / (ms + eps) (= 1 up to eps), ms being the input's.
    """
    for case in cases_pixel_norm(seed, n_cases):
        x = case.args[0]
        eps = case.kwargs.get("eps", 1e-8)
        call = describe_call(name, case.args, case.kwargs)
        y = call_student(fn, case.args, case.kwargs, name=name, forbidden=LIBRARY_NORMS)
        message = difference(y, x, rtol=np.inf, atol=np.inf, check_dtype=False)
        if message is not None:
            raise CheckFailure(f"{call} {message}")
        scale = np.sum(y * x, axis=1, keepdims=True) / np.sum(x * x, axis=1, keepdims=True)
        if difference(y, scale * x, check_dtype=False) is not None or np.any(scale <= 0):
            raise CheckFailure(
                f"{call}: the output at a pixel must be the input vector over C times one positive "
                "number (each pixel is divided by one scalar); "
                + (difference(y, scale * x, check_dtype=False) or "some scalars are not positive"))
        mean_square = np.mean(x ** 2, axis=1)
        likely = [("this is 1 at every pixel: eps is left out", np.ones_like(mean_square)),
                  ("this is the mean over C of y**2 times C: divide by the mean over C, not the sum",
                   mean_square / (mean_square + eps / x.shape[1]) / x.shape[1])]
        assert_close(np.mean(y ** 2, axis=1), mean_square / (mean_square + eps), likely=likely,
                     what=f"{call}: the mean over C of the output's squares (expected "
                          "ms / (ms + eps), ms = mean over C of x**2)")


@_one_thread
def check_batch_norm_backward(fn, seed=751, n_cases=20, name="batch_norm_backward"):
    """``(dx, dgamma, dbeta)`` equal autograd through PyTorch's batch norm, without autograd."""
    for case in cases_batch_norm_backward(seed, n_cases):
        call = describe_call(name, case.args, {})
        result = call_student(fn, case.args, name=name,
                              forbidden=LIBRARY_NORMS + LIBRARY_AUTOGRAD)
        if not isinstance(result, (tuple, list)) or len(result) != 3:
            raise CheckFailure(f"{call} returned {type(result).__name__}; return a tuple "
                               "(dx, dgamma, dbeta)")
        expected = oracle_batch_norm_backward(*case.args)
        for label, got, want in zip(("dx", "dgamma", "dbeta"), result, expected):
            _assert_close_lazily(got, want, what=f"{label} of {call}",
                                 likely=lambda: _mistakes_batch_norm_backward(*case.args)[label])


# ----------------------------------------------------------------------------- BatchNorm2d

def _set_mode(layer, training):
    """Switch ``layer`` with its train()/eval() methods, or its ``training`` flag."""
    method = getattr(layer, "train" if training else "eval", None)
    if callable(method):
        call_student(method, (), name=f"layer.{'train' if training else 'eval'}")
    else:
        layer.training = training


def _attribute(layer, name):
    if not hasattr(layer, name):
        raise CheckFailure(f"a BatchNorm2d layer has no attribute {name!r}: keep gamma, beta, "
                           "running_mean and running_var as (C,) numpy arrays")
    return getattr(layer, name)


def _run(module, x):
    with torch.no_grad():
        return module(_tensor(x)).numpy()


def _shrunk(x):
    """x with each channel's deviations scaled so that its unbiased variance is x's biased one."""
    count = x.shape[0] * x.shape[2] * x.shape[3]
    mean = x.mean(axis=(0, 2, 3), keepdims=True)
    return mean + (x - mean) * np.sqrt((count - 1) / count)


class _Shadows:
    """torch.nn.BatchNorm2d layers run beside the student's: the reference, and two that make
    known mistakes (momentum weighing the old value; running_var from the biased variance)."""

    def __init__(self, channels, eps, momentum, gamma, beta):
        def layer(m):
            module = torch.nn.BatchNorm2d(channels, eps=eps, momentum=m, dtype=torch.float64)
            with torch.no_grad():
                module.weight.copy_(_tensor(gamma))
                module.bias.copy_(_tensor(beta))
            return module
        self.reference, self.flipped, self.biased = layer(momentum), layer(1 - momentum), layer(momentum)

    def train_step(self, x):
        """Feed the training batch ``x``; return the reference output."""
        _run(self.flipped, x)
        _run(self.biased, _shrunk(x))
        return _run(self.reference, x)


def _new_layer(cls, channels, eps, momentum, name, rng):
    """The student's layer, checked in its initial state, then given random gamma and beta."""
    layer = call_student(cls, (channels,), {"eps": eps, "momentum": momentum}, name=name)
    label = f"{name}({channels}, eps={eps}, momentum={momentum})"
    for attribute, value in (("gamma", 1.0), ("beta", 0.0), ("running_mean", 0.0),
                             ("running_var", 1.0)):
        assert_close(_attribute(layer, attribute), np.full(channels, value),
                     what=f"{label}.{attribute} after construction (as torch.nn.BatchNorm2d)")
    gamma, beta = rng.normal(size=channels), rng.normal(size=channels)
    layer.gamma, layer.beta = gamma.copy(), beta.copy()
    return layer, label, gamma, beta


MOMENTUM_FLIPPED = (
    "momentum weighs the old value: PyTorch's running = (1 - momentum) * running + momentum * "
    "batch statistic"
)


def _training_step(layer, shadows, x, label):
    """One training call of the student's layer and of the torch layers; compare everything."""
    reference = shadows.reference
    gamma, beta = reference.weight.detach().numpy(), reference.bias.detach().numpy()
    before_mean = reference.running_mean.numpy().copy()
    before_var = reference.running_var.numpy().copy()
    expected = shadows.train_step(x)
    y = call_student(layer, (x,), name=label, forbidden=LIBRARY_NORMS)
    call = describe_call(label, (x,), {})

    def with_running(mean, var):
        return F.batch_norm(_tensor(x), _tensor(mean), _tensor(var), _tensor(gamma),
                            _tensor(beta), training=False, eps=reference.eps).numpy()

    _assert_close_lazily(y, expected, what=f"{call} in training mode", likely=lambda: [
        ("the layer normalizes with its running statistics in training mode: use the batch's "
         "mean and (biased) variance, and only update the running averages",
         with_running(reference.running_mean.numpy(), reference.running_var.numpy())),
        ("the layer normalizes with its old running statistics in training mode: use the "
         "batch's mean and (biased) variance", with_running(before_mean, before_var)),
    ] + _mistakes_batch_norm(x, gamma, beta, reference.eps))
    after = f"after {call} (momentum={reference.momentum})"
    assert_close(_attribute(layer, "running_mean"), reference.running_mean.numpy(),
                 what=f"running_mean {after}", likely=[
                     (MOMENTUM_FLIPPED, shadows.flipped.running_mean.numpy()),
                     ("running_mean is not updated in training mode", before_mean)])
    assert_close(_attribute(layer, "running_var"), reference.running_var.numpy(),
                 what=f"running_var {after}", likely=[
                     ("running_var is updated with the biased batch variance: PyTorch keeps the "
                      "UNBIASED one, var * M / (M - 1) with M = N*H*W",
                      shadows.biased.running_var.numpy()),
                     (MOMENTUM_FLIPPED, shadows.flipped.running_var.numpy()),
                     ("running_var is not updated in training mode", before_var)])


def _eval_step(layer, reference, x, label):
    """One eval-mode call: compare the output; the running statistics must not change."""
    running = [np.array(_attribute(layer, name), copy=True)
               for name in ("running_mean", "running_var")]
    expected = _run(reference, x)
    y = call_student(layer, (x,), name=label, forbidden=LIBRARY_NORMS)
    def likely():
        if x.shape[0] * x.shape[2] * x.shape[3] == 1:
            return []
        return [("eval mode still normalizes with the batch statistics: use running_mean and "
                 "running_var", oracle_batch_norm(x, reference.weight.detach().numpy(),
                                                  reference.bias.detach().numpy(), reference.eps))]

    call = describe_call(label, (x,), {})
    _assert_close_lazily(y, expected, what=f"{call} in eval mode", likely=likely)
    for name, before in zip(("running_mean", "running_var"), running):
        if difference(_attribute(layer, name), before, rtol=0, atol=0, check_dtype=False) is not None:
            raise CheckFailure(f"{call} in eval mode changed {name}: in eval mode the layer only "
                               "reads its running statistics, it never updates them")


def _random_layer_settings(rng):
    return int(rng.integers(1, 5)), float(EPSILONS[int(rng.integers(len(EPSILONS)))])


@_one_thread
def check_batchnorm2d_training(cls, seed=761, momenta=(0.1, 0.3, 0.9, 1.0, 0.0), n_steps=4,
                               name="BatchNorm2d"):
    """Training mode: outputs, running_mean and running_var equal torch.nn.BatchNorm2d's step
    after step, for each momentum (batch and image sizes change between steps)."""
    rng = _rng(seed)
    for momentum in momenta:
        channels, eps = _random_layer_settings(rng)
        layer, label, gamma, beta = _new_layer(cls, channels, eps, momentum, name, rng)
        shadows = _Shadows(channels, eps, momentum, gamma, beta)
        for _ in range(n_steps):
            n, _, h, w = _shape(rng)
            _training_step(layer, shadows, random_batch(rng, n, channels, h, w), label)


@_one_thread
def check_batchnorm2d_eval(cls, seed=771, momenta=(0.1, 0.5, 0.9), n_steps=3, name="BatchNorm2d"):
    """Eval mode equals torch.nn.BatchNorm2d's, with given running statistics and after training
    steps; eval never updates the statistics; train() switches back to batch statistics."""
    rng = _rng(seed)
    for momentum in momenta:
        channels, eps = _random_layer_settings(rng)
        layer, label, gamma, beta = _new_layer(cls, channels, eps, momentum, name, rng)
        reference = _Shadows(channels, eps, momentum, gamma, beta).reference
        mean, var = rng.normal(size=channels), rng.uniform(0.2, 3.0, size=channels)
        layer.running_mean, layer.running_var = mean.copy(), var.copy()
        reference.running_mean.copy_(_tensor(mean))
        reference.running_var.copy_(_tensor(var))
        _set_mode(layer, False)
        reference.eval()
        for n, h, w in ((3, 2, 2), (1, 1, 1), (2, 3, 1)):
            _eval_step(layer, reference, random_batch(rng, n, channels, h, w),
                       label + " with running_mean and running_var set")

        layer, label, gamma, beta = _new_layer(cls, channels, eps, momentum, name, rng)
        shadows = _Shadows(channels, eps, momentum, gamma, beta)
        for _ in range(n_steps):
            n, _, h, w = _shape(rng)
            _training_step(layer, shadows, random_batch(rng, n, channels, h, w), label)
        _set_mode(layer, False)
        shadows.reference.eval()
        for n, h, w in ((4, 2, 3), (1, 1, 1)):
            _eval_step(layer, shadows.reference, random_batch(rng, n, channels, h, w),
                       label + f" after {n_steps} training steps")
        _set_mode(layer, True)
        for module in (shadows.reference, shadows.flipped, shadows.biased):
            module.train()
        _training_step(layer, shadows, random_batch(rng, 2, channels, 3, 2),
                       label + " after eval() then train()")


# ----------------------------------------------------------------------------- bad input

@_one_thread
def check_rejects_bad_input(batch_norm, BatchNorm2d, layer_norm, instance_norm, group_norm,
                            pixel_norm, batch_norm_backward):
    """Every function raises ValueError/TypeError for impossible shapes and parameters."""
    rng = _rng(9)
    x = rng.normal(size=(2, 6, 3, 3))
    ones, zeros = np.ones(6), np.zeros(6)
    single = rng.normal(size=(1, 6, 1, 1))
    bad = [
        (batch_norm, (x[0], ones, zeros), {}, ValueError, "x must be 4-D (N, C, H, W)"),
        (batch_norm, (x, np.ones(5), zeros), {}, ValueError, "gamma must have shape (C,) = (6,)"),
        (batch_norm, (x, ones, np.zeros((6, 1))), {}, ValueError, "beta must have shape (6,)"),
        (batch_norm, (x, ones, zeros), {"eps": -1.0}, ValueError, "eps cannot be negative"),
        (batch_norm, (single, ones, zeros), {}, ValueError,
         "with N*H*W = 1 each channel has a single value (as torch: 'Expected more than 1 value "
         "per channel when training')"),
        (BatchNorm2d, (0,), {}, ValueError, "num_features must be at least 1"),
        (BatchNorm2d, (2.5,), {}, TypeError, "num_features must be an integer"),
        (BatchNorm2d, (6,), {"momentum": 1.5}, ValueError, "momentum must lie in [0, 1]"),
        (BatchNorm2d, (6,), {"eps": -1.0}, ValueError, "eps cannot be negative"),
        (layer_norm, (x, ones, zeros), {}, ValueError,
         "gamma and beta of layer_norm have shape (C, H, W) = (6, 3, 3)"),
        (layer_norm, (x[0, 0], np.ones((3,)), np.zeros((3,))), {}, ValueError,
         "x must be 4-D (N, C, H, W)"),
        (instance_norm, (x[0],), {}, ValueError, "x must be 4-D (N, C, H, W)"),
        (instance_norm, (single,), {}, ValueError,
         "with H*W = 1 each channel of a sample has a single value (as torch: 'Expected more "
         "than 1 spatial element when training')"),
        (group_norm, (x, 4, ones, zeros), {}, ValueError, "4 groups do not divide 6 channels"),
        (group_norm, (x, 0, ones, zeros), {}, ValueError, "num_groups must be at least 1"),
        (group_norm, (x, 12, ones, zeros), {}, ValueError, "12 groups do not divide 6 channels"),
        (group_norm, (x, 1.5, ones, zeros), {}, TypeError, "num_groups must be an integer"),
        (group_norm, (x, 3, np.ones(3), np.zeros(3)), {}, ValueError,
         "gamma and beta of group_norm have shape (C,) = (6,)"),
        (pixel_norm, (x[0],), {}, ValueError, "x must be 4-D (N, C, H, W)"),
        (pixel_norm, (x,), {"eps": -1.0}, ValueError, "eps cannot be negative"),
        (batch_norm_backward, (x[:, :3], x, ones, 1e-5), {}, ValueError,
         "grad_out must have the shape of x"),
        (batch_norm_backward, (x, x, np.ones(3), 1e-5), {}, ValueError,
         "gamma must have shape (C,) = (6,)"),
    ]
    for fn, args, kwargs, exception, reason in bad:
        check_raises(fn, args, kwargs, exception=exception, reason=reason,
                     name=getattr(fn, "__name__", "the function"))
    layer = call_student(BatchNorm2d, (6,), name="BatchNorm2d")
    for args, reason in [((x[:, :4],), "the layer has 6 channels, x has 4"),
                         ((x[0],), "x must be 4-D (N, C, H, W)"),
                         ((single,), "in training mode N*H*W = 1 leaves one value per channel")]:
        check_raises(layer, args, reason=reason, name="BatchNorm2d(6)")


# ----------------------------------------------------------------------------- probes

AXES = "NCHW"


@_one_thread
def probe_shared(fn, x, index, delta=1.0):
    """Which outputs of ``fn(x)`` change when the single input ``x[index]`` changes by ``delta``.

    fn: a function of one NCHW array; x: (N, C, H, W); index: a 4-tuple. Returns a boolean array
    (N, C, H, W): the elements that share statistics with ``x[index]`` (and itself).
    """
    base = np.asarray(fn(x))
    bumped = np.array(x, dtype=np.float64, copy=True)
    bumped[index] += delta
    change = np.abs(np.asarray(fn(bumped)) - base)
    return change > 1e-12 * (1.0 + np.abs(base))


def describe_shared(mask, index):
    """The axes along which ``mask`` extends from ``index``, e.g. ``"N, H, W"``.

    An axis the set covers only in part (GroupNorm's channels) reads ``"C (3 of 6)"``; no axis at
    all reads ``"none"``.
    """
    parts = []
    for axis, letter in enumerate(AXES):
        others = tuple(slice(None) if a == axis else i for a, i in enumerate(index))
        covered = int(np.count_nonzero(mask[others]))
        if covered == mask.shape[axis] and covered > 1:
            parts.append(letter)
        elif covered > 1:
            parts.append(f"{letter} ({covered} of {mask.shape[axis]})")
    return ", ".join(parts) or "none"


@_one_thread
def probe_batch_dependence(fn, x, seed=0):
    """True if the output of sample 0 changes when only the other samples of the batch change."""
    other = np.array(x, dtype=np.float64, copy=True)
    other[1:] = random_batch(_rng(seed), x.shape[0] - 1, *x.shape[1:])
    first, second = np.asarray(fn(x))[0], np.asarray(fn(other))[0]
    return bool(np.any(np.abs(first - second) > 1e-12 * (1.0 + np.abs(first))))
