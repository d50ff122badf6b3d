"""Gabor explorer of notebook 09: a Gabor kernel and its S1 response on a real image.

Sliders for the kernel's size, wavelength, orientation, sigma, aspect ratio gamma and phase; the
panels show the image, the kernel (blue negative, red positive) and the HMAX S1 response
|correlation| / window norm. The kernel comes from scikit-image (``skimage.filters.gabor_kernel``,
real part, central crop, zero mean, unit norm), never from student code.

The response lies in [0, 1] but on photographs usually stays well below 1 (a window's mean
brightness adds to its norm, not to its correlation with a zero-mean kernel), so drawn on [0, 1] it
is almost black. Its panel runs the colour map from 0 to the response's 99th percentile instead
(named in the summary line): the brightest percent, such as the frame where the kernel overlaps the
zero padding, saturates rather than darkening everything else.

Measured: ``render`` at image_size=128 takes 9 ms of CPU time (10 to 16 ms of wall time on the
shared 2-core build machine) for kernels from 7x7 to 31x31: both sums are FFT convolutions.
"""
import math

import ipywidgets as widgets
import numpy as np
from scipy import signal
from skimage.filters import gabor_kernel

from ..data import IMAGE_NAMES, load_image
from .common import (
    DRAWING_ERRORS, check_int, check_positive, colour_table, diverging_pixels, enlarge_to_fit,
    explorer, panel_column, to_png,
)

PANEL_NAMES = ("image", "kernel", "response")
MAX_SIZE = 31
_MAGMA_LUT = colour_table("magma", 256)


def gabor(size, wavelength, theta_degrees, sigma, gamma, phase_degrees):
    """A zero-mean, unit-norm Gabor kernel (size, size) float64, from scikit-image.

    x runs along the columns, y down the rows; theta and phase are in degrees here (the
    notebook's ``gabor_kernel`` takes radians). Raises ValueError for bad parameters.
    """
    size = check_int(size, "size", 3, MAX_SIZE, odd=True)
    wavelength, sigma, gamma = (check_positive(v, n) for v, n in
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


DISPLAY_PERCENTILE = 99.0


def display_top(response):
    """The response value drawn white: its DISPLAY_PERCENTILE-th percentile, or 1 if that is 0."""
    top = float(np.percentile(response, DISPLAY_PERCENTILE))
    return top if top > 0 else 1.0


def _response_pixels(response, top):
    """Response on the magma colour map from 0 (black) to `top` (white, higher values clipped),
    RGB uint8 (H, W, 3)."""
    return _MAGMA_LUT[(np.clip(response / top, 0.0, 1.0) * 255).round().astype(np.intp)]


def render(image_name, size, wavelength, theta, sigma, gamma, phase, image_size=128):
    """Compute and draw one state of the explorer.

    image_name: one of IMAGE_NAMES, loaded as an (image_size, image_size) square.
    size, wavelength, sigma, gamma: the Gabor kernel's parameters (size odd, 3..31).
    theta, phase: orientation and phase in degrees.
    Returns a dict with "image" (image_size, image_size), "kernel" (size, size) and "response"
    (image_size, image_size) float64 arrays, "png" (PNG bytes per panel; the response drawn from 0
    to ``display_top(response)``) and "text" (one line).
    Raises ValueError for bad parameters.
    """
    image = load_image(image_name, size=image_size)
    kernel = gabor(size, wavelength, theta, sigma, gamma, phase)
    response = s1_response(image, kernel)
    top = display_top(response)
    png = {
        "image": to_png((image * 255).round().astype(np.uint8)),
        "kernel": to_png(enlarge_to_fit(diverging_pixels(kernel), image_size)),
        "response": to_png(_response_pixels(response, top)),
    }
    text = (f"kernel {size}×{size}, wavelength {float(wavelength):g} px, θ = {float(theta):g}° "
            f"({math.radians(float(theta)):.3f} rad), σ = {float(sigma):g}, γ = {float(gamma):g}, "
            f"phase {float(phase):g}°; S1 response mean {response.mean():.3f}, max {response.max():.3f}; "
            f"colours from 0 (black) to {top:.3f} (white, its {DISPLAY_PERCENTILE:g}th percentile)")
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

    def draw():
        """Render the current control values."""
        values = {name: control.value for name, control in controls.items()}
        return render(values.pop("image"), image_size=image_size, **values)

    rows = [
        widgets.HBox([controls["image"], controls["size"]]),
        widgets.HBox([controls["wavelength"], controls["theta"]]),
        widgets.HBox([controls["sigma"], controls["gamma"], controls["phase"]]),
        widgets.HBox([panel_column("image", panels["image"]),
                      panel_column("Gabor kernel", panels["kernel"]),
                      panel_column("S1 response |correlation| / window norm", panels["response"])]),
        summary,
    ]
    return explorer(rows, controls, panels, summary, draw, catch=DRAWING_ERRORS)
