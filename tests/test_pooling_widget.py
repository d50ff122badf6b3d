"""Tests for the shift-invariance explorer of notebook 05 (autograder.widgets.pooling)."""

import io
import re

import ipywidgets as widgets
import numpy as np
import pytest
from PIL import Image
from scipy import signal

from autograder.data import IMAGE_NAMES
from autograder.widgets.pooling import (
    CHANGED_RGB,
    DISPLAY_SCALE,
    FILTER_SIZE,
    MAX_SHIFT,
    MODES,
    POOL_SIZES,
    UNCHANGED_RGB,
    compare,
    feature_map,
    pool,
    pooling_explorer,
    random_filter,
    render,
    shifted_image,
    unchanged_fractions,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def explorer():
    """A small explorer (48-pixel image) for fast widget tests."""
    return pooling_explorer(image_size=48)


def png_of(explorer, name):
    """Current PNG bytes of the explorer panel `name`."""
    return bytes(explorer.panels[name].value)


def decode(png):
    """Decode PNG bytes into a uint8 array (H, W) or (H, W, 3)."""
    return np.asarray(Image.open(io.BytesIO(png)))


def test_random_filter_is_seeded_zero_mean_and_unit_norm():
    kernel = random_filter()
    assert kernel.shape == (FILTER_SIZE, FILTER_SIZE)
    assert abs(kernel.sum()) < 1e-12
    assert np.linalg.norm(kernel) == pytest.approx(1.0)
    np.testing.assert_array_equal(kernel, random_filter())
    assert not np.array_equal(kernel, random_filter(seed=1))


@pytest.mark.parametrize("shift", [1, 3, MAX_SHIFT])
def test_shifted_image_moves_the_content_right_without_border_effects(shift):
    moved, still = shifted_image("camera", shift, 40), shifted_image("camera", 0, 40)
    assert moved.shape == still.shape == (40, 40)
    np.testing.assert_array_equal(moved[:, shift:], still[:, :-shift])
    assert not np.array_equal(moved, still)


@pytest.mark.parametrize("shift", [-1, MAX_SHIFT + 1, 1.5])
def test_shifted_image_rejects_bad_shifts(shift):
    with pytest.raises(ValueError, match="shift must be an integer"):
        shifted_image("camera", shift)


def test_feature_map_is_the_relu_of_a_valid_correlation():
    image = np.random.default_rng(0).random((20, 24))
    kernel = random_filter()
    features = feature_map(image, kernel)
    assert features.shape == (16, 20)
    np.testing.assert_allclose(features, np.maximum(signal.correlate2d(image, kernel, "valid"), 0))
    assert features.min() == 0 and features.max() > 0


def test_convolution_is_equivariant_so_features_move_with_the_image():
    kernel = random_filter()
    moved = feature_map(shifted_image("coins", 2, 40), kernel)
    still = feature_map(shifted_image("coins", 0, 40), kernel)
    np.testing.assert_allclose(moved[:, 2:], still[:, :-2], atol=1e-12)


@pytest.mark.parametrize("size", POOL_SIZES)
def test_pool_summarises_side_by_side_windows_and_drops_the_rest(size):
    features = np.random.default_rng(size).random((19, 22))
    rows, columns = 19 // size, 22 // size
    windows = [[features[i * size:(i + 1) * size, j * size:(j + 1) * size] for j in range(columns)]
               for i in range(rows)]
    np.testing.assert_allclose(pool(features, size, "max"), [[w.max() for w in row] for row in windows])
    np.testing.assert_allclose(pool(features, size, "average"), [[w.mean() for w in row] for row in windows])


@pytest.mark.parametrize(("size", "mode", "message"), [(5, "max", "pool size"), (0, "max", "pool size"),
                                                      (2, "min", "unknown mode")])
def test_pool_rejects_bad_settings(size, mode, message):
    with pytest.raises(ValueError, match=message):
        pool(np.ones((8, 8)), size, mode)


def test_compare_and_fractions_leave_out_outputs_that_stay_zero():
    reference = np.array([[0.0, 1.0], [2.0, 0.0]])
    shifted = np.array([[0.0, 1.0], [3.0, 4.0]])
    changed, active = compare(reference, shifted)
    np.testing.assert_array_equal(changed, [[False, False], [True, True]])
    np.testing.assert_array_equal(active, [[False, True], [True, True]])
    assert unchanged_fractions(reference, shifted) == pytest.approx((1 / 3, 1 / 2))
    assert unchanged_fractions(np.zeros((2, 2)), np.zeros((2, 2))) == (1.0, 1.0)
    assert not compare(reference, reference * (1 + 1e-13))[0].any()


def test_render_returns_the_documented_keys_and_shapes():
    result = render("astronaut", 2, 3, "max", image_size=64)
    assert set(result) == {"image", "features", "pooled", "reference", "changed", "unchanged_active",
                           "unchanged_all", "png", "text"}
    side = 64 - FILTER_SIZE + 1
    assert result["image"].shape == (64, 64)
    assert result["features"].shape == (side, side)
    assert result["pooled"].shape == result["reference"].shape == result["changed"].shape == (side // 3,) * 2
    assert result["changed"].dtype == bool
    assert set(result["png"]) == {"image", "features", "pooled", "changed"}
    assert all(png.startswith(PNG_SIGNATURE) for png in result["png"].values())
    np.testing.assert_allclose(result["pooled"], pool(result["features"], 3, "max"))


def test_no_shift_changes_nothing():
    result = render("camera", 0, 2, "max", image_size=48)
    assert not result["changed"].any()
    assert result["unchanged_active"] == result["unchanged_all"] == 1.0


def test_max_pooling_keeps_more_outputs_than_no_pooling_after_a_one_pixel_shift():
    fractions = {size: render("camera", 1, size, "max")["unchanged_active"] for size in POOL_SIZES}
    assert fractions[1] < 0.05
    assert fractions[2] > 0.15
    assert fractions[4] > fractions[2]
    assert render("camera", 1, 2, "average")["unchanged_active"] < fractions[2]


def test_changed_panel_highlights_exactly_the_changed_outputs():
    result = render("coins", 1, 2, "max", image_size=48)
    pixels = decode(result["png"]["changed"])
    factor = DISPLAY_SCALE * 2
    assert pixels.shape == (result["changed"].shape[0] * factor, result["changed"].shape[1] * factor, 3)
    cells = pixels[::factor, ::factor]
    red = np.all(cells == CHANGED_RGB, axis=2)
    np.testing.assert_array_equal(red, result["changed"])
    assert 0 < red.sum() < red.size
    _, active = compare(result["reference"], result["pooled"])
    white = np.all(cells == UNCHANGED_RGB, axis=2)
    np.testing.assert_array_equal(white, active & ~result["changed"])
    assert white.any()
    np.testing.assert_array_equal(cells[~active], 0)


def test_image_panel_is_the_shifted_gray_input_enlarged():
    result = render("coins", 3, 2, "max", image_size=40)
    pixels = decode(result["png"]["image"])
    assert pixels.shape == (40 * DISPLAY_SCALE, 40 * DISPLAY_SCALE)
    np.testing.assert_array_equal(pixels[::DISPLAY_SCALE, ::DISPLAY_SCALE],
                                  np.round(result["image"] * 255).astype(np.uint8))


def test_render_text_reports_the_fractions():
    result = render("camera", 1, 2, "max", image_size=48)
    text = result["text"]
    assert "\n" not in text
    assert "shift 1 px" in text and "2×2 max pooling" in text
    assert f"{result['unchanged_active']:.0%} of the active outputs unchanged" in text
    assert f"{int(result['changed'].sum())} of {result['changed'].size} outputs changed" in text
    assert "no pooling" in render("camera", 1, 1, "max", image_size=48)["text"]


def test_render_rejects_bad_input():
    with pytest.raises(ValueError, match="unknown image"):
        render("nope", 1, 2, "max")
    with pytest.raises(ValueError, match="shift"):
        render("camera", MAX_SHIFT + 1, 2, "max")


def test_explorer_has_described_controls_and_panels(explorer):
    controls = explorer.controls
    assert isinstance(explorer, widgets.VBox)
    assert set(controls) == {"image", "shift", "pool", "mode"}
    assert all(control.description for control in controls.values())
    assert tuple(controls["image"].options) == IMAGE_NAMES
    assert (controls["shift"].min, controls["shift"].max) == (0, MAX_SHIFT)
    assert (controls["pool"].min, controls["pool"].max) == (POOL_SIZES[0], POOL_SIZES[-1])
    assert tuple(controls["mode"].options) == MODES
    assert set(explorer.panels) == {"image", "features", "pooled", "changed"}
    assert all(isinstance(panel, widgets.Image) for panel in explorer.panels.values())
    assert all(png_of(explorer, name).startswith(PNG_SIGNATURE) for name in explorer.panels)
    assert "of the active outputs unchanged" in explorer.summary.value


def test_panels_are_captioned_side_by_side(explorer):
    row = next(child for child in explorer.children
               if isinstance(child, widgets.HBox) and all(isinstance(c, widgets.VBox) for c in child.children))
    captions = [column.children[0].value for column in row.children]
    assert [column.children[1] for column in row.children] == list(explorer.panels.values())
    assert all(len(re.sub("<[^>]+>", "", caption)) <= 24 for caption in captions)
    assert "changed" in captions[-1]


def test_moving_the_shift_slider_redraws_input_and_changed_outputs(explorer):
    explorer.controls["shift"].value = 0
    image, changed = png_of(explorer, "image"), png_of(explorer, "changed")
    assert "100% of the active outputs unchanged" in explorer.summary.value
    explorer.controls["shift"].value = 1
    assert png_of(explorer, "image") != image
    assert png_of(explorer, "changed") != changed
    assert "shift 1 px" in explorer.summary.value
    assert "100% of the active" not in explorer.summary.value


def test_pool_size_and_mode_change_the_pooled_panel(explorer):
    pooled = png_of(explorer, "pooled")
    explorer.controls["pool"].value = 4
    assert png_of(explorer, "pooled") != pooled
    assert "4×4 max pooling" in explorer.summary.value
    pooled = png_of(explorer, "pooled")
    explorer.controls["mode"].value = "average"
    assert png_of(explorer, "pooled") != pooled
    assert "4×4 average pooling" in explorer.summary.value


def test_changing_the_image_changes_the_input_panel(explorer):
    before = png_of(explorer, "image")
    explorer.controls["image"].value = "grace_hopper"
    assert png_of(explorer, "image") != before
