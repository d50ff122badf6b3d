"""Unit tests of notebook 01's checks: the student side (autograder.convolution) and the grader's.

Wrong implementations here call the oracle libraries, so the from-scratch watch is switched off
(``unguarded``) where a test is about the values, and left on where it is about the watch.
"""
import numpy as np
import pytest
import scipy.signal

from autograder import convolution
from autograder.checking import CheckFailure
from autograder.grader.checks import convolution as hidden

LIKELY = "Likely cause: "


@pytest.fixture
def unguarded(monkeypatch):
    """The checks without their from-scratch watch."""
    for name in ("LIBRARY_1D", "LIBRARY_2D", "LIBRARY_GAUSSIAN", "LIBRARY_SOBEL"):
        monkeypatch.setattr(convolution, name, ())
    monkeypatch.setattr(hidden, "LIBRARY_GAUSSIAN", ())


def torch_conv2d(x, w, b=None, stride=1, padding=0):
    return convolution.oracle_conv2d(x, w, b, stride, padding)


def _message(check, *args, **kwargs):
    with pytest.raises(CheckFailure) as failure:
        check(*args, **kwargs)
    return str(failure.value)


# ----------------------------------------------------------------------------- the worked example

def _slide_output(**changes):
    x, w, b = convolution.worked_example()
    arguments = dict(x=x, w=w, b=b, stride=2, padding=1)
    arguments.update(changes)
    return torch_conv2d(**arguments)


def test_the_worked_example_gives_minus_two_and_passes():
    y = _slide_output()
    assert y.shape == (1, 2, 3, 3) and y[0, 0, 1, 1] == -2.0
    convolution.check_worked_example(y)


@pytest.mark.parametrize("wrong, cause", [
    (lambda: _slide_output(b=None), convolution.BIAS_MISSING),
    (lambda: _slide_output(w=convolution.worked_example()[1][:, :, ::-1, ::-1].copy()),
     convolution.NOT_PYTORCH),
    (lambda: _slide_output(padding=0), convolution.PADDING_MISSING),
    (lambda: _slide_output()[:, :, :2, :2], convolution.SIZE_FORMULA),
    (lambda: _slide_output()[:, :, :2, :], convolution.SIZE_FORMULA),
    (lambda: _slide_output(stride=1), convolution.STRIDE_IGNORED),
    (lambda: _slide_output(x=np.pad(convolution.worked_example()[0], ((0, 0), (0, 0), (0, 2), (0, 2))),
                           padding=0), convolution.PADDING_ONE_SIDE),
])
def test_worked_example_names_the_likely_mistake(wrong, cause):
    message = _message(convolution.check_worked_example, wrong())
    assert f"{LIKELY}{cause}" in message
    assert "index []" not in message


def test_worked_example_without_a_known_cause_says_what_differs():
    y = _slide_output()
    y[0, 1, 2, 2] += 1
    message = _message(convolution.check_worked_example, y)
    assert "1 of 18 values differ; first at index [0, 1, 2, 2]" in message and LIKELY not in message


# ----------------------------------------------------------------------------- conv2d on random cases

def test_the_reference_conv2d_passes(unguarded):
    convolution.check_conv2d(torch_conv2d, seed=5, strided=True)
    convolution.check_conv2d(torch_conv2d, seed=6)


def test_conv2d_is_watched_from_scratch():
    assert "from scratch" in _message(convolution.check_conv2d, torch_conv2d, seed=5, n_cases=1)


def _padding_counted_once(x, w, b=None, stride=1, padding=0):
    """Pads correctly, but sizes the output from H + P instead of H + 2P."""
    (sh, sw), (ph, pw) = convolution._pair(stride), convolution._pair(padding)
    y = torch_conv2d(x, w, b, stride, padding)
    return y[:, :, :(x.shape[2] + ph - w.shape[2]) // sh + 1, :(x.shape[3] + pw - w.shape[3]) // sw + 1]


def _half_padding(x, w, b=None, stride=1, padding=0):
    """Reads ``padding`` as the total: P // 2 zeros on each side."""
    ph, pw = convolution._pair(padding)
    return torch_conv2d(x, w, b, stride, (ph // 2, pw // 2))


@pytest.mark.parametrize("wrong, cause", [
    (lambda x, w, b=None, stride=1, padding=0: torch_conv2d(x, w, b, 1, padding),
     convolution.STRIDE_IGNORED),
    (lambda x, w, b=None, stride=1, padding=0: torch_conv2d(x, w, b, stride, padding).swapaxes(2, 3),
     convolution.HEIGHT_WIDTH_SWAPPED),
    (_padding_counted_once, convolution.SIZE_FORMULA),
    (_half_padding, convolution.PADDING_COUNTED_ONCE),
    (lambda x, w, b=None, stride=1, padding=0: torch_conv2d(x, w, None, stride, padding),
     convolution.BIAS_MISSING),
])
def test_conv2d_names_the_likely_mistake(unguarded, wrong, cause):
    assert f"{LIKELY}{cause}" in _message(convolution.check_conv2d, wrong, seed=1, strided=True)


def _im2col_columns_kkc(x, w, b=None, stride=1, padding=0):
    """im2col with columns flattened (K_h, K_w, C_in) but weight rows (C_in, K_h, K_w)."""
    (sh, sw), (ph, pw) = convolution._pair(stride), convolution._pair(padding)
    c_out, c_in, kh, kw = w.shape
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
    n, _, h_out, w_out = windows.shape[:4]
    columns = windows.transpose(0, 4, 5, 1, 2, 3).reshape(n, kh * kw * c_in, h_out * w_out)
    y = w.reshape(c_out, -1) @ columns
    if b is not None:
        y += b[:, None]
    return y.reshape(n, c_out, h_out, w_out)


def test_im2col_column_order_is_named():
    message = _message(convolution.check_conv2d, _im2col_columns_kkc, seed=1, strided=True,
                       name="conv2d_im2col")
    assert f"{LIKELY}{convolution.COLUMN_ORDER}" in message


def test_a_shape_no_mistake_explains_names_none():
    x, w = np.zeros((1, 1, 9, 9)), np.zeros((1, 1, 3, 3))
    expected = np.zeros((1, 1, 5, 5))
    assert convolution.conv2d_shape_cause(np.ones((1, 1, 8, 8)), expected, x.shape, w.shape,
                                          stride=2, padding=1) == ""


def test_vectorized_check_names_the_loop():
    def loops(x, w, b=None, stride=1, padding=0):
        y = np.zeros((x.shape[0], w.shape[0], x.shape[2] - 2, x.shape[3] - 2))
        for i in range(y.shape[2]):
            for j in range(y.shape[3]):
                y[:, :, i, j] = np.tensordot(x[:, :, i:i + 3, j:j + 3], w, axes=([1, 2, 3], [1, 2, 3]))
        return y

    assert f"{LIKELY}a Python loop over output positions" in _message(convolution.check_vectorized, loops)


# ----------------------------------------------------------------------------- from scratch everywhere

def _library_1d(x, k):
    x, k = np.asarray(x, dtype=float), np.asarray(k, dtype=float)
    if x.ndim != 1 or k.ndim != 1 or not 1 <= len(k) <= len(x):
        raise ValueError("bad input")
    return np.correlate(x, k, "valid")


def _library_2d(image, kernel):
    return scipy.signal.correlate2d(image, kernel, "valid")  # raises ValueError for bad shapes


def test_input_checks_give_nothing_to_library_calls():
    """The rejection checks also watch a valid call: a library shortcut earns none of them."""
    assert "from scratch" in _message(convolution.check_rejects_bad_1d_2d_input,
                                      _library_1d, _library_1d, _library_2d, _library_2d)

    def library_conv2d(x, w, b=None, stride=1, padding=0):
        if np.ndim(x) != 4:
            raise ValueError("bad input")
        return torch_conv2d(x, w, b, stride, padding)

    assert "from scratch" in _message(convolution.check_conv2d_rejects_bad_input, library_conv2d)
    assert "from scratch" in _message(convolution.check_from_scratch, _library_2d,
                                      (np.ones((3, 3)), np.ones((2, 2))), convolution.LIBRARY_2D,
                                      name="correlate2d")


def test_1d_and_2d_mistakes_are_named(unguarded):
    reversed_convolution = lambda x, k: np.convolve(x, k, "valid")[::-1]  # noqa: E731
    message = _message(convolution.check_convolve1d, reversed_convolution, seed=2)
    assert f"{LIKELY}{convolution.OUTPUT_REVERSED}" in message
    image, kernel = np.arange(30.0).reshape(5, 6), np.array([[1.0, 2.0, 0.0], [0.0, -1.0, 3.0]])
    transposed = scipy.signal.correlate2d(image, kernel.T, "valid")
    named = {description for description, wrong in convolution.mistakes_convolve2d(image, kernel)
             if wrong.shape == transposed.shape and np.allclose(wrong, transposed)}
    assert named == {convolution.TRANSPOSED_NOT_ROTATED}


# ----------------------------------------------------------------------------- Gaussian and Sobel

def test_sums_to_one_names_an_unnormalised_gaussian():
    u = np.arange(5) - 2.0
    raw = np.exp(-(u[:, None] ** 2 + u[None, :] ** 2) / 2)
    assert f"{LIKELY}{convolution.GAUSSIAN_NOT_NORMALISED}" in _message(
        convolution.check_sums_to_one, raw, what="gaussian_kernel(5, 1.0)")
    assert LIKELY not in _message(convolution.check_sums_to_one, raw / raw.sum() * 0.5, what="g")
    convolution.check_sums_to_one(raw / raw.sum(), what="g")


def test_the_hidden_gaussian_check_passes_the_oracle_under_any_seed(unguarded):
    for seed in range(5):
        hidden.check_gaussian_kernel(_validating(hidden.oracle_gaussian_kernel), seed=seed)


def test_the_hidden_gaussian_check_watches_scipys_window():
    message = _message(hidden.check_gaussian_kernel, _validating(hidden.oracle_gaussian_kernel), seed=0)
    assert "scipy.signal.windows" in message and "from scratch" in message


def _validating(kernel):
    def gaussian_kernel(size, sigma):
        if size < 1 or not sigma > 0:
            raise ValueError("bad input")
        return kernel(size, sigma)
    return gaussian_kernel


@pytest.mark.parametrize("cause", [convolution.GAUSSIAN_NOT_NORMALISED, hidden.SIGMA_AS_VARIANCE,
                                   hidden.CENTRE_AT_HALF_SIZE])
def test_hidden_gaussian_mistakes_are_named(unguarded, cause):
    def wrong(size, sigma):
        return dict((d, a) for d, a in hidden.mistakes_gaussian_kernel(size, sigma))[cause]

    assert f"{LIKELY}{cause}" in _message(hidden.check_gaussian_kernel, _validating(wrong), seed=3)


def test_the_student_side_holds_no_gaussian_reference():
    assert not hasattr(convolution, "oracle_gaussian_kernel")
    assert not hasattr(convolution, "check_gaussian_kernel")


@pytest.mark.parametrize("gx, cause", [
    (-np.outer([1, 2, 1], [-1, 0, 1]), convolution.SOBEL_SIGN_FLIPPED),
    (np.outer([-1, 0, 1], [1, 2, 1]), convolution.SOBEL_SWAPPED),
    (np.outer([1, 1, 1], [-1, 0, 1]), convolution.SOBEL_NO_SMOOTHING),
    (np.outer([1, 2, 1], [-1, 0, 1]) / 8, convolution.SOBEL_SCALED),
])
def test_sobel_ramp_mistakes_name_the_cause(gx, cause):
    ramp = np.tile(np.arange(5.0), (5, 1))
    response = scipy.signal.correlate(ramp, gx.astype(float), mode="valid")
    named = [d for d, wrong in convolution.sobel_ramp_mistakes((3, 3)) if np.allclose(response, wrong)]
    assert named == [cause]


@pytest.mark.parametrize("pair, cause", [
    (lambda: (np.outer([1.0, 1, 1], [-1, 0, 1]), np.outer([-1.0, 0, 1], [1, 1, 1])),
     convolution.SOBEL_NO_SMOOTHING),
    (lambda: (np.outer([1.0, 2, 1], [-1, 0, 1]) / 8, np.outer([-1.0, 0, 1], [1, 2, 1]) / 8),
     convolution.SOBEL_SCALED),
    (lambda: (np.outer([-1.0, 0, 1], [1, 2, 1]), np.outer([1.0, 2, 1], [-1, 0, 1])), "gx and gy are swapped"),
])
def test_hidden_sobel_check_names_the_cause(pair, cause):
    assert f"{LIKELY}{cause}" in _message(convolution.check_sobel_kernels, pair, seed=4)


def test_hidden_sobel_check_passes_scipy_kernels():
    gx = np.outer([1.0, 2, 1], [-1, 0, 1])
    for seed in range(3):
        convolution.check_sobel_kernels(lambda: (gx.copy(), gx.T.copy()), seed=seed)
