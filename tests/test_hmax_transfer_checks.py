"""Unit tests of notebook 09's checks (autograder.hmax_transfer) and its Gabor explorer widget.

The references are the solution cells of the source notebook; the wrong implementations wrap
them to make the plausible mistakes the checks must name. The oracles are cross-checked against
SciPy and plain loops written here.
"""
import io
import math
import time

import ipywidgets as widgets
import numpy as np
import pytest
import scipy.ndimage
import skimage.filters
import torch
from PIL import Image
from torch import nn

from autograder import hmax_transfer as checks
from autograder.grader import notebooks
from autograder.checking import CheckFailure
from autograder.data import IMAGE_NAMES
from autograder.models import MnistCNN
from autograder.widgets import hmax as widget

SOURCE = "solutions/09_hmax_transfer/09_hmax_transfer.ipynb"


@pytest.fixture(scope="module")
def ref(repo):
    """The solution cells of the notebook, executed: ``{name: function}``."""
    return notebooks.solution_namespace(notebooks.read(repo / SOURCE),
                                        {"np": np, "nn": nn, "torch": torch})


# ----------------------------------------------------------------------------- oracles

def test_gabor_oracle_is_the_hand_worked_kernel():
    raw = np.array([[0.0, math.exp(-0.5), 0.0], [0.0, 1.0, 0.0], [0.0, math.exp(-0.5), 0.0]])
    expected = (raw - raw.mean()) / np.linalg.norm(raw - raw.mean())
    np.testing.assert_allclose(checks.oracle_gabor_kernel(3, 4.0, 0.0, 1.0, gamma=1.0), expected, atol=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_skimage_and_torch_gabor_agree_on_odd_sizes(seed):
    rng = np.random.default_rng(seed)
    size = int(rng.choice([3, 5, 9, 15, 21]))
    args = (size, float(rng.uniform(2, 12)), float(rng.uniform(-3, 6)), float(rng.uniform(0.8, 6)),
            float(rng.uniform(0.2, 1.5)), float(rng.uniform(-3, 3)))
    np.testing.assert_allclose(checks.oracle_gabor_kernel(*args), checks.gabor_formula_torch(*args),
                               rtol=1e-9, atol=1e-12)


def test_gabor_oracle_stays_small_for_elongated_envelopes():
    kernel = checks.oracle_gabor_kernel(21, 4.0, 0.3, 0.8, gamma=0.2)
    assert kernel.shape == (21, 21)
    assert abs(kernel.mean()) < 1e-12 and abs(np.sum(kernel ** 2) - 1) < 1e-9


def _s1_scipy(image, filters):
    out = []
    for bank in filters:
        energy = scipy.ndimage.correlate(image ** 2, np.ones(bank.shape[1:]), mode="constant")
        norm = np.sqrt(energy)
        maps = [np.abs(scipy.ndimage.correlate(image, f, mode="constant")) for f in bank]
        out.append(np.where(norm > 0, np.stack(maps) / np.where(norm > 0, norm, 1), 0.0))
    return out


def test_s1_oracle_matches_scipy_and_gives_zero_on_empty_windows():
    for case in checks.s1_cases(5, 10):
        for got, want in zip(checks.oracle_s1_layer(*case.args), _s1_scipy(*case.args)):
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    image = np.zeros((6, 6))
    image[0, 0] = 1.0
    out = checks.oracle_s1_layer(image, [np.ones((1, 3, 3))])[0]
    assert out[0, 0, 0] == 1.0 and out[0, 4, 4] == 0.0


def test_c1_s2_c2_oracles_match_plain_loops():
    for case in checks.c1_cases(6, 5):
        s1, pool, stride = case.args
        for b, band in enumerate(checks.oracle_c1_layer(s1, pool, stride)):
            both = np.maximum(s1[b], s1[b + 1])
            for o, i, j in np.ndindex(band.shape):
                assert band[o, i, j] == both[o, i * stride:i * stride + pool, j * stride:j * stride + pool].max()
    for case in checks.s2_cases(7, 5):
        c1, protos, sigma = case.args
        p = protos.shape[-1]
        for band, out in zip(c1, checks.oracle_s2_layer(c1, protos, sigma)):
            for k, i, j in np.ndindex(out.shape):
                d2 = np.sum((band[:, i:i + p, j:j + p] - protos[k]) ** 2)
                assert out[k, i, j] == pytest.approx(math.exp(-d2 / (2 * sigma ** 2)), rel=1e-9)
    s2 = [np.array([[[0.1, 0.5]], [[0.9, 0.0]]]), np.array([[[0.7]], [[0.2]]])]
    np.testing.assert_array_equal(checks.oracle_c2_layer(s2), [0.7, 0.9])


def test_random_cases_are_varied():
    sizes = {case.args[0] for case in checks.gabor_cases(901)}
    assert {s % 2 for s in sizes} == {0, 1} and max(sizes) > 15
    s2 = checks.s2_cases(931)
    values = np.concatenate([b.ravel() for out in (checks.oracle_s2_layer(*c.args) for c in s2) for b in out])
    assert 0.05 < np.median(values) < 0.95, "S2 test responses should not all saturate"


# ----------------------------------------------------------------------------- HMAX checks

def test_reference_solutions_pass_every_check(ref):
    checks.check_gabor_kernel(ref["gabor_kernel"])
    checks.check_gabor_kernel_rejects_bad_input(ref["gabor_kernel"])
    checks.check_s1_layer(ref["s1_layer"])
    checks.check_c1_layer(ref["c1_layer"])
    checks.check_s2_layer(ref["s2_layer"])
    checks.check_c2_layer(ref["c2_layer"])
    checks.check_hmax_rejects_bad_input(ref["s1_layer"], ref["c1_layer"], ref["s2_layer"], ref["c2_layer"])
    checks.check_freeze(ref["freeze"])
    checks.check_freeze_rejects_bad_input(ref["freeze"])
    checks.check_replace_head(ref["replace_head"])
    checks.check_replace_head_rejects_bad_input(ref["replace_head"])


@pytest.mark.parametrize(("wrong", "cause"), [
    (lambda g: lambda n, w, t, s, gamma=0.5, phase=0.0: g(n, w, np.deg2rad(t), s, gamma, phase), "degrees"),
    # with x down the rows and y along the columns, the kernel is the right one at pi/2 - theta
    (lambda g: lambda n, w, t, s, gamma=0.5, phase=0.0: g(n, w, np.pi / 2 - t, s, gamma, phase),
     "x and y are swapped"),
    (lambda g: lambda n, w, t, s, gamma=0.5, phase=0.0: g(n, w, t, s, gamma, phase) * 3.0, None),
    (lambda g: lambda n, w, t, s, gamma=0.5, phase=0.0: g(n, w, t, s, gamma, -phase), "phase is subtracted"),
    (lambda g: lambda n, w, t, s, gamma=0.5, phase=0.0: g(n, w, t, math.sqrt(s), gamma, phase),
     "variance"),
])
def test_gabor_mistakes_fail_and_are_named(ref, wrong, cause):
    with pytest.raises(CheckFailure) as info:
        checks.check_gabor_kernel(wrong(ref["gabor_kernel"]))
    if cause:
        assert "Likely cause" in str(info.value) and cause in str(info.value)


def test_gabor_without_normalisation_is_named():
    def raw(size, wavelength, theta, sigma, gamma=0.5, phase=0.0):
        return checks.gabor_formula_torch(size, wavelength, theta, sigma, gamma, phase, unit_norm=False)

    with pytest.raises(CheckFailure, match="not divided by its norm"):
        checks.check_gabor_kernel(raw)


def test_gabor_from_skimage_is_forbidden():
    def shortcut(size, wavelength, theta, sigma, gamma=0.5, phase=0.0):
        skimage.filters.gabor_kernel(1 / wavelength)
        return checks.oracle_gabor_kernel(size, wavelength, theta, sigma, gamma, phase)

    with pytest.raises(CheckFailure, match="from scratch"):
        checks.check_gabor_kernel(shortcut)


def test_stub_reads_not_implemented():
    def stub(*args):
        raise NotImplementedError()

    for check in (checks.check_gabor_kernel, checks.check_s1_layer, checks.check_c1_layer,
                  checks.check_s2_layer, checks.check_c2_layer, checks.check_freeze,
                  checks.check_replace_head, checks.check_freeze_rejects_bad_input):
        with pytest.raises(CheckFailure, match="not implemented yet"):
            check(stub)


@pytest.mark.parametrize(("variant", "cause"), [
    ({"absolute": False}, "absolute value is missing"),
    ({"normalise": None}, "not normalised"),
    ({"normalise": "energy"}, "sum of squares"),
    ({"flip": True}, "flipped"),
])
def test_s1_mistakes_are_named(variant, cause):
    with pytest.raises(CheckFailure, match=f"Likely cause: .*{cause}"):
        checks.check_s1_layer(lambda image, filters: checks.oracle_s1_layer(image, filters, **variant))


def test_s1_wrong_types_and_lengths_are_explained():
    with pytest.raises(CheckFailure, match="return a list of arrays, one per scale"):
        checks.check_s1_layer(lambda image, filters: np.stack(checks.oracle_s1_layer(image, filters)))
    with pytest.raises(CheckFailure, match=r"returned 1 arrays, expected \d \(one per scale\)"):
        checks.check_s1_layer(lambda image, filters: checks.oracle_s1_layer(image, filters)[:1], seed=913)


def test_c1_mistakes_are_named(ref):
    c1 = ref["c1_layer"]
    with pytest.raises(CheckFailure, match="max over adjacent scales is missing"):
        checks.check_c1_layer(lambda s1, pool, stride: [c1([m, m], pool, stride)[0] for m in s1[:-1]])
    with pytest.raises(CheckFailure, match="stride is ignored"):
        checks.check_c1_layer(lambda s1, pool, stride: c1(s1, pool, pool))
    with pytest.raises(CheckFailure, match=r"returned \d arrays, expected \d \(one per band\)"):
        checks.check_c1_layer(lambda s1, pool, stride: c1(s1 + s1[-1:], pool, stride))


@pytest.mark.parametrize(("transform", "cause"), [
    (lambda d2, s: np.exp(-d2 / (2 * s)), "sigma is not squared"),
    (lambda d2, s: np.exp(-d2 / s ** 2), "factor 2 is missing"),
    (lambda d2, s: np.exp(-np.sqrt(d2) / (2 * s ** 2)), "distance is not squared"),
])
def test_s2_mistakes_are_named(transform, cause):
    def wrong(c1, prototypes, sigma):
        return [transform(checks.squared_distances(band, prototypes), sigma) for band in c1]

    with pytest.raises(CheckFailure, match=cause):
        checks.check_s2_layer(wrong)


def test_c2_mistakes_are_named():
    with pytest.raises(CheckFailure, match="only the first band"):
        checks.check_c2_layer(lambda s2: s2[0].max(axis=(1, 2)))
    with pytest.raises(CheckFailure, match="positions are averaged"):
        checks.check_c2_layer(lambda s2: np.max([b.mean(axis=(1, 2)) for b in s2], axis=0))
    with pytest.raises(CheckFailure, match=r"c2_layer\(.*(differ|shape)"):
        checks.check_c2_layer(lambda s2: np.array([b.max() for b in s2]))


def test_brute_force_oracles_in_the_hidden_cells_agree_with_torch(repo):
    """The hidden cells' loop oracles, run against the package's PyTorch oracles."""
    nb = notebooks.read(repo / SOURCE)
    namespace = {"np": np, "math": math}
    for cell in filter(notebooks.is_test, nb.cells):
        hidden = cell.source.split("### BEGIN HIDDEN TESTS")[-1].split("### END HIDDEN TESTS")[0]
        for block in hidden.split("\n\n\n"):
            if block.lstrip().startswith("def brute_force") or "\ndef brute_force" in block:
                exec(block[block.index("def brute_force"):], namespace)
    assert {"brute_force_s1", "brute_force_c1", "brute_force_s2", "brute_force_c2"} <= set(namespace)
    checks.check_s1_layer(namespace["brute_force_s1"], n_cases=6, oracle=checks.oracle_s1_layer)
    checks.check_c1_layer(namespace["brute_force_c1"], n_cases=6)
    checks.check_s2_layer(namespace["brute_force_s2"], n_cases=6)
    checks.check_c2_layer(namespace["brute_force_c2"])


def test_hmax_bad_input_check_catches_silent_acceptance(ref):
    def lenient_c1(s1, pool_size, stride):
        return ref["c1_layer"](s1 + s1, pool_size, stride) if len(s1) == 1 else ref["c1_layer"](s1, pool_size, stride)

    with pytest.raises(CheckFailure, match="at least 2"):
        checks.check_hmax_rejects_bad_input(ref["s1_layer"], lenient_c1, ref["s2_layer"], ref["c2_layer"])


# ----------------------------------------------------------------------------- transfer checks

def _freeze_variant(kind):
    def wrong(model, trainable=()):
        prefixes = (trainable,) if isinstance(trainable, str) else tuple(trainable)
        for name, parameter in model.named_parameters():
            selected = name.startswith(prefixes)
            if kind == "inverted":
                parameter.requires_grad_(not selected)
            elif kind == "sticky":
                parameter.requires_grad_(parameter.requires_grad and selected)
            elif kind == "module":
                parameter.requires_grad_(name.split(".")[0] in prefixes)
            elif kind == "everything":
                parameter.requires_grad_(True)
            elif kind == "nothing":
                pass
        return None if kind == "no return" else model
    return wrong


@pytest.mark.parametrize(("kind", "message"), [
    ("inverted", "logic is inverted"),
    ("sticky", "keep their previous requires_grad"),
    ("module", "nothing is trainable"),
    ("everything", "every parameter is still trainable"),
    ("nothing", "requires_grad is wrong"),
    ("no return", "return the model itself"),
])
def test_freeze_mistakes_are_named(kind, message):
    with pytest.raises(CheckFailure, match=message):
        checks.check_freeze(_freeze_variant(kind))


def test_freeze_changing_values_fails(ref):
    def resets(model, trainable=()):
        ref["freeze"](model, trainable)
        with torch.no_grad():
            next(model.parameters()).zero_()
        return model

    with pytest.raises(CheckFailure, match="changed the values"):
        checks.check_freeze(resets)


def test_adam_over_every_parameter_moves_only_what_freeze_left_trainable(ref):
    # The notebook's transfer demo hands Adam every parameter and says freeze alone decides what moves.
    torch.manual_seed(0)
    model = ref["freeze"](ref["replace_head"](MnistCNN(), 10), ["classifier.3"])
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    optimizer = torch.optim.Adam([{"params": list(model.classifier[3].parameters()), "lr": 1e-2},
                                  {"params": list(model.features.parameters()) + list(model.classifier[1].parameters()),
                                   "lr": 1e-3}])
    for _ in range(3):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(torch.rand(8, 1, 28, 28)), torch.arange(8)).backward()
        optimizer.step()
    moved = {name for name, p in model.named_parameters() if not torch.equal(p, before[name])}
    assert moved == {"classifier.3.weight", "classifier.3.bias"}


def test_freeze_bad_input_messages():
    with pytest.raises(CheckFailure, match=r"freeze\(MnistCNN\(\), \['clasifier'\]\) returned without error"):
        checks.check_freeze_rejects_bad_input(lambda model, trainable=(): model)
    with pytest.raises(CheckFailure, match="raised KeyError .* expected ValueError"):
        checks.check_freeze_rejects_bad_input(lambda model, trainable=(): {}["x"])


def _head_variant(kind):
    def wrong(model, num_classes):
        linears = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]
        name, old = linears[0] if kind == "first" else linears[-1]
        in_features = old.out_features if kind == "out" else old.in_features
        new = nn.Linear(in_features, num_classes, bias=old.bias is not None, dtype=old.weight.dtype)
        if name == "":
            return new
        parent, _, child = name.rpartition(".")
        if kind == "root":
            setattr(model, child, new)
        elif kind != "keep":
            setattr(model.get_submodule(parent), child, new)
        return model
    return wrong


@pytest.mark.parametrize(("kind", "message"), [
    ("first", "replaced model.classifier.1 as well|still the old layer"),
    ("out", "not out_features"),
    ("root", "still the old layer"),
    ("keep", "still the old layer"),
])
def test_replace_head_mistakes_are_named(kind, message):
    with pytest.raises(CheckFailure, match=message):
        checks.check_replace_head(_head_variant(kind))


def test_replace_head_must_handle_a_bare_linear(ref):
    def refuses(model, num_classes):
        if isinstance(model, nn.Linear):
            raise ValueError("no parent")
        return ref["replace_head"](model, num_classes)

    with pytest.raises(CheckFailure, match=r"nn.Linear\(4, 2\), 5\) raised ValueError"):
        checks.check_replace_head(refuses)


def test_replace_head_keeps_a_frozen_model_trainable_head(ref):
    model = MnistCNN()
    ref["freeze"](model, [])
    ref["replace_head"](model, 4)
    assert [n for n, p in model.named_parameters() if p.requires_grad] == ["classifier.3.weight", "classifier.3.bias"]


def test_expect_error_reports_the_wrong_exception():
    def wrong(model, num_classes):
        raise RuntimeError("boom")

    with pytest.raises(CheckFailure, match=r"raised RuntimeError \(boom\); expected ValueError"):
        checks.check_replace_head_rejects_bad_input(wrong)


# ----------------------------------------------------------------------------- widget

@pytest.fixture
def explorer():
    return widget.gabor_explorer(image_size=48)


@pytest.mark.parametrize("args", [(15, 6.0, 30.0, 3.0, 0.5, 45.0), (7, 3.0, 90.0, 1.5, 1.0, 0.0),
                                  (31, 12.0, 172.5, 6.0, 0.2, -90.0)])
def test_widget_kernel_is_the_notebook_kernel_in_degrees(args):
    size, wavelength, theta, sigma, gamma, phase = args
    expected = checks.gabor_formula_torch(size, wavelength, math.radians(theta), sigma, gamma,
                                          math.radians(phase))
    np.testing.assert_allclose(widget.gabor(*args), expected, rtol=1e-9, atol=1e-12)


def test_widget_s1_response_is_the_normalised_correlation():
    rng = np.random.default_rng(0)
    image, kernel = rng.random((30, 40)), widget.gabor(9, 4.0, 30.0, 2.0, 0.5, 0.0)
    np.testing.assert_allclose(widget.s1_response(image, kernel), _s1_scipy(image, [kernel[None]])[0][0],
                               rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize(("args", "message"), [
    ((4, 6.0, 0.0, 3.0, 0.5, 0.0), "odd"),
    ((33, 6.0, 0.0, 3.0, 0.5, 0.0), "between 3 and 31"),
    ((7, 0.0, 0.0, 3.0, 0.5, 0.0), "wavelength must be a positive"),
    ((7, 6.0, 0.0, -1.0, 0.5, 0.0), "sigma must be a positive"),
    ((7, 6.0, 0.0, 3.0, "wide", 0.0), "gamma must be a number"),
])
def test_widget_rejects_bad_parameters(args, message):
    with pytest.raises(ValueError, match=message):
        widget.gabor(*args)


def test_render_returns_arrays_pngs_and_text():
    result = widget.render("brick", 11, 5.0, 45.0, 2.5, 0.5, 90.0, image_size=64)
    assert set(result) == {"image", "kernel", "response", "png", "text"}
    assert result["image"].shape == result["response"].shape == (64, 64)
    assert result["kernel"].shape == (11, 11)
    assert 0.0 <= result["response"].min() and result["response"].max() <= 1.0 + 1e-9
    assert all(png.startswith(b"\x89PNG") for png in result["png"].values())
    assert "11×11" in result["text"] and "45°" in result["text"] and "0.785 rad" in result["text"]


def test_vertical_kernel_prefers_vertical_stripes():
    stripes = np.tile((np.arange(64) // 3) % 2, (64, 1)).astype(float)  # vertical stripes, period 6
    vertical = widget.s1_response(stripes, widget.gabor(11, 6.0, 0.0, 2.5, 0.5, 0.0))
    horizontal = widget.s1_response(stripes, widget.gabor(11, 6.0, 90.0, 2.5, 0.5, 0.0))
    assert vertical[20:44, 20:44].mean() > 3 * horizontal[20:44, 20:44].mean()


def _luminance(png):
    """Mean of R, G and B of a PNG's pixels, float (H, W) in 0..255."""
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=float).mean(axis=2)


@pytest.mark.parametrize("name", IMAGE_NAMES)
def test_every_panel_shows_its_content_at_the_defaults(name):
    explorer = widget.gabor_explorer()
    explorer.controls["image"].value = name
    image, kernel, response = (_luminance(bytes(explorer.panels[panel].value))
                               for panel in ("image", "kernel", "response"))
    assert image.std() > 10 and kernel.std() > 10
    # the response spans its colour map: not almost black (the panel drawn on [0, 1] was)
    assert response.mean() > 20 and np.percentile(response, 99.5) > 200
    assert "99th percentile" in explorer.summary.value


def test_response_colours_run_from_zero_to_the_99th_percentile():
    result = widget.render("brick", 15, 6.0, 0.0, 3.0, 0.5, 0.0, image_size=64)
    top = np.percentile(result["response"], 99)
    assert widget.display_top(result["response"]) == pytest.approx(top)
    assert f"to {top:.3f} (white" in result["text"]
    assert widget.display_top(np.zeros((5, 5))) == 1.0  # a blank response stays black


def test_render_is_fast():
    widget.render("camera", 31, 6.0, 30.0, 3.0, 0.5, 0.0)
    started = time.process_time()
    for _ in range(5):
        widget.render("camera", 31, 6.0, 30.0, 3.0, 0.5, 0.0)
    assert (time.process_time() - started) / 5 < 0.1


def test_explorer_has_described_controls_and_panels(explorer):
    assert isinstance(explorer, widgets.VBox)
    assert set(explorer.controls) == {"image", "size", "wavelength", "theta", "sigma", "gamma", "phase"}
    assert all(control.description for control in explorer.controls.values())
    assert set(explorer.panels) == {"image", "kernel", "response"}
    assert all(bytes(panel.value).startswith(b"\x89PNG") for panel in explorer.panels.values())
    assert "kernel 15×15" in explorer.summary.value


@pytest.mark.parametrize(("control", "value"), [("theta", 90.0), ("wavelength", 12.0), ("sigma", 6.0),
                                                ("gamma", 1.2), ("phase", 90.0), ("size", 9)])
def test_moving_a_slider_redraws_kernel_and_response(explorer, control, value):
    kernel, response = bytes(explorer.panels["kernel"].value), bytes(explorer.panels["response"].value)
    explorer.controls[control].value = value
    assert bytes(explorer.panels["kernel"].value) != kernel
    assert bytes(explorer.panels["response"].value) != response


def test_changing_the_image_changes_image_and_response_only(explorer):
    kernel, image = bytes(explorer.panels["kernel"].value), bytes(explorer.panels["image"].value)
    explorer.controls["image"].value = "camera"
    assert bytes(explorer.panels["image"].value) != image
    assert bytes(explorer.panels["kernel"].value) == kernel
