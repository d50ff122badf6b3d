"""Tests for the parameter counter of notebook 03 (autograder.widgets.parameters)."""
import io
import time

import ipywidgets as widgets
import numpy as np
import pytest
from PIL import Image

from autograder.widgets.parameters import LAYERS, counts, parameter_explorer, render

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def explorer():
    return parameter_explorer()


def png_of(explorer, name):
    return bytes(explorer.panels[name].value)


def decode(png):
    return np.asarray(Image.open(io.BytesIO(png)))


def test_counts_follow_the_formulas():
    params, macs = counts(c_in=64, c_out=128, kernel_size=3, groups=1, input_size=32)
    assert params == {"standard conv": 128 * (64 * 9 + 1),
                      "depthwise separable": 64 * (9 + 1) + 128 * (64 + 1),
                      "dense": (128 * 32 * 32) * (64 * 32 * 32 + 1)}
    assert macs == {"standard conv": 32 * 32 * 128 * 64 * 9,
                    "depthwise separable": 32 * 32 * 64 * 9 + 32 * 32 * 128 * 64,
                    "dense": (64 * 32 * 32) * (128 * 32 * 32)}


def test_groups_divide_the_standard_convolution_only():
    grouped, grouped_macs = counts(8, 16, 3, 4, 5)
    assert grouped["standard conv"] == 16 * (2 * 9 + 1)
    assert grouped_macs["standard conv"] == 5 * 5 * 16 * 2 * 9
    assert grouped["depthwise separable"] == counts(8, 16, 3, 1, 5)[0]["depthwise separable"]


def test_render_returns_the_documented_keys_and_pngs():
    result = render(16, 32, 5, 2, 10)
    assert set(result) == {"params", "macs", "png", "text"}
    assert tuple(result["params"]) == tuple(result["macs"]) == LAYERS
    assert set(result["png"]) == {"params", "macs"}
    assert all(png.startswith(PNG_SIGNATURE) for png in result["png"].values())
    assert decode(result["png"]["params"]).ndim == 3
    assert "\n" not in result["text"] and "5x5 conv (groups=2)" in result["text"]


def test_longer_bars_for_larger_counts():
    """The dense layer's bar (red) reaches further right than the separable one's (green)."""
    pixels = decode(render(64, 64, 3, 1, 32)["png"]["params"]).astype(int)

    def right_end(colour):
        columns = np.nonzero((np.abs(pixels - colour).sum(axis=2) < 10).any(axis=0))[0]
        return columns.max()

    assert right_end((202, 0, 32)) > right_end((33, 102, 172)) > right_end((77, 172, 38))


@pytest.mark.parametrize("kwargs, message", [
    ({"groups": 3}, "groups=3 does not divide C_in=64"),
    ({"c_in": 6, "groups": 4}, "groups=4 does not divide C_in=6"),
    ({"c_out": 10, "groups": 4}, "groups=4 does not divide C_out=10"),
    ({"kernel_size": 0}, "kernel_size must be between 1 and 11"),
    ({"input_size": 2.5}, "input_size must be an integer"),
])
def test_impossible_settings_say_why(kwargs, message):
    settings = {"c_in": 64, "c_out": 128, "kernel_size": 3, "groups": 1, "input_size": 32, **kwargs}
    with pytest.raises(ValueError, match=message):
        render(**settings)


def test_render_is_fast():
    render(512, 512, 11, 64, 224)
    start = time.perf_counter()
    for _ in range(5):
        render(512, 512, 11, 64, 224)
    assert (time.perf_counter() - start) / 5 < 0.1


def test_explorer_has_described_controls_and_panels(explorer):
    assert isinstance(explorer, widgets.VBox)
    assert set(explorer.controls) == {"c_in", "c_out", "kernel_size", "groups", "input_size"}
    assert all(isinstance(c, widgets.IntSlider) and c.description for c in explorer.controls.values())
    assert set(explorer.panels) == {"params", "macs"}
    assert all(png_of(explorer, name).startswith(PNG_SIGNATURE) for name in explorer.panels)
    assert "parameters" in explorer.summary.value


@pytest.mark.parametrize("name, value", [("c_in", 32), ("c_out", 16), ("kernel_size", 5),
                                         ("input_size", 100)])
def test_moving_a_slider_redraws(explorer, name, value):
    before = {panel: png_of(explorer, panel) for panel in explorer.panels}
    summary = explorer.summary.value
    explorer.controls[name].value = value
    assert any(png_of(explorer, panel) != before[panel] for panel in explorer.panels)
    assert explorer.summary.value != summary


def test_impossible_groups_explained_then_recovered(explorer):
    explorer.controls["groups"].value = 3
    assert "does not divide" in explorer.summary.value and "b00020" in explorer.summary.value
    message = png_of(explorer, "params")
    explorer.controls["groups"].value = 4
    assert "does not divide" not in explorer.summary.value
    assert "groups=4" in explorer.summary.value
    assert png_of(explorer, "params") != message
