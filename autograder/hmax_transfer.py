"""Checks of notebook 09 (HMAX and transfer learning): what the visible test lines call.

Everything here checks against public libraries or hand-worked values: scikit-image's
``gabor_kernel`` for odd-sized Gabor kernels; PyTorch's ``conv2d``, ``max_pool2d``, ``unfold`` and
``cdist`` for relations the HMAX layers must satisfy (S1 times the window norm is the absolute
correlation, C1 of two equal scales is a max pooling, S2 turned back into squared distances is
the distance between patches and prototypes); the module tree of ``named_modules`` and fixed,
hand-worked lists of parameter names for ``freeze`` and ``replace_head``. Hidden tests add the
hand-written oracles and likely-mistake generators of :mod:`autograder.grader.checks.hmax_transfer`
(grader only).

Under grading, the transfer checks send models to the student's kernel as data: standard
``torch.nn`` modules and the classes registered here and in :mod:`autograder.models` with
``wire.transferable``; what the student's code changes in the model is written back.
Every ``check_*`` function raises ``CheckFailure`` with a readable message, or returns ``None``.
"""
import copy
import math

import numpy as np
import skimage.filters
import torch
import torch.nn.functional as F
from torch import nn

from autograder import wire
from autograder.checking import (
    Case, CheckFailure, call_student, check_accepts, check_raises, describe_call, describe_value,
    describe_type, difference, make_rng, not_implemented_message,
)
from autograder.models import MnistCNN

LIBRARY_GABOR = (skimage.filters.gabor_kernel, skimage.filters.gabor)

THETA_IN_DEGREES = ("theta was converted from degrees: it is already in radians "
                    "(use np.cos(theta), not np.cos(np.deg2rad(theta)))")
X_Y_SWAPPED = ("x and y are swapped: x runs along the columns (axis 1) and y along the rows "
               "(axis 0, downwards)")
ROTATION_SIGN = ("the rotation turns the wrong way: x' = x cos(theta) + y sin(theta) with y pointing "
                 "down the rows")
NO_ZERO_MEAN = "the mean is not removed: subtract the kernel's mean before dividing by its norm"
NO_UNIT_NORM = "the kernel is not divided by its norm: sqrt(sum of squares) must be 1"
GAMMA_ON_X = "gamma multiplies x' instead of y': the envelope is exp(-(x'^2 + gamma^2 y'^2) / (2 sigma^2))"
SIGMA_AS_VARIANCE = "sigma is used as the variance: the exponent divides by 2 sigma^2"
WAVELENGTH_AS_FREQUENCY = ("the wavelength is used as a frequency: the carrier is "
                           "cos(2 pi x' / wavelength + phase)")
PHASE_SUBTRACTED = "the phase is subtracted: the carrier is cos(2 pi x' / wavelength + phase)"
CENTRE_AT_HALF_SIZE = "the centre is at size // 2: it is (size - 1) / 2, between two pixels for even sizes"
ZERO_ACCEPTED = ("zero passes a `>= 0` test: a wavelength, sigma or gamma of 0 must raise too "
                 "(test `value > 0`)")

S1_NO_ABSOLUTE = "the absolute value is missing: S1 is |correlation| / norm"
S1_NOT_NORMALISED = "the response is not normalised: divide by sqrt(sum of squares) of the image window"
S1_BY_ENERGY = "the response is divided by the window's sum of squares: divide by its square root"
S1_BY_IMAGE_NORM = "the response is divided by the norm of the whole image: use the window under the filter"
S1_FLIPPED = "the filter is flipped (a convolution): S1 is a cross-correlation"
S1_EDGE_PADDING = ("the image is padded with copies of its edge: pad with zeros "
                   "(np.pad(image, r) pads with zeros)")
S1_NOT_PADDED = ("the image is not padded ('valid' output): pad it with (s - 1) / 2 zeros on every "
                 "side, so that every scale keeps the image's size")

C1_NO_SCALE_MAX = "the max over adjacent scales is missing: band b is the max of scales b and b + 1"
C1_ALL_SCALES = "the max is taken over all scales: band b uses only scales b and b + 1"
C1_LAST_SCALE = "band b is paired with the last scale: it pairs scale b with scale b + 1"
C1_STRIDE_IGNORED = "the stride is ignored: windows start every `stride` pixels, not every `pool_size`"
C1_AVERAGED = "the windows are averaged: C1 takes the maximum"
C1_ONE_SCALE = ("a single scale passes the check on the number of scales: C1 pairs adjacent scales, "
                "so it needs at least 2")

S2_SIGMA_NOT_SQUARED = "sigma is not squared: y = exp(-||x - w||^2 / (2 sigma^2))"
S2_NO_FACTOR_2 = "the factor 2 is missing: y = exp(-||x - w||^2 / (2 sigma^2))"
S2_DISTANCE_NOT_SQUARED = "the distance is not squared: y = exp(-||x - w||^2 / (2 sigma^2))"
S2_MEAN_OF_SQUARES = "the squared differences are averaged: ||x - w||^2 is their sum"
S2_PROTOTYPES_TRANSPOSED = ("each patch is compared with its prototype transposed: compare "
                            "patch[o, m, n] with w[o, m, n]")
S2_ROWS_COLUMNS_SWAPPED = ("the output's rows and columns are swapped: out[b][k, i, j] is the patch "
                           "whose top-left corner is at row i, column j")

C2_FIRST_BAND = "only the first band is used: C2 takes the max over every band"
C2_LAST_BAND = "only the last band is used: C2 takes the max over every band"
C2_AVERAGED_POSITIONS = "the positions are averaged: C2 takes the maximum"
C2_MEAN_OVER_BANDS = "the bands are averaged: C2 takes the maximum over the bands too"
C2_OVER_PROTOTYPES = ("the max is taken over the prototypes too: C2 keeps one value per prototype, "
                      "the max over positions and bands only")

ALL_TRAINABLE = "every parameter is still trainable: set requires_grad = False on the others"
INVERTED = "the logic is inverted: the listed prefixes stay trainable, the rest is frozen"
STICKY = ("the listed parameters keep their previous requires_grad: set it to True for them (a "
          "parameter may have been frozen before)")
NOTHING_TRAINABLE = "nothing is trainable: parameters whose name starts with a listed prefix stay trainable"
STRING_AS_LETTERS = ("a single string is one prefix, not a sequence of one-letter prefixes (iterating "
                     "over a str gives its letters): use (trainable,) when trainable is a str")
NOT_STARTSWITH = ("match names with str.startswith: a prefix may be a module ('classifier'), a "
                  "layer ('classifier.3') or a full name ('classifier.3.bias')")
UNKNOWN_PREFIX = ("prefixes that match no parameter name are not checked: a typo would silently "
                  "freeze the whole network")

NO_RETURN = "the function ends without `return model`"
FIRST_LINEAR = "another nn.Linear was replaced: the head is the LAST nn.Linear in model.named_modules() order"
HEAD_AT_ROOT = ("the new layer was attached to the model itself: put it on the old layer's parent, "
                "setattr(model.get_submodule(parent), child, new)")
OUT_AS_IN = "in_features must be the old layer's in_features, not its out_features"
BIAS_ADDED = "the new layer has a bias although the old one had none: pass bias=old.bias is not None"
BIAS_DROPPED = "the new layer has no bias although the old one had one: pass bias=old.bias is not None"
DTYPE_LOST = ("the new layer has the default dtype: pass dtype=old.weight.dtype (and "
              "device=old.weight.device)")
OWN_CLASS = ("the new head is a module of a class of your own (a subclass of nn.Linear, say): build "
             "it with torch.nn.Linear itself; the grader reads back torch.nn's own layers only")


def _torch(array):
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float64))


def check_rejects(fn, args, kwargs=None, *, exception=ValueError, reason, if_accepted=None, name=None):
    """Fail unless ``fn(*args, **kwargs)`` (on copies) raises ``exception``.

    ``reason`` says why the input is invalid; ``if_accepted`` names the likely mistake when the
    call returns without error or raises another exception.
    """
    check_raises(fn, args, kwargs, exception=exception, reason=reason, cause=if_accepted, name=name)


# ----------------------------------------------------------------------------- Gabor kernels

def _skimage_gabor(size, frequency, theta, sigma_x, sigma_y, offset, *, zero_mean=True,
                   unit_norm=True, scale=1.0):
    """The central size x size block of the real part of scikit-image's Gabor kernel (size odd).

    scikit-image uses the notebook's grid (x along the columns, y down the rows, x' = x cos(theta)
    + y sin(theta)) with the envelope exp(-(x'^2 / sigma_x^2 + y'^2 / sigma_y^2) / 2) and the
    carrier cos(2 pi frequency x' + offset); its kernel is centred and at least as large as
    needed, so the central block is cut out. ``scale`` multiplies the raw block (scikit-image
    divides by 2 pi sigma_x sigma_y); then the mean is removed and the norm divided out, if asked.
    """
    c, s = abs(math.cos(theta)), abs(math.sin(theta))
    reach = min(max(sigma_x * c, sigma_y * s), max(sigma_y * c, sigma_x * s))
    n_stds = (size + 1) / (2 * reach)  # both half-widths of the kernel reach (size - 1) / 2
    big = skimage.filters.gabor_kernel(frequency, theta=theta, sigma_x=sigma_x, sigma_y=sigma_y,
                                       n_stds=n_stds, offset=offset).real
    top, left = (big.shape[0] - size) // 2, (big.shape[1] - size) // 2
    g = big[top:top + size, left:left + size] * scale
    if zero_mean:
        g = g - g.mean()
    if unit_norm:
        g = g / np.sqrt(np.sum(g ** 2))
    return g


def skimage_gabor(size, wavelength, theta, sigma, gamma, phase, **options):
    """The notebook's Gabor kernel of odd ``size`` from scikit-image (``options``: see below).

    ``sigma_x = sigma``, ``sigma_y = sigma / gamma``, ``frequency = 1 / wavelength``,
    ``offset = phase``; ``options`` are ``zero_mean``, ``unit_norm`` and ``scale`` of
    :func:`_skimage_gabor`. Raises ValueError for an even size (scikit-image's kernels have a
    centre pixel).
    """
    if size % 2 == 0:
        raise ValueError(f"scikit-image's Gabor kernels have odd sizes, not {size}")
    return _skimage_gabor(size, 1.0 / wavelength, theta, sigma, sigma / gamma, phase, **options)


def gabor_likely_mistakes(size, wavelength, theta, sigma, gamma=0.5, phase=0.0):
    """Known wrong answers of ``gabor_kernel`` for an odd ``size``, from scikit-image.

    Each is scikit-image's kernel with the parameters a mistake amounts to (theta in degrees, the
    rotation or the phase negated, gamma on x', sigma used as the variance, the wavelength as a
    frequency), transposed (x and y swapped), or not normalised. Returns a list of
    ``(description, array)``; empty for even sizes.
    """
    if size % 2 == 0:
        return []

    def variant(theta=theta, sigma_x=sigma, sigma_y=sigma / gamma, frequency=1.0 / wavelength,
                offset=phase, **options):
        return _skimage_gabor(size, frequency, theta, sigma_x, sigma_y, offset, **options)

    correct = variant()
    raw = 2 * math.pi * sigma * (sigma / gamma)  # undoes scikit-image's 1 / (2 pi sigma_x sigma_y)
    root = math.sqrt(sigma)
    return [
        (THETA_IN_DEGREES, variant(theta=math.radians(theta))),
        (X_Y_SWAPPED, correct.T),
        (ROTATION_SIGN, variant(theta=-theta)),
        (NO_ZERO_MEAN, variant(zero_mean=False)),
        (NO_UNIT_NORM, variant(unit_norm=False, scale=raw)),
        (GAMMA_ON_X, variant(sigma_x=sigma / gamma, sigma_y=sigma)),
        (SIGMA_AS_VARIANCE, variant(sigma_x=root, sigma_y=root / gamma)),
        (WAVELENGTH_AS_FREQUENCY, variant(frequency=wavelength)),
        (PHASE_SUBTRACTED, variant(offset=-phase)),
    ]


def odd_gabor_cases(seed=None, n_cases=8):
    """Random Gabor parameters of odd sizes 3..21: any angle, phases, gammas."""
    rng = make_rng(seed)
    cases = [Case((7, 4.0, 0.0, 2.0)), Case((9, 4.0, 1.0, 2.0), {"gamma": 1.0, "phase": math.pi / 2})]
    for _ in range(n_cases - len(cases)):
        args = (int(rng.integers(1, 11)) * 2 + 1, float(rng.uniform(2.0, 12.0)),
                float(rng.uniform(-math.pi, 2 * math.pi)), float(rng.uniform(0.8, 6.0)))
        kwargs = {"gamma": float(rng.uniform(0.2, 1.5)), "phase": float(rng.uniform(-math.pi, math.pi))}
        cases.append(Case(args, kwargs))
    return cases[:n_cases]


def check_gabor_kernel_matches_skimage(fn, seed=None, n_cases=8):
    """``gabor_kernel`` equals scikit-image's kernel (real part, cropped, normalised), odd sizes."""
    for case in odd_gabor_cases(seed, n_cases):
        size, wavelength, theta, sigma = case.args
        gamma, phase = case.kwargs.get("gamma", 0.5), case.kwargs.get("phase", 0.0)
        expected = skimage_gabor(size, wavelength, theta, sigma, gamma, phase)
        actual = call_student(fn, case.args, case.kwargs, name="gabor_kernel", forbidden=LIBRARY_GABOR)
        message = difference(actual, expected)
        if message is not None:
            raise CheckFailure(f"{describe_call('gabor_kernel', case.args, case.kwargs)} {message}"
                               + _likely(actual, gabor_likely_mistakes(*case.args, **case.kwargs)))


def _likely(actual, likely, compare=difference):
    """``".\\nLikely cause: ..."`` for the first ``(description, wrong)`` that ``actual`` equals."""
    for description, wrong in likely:
        if compare(actual, wrong) is None:
            return f".\nLikely cause: {description}"
    return ""


def check_gabor_kernel_rejects_bad_input(fn):
    """``gabor_kernel`` raises ValueError/TypeError for impossible parameters."""
    bad = [
        ((1, 4.0, 0.0, 2.0), {}, ValueError, "a 1x1 kernel is constant: nothing is left after "
                                             "removing its mean (size must be at least 2)", None),
        ((0, 4.0, 0.0, 2.0), {}, ValueError, "the size must be at least 2", None),
        ((7.0, 4.0, 0.0, 2.0), {}, TypeError, "the size must be an integer", None),
        ((7, 0.0, 0.0, 2.0), {}, ValueError, "the wavelength must be positive", ZERO_ACCEPTED),
        ((7, -3.0, 0.0, 2.0), {}, ValueError, "the wavelength must be positive", None),
        ((7, 4.0, 0.0, 0.0), {}, ValueError, "sigma must be positive", ZERO_ACCEPTED),
        ((7, 4.0, 0.0, 2.0), {"gamma": 0.0}, ValueError, "gamma must be positive", ZERO_ACCEPTED),
        ((7, 4.0, float("nan"), 2.0), {}, ValueError, "theta must be a finite number", None),
    ]
    check_accepts(fn, (7, 4.0, 0.0, 2.0), name="gabor_kernel")
    for args, kwargs, exception, reason, cause in bad:
        check_rejects(fn, args, kwargs, exception=exception, reason=reason, if_accepted=cause,
                      name="gabor_kernel")


# ----------------------------------------------------------------------------- lists of maps

def list_difference(actual, expected, item):
    """How the list of arrays ``actual`` differs from the list ``expected``; None if it does not.

    ``item`` names one element in messages ("scale", "band").
    """
    if not isinstance(actual, (list, tuple)):
        return f"returned {describe_type(actual)}; return a list of arrays, one per {item}"
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
        likely = likely_mistakes(*case.args, **case.kwargs) if likely_mistakes else ()
        cause = _likely(actual, likely, lambda a, w: list_difference(a, w, item))
        raise CheckFailure(f"{describe_call(name, case.args, case.kwargs)} {message}{cause}")


def _list_of(actual, count, shape, item, call):
    """Fail unless ``actual`` is a list of ``count`` arrays of shape ``shape``; returns it."""
    if not isinstance(actual, (list, tuple)):
        raise CheckFailure(f"{call} returned {describe_type(actual)}; return a list of arrays, one "
                           f"per {item}")
    if len(actual) != count:
        raise CheckFailure(f"{call} returned {len(actual)} arrays, expected {count} (one per {item})")
    for index, got in enumerate(actual):
        if type(got) is not np.ndarray:
            raise CheckFailure(f"{call} {item} {index}: returned {describe_type(got)}; return a "
                               "numpy.ndarray")
        if got.shape != shape(index):
            raise CheckFailure(f"{call} {item} {index}: returned shape {got.shape}, expected "
                               f"{shape(index)}")
    return actual


# ----------------------------------------------------------------------------- S1

def s1_cases(seed=None, n_cases=20):
    """Random images (H, W) and banks: 1-4 scales of odd sizes, 1-4 orientations, zero regions."""
    rng = make_rng(seed)
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


def correlation_and_norm(image, bank, *, padding="zeros", flip=False):
    """PyTorch's conv2d of ``image`` (H, W) padded by (s - 1) / 2 with every filter of ``bank``.

    Returns ``(correlation (n, H, W), window norm (H, W))``: the cross-correlation with each
    filter (``flip``: with each filter rotated by 180 degrees, a convolution) and
    sqrt(sum of squares) of the padded image under the filter. ``padding``: "zeros" or
    "replicate" (copies of the edge).
    """
    r = (bank.shape[-1] - 1) // 2
    x = _torch(image)[None, None]
    x = F.pad(x, (r,) * 4, mode="constant" if padding == "zeros" else "replicate")
    w = _torch(bank)[:, None]
    if flip:
        w = torch.flip(w, dims=(2, 3))
    correlation = F.conv2d(x, w)[0]
    norm = F.conv2d(x ** 2, torch.ones_like(w[:1])).clamp_min(0.0).sqrt()[0, 0]
    return correlation.numpy(), norm.numpy()


def _s1_relation(got, image, bank, *, padding="zeros", flip=False, absolute=True, divisor="norm"):
    """How ``got`` (n, H, W) breaks ``got * divisor == |correlation|``; None if it does not.

    ``divisor``: the window's "norm", its "energy" (sum of squares), the "image" norm or
    "none". Where the window is all zeros, ``got`` must be 0.
    """
    correlation, norm = correlation_and_norm(image, bank, padding=padding, flip=flip)
    target = np.abs(correlation) if absolute else correlation
    scale = {"norm": norm, "energy": norm ** 2, "image": np.full_like(norm, np.linalg.norm(image)),
             "none": np.ones_like(norm)}[divisor]
    empty = np.broadcast_to(norm == 0, got.shape)
    message = difference(np.where(empty, 0.0, got * scale), target)
    if message is None and np.any(got[empty] != 0):
        first = tuple(int(i) for i in np.argwhere(empty & (got != 0))[0])
        return f"is {got[first]!r} at index {list(first)}, where the window is all zeros: it must be 0"
    return message


def check_s1_layer_against_torch(fn, seed=None, n_cases=3):
    """``s1_layer``, multiplied by the window norm, is the |correlation| of PyTorch's conv2d.

    Both come from PyTorch's conv2d on the zero-padded image: the correlation with each filter
    and sqrt(sum of squares) under the filter. A window of zeros must give 0.
    """
    variants = [
        (S1_NO_ABSOLUTE, {"absolute": False}),
        (S1_NOT_NORMALISED, {"divisor": "none"}),
        (S1_BY_ENERGY, {"divisor": "energy"}),
        (S1_BY_IMAGE_NORM, {"divisor": "image"}),
        (S1_FLIPPED, {"flip": True}),
        (S1_EDGE_PADDING, {"padding": "replicate"}),
    ]
    for case in s1_cases(seed, n_cases):
        image, filters = case.args
        call = describe_call("s1_layer", case.args, {})
        actual = call_student(fn, case.args, name="s1_layer")
        if isinstance(actual, (list, tuple)) and len(actual) == len(filters):
            for index, got in enumerate(actual):
                n_orient, size = filters[index].shape[:2]
                valid = (n_orient, image.shape[0] - size + 1, image.shape[1] - size + 1)
                if size > 1 and getattr(got, "shape", None) == valid:
                    raise CheckFailure(f"{call} scale {index}: returned shape {valid}, expected "
                                       f"{(n_orient,) + image.shape}.\nLikely cause: {S1_NOT_PADDED}")
        _list_of(actual, len(filters), lambda k: (filters[k].shape[0],) + image.shape, "scale", call)
        for index, (got, bank) in enumerate(zip(actual, filters)):
            message = _s1_relation(got, image, bank)
            if message is None:
                continue
            cause = ""
            for description, options in variants:
                if _s1_relation(got, image, bank, **options) is None:
                    cause = f".\nLikely cause: {description}"
                    break
            raise CheckFailure(f"{call} scale {index}, times the window norm, against |correlation| "
                               f"(PyTorch's conv2d): {message}{cause}")


# ----------------------------------------------------------------------------- C1

def c1_cases(seed=None, n_cases=20):
    """Random S1 outputs (2-4 scales of (n_orient, H, W)), pool sizes and strides."""
    rng = make_rng(seed)
    cases = []
    for _ in range(n_cases):
        n_scales, n_orient = int(rng.integers(2, 5)), int(rng.integers(1, 4))
        h, w = (int(v) for v in rng.integers(2, 13, size=2))
        pool = int(rng.integers(1, min(h, w) + 1))
        s1 = [rng.random((n_orient, h, w)) for _ in range(n_scales)]
        cases.append(Case((s1, pool, int(rng.integers(1, 4)))))
    return cases


def _pool(maps, pool_size, stride, kind="max"):
    pool = F.max_pool2d if kind == "max" else F.avg_pool2d
    return pool(_torch(maps)[None], pool_size, stride)[0].numpy()


def check_c1_layer_against_torch(fn, seed=None, n_cases=3):
    """``c1_layer`` against PyTorch and NumPy on two simple relations, on random S1 outputs.

    With equal scales, every band is PyTorch's max_pool2d of that scale (the max over positions);
    with 1x1 windows and stride 1, band b is the element-wise maximum of scales b and b + 1 (the
    max over scales).
    """
    for case in c1_cases(seed, n_cases):
        s1, pool, stride = case.args
        n_bands = len(s1) - 1
        same = [s1[0]] * len(s1)
        call = describe_call("c1_layer", (same, pool, stride), {})
        actual = call_student(fn, (same, pool, stride), name="c1_layer")
        expected = [_pool(s1[0], pool, stride)] * n_bands
        message = list_difference(actual, expected, "band")
        if message is not None:
            likely = [(C1_STRIDE_IGNORED, [_pool(s1[0], pool, pool)] * n_bands),
                      (C1_AVERAGED, [_pool(s1[0], pool, stride, "avg")] * n_bands)]
            cause = _likely(actual, likely, lambda a, w: list_difference(a, w, "band"))
            raise CheckFailure(f"{call} (every scale the same) against PyTorch's max_pool2d of "
                               f"that scale: {message}{cause}")
        call = describe_call("c1_layer", (s1, 1, 1), {})
        actual = call_student(fn, (s1, 1, 1), name="c1_layer")
        expected = [np.maximum(a, b) for a, b in zip(s1[:-1], s1[1:])]
        message = list_difference(actual, expected, "band")
        if message is not None:
            likely = [(C1_NO_SCALE_MAX, s1[:-1]),
                      (C1_LAST_SCALE, [np.maximum(a, s1[-1]) for a in s1[:-1]]),
                      (C1_ALL_SCALES, [np.max(s1, axis=0)] * n_bands)]
            cause = _likely(actual, likely, lambda a, w: list_difference(a, w, "band"))
            raise CheckFailure(f"{call} (1x1 windows) against np.maximum of adjacent scales: "
                               f"{message}{cause}")


# ----------------------------------------------------------------------------- S2

def s2_cases(seed=None, n_cases=20):
    """Random C1 bands of different sizes, prototypes cut from them plus noise, and sigmas."""
    rng = make_rng(seed)
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


def patch_distances(band, prototypes):
    """PyTorch's ``cdist`` between every p x p patch of ``band`` (n_orient, H, W) and every
    prototype (K, n_orient, p, p): (K, H - p + 1, W - p + 1), not squared."""
    n_proto, _, p, _ = prototypes.shape
    h_out, w_out = band.shape[1] - p + 1, band.shape[2] - p + 1
    patches = F.unfold(_torch(band)[None], p)[0].T  # (positions, n_orient * p * p)
    distances = torch.cdist(_torch(prototypes).reshape(n_proto, -1), patches)
    return distances.reshape(n_proto, h_out, w_out).numpy()


def rows_columns_swapped(maps):
    """``maps`` (K, h, w) as a function that swaps the output's rows and columns returns them:
    the row-major positions read as (w, h), then transposed (the maps transposed when h == w)."""
    return maps.reshape(maps.shape[0], maps.shape[2], maps.shape[1]).swapaxes(1, 2)


def check_s2_layer_against_torch(fn, seed=None, n_cases=3):
    """``s2_layer`` turned back into squared distances, -2 sigma^2 log(y), is the squared
    distance between each patch and each prototype, by PyTorch's unfold and cdist."""
    for case in s2_cases(seed, n_cases):
        c1, prototypes, sigma = case.args
        p = prototypes.shape[-1]
        call = describe_call("s2_layer", case.args, {})
        actual = call_student(fn, case.args, name="s2_layer")
        _list_of(actual, len(c1), lambda b: (len(prototypes), c1[b].shape[1] - p + 1,
                                             c1[b].shape[2] - p + 1), "band", call)
        for index, (got, band) in enumerate(zip(actual, c1)):
            if not np.all((got > 0) & (got <= 1)):
                raise CheckFailure(f"{call} band {index}: values from {got.min()!r} to {got.max()!r}; "
                                   "a Gaussian tuning exp(-d^2 / (2 sigma^2)) lies in (0, 1]")
            d2 = -2 * sigma ** 2 * np.log(got)
            want = patch_distances(band, prototypes) ** 2
            compare = lambda a, w: difference(a, w, rtol=1e-6, atol=1e-9 * (1 + 2 * sigma ** 2))  # noqa: E731
            message = compare(d2, want)
            if message is None:
                continue
            likely = [(S2_SIGMA_NOT_SQUARED, sigma * want), (S2_NO_FACTOR_2, 2 * want),
                      (S2_DISTANCE_NOT_SQUARED, np.sqrt(want)),
                      (S2_MEAN_OF_SQUARES, want / prototypes[0].size),
                      (S2_PROTOTYPES_TRANSPOSED, patch_distances(band, prototypes.swapaxes(2, 3)) ** 2),
                      (S2_ROWS_COLUMNS_SWAPPED, rows_columns_swapped(want))]
            raise CheckFailure(f"{call} band {index}, turned back into squared distances "
                               f"(-2 sigma^2 log y), against PyTorch's cdist of the patches and "
                               f"prototypes: {message}{_likely(d2, likely, compare)}")


def c2_cases(seed=None, n_cases=20):
    """Random S2 outputs: 1-4 bands of (K, h, w) with different sizes, values in (0, 1]."""
    rng = make_rng(seed)
    cases = []
    for _ in range(n_cases):
        n_proto = int(rng.integers(1, 7))
        cases.append(Case(([rng.random((n_proto, int(rng.integers(1, 7)), int(rng.integers(1, 7))))
                            for _ in range(int(rng.integers(1, 5)))],)))
    return cases


def check_hmax_rejects_bad_input(s1_layer, c1_layer, s2_layer, c2_layer, seed=None):
    """The four HMAX layers raise ValueError/TypeError for impossible shapes and parameters."""
    rng = make_rng(seed)
    image, bank = rng.random((8, 8)), rng.normal(size=(2, 3, 3))
    s1 = [rng.random((2, 8, 8)) for _ in range(3)]
    c1 = [rng.random((2, 5, 5)), rng.random((2, 4, 4))]
    protos = rng.random((3, 2, 2, 2))
    bad = [
        (s1_layer, (rng.random((1, 8, 8)), [bank]), ValueError, "the image must be 2-D (H, W)", None),
        (s1_layer, (image, []), ValueError, "there must be at least one scale", None),
        (s1_layer, (image, [rng.normal(size=(2, 4, 4))]), ValueError,
         "a filter of even size has no centre pixel", None),
        (s1_layer, (image, [rng.normal(size=(2, 3, 5))]), ValueError, "filters must be square", None),
        (s1_layer, (image, [bank, rng.normal(size=(3, 5, 5))]), ValueError,
         "every scale needs the same number of orientations", None),
        (c1_layer, (s1[:1], 2, 2), ValueError, "C1 pairs adjacent scales: it needs at least 2",
         C1_ONE_SCALE),
        (c1_layer, ([s1[0], rng.random((2, 7, 8))], 2, 2), ValueError,
         "the scales have different shapes", None),
        (c1_layer, (s1, 9, 1), ValueError, "a 9x9 window does not fit in 8x8 maps", None),
        (c1_layer, (s1, 2, 0), ValueError, "the stride must be at least 1", None),
        (c1_layer, (s1, 2.0, 1), TypeError, "the pool size must be an integer", None),
        (s2_layer, (c1, protos, 0.0), ValueError, "sigma must be positive", None),
        (s2_layer, (c1, rng.random((3, 4, 2, 2)), 1.0), ValueError,
         "the prototypes have 4 orientations, the bands 2", None),
        (s2_layer, (c1, rng.random((3, 2, 5, 5)), 1.0), ValueError,
         "a 5x5 prototype does not fit in the 4x4 band", None),
        (s2_layer, (c1, rng.random((2, 2, 2)), 1.0), ValueError,
         "the prototypes must be 4-D (n_prototypes, n_orientations, p, p)", None),
        (c2_layer, ([],), ValueError, "there must be at least one band", None),
        (c2_layer, ([rng.random((3, 2, 2)), rng.random((4, 2, 2))],), ValueError,
         "the bands have different numbers of prototypes", None),
    ]
    for fn, args in ((s1_layer, (image, [bank])), (c1_layer, (s1, 2, 2)), (s2_layer, (c1, protos, 1.0)),
                     (c2_layer, ([rng.random((3, 2, 2)), rng.random((3, 1, 1))],))):
        check_accepts(fn, args)
    for fn, args, exception, reason, cause in bad:
        check_rejects(fn, args, exception=exception, reason=reason, if_accepted=cause)


# ----------------------------------------------------------------------------- models

@wire.transferable
class TwoHeads(nn.Module):
    """A model whose last nn.Linear is a top-level attribute, after a nested one."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(5, 7)
        self.block = nn.Sequential(nn.ReLU(), nn.Linear(7, 4))
        self.head = nn.Linear(4, 3)

    def forward(self, x):
        return self.head(self.block(self.fc1(x)))


def deep_chain():
    """nn.Sequential of 12 small linear layers: names 0..11, so the prefix "1" matches 1, 10, 11."""
    return nn.Sequential(*[nn.Linear(3, 3) for _ in range(12)])


def mid_training(model):
    """``model`` with a gradient in every parameter, as after a backward pass; returns it.

    ``freeze`` is typically called between training steps. Under grading it matters too: a
    parameter whose values the student's code left unchanged and which holds no gradient comes
    back from the kernel as a reference to the grader's own tensor, without a change of its
    requires_grad; a parameter holding a gradient comes back in full.
    """
    for parameter in model.parameters():
        parameter.grad = torch.ones_like(parameter)
    return model


def call_in_place(fn, args, *, name, call):
    """``fn(*args)`` on the objects themselves (it changes a model in place); its result.

    A stub, an error or an answer the grader cannot read becomes a readable ``CheckFailure``
    whose ``__cause__`` is the error.
    """
    try:
        return fn(*args)
    except NotImplementedError:
        raise CheckFailure(not_implemented_message(name)) from None
    except CheckFailure:
        raise
    except wire.WireError as error:  # the grader could not send the arguments: not the student's
        raise RuntimeError(f"{call}: {error}") from error
    except Exception as error:
        if isinstance(error, TypeError) and ("could not be read" in str(error)
                                             or "cannot read" in str(error)):
            raise CheckFailure(f"{call} left in the model an object the grader cannot read back "
                               f"({error}).\nLikely cause: {OWN_CLASS}") from error
        raise CheckFailure(f"{call} raised {type(error).__name__}: {error}") from error


def trainable_names(model):
    """The names of the parameters of ``model`` that have requires_grad, in order."""
    return [name for name, parameter in model.named_parameters() if parameter.requires_grad]


def freeze_message(call, actual, expected, before, trainable, likely=()):
    """The message for a wrong ``requires_grad`` pattern, with the likely cause.

    ``actual``, ``expected``, ``before``: ``{name: requires_grad}`` after the student's call, as
    it should be, and before the call. ``likely``: ``(description, {name: requires_grad})`` pairs
    of known wrong patterns, tried first.
    """
    wrong = [name for name in expected if actual[name] != expected[name]]
    listed = [name for name in expected if expected[name]]
    detail = (f"requires_grad is wrong for {len(wrong)} of {len(expected)} parameters, first "
              f"{wrong[0]!r}: got {actual[wrong[0]]}, expected {expected[wrong[0]]}")
    known = [description for description, pattern in likely if pattern == actual]
    rules = [
        (STRING_AS_LETTERS, isinstance(trainable, str) and all(actual.values())),
        (ALL_TRAINABLE, all(actual.values())),
        (INVERTED, all(actual[name] != expected[name] for name in expected)),
        (STICKY, all(actual[name] == (before[name] and expected[name]) for name in expected)),
        (NOTHING_TRAINABLE, bool(listed) and not any(actual.values())),
        (NOT_STARTSWITH, True),
    ]
    cause = (known + [description for description, applies in rules if applies])[0]
    return f"{call}: {detail}.\nLikely cause: {cause}"


def check_freeze_call(fn, model, trainable, expected, likely=()):
    """``freeze(model, trainable)`` leaves exactly the parameters ``expected`` trainable.

    ``model`` is a fixture (given gradients, see :func:`mid_training`); ``expected`` lists the
    names that must have requires_grad True (all others False). ``freeze`` must return the model
    itself and leave the values unchanged. ``likely``: see :func:`freeze_message`.
    """
    mid_training(model)
    before = {name: p.requires_grad for name, p in model.named_parameters()}
    values = {name: p.detach().clone() for name, p in model.named_parameters()}
    want = {name: name in expected for name in before}
    call = f"freeze({type(model).__name__}(), {trainable!r})"
    try:
        result = call_in_place(fn, (model, trainable), name="freeze", call=call)
    except CheckFailure as failure:
        if isinstance(trainable, str) and failure.__cause__ is not None:
            raise CheckFailure(f"{failure}.\nLikely cause: {STRING_AS_LETTERS}") from failure.__cause__
        raise
    if result is not model:
        cause = f".\nLikely cause: {NO_RETURN}" if result is None else ""
        raise CheckFailure(f"{call} returned {describe_value(result)}; return the model itself "
                           f"(changed in place){cause}")
    actual = {name: p.requires_grad for name, p in model.named_parameters()}
    if actual != want:
        raise CheckFailure(freeze_message(call, actual, want, before, trainable, likely))
    for name, parameter in model.named_parameters():
        if not torch.equal(parameter.detach(), values[name]):
            raise CheckFailure(f"{call} changed the values of {name!r}: only requires_grad may change")


def expect_error(fn, args, exception, *, call, reason, name, if_accepted=None):
    """Fail unless ``fn(*args)`` raises ``exception``; ``call`` shows the call in messages.

    ``if_accepted`` names the likely mistake when the call returns without error.
    """
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
    likely = f".\nLikely cause: {if_accepted}" if if_accepted else ""
    raise CheckFailure(f"{call} returned without error; expected {exception.__name__} because "
                       f"{reason}{likely}")


def check_freeze_rejects_bad_input(fn):
    """``freeze`` raises TypeError for a model or prefix of the wrong type, ValueError for a typo."""
    bad = [
        ((MnistCNN(), ["clasifier"]), ValueError, "freeze(MnistCNN(), ['clasifier'])",
         "no parameter name starts with 'clasifier' (a typo would freeze everything)", UNKNOWN_PREFIX),
        ((MnistCNN(), ["features", "head"]), ValueError, "freeze(MnistCNN(), ['features', 'head'])",
         "no parameter name of MnistCNN starts with 'head'", UNKNOWN_PREFIX),
        (("MnistCNN", ["classifier"]), TypeError, "freeze('MnistCNN', ['classifier'])",
         "the model must be a torch.nn.Module, not a str", None),
        (({"classifier.3.weight": np.zeros((10, 64))}, ["classifier"]), TypeError,
         "freeze({'classifier.3.weight': array}, ['classifier'])",
         "the model must be a torch.nn.Module, not a dict (a state dict is not the model)", None),
        ((MnistCNN(), [3]), TypeError, "freeze(MnistCNN(), [3])", "a prefix must be a str", None),
    ]
    call_in_place(fn, (MnistCNN(), ["classifier"]), name="freeze",
                  call="freeze(MnistCNN(), ['classifier'])")  # valid input
    for args, exception, call, reason, cause in bad:
        expect_error(fn, args, exception, call=call, reason=reason, name="freeze", if_accepted=cause)


def _frozen_cnn():
    model = MnistCNN()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


def replace_head_cases():
    """``(description, model factory, num_classes, path of the last nn.Linear)``."""
    return [
        ("MnistCNN()", MnistCNN, 3, "classifier.3"),
        ("MnistCNN() with every parameter frozen", _frozen_cnn, 10, "classifier.3"),
        ("TwoHeads() (fc1, block.1, head)", TwoHeads, 6, "head"),
        ("a float64 nn.Sequential whose last Linear has no bias",
         lambda: nn.Sequential(nn.Linear(6, 5), nn.Tanh(),
                               nn.Sequential(nn.Linear(5, 4, bias=False))).double(), 2, "2.0"),
        ("nn.Sequential of 12 Linear layers", deep_chain, 1, "11"),
    ]


def _input_for(model):
    first = next(m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d)))
    dtype = first.weight.dtype
    if isinstance(first, nn.Conv2d):
        return torch.zeros(2, 1, 28, 28, dtype=dtype)
    return torch.zeros(2, first.in_features, dtype=dtype)


def _not_replaced_cause(model, path, modules_before):
    """Why model.{path} is still the old layer: which module changed instead, if one did."""
    after = dict(model.named_modules())
    changed = [name for name, module in after.items()
               if name and (name not in modules_before or modules_before[name] is not module)]
    child = path.rpartition(".")[2]
    if child in changed and "." in path:
        return f"\nLikely cause: {HEAD_AT_ROOT}"
    if any(isinstance(after[name], nn.Linear) for name in changed):
        return f"\nLikely cause: {FIRST_LINEAR} (model.{changed[0]} changed)"
    return ""


def check_head_replaced(fn, model, num_classes, path, description):
    """``replace_head(model, num_classes)`` puts a fresh nn.Linear at ``path`` and nothing else.

    ``path`` is the name of the model's last nn.Linear in ``named_modules()`` order;
    ``description`` names the model in messages.
    """
    call = f"replace_head({description}, {num_classes})"
    old = model.get_submodule(path)
    modules_before = dict(model.named_modules())
    values = {name: p.detach().clone() for name, p in model.named_parameters()}
    result = call_in_place(fn, (model, num_classes), name="replace_head", call=call)
    if result is not model:
        cause = f".\nLikely cause: {NO_RETURN}" if result is None else ""
        raise CheckFailure(f"{call} returned {describe_value(result)}; return the model itself{cause}")
    new = model.get_submodule(path)
    if new is old:
        raise CheckFailure(f"{call}: model.{path} is still the old layer; replace the last "
                           "nn.Linear (in named_modules order) by a new one."
                           + _not_replaced_cause(model, path, modules_before))
    if type(new) is not nn.Linear:
        raise CheckFailure(f"{call}: model.{path} is a {type(new).__name__}, expected torch.nn.Linear "
                           f"itself.\nLikely cause: {OWN_CLASS}")
    expected = (old.in_features, num_classes, old.bias is not None, old.weight.dtype)
    got = (new.in_features, new.out_features, new.bias is not None, new.weight.dtype)
    if got != expected:
        cause = ""
        if new.in_features == old.out_features != old.in_features:
            cause = OUT_AS_IN
        elif got[2] != expected[2]:
            cause = BIAS_ADDED if got[2] else BIAS_DROPPED
        elif got[3] != expected[3]:
            cause = DTYPE_LOST
        raise CheckFailure(
            f"{call}: the new model.{path} has (in_features, out_features, bias, dtype) = {got}, "
            f"expected {expected}" + (f".\nLikely cause: {cause}" if cause else ""))
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


def check_replace_head(fn, seed=None):
    """``replace_head`` swaps the last nn.Linear for a fresh one, everywhere in the module tree."""
    torch.manual_seed(int(make_rng(seed).integers(2 ** 31)))
    for description, make, num_classes, path in replace_head_cases():
        check_head_replaced(fn, make(), num_classes, path, description)
    bare = nn.Linear(4, 2)
    result = call_in_place(fn, (bare, 5), name="replace_head", call="replace_head(nn.Linear(4, 2), 5)")
    if not (type(result) is nn.Linear and result is not bare
            and (result.in_features, result.out_features) == (4, 5)):
        raise CheckFailure(f"replace_head(nn.Linear(4, 2), 5) returned {describe_value(result)}; a "
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
        ((np.zeros((10, 64)), 3), TypeError, "replace_head(array of shape (10, 64), 3)",
         "the model must be a torch.nn.Module, not an array (a weight matrix is not the model)"),
    ]
    call_in_place(fn, (MnistCNN(), 3), name="replace_head", call="replace_head(MnistCNN(), 3)")  # valid input
    for args, exception, call, reason in bad:
        expect_error(fn, args, exception, call=call, reason=reason, name="replace_head")
