"""Tests for the normalization explorer of notebook 07 (autograder.widgets.normalization)."""
import io
import time

import ipywidgets as widgets
import numpy as np
import pytest
from PIL import Image

from autograder.normalization import probe_batch_dependence, probe_shared
from autograder.widgets.normalization import (
    CHANNELS, GROUP_CHOICES, HIGHLIGHT, KINDS, MAX_BATCH, POSITIONS, SIDE, draw_cube, normalization_explorer,
    normalize, random_batch, render, statistics_groups,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SETTINGS = [(kind, groups) for kind in KINDS for groups in (GROUP_CHOICES if kind == "GroupNorm" else (2,))]


@pytest.fixture
def explorer():
    return normalization_explorer()


def decode(png):
    return np.asarray(Image.open(io.BytesIO(png)))


def png_of(explorer, name):
    return bytes(explorer.panels[name].value)


@pytest.mark.parametrize("kind, groups", SETTINGS)
def test_groups_are_the_sets_that_share_statistics_in_pytorch(kind, groups):
    """Perturbing one element moves exactly the outputs of its set (PyTorch's functions)."""
    x = random_batch(3)
    ids = statistics_groups(kind, 3, CHANNELS, POSITIONS, groups)
    rng = np.random.default_rng(0)
    for _ in range(6):
        index = tuple(int(rng.integers(size)) for size in x.shape)
        shared = probe_shared(lambda v: normalize(kind, v, groups), x, index)
        flat = index[0], index[1], index[2] * SIDE + index[3]
        np.testing.assert_array_equal(shared.reshape(ids.shape), ids == ids[flat])


@pytest.mark.parametrize("kind, groups", SETTINGS)
def test_every_set_is_standardized(kind, groups):
    result = render(kind, groups, batch=4)
    ids, y = result["ids"].ravel(), result["output"].reshape(4, CHANNELS, POSITIONS).ravel()
    for set_id in np.unique(ids):
        values = y[ids == set_id]
        if kind == "PixelNorm":
            assert np.sqrt(np.mean(values ** 2)) == pytest.approx(1.0, abs=1e-6)
        else:
            assert values.mean() == pytest.approx(0.0, abs=1e-9)
            assert values.std() == pytest.approx(1.0, abs=1e-3)


def test_only_batch_norm_depends_on_the_batch():
    x = random_batch(4)
    for kind in KINDS:
        dependent = probe_batch_dependence(lambda v: normalize(kind, v, 2), x)
        assert dependent is (kind == "BatchNorm")
        text = render(kind, 2, batch=4)["text"]
        assert ("does not change" not in text) is (kind == "BatchNorm")


def test_group_norm_limits_are_layer_and_instance_norm():
    np.testing.assert_array_equal(statistics_groups("GroupNorm", 2, 6, 4, 1),
                                  statistics_groups("LayerNorm", 2, 6, 4))
    np.testing.assert_array_equal(statistics_groups("GroupNorm", 2, 6, 4, 6),
                                  statistics_groups("InstanceNorm", 2, 6, 4))


def test_group_sets_are_contiguous_channels():
    ids = statistics_groups("GroupNorm", 1, 6, 2, 3)
    assert ids[0, :, 0].tolist() == [0, 0, 1, 1, 2, 2]


@pytest.mark.parametrize("kind, batch, groups, message", [
    ("WeightNorm", 2, 1, "unknown normalization"),
    ("GroupNorm", 2, 4, "dividing 6"),
    ("BatchNorm", 0, 1, "batch must lie"),
    ("BatchNorm", MAX_BATCH + 1, 1, "batch must lie"),
])
def test_render_rejects_bad_settings(kind, batch, groups, message):
    with pytest.raises(ValueError, match=message):
        render(kind, groups, batch)


def test_render_returns_the_documented_keys_and_pngs():
    result = render("GroupNorm", 3, batch=5)
    assert set(result) == {"ids", "input", "output", "png", "text"}
    assert result["ids"].shape == (5, CHANNELS, POSITIONS)
    assert result["input"].shape == result["output"].shape == (5, CHANNELS, SIDE, SIDE)
    assert set(result["png"]) == {"cube", "mean", "std"}
    assert all(png.startswith(PNG_SIGNATURE) for png in result["png"].values())
    assert "GroupNorm (3 groups): 15 sets of statistics, each of 32 elements" in result["text"]


def test_statistics_panels_have_one_block_per_sample_and_channel():
    mean = decode(render("InstanceNorm", batch=3)["png"]["mean"])
    assert mean.shape[:2] == (3 * 22, CHANNELS * 22)
    blocks = mean.reshape(3, 22, CHANNELS, 22, 3)
    assert (blocks == blocks[:, :1, :, :1]).all()
    # instance norm: every (sample, channel) has mean 0, the middle colour of the map
    assert len({tuple(pixel) for pixel in mean.reshape(-1, 3)}) == 1


def test_cube_highlights_the_set_of_the_first_element():
    ids = statistics_groups("LayerNorm", 2, 3, 4)
    pixels = draw_cube(ids)
    highlighted = np.all(pixels == HIGHLIGHT, axis=-1)
    # the whole front face (sample 0) is highlighted: 3 x 4 cells of 12 px, inside the grid lines
    assert 3 * 4 * 11 * 11 <= highlighted.sum()
    assert not np.all(draw_cube(statistics_groups("InstanceNorm", 2, 3, 4)) == pixels)


def test_render_is_fast():
    render("BatchNorm", 2, MAX_BATCH)
    timings = []
    for kind in KINDS:
        start = time.perf_counter()
        render(kind, 3, MAX_BATCH)
        timings.append(time.perf_counter() - start)
    assert np.median(timings) < 0.1


def test_explorer_has_described_controls_and_panels(explorer):
    controls = explorer.controls
    assert isinstance(explorer, widgets.VBox)
    assert set(controls) == {"norm", "groups", "batch"}
    assert tuple(controls["norm"].options) == KINDS
    assert tuple(controls["groups"].options) == GROUP_CHOICES
    assert (controls["batch"].min, controls["batch"].max) == (1, MAX_BATCH)
    assert set(explorer.panels) == {"cube", "mean", "std"}
    assert all(isinstance(panel, widgets.Image) for panel in explorer.panels.values())
    assert all(png_of(explorer, name).startswith(PNG_SIGNATURE) for name in explorer.panels)
    assert "BatchNorm" in explorer.summary.value


def test_choosing_a_normalization_redraws(explorer):
    cube = png_of(explorer, "cube")
    explorer.controls["norm"].value = "LayerNorm"
    assert png_of(explorer, "cube") != cube
    assert "LayerNorm" in explorer.summary.value


def test_groups_slider_is_enabled_for_group_norm_only(explorer):
    controls = explorer.controls
    assert controls["groups"].disabled
    controls["norm"].value = "GroupNorm"
    assert not controls["groups"].disabled
    cube = png_of(explorer, "cube")
    controls["groups"].value = 6
    assert png_of(explorer, "cube") != cube
    assert "6 groups" in explorer.summary.value
    controls["norm"].value = "PixelNorm"
    assert controls["groups"].disabled


def test_batch_slider_changes_the_statistics(explorer):
    mean = png_of(explorer, "mean")
    explorer.controls["batch"].value = 2
    assert png_of(explorer, "mean") != mean
    assert decode(png_of(explorer, "mean")).shape[0] == 2 * 22
    explorer.controls["batch"].value = 1
    assert "a batch of one sample" in explorer.summary.value
