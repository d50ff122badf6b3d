"""Tests for autograder.data: bundled images and the digits data set."""

import sys

import numpy as np
import pytest
import skimage.color
import skimage.data
from matplotlib import cbook

from autograder import data
from autograder.data import IMAGE_NAMES, load_digits_images, load_image


@pytest.fixture
def empty_cache():
    """Run a test with an empty image cache and leave the cache empty afterwards."""
    data._original.cache_clear()
    yield
    data._original.cache_clear()


def test_image_names_are_the_documented_ones():
    assert IMAGE_NAMES == (
        "camera", "coins", "astronaut", "chelsea", "coffee", "brick", "grass", "gravel",
        "china", "flower", "grace_hopper",
    )


@pytest.mark.parametrize("name", IMAGE_NAMES)
def test_every_image_loads_as_gray_float_in_unit_range(name):
    image = load_image(name)
    assert image.dtype == np.float64
    assert image.ndim == 2
    assert min(image.shape) >= 256
    assert image.min() >= 0.0
    assert image.max() <= 1.0
    assert image.max() - image.min() > 0.5


def test_colour_image_uses_rgb2gray_luminance_weights():
    expected = skimage.color.rgb2gray(skimage.data.astronaut())
    np.testing.assert_allclose(load_image("astronaut"), expected, atol=1e-12)


def test_gray_image_is_scaled_from_uint8():
    np.testing.assert_allclose(load_image("camera"), skimage.data.camera() / 255.0)


def test_unknown_name_lists_the_valid_names():
    with pytest.raises(ValueError, match="unknown image 'lena'") as info:
        load_image("lena")
    for name in IMAGE_NAMES:
        assert name in str(info.value)


@pytest.mark.parametrize("size", [1, 16, 160, 600])
def test_size_gives_a_square_in_unit_range(size):
    image = load_image("coffee", size=size)
    assert image.shape == (size, size)
    assert image.dtype == np.float64
    assert 0.0 <= image.min() <= image.max() <= 1.0


def test_size_crops_the_centre_square():
    original = load_image("coffee")
    assert original.shape == (400, 600)
    np.testing.assert_allclose(load_image("coffee", size=400), original[:, 100:500], atol=1e-12)


def test_downsizing_is_anti_aliased():
    stripes = np.indices((64, 64)).sum(axis=0) % 2 * 1.0
    resized = data._square_resized(stripes, 8)
    assert resized.max() - resized.min() < 0.1


@pytest.mark.parametrize("size", [0, -3, 2.5, "big"])
def test_bad_size_raises_value_error(size):
    with pytest.raises(ValueError, match="positive integer"):
        load_image("camera", size=size)


@pytest.mark.parametrize("size", [None, 32])
def test_cache_returns_copies(size):
    first = load_image("camera", size=size)
    first[...] = -1.0
    second = load_image("camera", size=size)
    assert second is not first
    assert second.min() >= 0.0
    np.testing.assert_allclose(second, load_image("camera", size=size))


def test_originals_are_cached():
    data._original.cache_clear()
    load_image("coins")
    load_image("coins", size=20)
    info = data._original.cache_info()
    assert (info.misses, info.hits) == (1, 1)


@pytest.mark.parametrize(
    ("module", "name", "package"),
    [("skimage.data", "camera", "scikit-image"),
     ("sklearn.datasets", "china", "scikit-learn"),
     ("matplotlib.image", "grace_hopper", "matplotlib")],
)
def test_missing_library_names_the_pip_package(empty_cache, monkeypatch, module, name, package):
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ModuleNotFoundError, match=f"pip install {package}"):
        load_image(name)


def test_missing_sample_file_names_the_pip_package(empty_cache, monkeypatch, tmp_path):
    monkeypatch.setattr(cbook, "get_sample_data", lambda fname, asfileobj: tmp_path / fname)
    with pytest.raises(FileNotFoundError, match="matplotlib"):
        load_image("grace_hopper")


def test_digits_shapes_dtypes_and_ranges():
    images, labels = load_digits_images()
    assert images.shape == (1797, 8, 8)
    assert images.dtype == np.float64
    assert labels.shape == (1797,)
    assert labels.dtype == np.int64
    assert images.min() == 0.0
    assert images.max() == 1.0
    assert set(np.unique(labels)) == set(range(10))
    assert set(np.unique(images * 16)) <= set(range(17))


def test_digits_returns_copies():
    images, labels = load_digits_images()
    images[...] = 5.0
    labels[...] = -1
    fresh_images, fresh_labels = load_digits_images()
    assert fresh_images.max() == 1.0
    assert fresh_labels.min() == 0
