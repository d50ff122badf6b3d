"""Tests for the feature-map explorer of notebook 10 (autograder.widgets.convnet) and its weights."""
import hashlib
import io
import re

import ipywidgets as widgets
import numpy as np
import pytest
import torch
from PIL import Image

from autograder import convnet
from autograder.data import load_mnist
from autograder.widgets import convnet as widget

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def decode(png):
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


@pytest.fixture
def explorer():
    return widget.convnet_explorer()


def test_the_weights_file_has_the_checksum_of_data_readme(repo):
    digest = hashlib.sha256((repo / "data" / "convnet_mnist.npz").read_bytes()).hexdigest()
    row = next(line for line in (repo / "data" / "README.md").read_text().splitlines()
               if line.startswith("| `convnet_mnist.npz`"))
    assert f"`{digest}`" in row


def test_pretrained_network_loads_as_float32_and_reads_digits():
    net, params = convnet.load_pretrained()
    assert set(params) == set(convnet.PARAM_NAMES)
    assert all(value.dtype == np.float32 and value.flags.writeable for value in params.values())
    assert not net.training
    images, labels = load_mnist("test")
    with torch.no_grad():
        scores = net(torch.from_numpy(images[:1000, None] / np.float32(255)))
    assert (scores.argmax(1).numpy() == labels[:1000]).mean() > 0.97


def test_a_missing_weights_file_says_how_to_make_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="make_convnet_mnist.py"):
        convnet.load_pretrained(tmp_path / "missing.npz")


def test_transformed_digit_is_the_test_image_when_nothing_changes():
    images, labels = load_mnist("test")
    image, label = widget.transformed_digit(3)
    assert image.shape == (28, 28) and image.dtype == np.float32
    np.testing.assert_allclose(image, images[3] / 255, atol=1e-6)
    assert label == labels[3]


def test_shift_moves_the_digit_and_zeros_come_in():
    still, _ = widget.transformed_digit(5)
    moved, _ = widget.transformed_digit(5, shift_x=3, shift_y=-2)
    np.testing.assert_allclose(moved[:-2, 3:], still[2:, :-3])
    assert not moved[:, :3].any() and not moved[-2:].any()


def test_rotation_and_noise_change_the_image_reproducibly():
    still, _ = widget.transformed_digit(7)
    turned, _ = widget.transformed_digit(7, rotation=90)
    assert not np.allclose(turned, still)
    np.testing.assert_allclose(turned.sum(), still.sum(), rtol=0.05)  # bilinear keeps most ink
    noisy, _ = widget.transformed_digit(7, noise=0.3)
    again, _ = widget.transformed_digit(7, noise=0.3)
    np.testing.assert_array_equal(noisy, again)
    assert noisy.min() >= 0 and noisy.max() <= 1 and not np.allclose(noisy, still)


@pytest.mark.parametrize(("arguments", "message"), [
    ((widget.N_DIGITS,), "digit"), ((0, widget.MAX_SHIFT + 1), "shift x"),
    ((0, 0, -widget.MAX_SHIFT - 1), "shift y"), ((0, 0, 0, 200), "rotation"),
    ((0, 0, 0, 0, 1.5), "noise"),
])
def test_transformed_digit_rejects_values_out_of_range(arguments, message):
    with pytest.raises(ValueError, match=message):
        widget.transformed_digit(*arguments)


def test_feature_maps_follow_the_network_layer_by_layer():
    image, _ = widget.transformed_digit(0)
    maps = widget.feature_maps(image)
    net, _ = convnet.load_pretrained()
    x = torch.from_numpy(image)[None, None]
    with torch.no_grad():
        relu1 = net.relu1(net.conv1(x))
        pool1 = net.pool1(relu1)
        relu2 = net.relu2(net.conv2(pool1))
        scores = net(x)
    np.testing.assert_allclose(maps["conv1"], relu1[0].numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(maps["pool1"], pool1[0].numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(maps["conv2"], relu2[0].numpy(), rtol=1e-5, atol=1e-6)
    assert maps["pool2"].shape == (16, 4, 4)
    np.testing.assert_allclose(maps["probabilities"], torch.softmax(scores[0], 0).numpy(), rtol=1e-5)
    assert maps["probabilities"].sum() == pytest.approx(1.0, abs=1e-5)


def test_mosaic_tiles_the_maps_with_gaps():
    maps = np.arange(8 * 2 * 3, dtype=np.float32).reshape(8, 2, 3)
    picture = widget.mosaic(maps, 2, 4, 2, float(maps.max()))
    assert picture.shape == (2 * 4 + widget.GAP, 4 * 6 + 3 * widget.GAP, 3)
    assert np.all(picture[4:4 + widget.GAP] == widget.GAP_VALUE)
    top_left, last = picture[0, 0], picture[-1, -1]
    assert not np.array_equal(top_left, last)  # 0 is black, the largest value the brightest colour
    assert np.array_equal(top_left, widget._MAGMA_LUT[0])
    assert np.array_equal(last, widget._MAGMA_LUT[255])


def test_bars_colour_the_predicted_digit():
    probabilities = np.zeros(10)
    probabilities[3] = 1.0
    picture = widget.bars(probabilities, label=3, predicted=3)
    left = widget.BAR_GAP + 3 * (widget.BAR_WIDTH + widget.BAR_GAP)
    assert tuple(picture[widget.BAR_HEIGHT // 2, left + 2]) == widget.PREDICTED_RGB
    assert tuple(picture[widget.BAR_HEIGHT // 2, widget.BAR_GAP + 2]) == (255, 255, 255)


def test_render_returns_the_documented_keys_and_reads_the_digit():
    result = widget.render(0)
    assert {"image", "conv1", "pool1", "conv2", "pool2", "probabilities", "label", "predicted",
            "png", "text"} <= set(result)
    assert set(result["png"]) == set(widget.PANEL_NAMES)
    assert all(png.startswith(PNG_SIGNATURE) for png in result["png"].values())
    assert result["predicted"] == result["label"]
    assert "\n" not in result["text"] and f"true digit {result['label']}" in result["text"]
    input_panel = decode(result["png"]["input"])
    assert input_panel.shape == (28 * widget.INPUT_SCALE, 28 * widget.INPUT_SCALE, 3)


def test_the_network_reads_most_of_the_offered_digits():
    right = sum(widget.render(index)["predicted"] == widget.render(index)["label"]
                for index in range(0, widget.N_DIGITS, 4))
    assert right >= 0.95 * len(range(0, widget.N_DIGITS, 4))


def test_explorer_has_described_controls_and_panels(explorer):
    assert isinstance(explorer, widgets.VBox)
    assert list(explorer.controls) == ["digit", "shift_x", "shift_y", "rotation", "noise"]
    assert all(control.description for control in explorer.controls.values())
    assert (explorer.controls["digit"].min, explorer.controls["digit"].max) == (0, widget.N_DIGITS - 1)
    assert set(explorer.panels) == set(widget.PANEL_NAMES)
    assert all(bytes(panel.value).startswith(PNG_SIGNATURE) for panel in explorer.panels.values())
    assert "the network says" in explorer.summary.value
    first_slider = next(c for row in explorer.children if isinstance(row, widgets.HBox)
                        for c in row.children if isinstance(c, widgets.IntSlider))
    assert first_slider is explorer.controls["digit"]


def test_panels_are_captioned(explorer):
    captions = [re.sub("<[^>]+>", "", column.children[0].value) for row in explorer.children
                if isinstance(row, widgets.HBox) for column in row.children
                if isinstance(column, widgets.VBox)]
    assert len(captions) == len(widget.PANEL_NAMES) and any("softmax" in c for c in captions)


def test_every_control_redraws(explorer):
    for name, value in (("digit", 1), ("shift_x", 2), ("shift_y", -3), ("rotation", 45), ("noise", 0.4)):
        before = {key: bytes(panel.value) for key, panel in explorer.panels.items()}
        text = explorer.summary.value
        explorer.controls[name].value = value
        assert bytes(explorer.panels["input"].value) != before["input"], name
        assert bytes(explorer.panels["conv1"].value) != before["conv1"], name
        assert explorer.summary.value != text, name
