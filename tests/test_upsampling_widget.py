"""Tests for the transposed-convolution explorer of notebook 06 (autograder.widgets.upsampling)."""

import io
import time

import ipywidgets as widgets
import numpy as np
import pytest
from PIL import Image

from autograder.widgets.upsampling import (
    IMAGE_CHOICES,
    KERNEL_NAMES,
    bilinear_size,
    interior,
    make_image,
    make_kernel,
    overlap_counts,
    render,
    transposed_convolution,
    transposed_convolution_explorer,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def explorer():
    """A small explorer (16x16 input) for fast widget tests."""
    return transposed_convolution_explorer(image_size=16, panel_size=96)


def png_of(explorer, name):
    return bytes(explorer.panels[name].value)


def decode(png):
    return np.asarray(Image.open(io.BytesIO(png)))


def fcn_bilinear(stride):
    """FCN's upsample_filt: the bilinear kernel written out."""
    size = 2 * stride - stride % 2
    factor = (size + 1) // 2
    centre = factor - 1 if size % 2 == 1 else factor - 0.5
    rows, columns = np.ogrid[:size, :size]
    return (1 - abs(rows - centre) / factor) * (1 - abs(columns - centre) / factor)


def test_names():
    assert KERNEL_NAMES == ("box", "bilinear", "random")
    assert IMAGE_CHOICES[0] == "constant" and "camera" in IMAGE_CHOICES


@pytest.mark.parametrize("stride", [1, 2, 3, 4])
def test_bilinear_kernel_is_fcns_upsampling_filter(stride):
    kernel = make_kernel("bilinear", stride, 5)
    assert kernel.shape == (bilinear_size(stride),) * 2
    np.testing.assert_allclose(kernel, fcn_bilinear(stride), atol=1e-12)
    kernel[0, 0] = 99.0  # callers get copies
    assert make_kernel("bilinear", stride, 5)[0, 0] != 99.0


@pytest.mark.parametrize("name", ["box", "random"])
@pytest.mark.parametrize("stride, size", [(1, 1), (2, 3), (4, 8)])
def test_box_and_random_kernels_have_the_chosen_size_and_sum_to_stride_squared(name, stride, size):
    kernel = make_kernel(name, stride, size)
    assert kernel.shape == (size, size)
    assert kernel.sum() == pytest.approx(stride ** 2)
    assert (kernel > 0).all()
    np.testing.assert_array_equal(kernel, make_kernel(name, stride, size))


@pytest.mark.parametrize("kwargs, message", [
    ({"name": "gaussian", "stride": 2, "size": 3}, "unknown kernel 'gaussian'"),
    ({"name": "box", "stride": 0, "size": 3}, "stride must be between 1 and 4"),
    ({"name": "box", "stride": 2, "size": 9}, "kernel size must be between 1 and 8"),
    ({"name": "box", "stride": 2.0, "size": 3}, "stride must be an integer"),
])
def test_make_kernel_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_kernel(**kwargs)


def test_make_image():
    np.testing.assert_array_equal(make_image("constant", 5), np.ones((5, 5)))
    photo = make_image("camera", 12)
    assert photo.shape == (12, 12) and 0 <= photo.min() <= photo.max() <= 1
    photo[:] = -1  # callers get copies
    assert make_image("camera", 12).min() >= 0
    with pytest.raises(ValueError, match="unknown image"):
        make_image("lena", 12)


@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (2, 4)])
def test_transposed_convolution_scatters_kernel_copies(stride, shape):
    """Each input pixel adds a copy of the kernel, scaled by its value, at stride-spaced offsets."""
    rng = np.random.default_rng(stride)
    image, kernel = rng.normal(size=(4, 6)), rng.normal(size=shape)
    expected = np.zeros(((4 - 1) * stride + shape[0], (6 - 1) * stride + shape[1]))
    for i in range(4):
        for j in range(6):
            expected[i * stride:i * stride + shape[0], j * stride:j * stride + shape[1]] += image[i, j] * kernel
    np.testing.assert_allclose(transposed_convolution(image, kernel, stride), expected, atol=1e-12)


def test_overlap_counts_follow_k_over_s():
    counts = overlap_counts((6, 6), (3, 3), 2)
    inside = interior(counts, 3, 2, 6)
    assert set(np.unique(inside)) == {1, 2, 4}
    assert (interior(overlap_counts((6, 6), (4, 4), 2), 4, 2, 6) == 4).all()
    assert interior(overlap_counts((6, 6), (2, 2), 3), 2, 3, 6).min() == 0


def test_render_returns_the_documented_keys_and_arrays():
    result = render("camera", "random", 3, 5, image_size=10, panel_size=60)
    assert set(result) == {"image", "kernel", "output", "overlaps", "png", "text"}
    assert set(result["png"]) == {"input", "output", "overlaps"}
    assert result["image"].shape == (10, 10)
    assert result["output"].shape == result["overlaps"].shape == (9 * 3 + 5,) * 2
    assert all(png.startswith(PNG_SIGNATURE) for png in result["png"].values())
    assert decode(result["png"]["overlaps"]).shape[2] == 3
    assert max(decode(result["png"]["output"]).shape) <= 60


def test_constant_image_shows_a_checkerboard_only_when_k_is_not_a_multiple_of_s():
    uneven = render("constant", "box", 2, 3, image_size=8)
    inside = interior(uneven["output"], 3, 2, 8)
    assert inside.max() > inside.min() + 0.5
    assert "1 to 4 kernel taps" in uneven["text"] and "checkerboard" in uneven["text"]
    even = render("constant", "box", 2, 4, image_size=8)
    np.testing.assert_allclose(interior(even["output"], 4, 2, 8), 1.0)
    assert "receives 4 kernel taps" in even["text"] and "no checkerboard" in even["text"]
    holes = render("constant", "box", 3, 2, image_size=8)
    assert "holes" in holes["text"]


@pytest.mark.parametrize("stride", [2, 3])
def test_bilinear_kernel_reproduces_a_constant_image_inside(stride):
    result = render("constant", "bilinear", stride, 1, image_size=8)
    size = bilinear_size(stride)
    np.testing.assert_allclose(interior(result["output"], size, stride, 8), 1.0, atol=1e-12)


def test_constant_input_is_drawn_mid_gray_and_photographs_use_the_full_range():
    assert (decode(render("constant", "box", 2, 3, image_size=8)["png"]["input"]) == 128).all()
    photo = decode(render("camera", "box", 2, 3, image_size=8)["png"]["input"])
    assert photo.min() == 0 and photo.max() == 255


def test_output_panel_enlarges_pixels_by_an_integer_factor():
    result = render("constant", "box", 2, 3, image_size=8, panel_size=100)
    pixels = decode(result["png"]["output"])
    side = result["output"].shape[0]  # 17
    factor = 100 // side
    assert pixels.shape == (side * factor, side * factor)
    blocks = pixels.reshape(side, factor, side, factor)
    assert (blocks == blocks[:, :1, :, :1]).all()


def test_render_is_fast():
    render("camera", "random", 4, 8)
    start = time.perf_counter()
    for _ in range(5):
        render("camera", "random", 4, 8)
    assert (time.perf_counter() - start) / 5 < 0.1


def test_explorer_has_described_controls_and_panels(explorer):
    controls = explorer.controls
    assert isinstance(explorer, widgets.VBox)
    assert set(controls) == {"image", "kernel", "stride", "size"}
    assert all(control.description for control in controls.values())
    assert tuple(controls["image"].options) == IMAGE_CHOICES
    assert tuple(controls["kernel"].options) == KERNEL_NAMES
    assert (controls["stride"].min, controls["stride"].max) == (1, 4)
    assert (controls["size"].min, controls["size"].max) == (1, 8)
    assert set(explorer.panels) == {"input", "output", "overlaps"}
    assert all(isinstance(panel, widgets.Image) for panel in explorer.panels.values())
    assert all(png_of(explorer, name).startswith(PNG_SIGNATURE) for name in explorer.panels)
    assert "kernel taps" in explorer.summary.value


def test_moving_the_size_slider_changes_output_and_overlaps(explorer):
    before = {name: png_of(explorer, name) for name in ("output", "overlaps")}
    explorer.controls["size"].value = 4
    assert all(png_of(explorer, name) != before[name] for name in before)
    assert "no checkerboard" in explorer.summary.value


def test_moving_the_stride_slider_changes_the_output(explorer):
    before = png_of(explorer, "output")
    explorer.controls["stride"].value = 3
    assert png_of(explorer, "output") != before
    assert "stride 3" in explorer.summary.value


def test_bilinear_disables_the_size_slider(explorer):
    explorer.controls["kernel"].value = "bilinear"
    assert explorer.controls["size"].disabled
    assert "kernel 4×4" in explorer.summary.value
    explorer.controls["kernel"].value = "box"
    assert not explorer.controls["size"].disabled


def test_changing_the_image_changes_input_and_output_but_not_overlaps(explorer):
    before = {name: png_of(explorer, name) for name in explorer.panels}
    explorer.controls["image"].value = "coins"
    assert png_of(explorer, "input") != before["input"]
    assert png_of(explorer, "output") != before["output"]
    assert png_of(explorer, "overlaps") == before["overlaps"]
