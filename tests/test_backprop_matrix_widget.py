"""Tests for the unrolled-matrix explorer of notebook 04 (autograder.widgets.backprop_matrix)."""

import io

import ipywidgets as widgets
import numpy as np
import pytest
from PIL import Image

from autograder.widgets.backprop_matrix import (
    DIMENSIONS,
    MAX_SIZE,
    PALETTE,
    WHITE,
    memory,
    render,
    unrolled_matrix_explorer,
    weight_numbers,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def explorer():
    return unrolled_matrix_explorer()


def decode(png):
    """PNG bytes as a uint8 array (H, W, 3)."""
    return np.asarray(Image.open(io.BytesIO(png)))


def formula_weight_numbers(dims, size, kernel_size, stride, padding):
    """The unrolled matrix by its formula: row r holds weight m at input r * stride - padding + m."""
    n_out = (size + 2 * padding - kernel_size) // stride + 1
    one = np.zeros((n_out, size), dtype=np.int64)
    for r in range(n_out):
        for m in range(kernel_size):
            c = r * stride - padding + m
            if 0 <= c < size:
                one[r, c] = m + 1
    if dims == "1-D":
        return one
    # 2-D: output (i, j) meets input (a, b) through weight (m, q), numbered m K + q + 1, where the
    # 1-D matrix puts weight m at (i, a) and weight q at (j, b)
    m, q = one[:, None, :, None] - 1, one[None, :, None, :] - 1  # axes (i, j, a, b)
    numbers = np.where((m >= 0) & (q >= 0), m * kernel_size + q + 1, 0)
    return numbers.reshape(n_out * n_out, size * size)


@pytest.mark.parametrize("dims", DIMENSIONS)
def test_weight_numbers_follow_the_formula(dims):
    rng = np.random.default_rng(0)
    checked = 0
    while checked < 40:
        size = int(rng.integers(1, MAX_SIZE[dims] + 1))
        kernel, stride = int(rng.integers(1, 6)), int(rng.integers(1, 5))
        padding = int(rng.integers(0, 5))
        if kernel > size + 2 * padding:
            continue
        np.testing.assert_array_equal(weight_numbers(dims, size, kernel, stride, padding),
                                      formula_weight_numbers(dims, size, kernel, stride, padding))
        checked += 1


def test_weight_numbers_of_a_small_1d_case():
    np.testing.assert_array_equal(weight_numbers("1-D", 5, 3, stride=2),
                                  [[1, 2, 3, 0, 0], [0, 0, 1, 2, 3]])
    np.testing.assert_array_equal(weight_numbers("1-D", 3, 3, padding=1),
                                  [[2, 3, 0], [1, 2, 3], [0, 1, 2]])


@pytest.mark.parametrize("args, message", [
    (("3-D", 4, 3), "unknown dimension '3-D'"),
    (("1-D", 2, 3), "does not fit"),
    (("2-D", 13, 3), "between 1 and 12"),
    (("1-D", 8, 6), "kernel size must be between 1 and 5"),
    (("1-D", 8, 3, 0), "stride must be between 1 and 4"),
    (("1-D", 8, 3, 1, -1), "padding must be between 0 and 4"),
    (("1-D", 8.5, 3), "must be an integer"),
])
def test_impossible_settings_raise_readable_value_errors(args, message):
    with pytest.raises(ValueError, match=message):
        weight_numbers(*args)


def test_memory_counts_nonzeros_and_bytes():
    numbers = weight_numbers("2-D", 6, 3, padding=1)
    nnz, density, dense_bytes, csr_bytes = memory(numbers)
    assert nnz == (3 * 6 - 2) ** 2
    assert density == pytest.approx(nnz / 36 ** 2)
    assert dense_bytes == 36 * 36 * 8
    assert csr_bytes == nnz * 12 + 37 * 4


def test_render_returns_the_documented_keys():
    result = render("2-D", 5, 3, stride=2, padding=1)
    assert set(result) == {"numbers", "density", "png", "text"}
    assert set(result["png"]) == {"matrix", "kernel"}
    assert all(png.startswith(PNG_SIGNATURE) for png in result["png"].values())
    assert result["numbers"].shape == (9, 25)
    assert result["density"] == pytest.approx(np.count_nonzero(result["numbers"]) / (9 * 25))
    assert "9 × 25" in result["text"] and "9 weights" in result["text"]


def test_matrix_panel_colours_each_weight_and_leaves_zeros_white():
    result = render("1-D", 6, 3, max_width=480)
    numbers = result["numbers"]
    pixels = decode(result["png"]["matrix"])
    cell = 480 // 6
    cell = min(cell, 24)
    assert pixels.shape == (numbers.shape[0] * cell + 1, numbers.shape[1] * cell + 1, 3)
    centres = pixels[cell // 2::cell, cell // 2::cell][:numbers.shape[0], :numbers.shape[1]]
    for value in range(4):
        expected = WHITE if value == 0 else PALETTE[value - 1]
        assert (centres[numbers == value] == expected).all()
    assert len({tuple(colour) for colour in PALETTE[:25]}) == 25
    assert not any((colour > 240).all() for colour in PALETTE)


@pytest.mark.parametrize("dims, shape", [("1-D", (1, 4)), ("2-D", (4, 4))])
def test_kernel_panel_has_one_block_per_weight(dims, shape):
    pixels = decode(render(dims, 8, 4)["png"]["kernel"])
    assert pixels.shape == (shape[0] * 24 + 1, shape[1] * 24 + 1, 3)
    centres = pixels[12::24, 12::24][:shape[0], :shape[1]].reshape(-1, 3)
    np.testing.assert_array_equal(centres, PALETTE[:shape[0] * shape[1]])


def test_large_matrices_fit_the_panel_width():
    result = render("2-D", 12, 1, max_width=300)
    assert decode(result["png"]["matrix"]).shape[1] <= 300


def test_explorer_has_described_controls_and_panels(explorer):
    controls = explorer.controls
    assert isinstance(explorer, widgets.VBox)
    assert set(controls) == {"dims", "size", "kernel_size", "stride", "padding"}
    assert all(control.description for control in controls.values())
    assert tuple(controls["dims"].options) == DIMENSIONS
    assert (controls["kernel_size"].min, controls["kernel_size"].max) == (1, 5)
    assert (controls["stride"].min, controls["padding"].min) == (1, 0)
    assert set(explorer.panels) == {"matrix", "kernel"}
    assert all(isinstance(panel, widgets.Image) for panel in explorer.panels.values())
    assert all(bytes(panel.value).startswith(PNG_SIGNATURE) for panel in explorer.panels.values())
    assert "density" in explorer.summary.value


def test_moving_the_sliders_redraws_the_matrix(explorer):
    before = bytes(explorer.panels["matrix"].value)
    for name, value in [("size", 12), ("kernel_size", 5), ("stride", 2), ("padding", 2)]:
        explorer.controls[name].value = value
        after = bytes(explorer.panels["matrix"].value)
        assert after != before, name
        before = after
    assert "M is 6 × 12" in explorer.summary.value


def test_switching_to_2d_changes_the_size_slider(explorer):
    explorer.controls["size"].value = 20
    explorer.controls["dims"].value = "2-D"
    size = explorer.controls["size"]
    assert (size.description, size.max, size.value) == ("side", 12, 12)
    assert "M is 100 × 144 (2-D, 9 weights)" in explorer.summary.value
    explorer.controls["dims"].value = "1-D"
    assert (size.description, size.max) == ("n", 32)


def test_impossible_settings_show_a_message_and_keep_the_panels(explorer):
    before = bytes(explorer.panels["matrix"].value)
    explorer.controls["size"].value = 2
    assert "does not fit" in explorer.summary.value
    assert bytes(explorer.panels["matrix"].value) == before
    explorer.controls["padding"].value = 1
    assert "M is 2 × 2" in explorer.summary.value
