"""Checks of notebook 07 (normalization layers), the part students receive.

The expected answers are PyTorch's (:func:`torch_answer`): ``torch.nn.functional.batch_norm``
(training mode), ``layer_norm``, ``instance_norm``, ``group_norm``, autograd through
``batch_norm`` for the backward pass, and the module ``torch.nn.BatchNorm2d`` (running
statistics, train and eval mode) beside the student's layer. The wrong answers named here are
PyTorch's on altered arguments or statistics (the unbiased variance, other axes, swapped
parameters); the hand-written normalization formulas that build the others, and the check of
``pixel_norm`` against the StyleGAN formula, live with the grader
(``autograder.grader.checks.normalization``), which passes them in. Here, PixelNorm is checked
through the invariants that define it. Randomised checks draw with ``checking.make_rng(seed)``:
hidden tests pass no seed. Every ``check_*`` function raises ``CheckFailure`` with a readable
message, or returns ``None``. The ``probe_*`` helpers find out empirically what a normalization
function shares between elements; the notebook builds its summary table with them.

The student's ``BatchNorm2d`` is only constructed, called, switched with ``train()``/``eval()``
(or its ``training`` flag) and read or given its ``gamma``, ``beta``, ``running_mean`` and
``running_var`` as arrays: under grading it is a handle on an object in the student's kernel.
"""

import numpy as np
import torch
import torch.nn.functional as F

from autograder.checking import (
    Case, CheckFailure, assert_close, call_student, check_against_oracle, check_raises,
    describe_call, describe_type, difference, make_rng,
)
from autograder.threads import one_thread

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
BN_LAYER = ("the statistics are taken per sample over (C, H, W) (that is layer norm): batch norm "
            "averages each channel over (N, H, W), x.mean(axis=(0, 2, 3))")
BN_INSTANCE = ("the statistics are taken per sample and channel over (H, W) (that is instance "
               "norm): batch norm averages each channel over (N, H, W)")
BN_OVER_N = ("the statistics are taken over the batch axis N only: batch norm averages each "
             "channel over (N, H, W)")
LN_INSTANCE = ("the statistics are taken over (H, W) for each channel (that is instance norm): "
               "layer norm normalizes each sample over (C, H, W) together")
LN_BATCH = ("the statistics are taken over (N, H, W) per channel (that is batch norm): layer norm "
            "normalizes each sample over (C, H, W), x.mean(axis=(1, 2, 3))")
LN_WHOLE_BATCH = ("the statistics are taken over the whole batch (N, C, H, W): layer norm "
                  "normalizes each sample on its own, over (C, H, W)")
IN_LAYER = ("the statistics are taken per sample over (C, H, W) (that is layer norm): instance "
            "norm normalizes each channel of each sample over (H, W), x.mean(axis=(2, 3))")
IN_BATCH = ("the statistics are taken per channel over (N, H, W) (that is batch norm): instance "
            "norm normalizes each sample separately, over (H, W)")
GN_INTERLEAVED = ("the groups are interleaved (channel c in group c % G): GroupNorm's groups are "
                  "contiguous, channels [0, C/G) form group 0, and so on "
                  "(x.reshape(N, G, C // G, H, W))")
GN_PER_POSITION = ("each position is normalized over the channels of its group alone: a group's "
                   "statistics are over its C / G channels AND all H * W positions")
GN_SIZE = ("num_groups is read as the size of a group: there are num_groups groups of C / "
           "num_groups channels each")
GN_ONE_GROUP = "num_groups is ignored: the whole sample is one group (layer norm)"
GN_EVERY_CHANNEL = ("every channel is its own group (instance norm): a group holds C / G "
                    "contiguous channels")
MOMENTUM_FLIPPED = (
    "momentum weighs the old value: PyTorch's running = (1 - momentum) * running + momentum * "
    "batch statistic"
)
DGAMMA_OF_X = ("dgamma multiplies grad_out by x: it is the sum of grad_out * x_hat, the "
               "normalized input")
DGAMMA_UNBIASED = ("x_hat is computed with the unbiased variance (divided by M - 1): the forward "
                   "pass uses the biased one, divided by M = N*H*W")
DBETA_AVERAGED = "dbeta is averaged: it is the SUM of grad_out over N, H, W"
DX_WITHOUT_GAMMA = "gamma is missing from dx: dL/dx_hat = grad_out * gamma"
PIXEL_PER_CHANNEL = ("each channel is scaled by its own number over (H, W): PixelNorm divides "
                     "each pixel's vector of C channels by one number, the root of its mean square")
PIXEL_CENTRED = ("the output is proportional to x minus its mean over C: PixelNorm does not "
                 "centre, it only divides x by the root of the mean over C of x**2")
PIXEL_EPS_OUTSIDE = ("eps is added to the root: it belongs under the square root, "
                     "x / sqrt(mean(x**2) + eps)")


def _tensor(array):
    if isinstance(array, torch.Tensor):
        return array.detach().to(torch.float64, copy=True)
    return torch.from_numpy(np.array(array, dtype=np.float64))


def _per_channel(values):
    """(C,) -> (1, C, 1, 1) tensor, to scale and shift an NCHW batch channel by channel."""
    return _tensor(values).reshape(1, -1, 1, 1)


def affine(y, gamma, beta):
    """``gamma[c] * y + beta[c]`` for a tensor ``y`` (N, C, H, W); returns a numpy array."""
    return (y * _per_channel(gamma) + _per_channel(beta)).numpy()


def _assert_close_lazily(actual, expected, *, what, likely):
    """``assert_close`` that computes the known wrong answers (``likely()``) only on failure."""
    if difference(actual, expected, check_dtype=False) is not None:
        assert_close(actual, expected, what=what, likely=likely())


# ----------------------------------------------------------------------------- PyTorch's answers

def _batch_norm_backward(grad_out, x, gamma, eps):
    with torch.enable_grad():
        x_t = _tensor(x).requires_grad_()
        gamma_t = _tensor(gamma).requires_grad_()
        beta_t = torch.zeros_like(gamma_t, requires_grad=True)
        y = F.batch_norm(x_t, None, None, gamma_t, beta_t, training=True, eps=eps)
        grads = torch.autograd.grad(y, (x_t, gamma_t, beta_t), _tensor(grad_out))
    return tuple(g.numpy() for g in grads)


def torch_answer(function, *args, **kwargs):
    """What PyTorch computes for the graded ``function`` (its name) called with ``args``.

    batch_norm (x, gamma, beta, eps=1e-5) in training mode; layer_norm (x, gamma, beta,
    eps=1e-5) over (C, H, W); instance_norm (x, eps=1e-5); group_norm (x, num_groups, gamma,
    beta, eps=1e-5); batch_norm_backward (grad_out, x, gamma, eps) by autograd through
    ``F.batch_norm``. NumPy float64 arrays in and out.
    """
    if not isinstance(function, str):
        raise LookupError("torch_answer's first argument names a graded function")
    if function == "batch_norm_backward":
        return _batch_norm_backward(*args, **kwargs)
    names = {"batch_norm": ("x", "gamma", "beta", "eps"), "layer_norm": ("x", "gamma", "beta", "eps"),
             "instance_norm": ("x", "eps"), "group_norm": ("x", "num_groups", "gamma", "beta", "eps")}
    if function not in names:
        raise LookupError(f"no PyTorch answer for {function!r}")
    given = dict(zip(names[function], args), **kwargs)
    x, eps = _tensor(given["x"]), given.get("eps", 1e-5)
    if function == "batch_norm":
        y = F.batch_norm(x, None, None, _tensor(given["gamma"]), _tensor(given["beta"]),
                         training=True, eps=eps)
    elif function == "layer_norm":
        y = F.layer_norm(x, tuple(x.shape[1:]), _tensor(given["gamma"]), _tensor(given["beta"]), eps)
    elif function == "instance_norm":
        y = F.instance_norm(x, eps=eps)
    else:
        y = F.group_norm(x, given["num_groups"], _tensor(given["gamma"]), _tensor(given["beta"]), eps)
    return y.numpy()


def _oracle(function):
    return lambda *args, **kwargs: torch_answer(function, *args, **kwargs)


def batch_norm_with(x, eps, correction=0):
    """Batch norm (no affine) by ``F.batch_norm`` in eval mode, given the batch's own mean and
    variance with ``correction`` (1: the unbiased variance); unlike training mode, it takes
    eps = 0. Returns a tensor."""
    t = _tensor(x)
    return F.batch_norm(t, t.mean(dim=(0, 2, 3)), t.var(dim=(0, 2, 3), correction=correction),
                        training=False, eps=eps)


# ----------------------------------------------------------------------------- likely mistakes

def _over_n_only(x, eps):
    """Each (c, h, w) position normalized over the batch alone (tensor)."""
    n = x.shape[0]
    return F.batch_norm(_tensor(x).reshape(n, -1), None, None, training=True,
                        eps=eps).reshape(x.shape)


def mistakes_batch_norm(x, gamma, beta, eps=1e-5):
    """Known wrong answers of ``batch_norm``, from PyTorch's normalizations."""
    n, _, h, w = x.shape
    found = [
        (BN_LAYER, affine(F.layer_norm(_tensor(x), x.shape[1:], eps=eps), gamma, beta)),
        (SWAPPED, torch_answer("batch_norm", x, beta, gamma, eps)),
        (NO_AFFINE, torch_answer("batch_norm", x, np.ones_like(gamma), np.zeros_like(beta), eps)),
        (UNBIASED.replace("M", "N*H*W"), affine(batch_norm_with(x, eps, correction=1), gamma, beta)),
    ]
    if eps > 0:
        found.append((EPS_IGNORED, affine(batch_norm_with(x, 0.0), gamma, beta)))
    if h * w > 1:
        found.append((BN_INSTANCE, affine(F.instance_norm(_tensor(x), eps=eps), gamma, beta)))
    if n > 1:
        found.append((BN_OVER_N, affine(_over_n_only(x, eps), gamma, beta)))
    return found


def mistakes_layer_norm(x, gamma, beta, eps=1e-5):
    """Known wrong answers of ``layer_norm``, from PyTorch's normalizations."""
    g, b = _tensor(gamma), _tensor(beta)
    found = [(SWAPPED, torch_answer("layer_norm", x, beta, gamma, eps))]
    if x.shape[0] * x.shape[2] * x.shape[3] > 1:
        found.append((LN_BATCH, (F.batch_norm(_tensor(x), None, None, training=True,
                                              eps=eps) * g + b).numpy()))
    if x.shape[0] > 1:
        found.append((LN_WHOLE_BATCH, (F.layer_norm(_tensor(x), x.shape, eps=eps) * g + b).numpy()))
    if x.shape[2] * x.shape[3] > 1:
        found.append((LN_INSTANCE, (F.instance_norm(_tensor(x), eps=eps) * g + b).numpy()))
    return found


def mistakes_instance_norm(x, eps=1e-5):
    """Known wrong answers of ``instance_norm``, from PyTorch's normalizations."""
    found = [(IN_LAYER, F.layer_norm(_tensor(x), x.shape[1:], eps=eps).numpy())]
    if x.shape[0] * x.shape[2] * x.shape[3] > 1:
        found.append((IN_BATCH, F.batch_norm(_tensor(x), None, None, training=True,
                                             eps=eps).numpy()))
    if eps > 0:
        found.append((EPS_IGNORED, torch_answer("instance_norm", x, 0.0)))
    return found


def interleaved_channels(channels, num_groups):
    """The channel order that makes interleaved groups (c % num_groups) contiguous."""
    return np.concatenate([np.arange(k, channels, num_groups) for k in range(num_groups)])


def _per_position_in_groups(x, num_groups, eps):
    """Each (sample, group, position) normalized over the group's channels (a tensor)."""
    n, c, h, w = x.shape
    grouped = _tensor(x).reshape(n, num_groups, c // num_groups, h * w).transpose(2, 3)
    return F.layer_norm(grouped, (c // num_groups,), eps=eps).transpose(2, 3).reshape(x.shape)


def mistakes_group_norm(x, num_groups, gamma, beta, eps=1e-5):
    """Known wrong answers of ``group_norm``, from PyTorch's normalizations."""
    n, c, h, w = x.shape
    found = []
    if 1 < num_groups < c:
        order = interleaved_channels(c, num_groups)
        permuted = F.group_norm(_tensor(x[:, order]), num_groups, eps=eps).numpy()[:, np.argsort(order)]
        found.append((GN_INTERLEAVED, affine(_tensor(permuted), gamma, beta)))
    if c // num_groups > 1 and h * w > 1:
        found.append((GN_PER_POSITION, affine(_per_position_in_groups(x, num_groups, eps), gamma, beta)))
    found.append((SWAPPED, torch_answer("group_norm", x, num_groups, beta, gamma, eps)))
    for description, groups in ((GN_SIZE, c // num_groups), (GN_ONE_GROUP, 1),
                                (GN_EVERY_CHANNEL, c)):
        if groups != num_groups and n * (c // groups) * h * w > 1:  # PyTorch's condition
            found.append((description, torch_answer("group_norm", x, groups, gamma, beta, eps)))
    return found


def mistakes_batch_norm_backward(grad_out, x, gamma, eps):
    """Known wrong ``{"dx": ..., "dgamma": ..., "dbeta": ...}`` of ``batch_norm_backward``."""
    axes = (0, 2, 3)
    return {
        "dx": [(DX_WITHOUT_GAMMA, torch_answer("batch_norm_backward", grad_out, x,
                                               np.ones_like(gamma), eps)[0])],
        "dgamma": [(DGAMMA_OF_X, np.sum(grad_out * x, axis=axes)),
                   (DGAMMA_UNBIASED, np.sum(grad_out * batch_norm_with(x, eps, correction=1).numpy(),
                                            axis=axes))],
        "dbeta": [(DBETA_AVERAGED, np.mean(grad_out, axis=axes))],
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


def cases_batch_norm(seed=None, n_cases=20):
    """Random ``batch_norm`` cases: N, C, H, W from 1 to 5 (N*H*W >= 2), several eps."""
    rng = make_rng(seed)
    fixed = [(1, 3, 2, 3), (4, 2, 1, 1), (2, 1, 4, 4)]
    cases = []
    for i in range(n_cases):
        n, c, h, w = fixed[i] if i < len(fixed) else _shape(rng)
        cases.append(Case((random_batch(rng, n, c, h, w), rng.normal(size=c),
                           rng.normal(size=c)), _eps_kwargs(rng, i)))
    return cases


def cases_layer_norm(seed=None, n_cases=20):
    """Random ``layer_norm`` cases, gamma and beta of shape (C, H, W)."""
    rng = make_rng(seed)
    cases = []
    for i in range(n_cases):
        n, c, h, w = {0: (2, 3, 2, 2), 5: (1, 3, 1, 1)}.get(i) or _shape(rng, batch_values=False)
        cases.append(Case((random_batch(rng, n, c, h, w), rng.normal(size=(c, h, w)),
                           rng.normal(size=(c, h, w))), _eps_kwargs(rng, i)))
    return cases


def cases_instance_norm(seed=None, n_cases=20):
    """Random ``instance_norm`` cases with H*W >= 2."""
    rng = make_rng(seed)
    cases = []
    for i in range(n_cases):
        n, c, h, w = (2, 3, 1, 2) if i == 0 else _shape(rng, spatial_values=True)
        cases.append(Case((random_batch(rng, n, c, h, w),), _eps_kwargs(rng, i)))
    return cases


def cases_group_norm(seed=None, n_cases=20):
    """Random ``group_norm`` cases: C up to 12, every divisor of C as a number of groups.

    No case has groups of a single value (N = 1, C / G = 1, H = W = 1), which PyTorch refuses
    ("Expected more than 1 value per channel").
    """
    rng = make_rng(seed)
    cases = []
    for i in range(n_cases):
        n = int(rng.integers(1, 4))
        c = int(rng.choice([2, 4, 6, 8, 9, 12])) if i else 6
        divisors = [g for g in range(1, c + 1) if c % g == 0]
        groups = int(rng.choice(divisors)) if i else 3
        h, w = (int(v) for v in rng.integers(1, 5, size=2))
        while n * (c // groups) * h * w < 2:
            h, w = (int(v) for v in rng.integers(1, 5, size=2))
        cases.append(Case((random_batch(rng, n, c, h, w), groups, rng.normal(size=c),
                           rng.normal(size=c)), _eps_kwargs(rng, i)))
    return cases


def cases_pixel_norm(seed=None, n_cases=20):
    """Random ``pixel_norm`` cases; some pixels have tiny vectors, where eps matters. The first
    case has several channels and positions, so that a wrong answer shows what it got wrong."""
    rng = make_rng(seed)
    cases = []
    for i in range(n_cases):
        n, c, h, w = (2, 3, 2, 2) if i == 0 else (int(v) for v in rng.integers(1, 5, size=4))
        c = max(c, 2) if i % 5 else c
        x = random_batch(rng, n, c, h, w)
        x[..., 0, 0] *= 1e-3  # one small pixel per sample
        eps = [1e-8, 1e-8, 1e-4, 0.5, 2.0][i % 5]
        cases.append(Case((x,), {} if i % 5 == 0 else {"eps": eps}))
    return cases


def cases_batch_norm_backward(seed=None, n_cases=20):
    """Random ``(grad_out, x, gamma, eps)`` cases with N*H*W >= 2."""
    rng = make_rng(seed)
    cases = []
    for i in range(n_cases):
        n, c, h, w = (2, 3, 2, 2) if i == 0 else _shape(rng)
        eps = float(EPSILONS[i % len(EPSILONS)])
        cases.append(Case((rng.normal(size=(n, c, h, w)), random_batch(rng, n, c, h, w),
                           rng.normal(size=c), eps)))
    return cases


# ----------------------------------------------------------------------------- checks

@one_thread()
def check_batch_norm(fn, seed=None, n_cases=20, name="batch_norm",
                     likely_mistakes=mistakes_batch_norm):
    """``batch_norm`` equals PyTorch's training-mode batch norm, from scratch."""
    check_against_oracle(fn, _oracle("batch_norm"), cases_batch_norm(seed, n_cases), name=name,
                         forbidden=LIBRARY_NORMS, likely_mistakes=likely_mistakes)


@one_thread()
def check_layer_norm(fn, seed=None, n_cases=20, name="layer_norm",
                     likely_mistakes=mistakes_layer_norm):
    """``layer_norm`` equals ``F.layer_norm`` over (C, H, W), from scratch."""
    check_against_oracle(fn, _oracle("layer_norm"), cases_layer_norm(seed, n_cases), name=name,
                         forbidden=LIBRARY_NORMS, likely_mistakes=likely_mistakes)


@one_thread()
def check_instance_norm(fn, seed=None, n_cases=20, name="instance_norm",
                        likely_mistakes=mistakes_instance_norm):
    """``instance_norm`` equals ``F.instance_norm`` (no affine), from scratch."""
    check_against_oracle(fn, _oracle("instance_norm"), cases_instance_norm(seed, n_cases),
                         name=name, forbidden=LIBRARY_NORMS, likely_mistakes=likely_mistakes)


@one_thread()
def check_group_norm(fn, seed=None, n_cases=20, name="group_norm",
                     likely_mistakes=mistakes_group_norm):
    """``group_norm`` equals ``F.group_norm`` for every divisor of C, from scratch."""
    check_against_oracle(fn, _oracle("group_norm"), cases_group_norm(seed, n_cases), name=name,
                         forbidden=LIBRARY_NORMS, likely_mistakes=likely_mistakes)


@one_thread()
def check_group_norm_limits(fn, seed=None, n_cases=8, name="group_norm"):
    """One group is layer norm over (C, H, W); C groups is instance norm (with gamma, beta)."""
    rng = make_rng(seed)
    for i in range(n_cases):
        n, c, h, w = _shape(rng, spatial_values=True)
        c = max(c, 2)
        x = random_batch(rng, n, c, h, w)
        gamma, beta = rng.normal(size=c), rng.normal(size=c)
        eps = float(EPSILONS[i % len(EPSILONS)])
        one = call_student(fn, (x, 1, gamma, beta, eps), name=name, forbidden=LIBRARY_NORMS)
        layer = F.layer_norm(_tensor(x), (c, h, w), eps=eps)
        assert_close(one, affine(layer, gamma, beta), what=describe_call(name, (x, 1, gamma, beta, eps), {})
                     + " (one group: layer norm over (C, H, W), then gamma and beta per channel)",
                     likely=[("with one group every channel was normalized alone (instance norm)",
                              affine(F.instance_norm(_tensor(x), eps=eps), gamma, beta))])
        every = call_student(fn, (x, c, gamma, beta, eps), name=name, forbidden=LIBRARY_NORMS)
        instance = F.instance_norm(_tensor(x), weight=_tensor(gamma), bias=_tensor(beta), eps=eps)
        assert_close(every, instance.numpy(), what=describe_call(name, (x, c, gamma, beta, eps), {})
                     + f" ({c} groups of one channel: instance norm)",
                     likely=[("with C groups the whole sample was one group (layer norm): each "
                              "group must hold C / num_groups channels", affine(layer, gamma, beta))])


def _scales_like(y, vectors, axis):
    """Whether ``y`` is ``vectors`` times one number per slice along the other axes."""
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.sum(y * vectors, axis=axis, keepdims=True) / np.sum(vectors ** 2, axis=axis,
                                                                        keepdims=True)
    return bool(np.all(np.isfinite(scale))) and difference(y, scale * vectors,
                                                           check_dtype=False) is None


def _not_per_pixel_cause(x, y):
    """The likely cause when ``y`` is not one positive multiple of ``x`` at every pixel."""
    if x.shape[2] * x.shape[3] > 1 and _scales_like(y, x, (2, 3)):
        return f".\nLikely cause: {PIXEL_PER_CHANNEL}"
    if x.shape[1] > 1 and _scales_like(y, x - x.mean(axis=1, keepdims=True), 1):
        return f".\nLikely cause: {PIXEL_CENTRED}"
    return ""


@one_thread()
def check_pixel_norm_invariants(fn, seed=None, n_cases=12, name="pixel_norm"):
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
                + (difference(y, scale * x, check_dtype=False) or "some scalars are not positive")
                + _not_per_pixel_cause(x, y))
        mean_square = np.mean(x ** 2, axis=1)
        likely = [("this is 1 at every pixel: eps is left out", np.ones_like(mean_square)),
                  ("this is the mean over C of y**2 times C: divide by the mean over C, not the sum",
                   mean_square / (mean_square + eps / x.shape[1]) / x.shape[1]),
                  (PIXEL_EPS_OUTSIDE, mean_square / (np.sqrt(mean_square) + eps) ** 2)]
        assert_close(np.mean(y ** 2, axis=1), mean_square / (mean_square + eps), likely=likely,
                     what=f"{call}: the mean over C of the output's squares (expected "
                          "ms / (ms + eps), ms = mean over C of x**2)")


@one_thread()
def check_batch_norm_backward(fn, seed=None, n_cases=20, name="batch_norm_backward",
                              likely_mistakes=mistakes_batch_norm_backward):
    """``(dx, dgamma, dbeta)`` equal autograd through PyTorch's batch norm, without autograd.

    dbeta is compared first, then dgamma, then dx. ``likely_mistakes(grad_out, x, gamma, eps)``
    returns ``{"dx": [...], "dgamma": [...], "dbeta": [...]}`` of known wrong answers.
    """
    for case in cases_batch_norm_backward(seed, n_cases):
        call = describe_call(name, case.args, {})
        result = call_student(fn, case.args, name=name,
                              forbidden=LIBRARY_NORMS + LIBRARY_AUTOGRAD)
        if not isinstance(result, (tuple, list)) or len(result) != 3:
            raise CheckFailure(f"{call} returned {describe_type(result)}; return a tuple "
                               "(dx, dgamma, dbeta)")
        expected = dict(zip(("dx", "dgamma", "dbeta"), torch_answer("batch_norm_backward", *case.args)))
        got = dict(zip(("dx", "dgamma", "dbeta"), result))
        for label in ("dbeta", "dgamma", "dx"):
            _assert_close_lazily(got[label], expected[label], what=f"{label} of {call}",
                                 likely=lambda: likely_mistakes(*case.args)[label])


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
        likely = [(f"{attribute} starts at {1 - value:g}: torch.nn.BatchNorm2d starts it at "
                   f"{value:g}", np.full(channels, 1 - value))]
        assert_close(_attribute(layer, attribute), np.full(channels, value), likely=likely,
                     what=f"{label}.{attribute} after construction (as torch.nn.BatchNorm2d)")
    gamma, beta = rng.normal(size=channels), rng.normal(size=channels)
    layer.gamma, layer.beta = gamma.copy(), beta.copy()
    return layer, label, gamma, beta


def _training_step(layer, shadows, x, label, likely_mistakes):
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
    ] + likely_mistakes(x, gamma, beta, reference.eps))
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
                 "running_var", torch_answer("batch_norm", x, reference.weight.detach().numpy(),
                                             reference.bias.detach().numpy(), reference.eps))]

    call = describe_call(label, (x,), {})
    _assert_close_lazily(y, expected, what=f"{call} in eval mode", likely=likely)
    for name, before in zip(("running_mean", "running_var"), running):
        if difference(_attribute(layer, name), before, rtol=0, atol=0, check_dtype=False) is not None:
            raise CheckFailure(f"{call} in eval mode changed {name}: in eval mode the layer only "
                               "reads its running statistics, it never updates them")


def _random_layer_settings(rng):
    return int(rng.integers(1, 5)), float(EPSILONS[int(rng.integers(len(EPSILONS)))])


@one_thread()
def check_batchnorm2d_training(cls, seed=None, momenta=(0.1, 0.3, 0.9, 1.0, 0.0), n_steps=4,
                               name="BatchNorm2d", likely_mistakes=mistakes_batch_norm):
    """Training mode: outputs, running_mean and running_var equal torch.nn.BatchNorm2d's step
    after step, for each momentum (batch and image sizes change between steps).

    ``likely_mistakes(x, gamma, beta, eps)``: known wrong outputs of a training step, as for
    ``batch_norm``.
    """
    rng = make_rng(seed)
    for momentum in momenta:
        channels, eps = _random_layer_settings(rng)
        layer, label, gamma, beta = _new_layer(cls, channels, eps, momentum, name, rng)
        shadows = _Shadows(channels, eps, momentum, gamma, beta)
        for _ in range(n_steps):
            n, _, h, w = _shape(rng)
            _training_step(layer, shadows, random_batch(rng, n, channels, h, w), label,
                           likely_mistakes)


@one_thread()
def check_batchnorm2d_eval(cls, seed=None, momenta=(0.1, 0.5, 0.9), n_steps=3, name="BatchNorm2d",
                           likely_mistakes=mistakes_batch_norm):
    """Eval mode equals torch.nn.BatchNorm2d's, with given running statistics and after training
    steps; eval never updates the statistics; train() switches back to batch statistics."""
    rng = make_rng(seed)
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
            _training_step(layer, shadows, random_batch(rng, n, channels, h, w), label,
                           likely_mistakes)
        _set_mode(layer, False)
        shadows.reference.eval()
        for n, h, w in ((4, 2, 3), (1, 1, 1)):
            _eval_step(layer, shadows.reference, random_batch(rng, n, channels, h, w),
                       label + f" after {n_steps} training steps")
        _set_mode(layer, True)
        for module in (shadows.reference, shadows.flipped, shadows.biased):
            module.train()
        _training_step(layer, shadows, random_batch(rng, 2, channels, 3, 2),
                       label + " after eval() then train()", likely_mistakes)


# ----------------------------------------------------------------------------- bad input

@one_thread()
def check_rejects_bad_input(batch_norm, BatchNorm2d, layer_norm, instance_norm, group_norm,
                            pixel_norm, batch_norm_backward):
    """Every function raises ValueError/TypeError for impossible shapes and parameters, and
    returns an array of the input's shape for a valid input (a function that raises on
    everything rejects nothing)."""
    rng = np.random.default_rng(9)
    x = rng.normal(size=(2, 6, 3, 3))
    ones, zeros = np.ones(6), np.zeros(6)
    single = rng.normal(size=(1, 6, 1, 1))
    layer = call_student(BatchNorm2d, (6,), name="BatchNorm2d")
    valid = [(batch_norm, "batch_norm", (x, ones, zeros)),
             (layer_norm, "layer_norm", (x, np.ones(x.shape[1:]), np.zeros(x.shape[1:]))),
             (instance_norm, "instance_norm", (x,)), (group_norm, "group_norm", (x, 3, ones, zeros)),
             (pixel_norm, "pixel_norm", (x,)), (batch_norm_backward, "batch_norm_backward", (x, x, ones, 1e-5)),
             (layer, "BatchNorm2d(6)", (x,))]
    for fn, name, args in valid:
        result = call_student(fn, args, name=name)
        if name == "batch_norm_backward" and isinstance(result, (tuple, list)) and len(result) == 3:
            result = result[0]  # dx
        if type(result) is not np.ndarray or result.shape != x.shape:
            raise CheckFailure(f"{describe_call(name, args, {})} returned {describe_type(result)} "
                               f"{getattr(result, 'shape', '')} for a valid input; expected an array "
                               f"of shape {x.shape}")
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


@one_thread()
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


@one_thread()
def probe_batch_dependence(fn, x, seed=0):
    """True if the output of sample 0 changes when only the other samples of the batch change."""
    other = np.array(x, dtype=np.float64, copy=True)
    other[1:] = random_batch(np.random.default_rng(seed), x.shape[0] - 1, *x.shape[1:])
    first, second = np.asarray(fn(x))[0], np.asarray(fn(other))[0]
    return bool(np.any(np.abs(first - second) > 1e-12 * (1.0 + np.abs(first))))
