"""Gabor explorer of notebook 09: a Gabor kernel and its S1 response on a real image.

Sliders for the kernel's size, wavelength, orientation, sigma, aspect ratio gamma and phase; the
panels show the image, the kernel (blue negative, red positive) and the HMAX S1 response
|correlation| / window norm. The kernel comes from scikit-image (``skimage.filters.gabor_kernel``,
real part, central crop, zero mean, unit norm), never from student code.

Measured: ``render`` at image_size=128 takes 9 ms of CPU time (10 to 16 ms of wall time on the
shared 2-core build machine) for kernels from 7x7 to 31x31: both sums are FFT convolutions.
"""
import html
import io
import math
import operator

import ipywidgets as widgets
import numpy as np
from matplotlib import colormaps
from PIL import Image
from scipy import signal
from skimage.filters import gabor_kernel

from ..data import IMAGE_NAMES, load_image

PANEL_NAMES = ("image", "kernel", "response")
MAX_SIZE = 31
DIVERGING_LEVELS = 255
_DIVERGING_LUT = (
    colormaps["RdBu_r"].resampled(DIVERGING_LEVELS)(np.arange(DIVERGING_LEVELS))[:, :3] * 255
).round().astype(np.uint8)
_MAGMA_LUT = (colormaps["magma"](np.arange(256))[:, :3] * 255).round().astype(np.uint8)


def _positive(value, name):
    """``value`` as a float; ValueError unless it is finite and positive."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number, got {value}")
    return value


def _odd_size(size):
    """``size`` as an int; ValueError unless it is odd and in 3..MAX_SIZE."""
    try:
        size = operator.index(size)
    except TypeError:
        raise ValueError(f"size must be an integer, got {size!r}") from None
    if not (3 <= size <= MAX_SIZE and size % 2 == 1):
        raise ValueError(f"size must be odd and between 3 and {MAX_SIZE}, got {size}")
    return size


def gabor(size, wavelength, theta_degrees, sigma, gamma, phase_degrees):
    """A zero-mean, unit-norm Gabor kernel (size, size) float64, from scikit-image.

    x runs along the columns, y down the rows; theta and phase are in degrees here (the
    notebook's ``gabor_kernel`` takes radians). Raises ValueError for bad parameters.
    """
    size = _odd_size(size)
    wavelength, sigma, gamma = (_positive(v, n) for v, n in
                                ((wavelength, "wavelength"), (sigma, "sigma"), (gamma, "gamma")))
    theta, phase = math.radians(float(theta_degrees)), math.radians(float(phase_degrees))
    c, s = abs(math.cos(theta)), abs(math.sin(theta))
    sigma_y = sigma / gamma
    reach = min(max(sigma * c, sigma_y * s), max(sigma_y * c, sigma * s))
    big = gabor_kernel(1.0 / wavelength, theta=theta, sigma_x=sigma, sigma_y=sigma_y,
                       n_stds=(size + 1) / (2 * reach), offset=phase).real
    top, left = (big.shape[0] - size) // 2, (big.shape[1] - size) // 2
    centred = big[top:top + size, left:left + size] - big[top:top + size, left:left + size].mean()
    length = np.linalg.norm(centred)
    return centred / length if length > 0 else centred


def s1_response(image, kernel):
    """|correlation of image (H, W) with kernel| / norm of the image window, zero padding: (H, W).

    Both sums are FFT convolutions ('same' size); windows whose norm is below 1e-6 of the largest
    (all but empty, up to rounding) give 0.
    """
    response = np.abs(signal.fftconvolve(image, kernel[::-1, ::-1], mode="same"))
    energy = signal.fftconvolve(image ** 2, np.ones_like(kernel), mode="same")
    norm = np.sqrt(np.clip(energy, 0.0, None))
    valid = norm > 1e-6 * max(float(norm.max()), 1e-300)
    return np.where(valid, response / np.where(valid, norm, 1.0), 0.0)


def _png(pixels):
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _kernel_pixels(kernel, panel_size):
    """Diverging RGB (0 is white), each weight a square block, longest side <= panel_size."""
    extent = float(np.abs(kernel).max()) or 1.0
    half = (DIVERGING_LEVELS - 1) / 2
    pixels = _DIVERGING_LUT[((kernel / extent + 1.0) * half).round().astype(np.intp)]
    block = max(1, panel_size // kernel.shape[0])
    return np.repeat(np.repeat(pixels, block, axis=0), block, axis=1)


def _response_pixels(response):
    """Response in [0, 1] on the magma colour map, RGB uint8 (H, W, 3)."""
    return _MAGMA_LUT[(np.clip(response, 0.0, 1.0) * 255).round().astype(np.intp)]


def render(image_name, size, wavelength, theta, sigma, gamma, phase, image_size=128):
    """Compute and draw one state of the explorer.

    image_name: one of IMAGE_NAMES, loaded as an (image_size, image_size) square.
    size, wavelength, sigma, gamma: the Gabor kernel's parameters (size odd, 3..31).
    theta, phase: orientation and phase in degrees.
    Returns a dict with "image" (image_size, image_size), "kernel" (size, size) and "response"
    (image_size, image_size) float64 arrays, "png" (PNG bytes per panel) and "text" (one line).
    Raises ValueError for bad parameters.
    """
    image = load_image(image_name, size=image_size)
    kernel = gabor(size, wavelength, theta, sigma, gamma, phase)
    response = s1_response(image, kernel)
    png = {
        "image": _png((image * 255).round().astype(np.uint8)),
        "kernel": _png(_kernel_pixels(kernel, image_size)),
        "response": _png(_response_pixels(response)),
    }
    text = (f"kernel {size}×{size}, wavelength {float(wavelength):g} px, θ = {float(theta):g}° "
            f"({math.radians(float(theta)):.3f} rad), σ = {float(sigma):g}, γ = {float(gamma):g}, "
            f"phase {float(phase):g}°; S1 response mean {response.mean():.3f}, max {response.max():.3f}")
    return {"image": image, "kernel": kernel, "response": response, "png": png, "text": text}


def _make_controls():
    """The input controls, keyed image, size, wavelength, theta, sigma, gamma, phase."""
    return {
        "image": widgets.Dropdown(options=IMAGE_NAMES, value="brick", description="image"),
        "size": widgets.IntSlider(value=15, min=3, max=MAX_SIZE, step=2, description="size"),
        "wavelength": widgets.FloatSlider(value=6.0, min=2.0, max=20.0, step=0.5,
                                          description="wavelength"),
        "theta": widgets.FloatSlider(value=0.0, min=0.0, max=180.0, step=7.5,
                                     description="θ (degrees)"),
        "sigma": widgets.FloatSlider(value=3.0, min=0.5, max=10.0, step=0.25, description="σ"),
        "gamma": widgets.FloatSlider(value=0.5, min=0.1, max=1.5, step=0.05, description="γ"),
        "phase": widgets.FloatSlider(value=0.0, min=-180.0, max=180.0, step=15.0,
                                     description="phase (°)"),
    }


def _panel_column(caption, panel):
    return widgets.VBox([widgets.HTML(f"<b>{caption}</b>"), panel])


def gabor_explorer(image_size=128):
    """Build the interactive Gabor explorer.

    image_size: side in pixels of the square image and of the panels.
    Returns an ipywidgets.VBox with attributes ``controls`` (dict of the image, size,
    wavelength, theta, sigma, gamma and phase widgets), ``panels`` (dict of the image, kernel
    and response ipywidgets.Image) and ``summary`` (ipywidgets.HTML). Any change redraws.
    """
    controls = _make_controls()
    panels = {name: widgets.Image(format="png", width=image_size, height=image_size)
              for name in PANEL_NAMES}
    summary = widgets.HTML()

    def update(change=None):
        values = {name: control.value for name, control in controls.items()}
        try:
            result = render(values.pop("image"), image_size=image_size, **values)
        except (ValueError, ImportError, FileNotFoundError) as error:
            summary.value = f"<span style='color:#b00020'>Cannot draw: {html.escape(str(error))}</span>"
            return
        for name, panel in panels.items():
            panel.value = result["png"][name]
        summary.value = html.escape(result["text"])

    for control in controls.values():
        control.observe(update, names="value")
    update()
    box = widgets.VBox([
        widgets.HBox([controls["image"], controls["size"]]),
        widgets.HBox([controls["wavelength"], controls["theta"]]),
        widgets.HBox([controls["sigma"], controls["gamma"], controls["phase"]]),
        widgets.HBox([_panel_column("image", panels["image"]),
                      _panel_column("Gabor kernel", panels["kernel"]),
                      _panel_column("S1 response |correlation| / window norm", panels["response"])]),
        summary,
    ])
    box.controls = controls
    box.panels = panels
    box.summary = summary
    return box
