"""Checks of notebook 10 (a whole CNN from your own layers), and its network in PyTorch.

The visible tests call the ``check_*`` functions here with a fixed seed; the hidden tests call
those of ``autograder.grader.checks.convnet``, which reuse the machinery below. Oracles are
PyTorch's: ``torch.relu``, ``torch.softmax``, ``F.cross_entropy``, ``F.unfold`` (im2col),
``F.fold`` (col2im), ``F.conv2d``, ``F.max_pool2d``, ``torch.flatten``, ``F.linear``,
``torch.optim.SGD`` and autograd through them; the whole network is the same architecture built
from ``torch.nn`` layers (``torch_convnet``) and loaded with the student's parameters.

A student's layer is handled only through calls and attributes holding plain data, so the checks
work on a local object and on a proxy to the grading kernel alike: ``Conv2d(...)`` builds one,
``layer.params`` and ``layer.grads`` are dicts of arrays (set as a whole, read as a whole),
``forward`` and ``backward`` take and return arrays. Every ``check_*`` function raises
``CheckFailure`` with a readable message, or returns ``None``.

Also here, for the notebook and its widget: ``torch_convnet``, ``load_params``, ``params_of`` and
``torch_loss_and_grads`` (the network in PyTorch with given parameters), and ``load_pretrained``
(the weights of ``data/convnet_mnist.npz``).
"""
import functools
from collections import OrderedDict
from pathlib import Path

import numpy as np
import scipy.signal
import scipy.special
import torch
import torch.nn.functional as F
from torch import nn

from autograder import guards
from autograder.checking import (
    CheckFailure, assert_close, call_student, check_raises, describe_call, describe_value,
    difference, make_rng, not_implemented_message,
)
from autograder.threads import one_thread

PRETRAINED_WEIGHTS = Path(__file__).resolve().parent.parent / "data" / "convnet_mnist.npz"
LAYER_NAMES = ("conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "flatten", "fc")
PARAM_NAMES = ("conv1.w", "conv1.b", "conv2.w", "conv2.b", "fc.w", "fc.b")

LIBRARY_AUTOGRAD = (torch.autograd.grad, torch.autograd.backward, torch.Tensor.backward)
LIBRARY_RELU = (torch.relu, F.relu, torch.clamp_min, F.threshold)
LIBRARY_SOFTMAX = (
    torch.softmax, F.softmax, torch.log_softmax, F.log_softmax, F.cross_entropy, F.nll_loss,
    torch.logsumexp, scipy.special.softmax, scipy.special.log_softmax, scipy.special.logsumexp,
)
LIBRARY_UNFOLD = (F.unfold, F.fold, torch.Tensor.unfold, torch._C._nn.im2col, torch._C._nn.col2im)
LIBRARY_LAYERS = LIBRARY_UNFOLD + LIBRARY_AUTOGRAD + LIBRARY_RELU + LIBRARY_SOFTMAX + (
    F.conv2d, torch.conv2d, F.conv_transpose2d, torch.conv_transpose2d, F.max_pool2d,
    F.max_pool2d_with_indices, torch.max_pool2d, torch._C._nn.max_pool2d_with_indices, F.linear,
    torch._C._nn.linear, scipy.signal.correlate, scipy.signal.convolve, scipy.signal.correlate2d,
    scipy.signal.convolve2d, scipy.signal.fftconvolve,
)
LIBRARY_TRAINING = LIBRARY_LAYERS + (torch.optim.SGD.step,)

UNSTABLE = (
    "exp overflows for scores this large (exp(710) is already inf in float64). Subtract each "
    "row's maximum before exp: softmax(s) = softmax(s - max s)"
)
LOG_OF_UNDERFLOW = (
    "exp of a raw score overflowed (exp(1e4) is inf in float64), or a probability underflowed to "
    "0 before its log was taken. Compute log p = (s - max s) - log(sum(exp(s - max s))) directly "
    "(log-sum-exp), neither exp(s) of the raw scores nor log(softmax(s))"
)
SOFTMAX_OVER_COLUMNS = (
    "the softmax runs over the batch axis: each ROW (one example's scores, axis=1) must sum to 1"
)
GLOBAL_MAXIMUM = (
    "the whole batch's maximum is subtracted: a row whose scores all lie far below it underflows "
    "to 0 / 0. Subtract each row's own maximum (max over axis=1, keepdims=True)"
)
NOT_NORMALIZED = "the rows are not normalized: divide exp(s) by its row's sum"
NOT_AVERAGED = (
    "the gradient is not averaged over the batch: the loss is the MEAN over the N examples, so "
    "its gradient is (softmax - one_hot) / N"
)
LOSS_SUMMED = "the loss is summed over the batch: it is the MEAN over the N examples"
SIGN_FLIPPED = "the gradient has the wrong sign: d loss / d scores = (softmax - one_hot) / N"
RELU_SLOPE_AT_ZERO = (
    "the slope at exactly 0 is taken as 1: PyTorch (and this course) use 0 there, "
    "grad_out * (x > 0)"
)
RELU_ABS = "negative values become positive: ReLU keeps max(x, 0), it does not take |x|"
RELU_MASK = "this is a 0/1 mask: ReLU returns the values max(x, 0), not whether they are positive"
RELU_LEAKY = "negative values are scaled, not zeroed (a leaky ReLU): ReLU is max(x, 0)"
RELU_MASK_FROM_GRAD = "the mask is taken from grad_out: it is where x (the input of relu) > 0"
RELU_GRAD_IGNORED = "grad_out is not used: return grad_out * (x > 0)"
RELU_TIMES_INPUT = "the gradient is multiplied by relu(x): ReLU's slope is 1 where x > 0, not x"
SOFTMAX_COLUMNS_AFTER_SHIFT = (
    "each row is shifted by its maximum, but the exponentials are divided by the sums of the "
    "COLUMNS: divide each row by its own sum (axis=1)"
)
LABELS_AS_COLUMNS = (
    "the labels index columns of every row (log_p[:, labels]): take one entry per row, "
    "log_p[np.arange(N), labels]"
)
INPUT_GRAD_FLIPPED = (
    "the input gradient uses the flipped kernel: with im2col it is col2im(W_row.T @ grad_out), "
    "no flip (the flip appears only when writing it as a full convolution)"
)
SOFTMAX_TWICE = (
    "the softmax is applied to the scores before softmax_cross_entropy, which applies it again: "
    "give it the raw scores (logits) of the last layer"
)
RELU_MISSING = "the network lacks the ReLU after {layer}: conv, ReLU, pool in each block"
VELOCITY_RESET = (
    "the velocity starts over: keep one velocity dict for the whole run (not one per epoch or "
    "per step), so that each step adds momentum * v"
)
DECAY_IGNORED = "the learning rate is not lr * lr_decay ** epoch (epoch = 0, 1, ...)"
LAST_BATCH_DROPPED = (
    "the last, smaller batch of each epoch is skipped: range(0, N, batch_size) gives it too"
)
NOT_LEARNING = (
    "the labels do not follow their images (index images and labels with the same batch "
    "indices), or the updates do not reach the network's parameters (update model.params in "
    "place)"
)
VELOCITY_NOT_STORED = (
    "the velocity is not kept: store v = momentum * v + grad back in velocity[name] (or update "
    "the array in place)"
)
IM2COL_ROW_ORDER = (
    "the rows are ordered (kernel row, kernel column, channel): F.unfold and w.reshape(C_out, -1) "
    "order them (channel, kernel row, kernel column)"
)
IM2COL_COLUMN_ORDER = (
    "the columns run down the output columns first: order them row by row, "
    "column index = i * W_out + j for output position (i, j)"
)
COL2IM_OVERWRITES = (
    "col2im overwrites instead of adding: where windows overlap a pixel was copied into several "
    "columns, and col2im must SUM all those copies (+=), which is what makes it im2col's adjoint"
)
BIAS_NOT_SUMMED = (
    "the bias gradient is not summed over the batch and every output position: each bias is "
    "added to all of them, so grads['b'] = grad_out.sum(axis=(0, 2, 3)) for a conv layer and "
    "grad_out.sum(axis=0) for a linear one"
)
WEIGHT_GRAD_AVERAGED = (
    "the weight gradient is averaged over the batch: SUM over the images (the 1/N of the mean "
    "loss is already inside grad_out)"
)
FLIPPED_KERNEL = (
    "the kernel is flipped (a true convolution): PyTorch's conv2d, and this layer, compute a "
    "cross-correlation"
)
NO_BIAS = "the bias is missing: add b[o] to every output of filter o"
GRADIENT_TO_EVERY_ELEMENT = (
    "the pooling gradient goes to every element of the window: only the maximum took part in the "
    "output, so only it receives the gradient (the others get 0)"
)
GRADIENT_TO_EVERY_TIE = (
    "a window with tied maxima sends its gradient to each of them, counting it several times: "
    "send it to one, the first in the window in row-major order (as PyTorch)"
)
FORTRAN_ORDER = (
    "the features are flattened in column-major order: flatten as x.reshape(N, -1) (row-major, "
    "as torch.flatten), the order the linear layer's weights expect"
)
LINEAR_WEIGHT_LAYOUT = "the weight has PyTorch's layout (n_out, n_in), and y = x @ w.T + b"
CS231N_VELOCITY = (
    "the velocity holds -lr times PyTorch's: PyTorch keeps v = momentum * v + grad and steps "
    "p -= lr * v (the form v = momentum * v - lr * grad; p += v reaches the same parameters "
    "while lr stays constant, but stores another velocity)"
)
DAMPENED = (
    "the gradient is dampened, v = momentum * v + (1 - momentum) * grad: PyTorch's default adds "
    "the whole gradient, v = momentum * v + grad"
)
NESTEROV = "this is Nesterov's update, p -= lr * (grad + momentum * v): plain momentum is p -= lr * v"
MOMENTUM_IGNORED = "the step ignores the velocity: PyTorch steps p -= lr * v, with v = momentum * v + grad"
NOT_IN_PLACE = (
    "params[{name!r}] is a new array, not the one passed in.\nLikely cause: the parameter was "
    "replaced (params[name] = ...) instead of updated in place (param -= lr * v); the layer that "
    "holds the old array never sees the new values"
)


def tensor64(array, requires_grad=False):
    """A float64 tensor holding a copy of ``array`` (an array, a tensor or nested lists)."""
    if isinstance(array, torch.Tensor):
        tensor = array.detach().to(torch.float64, copy=True)
    else:
        tensor = torch.from_numpy(np.array(array, dtype=np.float64))
    return tensor.requires_grad_() if requires_grad else tensor


def via_torch(function, *arrays, **kwargs):
    """``function`` (a PyTorch function) applied to float64 copies of ``arrays``, as numpy."""
    return function(*(tensor64(a) for a in arrays), **kwargs).detach().numpy()


def by_autograd(function, arrays, grad_out, **kwargs):
    """``(output, gradients of every array)`` of ``function(*arrays, **kwargs)`` backpropagating
    ``grad_out``, by PyTorch's autograd in float64."""
    tensors = [tensor64(a, requires_grad=True) for a in arrays]
    with torch.enable_grad():
        out = function(*tensors, **kwargs)
        grads = torch.autograd.grad(out, tensors, tensor64(grad_out))
    return out.detach().numpy(), [g.numpy() for g in grads]


# ----------------------------------------------------------------------------- the network in PyTorch

def feature_size(input_shape, kernel_size):
    """``(h, w)`` of ConvNet's last feature maps: two k x k convolutions without padding, each
    followed by 2 x 2 max pooling (PyTorch's floor rule)."""
    _, h, w = input_shape
    k = kernel_size
    return ((h - k + 1) // 2 - k + 1) // 2, ((w - k + 1) // 2 - k + 1) // 2


def torch_convnet(input_shape=(1, 28, 28), channels=(8, 16), kernel_size=5, num_classes=10):
    """ConvNet's architecture in PyTorch: conv-ReLU-pool-conv-ReLU-pool-flatten-linear.

    input_shape: (C, H, W) of one image; channels: (C1, C2) of the two conv layers (kernel
    kernel_size, stride 1, no padding, with bias); 2 x 2 max pooling; a linear layer to
    num_classes scores. Returns an ``nn.Sequential`` (float32, PyTorch's default initialization)
    whose children are named as ConvNet's layers: conv1, relu1, pool1, conv2, relu2, pool2,
    flatten, fc. Raises ValueError if the input is too small for the two conv-pool blocks.
    """
    h2, w2 = feature_size(input_shape, kernel_size)
    if min(h2, w2) < 1:
        raise ValueError(f"a {input_shape[1]}x{input_shape[2]} input is too small for two "
                         f"{kernel_size}x{kernel_size} convolutions and 2x2 poolings")
    (c1, c2), k = channels, kernel_size
    return nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(input_shape[0], c1, k)), ("relu1", nn.ReLU()), ("pool1", nn.MaxPool2d(2)),
        ("conv2", nn.Conv2d(c1, c2, k)), ("relu2", nn.ReLU()), ("pool2", nn.MaxPool2d(2)),
        ("flatten", nn.Flatten()), ("fc", nn.Linear(c2 * h2 * w2, num_classes)),
    ]))


def torch_name(name):
    """PyTorch's name of a ConvNet parameter: "conv1.w" -> "conv1.weight", "fc.b" -> "fc.bias"."""
    layer, key = name.split(".")
    return f"{layer}.{'weight' if key == 'w' else 'bias'}"


def load_params(net, params):
    """Copy ConvNet-style ``params`` ({"conv1.w": array, ...}) into ``net`` (from
    ``torch_convnet``), converted to the net's dtype. Returns ``net``.

    Raises ValueError naming the parameter when a name is missing or a shape differs.
    """
    state = net.state_dict()
    if not isinstance(params, dict) or set(params) != set(PARAM_NAMES):
        names = sorted(params) if isinstance(params, dict) else type(params).__name__
        raise ValueError(f"the parameters are {names}; expected a dict with the names "
                         f"{sorted(PARAM_NAMES)}")
    for name in PARAM_NAMES:
        value = np.asarray(params[name])
        target = state[torch_name(name)]
        if tuple(value.shape) != tuple(target.shape):
            raise ValueError(f"params[{name!r}] has shape {value.shape}; the same network in "
                             f"PyTorch has {tuple(target.shape)}")
        state[torch_name(name)] = torch.as_tensor(value, dtype=target.dtype).clone()
    net.load_state_dict(state)
    return net


def params_of(net):
    """The parameters of a ``torch_convnet`` as ConvNet-style numpy arrays (copies)."""
    state = net.state_dict()
    return {name: state[torch_name(name)].detach().numpy().copy() for name in PARAM_NAMES}


def torch_loss_and_grads(net, x, y):
    """``(loss, grads)``: the mean cross-entropy of ``net`` on images ``x`` and labels ``y`` and
    its gradients by autograd, as a float and ConvNet-style numpy arrays."""
    net.zero_grad()
    dtype = next(net.parameters()).dtype
    with torch.enable_grad():
        loss = F.cross_entropy(net(torch.as_tensor(np.asarray(x), dtype=dtype)),
                               torch.as_tensor(np.asarray(y), dtype=torch.int64))
        loss.backward()
    parameters = dict(net.named_parameters())
    return loss.item(), {name: parameters[torch_name(name)].grad.numpy().copy()
                         for name in PARAM_NAMES}


def accuracy_of(params, images, labels, config=None):
    """Accuracy of the network with ``params`` (ConvNet-style arrays) on ``images`` (N, C, H, W)
    and ``labels``, computed by the same network in PyTorch (float64)."""
    net = load_params(torch_convnet(*(config or ())).double(), params).eval()
    with torch.no_grad():
        scores = torch.cat([net(tensor64(images[i:i + 1000])) for i in range(0, len(images), 1000)])
    return float((scores.argmax(dim=1).numpy() == np.asarray(labels)).mean())


@functools.lru_cache(maxsize=2)
def _pretrained_arrays(path):
    with np.load(path) as stored:
        arrays = {name: stored[name] for name in PARAM_NAMES}
    for value in arrays.values():
        value.flags.writeable = False
    return arrays


def load_pretrained(path=None):
    """The network of ``data/convnet_mnist.npz`` (made by ``data/make_convnet_mnist.py``).

    path: an .npz file of ConvNet-style parameters; None uses the repository's file.
    Returns ``(net, params)``: a ``torch_convnet()`` (float32, eval mode) loaded with them, and
    the parameters as a dict of new float32 numpy arrays.
    Raises FileNotFoundError saying how to re-make the file when it is missing.
    """
    path = Path(path) if path is not None else PRETRAINED_WEIGHTS
    if not path.is_file():
        raise FileNotFoundError(f"no weights at {path}: re-make them with "
                                "`python data/make_convnet_mnist.py` from the repository root")
    params = {name: value.copy() for name, value in _pretrained_arrays(path.resolve()).items()}
    return load_params(torch_convnet(), params).eval(), params


# ----------------------------------------------------------------------------- talking to student code

def call_in_place(fn, args, *, name, call):
    """``fn(*args)`` on the checker's own objects (the function changes them in place, and under
    grading the changes are written back); its result. A stub or an error becomes a readable
    ``CheckFailure``."""
    try:
        return fn(*args)
    except NotImplementedError:
        raise CheckFailure(not_implemented_message(name)) from None
    except CheckFailure:
        raise
    except Exception as error:
        raise CheckFailure(f"{call} raised {type(error).__name__}: {error}") from error


def construct(cls, args, kwargs=None, *, name):
    """A new instance ``cls(*args, **kwargs)`` of the student's class; readable failures."""
    return call_student(cls, args, kwargs or {}, name=name)


def get_attribute(obj, attribute, label, what):
    """``obj.attribute``; a readable failure when it is missing (``what`` says what it holds)."""
    try:
        return getattr(obj, attribute)
    except NotImplementedError:
        raise CheckFailure(not_implemented_message(label)) from None
    except AttributeError:
        raise CheckFailure(f"{label} has no attribute {attribute!r}: {what}") from None


def array_dict(obj, attribute, shapes, label):
    """``obj.attribute``, checked to be a dict with exactly the keys of ``shapes`` (name -> shape,
    or None for any shape) holding numpy arrays of those shapes; returns it."""
    value = get_attribute(obj, attribute, label, f"keep the {attribute} in a dict name -> array")
    if not isinstance(value, dict):
        raise CheckFailure(f"{label}.{attribute} is a {type(value).__name__}; it must be a dict "
                           f"name -> numpy array with the keys {sorted(shapes)}")
    if set(value) != set(shapes):
        raise CheckFailure(f"{label}.{attribute} has the keys {sorted(value)}; expected "
                           f"{sorted(shapes)}")
    for key, shape in shapes.items():
        if type(value[key]) is not np.ndarray:
            raise CheckFailure(f"{label}.{attribute}[{key!r}] is a {type(value[key]).__name__}; "
                               "it must be a numpy.ndarray")
        if shape is not None and value[key].shape != tuple(shape):
            hint = ""
            if len(shape) == 2 and value[key].shape == tuple(shape)[::-1]:
                hint = f" ({LINEAR_WEIGHT_LAYOUT})"
            raise CheckFailure(f"{label}.{attribute}[{key!r}] has shape {value[key].shape}; "
                               f"expected {tuple(shape)}{hint}")
    return value


def call_method(obj, method, args, label, forbidden=LIBRARY_LAYERS):
    """``obj.method(*args)`` through ``call_student`` (copies, forbidden calls watched)."""
    bound = get_attribute(obj, method, label, f"every layer has a {method} method")
    return call_student(bound, args, name=f"{label}.{method}", forbidden=forbidden)


def forget_large_batch(model, images):
    """Run ``model.forward`` on one image, ignoring what happens.

    A layer keeps what its last forward pass needs for backward (im2col's columns, the input): for
    a network that last saw a large batch that is tens of megabytes. Under grading the kernel keeps
    every object a check received (``model`` among them) until it restarts, so a check that is done
    with a network replaces those caches by a one-image pass.
    """
    try:
        model.forward(np.asarray(images[:1]))
    except Exception:  # the checks have already judged the network; this is housekeeping only
        pass


def as_number(value, call):
    """``value`` (a float, a NumPy scalar or a one-element array) as a float, else a failure."""
    if type(value) is np.ndarray and value.size == 1:
        value = value.reshape(())[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer,
                                                                       np.floating)):
        raise CheckFailure(f"{call} returned a loss of type {type(value).__name__}; the loss must "
                           "be one number (a float)")
    return float(value)


def close(actual, expected, what, likely=()):
    """``assert_close`` that says so when ``actual`` holds inf or nan where finite values were
    expected; ``likely`` may be a function returning the wrong answers, called only on failure."""
    if difference(actual, expected, check_dtype=False) is None:
        assert_close(actual, expected, what=what)
        return
    if (type(actual) is np.ndarray and actual.dtype.kind == "f"
            and not np.all(np.isfinite(actual)) and np.all(np.isfinite(expected))):
        raise CheckFailure(f"{what}: the result holds inf or nan.\nLikely cause: {UNSTABLE}")
    assert_close(actual, expected, what=what, likely=likely() if callable(likely) else likely)


def pair_result(result, call, what):
    """``result`` as a 2-tuple, else a failure saying the function must return ``what``."""
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise CheckFailure(f"{call} returned {type(result).__name__}; return a pair {what}")
    return result


# ----------------------------------------------------------------------------- ReLU

def relu_cases(rng, n_cases=12):
    """Random arrays of 1 to 4 axes, about a fifth of their values exactly 0 (the kink)."""
    cases = []
    for i in range(n_cases):
        shape = tuple(int(v) for v in rng.integers(1, 6, size=1 + i % 4))
        x = rng.normal(size=shape) * float(rng.choice([0.1, 1.0, 100.0]))
        x[rng.random(shape) < 0.2] = 0.0
        cases.append(x)
    return cases


@one_thread()
def check_relu(fn, seed=None, n_cases=12, name="relu"):
    """``relu`` equals torch.relu on random arrays of any shape, from scratch."""
    for x in relu_cases(make_rng(seed), n_cases):
        got = call_student(fn, (x,), name=name, forbidden=LIBRARY_RELU)
        close(got, via_torch(torch.relu, x), describe_call(name, (x,), {}),
              lambda: [(RELU_ABS, np.abs(x)), (RELU_MASK, (x > 0).astype(np.float64)),
                       (RELU_LEAKY, via_torch(F.leaky_relu, x))])


@one_thread()
def check_relu_backward(fn, seed=None, n_cases=12, name="relu_backward"):
    """``relu_backward(grad_out, x)`` equals autograd through torch.relu, exact zeros of x
    included (PyTorch's slope there is 0)."""
    rng = make_rng(seed)
    for x in relu_cases(rng, n_cases):
        grad_out = rng.normal(size=x.shape)
        got = call_student(fn, (grad_out, x), name=name, forbidden=LIBRARY_LAYERS)
        _, (expected,) = by_autograd(torch.relu, [x], grad_out)
        close(got, expected, describe_call(name, (grad_out, x), {}),
              lambda: [(RELU_SLOPE_AT_ZERO, grad_out * (x >= 0)),
                       (RELU_MASK_FROM_GRAD, grad_out * (grad_out > 0)),
                       (RELU_GRAD_IGNORED, (x > 0) * 1.0),
                       (RELU_TIMES_INPUT, grad_out * np.maximum(x, 0))])


# ----------------------------------------------------------------------------- softmax

def score_cases(rng, n_cases=12, *, large=False):
    """Random ``(N, C)`` scores; with ``large``, scales up to 1e4 and one row far above the rest."""
    cases = []
    for i in range(n_cases):
        n, c = int(rng.integers(1, 7)), int(rng.integers(1 if i else 2, 12))
        scale = float(rng.choice([1e3, 1e4])) if large else float(rng.choice([0.1, 1.0, 5.0]))
        scores = rng.normal(size=(n, c)) * scale
        if large and n > 1:
            scores[0] += 3 * scale
        cases.append(scores)
    return cases


def softmax_mistakes(scores):
    """Known wrong softmaxes of ``scores``, each computed by PyTorch."""
    shifted = via_torch(lambda s: torch.exp(s - s.max(dim=1, keepdim=True).values), scores)
    return [(SOFTMAX_OVER_COLUMNS, via_torch(torch.softmax, scores, dim=0)),
            (SOFTMAX_COLUMNS_AFTER_SHIFT, shifted / shifted.sum(axis=0, keepdims=True)),
            (NOT_NORMALIZED, shifted)]


@one_thread()
def check_softmax(fn, seed=None, n_cases=12, *, large=False, name="softmax", mistakes=softmax_mistakes):
    """``softmax`` equals torch.softmax(dim=1), from scratch; with ``large``, scores up to 1e4."""
    for scores in score_cases(make_rng(seed), n_cases, large=large):
        got = call_student(fn, (scores,), name=name, forbidden=LIBRARY_SOFTMAX)
        size = f" (scores up to {np.abs(scores).max():.3g})" if large else ""
        close(got, via_torch(torch.softmax, scores, dim=1),
              describe_call(name, (scores,), {}) + size, lambda: mistakes(scores))


def check_softmax_is_stable(fn, name="softmax"):
    """``softmax`` gives the exact probabilities of hand-worked scores of 1000 and 10000, naming an
    unshifted exponential and a shift by the whole batch's maximum."""
    cases = [(np.array([[1000.0, 1000.0], [-1000.0, 0.0]]), np.array([[0.5, 0.5], [0.0, 1.0]])),
             (np.array([[1e4, 0.0], [0.0, 0.0]]), np.array([[1.0, 0.0], [0.5, 0.5]]))]
    for scores, expected in cases:
        got = call_student(fn, (scores,), name=name, forbidden=LIBRARY_SOFTMAX)
        call = f"{name}({scores.tolist()})"
        if type(got) is np.ndarray and got.shape == expected.shape and got.dtype.kind == "f":
            broken = ~np.all(np.isfinite(got), axis=1)
            if broken.any():
                below = scores.max(axis=1) < scores.max()
                cause = GLOBAL_MAXIMUM if np.all(below[broken]) else UNSTABLE
                raise CheckFailure(f"{call} holds inf or nan in row(s) "
                                   f"{np.flatnonzero(broken).tolist()}.\nLikely cause: {cause}")
        assert_close(got, expected, what=call)


def label_cases(rng, n_cases=12, *, large=False):
    """Random ``(scores, labels)`` pairs, labels int64 in 0..C-1."""
    return [(scores, rng.integers(0, scores.shape[1], size=len(scores)))
            for scores in score_cases(rng, n_cases, large=large)]


def cross_entropy_by_torch(scores, labels):
    """``(loss, grad_scores)`` of F.cross_entropy (mean over the batch) and autograd."""
    def loss(s):
        return F.cross_entropy(s, torch.as_tensor(np.asarray(labels), dtype=torch.int64))
    value, (grad,) = by_autograd(loss, [scores], 1.0)
    return float(value), grad


def check_cross_entropy_result(result, scores, labels, call):
    """Compare ``(loss, grad_scores)`` returned for ``scores``, ``labels`` with PyTorch's."""
    loss, grad = pair_result(result, call, "(loss, grad_scores)")
    expected_loss, expected_grad = cross_entropy_by_torch(scores, labels)
    loss = as_number(loss, call)
    if not np.isfinite(loss):
        raise CheckFailure(f"the loss of {call} is {loss}.\nLikely cause: "
                           + (LOG_OF_UNDERFLOW if loss == np.inf else UNSTABLE))
    n = len(scores)
    log_p = via_torch(torch.log_softmax, scores, dim=1)
    assert_close(loss, expected_loss, what=f"the loss of {call}",
                 likely=([(LOSS_SUMMED, expected_loss * n)] if n > 1 else [])
                 + ([(LABELS_AS_COLUMNS, -log_p[:, np.asarray(labels)].mean())] if n > 1 else []))
    close(grad, expected_grad, f"grad_scores of {call}",
          lambda: ([(NOT_AVERAGED, expected_grad * n)] if n > 1 else [])
          + [(SIGN_FLIPPED, -expected_grad), (f"{NOT_AVERAGED}; and its sign is flipped", -expected_grad * n)])


def check_softmax_cross_entropy_is_stable(fn, name="softmax_cross_entropy"):
    """Hand-worked scores of 1e4: ``(1e4, 0)`` with label 1 gives the loss 1e4 and the gradient
    (1, -1); with label 0 the loss 0 and the gradient 0 (e^-10000 is 0 in float64); the two rows
    together give the mean loss (1e4 + 0) / 2 and half those gradients. An overflow and a log of an
    underflowed probability are named."""
    cases = [(np.array([[1e4, 0.0]]), np.array([1]), 1e4, np.array([[1.0, -1.0]])),
             (np.array([[1e4, 0.0]]), np.array([0]), 0.0, np.array([[0.0, 0.0]])),
             (np.array([[1e4, 0.0], [1e4, 0.0]]), np.array([1, 0]), 5e3,
              np.array([[0.5, -0.5], [0.0, 0.0]]))]
    for scores, labels, loss_value, grad_value in cases:
        call = f"{name}({scores.tolist()}, {labels.tolist()})"
        result = call_student(fn, (scores, labels), name=name, forbidden=LIBRARY_SOFTMAX)
        loss, grad = pair_result(result, call, "(loss, grad_scores)")
        loss = as_number(loss, call)
        if not np.isfinite(loss):
            raise CheckFailure(f"the loss of {call} is {loss}, expected {loss_value:g}.\nLikely cause: "
                               + (LOG_OF_UNDERFLOW if loss == np.inf else UNSTABLE))
        assert_close(loss, loss_value, what=f"the loss of {call}")
        close(grad, grad_value, f"grad_scores of {call}")


@one_thread()
def check_softmax_cross_entropy(fn, seed=None, n_cases=12, *, large=False,
                                name="softmax_cross_entropy"):
    """``(loss, grad_scores)`` equal F.cross_entropy (mean over the batch) and its gradient by
    autograd, from scratch; with ``large``, scores up to 1e4 (finite, exact results expected)."""
    for scores, labels in label_cases(make_rng(seed), n_cases, large=large):
        result = call_student(fn, (scores, labels), name=name, forbidden=LIBRARY_SOFTMAX)
        check_cross_entropy_result(result, scores, labels, describe_call(name, (scores, labels), {}))


# ----------------------------------------------------------------------------- im2col and col2im

def unfold_cases(rng, n_cases=10, *, strided=False):
    """Random ``(x, kernel_size, stride, padding)``; without ``strided``, stride 1, no padding."""
    cases = []
    for _ in range(n_cases):
        k = int(rng.integers(1, 5))
        stride = int(rng.integers(1, 4)) if strided else 1
        padding = int(rng.integers(0, 3)) if strided else 0
        n, c = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        low = max(1, k - 2 * padding)
        h, w = (int(v) for v in rng.integers(low, low + 7, size=2))
        cases.append((rng.normal(size=(n, c, h, w)), k, stride, padding))
    return cases


def unfold(x, k, stride, padding):
    """F.unfold of ``x`` (the im2col oracle), as numpy."""
    return via_torch(F.unfold, x, kernel_size=k, stride=stride, padding=padding)


def fold(cols, input_shape, k, stride, padding):
    """F.fold of ``cols`` back to ``input_shape`` (the col2im oracle), as numpy."""
    return via_torch(F.fold, cols, output_size=tuple(input_shape[2:]), kernel_size=k,
                     stride=stride, padding=padding)


def im2col_mistakes(x, k, stride, padding):
    """Known wrong layouts of im2col's output (F.unfold's rows or columns reordered)."""
    cols = unfold(x, k, stride, padding)
    n, rows, length = cols.shape
    channels = x.shape[1]
    by_offset = cols.reshape(n, channels, k * k, length).transpose(0, 2, 1, 3).reshape(n, rows, length)
    h_out = (x.shape[2] + 2 * padding - k) // stride + 1
    by_column = cols.reshape(n, rows, h_out, length // h_out).transpose(0, 1, 3, 2).reshape(n, rows, length)
    return [(IM2COL_ROW_ORDER, by_offset), (IM2COL_COLUMN_ORDER, by_column)]


@one_thread()
def check_im2col(fn, seed=None, n_cases=10, *, strided=False, name="im2col", mistakes=None):
    """``im2col(x, kernel_size, stride, padding)`` equals F.unfold, from scratch."""
    for x, k, stride, padding in unfold_cases(make_rng(seed), n_cases, strided=strided):
        args, kwargs = (x, k), {"stride": stride, "padding": padding}
        got = call_student(fn, args, kwargs, name=name, forbidden=LIBRARY_LAYERS)
        close(got, unfold(x, k, stride, padding), describe_call(name, args, kwargs),
              (lambda: mistakes(x, k, stride, padding)) if mistakes else ())


@one_thread()
def check_col2im(fn, seed=None, n_cases=10, *, strided=False, name="col2im"):
    """``col2im(cols, input_shape, kernel_size, stride, padding)`` equals F.fold, sums the copies
    of overlapping windows, and is im2col's adjoint: <unfold(x), cols> = <x, col2im(cols)>."""
    rng = make_rng(seed)
    for x, k, stride, padding in unfold_cases(rng, n_cases, strided=strided):
        cols_shape = unfold(x, k, stride, padding).shape
        for cols, ones in ((np.ones(cols_shape), True), (rng.normal(size=cols_shape), False)):
            args, kwargs = (cols, x.shape, k), {"stride": stride, "padding": padding}
            call = describe_call(name, args, kwargs) + (" (cols all ones)" if ones else "")
            got = call_student(fn, args, kwargs, name=name, forbidden=LIBRARY_LAYERS)
            expected = fold(cols, x.shape, k, stride, padding)
            if ones and type(got) is np.ndarray and got.shape == expected.shape \
                    and np.any(expected > 1) and np.array_equal(got, (expected > 0) * 1.0):
                raise CheckFailure(f"{call} gives 1 at every covered pixel; expected the number of "
                                   f"windows covering it (up to {int(expected.max())}).\n"
                                   f"Likely cause: {COL2IM_OVERWRITES}")
            close(got, expected, call)
            if not ones:
                inner = float(np.sum(unfold(x, k, stride, padding) * cols))
                assert_close(float(np.sum(x * got)), inner,
                             what=f"<x, col2im(cols)> for {call}: it must equal <im2col(x), cols> "
                                  "(col2im is im2col's adjoint)")


# ----------------------------------------------------------------------------- layers

def random_params(rng, shapes):
    """Random parameters of the given shapes, of the size PyTorch's initialization gives."""
    return {key: rng.normal(size=shape) * 2 / np.sqrt(max(1, int(np.prod(shape[1:]))))
            for key, shape in shapes.items()}


def conv_layer_cases(rng, n_cases=6, *, strided=False):
    """Random ``(c_in, c_out, k, stride, padding, x_shape)`` of conv layers."""
    cases = []
    for _ in range(n_cases):
        c_in, c_out, k = int(rng.integers(1, 4)), int(rng.integers(1, 5)), int(rng.integers(1, 5))
        stride = int(rng.integers(1, 4)) if strided else 1
        padding = int(rng.integers(0, 3)) if strided else 0
        low = max(1, k - 2 * padding)
        h, w = (int(v) for v in rng.integers(low, low + 7, size=2))
        cases.append((c_in, c_out, k, stride, padding, (int(rng.integers(1, 4)), c_in, h, w)))
    return cases


def check_bias_gradient(actual, expected, grad_out, axes, what):
    """``actual`` equals ``expected`` (the bias gradient), naming a bias gradient that was
    averaged, taken from one image only or not summed."""
    if difference(actual, expected, check_dtype=False) is None:
        assert_close(actual, expected, what=what)
        return
    g = np.asarray(grad_out)
    wrong = [g.mean(axis=axes), g.sum(axis=axes) / len(g),
             g[0].sum(axis=tuple(a - 1 for a in axes[1:]))]
    unsummed = type(actual) is np.ndarray and actual.ndim > expected.ndim
    if unsummed or any(type(actual) is np.ndarray and actual.shape == w.shape
                       and difference(actual, w, check_dtype=False) is None for w in wrong):
        shape = f" (shape {actual.shape})" if type(actual) is np.ndarray else ""
        raise CheckFailure(f"{what}{shape} differs from autograd's (shape {expected.shape}).\n"
                           f"Likely cause: {BIAS_NOT_SUMMED}")
    assert_close(actual, expected, what=what)


def conv_forward_mistakes(x, params, stride, padding):
    """Known wrong outputs of a conv layer (by PyTorch)."""
    return [(FLIPPED_KERNEL, via_torch(F.conv2d, x, params["w"][:, :, ::-1, ::-1], params["b"],
                                       stride=stride, padding=padding)),
            (NO_BIAS, via_torch(F.conv2d, x, params["w"], stride=stride, padding=padding))]


def check_conv_case(Conv2d, case, rng, name="Conv2d"):
    """One conv layer: parameters set through ``layer.params``, forward against F.conv2d, backward
    (input gradient, grads['w'], grads['b']) against autograd."""
    c_in, c_out, k, stride, padding, x_shape = case
    layer_kwargs = {"stride": stride, "padding": padding}
    label = describe_call(name, (c_in, c_out, k), layer_kwargs)
    layer = construct(Conv2d, (c_in, c_out, k), dict(layer_kwargs, seed=int(rng.integers(2 ** 31))),
                      name=name)
    shapes = {"w": (c_out, c_in, k, k), "b": (c_out,)}
    array_dict(layer, "params", shapes, label)
    params = random_params(rng, shapes)
    layer.params = {key: value.copy() for key, value in params.items()}
    x = rng.normal(size=x_shape)
    grad_out_shape = via_torch(F.conv2d, x, params["w"], stride=stride, padding=padding).shape
    grad_out = rng.normal(size=grad_out_shape)
    y, (dx, dw, db) = by_autograd(lambda *t: F.conv2d(*t, stride=stride, padding=padding),
                                  [x, params["w"], params["b"]], grad_out)
    got = call_method(layer, "forward", (x,), label)
    close(got, y, f"{label}.forward(x of shape {x.shape}) after setting layer.params",
          lambda: conv_forward_mistakes(x, params, stride, padding))
    got_dx = call_method(layer, "backward", (grad_out,), label)
    what = f"{label}.backward(grad_out of shape {grad_out.shape})"
    close(got_dx, dx, f"the input gradient returned by {what}",
          lambda: [(INPUT_GRAD_FLIPPED, by_autograd(
              lambda *t: F.conv2d(*t, stride=stride, padding=padding),
              [x, params["w"][:, :, ::-1, ::-1], params["b"]], grad_out)[1][0])])
    grads = array_dict(layer, "grads", {"w": None, "b": None}, label)
    n = x_shape[0]
    close(grads["w"], dw, f"grads['w'] after {what}",
          [(WEIGHT_GRAD_AVERAGED, dw / n)] if n > 1 else [])
    check_bias_gradient(grads["b"], db, grad_out, (0, 2, 3), f"grads['b'] after {what}")


@one_thread()
def check_conv2d_layer(Conv2d, seed=None, n_cases=6, *, strided=False, name="Conv2d"):
    """``Conv2d`` equals F.conv2d forward and autograd backward on random layers and batches."""
    rng = make_rng(seed)
    for case in conv_layer_cases(rng, n_cases, strided=strided):
        check_conv_case(Conv2d, case, rng, name)


def pool_cases(rng, n_cases=8, *, ties=False):
    """Random ``(kernel_size, x)``: sizes that leave a remainder; with ``ties``, small integers."""
    cases = []
    for i in range(n_cases):
        k = int(rng.integers(1, 4)) if i else 2
        shape = (int(rng.integers(1, 4)), int(rng.integers(1, 4)),
                 int(rng.integers(k, 3 * k + 3)), int(rng.integers(k, 3 * k + 3)))
        x = rng.integers(0, 3, size=shape).astype(np.float64) if ties else rng.normal(size=shape)
        cases.append((k, x))
    return cases


def spread_gradient(x, k, grad_out):
    """Wrong answer: each window's gradient copied to every element of the window."""
    h, w = grad_out.shape[2] * k, grad_out.shape[3] * k
    spread = np.zeros_like(x)
    spread[:, :, :h, :w] = np.repeat(np.repeat(grad_out, k, axis=2), k, axis=3)
    return spread


def check_pool_case(MaxPool2d, k, x, rng, name="MaxPool2d", *, ties=False, mistakes=None):
    """One MaxPool2d(k): forward against F.max_pool2d, backward against autograd. ``mistakes(x,
    k, grad_out)`` gives more known wrong gradients; ``ties`` says that x holds equal values."""
    label = describe_call(name, (k,), {})
    layer = construct(MaxPool2d, (k,), name=name)
    grad_out = rng.normal(size=via_torch(F.max_pool2d, x, kernel_size=k).shape)
    y, (dx,) = by_autograd(lambda t: F.max_pool2d(t, k), [x], grad_out)
    values = " with tied values" if ties else ""
    got = call_method(layer, "forward", (x,), label)
    close(got, y, f"{label}.forward(x of shape {x.shape}{values})")
    got = call_method(layer, "backward", (grad_out,), label)
    close(got, dx, f"{label}.backward(grad_out of shape {grad_out.shape}) after forward(x of "
                   f"shape {x.shape}{values})",
          lambda: [(GRADIENT_TO_EVERY_ELEMENT, spread_gradient(x, k, grad_out))]
          + (mistakes(x, k, grad_out) if mistakes else []))


@one_thread()
def check_maxpool_layer(MaxPool2d, seed=None, n_cases=8, name="MaxPool2d"):
    """``MaxPool2d(k)`` equals F.max_pool2d(x, k) forward (the rows and columns that do not fill a
    window are dropped) and autograd backward, on random inputs."""
    rng = make_rng(seed)
    for k, x in pool_cases(rng, n_cases):
        check_pool_case(MaxPool2d, k, x, rng, name)


@one_thread()
def check_flatten_layer(Flatten, seed=None, n_cases=6, name="Flatten"):
    """``Flatten()`` forward equals torch.flatten(x, 1); backward gives grad_out back in x's shape."""
    rng = make_rng(seed)
    for i in range(n_cases):
        shape = (int(rng.integers(1, 4)),) + tuple(int(v) for v in rng.integers(1, 5, size=1 + i % 3))
        x = rng.normal(size=shape)
        label = f"{name}()"
        layer = construct(Flatten, (), name=name)
        expected = via_torch(torch.flatten, x, start_dim=1)
        got = call_method(layer, "forward", (x,), label)
        close(got, expected, f"{label}.forward(x of shape {shape})",
              [(FORTRAN_ORDER, x.reshape(len(x), -1, order="F"))] if x.ndim > 2 else [])
        grad_out = rng.normal(size=expected.shape)
        got = call_method(layer, "backward", (grad_out,), label)
        close(got, grad_out.reshape(shape),
              f"{label}.backward(grad_out of shape {grad_out.shape}) after forward(x of shape {shape})")


def linear_weight_gradient(actual, expected, what, n=1):
    """``actual`` equals a linear layer's weight gradient ``expected``, naming a transposed one."""
    if type(actual) is np.ndarray and actual.shape == expected.T.shape != expected.shape:
        raise CheckFailure(f"{what} has shape {actual.shape}, expected {expected.shape}, the "
                           f"weight's shape.\nLikely cause: it is x.T @ grad_out; "
                           f"{LINEAR_WEIGHT_LAYOUT}, so grads['w'] = grad_out.T @ x")
    close(actual, expected, what, [(WEIGHT_GRAD_AVERAGED, expected / n)] if n > 1 else [])


@one_thread()
def check_linear_layer(Linear, seed=None, n_cases=6, name="Linear"):
    """``Linear(n_in, n_out)`` equals F.linear forward and autograd backward."""
    rng = make_rng(seed)
    for _ in range(n_cases):
        n_in, n_out, n = int(rng.integers(1, 7)), int(rng.integers(1, 7)), int(rng.integers(1, 5))
        n_out += n_in == n_out  # a square weight would hide a transposed layout
        label = describe_call(name, (n_in, n_out), {})
        layer = construct(Linear, (n_in, n_out), {"seed": int(rng.integers(2 ** 31))}, name=name)
        shapes = {"w": (n_out, n_in), "b": (n_out,)}
        array_dict(layer, "params", shapes, label)
        params = random_params(rng, shapes)
        layer.params = {key: value.copy() for key, value in params.items()}
        x, grad_out = rng.normal(size=(n, n_in)), rng.normal(size=(n, n_out))
        y, (dx, dw, db) = by_autograd(F.linear, [x, params["w"], params["b"]], grad_out)
        got = call_method(layer, "forward", (x,), label)
        close(got, y, f"{label}.forward(x of shape {x.shape})", [(NO_BIAS, y - params["b"])])
        got = call_method(layer, "backward", (grad_out,), label)
        what = f"{label}.backward(grad_out of shape {grad_out.shape})"
        close(got, dx, f"the input gradient returned by {what}")
        grads = array_dict(layer, "grads", {"w": None, "b": None}, label)
        linear_weight_gradient(grads["w"], dw, f"grads['w'] after {what}", n)
        check_bias_gradient(grads["b"], db, grad_out, (0,), f"grads['b'] after {what}")


def check_layer_init(Conv2d, Linear, seed=None):
    """New layers follow PyTorch's default initialization, w and b uniform in
    [-1/sqrt(fan_in), 1/sqrt(fan_in)]; the same seed gives the same weights, another seed others."""
    rng = make_rng(seed)
    c_in, c_out, k, n_in = int(rng.integers(3, 7)), int(rng.integers(20, 33)), 3, int(rng.integers(150, 250))
    for cls, args, fan_in, name in ((Conv2d, (c_in, c_out, k), c_in * k * k, "Conv2d"),
                                    (Linear, (n_in, 40), n_in, "Linear")):
        label = describe_call(name, args, {})
        layer_seed = int(rng.integers(2 ** 31))
        params = array_dict(construct(cls, args, {"seed": layer_seed}, name=name), "params",
                            {"w": None, "b": None}, label)
        bound = 1 / np.sqrt(fan_in)
        for key, value in params.items():
            if value.size == 0 or np.abs(value).max() > bound * (1 + 1e-9):
                raise CheckFailure(f"{label}.params[{key!r}] has values up to "
                                   f"{np.abs(value).max():.3g}; PyTorch's default draws them "
                                   f"uniformly in [-1/sqrt(fan_in), 1/sqrt(fan_in)] = "
                                   f"[-{bound:.3g}, {bound:.3g}] (fan_in = {fan_in})")
        spread = float(params["w"].std())
        if not 0.85 * bound / np.sqrt(3) < spread < 1.15 * bound / np.sqrt(3):
            raise CheckFailure(f"{label}.params['w'] has standard deviation {spread:.3g}; uniform "
                               f"values in [-{bound:.3g}, {bound:.3g}] have {bound / np.sqrt(3):.3g}")
        again = array_dict(construct(cls, args, {"seed": layer_seed}, name=name), "params",
                           {"w": None, "b": None}, label)
        other = array_dict(construct(cls, args, {"seed": layer_seed + 1}, name=name), "params",
                           {"w": None, "b": None}, label)
        if not np.array_equal(again["w"], params["w"]):
            raise CheckFailure(f"two {label} built with seed={layer_seed} have different weights: "
                               "draw them from np.random.default_rng(seed)")
        if np.array_equal(other["w"], params["w"]):
            raise CheckFailure(f"{label} gives the same weights for seeds {layer_seed} and "
                               f"{layer_seed + 1}: draw them from np.random.default_rng(seed)")


# ----------------------------------------------------------------------------- the network

def convnet_configs(rng, n_cases=3):
    """Random ``(input_shape, channels, kernel_size, num_classes)`` small enough to be quick."""
    configs = []
    for _ in range(n_cases):
        k = int(rng.integers(1, 4))
        h, w = (int(v) for v in rng.integers(2 * k + 4, 2 * k + 11, size=2))
        configs.append(((int(rng.integers(1, 3)), h, w),
                        (int(rng.integers(1, 5)), int(rng.integers(1, 5))), k, int(rng.integers(2, 6))))
    return configs


def param_shapes(config):
    """``{name: shape}`` of ConvNet's parameters (those of the same network in PyTorch)."""
    return {name: value.shape for name, value in params_of(torch_convnet(*config)).items()}


def config_kwargs(config):
    input_shape, channels, kernel_size, num_classes = config
    return {"input_shape": input_shape, "channels": channels, "kernel_size": kernel_size,
            "num_classes": num_classes}


def new_convnet(ConvNet, config, seed, name="ConvNet"):
    """``(model, label)``: the student's ConvNet for ``config``, its parameters' names and shapes
    checked against the same network in PyTorch."""
    kwargs = config_kwargs(config)
    label = describe_call(name, (), kwargs)
    model = construct(ConvNet, (), dict(kwargs, seed=seed), name=name)
    array_dict(model, "params", param_shapes(config), label)
    return model, label


def convnet_loss(model, x, y, label):
    """``(loss, grads)`` of ``model.loss(x, y)``, checked to be a number and a dict."""
    call = f"{label}.loss(x of shape {np.shape(x)}, y)"
    loss, grads = pair_result(call_method(model, "loss", (x, y), label), call, "(loss, grads)")
    if not isinstance(grads, dict) or set(grads) != set(PARAM_NAMES):
        keys = sorted(grads) if isinstance(grads, dict) else type(grads).__name__
        raise CheckFailure(f"the grads of {call} are {keys}; expected a dict with the parameters' "
                           f"names {sorted(PARAM_NAMES)}")
    return as_number(loss, call), grads, call


def check_loss_and_grads(model, label, x, y, net):
    """``model.loss(x, y)`` equals the loss and gradients of ``net`` (float64 autograd)."""
    loss, grads, call = convnet_loss(model, x, y, label)
    expected_loss, expected = torch_loss_and_grads(net, x, y)
    with torch.no_grad():
        twice = F.cross_entropy(torch.softmax(net(tensor64(x)), dim=1),
                                torch.as_tensor(np.asarray(y), dtype=torch.int64)).item()
    assert_close(loss, expected_loss, what=f"the loss of {call}, against the same network in PyTorch",
                 likely=[(SOFTMAX_TWICE, twice)])
    n = len(x)
    for name in PARAM_NAMES:
        close(grads[name], expected[name], f"grads[{name!r}] of {call}, against autograd in PyTorch",
              [("every gradient is N times too large: " + NOT_AVERAGED, expected[name] * n)] if n > 1 else [])


def check_convnet_case(ConvNet, config, rng, batch=4, name="ConvNet"):
    """One network: random parameters set through ``model.params``; scores, loss and gradients
    against the same network in PyTorch (float64)."""
    model, label = new_convnet(ConvNet, config, int(rng.integers(2 ** 31)), name)
    params = random_params(rng, param_shapes(config))
    model.params = {key: value.copy() for key, value in params.items()}
    array_dict(model, "params", param_shapes(config), label)
    net = load_params(torch_convnet(*config).double(), params)
    x = rng.normal(size=(batch,) + tuple(config[0]))
    y = rng.integers(0, config[3], size=batch)
    with torch.no_grad():
        scores = net(tensor64(x)).numpy()
    got = call_method(model, "forward", (x,), label)

    def without(layer):
        with torch.no_grad():
            return torch.nn.Sequential(*(torch.nn.Identity() if name == layer else module
                                         for name, module in net.named_children()))(tensor64(x)).numpy()

    close(got, scores, f"{label}.forward(x of shape {x.shape}): the scores, against the same "
                       "network in PyTorch",
          lambda: [(RELU_MISSING.format(layer=layer.replace("relu", "conv")), without(layer))
                   for layer in ("relu1", "relu2")])
    check_loss_and_grads(model, label, x, y, net)


@one_thread()
def check_convnet(ConvNet, seed=None, n_cases=3, *, configs=None, batch=4, name="ConvNet"):
    """``ConvNet``'s scores (``forward``), loss and every parameter's gradient equal the same
    network in PyTorch with the same weights, in float64."""
    rng = make_rng(seed)
    for config in configs or convnet_configs(rng, n_cases):
        check_convnet_case(ConvNet, config, rng, batch, name)


def check_initial_loss(ConvNet, images, labels, seed=0, tolerance=0.1, name="ConvNet"):
    """A new ``ConvNet(seed=seed)`` gives a loss within ``tolerance`` of log(10) on ``images``
    (N, 1, 28, 28) and ``labels``: ten classes, all about equally likely."""
    label = describe_call(name, (), {"seed": seed})
    model = construct(ConvNet, (), {"seed": seed}, name=name)
    loss, _, _ = convnet_loss(model, images, labels, label)
    forget_large_batch(model, images)
    if not abs(loss - np.log(10)) < tolerance:
        raise CheckFailure(
            f"the loss of a new {label} on {len(labels)} digits is {loss:.4f}; a network that has "
            f"learned nothing gives each of the 10 classes about 1/10, a loss near log(10) = "
            f"{np.log(10):.4f} (within {tolerance}).\nLikely cause: the initialization (PyTorch's "
            "default: uniform in [-1/sqrt(fan_in), 1/sqrt(fan_in)]) or the loss")


TINY_NETWORK = ((1, 10, 10), (2, 3), 3, 4)


def check_loss_value(loss, call, config, params, x, y):
    """``loss`` is the loss of the network ``config`` with ``params`` on ``(x, y)`` in PyTorch:
    the control before comparing gradients with finite differences of that same loss (a loss that
    is always 0, with zero gradients, agrees with its own differences)."""
    expected, _ = torch_loss_and_grads(load_params(torch_convnet(*config).double(), params), x, y)
    assert_close(loss, expected, what=f"the loss of {call}, against the same network in PyTorch")


@one_thread()
def check_numerical_gradients(ConvNet, seed=None, per_parameter=4, config=TINY_NETWORK, batch=3,
                              name="ConvNet"):
    """``model.loss``'s gradient agrees with SciPy's finite differences of the loss
    (``scipy.optimize.approx_fprime``, step 1e-6) at ``per_parameter`` random coordinates of
    every parameter of a tiny network, in float64. A coordinate where two step sizes disagree with
    each other sits on a kink (ReLU, max) and is not counted."""
    from scipy.optimize import approx_fprime

    rng = make_rng(seed)
    model, label = new_convnet(ConvNet, config, int(rng.integers(2 ** 31)), name)
    params = random_params(rng, param_shapes(config))
    model.params = {key: value.copy() for key, value in params.items()}
    x = rng.normal(size=(batch,) + tuple(config[0]))
    y = rng.integers(0, config[3], size=batch)
    loss, grads, call = convnet_loss(model, x, y, label)
    check_loss_value(loss, call, config, params, x, y)
    for key in PARAM_NAMES:
        for flat in rng.choice(params[key].size, size=min(per_parameter, params[key].size), replace=False):
            index = np.unravel_index(flat, params[key].shape)

            def loss_at(value, key=key, index=index):
                trial = {name: array.copy() for name, array in params.items()}
                trial[key][index] = value[0]
                model.params = trial
                return convnet_loss(model, x, y, label)[0]

            start = np.array([params[key][index]])
            numeric = [approx_fprime(start, loss_at, step)[0] for step in (1e-6, 1e-7)]
            analytic = float(np.asarray(grads[key])[index])
            tolerance = 1e-5 + 1e-3 * abs(analytic)
            if abs(numeric[0] - analytic) > tolerance and abs(numeric[0] - numeric[1]) < tolerance:
                raise CheckFailure(
                    f"grads[{key!r}]{list(int(i) for i in index)} of {call} is {analytic:.6g}, but "
                    f"changing that parameter by 1e-6 changes the loss at the rate {numeric[0]:.6g} "
                    "(finite differences): the analytic gradient is wrong")
    model.params = {key: value.copy() for key, value in params.items()}


# ----------------------------------------------------------------------------- SGD with momentum

class TorchSGD:
    """torch.optim.SGD on float64 copies of numpy parameters, stepped with numpy gradients."""

    def __init__(self, params, lr, momentum, **options):
        self.tensors = {key: tensor64(value, requires_grad=True) for key, value in params.items()}
        self.optimizer = torch.optim.SGD(list(self.tensors.values()), lr=lr, momentum=momentum,
                                         **options)

    def step(self, grads):
        for key, tensor in self.tensors.items():
            tensor.grad = tensor64(grads[key])
        self.optimizer.step()

    def param(self, key):
        return self.tensors[key].detach().numpy()

    def buffer(self, key):
        state = self.optimizer.state[self.tensors[key]]
        return state["momentum_buffer"].numpy() if state.get("momentum_buffer") is not None else None


def sgd_cases(rng, n_cases=3):
    """Random ``(params, lr, momentum)``: one to three arrays, momentum 0 in the second case."""
    cases = []
    for i in range(n_cases):
        params = {f"p{j}": rng.normal(size=tuple(int(v) for v in rng.integers(1, 5, size=1 + j % 3)))
                  for j in range(int(rng.integers(1, 4)))}
        momentum = 0.0 if i == 1 else float(rng.choice([0.5, 0.9, 0.99]))
        cases.append((params, float(rng.choice([0.01, 0.1, 0.5])), momentum))
    return cases


def check_sgd_case(fn, params, lr, momentum, rng, n_steps=3, start_empty=True,
                   name="sgd_momentum_step", shadows=()):
    """``n_steps`` calls of ``fn(params, grads, velocity, lr, momentum)`` against torch.optim.SGD:
    params updated in place, velocity holding PyTorch's momentum buffer. ``shadows``: pairs
    ``(description, factory)``, ``factory(params, lr, momentum)`` making an optimizer with
    ``step(grads)`` and ``param(key)`` that repeats a known mistake."""
    params = {key: value.copy() for key, value in params.items()}
    arrays = dict(params)
    velocity = {} if start_empty else {key: np.zeros_like(value) for key, value in params.items()}
    reference = TorchSGD(params, lr, momentum)
    wrong = [(MOMENTUM_IGNORED, TorchSGD(params, lr, 0.0))]
    if momentum > 0:
        wrong.append((NESTEROV, TorchSGD(params, lr, momentum, nesterov=True)))
    wrong += [(description, factory(params, lr, momentum)) for description, factory in shadows]
    start = "an empty velocity dict" if start_empty else "a velocity of zeros"
    for step in range(1, n_steps + 1):
        grads = {key: rng.normal(size=value.shape) for key, value in arrays.items()}
        call = (f"{name}(params, grads, velocity, lr={lr}, momentum={momentum}), call {step} from "
                f"{start}")
        call_in_place(fn, (params, {k: g.copy() for k, g in grads.items()}, velocity, lr, momentum),
                      name=name, call=call)
        for optimizer in [reference] + [optimizer for _, optimizer in wrong]:
            optimizer.step(grads)
        for key in arrays:
            if params.get(key) is not arrays[key]:
                raise CheckFailure(f"after {call}: " + NOT_IN_PLACE.format(name=key))
            likely = [(description, optimizer.param(key)) for description, optimizer in wrong]
            assert_close(arrays[key], reference.param(key),
                         what=f"params[{key!r}] after {call}, against torch.optim.SGD",
                         likely=likely if momentum > 0 else [])
            buffer = reference.buffer(key) if momentum > 0 else grads[key]
            if key not in velocity:
                raise CheckFailure(f"after {call}, velocity has no entry {key!r}: keep each "
                                   "parameter's velocity in the velocity dict, under its name")
            assert_close(velocity[key], buffer,
                         what=f"velocity[{key!r}] after {call} (PyTorch's momentum buffer, "
                              "v = momentum * v + grad)",
                         likely=[(CS231N_VELOCITY, -lr * buffer),
                                 (VELOCITY_NOT_STORED, np.zeros_like(buffer))])


@one_thread()
def check_sgd_momentum_step(fn, seed=None, n_cases=3, n_steps=3, *, start_empty=True,
                            name="sgd_momentum_step", shadows=()):
    """Several steps of ``fn`` on random parameters equal torch.optim.SGD(lr, momentum)."""
    rng = make_rng(seed)
    for params, lr, momentum in sgd_cases(rng, n_cases):
        check_sgd_case(fn, params, lr, momentum, rng, n_steps, start_empty, name, shadows)


# ----------------------------------------------------------------------------- training

def mnist_arrays(split, indices=None):
    """MNIST images as float32 (N, 1, 28, 28) in [0, 1] and int64 labels (a selection of them)."""
    from autograder.data import load_mnist

    images, labels = load_mnist(split)
    if indices is not None:
        images, labels = images[indices], labels[indices]
    return images[:, None] / np.float32(255), labels


def train_and_read(train, args, kwargs, name="train"):
    """``(params, history, call)``: the student's ``train(*args, **kwargs)`` run from scratch,
    its trained parameters (plain arrays) and its history checked for form."""
    call = describe_call(name, args, kwargs)
    model, history = pair_result(call_student(train, args, kwargs, name=name,
                                              forbidden=LIBRARY_TRAINING), call, "(model, history)")
    params = array_dict(model, "params", {key: None for key in PARAM_NAMES}, f"the model {call} returned")
    forget_large_batch(model, args[0])
    if not isinstance(history, dict) or not {"loss", "train_accuracy", "val_accuracy"} <= set(history):
        raise CheckFailure(f"the history {call} returned must be a dict with the lists 'loss', "
                           "'train_accuracy' and 'val_accuracy'")
    x, epochs, batch_size = args[0], kwargs.get("epochs", 1), kwargs.get("batch_size", 64)
    steps = epochs * -(-len(x) // batch_size)
    if len(history["loss"]) != steps:
        hint = (f"\nLikely cause: {LAST_BATCH_DROPPED}"
                if len(history["loss"]) == epochs * (len(x) // batch_size) else "")
        raise CheckFailure(f"history['loss'] of {call} has {len(history['loss'])} entries; "
                           f"{epochs} epochs of {len(x)} examples in batches of {batch_size} make "
                           f"{steps} steps (the last batch of an epoch may be smaller){hint}")
    if len(history["train_accuracy"]) != epochs:
        raise CheckFailure(f"history['train_accuracy'] of {call} has "
                           f"{len(history['train_accuracy'])} entries, expected one per epoch ({epochs})")
    return params, history, call


@one_thread()
def check_overfits(train, images, labels, *, epochs=30, batch_size=10, lr=0.02, seed=0):
    """``train`` on a few examples reaches 100% training accuracy, measured by the same network
    in PyTorch loaded with the trained parameters (the CS231n sanity check)."""
    kwargs = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed}
    params, history, call = train_and_read(train, (images, labels), kwargs)
    accuracy = accuracy_of(params, images, labels)
    if accuracy < 1.0:
        raise CheckFailure(
            f"after {call} the network classifies {accuracy:.0%} of its {len(labels)} training "
            "examples correctly; a correct network and training loop learn them all by heart "
            f"(100%). The loss went from {history['loss'][0]:.3f} to {history['loss'][-1]:.3g}"
            + (f".\nLikely cause: {NOT_LEARNING}" if accuracy <= 0.3 else ""))


@one_thread()
def check_follows_sgd(train, ConvNet, images, labels, *, epochs=3, lr=0.1, momentum=0.9, seed=0):
    """``train`` with one batch holding every example (full-batch steps, whatever the order)
    follows torch.optim.SGD from the weights of ``ConvNet(input_shape, seed=seed)``: the loss of
    every step and the final parameters (to float32 precision)."""
    input_shape = tuple(images.shape[1:])
    start = array_dict(construct(ConvNet, (), {"input_shape": input_shape, "seed": seed}, name="ConvNet"),
                       "params", {key: None for key in PARAM_NAMES}, f"ConvNet(seed={seed})")
    trajectories = {}
    for label, mu in (("reference", momentum), ("reset", 0.0)):
        net = load_params(torch_convnet(input_shape).double(), start)
        optimizer = torch.optim.SGD(net.parameters(), lr=lr, momentum=mu)
        losses = []
        for _ in range(epochs):
            losses.append(torch_loss_and_grads(net, images, labels)[0])
            optimizer.step()
        trajectories[label] = (np.array(losses), params_of(net))
    kwargs = {"epochs": epochs, "batch_size": len(images), "lr": lr, "momentum": momentum, "seed": seed}
    params, history, call = train_and_read(train, (images, labels), kwargs)
    (losses, trained), (reset_losses, reset) = trajectories["reference"], trajectories["reset"]
    assert_close(np.asarray(history["loss"], dtype=np.float64), losses, rtol=1e-4, atol=1e-6,
                 what=f"history['loss'] of {call} (one full batch per epoch, from the weights of "
                      f"ConvNet(seed={seed})), against torch.optim.SGD",
                 likely=[(VELOCITY_RESET, reset_losses)])
    for key in PARAM_NAMES:
        assert_close(params[key], trained[key], rtol=1e-3, atol=1e-5,
                     what=f"params[{key!r}] after {call}, against torch.optim.SGD",
                     likely=[(VELOCITY_RESET, reset[key])])


@one_thread()
def check_learns(train, *, n_train=500, epochs=2, n_test=500, at_least=0.6, seed=None,
                 batch_size=64, lr=0.05):
    """``train`` on ``n_train`` random MNIST training digits classifies ``n_test`` random test
    digits with an accuracy of at least ``at_least``, measured by the same network in PyTorch
    loaded with the trained parameters."""
    rng = make_rng(seed)
    images, labels = mnist_arrays("train", np.sort(rng.choice(60000, n_train, replace=False)))
    test_images, test_labels = mnist_arrays("test", np.sort(rng.choice(10000, n_test, replace=False)))
    kwargs = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": int(rng.integers(2 ** 31))}
    params, history, call = train_and_read(train, (images, labels), kwargs)
    accuracy = accuracy_of(params, test_images, test_labels)
    if accuracy < at_least:
        raise CheckFailure(
            f"after {call} the network classifies {accuracy:.1%} of {n_test} unseen test digits "
            f"correctly; a correct implementation reaches at least {at_least:.0%} (chance: 10%). "
            f"The loss went from {history['loss'][0]:.3f} to {np.mean(history['loss'][-5:]):.3f} "
            "(mean of the last 5 steps)")


# ----------------------------------------------------------------------------- vectorization

def check_vectorized(im2col, col2im, Conv2d, name="Conv2d"):
    """im2col, col2im and Conv2d's forward and backward give PyTorch's results and run no Python
    loop over output pixels: the Python lines they execute do not grow with the image size."""
    rng = make_rng(9)
    w = rng.normal(size=(3, 2, 3, 3))
    counts = {}
    for side in (7, 19):
        x = rng.normal(size=(2, 2, side, side))
        grad_out = rng.normal(size=(2, 3, side - 2, side - 2))
        layer = construct(Conv2d, (2, 3, 3), {"seed": 0}, name=name)
        layer.params = {"w": w.copy(), "b": np.zeros(3)}
        y, (dx, _, _) = by_autograd(F.conv2d, [x, w, np.zeros(3)], grad_out)
        runs = {
            "im2col": (im2col, (x.copy(), 3), unfold(x, 3, 1, 0)),
            "col2im": (col2im, (unfold(x, 3, 1, 0), x.shape, 3), fold(unfold(x, 3, 1, 0), x.shape, 3, 1, 0)),
            f"{name}.forward": (get_attribute(layer, "forward", name, "every layer has forward"),
                                (x.copy(),), y),
            f"{name}.backward": (get_attribute(layer, "backward", name, "every layer has backward"),
                                 (grad_out,), dx),
        }
        for label, (fn, args, expected) in runs.items():
            call = describe_call(label, args, {})
            try:
                result, lines = guards.count_student_lines(fn, *args)
            except NotImplementedError:
                raise CheckFailure(not_implemented_message(label.split(".")[0])) from None
            except Exception as error:
                raise CheckFailure(f"{call} raised {type(error).__name__}: {error}") from error
            close(result, expected, call)
            counts.setdefault(label, []).append(((side - 2) ** 2, lines))
    for label, ((small, few), (large, many)) in counts.items():
        if many > few + 40:
            raise CheckFailure(
                f"{label} executed {few} Python lines for {small} output pixels per image and "
                f"{many} for {large}: it loops over output positions in Python. Loop at most over "
                "the k * k kernel offsets, and let NumPy handle all positions at once")


# ----------------------------------------------------------------------------- bad input

def check_rejects_bad_input(softmax, softmax_cross_entropy, im2col, col2im, Conv2d, MaxPool2d,
                            Linear, ConvNet):
    """Functions and layers raise ValueError/TypeError for impossible shapes and parameters."""
    rng = make_rng(11)
    x = rng.normal(size=(2, 3, 6, 6))
    bad = [
        (softmax, (rng.normal(size=5),), {}, ValueError, "scores must be 2-D (N, C)", "softmax"),
        (softmax_cross_entropy, (rng.normal(size=(3, 4)), np.array([0, 1])), {}, ValueError,
         "3 rows of scores but 2 labels", "softmax_cross_entropy"),
        (softmax_cross_entropy, (rng.normal(size=(2, 4)), np.array([0, 4])), {}, ValueError,
         "label 4 is not a class of 4 scores (0..3)", "softmax_cross_entropy"),
        (softmax_cross_entropy, (rng.normal(size=(2, 4)), np.array([0.0, 1.0])), {}, TypeError,
         "labels must be integers", "softmax_cross_entropy"),
        (im2col, (x, 7), {}, ValueError, "a 7x7 kernel does not fit in a 6x6 input", "im2col"),
        (im2col, (x, 3), {"stride": 0}, ValueError, "the stride must be at least 1", "im2col"),
        (im2col, (x[0], 3), {}, ValueError, "x must be 4-D (N, C, H, W)", "im2col"),
        (im2col, (x, 2.5), {}, TypeError, "kernel_size must be an int", "im2col"),
        (col2im, (rng.normal(size=(2, 27, 10)), x.shape, 3), {}, ValueError,
         "a 6x6 input and a 3x3 kernel give 16 columns, not 10", "col2im"),
        (Conv2d, (0, 4, 3), {}, ValueError, "c_in must be at least 1", "Conv2d"),
        (Conv2d, (3, 4, 3), {"padding": -1}, ValueError, "the padding cannot be negative", "Conv2d"),
        (Conv2d, (3, 4, 1.5), {}, TypeError, "kernel_size must be an int", "Conv2d"),
        (MaxPool2d, (0,), {}, ValueError, "kernel_size must be at least 1", "MaxPool2d"),
        (Linear, (0, 3), {}, ValueError, "n_in must be at least 1", "Linear"),
        (ConvNet, (), {"input_shape": (1, 8, 8), "kernel_size": 5}, ValueError,
         "an 8x8 input is too small for two 5x5 convolutions and 2x2 poolings", "ConvNet"),
    ]
    valid = {"softmax": (softmax, (rng.normal(size=(2, 3)),), {}, (2, 3)),
             "softmax_cross_entropy": (softmax_cross_entropy, (rng.normal(size=(2, 4)), np.array([0, 3])),
                                       {}, None),
             "im2col": (im2col, (x, 3), {}, (2, 27, 16)),
             "col2im": (col2im, (rng.normal(size=(2, 27, 16)), x.shape, 3), {}, x.shape)}
    for name, (fn, args, kwargs, shape) in valid.items():
        result = call_student(fn, args, kwargs, name=name)
        if shape is not None and (type(result) is not np.ndarray or result.shape != shape):
            raise CheckFailure(f"{describe_call(name, args, kwargs)} returned "
                               f"{describe_value(result)}; expected an array of shape {shape}")
    for fn, args, kwargs, exception, reason, name in bad:
        check_raises(fn, args, kwargs, exception=exception, reason=reason, name=name)
    forward = [
        (Conv2d, (3, 4, 3), rng.normal(size=(2, 2, 6, 6)), "x has 2 channels, the layer 3", "Conv2d"),
        (Conv2d, (3, 4, 3), rng.normal(size=(3, 6, 6)), "x must be 4-D (N, C, H, W)", "Conv2d"),
        (MaxPool2d, (4,), rng.normal(size=(1, 1, 3, 8)), "a 4x4 window does not fit in 3 rows",
         "MaxPool2d"),
        (Linear, (5, 3), rng.normal(size=(2, 4)), "x has 4 features, the layer 5", "Linear"),
    ]
    good = {"Conv2d": rng.normal(size=(2, 3, 6, 6)), "MaxPool2d": rng.normal(size=(1, 1, 8, 8)),
            "Linear": rng.normal(size=(2, 5))}
    for cls, args, value, reason, name in forward:
        label = describe_call(name, args, {})
        layer = construct(cls, args, name=name)
        call_method(layer, "forward", (good[name],), label)
        check_raises(get_attribute(layer, "forward", label, "every layer has forward"), (value,),
                     reason=reason, name=f"{label}.forward")
    new_convnet(ConvNet, TINY_NETWORK, 0)
