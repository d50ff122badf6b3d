"""Which elements share statistics: the normalization explorer of notebook 07.

Choose a normalization (BatchNorm, LayerNorm, InstanceNorm, GroupNorm with its number of groups,
PixelNorm) and the batch size. The left panel draws the N x C x (H*W) block of activations as a
cube (as in Wu & He's GroupNorm paper): the elements normalized with one mean and variance have
one colour, the set holding element (0, 0, 0) in strong blue. The other panels show the mean and
the standard deviation over H*W of each (sample, channel) of a normalized random batch, and the
summary states the statistics over each set and whether sample 0 depends on the others.

The normalizations are PyTorch's (``torch.nn.functional``); nothing here uses student code.
Drawing is done with Pillow. Measured: ``render`` takes about 13 ms (median over the five
normalizations, batch 6) on the course's 2-core CPU while other jobs were running.
"""
import math

import ipywidgets as widgets
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from ..threads import one_thread
from .common import DIVERGING_LUT, colour_table, enlarge, explorer, panel_column, to_png

KINDS = ("BatchNorm", "LayerNorm", "InstanceNorm", "GroupNorm", "PixelNorm")
CHANNELS = 6
SIDE = 4  # H = W = SIDE
POSITIONS = SIDE * SIDE
GROUP_CHOICES = tuple(g for g in range(1, CHANNELS + 1) if CHANNELS % g == 0)
MAX_BATCH = 6
PANEL_NAMES = ("cube", "mean", "std")

HIGHLIGHT = np.array([31, 119, 210])
PASTELS = np.array([[253, 205, 172], [179, 226, 205], [203, 213, 232], [244, 202, 228],
                    [230, 245, 201], [255, 242, 174], [241, 226, 204]])
GRID = (90, 90, 90)
CELL = 12
DEPTH = (9, 7)  # pixels right and up per sample along the N axis
MARGIN = 22
STAT_CELL = 22
_SEQUENTIAL = colour_table("viridis", 255)


def _check_settings(kind, batch, groups):
    if kind not in KINDS:
        raise ValueError(f"unknown normalization {kind!r}; choose one of {', '.join(KINDS)}")
    if not 1 <= batch <= MAX_BATCH:
        raise ValueError(f"batch must lie in 1..{MAX_BATCH}, got {batch}")
    if kind == "GroupNorm" and groups not in GROUP_CHOICES:
        raise ValueError(f"GroupNorm needs a number of groups dividing {CHANNELS}: "
                         f"{', '.join(map(str, GROUP_CHOICES))}; got {groups}")


def statistics_groups(kind, batch, channels, positions, groups=1):
    """Which elements share one mean and variance.

    kind: one of KINDS; batch, channels, positions: N, C and H*W; groups: GroupNorm's G (a divisor
    of C). Returns an int array (N, C, H*W): equal numbers mark the elements of one set.
    Raises ValueError for an unknown kind or a G that does not divide C.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown normalization {kind!r}; choose one of {', '.join(KINDS)}")
    if kind == "GroupNorm" and (groups < 1 or channels % groups):
        raise ValueError(f"{groups} groups do not divide {channels} channels")
    n = np.arange(batch)[:, None, None]
    c = np.arange(channels)[None, :, None]
    p = np.arange(positions)[None, None, :]
    ids = {
        "BatchNorm": c + 0 * n,
        "LayerNorm": n + 0 * c,
        "InstanceNorm": n * channels + c,
        "GroupNorm": n * groups + c // max(1, channels // groups),
        "PixelNorm": n * positions + p,
    }[kind]
    return np.broadcast_to(ids, (batch, channels, positions)).copy()


def random_batch(batch, seed=0):
    """A random batch (N, C, SIDE, SIDE), each (sample, channel) with its own offset and scale."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(MAX_BATCH, CHANNELS, SIDE, SIDE))
    loc = rng.normal(0.0, 2.0, size=(MAX_BATCH, CHANNELS, 1, 1))
    scale = rng.uniform(0.3, 3.0, size=(MAX_BATCH, CHANNELS, 1, 1))
    return (loc + scale * x)[:batch]


def normalize(kind, x, groups=1):
    """Normalize ``x`` (N, C, H, W) with PyTorch, no affine parameters; returns a numpy array."""
    with one_thread():
        return _normalize(kind, torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64)), groups)


def _normalize(kind, t, groups):
    if kind == "BatchNorm":
        out = F.batch_norm(t, None, None, training=True)
    elif kind == "LayerNorm":
        out = F.layer_norm(t, t.shape[1:])
    elif kind == "InstanceNorm":
        out = F.instance_norm(t)
    elif kind == "GroupNorm":
        out = F.group_norm(t, groups)
    else:
        out = F.normalize(t, dim=1) * math.sqrt(t.shape[1])
    return out.numpy()


def _face_colours(ids):
    """RGB (…, 3) for an array of set ids: the set of element (0, 0, 0) blue, others pastel."""
    colours = PASTELS[ids % len(PASTELS)]
    colours[ids == 0] = HIGHLIGHT
    return colours


def _shade(colour, factor):
    return tuple(int(min(255, v * factor)) for v in colour)


def draw_cube(ids):
    """Draw the (N, C, H*W) block of set ids as a cube; returns RGB uint8 (height, width, 3).

    C runs to the right, H*W downwards, N into the page (sample 0 in front): the front face is
    sample 0, the top face shows position 0 of every sample, the right face channel C-1.
    """
    batch, channels, positions = ids.shape
    dx, dy = DEPTH
    width = 2 * MARGIN + channels * CELL + batch * dx + 10
    height = 2 * MARGIN + positions * CELL + batch * dy
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    left, top = MARGIN, MARGIN + batch * dy
    right = left + channels * CELL
    colours = _face_colours(ids)
    for c in range(channels):
        for p in range(positions):
            x0, y0 = left + c * CELL, top + p * CELL
            draw.rectangle([x0, y0, x0 + CELL, y0 + CELL], fill=tuple(colours[0, c, p]), outline=GRID)
    for n in range(batch):
        for c in range(channels):
            corners = [(left + c * CELL + k * dx, top - k * dy) for k in (n, n + 1)]
            polygon = [corners[0], (corners[0][0] + CELL, corners[0][1]),
                       (corners[1][0] + CELL, corners[1][1]), corners[1]]
            draw.polygon(polygon, fill=_shade(colours[n, c, 0], 1.12), outline=GRID)
        for p in range(positions):
            polygon = [(right + n * dx, top + p * CELL - n * dy),
                       (right + (n + 1) * dx, top + p * CELL - (n + 1) * dy),
                       (right + (n + 1) * dx, top + (p + 1) * CELL - (n + 1) * dy),
                       (right + n * dx, top + (p + 1) * CELL - n * dy)]
            draw.polygon(polygon, fill=_shade(colours[n, channels - 1, p], 0.82), outline=GRID)
    draw.text((left + channels * CELL // 2 - 3, top + positions * CELL + 4), "C", fill="black")
    draw.text((4, top + positions * CELL // 2 - 6), "HW", fill="black")
    draw.text((right + batch * dx // 2 + 6, top - batch * dy // 2 + positions * CELL), "N",
              fill="black")
    return np.asarray(image)


def _heat_map(values, low, high, lut):
    """(N, C) values -> RGB blocks of STAT_CELL pixels, clipped to [low, high] on ``lut``."""
    scaled = np.clip((values - low) / (high - low), 0.0, 1.0)
    pixels = lut[(scaled * (len(lut) - 1)).round().astype(np.intp)]
    return enlarge(pixels, STAT_CELL)


def _summary(kind, ids, x, y, groups):
    batch = x.shape[0]
    flat = y.reshape(batch, CHANNELS, POSITIONS)
    sizes = np.bincount(ids.ravel())
    means = np.bincount(ids.ravel(), weights=flat.ravel()) / sizes
    squares = np.bincount(ids.ravel(), weights=(flat ** 2).ravel()) / sizes
    stds = np.sqrt(np.maximum(squares - means ** 2, 0.0))
    name = f"GroupNorm ({groups} groups)" if kind == "GroupNorm" else kind
    if kind == "PixelNorm":
        spread = (f"root mean square {float(np.sqrt(squares).min()):.3f} to "
                  f"{float(np.sqrt(squares).max()):.3f} (no centring: the mean is not removed)")
    else:
        spread = (f"mean {float(np.abs(means).max()):.3f} at most in absolute value, std "
                  f"{float(stds.min()):.3f} to {float(stds.max()):.3f}")
    if batch > 1:
        other = x.copy()
        other[1:] = random_batch(batch, seed=1)[1:]
        changes = not np.allclose(normalize(kind, other, groups)[0], y[0], rtol=0, atol=1e-12)
        dependence = f"sample 0's output {'changes' if changes else 'does not change'} when " \
                     "the other samples change"
    else:
        dependence = "a batch of one sample"
    return (f"{name}: {len(sizes)} sets of statistics, each of {int(sizes[0])} elements. "
            f"Over each set the output has {spread}. With N = {batch}, {dependence}.")


def render(kind, groups=2, batch=4, seed=0):
    """Compute and draw one state of the explorer.

    kind: one of KINDS; groups: GroupNorm's number of groups (a divisor of CHANNELS, ignored by
    the others); batch: N in 1..MAX_BATCH; seed: of the random batch.
    Returns a dict with "ids" (N, C, H*W) int set ids, "input" and "output" (N, C, SIDE, SIDE)
    float64, "png" a dict of PNG bytes for the panels "cube", "mean" and "std", and "text" a
    one-line summary. Raises ValueError for bad settings.
    """
    _check_settings(kind, batch, groups)
    ids = statistics_groups(kind, batch, CHANNELS, POSITIONS, groups)
    x = random_batch(batch, seed)
    y = normalize(kind, x, groups)
    flat = y.reshape(batch, CHANNELS, POSITIONS)
    png = {
        "cube": to_png(draw_cube(ids)),
        "mean": to_png(_heat_map(flat.mean(axis=2), -2.0, 2.0, DIVERGING_LUT)),
        "std": to_png(_heat_map(flat.std(axis=2), 0.0, 2.0, _SEQUENTIAL)),
    }
    return {"ids": ids, "input": x, "output": y, "png": png,
            "text": _summary(kind, ids, x, y, groups)}


def normalization_explorer():
    """Build the interactive explorer.

    Returns an ipywidgets.VBox with attributes `controls` (dict: "norm" ToggleButtons over KINDS,
    "groups" SelectionSlider over the divisors of C, enabled for GroupNorm only, "batch"
    IntSlider 1..MAX_BATCH), `panels` (dict of the "cube", "mean" and "std" ipywidgets.Image)
    and `summary` (ipywidgets.HTML). Any control change redraws.
    """
    controls = {
        "norm": widgets.ToggleButtons(options=KINDS, value="BatchNorm", description="norm"),
        "groups": widgets.SelectionSlider(options=GROUP_CHOICES, value=2, description="groups G"),
        "batch": widgets.IntSlider(value=4, min=1, max=MAX_BATCH, description="batch N"),
    }
    panels = {name: widgets.Image(format="png") for name in PANEL_NAMES}
    summary = widgets.HTML()

    def draw():
        """Render the current control values, the groups slider enabled for GroupNorm only."""
        kind = controls["norm"].value
        controls["groups"].disabled = kind != "GroupNorm"
        return render(kind, controls["groups"].value, controls["batch"].value)

    rows = [
        controls["norm"],
        widgets.HBox([controls["groups"], controls["batch"]]),
        widgets.HBox([
            panel_column(f"sets sharing statistics (N × C × H·W, H = W = {SIDE})", panels["cube"]),
            panel_column("output mean over H·W (rows n, columns c; blue −2, red +2)", panels["mean"]),
            panel_column("output std over H·W (0 dark, 2 yellow)", panels["std"]),
        ]),
        summary,
    ]
    return explorer(rows, controls, panels, summary, draw, catch=(ValueError,), error_prefix="")
