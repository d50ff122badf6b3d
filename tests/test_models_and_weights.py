"""The networks of notebook 09 (autograder.models), the shipped weights and their training script."""
import hashlib
import importlib.util
import json
import re

import numpy as np
import pytest
import torch
from skimage import data as skimage_data
from skimage.transform import resize

from autograder import models, wire
from autograder.data import load_mnist
from autograder.models import MnistCNN, load_efficientnet_lite0, load_mnist_cnn, normalize_for_efficientnet


@pytest.fixture(scope="module")
def readme(repo):
    return (repo / "data" / "README.md").read_text()


def _recorded(readme, pattern):
    found = re.search(pattern, readme)
    assert found, f"data/README.md does not record {pattern!r}"
    return found.group(1)


def test_weights_file_matches_the_recorded_checksum(repo, readme):
    path = repo / "data" / "mnist_cnn.pt"
    recorded = _recorded(readme, r"`mnist_cnn\.pt`.*`([0-9a-f]{64})`")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == recorded
    assert path.stat().st_size < 1_000_000
    assert f"{path.stat().st_size:,} bytes" in readme


def test_weights_load_into_the_architecture():
    model = load_mnist_cnn()
    assert isinstance(model, MnistCNN) and not model.training
    assert sum(p.numel() for p in model.parameters()) == 20_522
    assert all(p.requires_grad for p in model.parameters())
    state = torch.load(models.MNIST_CNN_WEIGHTS, weights_only=True)
    assert set(state) == set(MnistCNN().state_dict())


def test_weights_reach_the_recorded_accuracy_on_a_test_slice(readme):
    recorded = float(_recorded(readme, r"([\d.]+) % on the first 2,000")) / 100
    images, labels = load_mnist("test")
    x = torch.from_numpy(images[:2000].astype(np.float32) / 255)[:, None]
    with torch.no_grad():
        accuracy = (load_mnist_cnn()(x).argmax(1).numpy() == labels[:2000]).mean()
    assert accuracy >= recorded - 0.002
    assert float(_recorded(readme, r"([\d.]+) % on the 10,000")) > 98.0


def test_architecture_shapes_and_names():
    model = MnistCNN()
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    assert model.features[:5](torch.zeros(1, 1, 28, 28)).shape == (1, 16, 8, 8)
    linears = [name for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    assert linears == ["classifier.1", "classifier.3"]


def test_mnist_cnn_crosses_to_the_students_kernel_as_data():
    # Under grading the checks of freeze and replace_head send MnistCNNs to the student's kernel.
    model = load_mnist_cnn()
    model.classifier[3].weight.requires_grad_(False)
    encoder = wire.Encoder()
    node = json.loads(json.dumps(encoder.encode(model)))
    back = wire.Decoder([bytes(b) for b in encoder.buffers]).decode(node)
    assert type(back) is MnistCNN and not back.training
    assert [p.requires_grad for p in back.parameters()] == [p.requires_grad for p in model.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(back.state_dict().values(), model.state_dict().values()))


def test_missing_weights_say_how_to_remake_them(tmp_path):
    with pytest.raises(FileNotFoundError, match="make_mnist_cnn.py"):
        load_mnist_cnn(tmp_path / "absent.pt")


def test_training_script_runs_and_saves_loadable_weights(repo, tmp_path, monkeypatch, capsys):
    spec = importlib.util.spec_from_file_location("make_mnist_cnn", repo / "data" / "make_mnist_cnn.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    monkeypatch.setattr(script, "EPOCHS", 1)
    monkeypatch.setattr(torch, "use_deterministic_algorithms", lambda flag: None)
    monkeypatch.setattr(script, "load_mnist", lambda split: tuple(a[:256] for a in load_mnist(split)))
    out = tmp_path / "tiny.pt"
    script.main(["--out", str(out)])
    printed = capsys.readouterr().out
    assert "test accuracy" in printed and hashlib.sha256(out.read_bytes()).hexdigest() in printed
    assert isinstance(load_mnist_cnn(out), MnistCNN)


@pytest.fixture(scope="module")
def effnet():
    return load_efficientnet_lite0()


def test_efficientnet_loads_its_imagenet_weights_quietly(capfd):
    model = load_efficientnet_lite0(image_size=64)
    assert capfd.readouterr().out == ""
    assert sum(p.numel() for p in model.parameters()) == 4_652_008
    assert not model.training
    assert model.extract_features(torch.zeros(1, 3, 64, 64)).shape == (1, 1280, 2, 2)


def test_efficientnet_recognises_the_cat(effnet):
    cat = resize(skimage_data.chelsea(), (224, 224), anti_aliasing=True)  # RGB in [0, 1]
    x = normalize_for_efficientnet(np.moveaxis(cat, -1, 0)[None])
    with torch.no_grad():
        top = effnet(x).softmax(1)[0]
    assert int(top.argmax()) in range(281, 286)  # ImageNet's domestic cats
    assert float(top.max()) > 0.5


def test_normalize_for_efficientnet_repeats_gray_and_scales():
    x = normalize_for_efficientnet(np.full((2, 5, 6), 127 / 255))
    assert x.shape == (2, 3, 5, 6) and x.dtype == torch.float32
    assert torch.allclose(x, torch.zeros_like(x), atol=1e-6)
    assert torch.allclose(normalize_for_efficientnet(np.ones((1, 3, 2, 2))), torch.ones(1, 3, 2, 2))
    with pytest.raises(ValueError, match=r"\(N, H, W\) or \(N, 3, H, W\)"):
        normalize_for_efficientnet(np.ones((1, 2, 4, 4)))


def test_missing_efficientnet_packages_are_named(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "efficientnet_lite_pytorch", None)
    with pytest.raises(ModuleNotFoundError, match="efficientnet-lite-pytorch==0.1.0"):
        load_efficientnet_lite0()
