"""Feature-map explorer of notebook 10: a test digit through a trained CNN, layer by layer.

Pick one of the first MNIST test digits, move it, rotate it or add noise; the panels show the
input, the feature maps after each block (conv1 + ReLU, pool1, conv2 + ReLU, pool2) and the
softmax probabilities of the ten classes. The network is ConvNet's architecture in PyTorch
(``autograder.convnet.torch_convnet``) with the weights of ``data/convnet_mnist.npz``, made by
``data/make_convnet_mnist.py``: nothing here uses student code.

Each stage's maps share one colour scale, from 0 (black) to the stage's largest value (white),
so the maps of a stage can be compared with each other; the summary line gives those largest
values.

Measured: ``render`` takes 6 to 9 ms (median of 200 redraws) on the shared 2-core build machine;
the first call also loads the test digits (about 0.3 s).
"""
import functools

import ipywidgets as widgets
import numpy as np
import torch
from PIL import Image, ImageDraw
from scipy import ndimage

from ..convnet import load_pretrained
from ..data import load_mnist
from .common import DRAWING_ERRORS, check_int, colour_table, enlarge, explorer, panel_column, to_png

N_DIGITS = 100
MAX_SHIFT = 8
MAX_ROTATION = 180
MAX_NOISE = 1.0
STAGES = {"conv1": "relu1", "pool1": "pool1", "conv2": "relu2", "pool2": "pool2"}  # panel: layer
LAYOUT = {"conv1": (2, 4, 3), "pool1": (2, 4, 6), "conv2": (4, 4, 6), "pool2": (4, 4, 12)}  # rows, columns, scale
PANEL_NAMES = ("input",) + tuple(STAGES) + ("softmax",)
INPUT_SCALE = 5
GAP = 2
GAP_VALUE = 60
BAR_WIDTH, BAR_GAP, BAR_HEIGHT, LABEL_HEIGHT = 18, 6, 120, 16
BAR_RGB, PREDICTED_RGB, TRUE_RGB = (150, 150, 150), (30, 110, 220), (20, 150, 60)
_MAGMA_LUT = colour_table("magma", 256)


@functools.lru_cache(maxsize=1)
def _digits():
    """Read-only (images float32 (N_DIGITS, 28, 28) in [0, 1], labels int64) of the first test digits."""
    images, labels = load_mnist("test")
    images = images[:N_DIGITS].astype(np.float32) / 255
    labels = labels[:N_DIGITS].copy()
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels


@functools.lru_cache(maxsize=1)
def _network():
    net, _ = load_pretrained()
    return net


def transformed_digit(index, shift_x=0, shift_y=0, rotation=0, noise=0.0):
    """Test digit ``index`` rotated, moved and made noisy: (28, 28) float32 in [0, 1].

    index: 0..N_DIGITS-1; rotation: degrees counter-clockwise about the image centre (bilinear,
    in -MAX_ROTATION..MAX_ROTATION); shift_x, shift_y: pixels right and down (-MAX_SHIFT..MAX_SHIFT,
    zeros come in); noise: standard deviation (0..MAX_NOISE) of Gaussian noise added (its seed is
    the digit's index, so a digit keeps its noise pattern), then clipped to [0, 1].
    Returns ``(image, label)``. Raises ValueError for values out of range.
    """
    index = check_int(index, "digit", 0, N_DIGITS - 1)
    shift_x = check_int(shift_x, "shift x", -MAX_SHIFT, MAX_SHIFT)
    shift_y = check_int(shift_y, "shift y", -MAX_SHIFT, MAX_SHIFT)
    rotation = check_int(rotation, "rotation", -MAX_ROTATION, MAX_ROTATION)
    noise = float(noise)
    if not 0.0 <= noise <= MAX_NOISE:
        raise ValueError(f"noise must lie in [0, {MAX_NOISE}], got {noise}")
    images, labels = _digits()
    image = np.array(images[index], dtype=np.float64)
    if rotation:
        image = ndimage.rotate(image, rotation, reshape=False, order=1, mode="constant")
    if shift_x or shift_y:
        image = ndimage.shift(image, (shift_y, shift_x), order=0, mode="constant")
    if noise:
        image = image + noise * np.random.default_rng(index).normal(size=image.shape)
    return np.clip(image, 0.0, 1.0).astype(np.float32), int(labels[index])


def feature_maps(image, net=None):
    """The maps of ``image`` (28, 28) through the network (the pretrained one by default).

    Returns a dict of float32 arrays: "conv1" (8, 24, 24) after ReLU, "pool1" (8, 12, 12),
    "conv2" (16, 8, 8) after ReLU, "pool2" (16, 4, 4), "probabilities" (10,) (softmax of the scores).
    """
    net = net if net is not None else _network()
    outputs = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one image: waking a thread pool costs more than the work
    try:
        with torch.no_grad():
            x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None, None]
            for name, layer in net.named_children():
                x = layer(x)
                outputs[name] = x[0]
            maps = {panel: outputs[layer].numpy().copy() for panel, layer in STAGES.items()}
            maps["probabilities"] = torch.softmax(x[0], dim=0).numpy().copy()
    finally:
        torch.set_num_threads(threads)
    return maps


def mosaic(maps, rows, columns, scale, top):
    """The maps (K, h, w) tiled rows x columns, each enlarged `scale` times, on the magma colour
    map from 0 to `top`, separated by gray lines of GAP pixels: RGB uint8."""
    k, h, w = maps.shape
    levels = np.clip(maps / top, 0.0, 1.0) if top > 0 else np.zeros_like(maps)
    coloured = _MAGMA_LUT[(levels * 255).round().astype(np.intp)]  # (K, h, w, 3)
    tile_h, tile_w = h * scale, w * scale
    canvas = np.full((rows * (tile_h + GAP) - GAP, columns * (tile_w + GAP) - GAP, 3), GAP_VALUE,
                     dtype=np.uint8)
    for number in range(k):
        r, c = divmod(number, columns)
        canvas[r * (tile_h + GAP):r * (tile_h + GAP) + tile_h,
               c * (tile_w + GAP):c * (tile_w + GAP) + tile_w] = enlarge(coloured[number], scale)
    return canvas


def bars(probabilities, label, predicted):
    """Ten vertical bars of the probabilities, digits below: RGB uint8. The predicted class is
    blue; the true class has a green label."""
    width = 10 * (BAR_WIDTH + BAR_GAP) + BAR_GAP
    picture = Image.new("RGB", (width, BAR_HEIGHT + LABEL_HEIGHT + 4), "white")
    draw = ImageDraw.Draw(picture)
    for digit, p in enumerate(probabilities):
        left = BAR_GAP + digit * (BAR_WIDTH + BAR_GAP)
        height = int(round(float(p) * BAR_HEIGHT))
        colour = PREDICTED_RGB if digit == predicted else BAR_RGB
        if height:
            draw.rectangle([left, BAR_HEIGHT - height, left + BAR_WIDTH - 1, BAR_HEIGHT - 1], fill=colour)
        draw.line([left, BAR_HEIGHT, left + BAR_WIDTH - 1, BAR_HEIGHT], fill=(0, 0, 0))
        draw.text((left + BAR_WIDTH // 2 - 3, BAR_HEIGHT + 3), str(digit),
                  fill=TRUE_RGB if digit == label else (0, 0, 0))
    return np.asarray(picture)


def _summary(label, predicted, probabilities, tops, transform):
    order = np.argsort(probabilities)[::-1]
    second = int(order[1])
    verdict = "right" if predicted == label else "wrong"
    return (f"{transform}: true digit {label}, the network says {predicted} "
            f"({probabilities[predicted]:.1%}; next {second}, {probabilities[second]:.1%}): {verdict}. "
            "Largest value of each stage (white): "
            + ", ".join(f"{name} {tops[name]:.2f}" for name in STAGES))


def render(index=0, shift_x=0, shift_y=0, rotation=0, noise=0.0):
    """Compute and draw one state of the explorer.

    Arguments as ``transformed_digit``. Returns a dict with "image" (28, 28) float32, the maps of
    ``feature_maps`` ("conv1", "pool1", "conv2", "pool2", "probabilities"), "label" and
    "predicted" (ints), "png" (PNG bytes for PANEL_NAMES) and "text" (a one-line summary).
    Raises ValueError for values out of range.
    """
    image, label = transformed_digit(index, shift_x, shift_y, rotation, noise)
    maps = feature_maps(image)
    probabilities = maps["probabilities"]
    predicted = int(probabilities.argmax())
    tops = {name: float(maps[name].max()) for name in STAGES}
    png = {"input": to_png(enlarge((image * 255).round().astype(np.uint8), INPUT_SCALE)),
           "softmax": to_png(bars(probabilities, label, predicted))}
    for name, (rows, columns, scale) in LAYOUT.items():
        png[name] = to_png(mosaic(maps[name], rows, columns, scale, tops[name]))
    transform = (f"digit {index}, shifted ({shift_x:+d}, {shift_y:+d}) px, rotated {rotation:+d}°, "
                 f"noise {noise:.2f}")
    return dict(maps, image=image, label=label, predicted=predicted, png=png,
                text=_summary(label, predicted, probabilities, tops, transform))


def _make_controls():
    """The input controls, keyed digit, shift_x, shift_y, rotation, noise (digit first)."""
    return {
        "digit": widgets.IntSlider(value=0, min=0, max=N_DIGITS - 1, description="test digit"),
        "shift_x": widgets.IntSlider(value=0, min=-MAX_SHIFT, max=MAX_SHIFT, description="shift right"),
        "shift_y": widgets.IntSlider(value=0, min=-MAX_SHIFT, max=MAX_SHIFT, description="shift down"),
        "rotation": widgets.IntSlider(value=0, min=-MAX_ROTATION, max=MAX_ROTATION, step=5,
                                      description="rotate (°)"),
        "noise": widgets.FloatSlider(value=0.0, min=0.0, max=MAX_NOISE, step=0.05, description="noise"),
    }


def convnet_explorer():
    """Build the interactive explorer of the trained network's feature maps.

    Returns an ipywidgets.VBox with attributes `controls` (dict of the digit, shift_x, shift_y,
    rotation and noise sliders), `panels` (dict of the input, conv1, pool1, conv2, pool2 and
    softmax ipywidgets.Image) and `summary` (ipywidgets.HTML: true and predicted digit, the
    probability, the largest value of each stage). Any change redraws.
    """
    controls = _make_controls()
    panels = {name: widgets.Image(format="png") for name in PANEL_NAMES}
    summary = widgets.HTML()

    def draw():
        """Render the current control values."""
        return render(controls["digit"].value, controls["shift_x"].value, controls["shift_y"].value,
                      controls["rotation"].value, controls["noise"].value)

    captions = {"input": "input (28×28)", "conv1": "conv1 + ReLU: 8 maps 24×24",
                "pool1": "pool1: 8 maps 12×12", "conv2": "conv2 + ReLU: 16 maps 8×8",
                "pool2": "pool2: 16 maps 4×4", "softmax": "softmax: P(digit)"}
    column = {"margin": "0 12px 0 0"}
    rows = [
        widgets.HBox([controls["digit"], controls["rotation"], controls["noise"]]),
        widgets.HBox([controls["shift_x"], controls["shift_y"]]),
        widgets.HBox([panel_column(captions[name], panels[name], layout=column)
                      for name in ("input", "conv1", "pool1")]),
        widgets.HBox([panel_column(captions[name], panels[name], layout=column)
                      for name in ("conv2", "pool2", "softmax")]),
        summary,
    ]
    return explorer(rows, controls, panels, summary, draw, catch=DRAWING_ERRORS)
