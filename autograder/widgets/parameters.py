"""Interactive parameter and multiply-accumulate counter of notebook 03.

Sliders for C_in, C_out, the kernel size K, groups and the input size; horizontal bars (log scale,
exact numbers printed) of the parameters and of the multiply-accumulates (MACs) of three layers
that map the same C_in x N x N input to a C_out x N x N output (stride 1, 'same' padding):
a standard K x K convolution (with groups), its depthwise separable version (a K x K depthwise
convolution, then a 1x1 pointwise one) and a dense layer. The counts come from PyTorch itself
(``torch.nn`` modules on the meta device and ``FlopCounterMode``), never from student code.

Measured: `render` takes about 25 ms on a 2-core CPU (40 ms with the CPU shared by other jobs),
mostly building the meta-device modules and running FlopCounterMode.
"""
import math

import ipywidgets as widgets
import torch
from PIL import Image, ImageDraw, ImageFont

from ..parameters import measured_macs, parameter_count
from .common import check_int, explorer, to_png

LAYERS = ("standard conv", "depthwise separable", "dense")
COLOURS = {"standard conv": (33, 102, 172), "depthwise separable": (77, 172, 38),
           "dense": (202, 0, 32)}
PANEL_NAMES = ("params", "macs")
TITLES = {"params": "parameters", "macs": "multiply-accumulates per image"}
LIMITS = {"c_in": 512, "c_out": 512, "kernel_size": 11, "groups": 64, "input_size": 224}

WIDTH, ROW, TOP, LABEL, NUMBER = 640, 34, 30, 150, 150
BAR = WIDTH - LABEL - NUMBER - 10
HEIGHT = TOP + ROW * len(LAYERS) + 22
_FONT = ImageFont.load_default(size=13)
_SMALL = ImageFont.load_default(size=11)


def _size(value, name):
    """``value`` as an int in 1..LIMITS[name]; ValueError otherwise."""
    return check_int(value, name, 1, LIMITS[name])


def _check_groups(c_in, c_out, groups):
    """Raise ValueError saying why ``groups`` cannot split the channels."""
    for channels, name in ((c_in, "C_in"), (c_out, "C_out")):
        if channels % groups:
            raise ValueError(
                f"groups={groups} does not divide {name}={channels}: the {channels} channels "
                f"cannot be split into {groups} equal groups ({channels} / {groups} = "
                f"{channels / groups:.3g}). Pick groups among the common divisors of C_in and C_out."
            )


def counts(c_in, c_out, kernel_size, groups, input_size):
    """Parameters and MACs of the three layers, as measured by PyTorch.

    Returns ``(params, macs)``: two dicts keyed by LAYERS, of ints. The standard convolution has
    ``groups`` groups; the separable one is a depthwise conv (groups=C_in) then a 1x1 conv; the
    dense layer maps all C_in N^2 inputs to all C_out N^2 outputs. All layers have biases; MACs
    are for one image, bias additions not counted. Raises ValueError for impossible settings.
    """
    c_in, c_out = _size(c_in, "c_in"), _size(c_out, "c_out")
    k, groups, n = _size(kernel_size, "kernel_size"), _size(groups, "groups"), _size(input_size, "input_size")
    _check_groups(c_in, c_out, groups)
    with torch.device("meta"):
        layers = {"standard conv": torch.nn.Conv2d(c_in, c_out, k, groups=groups),
                  "depthwise separable": torch.nn.Sequential(
                      torch.nn.Conv2d(c_in, c_in, k, groups=c_in), torch.nn.Conv2d(c_in, c_out, 1)),
                  "dense": torch.nn.Linear(c_in * n * n, c_out * n * n)}
    inputs = {"standard conv": (1, c_in, n + k - 1, n + k - 1),
              "depthwise separable": (1, c_in, n + k - 1, n + k - 1), "dense": (1, c_in * n * n)}
    params = {name: parameter_count(layer) for name, layer in layers.items()}
    macs = {name: measured_macs(layer, inputs[name]) for name, layer in layers.items()}
    return params, macs


def _short(value):
    """``value`` in words for large numbers: 75.5 million."""
    for word, scale in (("trillion", 1e12), ("billion", 1e9), ("million", 1e6), ("thousand", 1e3)):
        if value >= scale:
            return f"{value / scale:.3g} {word}"
    return str(value)


def _bar_chart(values, title):
    """RGB uint8 picture of horizontal log-scale bars of ``values`` (dict LAYERS -> int >= 1)."""
    decades = max(1, math.ceil(math.log10(max(values.values()) + 1)))
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    draw.text((8, 6), f"{title} (log scale)", fill="black", font=_FONT)
    bottom = TOP + ROW * len(LAYERS)
    step = 1 if decades <= 8 else 2
    for power in range(0, decades + 1, step):
        x = LABEL + BAR * power / decades
        draw.line([(x, TOP - 4), (x, bottom)], fill=(215, 215, 215))
        draw.text((x, bottom + 3), f"1e{power}", fill=(90, 90, 90), font=_SMALL, anchor="ma")
    reference = values[LAYERS[0]]
    for row, name in enumerate(LAYERS):
        value, y = values[name], TOP + ROW * row
        length = BAR * math.log10(max(value, 1)) / decades
        draw.text((8, y + 9), name, fill="black", font=_FONT)
        draw.rectangle([LABEL, y + 6, LABEL + max(length, 1), y + ROW - 6], fill=COLOURS[name])
        ratio = "" if row == 0 else f"  (x{value / reference:.3g})"
        draw.text((LABEL + BAR + 10, y + 9), f"{value:,}{ratio}", fill="black", font=_SMALL)
    return image


def _message_picture(text):
    """A panel saying why nothing can be drawn."""
    image = Image.new("RGB", (WIDTH, HEIGHT), (245, 245, 245))
    draw = ImageDraw.Draw(image)
    draw.multiline_text((10, 10), _wrap(text, 90), fill=(176, 0, 32), font=_FONT)
    return image


def _wrap(text, width):
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + len(word) + 1 > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return "\n".join(lines + [line])


def _summary(params, macs, kernel_size, groups, input_size):
    """One line comparing the three layers."""
    standard, separable, dense = (params[name] for name in LAYERS)
    return (
        f"{kernel_size}x{kernel_size} conv (groups={groups}) on a {input_size}x{input_size} input: "
        f"{standard:,} parameters, {_short(macs['standard conv'])} MACs. "
        f"Depthwise separable: {separable / standard:.3g} times the parameters, "
        f"{macs['depthwise separable'] / macs['standard conv']:.3g} times the MACs. "
        f"Dense layer on the same input and output: {dense / standard:.3g} times the parameters."
    )


def render(c_in, c_out, kernel_size, groups, input_size):
    """Count and draw one state of the explorer.

    c_in, c_out: channels (1..512); kernel_size: K (1..11); groups: 1..64, dividing C_in and C_out;
    input_size: N (1..224), the input being C_in x N x N and the output C_out x N x N.
    Returns a dict with "params" and "macs" (dicts LAYERS -> int), "png" (PNG bytes of the
    panels "params" and "macs") and "text" (a one-line summary).
    Raises ValueError, saying why, for impossible settings (e.g. groups not dividing C_in).
    """
    params, macs = counts(c_in, c_out, kernel_size, groups, input_size)
    png = {"params": to_png(_bar_chart(params, TITLES["params"])),
           "macs": to_png(_bar_chart(macs, TITLES["macs"]))}
    return {"params": params, "macs": macs, "png": png,
            "text": _summary(params, macs, kernel_size, groups, input_size)}


def render_message(text):
    """PNG bytes of a panel that shows ``text`` (why the settings are impossible)."""
    return to_png(_message_picture(text))


def _make_controls():
    """Sliders keyed c_in, c_out, kernel_size, groups, input_size."""
    def slider(name, value, description):
        return widgets.IntSlider(value=value, min=1, max=LIMITS[name], description=description,
                                 continuous_update=False)
    return {"c_in": slider("c_in", 64, "C_in"), "c_out": slider("c_out", 128, "C_out"),
            "kernel_size": slider("kernel_size", 3, "K"), "groups": slider("groups", 1, "groups"),
            "input_size": slider("input_size", 32, "input N")}


def parameter_explorer():
    """Build the interactive counter.

    Returns an ipywidgets.VBox with attributes `controls` (dict of the c_in, c_out, kernel_size,
    groups and input_size sliders), `panels` (dict of the "params" and "macs" ipywidgets.Image)
    and `summary` (ipywidgets.HTML). Any slider change redraws; impossible settings (groups not
    dividing the channels) show why, in the panels and the summary.
    """
    controls = _make_controls()
    panels = {name: widgets.Image(format="png", width=WIDTH, height=HEIGHT) for name in PANEL_NAMES}
    summary = widgets.HTML()

    def draw():
        """Render the current slider values."""
        return render(**{name: control.value for name, control in controls.items()})

    rows = [
        widgets.HBox([controls["c_in"], controls["c_out"]]),
        widgets.HBox([controls["kernel_size"], controls["groups"], controls["input_size"]]),
        panels["params"], panels["macs"], summary,
    ]
    return explorer(rows, controls, panels, summary, draw, catch=(ValueError,),
                    error_prefix="Impossible layer: ", error_png=render_message)
