"""Tests for the convolution explorer of notebook 01 (autograder.widgets.convolution)."""

import io

import ipywidgets as widgets
import numpy as np
import pytest
from PIL import Image
from scipy import ndimage, signal

from autograder.data import IMAGE_NAMES
from autograder.widgets.convolution import (
    KERNEL_NAMES,
    apply_kernel,
    convolution_explorer,
    make_kernel,
    parse_kernel,
    render,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def random_image():
    """Random float image (30, 40)."""
    return np.random.default_rng(0).random((30, 40))


@pytest.fixture
def explorer():
    """A small explorer (64x64 panels) for fast widget tests."""
    return convolution_explorer(image_size=64)


def png_of(explorer, name):
    """Current PNG bytes of the explorer panel `name`."""
    return bytes(explorer.panels[name].value)


def decode(png):
    """Decode PNG bytes into a uint8 array (H, W) or (H, W, 3)."""
    return np.asarray(Image.open(io.BytesIO(png)))


def test_kernel_names():
    assert KERNEL_NAMES == ("box", "gaussian", "sobel x", "sobel y", "laplacian", "custom")


@pytest.mark.parametrize(("name", "axis"), [("sobel x", 1), ("sobel y", 0)])
def test_sobel_kernel_correlates_like_ndimage_sobel(random_image, name, axis):
    kernel = make_kernel(name)
    assert kernel.shape == (3, 3)
    expected = ndimage.sobel(random_image, axis=axis)[1:-1, 1:-1]
    np.testing.assert_allclose(signal.correlate2d(random_image, kernel, mode="valid"), expected, atol=1e-12)
    np.testing.assert_allclose(apply_kernel(random_image, kernel, "correlation")[1:-1, 1:-1], expected, atol=1e-12)
    assert not np.allclose(apply_kernel(random_image, kernel, "convolution")[1:-1, 1:-1], expected)


def test_sobel_x_responds_positively_to_brightness_increasing_to_the_right():
    ramp = np.tile(np.arange(10.0), (10, 1))
    assert (apply_kernel(ramp, make_kernel("sobel x"), "correlation")[1:-1, 1:-1] > 0).all()
    assert np.allclose(apply_kernel(ramp, make_kernel("sobel y"), "correlation")[1:-1, 1:-1], 0)


def test_laplacian_kernel_correlates_like_ndimage_laplace(random_image):
    kernel = make_kernel("laplacian", size=7)
    assert kernel.shape == (3, 3)
    expected = ndimage.laplace(random_image)[1:-1, 1:-1]
    np.testing.assert_allclose(signal.correlate2d(random_image, kernel, mode="valid"), expected, atol=1e-12)


@pytest.mark.parametrize(("size", "sigma"), [(1, 1.0), (3, 0.3), (5, 1.0), (15, 5.0)])
def test_gaussian_kernel_sums_to_one_and_peaks_in_the_centre(size, sigma):
    kernel = make_kernel("gaussian", size=size, sigma=sigma)
    assert kernel.shape == (size, size)
    assert kernel.dtype == np.float64
    assert kernel.sum() == pytest.approx(1.0)
    assert kernel.argmax() == kernel.size // 2
    np.testing.assert_array_equal(kernel, kernel.T)


def test_gaussian_kernel_widens_with_sigma():
    narrow = make_kernel("gaussian", size=9, sigma=0.5)
    wide = make_kernel("gaussian", size=9, sigma=3.0)
    assert wide[4, 4] < narrow[4, 4]
    assert wide[0, 0] > narrow[0, 0]


def test_box_kernel_is_uniform():
    np.testing.assert_allclose(make_kernel("box", size=5), np.full((5, 5), 1 / 25))


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1 2 3; 4 5 6", [[1, 2, 3], [4, 5, 6]]),
     ("1,2,3\n4, 5, 6\n", [[1, 2, 3], [4, 5, 6]]),
     ("  -0.5  1e-1 ;; 2,-3 ", [[-0.5, 0.1], [2, -3]]),
     ("7", [[7]])],
)
def test_custom_kernel_parsing(text, expected):
    kernel = make_kernel("custom", custom=text)
    assert kernel.dtype == np.float64
    np.testing.assert_array_equal(kernel, expected)


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "empty"),
     (" ; \n", "empty"),
     ("1 2; 3", "same number of values"),
     ("1 x; 2 3", "'x' in row 1 is not a number"),
     ("1 nan", "not a finite number"),
     (";".join(["1"] * 16), "at most 15x15")],
)
def test_malformed_custom_kernel_raises_a_readable_value_error(text, message):
    with pytest.raises(ValueError, match=message):
        parse_kernel(text)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"name": "sharpen"}, "unknown kernel 'sharpen'.*box, gaussian"),
     ({"name": "box", "size": 4}, "odd"),
     ({"name": "gaussian", "size": 0}, "odd"),
     ({"name": "box", "size": 17}, "between 1 and 15"),
     ({"name": "box", "size": 2.0}, "integer"),
     ({"name": "gaussian", "sigma": 0.0}, "positive"),
     ({"name": "gaussian", "sigma": "wide"}, "number")],
)
def test_make_kernel_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_kernel(**kwargs)


def test_apply_kernel_keeps_the_image_shape_and_mirrors_borders(random_image):
    kernel = make_kernel("box", size=3)
    output = apply_kernel(random_image, kernel, "correlation")
    assert output.shape == random_image.shape
    padded = np.pad(random_image, 1, mode="symmetric")
    np.testing.assert_allclose(output, ndimage.uniform_filter(padded, size=3)[1:-1, 1:-1])


def test_convolution_is_correlation_with_the_rotated_kernel(random_image):
    kernel = np.random.default_rng(1).random((3, 5))
    np.testing.assert_allclose(
        apply_kernel(random_image, kernel, "convolution"),
        apply_kernel(random_image, kernel[::-1, ::-1], "correlation"),
    )


def test_apply_kernel_rejects_unknown_mode(random_image):
    with pytest.raises(ValueError, match="correlation, convolution"):
        apply_kernel(random_image, np.ones((3, 3)), "fft")


@pytest.mark.parametrize("name", ["sobel x", "sobel y"])
def test_correlation_and_convolution_differ_for_sobel(random_image, name):
    kernel = make_kernel(name)
    assert not np.allclose(apply_kernel(random_image, kernel, "correlation"),
                           apply_kernel(random_image, kernel, "convolution"))
    assert "differ" in render("camera", name, 3, 1.0, "correlation", image_size=32)["text"]


@pytest.mark.parametrize("name", ["gaussian", "box", "laplacian"])
def test_correlation_and_convolution_agree_for_symmetric_kernels(random_image, name):
    kernel = make_kernel(name, size=7, sigma=1.5)
    np.testing.assert_allclose(apply_kernel(random_image, kernel, "correlation"),
                               apply_kernel(random_image, kernel, "convolution"))
    assert "agree" in render("camera", name, 7, 1.5, "convolution", image_size=32)["text"]


def test_summary_flags_even_sized_symmetric_kernels():
    text = render("camera", "custom", 3, 1.0, "correlation", custom="1 1; 1 1", image_size=32)["text"]
    assert "differ by a pixel shift" in text


def test_render_returns_the_documented_keys_and_arrays():
    result = render("astronaut", "gaussian", 15, 2.0, "correlation")
    assert set(result) == {"image", "kernel", "output", "png", "text"}
    assert set(result["png"]) == {"image", "kernel", "output"}
    assert result["image"].shape == result["output"].shape == (160, 160)
    assert result["kernel"].shape == (15, 15)
    np.testing.assert_allclose(result["image"], render("astronaut", "box", 3, 1.0, "correlation")["image"])
    np.testing.assert_allclose(
        result["output"],
        signal.correlate2d(result["image"], result["kernel"], mode="same", boundary="symm"),
    )
    assert all(png.startswith(PNG_SIGNATURE) for png in result["png"].values())


def test_render_text_summarises_kernel_and_output():
    result = render("camera", "laplacian", 3, 1.0, "correlation", image_size=48)
    output = result["output"]
    text = result["text"]
    assert "\n" not in text
    assert "kernel 3×3" in text
    assert "sum of weights 0" in text
    assert f"min {output.min():.4g}" in text
    assert f"max {output.max():.4g}" in text


def test_image_panel_is_the_gray_input():
    result = render("coins", "box", 3, 1.0, "correlation", image_size=40)
    pixels = decode(result["png"]["image"])
    assert pixels.shape == (40, 40)
    np.testing.assert_array_equal(pixels, np.round(result["image"] * 255).astype(np.uint8))


def test_kernel_panel_shows_each_weight_as_a_block():
    result = render("camera", "sobel x", 3, 1.0, "correlation", image_size=160)
    pixels = decode(result["png"]["kernel"])
    assert pixels.shape == (159, 159, 3)
    blocks = pixels.reshape(3, 53, 3, 53, 3)
    assert (blocks == blocks[:, :1, :, :1, :]).all()
    left, middle, right = (tuple(blocks[1, 0, column, 0]) for column in range(3))
    assert left != middle != right
    assert middle[0] == middle[1] == middle[2]


def test_signed_output_uses_a_diverging_map_and_positive_output_gray():
    signed = render("camera", "sobel x", 3, 1.0, "correlation", image_size=40)
    assert signed["output"].min() < 0
    assert decode(signed["png"]["output"]).shape == (40, 40, 3)
    smooth = decode(render("camera", "gaussian", 5, 1.0, "correlation", image_size=40)["png"]["output"])
    assert smooth.shape == (40, 40)
    assert smooth.min() == 0
    assert smooth.max() == 255


def test_render_reports_bad_input_as_value_error():
    with pytest.raises(ValueError, match="not a number"):
        render("camera", "custom", 3, 1.0, "correlation", custom="1 2; a b")


def test_explorer_has_described_controls_and_panels(explorer):
    controls = explorer.controls
    assert isinstance(explorer, widgets.VBox)
    assert set(controls) == {"image", "kernel", "size", "sigma", "mode", "custom"}
    assert all(control.description for control in controls.values())
    assert tuple(controls["image"].options) == IMAGE_NAMES
    assert tuple(controls["kernel"].options) == KERNEL_NAMES
    size = controls["size"]
    assert (size.min, size.max, size.step) == (1, 15, 2)
    assert (controls["sigma"].min, controls["sigma"].max) == (0.3, 5.0)
    assert tuple(controls["mode"].options) == ("correlation", "convolution")
    assert isinstance(controls["custom"], widgets.Textarea)
    assert set(explorer.panels) == {"image", "kernel", "output"}
    assert all(isinstance(panel, widgets.Image) for panel in explorer.panels.values())
    assert all(png_of(explorer, name).startswith(PNG_SIGNATURE) for name in explorer.panels)
    assert "kernel" in explorer.summary.value


def test_panels_are_captioned_side_by_side(explorer):
    row = next(child for child in explorer.children
               if isinstance(child, widgets.HBox) and all(isinstance(c, widgets.VBox) for c in child.children))
    captions = [column.children[0].value for column in row.children]
    assert [panel for column in row.children for panel in column.children[1:]] == list(explorer.panels.values())
    assert all(name in caption for name, caption in zip(("input", "kernel", "output"), captions))


def test_moving_the_size_slider_changes_the_output(explorer):
    explorer.controls["kernel"].value = "box"
    before = png_of(explorer, "output")
    kernel_before = png_of(explorer, "kernel")
    explorer.controls["size"].value = 9
    assert png_of(explorer, "output") != before
    assert png_of(explorer, "kernel") != kernel_before
    assert "9×9" in explorer.summary.value


def test_changing_the_mode_changes_the_output_for_sobel_only(explorer):
    explorer.controls["kernel"].value = "sobel x"
    correlation = png_of(explorer, "output")
    explorer.controls["mode"].value = "convolution"
    assert png_of(explorer, "output") != correlation
    explorer.controls["kernel"].value = "gaussian"
    convolution = png_of(explorer, "output")
    explorer.controls["mode"].value = "correlation"
    assert png_of(explorer, "output") == convolution


def test_changing_the_image_changes_the_input_panel(explorer):
    before = png_of(explorer, "image")
    explorer.controls["image"].value = "grace_hopper"
    assert png_of(explorer, "image") != before


def test_malformed_custom_text_shows_a_message_without_raising(explorer):
    controls = explorer.controls
    controls["kernel"].value = "custom"
    output = png_of(explorer, "output")
    controls["custom"].value = "1 2; oops"
    assert "not a number" in explorer.summary.value
    assert "oops" in explorer.summary.value
    assert png_of(explorer, "output") == output
    controls["custom"].value = "0 0 0; 1 0 0; 0 0 0"
    assert "kernel 3×3" in explorer.summary.value
    assert png_of(explorer, "output") != output


def test_custom_text_is_ignored_for_other_kernels(explorer):
    explorer.controls["custom"].value = "not a kernel"
    assert "kernel 5×5" in explorer.summary.value
