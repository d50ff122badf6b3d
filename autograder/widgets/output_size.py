"""Window explorer of notebook 02: where a kernel (or pooling window) lands, and how many outputs.

Sliders set the input size, kernel size, padding, stride and dilation of one spatial axis, and a
menu the layer (convolution, pooling, pooling with ``ceil_mode``). Two panels are drawn with
Pillow: every window position over the padded input, one row per output (1-D), and the padded
2-D input with every window centre beside the resulting output grid. The number of windows is
the output size PyTorch's own layer (``nn.Conv1d`` or ``nn.MaxPool1d``) gives, never a formula
of this module and never student code; the windows start every stride pixels. Settings PyTorch
rejects are explained in the summary and never raise.

Measured: `render` at the largest settings (input 16, padding 4, kernel 7, stride 1) takes about
10 ms (best of 30 runs) on a 2-core CPU, 35 ms median and 67 ms at worst while that CPU was shared
with other jobs (load average 13); a typical setting (input 7, kernel 3) takes about 2 ms.
"""

import functools
import html

import ipywidgets as widgets
import numpy as np
from PIL import Image, ImageDraw

from ..output_size import pytorch_output_size, tiny_layers
from .common import ERROR_COLOUR, enlarge, explorer, panel_column, to_png

LAYERS = ("convolution", "pooling", "pooling, ceil_mode")
PANEL_NAMES = ("windows", "grid")
LIMITS = {"n": (1, 16), "kernel_size": (1, 7), "padding": (0, 4), "stride": (1, 4),
          "dilation": (1, 4)}

CELL = 20  # pixels per cell in the 1-D panel
LABEL = 62  # pixels of the label column in the 1-D panel
GRID_SIDE = 300  # the 2-D input square is at most this many pixels wide
WHITE, LINE, TEXT = (255, 255, 255), (120, 120, 120), (30, 30, 30)
INPUT, PADDING = (198, 219, 239), (215, 215, 215)
TAP, HOLE, OVERHANG = (33, 102, 172), (236, 242, 248), (244, 140, 60)
OUTPUT, CENTRE, IMPOSSIBLE = (116, 196, 118), (0, 109, 44), (215, 48, 39)


def window_starts(n, kernel_size, stride=1, padding=0, dilation=1, layer="convolution"):
    """Enumerate the windows of one axis.

    n, kernel_size, stride, padding, dilation: ints (n, kernel_size, stride, dilation >= 1,
    padding >= 0); layer: one of LAYERS.
    Returns (starts, reason): starts is the list of window start positions, in coordinates of the
    padded input (0 is the first padding pixel): one every `stride` pixels, as many as the outputs
    of PyTorch's nn.Conv1d or nn.MaxPool1d (with ceil_mode for "pooling, ceil_mode") with these
    settings; reason is None, or a sentence saying why PyTorch gives no output (then starts is
    empty). Raises ValueError for an unknown layer.
    """
    if layer not in LAYERS:
        raise ValueError(f"unknown layer {layer!r}; valid layers are: {', '.join(LAYERS)}")
    settings = dict(kernel_size=kernel_size, stride=stride, padding=padding, dilation=dilation)
    with tiny_layers():
        if layer == "convolution":
            size, _ = pytorch_output_size("Conv1d", n, **settings)
        else:
            size, _ = pytorch_output_size("MaxPool1d", n, ceil_mode=layer == "pooling, ceil_mode",
                                          **settings)
    if size is not None:
        return list(range(0, size * stride, stride)), None
    if layer != "convolution" and padding > kernel_size // 2:
        return [], (f"PyTorch pools only with padding <= kernel_size // 2 = {kernel_size // 2} "
                    "(enough to centre a window on every border pixel)")
    return [], (f"no window fits: the kernel spans D(K-1) + 1 = {dilation * (kernel_size - 1) + 1} "
                f"pixels, the padded input only n + 2P = {n + 2 * padding}")


@functools.lru_cache(maxsize=64)
def _label(text):
    """``text`` drawn once in Pillow's default font on a white strip (rendering text is slow)."""
    strip = Image.new("RGB", (LABEL - 6, CELL - 4), WHITE)
    ImageDraw.Draw(strip).text((0, 0), text, fill=TEXT)
    return strip


def _taps(start, kernel_size, dilation):
    return [start + tap * dilation for tap in range(kernel_size)]


def _box(draw, x, y, size, fill, outline=LINE):
    draw.rectangle([x, y, x + size - 1, y + size - 1], fill=fill, outline=outline)


def _windows_png(n, kernel_size, padding, dilation, starts):
    """The 1-D panel: the padded input, one row per window (taps, holes, overhang), the output."""
    padded = n + 2 * padding
    span = dilation * (kernel_size - 1) + 1
    reach = max([padded, span] + [start + span for start in starts])
    rows = len(starts) if starts else 1
    width = LABEL + (reach + 2) * CELL
    height = (rows + 4) * CELL
    image = Image.new("RGB", (width, height), WHITE)
    draw = ImageDraw.Draw(image)
    image.paste(_label("input"), (4, 2))
    for position in range(padded):
        inside = padding <= position < padding + n
        _box(draw, LABEL + position * CELL, 0, CELL, INPUT if inside else PADDING)
    for row, start in enumerate(starts or [0]):
        y = (row + 2) * CELL
        image.paste(_label(f"window {row}" if starts else "kernel"), (4, y + 2))
        draw.line([LABEL + start * CELL, y + CELL // 2, LABEL + (start + span) * CELL - 1,
                   y + CELL // 2], fill=LINE)
        for position in range(start, start + span):
            if (position - start) % dilation:
                _box(draw, LABEL + position * CELL + 4, y + 4, CELL - 8, HOLE)
        for position in _taps(start, kernel_size, dilation):
            colour = IMPOSSIBLE if not starts else (TAP if position < padded else OVERHANG)
            _box(draw, LABEL + position * CELL, y, CELL, colour)
        if starts:
            _box(draw, LABEL + (reach + 1) * CELL, y, CELL, OUTPUT)
    y = (rows + 3) * CELL
    image.paste(_label("output"), (4, y + 2))
    for index in range(len(starts)):
        _box(draw, LABEL + index * CELL, y, CELL, OUTPUT)
    return to_png(image)


def _cells(colours, cell):
    """Pixels of a grid of coloured cells: ``colours`` (rows, columns, 3) uint8, each cell a
    ``cell``-pixel square outlined in LINE; white cells stay blank."""
    rows, columns, _ = colours.shape
    pixels = enlarge(colours, cell)
    pixels = np.pad(pixels, ((0, 1), (0, 1), (0, 0)), constant_values=255)
    filled = np.pad((colours != 255).any(axis=2), ((0, 1), (0, 1)))
    for axis in (0, 1):  # a line on each side of every filled cell
        edge = filled | np.roll(filled, 1, axis=axis)
        lines = enlarge(edge, cell)[:pixels.shape[0], :pixels.shape[1]]
        index = np.arange(pixels.shape[axis]) % cell == 0
        mask = lines & (index[:, None] if axis == 0 else index[None, :])
        pixels[mask] = LINE
    return pixels


def _grid_png(n, kernel_size, padding, dilation, starts):
    """The 2-D panel: the padded input with window (0, 0)'s taps and every window centre dotted,
    and the output grid beside it."""
    padded = n + 2 * padding
    span = dilation * (kernel_size - 1) + 1
    reach = max([padded, span] + [start + span for start in starts])
    cell = max(6, min(CELL, GRID_SIDE // reach))
    outputs = len(starts)
    colours = np.full((reach, reach + 1 + outputs, 3), 255, dtype=np.uint8)
    colours[:padded, :padded] = PADDING
    colours[padding:padding + n, padding:padding + n] = INPUT
    colours[:outputs, reach + 1:] = OUTPUT
    first = np.array(_taps(starts[0] if starts else 0, kernel_size, dilation))
    if starts:
        outside = np.maximum.outer(first, first) >= padded
        colours[np.ix_(first, first)] = np.where(outside[..., None], OVERHANG, TAP)
    image = Image.fromarray(_cells(colours, cell))
    draw = ImageDraw.Draw(image)
    if not starts:
        for row in first:
            for column in first:
                draw.rectangle([column * cell + 1, row * cell + 1, (column + 1) * cell - 1,
                                (row + 1) * cell - 1], outline=IMPOSSIBLE, width=2)
    radius = max(1, cell // 5)
    for row_start in starts:
        for column_start in starts:
            y = row_start * cell + span * cell / 2
            x = column_start * cell + span * cell / 2
            draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=CENTRE)
    return to_png(image)


def _summary(n, kernel_size, stride, padding, dilation, layer, starts, reason):
    """One paragraph: the settings, the formula with numbers, and what the picture shows."""
    span = dilation * (kernel_size - 1) + 1
    padded = n + 2 * padding
    head = f"{layer}: n = {n}, K = {kernel_size}, S = {stride}, P = {padding}, D = {dilation}."
    if reason is not None:
        return f"{head} No output: {reason}."
    head += (f" The kernel spans D(K-1) + 1 = {span} pixels of the padded input of "
             f"n + 2P = {padded}.")
    rounding = "⌈" if layer == "pooling, ceil_mode" else "⌊"
    closing = "⌉" if layer == "pooling, ceil_mode" else "⌋"
    dropped = layer == "pooling, ceil_mode" and len(range(0, padded - span + stride, stride)) > len(starts)
    correction = " - 1 (a window would start in the right padding)" if dropped else ""
    notes = [f"{head} Output size {rounding}({padded} - {span}) / {stride}{closing} + 1"
             f"{correction} = {len(starts)}."]
    covered = starts[-1] + span
    if covered < padded:
        why = ("a window starting in the right padding is dropped" if layer == "pooling, ceil_mode"
               else "the division rounds down")
        notes.append(f"The last {padded - covered} pixel(s) of the padded input are never covered "
                     f"({why}).")
    if covered > padded:
        notes.append(f"The last window hangs {covered - padded} pixel(s) over the edge (orange): "
                     "ceil_mode keeps it because it starts inside the input or the left padding.")
    if stride == span and len(starts) > 1:
        notes.append("Stride = span: the windows tile the input without overlapping.")
    elif stride > span:
        notes.append("Stride > span: pixels between windows are skipped.")
    if len(starts) == n and stride == 1:
        notes.append("'Same' padding: the output is as long as the input.")
    if dilation > 1:
        notes.append(f"Dilation {dilation}: {kernel_size} weights spread over {span} pixels "
                     "(light squares are the holes).")
    return " ".join(notes)


def render(n, kernel_size, stride=1, padding=0, dilation=1, layer="convolution"):
    """Compute and draw one state of the explorer.

    Arguments as in `window_starts`. Returns a dict with "starts" (window start positions in
    padded coordinates), "output_size" (the number of windows, None if there is none), "reason"
    (None, or why there is no output), "png" (PNG bytes of the panels "windows" and "grid") and
    "text" (a summary). Impossible settings are drawn (the kernel in red) and explained, never
    raised; only an unknown layer raises ValueError.
    """
    starts, reason = window_starts(n, kernel_size, stride, padding, dilation, layer)
    png = {"windows": _windows_png(n, kernel_size, padding, dilation, starts),
           "grid": _grid_png(n, kernel_size, padding, dilation, starts)}
    return {"starts": starts, "output_size": len(starts) or None, "reason": reason, "png": png,
            "text": _summary(n, kernel_size, stride, padding, dilation, layer, starts, reason)}


def _make_controls():
    """The sliders n, kernel_size, padding, stride, dilation and the layer menu."""
    values = {"n": 7, "kernel_size": 3, "padding": 1, "stride": 2, "dilation": 1}
    descriptions = {"n": "input size", "kernel_size": "kernel", "padding": "padding",
                    "stride": "stride", "dilation": "dilation"}
    controls = {name: widgets.IntSlider(value=values[name], min=low, max=high,
                                        description=descriptions[name])
                for name, (low, high) in LIMITS.items()}
    controls["layer"] = widgets.Dropdown(options=LAYERS, value="convolution", description="layer")
    return controls


def _summary_html(result):
    """The summary of a `render` result as HTML, in the error colour when there is no output."""
    colour = ERROR_COLOUR if result["reason"] else "inherit"
    return f"<span style='color:{colour}'>{html.escape(result['text'])}</span>"


def output_size_explorer():
    """Build the interactive window explorer.

    Returns an ipywidgets.VBox with attributes `controls` (dict of the n, kernel_size, padding,
    stride, dilation sliders and the layer menu), `panels` (dict of the "windows" and "grid"
    ipywidgets.Image) and `summary` (ipywidgets.HTML). Any control change redraws.
    """
    controls = _make_controls()
    panels = {name: widgets.Image(format="png") for name in PANEL_NAMES}
    summary = widgets.HTML()

    def draw():
        """Render the current control values."""
        values = {name: control.value for name, control in controls.items()}
        return render(values["n"], values["kernel_size"], values["stride"], values["padding"],
                      values["dilation"], values["layer"])

    rows = [
        widgets.HBox([controls["n"], controls["kernel_size"], controls["layer"]]),
        widgets.HBox([controls["padding"], controls["stride"], controls["dilation"]]),
        summary,
        widgets.HBox([panel_column("every window over the padded input (grey: padding)",
                                   panels["windows"]),
                      panel_column("2-D: window centres and the output grid", panels["grid"])]),
    ]
    return explorer(rows, controls, panels, summary, draw, summary_html=_summary_html)
