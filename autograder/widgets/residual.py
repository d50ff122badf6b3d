"""Gradient-flow explorer of notebook 08: gradient norms per block and shattered gradients.

One network per setting, from 1 input to 1 output: Linear(1, 64), ``depth`` blocks of width 64,
Linear(64, 1), on a grid of 256 inputs in [-2, 2], computed by PyTorch (float64). The blocks:

* normalisation "none" (the notes' blocks, PyTorch's default initialisation, uniform in
  +-1/sqrt(fan_in)): plain ``relu(W h + b)``, residual ``h + relu(W h + b)``;
* normalisation "batch norm" (He-normal weights; the batch-norm statistics are taken over the
  grid, then fixed, as in evaluation mode): plain ``relu(BN(W h + b))``, residual
  ``h + W relu(BN(h)) + b``.

The left panel shows the norm of dL/d(output of each block) for the mean squared error towards
sin(pi x / 2), the right panel df/dx over the grid and its lag-1 autocorrelation, both from
PyTorch's autograd. A network of depth d is the first d blocks of the deepest one with the same
head: the blocks of the current setting run forward once, as deep as asked so far, their graph
kept, and each depth's two backward passes are cached. Nothing here uses student code.

Measured on the course's 2-core CPU while other jobs loaded it (load average 7): a redraw
(``render``) at a depth not seen before took 25-50 ms (median over the depths of a setting), one
already seen 11-15 ms (drawing only), the first redraw of a setting at depth 16 20-90 ms; a
control change as the course's bench makes them, 23-26 ms (median).
"""

import functools

import ipywidgets as widgets
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from ..threads import one_thread
from .common import explorer, panel_column, to_png

MAX_DEPTH = 50
WIDTH = 64
GRID = np.linspace(-2.0, 2.0, 256)[:, None]
TARGET = np.sin(np.pi * GRID / 2)
ARCHITECTURES = ("plain", "residual")
NORMALISATIONS = ("none", "batch norm")
PANEL_NAMES = ("norms", "gradient")
EPS = 1e-5
SEED = 8

COLOURS = {"plain": (221, 132, 82), "residual": (76, 114, 176)}
INK, GRID_INK, BACKGROUND = (40, 40, 40), (215, 215, 215), (255, 255, 255)
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 44, 10, 22, 26


def _check_setting(depth, architecture, normalisation):
    """Return depth as an int; raise ValueError for an unknown setting."""
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r}; valid: {', '.join(ARCHITECTURES)}")
    if normalisation not in NORMALISATIONS:
        raise ValueError(f"unknown normalisation {normalisation!r}; valid: {', '.join(NORMALISATIONS)}")
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)):
        raise ValueError(f"depth must be an integer, got {depth!r}")
    if not 1 <= depth <= MAX_DEPTH:
        raise ValueError(f"depth must be between 1 and {MAX_DEPTH}, got {depth}")
    return int(depth)


@functools.lru_cache(maxsize=None)
def _parameters(normalisation):
    """Weights of the deepest network: (first (W, b), [(W, b)] * MAX_DEPTH, head (W, b))."""
    rng = np.random.default_rng(SEED)

    def linear(fan_in, fan_out):
        bound = 1 / np.sqrt(fan_in)
        if normalisation == "none":
            weight = rng.uniform(-bound, bound, (fan_out, fan_in))
        else:
            weight = rng.normal(0.0, np.sqrt(2 / fan_in), (fan_out, fan_in))
        return weight, rng.uniform(-bound, bound, fan_out)

    first = linear(1, WIDTH)
    blocks = [linear(WIDTH, WIDTH) for _ in range(MAX_DEPTH)]
    return first, blocks, linear(WIDTH, 1)


@functools.lru_cache(maxsize=None)
def _tensors(normalisation):
    """``_parameters(normalisation)`` as float64 tensors."""
    first, blocks, head = _parameters(normalisation)

    def as_tensors(pair):
        return tuple(torch.from_numpy(array) for array in pair)

    return as_tensors(first), [as_tensors(pair) for pair in blocks], as_tensors(head)


def _batch_norm(h):
    """Batch norm with the grid's statistics, held fixed as in evaluation mode (no scale, no shift)."""
    mean, variance = h.detach().mean(dim=0), h.detach().var(dim=0, unbiased=False)
    return F.batch_norm(h, mean, variance, training=False, eps=EPS)


def _block(h, weight, bias, residual, normalised):
    if normalised and residual:  # h + W relu(BN(h)) + b
        return h + F.linear(torch.relu(_batch_norm(h)), weight, bias)
    z = F.linear(h, weight, bias)
    out = torch.relu(_batch_norm(z) if normalised else z)  # relu(BN(W h + b)) or relu(W h + b)
    return h + out if residual else out


@functools.lru_cache(maxsize=1)
def _graph(architecture, normalisation):
    """The network of the current setting run over the grid by PyTorch, its graph kept.

    A dict: "x", the grid as a tensor that requires its gradient, and "outputs", the output of
    each block run so far (``_outputs`` runs more when a deeper network is asked for). Only the
    last setting is kept: its graph holds every block's activations.
    """
    with torch.enable_grad():
        x = torch.tensor(GRID, requires_grad=True)
        return {"x": x, "outputs": [], "h": F.linear(x, *_tensors(normalisation)[0])}


def _outputs(depth, architecture, normalisation):
    """``(x, outputs of blocks 1..depth)``; a network of depth d is its first d blocks and the head."""
    graph = _graph(architecture, normalisation)
    blocks = _tensors(normalisation)[1]
    residual, normalised = architecture == "residual", normalisation == "batch norm"
    with torch.enable_grad():
        while len(graph["outputs"]) < depth:
            weight, bias = blocks[len(graph["outputs"])]
            graph["h"] = _block(graph["h"], weight, bias, residual, normalised)
            graph["outputs"].append(graph["h"])
    return graph["x"], graph["outputs"][:depth]


@functools.lru_cache(maxsize=None)
def _measure(depth, architecture, normalisation):
    """Cached, read-only ``(norms (depth,), df/dx (256,))`` of a checked setting, by PyTorch autograd.

    norms: the Euclidean norm of dL/d(output of block k), k = 1..depth, L the mean squared error
    between the head's output and TARGET; df/dx: the derivative of that output at every grid point.
    """
    x, outputs = _outputs(depth, architecture, normalisation)
    f = F.linear(outputs[-1], *_tensors(normalisation)[2])
    grads = torch.autograd.grad(F.mse_loss(f, torch.from_numpy(TARGET)), outputs, retain_graph=True)
    (slope,) = torch.autograd.grad(f.sum(), x, retain_graph=True)
    norms = np.array([torch.linalg.vector_norm(g).item() for g in grads])
    gradient = slope[:, 0].numpy().copy()
    norms.flags.writeable = gradient.flags.writeable = False
    return norms, gradient


@one_thread()
def gradient_norms(depth, architecture, normalisation):
    """Norm of dL/d(output of block k), k = 1..depth (input side first), float64 (depth,).

    L is the mean squared error between the network's output on the grid and sin(pi x / 2).
    Raises ValueError for an unknown setting.
    """
    depth = _check_setting(depth, architecture, normalisation)
    return _measure(depth, architecture, normalisation)[0].copy()


@one_thread()
def input_gradient(depth, architecture, normalisation):
    """df/dx at every grid point for the network of ``depth`` blocks, float64 (256,).

    Raises ValueError for an unknown setting.
    """
    depth = _check_setting(depth, architecture, normalisation)
    return _measure(depth, architecture, normalisation)[1].copy()


def lag1_correlation(g):
    """Pearson correlation of g[:-1] and g[1:]; nan when either is constant."""
    if np.ptp(g[:-1]) == 0 or np.ptp(g[1:]) == 0:
        return float("nan")
    return float(np.corrcoef(g[:-1], g[1:])[0, 1])


# ----------------------------------------------------------------------------- drawing


def _canvas(width, height, title):
    image = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    draw.text((MARGIN_LEFT, 4), title, fill=INK)
    return image, draw


def _plot_box(width, height):
    return MARGIN_LEFT, MARGIN_TOP, width - MARGIN_RIGHT, height - MARGIN_BOTTOM


def _draw_norms(norms, colour, width, height):
    """Bar chart of log10(norms), one bar per block, with decade grid lines."""
    image, draw = _canvas(width, height, "|dL/dy_k| per block (log scale)")
    left, top, right, bottom = _plot_box(width, height)
    logs = np.log10(np.maximum(norms, 1e-300))
    low, high = np.floor(logs.min()), np.ceil(logs.max())
    high = max(high, low + 1)
    step = max(1, int(np.ceil((high - low) / 6)))

    def y_of(value):
        return bottom - (value - low) / (high - low) * (bottom - top)

    for decade in np.arange(low, high + 1, step):
        y = y_of(decade)
        draw.line([(left, y), (right, y)], fill=GRID_INK)
        draw.text((2, y - 6), f"1e{int(decade)}", fill=INK)
    slot = (right - left) / len(norms)
    for k, value in enumerate(logs):
        x0 = left + k * slot + 0.15 * slot
        x1 = left + (k + 1) * slot - 0.15 * slot
        draw.rectangle([x0, y_of(value), max(x0, x1), bottom], fill=colour)
    draw.line([(left, bottom), (right, bottom)], fill=INK)
    draw.text((left, bottom + 6), "block 1 (input side)", fill=INK)
    label = f"block {len(norms)}"
    draw.text((right - 6 * len(label), bottom + 6), label, fill=INK)
    return image


def _draw_curve(values, colour, width, height, title):
    """Line plot of ``values`` over the grid [-2, 2], with the zero line."""
    image, draw = _canvas(width, height, title)
    left, top, right, bottom = _plot_box(width, height)
    low, high = float(values.min()), float(values.max())
    low, high = min(low, 0.0), max(high, 0.0)
    if high == low:  # a zero curve: any range will do
        low, high = -1.0, 1.0
    xs = left + (GRID[:, 0] + 2.0) / 4.0 * (right - left)
    ys = bottom - (values - low) / (high - low) * (bottom - top)
    zero = bottom - (0.0 - low) / (high - low) * (bottom - top)
    draw.line([(left, zero), (right, zero)], fill=GRID_INK)
    draw.line(list(zip(xs.tolist(), ys.tolist())), fill=colour, width=1)
    draw.text((2, top - 4), f"{high:.2g}", fill=INK)
    draw.text((2, bottom - 8), f"{low:.2g}", fill=INK)
    draw.line([(left, bottom), (right, bottom)], fill=INK)
    draw.text((left - 6, bottom + 6), "-2", fill=INK)
    draw.text((right - 6, bottom + 6), "2", fill=INK)
    draw.text(((left + right) / 2 - 3, bottom + 6), "x", fill=INK)
    return image


@one_thread()
def render(depth, architecture, normalisation, width=360, height=220):
    """Compute and draw one state of the explorer.

    depth: 1..MAX_DEPTH blocks; architecture: "plain" or "residual"; normalisation: "none" or
    "batch norm"; width, height: size of each panel in pixels.
    Returns a dict with "norms" (depth,) the gradient norm at each block's output (input side
    first), "gradient" (256,) df/dx over the grid, "correlation" its lag-1 autocorrelation (a
    float, nan if constant), "png" a dict of PNG bytes for the panels "norms" and "gradient", and
    "text" a one-line summary. Raises ValueError for an unknown setting.
    """
    depth = _check_setting(depth, architecture, normalisation)
    norms, gradient = (array.copy() for array in _measure(depth, architecture, normalisation))
    correlation = lag1_correlation(gradient)
    colour = COLOURS[architecture]
    png = {
        "norms": to_png(_draw_norms(norms, colour, width, height)),
        "gradient": to_png(_draw_curve(gradient, colour, width, height,
                                     f"df/dx over the grid, lag-1 correlation {correlation:.2f}")),
    }
    text = (f"{architecture} blocks, normalisation {normalisation}, depth {depth}: gradient norm "
            f"at block 1 / at block {depth} = {norms[0] / norms[-1]:.3g}; lag-1 correlation of "
            f"df/dx = {correlation:.2f}")
    return {"norms": norms, "gradient": gradient, "correlation": correlation, "png": png,
            "text": text}


def _make_controls():
    """Create the controls, keyed depth, architecture, normalisation."""
    return {
        "depth": widgets.IntSlider(value=16, min=1, max=MAX_DEPTH, description="depth"),
        "architecture": widgets.ToggleButtons(options=ARCHITECTURES, value="plain",
                                              description="blocks"),
        "normalisation": widgets.ToggleButtons(options=NORMALISATIONS, value="batch norm",
                                               description="normalise"),
    }


def gradient_flow_explorer(width=360, height=220):
    """Build the interactive explorer.

    width, height: size in pixels of each of the two panels.
    Returns an ipywidgets.VBox with attributes `controls` (dict of the depth, architecture and
    normalisation widgets), `panels` (dict of the "norms" and "gradient" ipywidgets.Image) and
    `summary` (ipywidgets.HTML). Any control change redraws.
    """
    controls = _make_controls()
    panels = {name: widgets.Image(format="png", width=width, height=height) for name in PANEL_NAMES}
    summary = widgets.HTML()

    def draw():
        """Render the current control values."""
        return render(controls["depth"].value, controls["architecture"].value,
                      controls["normalisation"].value, width=width, height=height)

    rows = [
        controls["depth"],
        widgets.HBox([controls["architecture"], controls["normalisation"]]),
        widgets.HBox([panel_column("gradient norm per block", panels["norms"]),
                      panel_column("gradient over the input", panels["gradient"])]),
        summary,
    ]
    return explorer(rows, controls, panels, summary, draw)
