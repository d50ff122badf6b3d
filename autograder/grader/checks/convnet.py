"""Hidden checks of notebook 10 (a whole CNN from your own layers): grader only, never shipped.

Each check draws its cases from the grading run's seed (hidden tests pass no seed) and hands them
to the machinery of :mod:`autograder.convnet`, with more and larger cases than the visible tests,
and with what students must not receive: generators of likely wrong answers that are near-copies
of a solution (a softmax shifted by the batch's maximum, im2col-style pooling gradients sent to
every tied maximum), the central-difference oracle of the gradient check, and the training checks
on random subsets of MNIST with the accuracy a correct implementation always reaches.
"""
import numpy as np
import torch
import torch.nn.functional as F

from autograder import convnet as checks
from autograder.checking import CheckFailure, assert_close, make_rng
from autograder.convnet import (
    DECAY_IGNORED, GLOBAL_MAXIMUM, GRADIENT_TO_EVERY_TIE, PARAM_NAMES, TINY_NETWORK,
    check_loss_value, convnet_loss, load_params, new_convnet, one_thread, param_shapes, params_of,
    random_params, torch_convnet, torch_loss_and_grads,
)

# The accuracy on 1000 random test digits after ``train`` on 2000 random training digits for two
# epochs (batches of 64, lr 0.05, momentum 0.9): over 100 seeds the reference reached 0.864 at
# worst (mean 0.909, standard deviation 0.015), so 0.80 lies 7 standard deviations below the
# mean; tests/test_convnet_checks.py measures the margin again on four seeds.
SUBSET_TRAIN, SUBSET_TEST, SUBSET_EPOCHS, SUBSET_AT_LEAST = 2000, 1000, 2, 0.80


def _seed(rng):
    return int(rng.integers(2 ** 31))


# ----------------------------------------------------------------------------- functions

def check_relu(fn, seed=None):
    """``relu`` against torch.relu on many random arrays."""
    checks.check_relu(fn, _seed(make_rng(seed)), n_cases=20)


def check_relu_backward(fn, seed=None):
    """``relu_backward`` against autograd on many random arrays with exact zeros."""
    checks.check_relu_backward(fn, _seed(make_rng(seed)), n_cases=20)


def softmax_mistakes(scores):
    """Known wrong softmaxes: the student-side ones, and a shift by the batch's maximum."""
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        shifted = np.exp(scores - scores.max())
        global_shift = shifted / shifted.sum(axis=1, keepdims=True)
    return checks.softmax_mistakes(scores) + [(GLOBAL_MAXIMUM, global_shift)]


def check_softmax(fn, seed=None):
    """``softmax`` against torch.softmax(dim=1) on random scores of ordinary size."""
    checks.check_softmax(fn, _seed(make_rng(seed)), n_cases=20, mistakes=softmax_mistakes)


def check_softmax_large(fn, seed=None):
    """``softmax`` against torch.softmax on random scores up to 1e4, one row far above the rest
    (a shift by the batch's maximum underflows the others)."""
    checks.check_softmax_is_stable(fn)
    checks.check_softmax(fn, _seed(make_rng(seed)), n_cases=12, large=True, mistakes=softmax_mistakes)


def check_softmax_cross_entropy(fn, seed=None):
    """``softmax_cross_entropy`` against F.cross_entropy and autograd, N = 1 included."""
    checks.check_softmax_cross_entropy(fn, _seed(make_rng(seed)), n_cases=20)


def check_softmax_cross_entropy_large(fn, seed=None):
    """``softmax_cross_entropy`` on scores up to 1e4: finite and exact."""
    checks.check_softmax_cross_entropy(fn, _seed(make_rng(seed)), n_cases=12, large=True)


def check_im2col(fn, seed=None):
    """``im2col`` against F.unfold, with and without strides and padding."""
    rng = make_rng(seed)
    checks.check_im2col(fn, _seed(rng), n_cases=8, mistakes=checks.im2col_mistakes)
    checks.check_im2col(fn, _seed(rng), n_cases=16, strided=True, mistakes=checks.im2col_mistakes)


def check_col2im(fn, seed=None):
    """``col2im`` against F.fold and the adjoint identity, with and without strides and padding
    (a stride larger than the kernel leaves pixels no window covers)."""
    rng = make_rng(seed)
    checks.check_col2im(fn, _seed(rng), n_cases=6)
    checks.check_col2im(fn, _seed(rng), n_cases=14, strided=True)


# ----------------------------------------------------------------------------- layers

@one_thread()
def check_conv2d_layer(Conv2d, seed=None):
    """``Conv2d`` on random layers, strides and paddings; then one layer run twice forward before
    its backward (the backward must use the last forward)."""
    rng = make_rng(seed)
    checks.check_conv2d_layer(Conv2d, _seed(rng), n_cases=4)
    checks.check_conv2d_layer(Conv2d, _seed(rng), n_cases=8, strided=True)
    layer = checks.construct(Conv2d, (2, 3, 3), {"padding": 1, "seed": _seed(rng)}, name="Conv2d")
    label = "Conv2d(2, 3, 3, padding=1)"
    params = random_params(rng, {"w": (3, 2, 3, 3), "b": (3,)})
    layer.params = {key: value.copy() for key, value in params.items()}
    checks.call_method(layer, "forward", (rng.normal(size=(4, 2, 7, 7)),), label)
    x = rng.normal(size=(2, 2, 5, 6))
    checks.call_method(layer, "forward", (x,), label)
    grad_out = rng.normal(size=(2, 3, 5, 6))
    _, (dx, dw, db) = checks.by_autograd(lambda *t: F.conv2d(*t, padding=1),
                                         [x, params["w"], params["b"]], grad_out)
    what = f"{label}.backward after forward(x of shape (4, 2, 7, 7)) then forward(x of shape {x.shape})"
    checks.close(checks.call_method(layer, "backward", (grad_out,), label), dx,
                 f"the input gradient of {what}: backward uses the LAST forward's input")
    grads = checks.array_dict(layer, "grads", {"w": None, "b": None}, label)
    checks.close(grads["w"], dw, f"grads['w'] of {what}")
    checks.close(grads["b"], db, f"grads['b'] of {what}")


def tie_mistakes(x, k, grad_out):
    """The gradient of each window sent to every element equal to its maximum."""
    h, w = grad_out.shape[2] * k, grad_out.shape[3] * k
    top = F.max_pool2d(torch.from_numpy(x), k).numpy()
    spread = np.zeros_like(x)
    up = lambda a: np.repeat(np.repeat(a, k, axis=2), k, axis=3)  # noqa: E731
    spread[:, :, :h, :w] = up(grad_out) * (x[:, :, :h, :w] == up(top))
    return [(GRADIENT_TO_EVERY_TIE, spread)]


@one_thread()
def check_maxpool_layer(MaxPool2d, seed=None):
    """``MaxPool2d`` on random inputs, then on small integers full of ties."""
    rng = make_rng(seed)
    checks.check_maxpool_layer(MaxPool2d, _seed(rng), n_cases=10)
    for k, x in checks.pool_cases(rng, 12, ties=True):
        checks.check_pool_case(MaxPool2d, k, x, rng, ties=True, mistakes=tie_mistakes)


def check_flatten_and_linear(Flatten, Linear, seed=None):
    """``Flatten`` and ``Linear`` against torch.flatten, F.linear and autograd."""
    rng = make_rng(seed)
    checks.check_flatten_layer(Flatten, _seed(rng), n_cases=8)
    checks.check_linear_layer(Linear, _seed(rng), n_cases=10)


# ----------------------------------------------------------------------------- the network

@one_thread()
def check_convnet(ConvNet, seed=None):
    """``ConvNet`` against the same network in PyTorch: random small architectures, and the
    default one on a batch of eight."""
    rng = make_rng(seed)
    checks.check_convnet(ConvNet, _seed(rng), n_cases=5)
    checks.check_convnet(ConvNet, _seed(rng), configs=[((1, 28, 28), (8, 16), 5, 10)], batch=8)


def central_differences(loss, params, step=1e-6):
    """``{name: array}``: (loss(p + step e_i) - loss(p - step e_i)) / (2 step) for every
    coordinate i of every parameter; ``loss(params)`` takes a dict of arrays."""
    numeric = {}
    for key, value in params.items():
        gradient = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            trial = {name: array.copy() for name, array in params.items()}
            trial[key][index] = value[index] + step
            plus = loss(trial)
            trial[key][index] = value[index] - step
            gradient[index] = (plus - loss(trial)) / (2 * step)
        numeric[key] = gradient
    return numeric


@one_thread()
def check_numerical_gradients(ConvNet, seed=None, config=TINY_NETWORK, batch=3, name="ConvNet"):
    """Every coordinate of every gradient of a tiny network equals central differences of the
    loss (float64). A coordinate that disagrees on one batch is checked again on a second one:
    a step across a kink of ReLU or max pooling is rare and does not repeat."""
    rng = make_rng(seed)
    model, label = new_convnet(ConvNet, config, _seed(rng), name)
    failures = None
    for attempt in range(2):
        params = random_params(rng, param_shapes(config))
        x = rng.normal(size=(batch,) + tuple(config[0]))
        y = rng.integers(0, config[3], size=batch)
        model.params = {key: value.copy() for key, value in params.items()}
        loss_value, grads, call = convnet_loss(model, x, y, label)
        check_loss_value(loss_value, call, config, params, x, y)
        grads = {key: np.asarray(value, dtype=np.float64) for key, value in grads.items()}

        def loss(trial):
            model.params = trial
            return convnet_loss(model, x, y, label)[0]

        numeric = central_differences(loss, params)
        found = {}
        for key in PARAM_NAMES:
            error = np.abs(grads[key] - numeric[key])
            bad = error > 1e-6 + 1e-4 * np.abs(numeric[key])
            if bad.any():
                index = tuple(int(i) for i in np.argwhere(bad)[0])
                found[key] = (index, grads[key][index], numeric[key][index], int(bad.sum()), bad.size)
        if not found:
            return
        failures = found if failures is None else {k: v for k, v in found.items() if k in failures}
        if not failures:
            return
    key, (index, analytic, numeric, count, size) = next(iter(failures.items()))
    raise CheckFailure(f"grads[{key!r}] of {call} differs from central differences of the loss "
                       f"in {count} of {size} coordinates; first at {list(index)}: {analytic:.6g}, "
                       f"finite differences {numeric:.6g} (two random batches)")


@one_thread()
def check_initial_loss(ConvNet, seed=None):
    """New networks with random seeds give a loss near log(10) on random test digits."""
    rng = make_rng(seed)
    for _ in range(2):
        images, labels = checks.mnist_arrays("test", np.sort(rng.choice(10000, 100, replace=False)))
        checks.check_initial_loss(ConvNet, images, labels, seed=_seed(rng))


# ----------------------------------------------------------------------------- SGD with momentum

class DampenedSGD:
    """The mistake v = momentum * v + (1 - momentum) * grad, param -= lr * v (from the first step
    on, where PyTorch's own dampening would still add the whole gradient)."""

    def __init__(self, params, lr, momentum):
        self.params = {key: np.array(value, dtype=np.float64) for key, value in params.items()}
        self.velocity = {key: np.zeros_like(value) for key, value in self.params.items()}
        self.lr, self.momentum = lr, momentum

    def step(self, grads):
        for key, param in self.params.items():
            self.velocity[key] = self.momentum * self.velocity[key] + (1 - self.momentum) * grads[key]
            param -= self.lr * self.velocity[key]

    def param(self, key):
        return self.params[key]


SGD_SHADOWS = ((checks.DAMPENED, DampenedSGD),)


def check_sgd_momentum_step(fn, seed=None):
    """``sgd_momentum_step`` against torch.optim.SGD over several steps, the velocity starting as
    an empty dict and as zeros."""
    rng = make_rng(seed)
    checks.check_sgd_momentum_step(fn, _seed(rng), n_cases=4, n_steps=4, start_empty=True,
                                   shadows=SGD_SHADOWS)
    checks.check_sgd_momentum_step(fn, _seed(rng), n_cases=3, n_steps=3, start_empty=False,
                                   shadows=SGD_SHADOWS)


# ----------------------------------------------------------------------------- training

def check_overfits(train, seed=None):
    """``train`` learns 50 random training digits by heart from a random seed."""
    rng = make_rng(seed)
    images, labels = checks.mnist_arrays("train", np.sort(rng.choice(60000, 50, replace=False)))
    checks.check_overfits(train, images, labels, seed=_seed(rng))


@one_thread()
def check_follows_sgd(train, ConvNet, seed=None):
    """``train`` with full batches follows torch.optim.SGD: without, then with a learning-rate
    decay (lr * lr_decay ** epoch), on random digits from a random seed.

    A draw that fails is tried once more on new digits: a step that lands on a kink of ReLU or
    max pooling, where the student's float32 data and PyTorch's float64 decide differently, moves a
    few parameters past the tolerance; it is rare and does not repeat, while a wrong training loop
    fails every draw."""
    rng = make_rng(seed)
    for attempt in range(2):
        images, labels = checks.mnist_arrays("train", np.sort(rng.choice(60000, 40, replace=False)))
        try:
            checks.check_follows_sgd(train, ConvNet, images, labels, epochs=3, lr=0.05,
                                     momentum=0.9, seed=_seed(rng))
            decayed_trajectory(train, ConvNet, images, labels, seed=_seed(rng))
            return
        except CheckFailure:
            if attempt:
                raise


def decayed_trajectory(train, ConvNet, images, labels, *, epochs=3, lr=0.1, momentum=0.5,
                       lr_decay=0.5, seed=0):
    """Full-batch ``train`` with ``lr_decay`` equals torch.optim.SGD whose learning rate is
    ``lr * lr_decay ** epoch`` at each epoch's step."""
    input_shape = tuple(images.shape[1:])
    start = checks.array_dict(
        checks.construct(ConvNet, (), {"input_shape": input_shape, "seed": seed}, name="ConvNet"),
        "params", {key: None for key in PARAM_NAMES}, f"ConvNet(seed={seed})")
    trajectories = {}
    for label, decay in (("reference", lr_decay), ("constant", 1.0)):
        net = load_params(torch_convnet(input_shape).double(), start)
        optimizer = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum)
        losses = []
        for epoch in range(epochs):
            for group in optimizer.param_groups:
                group["lr"] = lr * decay ** epoch
            losses.append(torch_loss_and_grads(net, images, labels)[0])
            optimizer.step()
        trajectories[label] = (np.array(losses), params_of(net))
    kwargs = {"epochs": epochs, "batch_size": len(images), "lr": lr, "momentum": momentum,
              "lr_decay": lr_decay, "seed": seed}
    params, history, call = checks.train_and_read(train, (images, labels), kwargs)
    (losses, trained), (constant_losses, constant) = trajectories["reference"], trajectories["constant"]
    assert_close(np.asarray(history["loss"], dtype=np.float64), losses, rtol=1e-4, atol=1e-6,
                 what=f"history['loss'] of {call}, against torch.optim.SGD with the learning rate "
                      "lr * lr_decay ** epoch", likely=[(DECAY_IGNORED, constant_losses)])
    for key in PARAM_NAMES:
        assert_close(params[key], trained[key], rtol=1e-3, atol=1e-5,
                     what=f"params[{key!r}] after {call}, against torch.optim.SGD with the "
                          "learning rate lr * lr_decay ** epoch", likely=[(DECAY_IGNORED, constant[key])])


def check_learns(train, seed=None):
    """``train`` on 2000 random training digits (two epochs) classifies 1000 random test digits
    with at least SUBSET_AT_LEAST accuracy, which a correct implementation always reaches."""
    checks.check_learns(train, n_train=SUBSET_TRAIN, epochs=SUBSET_EPOCHS, n_test=SUBSET_TEST,
                        at_least=SUBSET_AT_LEAST, seed=_seed(make_rng(seed)))
