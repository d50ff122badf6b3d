"""Tests for the window explorer of notebook 02 (autograder.widgets.output_size)."""
import io
import itertools
import time

import ipywidgets as widgets
import numpy as np
import pytest
from PIL import Image

from autograder.widgets.output_size import (
    CELL, LAYERS, LIMITS, output_size_explorer, render, window_starts,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
GRID = list(itertools.product(range(1, 13), range(1, 6), range(1, 5), range(4), range(1, 4)))


def decode(png):
    return np.asarray(Image.open(io.BytesIO(png)))


@pytest.fixture
def explorer():
    return output_size_explorer()


def enumerated_starts(n, kernel_size, stride, padding, dilation, layer):
    """Every window start that fits, found by enumeration (independent of PyTorch): windows
    start every stride while the span fits the padded input; in ceil mode one more may hang over
    the right edge by less than a stride if it starts inside the input or the left padding;
    pooling with padding above kernel_size // 2 has none."""
    if layer != "convolution" and padding > kernel_size // 2:
        return []
    last = n + 2 * padding - (dilation * (kernel_size - 1) + 1)
    if layer == "pooling, ceil_mode":
        last += stride - 1
    return [start for start in range(0, last + 1, stride)
            if layer != "pooling, ceil_mode" or start < n + padding]


@pytest.mark.parametrize("layer", LAYERS)
def test_pytorchs_windows_are_every_window_that_fits(layer):
    for n, k, s, p, d in GRID:
        starts, reason = window_starts(n, k, s, p, d, layer)
        assert starts == enumerated_starts(n, k, s, p, d, layer), (n, k, s, p, d)
        assert (reason is None) == bool(starts)


def test_windows_start_every_stride_and_fit_the_padded_input():
    starts, reason = window_starts(7, 3, 2, 1, 2, "convolution")
    assert reason is None and starts == [0, 2, 4]
    assert starts[-1] + 2 * (3 - 1) < 7 + 2
    ceil, _ = window_starts(7, 2, 2, 0, 1, "pooling, ceil_mode")
    assert ceil == [0, 2, 4, 6]  # the last window hangs one pixel over the edge


def test_every_slider_setting_has_windows_or_a_reason():
    ranges = [range(low, high + 1) for low, high in LIMITS.values()]
    for values in itertools.product(*ranges):
        for layer in LAYERS:
            starts, reason = window_starts(*values[:2], values[3], values[2], values[4], layer)
            assert bool(starts) != bool(reason), (values, layer)


def test_unknown_layer_raises():
    with pytest.raises(ValueError, match="convolution, pooling"):
        window_starts(5, 3, layer="upsampling")


@pytest.mark.parametrize("args, reason", [
    ((3, 5, 1, 0, 1, "convolution"), "no window fits"),
    ((16, 7, 1, 4, 4, "convolution"), "no window fits"),
    ((8, 2, 1, 2, 1, "pooling"), "padding <= kernel_size // 2 = 1"),
    ((2, 3, 1, 0, 1, "pooling"), "no window fits"),
])
def test_impossible_settings_are_drawn_and_explained(args, reason):
    result = render(*args)
    assert result["output_size"] is None and result["starts"] == []
    assert reason in result["reason"] and reason in result["text"]
    assert all(png.startswith(PNG_SIGNATURE) for png in result["png"].values())


def test_render_returns_the_documented_keys_and_one_row_per_window():
    result = render(9, 3, stride=2, padding=1, dilation=2)
    assert set(result) == {"starts", "output_size", "reason", "png", "text"}
    assert set(result["png"]) == {"windows", "grid"}
    assert result["output_size"] == 4 and result["reason"] is None
    windows = decode(result["png"]["windows"])
    assert windows.shape[0] == (4 + 4) * CELL  # input, gap, 4 windows, gap, output
    grid = decode(result["png"]["grid"])
    assert grid.shape[1] > grid.shape[0]  # the output grid sits beside the input


def test_the_pictures_change_with_the_settings():
    base = render(7, 3, 1, 0, 1)["png"]
    for changed in (render(8, 3, 1, 0, 1), render(7, 5, 1, 0, 1), render(7, 3, 2, 0, 1),
                    render(7, 3, 1, 1, 1), render(7, 3, 1, 0, 2)):
        assert changed["png"]["windows"] != base["windows"]
        assert changed["png"]["grid"] != base["grid"]


@pytest.mark.parametrize("args, phrase", [
    ((8, 2, 2, 0, 1, "convolution"), "tile the input"),
    ((7, 3, 1, 1, 1, "convolution"), "'Same' padding"),
    ((7, 3, 1, 0, 2, "convolution"), "light squares are the holes"),
    ((6, 3, 2, 0, 1, "convolution"), "never covered (the division rounds down)"),
    ((7, 2, 2, 0, 1, "pooling, ceil_mode"), "hangs 1 pixel(s) over the edge"),
    ((5, 2, 2, 1, 1, "pooling, ceil_mode"), "a window would start in the right padding) = 3"),
    ((5, 1, 3, 0, 1, "convolution"), "Stride > span"),
])
def test_summary_explains_the_picture(args, phrase):
    assert phrase in render(*args)["text"]


def test_render_is_fast_at_the_largest_settings():
    render(16, 7, 1, 4, 1)
    timings = []
    for _ in range(5):
        start = time.perf_counter()
        render(16, 7, 1, 4, 1, "pooling, ceil_mode")
        timings.append(time.perf_counter() - start)
    assert min(timings) < 0.1


def test_explorer_has_described_controls_and_panels(explorer):
    controls = explorer.controls
    assert isinstance(explorer, widgets.VBox)
    assert set(controls) == set(LIMITS) | {"layer"}
    for name, (low, high) in LIMITS.items():
        assert (controls[name].min, controls[name].max) == (low, high)
        assert controls[name].description
    assert tuple(controls["layer"].options) == LAYERS
    assert set(explorer.panels) == {"windows", "grid"}
    assert all(isinstance(panel, widgets.Image) for panel in explorer.panels.values())
    assert all(bytes(panel.value).startswith(PNG_SIGNATURE) for panel in explorer.panels.values())
    assert "Output size" in explorer.summary.value


def test_moving_a_slider_redraws(explorer):
    before = {name: bytes(panel.value) for name, panel in explorer.panels.items()}
    explorer.controls["stride"].value = 1
    assert all(bytes(panel.value) != before[name] for name, panel in explorer.panels.items())
    assert "S = 1" in explorer.summary.value


def test_impossible_settings_show_why_without_raising(explorer):
    explorer.controls["n"].value = 2
    explorer.controls["padding"].value = 0
    explorer.controls["kernel_size"].value = 7
    assert "No output" in explorer.summary.value and "#b00020" in explorer.summary.value
    explorer.controls["kernel_size"].value = 2
    assert "No output" not in explorer.summary.value
    explorer.controls["layer"].value = "pooling"
    explorer.controls["padding"].value = 3
    assert "kernel_size // 2" in explorer.summary.value
