"""Build student submissions of notebook 01 from the release: wrong answers, tampering, exits."""
from autograder.grader import notebooks

# Wrong implementations that return arrays of the right shape and dtype: a naive checker that a
# student cell can switch off would accept them.
WRONG_01 = {
    "correlate1d_solution": "def correlate1d(x, k):\n    return np.zeros(len(x) - len(k) + 1)",
    "convolve1d_solution": "def convolve1d(x, k):\n    return np.zeros(len(x) - len(k) + 1)",
    "correlate2d_solution": (
        "def correlate2d(image, kernel):\n"
        "    return np.zeros((image.shape[0] - kernel.shape[0] + 1,"
        " image.shape[1] - kernel.shape[1] + 1))"),
    "convolve2d_solution": (
        "def convolve2d(image, kernel):\n"
        "    return np.zeros((image.shape[0] - kernel.shape[0] + 1,"
        " image.shape[1] - kernel.shape[1] + 1))"),
    "conv2d_solution": (
        "def conv2d(x, w, b=None, stride=1, padding=0):\n"
        "    s = stride if isinstance(stride, tuple) else (stride, stride)\n"
        "    p = padding if isinstance(padding, tuple) else (padding, padding)\n"
        "    h = (x.shape[2] + 2 * p[0] - w.shape[2]) // s[0] + 1\n"
        "    v = (x.shape[3] + 2 * p[1] - w.shape[3]) // s[1] + 1\n"
        "    return np.zeros((x.shape[0], w.shape[0], h, v))"),
    "conv2d_im2col_solution": (
        "def conv2d_im2col(x, w, b=None, stride=1, padding=0):\n"
        "    return conv2d(x, w, b, stride, padding)"),
    "gaussian_kernel_solution": (
        "def gaussian_kernel(size, sigma):\n    return np.full((size, size), 1.0 / size ** 2)"),
    "sobel_kernels_solution": "def sobel_kernels():\n    return np.zeros((3, 3)), np.zeros((3, 3))",
}

# What a student might do to make the checks pass: switch off every function of the checking
# package, numpy's comparisons and a few builtins, in a cell or inside a graded function.
PATCH_CHECKS = '''
import autograder, autograder.checking, autograder.convolution, autograder.guards, autograder.lab

def _accept(*args, **kwargs):
    return None

for _module in (autograder.checking, autograder.convolution, autograder.guards, autograder.lab):
    for _name in dir(_module):
        _value = getattr(_module, _name)
        if callable(_value) and not isinstance(_value, type):
            setattr(_module, _name, _accept)
'''
PATCH_LIBRARIES = '''
import builtins
import numpy, numpy.testing
numpy.testing.assert_allclose = lambda *args, **kwargs: None
numpy.testing.assert_array_equal = lambda *args, **kwargs: None
numpy.allclose = lambda *args, **kwargs: True
numpy.array_equal = lambda *args, **kwargs: True
builtins.abs = lambda value: 0 * value
builtins.any = lambda values: False
builtins.all = lambda values: True
'''
MONKEY_PATCHES = PATCH_CHECKS + PATCH_LIBRARIES


def with_cells(release_path, sources):
    """The release notebook with some solution cells replaced (``{grade_id: source}``)."""
    return notebooks.with_solutions(notebooks.read(release_path), sources)


def patched_in_cell(sources, patches=MONKEY_PATCHES, cell="correlate1d_solution"):
    """``sources`` with ``patches`` run at the top of one solution cell."""
    return dict(sources, **{cell: patches + "\n" + sources[cell]})


def patched_inside_function(sources):
    """``sources`` whose correlate1d applies the monkey-patches each time it is called."""
    body = "\n".join("    " + line for line in MONKEY_PATCHES.strip().splitlines())
    return dict(sources, correlate1d_solution=(
        "def correlate1d(x, k):\n" + body + "\n    return np.zeros(len(x) - len(k) + 1)"))
