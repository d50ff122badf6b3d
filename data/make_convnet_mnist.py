"""Train notebook 10's network in PyTorch and save its weights to data/convnet_mnist.npz.

    python data/make_convnet_mnist.py                  # from the repository root, CPU, under a minute
    python data/make_convnet_mnist.py --out other.npz  # somewhere else

The network is ``autograder.convnet.torch_convnet()`` (conv 1->8 5x5, ReLU, max-pool 2, conv 8->16
5x5, ReLU, max-pool 2, linear 256->10), trained with the notebook's recipe: the 60,000 MNIST
training images (``autograder.data.load_mnist``, pixels / 255), two epochs of SGD with momentum
0.9 in batches of 64, learning rate 0.05 halved for the second epoch, the batches in the order of
``np.random.default_rng(0)``. Seeded and deterministic on one machine and PyTorch version, one
thread. The file is an .npz archive of float32 arrays named as ConvNet's parameters ("conv1.w",
..., "fc.b"), written with fixed timestamps so that equal weights give an equal file. Prints the
time, the test accuracy (10,000 images) and the SHA-256 of the file: record them in data/README.md.
"""
import argparse
import hashlib
import io
import time
import zipfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from autograder.convnet import PRETRAINED_WEIGHTS, PARAM_NAMES, params_of, torch_convnet
from autograder.data import load_mnist

SEED = 0
EPOCHS = 2
BATCH_SIZE = 64
LEARNING_RATE = 0.05
LR_DECAY = 0.5
MOMENTUM = 0.9


def as_tensor(images):
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28) in [0, 1]."""
    return torch.from_numpy(images[:, None] / np.float32(255))


def train(net, images, labels):
    """The notebook's recipe; returns the last epoch's mean training loss."""
    optimizer = torch.optim.SGD(net.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM)
    order_rng = np.random.default_rng(SEED)
    for epoch in range(EPOCHS):
        for group in optimizer.param_groups:
            group["lr"] = LEARNING_RATE * LR_DECAY ** epoch
        order = torch.from_numpy(order_rng.permutation(len(images)))
        total = 0.0
        for start in range(0, len(images), BATCH_SIZE):
            batch = order[start:start + BATCH_SIZE]
            loss = F.cross_entropy(net(images[batch]), labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        print(f"epoch {epoch + 1}/{EPOCHS}: training loss {total / len(images):.4f}")
    return total / len(images)


@torch.no_grad()
def accuracy(net, images, labels):
    """Fraction of ``images`` whose arg-max class equals ``labels``."""
    predictions = torch.cat([net(images[i:i + 1000]).argmax(1) for i in range(0, len(images), 1000)])
    return (predictions == labels).double().mean().item()


def save(params, path):
    """Write ``params`` as an .npz archive (one .npy per name) with fixed timestamps."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in PARAM_NAMES:
            buffer = io.BytesIO()
            np.save(buffer, np.ascontiguousarray(params[name], dtype=np.float32))
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, buffer.getvalue())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=PRETRAINED_WEIGHTS, help="weights file to write")
    args = parser.parse_args(argv)
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    train_images, train_labels = load_mnist("train")
    test_images, test_labels = load_mnist("test")
    net = torch_convnet()
    started = time.perf_counter()
    train(net, as_tensor(train_images), torch.from_numpy(train_labels))
    seconds = time.perf_counter() - started
    net.eval()
    test_accuracy = accuracy(net, as_tensor(test_images), torch.from_numpy(test_labels))
    save(params_of(net), args.out)
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    print(f"trained in {seconds:.0f} s on one CPU thread; test accuracy {test_accuracy:.4f} on "
          f"{len(test_labels)} images")
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes), SHA-256 {digest}")


if __name__ == "__main__":
    main()
