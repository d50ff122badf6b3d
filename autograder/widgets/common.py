"""What the explorers of this package share: input checks, colour tables, PNG panels with
captions, error text, and the wiring of controls to a redraw.

Every explorer is an ipywidgets.VBox with attributes `controls`, `panels` and `summary`, built by
`explorer` from a module's own controls, panels, layout rows and drawing function.
"""

import html
import io
import math
import operator

import ipywidgets as widgets
import numpy as np
from matplotlib import colormaps
from PIL import Image

ERROR_COLOUR = "#b00020"
DRAWING_ERRORS = (ValueError, ImportError, FileNotFoundError)
DIVERGING_LEVELS = 255


def colour_table(name, levels):
    """Matplotlib colour map `name` sampled at `levels` colours: RGB uint8 (levels, 3)."""
    colours = colormaps[name].resampled(levels)(np.arange(levels))[:, :3]
    return (colours * 255).round().astype(np.uint8)


DIVERGING_LUT = colour_table("RdBu_r", DIVERGING_LEVELS)


def check_int(value, name, low, high, odd=False):
    """``value`` as an int in low..high (and odd if `odd`); ValueError with a readable message,
    naming the value `name`, otherwise."""
    try:
        value = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None
    if not (low <= value <= high and (value % 2 == 1 or not odd)):
        parity = "odd and " if odd else ""
        raise ValueError(f"{name} must be {parity}between {low} and {high}, got {value}")
    return value


def check_positive(value, name):
    """``value`` as a float; ValueError unless it is a finite, positive number."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number, got {value}")
    return value


def to_png(picture):
    """PNG bytes (fast compression) of `picture`: a PIL.Image, or uint8 pixels (H, W) gray or
    (H, W, 3) RGB."""
    image = picture if isinstance(picture, Image.Image) else Image.fromarray(picture)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def enlarge(pixels, factor):
    """Repeat every pixel of `pixels` (H, W) or (H, W, 3) into a factor x factor block:
    (factor * H, factor * W) or (factor * H, factor * W, 3)."""
    return np.repeat(np.repeat(pixels, factor, axis=0), factor, axis=1)


def enlarge_to_fit(pixels, side):
    """`enlarge` `pixels` by the largest integer factor (at least 1) that keeps its longest side
    at most `side` pixels."""
    return enlarge(pixels, max(1, side // max(pixels.shape[:2])))


def diverging_pixels(values):
    """Float (H, W) to RGB uint8 (H, W, 3) on a blue-white-red map scaled to the largest |value|;
    0 is the exact middle colour (white)."""
    extent = float(np.abs(values).max())
    centred = values / extent if extent > 0 else np.zeros_like(values)
    half = (DIVERGING_LEVELS - 1) / 2
    return DIVERGING_LUT[((centred + 1.0) * half).round().astype(np.intp)]


def panel_column(caption, panel, **box_options):
    """An ipywidgets.VBox of a bold `caption` above `panel`; `box_options` go to the VBox."""
    return widgets.VBox([widgets.HTML(f"<b>{caption}</b>"), panel], **box_options)


def error_html(message):
    """HTML of `message` (any object, shown as escaped text) in the error colour."""
    return f"<span style='color:{ERROR_COLOUR}'>{html.escape(str(message))}</span>"


def text_html(result):
    """The escaped ``result["text"]``: the default summary of a drawn state."""
    return html.escape(result["text"])


def explorer(rows, controls, panels, summary, draw, catch=(), error_prefix="Cannot draw: ",
             error_png=None, summary_html=text_html):
    """Redraw on every control change, draw the current state once, and return the explorer.

    rows: the widgets stacked top to bottom (among them the controls, panels and summary).
    controls: dict name -> input widget; a change of any value redraws.
    panels: dict name -> ipywidgets.Image; summary: ipywidgets.HTML.
    draw: function() -> result, reading the controls itself; result is a dict with "png" (PNG
    bytes for every panel name) and what `summary_html` (function(result) -> HTML) reads.
    catch: exception types of `draw` to show instead of a drawing: the summary shows
    error_html(error_prefix + the error's message) and the panels keep their pictures, unless
    `error_png` (function(message) -> PNG bytes) gives a picture for every panel. Other
    exceptions propagate.
    Returns an ipywidgets.VBox of `rows` with attributes `controls`, `panels` and `summary`.
    """
    def update(change=None):
        """Draw the current control values into the panels and the summary."""
        try:
            result = draw()
        except catch as error:
            message = f"{error_prefix}{error}"
            if error_png is not None:
                picture = error_png(message)
                for panel in panels.values():
                    panel.value = picture
            summary.value = error_html(message)
            return
        for name, panel in panels.items():
            panel.value = result["png"][name]
        summary.value = summary_html(result)

    for control in controls.values():
        control.observe(update, names="value")
    update()
    box = widgets.VBox(rows)
    box.controls = controls
    box.panels = panels
    box.summary = summary
    return box
