"""Checks of notebook 09 (HMAX and transfer learning).

Oracles are independent of the notebook's solutions: scikit-image's ``gabor_kernel`` (odd sizes)
and the Gabor formula evaluated in PyTorch (every size); PyTorch's ``conv2d``, ``max_pool2d`` and
``unfold`` for the S1, C1 and S2 layers; the parameter names of ``named_parameters`` and the
module tree of ``named_modules`` for ``freeze`` and ``replace_head``. The hidden test cells add
brute-force loop oracles of S1/C1/S2/C2 (they are not shipped here), passed in as ``oracle``.
Every ``check_*`` function raises ``CheckFailure`` with a readable message, or returns ``None``.
"""
import copy
import math

import numpy as np
import skimage.filters
import torch
import torch.nn.functional as F
from torch import nn

from autograder.checking import (
    Case, CheckFailure, call_student, check_against_oracle, check_raises, difference,
)
from autograder.models import MnistCNN

LIBRARY_GABOR = (skimage.filters.gabor_kernel, skimage.filters.gabor)

THETA_IN_DEGREES = ("theta was converted from degrees: it is already in radians "
                    "(use np.cos(theta), not np.cos(np.deg2rad(theta)))")
X_Y_SWAPPED = ("x and y are swapped: x runs along the columns (axis 1) and y along the rows "
               "(axis 0, downwards)")
NO_ZERO_MEAN = "the mean is not removed: subtract the kernel's mean before dividing by its norm"
NO_UNIT_NORM = "the kernel is not divided by its norm: sqrt(sum of squares) must be 1"
GAMMA_ON_X = "gamma multiplies x' instead of y': the envelope is exp(-(x'^2 + gamma^2 y'^2) / (2 sigma^2))"


def _rng(seed):
    return np.random.default_rng(seed)


# ----------------------------------------------------------------------------- Gabor kernels

def gabor_formula_torch(size, wavelength, theta, sigma, gamma=0.5, phase=0.0, *, swap_xy=False,
                        gamma_on_x=False, rotation_sign=1.0, zero_mean=True, unit_norm=True,
                        sigma_is_variance=False, centre=None):
    """The Gabor kernel of the notebook's formula, evaluated in PyTorch (float64).

    The keyword switches build the known wrong variants used to name a likely mistake.
    Returns a float64 ndarray (size, size).
    """
    centre = (size - 1) / 2 if centre is None else centre
    rows, cols = torch.meshgrid(torch.arange(size, dtype=torch.float64) - centre,
                                torch.arange(size, dtype=torch.float64) - centre, indexing="ij")
    x, y = (rows, cols) if swap_xy else (cols, rows)
    c, s = math.cos(theta), rotation_sign * math.sin(theta)
    rotated = torch.stack([x.flatten(), y.flatten()]).T @ torch.tensor([[c, -s], [s, c]],
                                                                       dtype=torch.float64)
    xr, yr = rotated[:, 0].reshape(size, size), rotated[:, 1].reshape(size, size)
    a, b = (gamma * xr, yr) if gamma_on_x else (xr, gamma * yr)
    spread = 2 * sigma if sigma_is_variance else 2 * sigma ** 2
    g = torch.exp(-(a ** 2 + b ** 2) / spread) * torch.cos(2 * math.pi * xr / wavelength + phase)
    if zero_mean:
        g = g - g.mean()
    if unit_norm:
        g = g / torch.linalg.vector_norm(g)
    return g.numpy()


def oracle_gabor_kernel(size, wavelength, theta, sigma, gamma=0.5, phase=0.0):
    """The notebook's Gabor kernel: scikit-image's for odd sizes, the PyTorch formula for even.

    scikit-image uses the same grid (x along columns, y along rows, x' = x cos + y sin) with
    sigma_x = sigma, sigma_y = sigma / gamma, frequency = 1 / wavelength, offset = phase; its
    kernel is larger and centred, so the central size x size block is cut out, then the real
    part is made zero-mean and unit-norm.
    """
    if size % 2 == 0:
        return gabor_formula_torch(size, wavelength, theta, sigma, gamma, phase)
    sigma_x, sigma_y = sigma, sigma / gamma
    c, s = abs(math.cos(theta)), abs(math.sin(theta))
    reach = min(max(sigma_x * c, sigma_y * s), max(sigma_y * c, sigma_x * s))
    n_stds = (size + 1) / (2 * reach)  # both half-widths of the kernel reach (size - 1) / 2
    big = skimage.filters.gabor_kernel(1.0 / wavelength, theta=theta, sigma_x=sigma_x,
                                       sigma_y=sigma_y, n_stds=n_stds, offset=phase).real
    top, left = (big.shape[0] - size) // 2, (big.shape[1] - size) // 2
    g = big[top:top + size, left:left + size]
    g = g - g.mean()
    return g / np.sqrt(np.sum(g ** 2))


def _mistakes_gabor(size, wavelength, theta, sigma, gamma=0.5, phase=0.0):
    formula = gabor_formula_torch
    return [
        (THETA_IN_DEGREES, formula(size, wavelength, np.deg2rad(theta), sigma, gamma, phase)),
        (X_Y_SWAPPED, formula(size, wavelength, theta, sigma, gamma, phase, swap_xy=True)),
        ("the rotation turns the wrong way: x' = x cos(theta) + y sin(theta) with y pointing down "
         "the rows", formula(size, wavelength, theta, sigma, gamma, phase, rotation_sign=-1.0)),
        (NO_ZERO_MEAN, formula(size, wavelength, theta, sigma, gamma, phase, zero_mean=False)),
        (NO_UNIT_NORM, formula(size, wavelength, theta, sigma, gamma, phase, unit_norm=False)),
        (GAMMA_ON_X, formula(size, wavelength, theta, sigma, gamma, phase, gamma_on_x=True)),
        ("sigma is used as the variance: the exponent divides by 2 sigma^2",
         formula(size, wavelength, theta, sigma, gamma, phase, sigma_is_variance=True)),
        ("the wavelength is used as a frequency: the carrier is cos(2 pi x' / wavelength + phase)",
         formula(size, 1.0 / wavelength, theta, sigma, gamma, phase)),
        ("the phase is subtracted: the carrier is cos(2 pi x' / wavelength + phase)",
         formula(size, wavelength, theta, sigma, gamma, -phase)),
        ("the centre is at size // 2: it is (size - 1) / 2, between two pixels for even sizes",
         formula(size, wavelength, theta, sigma, gamma, phase, centre=size // 2)),
    ]


def gabor_cases(seed, n_cases=30):
    """Random Gabor parameters: sizes 2..21 (odd and even), any angle, phases, gammas."""
    rng = _rng(seed)
    cases = [Case((7, 4.0, 0.0, 2.0)), Case((8, 5.0, math.pi / 3, 2.5)),
             Case((9, 4.0, 1.0, 2.0), {"gamma": 1.0, "phase": math.pi / 2})]
    for _ in range(n_cases - len(cases)):
        args = (int(rng.integers(2, 22)), float(rng.uniform(2.0, 12.0)),
                float(rng.uniform(-math.pi, 2 * math.pi)), float(rng.uniform(0.8, 6.0)))
        kwargs = {"gamma": float(rng.uniform(0.2, 1.5)), "phase": float(rng.uniform(-math.pi, math.pi))}
        cases.append(Case(args, kwargs))
    return cases


def check_gabor_kernel(fn, seed=901, n_cases=30):
    """``gabor_kernel`` equals scikit-image's kernel (odd sizes) and the formula (even sizes)."""
    check_against_oracle(fn, oracle_gabor_kernel, gabor_cases(seed, n_cases), name="gabor_kernel",
                         forbidden=LIBRARY_GABOR, likely_mistakes=_mistakes_gabor)


def check_gabor_kernel_rejects_bad_input(fn):
    """``gabor_kernel`` raises ValueError/TypeError for impossible parameters."""
    bad = [
        ((1, 4.0, 0.0, 2.0), {}, ValueError, "a 1x1 kernel is constant: nothing is left after "
                                             "removing its mean (size must be at least 2)"),
        ((0, 4.0, 0.0, 2.0), {}, ValueError, "the size must be at least 2"),
        ((7.0, 4.0, 0.0, 2.0), {}, TypeError, "the size must be an integer"),
        ((7, 0.0, 0.0, 2.0), {}, ValueError, "the wavelength must be positive"),
        ((7, -3.0, 0.0, 2.0), {}, ValueError, "the wavelength must be positive"),
        ((7, 4.0, 0.0, 0.0), {}, ValueError, "sigma must be positive"),
        ((7, 4.0, 0.0, 2.0), {"gamma": 0.0}, ValueError, "gamma must be positive"),
        ((7, 4.0, float("nan"), 2.0), {}, ValueError, "theta must be a finite number"),
    ]
    for args, kwargs, exception, reason in bad:
        check_raises(fn, args, kwargs, exception=exception, reason=reason, name="gabor_kernel")


# ----------------------------------------------------------------------------- lists of maps

def _describe(value):
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, np.ndarray) for v in value):
        shapes = ", ".join(str(tuple(v.shape)) for v in value)
        return f"list of {len(value)} arrays of shapes {shapes}"
    if isinstance(value, np.ndarray):
        return f"array of shape {tuple(value.shape)} ({value.dtype})"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _call_text(name, args, kwargs):
    parts = [_describe(a) for a in args] + [f"{k}={_describe(v)}" for k, v in kwargs.items()]
    return f"{name}({', '.join(parts)})"


def list_difference(actual, expected, item):
    """How the list of arrays ``actual`` differs from the list ``expected``; None if it does not.

    ``item`` names one element in messages ("scale", "band").
    """
    if not isinstance(actual, (list, tuple)):
        return (f"returned {type(actual).__module__}.{type(actual).__name__}; return a list of "
                f"arrays, one per {item}")
    if len(actual) != len(expected):
        return f"returned {len(actual)} arrays, expected {len(expected)} (one per {item})"
    for index, (got, want) in enumerate(zip(actual, expected)):
        message = difference(got, want)
        if message is not None:
            return f"{item} {index}: {message}"
    return None


def check_list_function(fn, oracle, cases, *, name, item, likely_mistakes=None):
    """Fail unless ``fn`` returns the same list of arrays as ``oracle`` on every case."""
    for case in cases:
        expected = oracle(*copy.deepcopy(case.args), **copy.deepcopy(case.kwargs))
        actual = call_student(fn, case.args, case.kwargs, name=name)
        message = list_difference(actual, expected, item)
        if message is None:
            continue
        cause = ""
        for description, wrong in (likely_mistakes(*case.args, **case.kwargs) if likely_mistakes else ()):
            if list_difference(actual, wrong, item) is None:
                cause = f".\nLikely cause: {description}"
                break
        raise CheckFailure(f"{_call_text(name, case.args, case.kwargs)} {message}{cause}")


def _torch(array):
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float64))


# ----------------------------------------------------------------------------- S1

def oracle_s1_layer(image, filters, *, absolute=True, normalise="norm", flip=False):
    """S1 with PyTorch's conv2d: |correlation| / sqrt(window energy), zero 'same' padding.

    The keyword switches build known wrong variants.
    """
    x = _torch(image)[None, None]
    out = []
    for bank in filters:
        w = _torch(bank)[:, None]
        if flip:
            w = torch.flip(w, dims=(2, 3))
        r = (w.shape[-1] - 1) // 2
        response = F.conv2d(x, w, padding=r)[0]
        if absolute:
            response = response.abs()
        energy = F.conv2d(x ** 2, torch.ones_like(w[:1]), padding=r)[0, 0]
        if normalise == "norm":
            scale = energy.sqrt()
        elif normalise == "energy":
            scale = energy
        elif normalise == "global":
            scale = torch.linalg.vector_norm(x).expand_as(energy)
        else:
            scale = torch.ones_like(energy)
        out.append(torch.where(scale > 0, response / torch.where(scale > 0, scale, 1.0),
                               0.0).numpy())
    return out


def _mistakes_s1(image, filters):
    variants = [
        ("the absolute value is missing: S1 is |correlation| / norm", {"absolute": False}),
        ("the response is not normalised: divide by sqrt(sum of squares) of the image window",
         {"normalise": None}),
        ("the response is divided by the window's sum of squares: divide by its square root",
         {"normalise": "energy"}),
        ("the response is divided by the norm of the whole image: use the window under the filter",
         {"normalise": "global"}),
        ("the filter is flipped (a convolution): S1 is a cross-correlation", {"flip": True}),
    ]
    return [(text, oracle_s1_layer(image, filters, **kw)) for text, kw in variants]


def s1_cases(seed, n_cases=20):
    """Random images (H, W) and banks: 1-4 scales of odd sizes, 1-4 orientations, zero regions."""
    rng = _rng(seed)
    cases = []
    for i in range(n_cases):
        h, w = (int(v) for v in rng.integers(3, 15, size=2))
        image = rng.normal(size=(h, w))
        if i % 3 == 0:
            image[: h // 2] = 0.0  # windows that are all zeros give 0
        n_orient = int(rng.integers(1, 5))
        sizes = rng.choice([1, 3, 5, 7, 9], size=int(rng.integers(1, 5)))
        cases.append(Case((image, [rng.normal(size=(n_orient, int(s), int(s))) for s in sizes])))
    return cases


def check_s1_layer(fn, seed=911, n_cases=20, oracle=oracle_s1_layer):
    """``s1_layer`` equals ``oracle`` (default: PyTorch's conv2d) on random images and banks."""
    check_list_function(fn, oracle, s1_cases(seed, n_cases), name="s1_layer", item="scale",
                        likely_mistakes=_mistakes_s1)


# ----------------------------------------------------------------------------- C1

def _max_pool(maps, pool_size, stride):
    return F.max_pool2d(_torch(maps)[None], pool_size, stride)[0].numpy()


def oracle_c1_layer(s1, pool_size, stride):
    """C1 with PyTorch's max_pool2d on the element-wise max of adjacent scales."""
    return [_max_pool(np.maximum(a, b), pool_size, stride) for a, b in zip(s1[:-1], s1[1:])]


def _mistakes_c1(s1, pool_size, stride):
    everything = np.max(np.stack(s1), axis=0)
    return [
        ("the max over adjacent scales is missing: band b is the max of scales b and b + 1",
         [_max_pool(s, pool_size, stride) for s in s1[:-1]]),
        ("the max is taken over all scales: band b uses only scales b and b + 1",
         [_max_pool(everything, pool_size, stride)] * (len(s1) - 1)),
        ("the stride is ignored: windows start every `stride` pixels",
         oracle_c1_layer(s1, pool_size, pool_size)),
        ("the windows are averaged: C1 takes the maximum",
         [F.avg_pool2d(_torch(np.maximum(a, b))[None], pool_size, stride)[0].numpy()
          for a, b in zip(s1[:-1], s1[1:])]),
    ]


def c1_cases(seed, n_cases=20):
    """Random S1 outputs (2-4 scales of (n_orient, H, W)), pool sizes and strides."""
    rng = _rng(seed)
    cases = []
    for _ in range(n_cases):
        n_scales, n_orient = int(rng.integers(2, 5)), int(rng.integers(1, 4))
        h, w = (int(v) for v in rng.integers(2, 13, size=2))
        pool = int(rng.integers(1, min(h, w) + 1))
        s1 = [rng.random((n_orient, h, w)) for _ in range(n_scales)]
        cases.append(Case((s1, pool, int(rng.integers(1, 4)))))
    return cases


def check_c1_layer(fn, seed=921, n_cases=20, oracle=oracle_c1_layer):
    """``c1_layer`` equals ``oracle`` (default: PyTorch's max_pool2d) on random S1 outputs."""
    check_list_function(fn, oracle, c1_cases(seed, n_cases), name="c1_layer", item="band",
                        likely_mistakes=_mistakes_c1)


# ----------------------------------------------------------------------------- S2

def squared_distances(band, prototypes):
    """||X - W_k||^2 for every prototype k and 'valid' position: (K, H - p + 1, W - p + 1).

    PyTorch's unfold gathers the patches of ``band`` (n_orient, H, W).
    """
    n_proto, _, p, _ = prototypes.shape
    h_out, w_out = band.shape[1] - p + 1, band.shape[2] - p + 1
    patches = F.unfold(_torch(band)[None], p)[0].T  # (positions, n_orient * p * p)
    flat = _torch(prototypes).reshape(n_proto, -1)
    distances = ((patches[None] - flat[:, None]) ** 2).sum(-1)
    return distances.reshape(n_proto, h_out, w_out).numpy()


def oracle_s2_layer(c1, prototypes, sigma):
    """S2 with PyTorch's unfold: exp(-||X - W||^2 / (2 sigma^2)) for every prototype."""
    return [np.exp(-squared_distances(band, prototypes) / (2 * sigma ** 2)) for band in c1]


def _mistakes_s2(c1, prototypes, sigma):
    d2 = [squared_distances(band, prototypes) for band in c1]
    n = prototypes[0].size
    return [
        ("sigma is not squared: y = exp(-||x - w||^2 / (2 sigma^2))",
         [np.exp(-d / (2 * sigma)) for d in d2]),
        ("the factor 2 is missing: y = exp(-||x - w||^2 / (2 sigma^2))",
         [np.exp(-d / sigma ** 2) for d in d2]),
        ("the distance is not squared: y = exp(-||x - w||^2 / (2 sigma^2))",
         [np.exp(-np.sqrt(d) / (2 * sigma ** 2)) for d in d2]),
        ("the squared differences are averaged: ||x - w||^2 is their sum",
         [np.exp(-d / n / (2 * sigma ** 2)) for d in d2]),
        ("the prototypes are transposed: compare patch[o, m, n] with w[o, m, n]",
         oracle_s2_layer(c1, prototypes.transpose(0, 1, 3, 2).copy(), sigma)),
    ]


def s2_cases(seed, n_cases=20):
    """Random C1 bands of different sizes, prototypes cut from them plus noise, and sigmas."""
    rng = _rng(seed)
    cases = []
    for _ in range(n_cases):
        n_orient, p = int(rng.integers(1, 4)), int(rng.integers(1, 5))
        bands = [rng.random((n_orient, int(rng.integers(p, p + 6)), int(rng.integers(p, p + 6))))
                 for _ in range(int(rng.integers(1, 4)))]
        protos = []
        for _ in range(int(rng.integers(1, 6))):
            band = bands[int(rng.integers(len(bands)))]
            i, j = int(rng.integers(band.shape[1] - p + 1)), int(rng.integers(band.shape[2] - p + 1))
            protos.append(band[:, i:i + p, j:j + p] + 0.2 * rng.normal(size=(n_orient, p, p)))
        sigma = float(rng.uniform(0.4, 1.5)) * math.sqrt(n_orient * p * p / 6)
        cases.append(Case((bands, np.stack(protos), sigma)))
    return cases


def check_s2_layer(fn, seed=931, n_cases=20, oracle=oracle_s2_layer):
    """``s2_layer`` equals ``oracle`` (default: PyTorch's unfold) on random bands and prototypes."""
    check_list_function(fn, oracle, s2_cases(seed, n_cases), name="s2_layer", item="band",
                        likely_mistakes=_mistakes_s2)


# ----------------------------------------------------------------------------- C2

def oracle_c2_layer(s2):
    """C2 with PyTorch: the max over positions of every band, then over bands."""
    return torch.stack([_torch(band).amax(dim=(1, 2)) for band in s2]).amax(dim=0).numpy()


def _mistakes_c2(s2):
    return [
        ("only the first band is used: C2 takes the max over every band",
         s2[0].max(axis=(1, 2))),
        ("the last band is used: C2 takes the max over every band", s2[-1].max(axis=(1, 2))),
        ("the positions are averaged: C2 takes the maximum",
         np.max([band.mean(axis=(1, 2)) for band in s2], axis=0)),
    ]


def c2_cases(seed, n_cases=20):
    """Random S2 outputs: 1-4 bands of (K, h, w) with different sizes, values in (0, 1]."""
    rng = _rng(seed)
    cases = []
    for _ in range(n_cases):
        n_proto = int(rng.integers(1, 7))
        cases.append(Case(([rng.random((n_proto, int(rng.integers(1, 7)), int(rng.integers(1, 7))))
                            for _ in range(int(rng.integers(1, 5)))],)))
    return cases


def check_c2_layer(fn, seed=941, n_cases=20, oracle=oracle_c2_layer):
    """``c2_layer`` equals ``oracle`` on random S2 outputs."""
    check_against_oracle(fn, oracle, c2_cases(seed, n_cases), name="c2_layer",
                         likely_mistakes=_mistakes_c2)


def check_hmax_rejects_bad_input(s1_layer, c1_layer, s2_layer, c2_layer):
    """The four HMAX layers raise ValueError/TypeError for impossible shapes and parameters."""
    rng = _rng(951)
    image, bank = rng.random((8, 8)), rng.normal(size=(2, 3, 3))
    s1 = [rng.random((2, 8, 8)) for _ in range(3)]
    c1 = [rng.random((2, 5, 5)), rng.random((2, 4, 4))]
    protos = rng.random((3, 2, 2, 2))
    bad = [
        (s1_layer, (rng.random((1, 8, 8)), [bank]), {}, ValueError, "the image must be 2-D (H, W)"),
        (s1_layer, (image, []), {}, ValueError, "there must be at least one scale"),
        (s1_layer, (image, [rng.normal(size=(2, 4, 4))]), {}, ValueError,
         "a filter of even size has no centre pixel"),
        (s1_layer, (image, [rng.normal(size=(2, 3, 5))]), {}, ValueError, "filters must be square"),
        (s1_layer, (image, [bank, rng.normal(size=(3, 5, 5))]), {}, ValueError,
         "every scale needs the same number of orientations"),
        (c1_layer, (s1[:1], 2, 2), {}, ValueError, "C1 pairs adjacent scales: it needs at least 2"),
        (c1_layer, ([s1[0], rng.random((2, 7, 8))], 2, 2), {}, ValueError,
         "the scales have different shapes"),
        (c1_layer, (s1, 9, 1), {}, ValueError, "a 9x9 window does not fit in 8x8 maps"),
        (c1_layer, (s1, 2, 0), {}, ValueError, "the stride must be at least 1"),
        (c1_layer, (s1, 2.0, 1), {}, TypeError, "the pool size must be an integer"),
        (s2_layer, (c1, protos, 0.0), {}, ValueError, "sigma must be positive"),
        (s2_layer, (c1, rng.random((3, 4, 2, 2)), 1.0), {}, ValueError,
         "the prototypes have 4 orientations, the bands 2"),
        (s2_layer, (c1, rng.random((3, 2, 5, 5)), 1.0), {}, ValueError,
         "a 5x5 prototype does not fit in the 4x4 band"),
        (s2_layer, (c1, rng.random((2, 2, 2)), 1.0), {}, ValueError,
         "the prototypes must be 4-D (n_prototypes, n_orientations, p, p)"),
        (c2_layer, ([],), {}, ValueError, "there must be at least one band"),
        (c2_layer, ([rng.random((3, 2, 2)), rng.random((4, 2, 2))],), {}, ValueError,
         "the bands have different numbers of prototypes"),
    ]
    for fn, args, kwargs, exception, reason in bad:
        check_raises(fn, args, kwargs, exception=exception, reason=reason, name=fn.__name__)


# ----------------------------------------------------------------------------- models

def call_in_place(fn, args, *, name, call):
    """``fn(*args)`` on the objects themselves (it changes a model in place); its result.

    A stub or an error becomes a readable ``CheckFailure``.
    """
    try:
        return fn(*args)
    except NotImplementedError:
        raise CheckFailure(
            f"{name} is not implemented yet: replace `raise NotImplementedError()` in its cell "
            "with your code, then run that cell again."
        ) from None
    except CheckFailure:
        raise
    except Exception as error:
        raise CheckFailure(f"{call} raised {type(error).__name__}: {error}") from error


class TwoHeads(nn.Module):
    """A model whose last nn.Linear is a top-level attribute, after a nested one."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(5, 7)
        self.block = nn.Sequential(nn.ReLU(), nn.Linear(7, 4))
        self.head = nn.Linear(4, 3)

    def forward(self, x):
        return self.head(self.block(self.fc1(x)))


def _deep_chain():
    """nn.Sequential of 12 small linear layers: names 0..11, so the prefix "1" matches 1, 10, 11."""
    return nn.Sequential(*[nn.Linear(3, 3) for _ in range(12)])


def _mixed_requires_grad(model, rng):
    """Set a random requires_grad pattern (so a correct freeze must also switch some on)."""
    for parameter in model.parameters():
        parameter.requires_grad_(bool(rng.integers(2)))
    return model


def freeze_cases(seed):
    """``(model factory, trainable)`` pairs with a random initial requires_grad pattern."""
    rng = _rng(seed)
    cases = [
        (MnistCNN, ["classifier.3"]),
        (MnistCNN, ()),
        (MnistCNN, ["classifier"]),
        (MnistCNN, ("features.0.weight", "classifier.3.bias")),
        (MnistCNN, "classifier.3"),
        (MnistCNN, ["features.3", "classifier.1", "classifier.3.weight"]),
        (_deep_chain, ["1"]),
        (_deep_chain, ["0.", "5.bias"]),
        (TwoHeads, ["block.1"]),
        (TwoHeads, ["fc1", "head"]),
    ]
    return [(lambda make=make: _mixed_requires_grad(make(), rng), trainable)
            for make, trainable in cases]


def _expected_trainable(model, trainable):
    prefixes = (trainable,) if isinstance(trainable, str) else tuple(trainable)
    return {name: name.startswith(prefixes) for name, _ in model.named_parameters()}


def _freeze_message(call, actual, expected, before):
    wrong = sorted(name for name in expected if actual[name] != expected[name])
    listed = [name for name in expected if expected[name]]
    got_on = sorted(name for name in actual if actual[name])
    detail = (f"requires_grad is wrong for {len(wrong)} of {len(expected)} parameters, first "
              f"{wrong[0]!r}: got {actual[wrong[0]]}, expected {expected[wrong[0]]}")
    if all(actual.values()):
        cause = "every parameter is still trainable: set requires_grad = False on the others"
    elif got_on == sorted(name for name in expected if not expected[name]):
        cause = "the logic is inverted: the listed prefixes stay trainable, the rest is frozen"
    elif all(actual[name] == (before[name] and expected[name]) for name in expected):
        cause = ("the listed parameters keep their previous requires_grad: set it to True for "
                 "them (a parameter may have been frozen before)")
    elif listed and not any(actual.values()):
        cause = "nothing is trainable: parameters whose name starts with a listed prefix stay trainable"
    else:
        cause = ("match names with str.startswith: a prefix may be a module ('classifier'), a "
                 "layer ('classifier.3') or a full name ('classifier.3.bias')")
    return f"{call}: {detail}.\nLikely cause: {cause}"


def check_freeze(fn, seed=961):
    """``freeze`` sets requires_grad by name prefix, keeps the values, returns the model."""
    for make, trainable in freeze_cases(seed):
        model = make()
        before = {name: p.requires_grad for name, p in model.named_parameters()}
        values = {name: p.detach().clone() for name, p in model.named_parameters()}
        expected = _expected_trainable(model, trainable)
        call = f"freeze({type(model).__name__}(), trainable={trainable!r})"
        result = call_in_place(fn, (model, trainable), name="freeze", call=call)
        if result is not model:
            raise CheckFailure(f"{call} returned {_describe(result)}; return the model itself "
                               "(changed in place)")
        actual = {name: p.requires_grad for name, p in model.named_parameters()}
        if actual != expected:
            raise CheckFailure(_freeze_message(call, actual, expected, before))
        for name, parameter in model.named_parameters():
            if not torch.equal(parameter.detach(), values[name]):
                raise CheckFailure(f"{call} changed the values of {name!r}: only requires_grad "
                                   "may change")


def expect_error(fn, args, exception, *, call, reason, name):
    """Fail unless ``fn(*args)`` raises ``exception``; ``call`` shows the call in messages."""
    try:
        call_in_place(fn, args, name=name, call=call)
    except CheckFailure as failure:
        cause = failure.__cause__
        if isinstance(cause, exception):
            return
        if cause is None:
            raise
        raise CheckFailure(f"{call} raised {type(cause).__name__} ({cause}); expected "
                           f"{exception.__name__} because {reason}") from cause
    raise CheckFailure(f"{call} returned without error; expected {exception.__name__} because {reason}")


def check_freeze_rejects_bad_input(fn):
    """``freeze`` raises TypeError for a non-module or a non-string prefix, ValueError for a typo."""
    bad = [
        ((MnistCNN(), ["clasifier"]), ValueError, "freeze(MnistCNN(), ['clasifier'])",
         "no parameter name starts with 'clasifier' (a typo would freeze everything)"),
        ((MnistCNN(), ["features", "head"]), ValueError, "freeze(MnistCNN(), ['features', 'head'])",
         "no parameter name of MnistCNN starts with 'head'"),
        (([nn.Linear(2, 2)], ["0"]), TypeError, "freeze([nn.Linear(2, 2)], ['0'])",
         "the model must be a torch.nn.Module, not a list"),
        ((MnistCNN(), [3]), TypeError, "freeze(MnistCNN(), [3])", "a prefix must be a str"),
    ]
    for args, exception, call, reason in bad:
        expect_error(fn, args, exception, call=call, reason=reason, name="freeze")


def replace_head_cases():
    """``(description, model factory, num_classes, path of the last nn.Linear)``."""
    def frozen_cnn():
        model = MnistCNN()
        for parameter in model.parameters():
            parameter.requires_grad_(False)
        return model

    return [
        ("MnistCNN()", MnistCNN, 3, "classifier.3"),
        ("MnistCNN() with every parameter frozen", frozen_cnn, 10, "classifier.3"),
        ("TwoHeads() (fc1, block.1, head)", TwoHeads, 6, "head"),
        ("a float64 nn.Sequential whose last Linear has no bias",
         lambda: nn.Sequential(nn.Linear(6, 5), nn.Tanh(),
                               nn.Sequential(nn.Linear(5, 4, bias=False))).double(), 2, "2.0"),
        ("nn.Sequential of 12 Linear layers", _deep_chain, 1, "11"),
    ]


def _input_for(model):
    first = next(m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d)))
    dtype = first.weight.dtype
    if isinstance(first, nn.Conv2d):
        return torch.zeros(2, 1, 28, 28, dtype=dtype)
    return torch.zeros(2, first.in_features, dtype=dtype)


def _check_one_head(fn, description, model, num_classes, path):
    call = f"replace_head({description}, {num_classes})"
    old = model.get_submodule(path)
    modules_before = dict(model.named_modules())
    values = {name: p.detach().clone() for name, p in model.named_parameters()}
    result = call_in_place(fn, (model, num_classes), name="replace_head", call=call)
    if result is not model:
        raise CheckFailure(f"{call} returned {_describe(result)}; return the model itself")
    new = model.get_submodule(path)
    if new is old:
        raise CheckFailure(f"{call}: model.{path} is still the old layer; replace the last "
                           "nn.Linear (in named_modules order) by a new one")
    if not isinstance(new, nn.Linear):
        raise CheckFailure(f"{call}: model.{path} is a {type(new).__name__}, expected nn.Linear")
    expected = (old.in_features, num_classes, old.bias is not None, old.weight.dtype)
    got = (new.in_features, new.out_features, new.bias is not None, new.weight.dtype)
    if got != expected:
        hint = ""
        if new.in_features == old.out_features != old.in_features:
            hint = "\nLikely cause: in_features must be the old layer's in_features, not out_features"
        raise CheckFailure(
            f"{call}: the new model.{path} has (in_features, out_features, bias, dtype) = {got}, "
            f"expected {expected}{hint}")
    if new.weight is old.weight:
        raise CheckFailure(f"{call}: the new head shares its weight with the old one; build a "
                           "fresh nn.Linear")
    if not all(p.requires_grad for p in new.parameters()):
        raise CheckFailure(f"{call}: the new head must be trainable (requires_grad True)")
    for name, module in modules_before.items():
        if name == path or not name:
            continue
        if model.get_submodule(name) is not module:
            raise CheckFailure(f"{call} replaced model.{name} as well; only the last nn.Linear "
                               f"(model.{path}) changes")
    for name, parameter in model.named_parameters():
        if name in values and not name.startswith(path + ".") and not torch.equal(
                parameter.detach(), values[name]):
            raise CheckFailure(f"{call} changed {name!r}; only the head is new")
    with torch.no_grad():
        shape = tuple(model(_input_for(model)).shape)
    if shape != (2, num_classes):
        raise CheckFailure(f"{call}: the model now outputs shape {shape} for 2 inputs, expected "
                           f"(2, {num_classes})")


def check_replace_head(fn, seed=971):
    """``replace_head`` swaps the last nn.Linear for a fresh one, everywhere in the module tree."""
    torch.manual_seed(seed)
    for description, make, num_classes, path in replace_head_cases():
        _check_one_head(fn, description, make(), num_classes, path)
    bare = nn.Linear(4, 2)
    result = call_in_place(fn, (bare, 5), name="replace_head", call="replace_head(nn.Linear(4, 2), 5)")
    if not (isinstance(result, nn.Linear) and result is not bare
            and (result.in_features, result.out_features) == (4, 5)):
        raise CheckFailure(f"replace_head(nn.Linear(4, 2), 5) returned {_describe(result)}; a "
                           "model that is itself the last Linear is replaced by "
                           "nn.Linear(4, 5), which is returned")


def check_replace_head_rejects_bad_input(fn):
    """``replace_head`` raises ValueError without a Linear or for num_classes < 1, TypeError for types."""
    bad = [
        ((nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()), 3), ValueError,
         "replace_head(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()), 3)",
         "the model has no nn.Linear layer to replace"),
        ((MnistCNN(), 0), ValueError, "replace_head(MnistCNN(), 0)", "num_classes must be at least 1"),
        ((MnistCNN(), 2.5), TypeError, "replace_head(MnistCNN(), 2.5)", "num_classes must be an integer"),
        (("MnistCNN", 3), TypeError, "replace_head('MnistCNN', 3)",
         "the model must be a torch.nn.Module, not a str"),
    ]
    for args, exception, call, reason in bad:
        expect_error(fn, args, exception, call=call, reason=reason, name="replace_head")
