"""Hidden checks of notebook 09 (HMAX and transfer learning): grader only, never shipped.

The hand-written references the hidden tests compare with, each independent of the notebook's
solutions: the Gabor formula evaluated in PyTorch (even sizes; scikit-image's kernel for odd
ones), S1 with PyTorch's conv2d, C1 with max_pool2d, S2 with unfold, C2 with amax, brute-force
loops of all four layers, and the requires_grad pattern ``freeze`` must leave; and the
generators of likely wrong answers, which are near-copies of the solutions. The comparisons and
messages are the student-side ones of :mod:`autograder.hmax_transfer`. Hidden tests pass no seed:
the cases come from the grading run's seed.
"""
import math

import numpy as np
import torch
import torch.nn.functional as F

from autograder import hmax_transfer as student
from autograder.checking import Case, check_against_oracle, make_rng
from autograder.hmax_transfer import (
    C1_ALL_SCALES, C1_AVERAGED, C1_LAST_SCALE, C1_NO_SCALE_MAX, C1_STRIDE_IGNORED, C2_AVERAGED_POSITIONS,
    C2_FIRST_BAND, C2_LAST_BAND, C2_MEAN_OVER_BANDS, C2_OVER_PROTOTYPES, CENTRE_AT_HALF_SIZE,
    GAMMA_ON_X, LIBRARY_GABOR, NO_UNIT_NORM, NO_ZERO_MEAN, PHASE_SUBTRACTED, ROTATION_SIGN,
    S1_BY_ENERGY, S1_BY_IMAGE_NORM, S1_EDGE_PADDING, S1_FLIPPED, S1_NO_ABSOLUTE, S1_NOT_NORMALISED,
    S2_DISTANCE_NOT_SQUARED, S2_MEAN_OF_SQUARES, S2_NO_FACTOR_2, S2_PROTOTYPES_TRANSPOSED,
    S2_ROWS_COLUMNS_SWAPPED, S2_SIGMA_NOT_SQUARED, SIGMA_AS_VARIANCE, STRING_AS_LETTERS,
    THETA_IN_DEGREES, WAVELENGTH_AS_FREQUENCY, X_Y_SWAPPED, MnistCNN, TwoHeads, check_freeze_call,
    check_list_function, deep_chain, rows_columns_swapped,
)


def _torch(array):
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float64))


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
    """The notebook's Gabor kernel: scikit-image's for odd sizes, the PyTorch formula for even."""
    if size % 2 == 0:
        return gabor_formula_torch(size, wavelength, theta, sigma, gamma, phase)
    return student.skimage_gabor(size, wavelength, theta, sigma, gamma, phase)


def mistakes_gabor(size, wavelength, theta, sigma, gamma=0.5, phase=0.0):
    """Known wrong answers of ``gabor_kernel`` (any size): ``[(description, array)]``."""
    def formula(**changes):
        values = {"size": size, "wavelength": wavelength, "theta": theta, "sigma": sigma,
                  "gamma": gamma, "phase": phase}
        switches = {k: changes.pop(k) for k in list(changes) if k not in values}
        values.update(changes)
        return gabor_formula_torch(**values, **switches)

    return [
        (THETA_IN_DEGREES, formula(theta=np.deg2rad(theta))),
        (X_Y_SWAPPED, formula(swap_xy=True)),
        (ROTATION_SIGN, formula(rotation_sign=-1.0)),
        (NO_ZERO_MEAN, formula(zero_mean=False)),
        (NO_UNIT_NORM, formula(unit_norm=False)),
        (GAMMA_ON_X, formula(gamma_on_x=True)),
        (SIGMA_AS_VARIANCE, formula(sigma_is_variance=True)),
        (WAVELENGTH_AS_FREQUENCY, formula(wavelength=1.0 / wavelength)),
        (PHASE_SUBTRACTED, formula(phase=-phase)),
        (CENTRE_AT_HALF_SIZE, formula(centre=size // 2)),
    ]


def gabor_cases(seed=None, n_cases=30):
    """Random Gabor parameters: sizes 2..21 (odd and even), any angle, phases, gammas."""
    rng = make_rng(seed)
    cases = [Case((7, 4.0, 0.0, 2.0)), Case((8, 5.0, math.pi / 3, 2.5)),
             Case((9, 4.0, 1.0, 2.0), {"gamma": 1.0, "phase": math.pi / 2})]
    for _ in range(n_cases - len(cases)):
        args = (int(rng.integers(2, 22)), float(rng.uniform(2.0, 12.0)),
                float(rng.uniform(-math.pi, 2 * math.pi)), float(rng.uniform(0.8, 6.0)))
        kwargs = {"gamma": float(rng.uniform(0.2, 1.5)), "phase": float(rng.uniform(-math.pi, math.pi))}
        cases.append(Case(args, kwargs))
    return cases


def check_gabor_kernel(fn, seed=None, n_cases=30):
    """``gabor_kernel`` equals scikit-image's kernel (odd sizes) and the formula (even sizes)."""
    check_against_oracle(fn, oracle_gabor_kernel, gabor_cases(seed, n_cases), name="gabor_kernel",
                         forbidden=LIBRARY_GABOR, likely_mistakes=mistakes_gabor)


# ----------------------------------------------------------------------------- S1

def oracle_s1_layer(image, filters, *, absolute=True, normalise="norm", flip=False, padding="zeros"):
    """S1 with PyTorch's conv2d: |correlation| / sqrt(window energy), zero 'same' padding.

    The keyword switches build known wrong variants.
    """
    out = []
    for bank in filters:
        correlation, norm = student.correlation_and_norm(image, bank, padding=padding, flip=flip)
        response = np.abs(correlation) if absolute else correlation
        scale = {"norm": norm, "energy": norm ** 2, "global": np.full_like(norm, np.linalg.norm(image)),
                 None: np.ones_like(norm)}[normalise]
        out.append(np.where(scale > 0, response / np.where(scale > 0, scale, 1.0), 0.0))
    return out


def mistakes_s1(image, filters):
    """Known wrong answers of ``s1_layer``."""
    variants = [
        (S1_NO_ABSOLUTE, {"absolute": False}),
        (S1_NOT_NORMALISED, {"normalise": None}),
        (S1_BY_ENERGY, {"normalise": "energy"}),
        (S1_BY_IMAGE_NORM, {"normalise": "global"}),
        (S1_FLIPPED, {"flip": True}),
        (S1_EDGE_PADDING, {"padding": "replicate"}),
    ]
    return [(text, oracle_s1_layer(image, filters, **kw)) for text, kw in variants]


def brute_force_s1(image, filters):
    """S1 by loops over scales, pixels and orientations."""
    height, width = image.shape
    out = []
    for bank in filters:
        r = bank.shape[1] // 2
        padded = np.zeros((height + 2 * r, width + 2 * r))
        padded[r:r + height, r:r + width] = image
        maps = np.zeros((bank.shape[0], height, width))
        for i in range(height):
            for j in range(width):
                window = padded[i:i + 2 * r + 1, j:j + 2 * r + 1]
                norm = math.sqrt(float(np.sum(window * window)))
                for o in range(bank.shape[0]):
                    maps[o, i, j] = abs(float(np.sum(window * bank[o]))) / norm if norm > 0 else 0.0
        out.append(maps)
    return out


def check_s1_layer(fn, seed=None, n_cases=20, oracle=oracle_s1_layer):
    """``s1_layer`` equals ``oracle`` (default: PyTorch's conv2d) on random images and banks."""
    check_list_function(fn, oracle, student.s1_cases(seed, n_cases), name="s1_layer", item="scale",
                        likely_mistakes=mistakes_s1)


# ----------------------------------------------------------------------------- C1

def _pool(maps, pool_size, stride, kind="max"):
    pool = F.max_pool2d if kind == "max" else F.avg_pool2d
    return pool(_torch(maps)[None], pool_size, stride)[0].numpy()


def oracle_c1_layer(s1, pool_size, stride):
    """C1 with PyTorch's max_pool2d on the element-wise max of adjacent scales."""
    return [_pool(np.maximum(a, b), pool_size, stride) for a, b in zip(s1[:-1], s1[1:])]


def mistakes_c1(s1, pool_size, stride):
    """Known wrong answers of ``c1_layer``."""
    everything = np.max(np.stack(s1), axis=0)
    return [
        (C1_NO_SCALE_MAX, [_pool(s, pool_size, stride) for s in s1[:-1]]),
        (C1_ALL_SCALES, [_pool(everything, pool_size, stride)] * (len(s1) - 1)),
        (C1_LAST_SCALE, [_pool(np.maximum(s, s1[-1]), pool_size, stride) for s in s1[:-1]]),
        (C1_STRIDE_IGNORED, oracle_c1_layer(s1, pool_size, pool_size)),
        (C1_AVERAGED, [_pool(np.maximum(a, b), pool_size, stride, "avg") for a, b in zip(s1[:-1], s1[1:])]),
    ]


def brute_force_c1(s1, pool_size, stride):
    """C1 by loops over bands, orientations and output positions."""
    bands = []
    for b in range(len(s1) - 1):
        n_orient, height, width = s1[b].shape
        h_out, w_out = (height - pool_size) // stride + 1, (width - pool_size) // stride + 1
        band = np.zeros((n_orient, h_out, w_out))
        for o in range(n_orient):
            for i in range(h_out):
                for j in range(w_out):
                    rows = slice(i * stride, i * stride + pool_size)
                    cols = slice(j * stride, j * stride + pool_size)
                    band[o, i, j] = max(s1[b][o, rows, cols].max(), s1[b + 1][o, rows, cols].max())
        bands.append(band)
    return bands


def check_c1_layer(fn, seed=None, n_cases=20, oracle=oracle_c1_layer):
    """``c1_layer`` equals ``oracle`` (default: PyTorch's max_pool2d) on random S1 outputs."""
    check_list_function(fn, oracle, student.c1_cases(seed, n_cases), name="c1_layer", item="band",
                        likely_mistakes=mistakes_c1)


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


def mistakes_s2(c1, prototypes, sigma):
    """Known wrong answers of ``s2_layer``."""
    d2 = [squared_distances(band, prototypes) for band in c1]
    n = prototypes[0].size
    right = oracle_s2_layer(c1, prototypes, sigma)
    return [
        (S2_SIGMA_NOT_SQUARED, [np.exp(-d / (2 * sigma)) for d in d2]),
        (S2_NO_FACTOR_2, [np.exp(-d / sigma ** 2) for d in d2]),
        (S2_DISTANCE_NOT_SQUARED, [np.exp(-np.sqrt(d) / (2 * sigma ** 2)) for d in d2]),
        (S2_MEAN_OF_SQUARES, [np.exp(-d / n / (2 * sigma ** 2)) for d in d2]),
        (S2_PROTOTYPES_TRANSPOSED, oracle_s2_layer(c1, prototypes.transpose(0, 1, 3, 2).copy(), sigma)),
        (S2_ROWS_COLUMNS_SWAPPED, [rows_columns_swapped(band) for band in right]),
    ]


def brute_force_s2(c1, prototypes, sigma):
    """S2 by loops over bands, prototypes and positions."""
    n_proto, _, p, _ = prototypes.shape
    out = []
    for band in c1:
        h_out, w_out = band.shape[1] - p + 1, band.shape[2] - p + 1
        response = np.zeros((n_proto, h_out, w_out))
        for k in range(n_proto):
            for i in range(h_out):
                for j in range(w_out):
                    distance2 = float(np.sum((band[:, i:i + p, j:j + p] - prototypes[k]) ** 2))
                    response[k, i, j] = np.exp(-distance2 / (2 * sigma ** 2))
        out.append(response)
    return out


def check_s2_layer(fn, seed=None, n_cases=20, oracle=oracle_s2_layer):
    """``s2_layer`` equals ``oracle`` (default: PyTorch's unfold) on random bands and prototypes."""
    check_list_function(fn, oracle, student.s2_cases(seed, n_cases), name="s2_layer", item="band",
                        likely_mistakes=mistakes_s2)


# ----------------------------------------------------------------------------- C2

def oracle_c2_layer(s2):
    """C2 with PyTorch: the max over positions of every band, then over bands."""
    return torch.stack([_torch(band).amax(dim=(1, 2)) for band in s2]).amax(dim=0).numpy()


def mistakes_c2(s2):
    """Known wrong answers of ``c2_layer``."""
    maxima = np.stack([band.max(axis=(1, 2)) for band in s2])
    return [
        (C2_FIRST_BAND, maxima[0]),
        (C2_LAST_BAND, maxima[-1]),
        (C2_AVERAGED_POSITIONS, np.max([band.mean(axis=(1, 2)) for band in s2], axis=0)),
        (C2_MEAN_OVER_BANDS, maxima.mean(axis=0)),
        (C2_OVER_PROTOTYPES, np.full(len(s2[0]), maxima.max())),
    ]


def brute_force_c2(s2):
    """C2 by a loop over prototypes and bands."""
    return np.array([max(float(band[k].max()) for band in s2) for k in range(s2[0].shape[0])])


def check_c2_layer(fn, seed=None, n_cases=20, oracle=oracle_c2_layer):
    """``c2_layer`` equals ``oracle`` on random S2 outputs."""
    check_against_oracle(fn, oracle, student.c2_cases(seed, n_cases), name="c2_layer",
                         likely_mistakes=mistakes_c2)


# ----------------------------------------------------------------------------- freeze

def freeze_cases(seed=None):
    """``(model, trainable)`` pairs: a fresh MnistCNN, then models with a random initial
    requires_grad pattern."""
    rng = make_rng(seed)
    cases = [
        (MnistCNN, ()),
        (MnistCNN, ["classifier"]),
        (MnistCNN, ("features.0.weight", "classifier.3.bias")),
        (MnistCNN, "classifier.3"),
        (MnistCNN, ["features.3", "classifier.1", "classifier.3.weight"]),
        (deep_chain, ["1"]),
        (deep_chain, ["0.", "5.bias"]),
        (TwoHeads, ["block.1"]),
        (TwoHeads, ["fc1", "head"]),
    ]
    found = [(MnistCNN(), ["classifier.3"])]  # every parameter trainable, as a new model has them
    for make, trainable in cases:
        model = make()
        for parameter in model.parameters():  # a correct freeze must also switch some on
            parameter.requires_grad_(bool(rng.integers(2)))
        found.append((model, trainable))
    return found


def expected_trainable(model, trainable):
    """The names of the parameters of ``model`` that ``freeze(model, trainable)`` leaves trainable."""
    prefixes = (trainable,) if isinstance(trainable, str) else tuple(trainable)
    return [name for name, _ in model.named_parameters() if name.startswith(prefixes)]


def _pattern(model, names):
    return {name: name in names for name, _ in model.named_parameters()}


def check_freeze(fn, seed=None):
    """``freeze`` sets requires_grad by name prefix, keeps the values, returns the model."""
    for model, trainable in freeze_cases(seed):
        likely = []
        if isinstance(trainable, str):
            likely.append((STRING_AS_LETTERS, _pattern(model, expected_trainable(model, tuple(trainable)))))
        check_freeze_call(fn, model, trainable, expected_trainable(model, trainable), likely)

