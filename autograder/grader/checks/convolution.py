"""Hidden checks of notebook 01 (convolution vs cross-correlation): grader only, never shipped.

The Gaussian kernel's oracle (scipy's window, made 2-D and normalised) and its likely wrong
answers, which are near-copies of the exercise's solution. The other hidden checks need no
reference of their own: they are the student-side checks of :mod:`autograder.convolution`
(public libraries), called without a seed. Hidden tests pass no seed: the cases come from the
grading run's seed.
"""
import numpy as np
import scipy.signal.windows

from autograder.checking import Case, check_against_oracle, check_raises, make_rng
from autograder.convolution import GAUSSIAN_NOT_NORMALISED, LIBRARY_GAUSSIAN

SIGMA_AS_VARIANCE = "sigma is used as the variance: the exponent is -(x^2 + y^2) / (2 sigma^2)"
CENTRE_AT_HALF_SIZE = "the centre is at size // 2: for even sizes it is (size - 1) / 2"


def oracle_gaussian_kernel(size, sigma):
    """scipy's Gaussian window, made 2-D by an outer product and normalised to sum 1."""
    window = scipy.signal.windows.gaussian(size, std=sigma)
    return window[:, None] * window[None, :] / window.sum() ** 2


def mistakes_gaussian_kernel(size, sigma):
    """Known wrong answers of ``gaussian_kernel(size, sigma)``."""
    window = scipy.signal.windows.gaussian(size, std=sigma)
    offsets = np.arange(size) - size // 2
    off_centre = np.exp(-offsets ** 2 / (2 * sigma ** 2))
    return [
        (GAUSSIAN_NOT_NORMALISED, np.outer(window, window)),
        (SIGMA_AS_VARIANCE, oracle_gaussian_kernel(size, np.sqrt(sigma))),
        (CENTRE_AT_HALF_SIZE, np.outer(off_centre, off_centre) / np.outer(off_centre, off_centre).sum()),
    ]


def check_gaussian_kernel(fn, seed=None, n_cases=20):
    """``gaussian_kernel`` equals the normalised outer product of scipy's Gaussian window."""
    rng = make_rng(seed)
    cases = [Case((1, 1.0)), Case((4, 1.5))]
    cases += [Case((int(rng.integers(1, 16)), float(rng.uniform(0.3, 5.0))))
              for _ in range(n_cases - 2)]
    check_against_oracle(fn, oracle_gaussian_kernel, cases, name="gaussian_kernel",
                         forbidden=LIBRARY_GAUSSIAN, likely_mistakes=mistakes_gaussian_kernel)
    check_raises(fn, (0, 1.0), reason="the size must be at least 1", name="gaussian_kernel")
    check_raises(fn, (3, 0.0), reason="sigma must be positive", name="gaussian_kernel")
