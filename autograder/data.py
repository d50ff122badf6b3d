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
