"""Interactive transposed-convolution explorer of notebook 06.

Sliders for the stride and the kernel size, a kernel (box, bilinear, random) and an image
(constant or a photograph): the input, the transposed convolution (no padding) and the map of
how many kernel taps land on each output pixel, which shows the checkerboard pattern when the
kernel size is not a multiple of the stride. Everything is computed with NumPy and PyTorch
(the transposed convolution is ``F.conv_transpose2d``, the bilinear kernel is read off
``F.interpolate``), never with student code; images are drawn with numpy and encoded with Pillow.

Measured: `render` takes 1 to 2 ms (median; 24x24 input, stride up to 4, kernel up to 8, PyTorch
on one thread) on a 2-core CPU shared with other jobs, plus about 35 ms the first time each
photograph is loaded and resized.
"""

import functools

import ipywidgets as widgets
import numpy as np
import torch
import torch.nn.functional as F

from ..data import IMAGE_NAMES, load_image
from ..threads import one_thread
from .common import (
    DRAWING_ERRORS, check_int, colour_table, enlarge_to_fit, explorer, panel_column, to_png,
)

KERNEL_NAMES = ("box", "bilinear", "random")
IMAGE_CHOICES = ("constant",) + IMAGE_NAMES
PANEL_NAMES = ("input", "output", "overlaps")
MAX_STRIDE = 4
MAX_KERNEL_SIZE = 8
RANDOM_SEED = 0

COUNT_LEVELS = 256
_COUNT_LUT = colour_table("viridis", COUNT_LEVELS)


def bilinear_size(stride):
    """Size 2 * stride - stride % 2 of the bilinear-interpolation kernel for `stride`."""
    return 2 * stride - stride % 2


def make_kernel(name, stride, size):
    """Build a transposed-convolution kernel.

    name: one of KERNEL_NAMES; stride: 1..MAX_STRIDE; size: 1..MAX_KERNEL_SIZE.
    Returns float64 (K, K): "box" (size, size) of equal weights and "random" (size, size) of
    fixed random positive weights, both summing to stride**2 (the sum that preserves a constant
    image where the taps are balanced); "bilinear" the (2S - S % 2)-sized bilinear kernel of the
    stride, whatever `size`. Raises ValueError for bad input.
    """
    if name not in KERNEL_NAMES:
        raise ValueError(f"unknown kernel {name!r}; valid kernels are: {', '.join(KERNEL_NAMES)}")
    stride = check_int(stride, "stride", 1, MAX_STRIDE)
    size = check_int(size, "kernel size", 1, MAX_KERNEL_SIZE)
    if name == "bilinear":  # the impulse response of PyTorch's bilinear interpolation
        impulse = torch.zeros((1, 1, 5, 5), dtype=torch.float64)
        impulse[0, 0, 2, 2] = 1.0
        with one_thread():
            response = F.interpolate(impulse, scale_factor=stride, mode="bilinear",
                                     align_corners=False)
        start, length = 2 * stride - stride // 2, bilinear_size(stride)
        return response[0, 0, start:start + length, start:start + length].numpy().copy()
    if name == "box":
        weights = np.ones((size, size))
    else:
        weights = np.random.default_rng(RANDOM_SEED).uniform(0.2, 1.0, size=(size, size))
    return weights * (stride ** 2 / weights.sum())


@functools.lru_cache(maxsize=32)
def _photo(name, size):
    """Cached read-only (size, size) gray image."""
    image = load_image(name, size=size)
    image.flags.writeable = False
    return image


def make_image(name, size):
    """A new float64 (size, size) image: all ones for "constant", else a bundled photograph."""
    if name == "constant":
        return np.ones((size, size))
    if name not in IMAGE_NAMES:
        raise ValueError(f"unknown image {name!r}; valid images are: {', '.join(IMAGE_CHOICES)}")
    return _photo(name, size).copy()


def transposed_convolution(image, kernel, stride):
    """Stride-`stride` transposed convolution, no padding, of image (H, W) with kernel (K_h, K_w).

    Returns float64 ((H - 1) * stride + K_h, (W - 1) * stride + K_w), by F.conv_transpose2d.
    """
    image = torch.as_tensor(np.asarray(image, dtype=np.float64))
    kernel = torch.as_tensor(np.asarray(kernel, dtype=np.float64))
    with one_thread():
        return F.conv_transpose2d(image[None, None], kernel[None, None], stride=stride)[0, 0].numpy()


def overlap_counts(shape, kernel_shape, stride):
    """How many kernel taps land on each output pixel: int64 array of the output's shape."""
    return transposed_convolution(np.ones(shape), np.ones(kernel_shape), stride).round().astype(np.int64)


def interior(array, kernel_size, stride, input_size):
    """The part of an output where every kernel tap has an input: rows and columns
    K - 1 .. (input_size - 1) * stride; the whole array if that is empty."""
    low, high = kernel_size - 1, (input_size - 1) * stride + 1
    return array[low:high, low:high] if high > low else array


def _gray_pixels(values):
    """Scale float (H, W) to its own min/max as uint8; a constant array is drawn mid-gray."""
    low, high = float(values.min()), float(values.max())
    if high - low <= 1e-12 * max(1.0, abs(high)):
        return np.full(values.shape, 128, dtype=np.uint8)
    return ((values - low) / (high - low) * 255).round().astype(np.uint8)


def _count_pixels(counts):
    """Colour int counts (H, W) from 0 (dark blue) to their maximum (yellow): RGB uint8."""
    top = max(1, int(counts.max()))
    return _COUNT_LUT[(counts * (COUNT_LEVELS - 1) // top).astype(np.intp)]


def _verdict(low, high, kernel_size, stride):
    if low == high:
        return f"evenly: {kernel_size} is a multiple of {stride}, no checkerboard"
    if low == 0:
        return f"some receive none: the kernel ({kernel_size}) is smaller than the stride ({stride}), holes"
    return f"unevenly: {kernel_size} is not a multiple of {stride}, a checkerboard"


def _taps(low, high):
    return f"{low} kernel taps" if low == high else f"{low} to {high} kernel taps"


def _summary(kernel, stride, output, counts, input_size):
    size = kernel.shape[0]
    low, high = (int(v) for v in (interior(counts, size, stride, input_size).min(),
                                  interior(counts, size, stride, input_size).max()))
    inside = interior(output, size, stride, input_size)
    return (f"stride {stride}, kernel {size}×{size}, output {output.shape[0]}×{output.shape[1]}; "
            f"away from the border each output pixel receives {_taps(low, high)}, "
            f"{_verdict(low, high, size, stride)}; output there from {float(inside.min()):.3g} "
            f"to {float(inside.max()):.3g}")


def render(image_name, kernel_name, stride, kernel_size, image_size=24, panel_size=192):
    """Compute and draw one state of the explorer.

    image_name: one of IMAGE_CHOICES ("constant" is all ones), (image_size, image_size).
    kernel_name, stride, kernel_size: passed to `make_kernel`.
    Returns a dict with "image" (image_size, image_size), "kernel" (K, K), "output" and
    "overlaps" ((image_size - 1) * stride + K square) arrays, "png" a dict of PNG bytes for the
    panels "input", "output" and "overlaps" (pixels enlarged by an integer factor to at most
    panel_size), and "text" a one-line summary. Raises ValueError for bad input.
    """
    image = make_image(image_name, image_size)
    kernel = make_kernel(kernel_name, stride, kernel_size)
    output = transposed_convolution(image, kernel, stride)
    counts = overlap_counts(image.shape, kernel.shape, stride)
    png = {
        "input": to_png(enlarge_to_fit(_gray_pixels(image), panel_size)),
        "output": to_png(enlarge_to_fit(_gray_pixels(output), panel_size)),
        "overlaps": to_png(enlarge_to_fit(_count_pixels(counts), panel_size)),
    }
    return {"image": image, "kernel": kernel, "output": output, "overlaps": counts, "png": png,
            "text": _summary(kernel, stride, output, counts, image_size)}


def _make_controls():
    """Create the input controls, keyed image, kernel, stride, size."""
    return {
        "image": widgets.Dropdown(options=IMAGE_CHOICES, value="constant", description="image"),
        "kernel": widgets.Dropdown(options=KERNEL_NAMES, value="box", description="kernel"),
        "stride": widgets.IntSlider(value=2, min=1, max=MAX_STRIDE, description="stride"),
        "size": widgets.IntSlider(value=3, min=1, max=MAX_KERNEL_SIZE, description="kernel size"),
    }


def transposed_convolution_explorer(image_size=24, panel_size=192):
    """Build the interactive explorer.

    image_size: side in pixels of the square input; panel_size: the largest panel side.
    Returns an ipywidgets.VBox with attributes `controls` (dict of the image, kernel, stride and
    size widgets), `panels` (dict of the input, output and overlaps ipywidgets.Image) and
    `summary` (ipywidgets.HTML). Any control change redraws; the size slider is disabled for the
    bilinear kernel, whose size follows the stride.
    """
    controls = _make_controls()
    panels = {name: widgets.Image(format="png") for name in PANEL_NAMES}
    summary = widgets.HTML()

    def draw():
        """Render the current control values, the size slider disabled for the bilinear kernel."""
        values = {name: control.value for name, control in controls.items()}
        controls["size"].disabled = values["kernel"] == "bilinear"
        return render(values["image"], values["kernel"], values["stride"], values["size"],
                      image_size=image_size, panel_size=panel_size)

    rows = [
        widgets.HBox([controls["image"], controls["kernel"]]),
        widgets.HBox([controls["stride"], controls["size"]]),
        widgets.HBox([panel_column("input", panels["input"]),
                      panel_column("transposed convolution (no padding)", panels["output"]),
                      panel_column("kernel taps per output pixel", panels["overlaps"])]),
        summary,
    ]
    return explorer(rows, controls, panels, summary, draw, catch=DRAWING_ERRORS)
