"""Shift-invariance explorer of notebook 05 (pooling).

Move a real image by k pixels and compare, position by position, a feature map (the ReLU of a
fixed random 5x5 filter) and its max- or average-pooled version with those of the unshifted image:
the pooled outputs that changed are highlighted and the fraction that did not change is reported.
Nothing here uses student code: SciPy correlates, PyTorch pools.

Measured: `render` at image_size=96 takes about 11 ms (median of 300 redraws; 35 and 67 ms at
most in two runs) on a 2-core CPU loaded by other jobs; the first use of an image also resizes it
(about 0.3 s), later redraws reuse the cached copy. The pooling itself is PyTorch's, on one thread.
"""

import functools

import ipywidgets as widgets
import numpy as np
import torch
import torch.nn.functional as F
from scipy import signal

from ..data import IMAGE_NAMES, load_image
from .common import DRAWING_ERRORS, enlarge, explorer, panel_column, to_png

MAX_SHIFT = 8
POOL_SIZES = (1, 2, 3, 4)
MODES = ("max", "average")
FILTER_SIZE = 5
PANEL_NAMES = ("image", "features", "pooled", "changed")
DISPLAY_SCALE = 2
CHANGED_RGB = (220, 30, 40)
UNCHANGED_RGB = (235, 235, 235)
RELATIVE_TOLERANCE = 1e-9


def random_filter(size=FILTER_SIZE, seed=0):
    """A random filter (size, size) float64 with zero mean and unit norm, from a seeded normal draw.

    Zero mean makes it respond to intensity changes (edges, texture), not to brightness.
    """
    kernel = np.random.default_rng(seed).normal(size=(size, size))
    kernel -= kernel.mean()
    return kernel / np.linalg.norm(kernel)


@functools.lru_cache(maxsize=32)
def _wide_image(name, image_size):
    """Read-only (image_size + MAX_SHIFT) square of image `name`, from which shifted views are cut."""
    image = load_image(name, size=image_size + MAX_SHIFT)
    image.flags.writeable = False
    return image


def shifted_image(name, shift, image_size=96):
    """View (image_size, image_size) of image `name` whose content is moved right by `shift` pixels.

    Every shift 0..MAX_SHIFT cuts the same larger picture at a different column, so no border
    effect enters: the content at column c for shift 0 is at column c + shift for `shift`.
    Raises ValueError for a shift outside 0..MAX_SHIFT or an unknown image.
    """
    if not (isinstance(shift, (int, np.integer)) and 0 <= shift <= MAX_SHIFT):
        raise ValueError(f"shift must be an integer in 0..{MAX_SHIFT}, got {shift!r}")
    start = MAX_SHIFT - int(shift)
    return _wide_image(name, image_size)[:image_size, start:start + image_size]


def feature_map(image, kernel):
    """ReLU of the 'valid' cross-correlation of `image` (H, W) with `kernel` (K, K): (H-K+1, W-K+1)."""
    return np.maximum(signal.correlate2d(image, kernel, mode="valid"), 0.0)


def pool(features, size, mode):
    """Pool `features` (H, W) in non-overlapping size x size windows (stride = size, no padding).

    mode: "max" or "average". Returns (H // size, W // size) float64, the last rows and columns
    that do not fill a window dropped; size 1 returns a copy. PyTorch's max_pool2d or avg_pool2d
    computes it. Raises ValueError for a size outside POOL_SIZES or an unknown mode.
    """
    if size not in POOL_SIZES:
        raise ValueError(f"pool size must be one of {POOL_SIZES}, got {size!r}")
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; valid modes are: {', '.join(MODES)}")
    pooling = F.max_pool2d if mode == "max" else F.avg_pool2d
    maps = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float64))[None, None]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a small map: other threads would only add their start-up cost
    try:
        return pooling(maps, size).numpy()[0, 0].copy()
    finally:
        torch.set_num_threads(threads)


def compare(reference, shifted):
    """Compare two maps of the same shape position by position.

    Returns (changed, active): boolean arrays, `changed` where the values differ by more than
    RELATIVE_TOLERANCE times the largest |value| of `reference`, `active` where either is non-zero.
    """
    scale = max(float(np.abs(reference).max()), float(np.abs(shifted).max()), 1e-300)
    changed = np.abs(shifted - reference) > RELATIVE_TOLERANCE * scale
    return changed, (reference != 0) | (shifted != 0)


def unchanged_fractions(reference, shifted):
    """(fraction of active outputs unchanged, fraction of all outputs unchanged) as floats.

    Active outputs are non-zero in at least one map; outputs that the ReLU sets to 0 in both maps
    never change and are left out of the first fraction (1.0 if no output is active).
    """
    changed, active = compare(reference, shifted)
    n_active = int(active.sum())
    of_active = 1.0 - int((changed & active).sum()) / n_active if n_active else 1.0
    return of_active, 1.0 - float(changed.mean())


def _gray(values, top):
    """Float (H, W) in [0, top] to uint8 (H, W) on a square-root scale, so that weak responses
    stay visible; `top` <= 0 gives black."""
    scaled = np.sqrt(np.clip(values / top, 0.0, 1.0)) if top > 0 else np.zeros_like(values)
    return (scaled * 255).round().astype(np.uint8)


def _changed_pixels(changed, active):
    """RGB uint8 (H, W, 3): changed outputs in CHANGED_RGB, unchanged active ones in
    UNCHANGED_RGB, outputs that are 0 in both maps black."""
    rgb = np.zeros(changed.shape + (3,), dtype=np.uint8)
    rgb[active & ~changed] = UNCHANGED_RGB
    rgb[changed] = CHANGED_RGB
    return rgb


def _summary(shift, size, mode, changed, of_active, of_all):
    pooling = "no pooling" if size == 1 else f"{size}×{size} {mode} pooling (stride {size})"
    return (f"shift {shift} px, {pooling}: {of_active:.0%} of the active outputs unchanged, "
            f"{int(changed.sum())} of {changed.size} outputs changed ({of_all:.0%} of all "
            "outputs unchanged, zeros of the ReLU included)")


def render(image_name="camera", shift=1, pool_size=2, mode="max", image_size=96):
    """Compute and draw one state of the explorer.

    image_name: one of IMAGE_NAMES; shift: 0..MAX_SHIFT pixels to the right; pool_size: one of
    POOL_SIZES (1 = no pooling); mode: "max" or "average"; image_size: side of the image in pixels.
    Returns a dict with float64 arrays "image" (image_size, image_size), "features" (F, F) with
    F = image_size - FILTER_SIZE + 1, "pooled" and "reference" (F // pool_size, F // pool_size),
    the pooled maps of the shifted and of the unshifted image, the boolean "changed" of the same
    shape, the floats "unchanged_active" and "unchanged_all" (see `unchanged_fractions`), "png" a
    dict of PNG bytes for PANEL_NAMES and "text" a one-line summary.
    Raises ValueError for bad input.
    """
    kernel = random_filter()
    image = shifted_image(image_name, shift, image_size)
    features = feature_map(image, kernel)
    reference = pool(feature_map(shifted_image(image_name, 0, image_size), kernel), pool_size, mode)
    pooled = pool(features, pool_size, mode)
    changed, active = compare(reference, pooled)
    of_active, of_all = unchanged_fractions(reference, pooled)
    top = float(features.max())
    factor = DISPLAY_SCALE * pool_size
    png = {
        "image": to_png(enlarge((image * 255).round().astype(np.uint8), DISPLAY_SCALE)),
        "features": to_png(enlarge(_gray(features, top), DISPLAY_SCALE)),
        "pooled": to_png(enlarge(_gray(pooled, top), factor)),
        "changed": to_png(enlarge(_changed_pixels(changed, active), factor)),
    }
    return {"image": np.array(image), "features": features, "pooled": pooled,
            "reference": reference, "changed": changed, "unchanged_active": of_active,
            "unchanged_all": of_all, "png": png,
            "text": _summary(shift, pool_size, mode, changed, of_active, of_all)}


def _make_controls():
    """Create the input controls, keyed image, shift, pool, mode."""
    return {
        "image": widgets.Dropdown(options=IMAGE_NAMES, value="camera", description="image"),
        "shift": widgets.IntSlider(value=1, min=0, max=MAX_SHIFT, description="shift (px)"),
        "pool": widgets.IntSlider(value=2, min=POOL_SIZES[0], max=POOL_SIZES[-1],
                                  description="pool size"),
        "mode": widgets.ToggleButtons(options=MODES, value="max", description="pooling"),
    }


def pooling_explorer(image_size=96):
    """Build the interactive shift-invariance explorer.

    image_size: side in pixels of the shifted image (panels are drawn DISPLAY_SCALE times larger).
    Returns an ipywidgets.VBox with attributes `controls` (dict of the image, shift, pool and mode
    widgets), `panels` (dict of the image, features, pooled and changed ipywidgets.Image) and
    `summary` (ipywidgets.HTML with the fraction of outputs unchanged). Any change redraws.
    """
    controls = _make_controls()
    side = DISPLAY_SCALE * image_size
    panels = {name: widgets.Image(format="png", width=side, height=side) for name in PANEL_NAMES}
    summary = widgets.HTML()

    def draw():
        """Render the current control values."""
        return render(controls["image"].value, controls["shift"].value, controls["pool"].value,
                      controls["mode"].value, image_size=image_size)

    captions = ("input, shifted", "feature map: ReLU(conv)", "after pooling",
                "red changed, white same")
    rows = [
        widgets.HBox([controls["image"], controls["mode"]]),
        widgets.HBox([controls["shift"], controls["pool"]]),
        widgets.HBox([panel_column(caption, panels[name])
                      for caption, name in zip(captions, PANEL_NAMES)]),
        summary,
    ]
    return explorer(rows, controls, panels, summary, draw, catch=DRAWING_ERRORS)
