"""Unit tests of notebook 09's checks and its Gabor explorer widget.

The student-side checks (``autograder.hmax_transfer``, public libraries and hand-worked values) and
the hidden ones (``autograder.grader.checks.hmax_transfer``, hand-written oracles and likely
mistakes). The references are the solution cells of the source notebook; the wrong
implementations wrap them to make the plausible mistakes the checks must name. The oracles are
cross-checked against SciPy, scikit-image and plain loops written here. The transfer checks also
run through the grading engine's real proxies, served in this process by the kernel's agent.
"""
import io
import json
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

from autograder import agent, wire
from autograder import hmax_transfer as checks
from autograder.checking import CheckFailure
from autograder.data import IMAGE_NAMES
from autograder.grader import notebooks
from autograder.grader.checks import hmax_transfer as hidden
from autograder.grader.remote import KernelLink
from autograder.models import MnistCNN
from autograder.widgets import hmax as widget

SOURCE = "solutions/09_hmax_transfer/09_hmax_transfer.ipynb"


@pytest.fixture(scope="module")
def ref(repo):
    """The solution cells of the notebook, executed: ``{name: function}``."""
    return notebooks.solution_namespace(notebooks.read(repo / SOURCE),
                                        {"np": np, "nn": nn, "torch": torch})


# ----------------------------------------------------------------------------- the engine, in process

class _Session:
    def msg(self, kind, content):
        return {"content": content}


class _Channel:
    def __init__(self, link):
        self.link = link

    def send(self, message):
        data = json.loads(json.dumps(message["content"]["data"]))  # as Jupyter's JSON packer sends it
        reply, buffers = self.link.agent.serve(data, [bytes(b) for b in message.get("buffers", [])])
        self.link.replies[data["rq"]] = (json.loads(json.dumps(reply)), [bytes(b) for b in buffers])


class _Client:
    def __init__(self, link):
        self.session, self.shell_channel = _Session(), _Channel(link)


class LoopLink(KernelLink):
    """The grader's link to a kernel, served here by the kernel's agent: real proxies and wire."""

    def __init__(self, namespace):
        self.agent = agent.Agent(namespace)
        self.replies = {}
        super().__init__(_Client(self), lambda: True, lambda: None)

    def _wait_reply(self, number):
        return self.replies.pop(number)

    def proxy(self, name):
        return self._proxy(self.agent.handle(self.agent.namespace[name]))


@pytest.fixture(scope="module")
def remote(ref):
    """``remote(name)``: a proxy to ``name`` of the solutions (or of extra functions given)."""
    def make(name, **extra):
        return LoopLink({**ref, **extra}).proxy(name)
    return make


# ----------------------------------------------------------------------------- what students get

def test_the_student_side_holds_no_hand_written_reference():
    names = [name for name in vars(checks) if name.startswith(
        ("oracle", "brute_force", "mistakes", "squared_distances", "gabor_formula", "expected_trainable"))]
    assert not names


def test_fixture_models_cross_to_the_kernel_as_data():
    model = checks.TwoHeads()
    encoder = wire.Encoder()
    node = json.loads(json.dumps(encoder.encode(model)))
    back = wire.Decoder([bytes(b) for b in encoder.buffers]).decode(node)
    assert type(back) is checks.TwoHeads
    assert all(torch.equal(a, b) for a, b in zip(back.parameters(), model.parameters()))


# ----------------------------------------------------------------------------- Gabor kernels

def test_gabor_oracle_is_the_hand_worked_kernel():
    raw = np.array([[0.0, math.exp(-0.5), 0.0], [0.0, 1.0, 0.0], [0.0, math.exp(-0.5), 0.0]])
    expected = (raw - raw.mean()) / np.linalg.norm(raw - raw.mean())
    np.testing.assert_allclose(hidden.oracle_gabor_kernel(3, 4.0, 0.0, 1.0, gamma=1.0), expected, atol=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_skimage_and_torch_gabor_agree_on_odd_sizes(seed):
    rng = np.random.default_rng(seed)
    size = int(rng.choice([3, 5, 9, 15, 21]))
    args = (size, float(rng.uniform(2, 12)), float(rng.uniform(-3, 6)), float(rng.uniform(0.8, 6)),
            float(rng.uniform(0.2, 1.5)), float(rng.uniform(-3, 3)))
    np.testing.assert_allclose(checks.skimage_gabor(*args), hidden.gabor_formula_torch(*args),
                               rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_skimage_likely_mistakes_are_the_formulas_variants(seed):
    rng = np.random.default_rng(seed)
    args = (int(rng.choice([5, 9, 13])), float(rng.uniform(2, 12)), float(rng.uniform(-3, 6)),
            float(rng.uniform(0.8, 6)), float(rng.uniform(0.2, 1.5)), float(rng.uniform(-3, 3)))
    from_skimage = dict(checks.gabor_likely_mistakes(*args))
    from_formula = dict(hidden.mistakes_gabor(*args))
    assert set(from_skimage) == set(from_formula) - {checks.CENTRE_AT_HALF_SIZE}
    for description, wrong in from_skimage.items():
        np.testing.assert_allclose(wrong, from_formula[description], rtol=1e-9, atol=1e-12,
                                   err_msg=description)
    assert checks.gabor_likely_mistakes(8, 5.0, 0.3, 2.0) == []


def test_gabor_oracle_stays_small_for_elongated_envelopes():
    kernel = hidden.oracle_gabor_kernel(21, 4.0, 0.3, 0.8, gamma=0.2)
    assert kernel.shape == (21, 21)
    assert abs(kernel.mean()) < 1e-12 and abs(np.sum(kernel ** 2) - 1) < 1e-9
    with pytest.raises(ValueError, match="odd sizes"):
        checks.skimage_gabor(8, 4.0, 0.3, 0.8, 0.5, 0.0)


def test_random_gabor_cases_are_varied():
    sizes = {case.args[0] for case in hidden.gabor_cases(901)}
    assert {s % 2 for s in sizes} == {0, 1} and max(sizes) > 15
    assert {case.args[0] % 2 for case in checks.odd_gabor_cases(3, 20)} == {1}


def _gabor_variant(g, kind):
    def wrong(n, w, t, s, gamma=0.5, phase=0.0):
        if kind == "degrees":
            return g(n, w, np.deg2rad(t), s, gamma, phase)
        if kind == "swapped":  # with x down the rows, the kernel is the right one at pi/2 - theta
            return g(n, w, np.pi / 2 - t, s, gamma, phase)
        if kind == "scaled":
            return 3.0 * g(n, w, t, s, gamma, phase)
        if kind == "phase":
            return g(n, w, t, s, gamma, -phase)
        return g(n, w, t, math.sqrt(s), gamma, phase)  # "variance"
    return wrong


@pytest.mark.parametrize(("kind", "cause"), [
    ("degrees", "degrees"), ("swapped", "x and y are swapped"), ("scaled", None),
    ("phase", "phase is subtracted"), ("variance", "variance"),
])
@pytest.mark.parametrize("check", [hidden.check_gabor_kernel, checks.check_gabor_kernel_matches_skimage])
def test_gabor_mistakes_fail_and_are_named(ref, kind, cause, check):
    with pytest.raises(CheckFailure) as info:
        check(_gabor_variant(ref["gabor_kernel"], kind))
    if cause:
        assert "Likely cause" in str(info.value) and cause in str(info.value)


def test_gabor_without_normalisation_is_named():
    def raw(size, wavelength, theta, sigma, gamma=0.5, phase=0.0):
        return hidden.gabor_formula_torch(size, wavelength, theta, sigma, gamma, phase, unit_norm=False)

    for check in (hidden.check_gabor_kernel, checks.check_gabor_kernel_matches_skimage):
        with pytest.raises(CheckFailure, match="not divided by its norm"):
            check(raw)


def test_gabor_centre_mistake_is_named_on_even_sizes():
    def off_centre(size, wavelength, theta, sigma, gamma=0.5, phase=0.0):
        return hidden.gabor_formula_torch(size, wavelength, theta, sigma, gamma, phase, centre=size // 2)

    with pytest.raises(CheckFailure,
                       match=r"(?s)gabor_kernel\(8, .*Likely cause: the centre is at size // 2"):
        hidden.check_gabor_kernel(off_centre)


def test_gabor_from_skimage_is_forbidden():
    def shortcut(size, wavelength, theta, sigma, gamma=0.5, phase=0.0):
        return hidden.oracle_gabor_kernel(size, wavelength, theta, sigma, gamma, phase)

    for check in (hidden.check_gabor_kernel, checks.check_gabor_kernel_matches_skimage):
        with pytest.raises(CheckFailure, match="from scratch"):
            check(shortcut)


def test_gabor_accepting_zero_names_the_comparison(ref):
    def lenient(size, wavelength, theta, sigma, gamma=0.5, phase=0.0):
        if wavelength == 0 or sigma == 0 or gamma == 0:
            return np.zeros((size, size))
        return ref["gabor_kernel"](size, wavelength, theta, sigma, gamma, phase)

    with pytest.raises(CheckFailure, match=r"returned without error; expected ValueError because the "
                                           r"wavelength must be positive.\nLikely cause: zero passes"):
        checks.check_gabor_kernel_rejects_bad_input(lenient)


def test_stub_reads_not_implemented():
    def stub(*args):
        raise NotImplementedError()

    for check in (hidden.check_gabor_kernel, checks.check_gabor_kernel_matches_skimage,
                  hidden.check_s1_layer, checks.check_s1_layer_against_torch, hidden.check_c1_layer,
                  checks.check_c1_layer_against_torch, hidden.check_s2_layer,
                  checks.check_s2_layer_against_torch, hidden.check_c2_layer, hidden.check_freeze,
                  checks.check_replace_head, checks.check_freeze_rejects_bad_input,
                  checks.check_replace_head_rejects_bad_input, checks.check_gabor_kernel_rejects_bad_input):
        with pytest.raises(CheckFailure, match="not implemented yet"):
            check(stub)


# ----------------------------------------------------------------------------- HMAX layers

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
        for got, want in zip(hidden.oracle_s1_layer(*case.args), _s1_scipy(*case.args)):
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    image = np.zeros((6, 6))
    image[0, 0] = 1.0
    out = hidden.oracle_s1_layer(image, [np.ones((1, 3, 3))])[0]
    assert out[0, 0, 0] == 1.0 and out[0, 4, 4] == 0.0


def test_c1_s2_c2_oracles_match_plain_loops():
    for case in checks.c1_cases(6, 5):
        s1, pool, stride = case.args
        for b, band in enumerate(hidden.oracle_c1_layer(s1, pool, stride)):
            both = np.maximum(s1[b], s1[b + 1])
            for o, i, j in np.ndindex(band.shape):
                window = both[o, i * stride:i * stride + pool, j * stride:j * stride + pool]
                assert band[o, i, j] == window.max()
    for case in checks.s2_cases(7, 5):
        c1, protos, sigma = case.args
        p = protos.shape[-1]
        for band, out in zip(c1, hidden.oracle_s2_layer(c1, protos, sigma)):
            for k, i, j in np.ndindex(out.shape):
                d2 = np.sum((band[:, i:i + p, j:j + p] - protos[k]) ** 2)
                assert out[k, i, j] == pytest.approx(math.exp(-d2 / (2 * sigma ** 2)), rel=1e-9)
            np.testing.assert_allclose(checks.patch_distances(band, protos) ** 2,
                                       hidden.squared_distances(band, protos), rtol=1e-9, atol=1e-12)
    s2 = [np.array([[[0.1, 0.5]], [[0.9, 0.0]]]), np.array([[[0.7]], [[0.2]]])]
    np.testing.assert_array_equal(hidden.oracle_c2_layer(s2), [0.7, 0.9])


def test_brute_force_oracles_agree_with_torch():
    hidden.check_s1_layer(hidden.brute_force_s1, n_cases=6)
    hidden.check_c1_layer(hidden.brute_force_c1, n_cases=6)
    hidden.check_s2_layer(hidden.brute_force_s2, n_cases=6)
    hidden.check_c2_layer(hidden.brute_force_c2)


def test_s2_test_responses_do_not_saturate():
    values = np.concatenate([b.ravel() for c in checks.s2_cases(931)
                             for b in hidden.oracle_s2_layer(*c.args)])
    assert 0.05 < np.median(values) < 0.95


def test_reference_solutions_pass_every_check(ref):
    for seed in (1, None):
        checks.check_gabor_kernel_matches_skimage(ref["gabor_kernel"], seed=seed)
        checks.check_s1_layer_against_torch(ref["s1_layer"], seed=seed, n_cases=10)
        checks.check_c1_layer_against_torch(ref["c1_layer"], seed=seed, n_cases=10)
        checks.check_s2_layer_against_torch(ref["s2_layer"], seed=seed, n_cases=10)
        hidden.check_gabor_kernel(ref["gabor_kernel"], seed=seed)
        hidden.check_s1_layer(ref["s1_layer"], seed=seed)
        hidden.check_c1_layer(ref["c1_layer"], seed=seed)
        hidden.check_s2_layer(ref["s2_layer"], seed=seed)
        hidden.check_c2_layer(ref["c2_layer"], seed=seed)
        hidden.check_freeze(ref["freeze"], seed=seed)
        checks.check_replace_head(ref["replace_head"], seed=seed)
    checks.check_gabor_kernel_rejects_bad_input(ref["gabor_kernel"])
    checks.check_hmax_rejects_bad_input(ref["s1_layer"], ref["c1_layer"], ref["s2_layer"], ref["c2_layer"])
    checks.check_freeze_rejects_bad_input(ref["freeze"])
    checks.check_replace_head_rejects_bad_input(ref["replace_head"])


S1_VARIANTS = [
    ({"absolute": False}, "absolute value is missing"),
    ({"normalise": None}, "not normalised"),
    ({"normalise": "energy"}, "sum of squares"),
    ({"normalise": "global"}, "norm of the whole image"),
    ({"flip": True}, "flipped"),
    ({"padding": "replicate"}, "copies of its edge"),
]


@pytest.mark.parametrize(("variant", "cause"), S1_VARIANTS)
@pytest.mark.parametrize("check", [hidden.check_s1_layer, checks.check_s1_layer_against_torch])
def test_s1_mistakes_are_named(variant, cause, check):
    with pytest.raises(CheckFailure, match=f"Likely cause: .*{cause}"):
        check(lambda image, filters: hidden.oracle_s1_layer(image, filters, **variant))


def test_s1_valid_output_and_wrong_types_are_explained(ref):
    def valid(image, filters):
        out = []
        for m, f in zip(ref["s1_layer"](image, filters), filters):
            r = f.shape[1] // 2
            out.append(m[:, r:m.shape[1] - r, r:m.shape[2] - r])
        return out

    with pytest.raises(CheckFailure, match="Likely cause: the image is not padded"):
        checks.check_s1_layer_against_torch(valid, seed=1)
    for check in (hidden.check_s1_layer, checks.check_s1_layer_against_torch):
        with pytest.raises(CheckFailure, match="return a list of arrays, one per scale"):
            check(lambda image, filters: np.stack(hidden.oracle_s1_layer(image, filters)))
        with pytest.raises(CheckFailure, match=r"returned 1 arrays, expected \d \(one per scale\)"):
            check(lambda image, filters: hidden.oracle_s1_layer(image, filters)[:1], seed=913)


def test_s1_relation_requires_zero_on_empty_windows(ref):
    def nan_on_empty(image, filters):
        return [np.where(m == 0, np.nan, m) for m in ref["s1_layer"](image, filters)]

    with pytest.raises(CheckFailure, match="where the window is all zeros: it must be 0"):
        checks.check_s1_layer_against_torch(nan_on_empty, seed=3, n_cases=6)


def _c1_variant(c1, kind):
    def wrong(s1, pool, stride):
        if kind == "no scale max":
            return [c1([m, m], pool, stride)[0] for m in s1[:-1]]
        if kind == "stride ignored":
            return c1(s1, pool, pool)
        if kind == "last scale":
            return [c1([m, s1[-1]], pool, stride)[0] for m in s1[:-1]]
        if kind == "all scales":
            return [c1([np.max(s1, axis=0)] * 2, pool, stride)[0]] * (len(s1) - 1)
        return c1(s1 + s1[-1:], pool, stride)  # "extra band"
    return wrong


@pytest.mark.parametrize(("kind", "cause"), [
    ("no scale max", "max over adjacent scales is missing"), ("stride ignored", "stride is ignored"),
    ("last scale", "paired with the last scale"), ("all scales", "over all scales"),
    ("extra band", r"returned \d arrays, expected \d \(one per band\)"),
])
@pytest.mark.parametrize("check", [hidden.check_c1_layer, checks.check_c1_layer_against_torch])
def test_c1_mistakes_are_named(ref, kind, cause, check):
    with pytest.raises(CheckFailure, match=cause):
        check(_c1_variant(ref["c1_layer"], kind), seed=5, n_cases=10)


def test_c1_averaging_is_named():
    def averaged(s1, pool, stride):
        return [hidden._pool(np.maximum(a, b), pool, stride, "avg") for a, b in zip(s1[:-1], s1[1:])]

    for check in (hidden.check_c1_layer, checks.check_c1_layer_against_torch):
        with pytest.raises(CheckFailure, match="windows are averaged"):
            check(averaged, seed=5, n_cases=10)


@pytest.mark.parametrize(("transform", "cause"), [
    (lambda d2, s, n: np.exp(-d2 / (2 * s)), "sigma is not squared"),
    (lambda d2, s, n: np.exp(-d2 / s ** 2), "factor 2 is missing"),
    (lambda d2, s, n: np.exp(-np.sqrt(d2) / (2 * s ** 2)), "distance is not squared"),
    (lambda d2, s, n: np.exp(-d2 / n / (2 * s ** 2)), "differences are averaged"),
])
@pytest.mark.parametrize("check", [hidden.check_s2_layer, checks.check_s2_layer_against_torch])
def test_s2_mistakes_are_named(transform, cause, check):
    def wrong(c1, prototypes, sigma):
        return [transform(hidden.squared_distances(band, prototypes), sigma, prototypes[0].size)
                for band in c1]

    with pytest.raises(CheckFailure, match=cause):
        check(wrong)


@pytest.mark.parametrize("check", [hidden.check_s2_layer, checks.check_s2_layer_against_torch])
def test_s2_layout_mistakes_are_named(ref, check):
    def transposed(c1, prototypes, sigma):
        return ref["s2_layer"](c1, prototypes.swapaxes(2, 3), sigma)

    def swapped(c1, prototypes, sigma):
        return [checks.rows_columns_swapped(m) for m in ref["s2_layer"](c1, prototypes, sigma)]

    with pytest.raises(CheckFailure, match="compared with its prototype transposed"):
        check(transposed, seed=2, n_cases=10)
    with pytest.raises(CheckFailure, match="rows and columns are swapped"):
        check(swapped, seed=2, n_cases=10)


def test_s2_values_outside_the_unit_interval_are_explained(ref):
    with pytest.raises(CheckFailure, match=r"lies in \(0, 1\]"):
        checks.check_s2_layer_against_torch(lambda c1, p, s: [-m for m in ref["s2_layer"](c1, p, s)])


def test_c2_mistakes_are_named():
    for wrong, cause in [
        (lambda s2: s2[0].max(axis=(1, 2)), "only the first band"),
        (lambda s2: np.max([b.mean(axis=(1, 2)) for b in s2], axis=0), "positions are averaged"),
        (lambda s2: np.mean([b.max(axis=(1, 2)) for b in s2], axis=0), "bands are averaged"),
        (lambda s2: np.full(len(s2[0]), max(b.max() for b in s2)), "over the prototypes too"),
        (lambda s2: np.array([b.max() for b in s2]), r"c2_layer\(.*(differ|shape)"),
    ]:
        with pytest.raises(CheckFailure, match=cause):
            hidden.check_c2_layer(wrong, seed=4)


def test_hmax_bad_input_check_catches_silent_acceptance(ref):
    def lenient_c1(s1, pool_size, stride):
        return ref["c1_layer"](s1 + s1 if len(s1) == 1 else s1, pool_size, stride)

    with pytest.raises(CheckFailure, match="at least 2.\nLikely cause: a single scale passes"):
        checks.check_hmax_rejects_bad_input(ref["s1_layer"], lenient_c1, ref["s2_layer"], ref["c2_layer"])


# ----------------------------------------------------------------------------- freeze

def _freeze_variant(kind):
    def wrong(model, trainable=()):
        prefixes = (trainable,) if isinstance(trainable, str) and kind != "letters" else tuple(trainable)
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
            elif kind in ("letters", "no return"):
                parameter.requires_grad_(selected)
        return None if kind == "no return" else model
    return wrong


@pytest.mark.parametrize(("kind", "message"), [
    ("inverted", "logic is inverted"),
    ("sticky", "keep their previous requires_grad"),
    ("module", "nothing is trainable"),
    ("everything", "every parameter is still trainable"),
    ("letters", "one-letter prefixes"),
    ("nothing", "requires_grad is wrong"),
    ("no return", "return the model itself .*\nLikely cause: the function ends without `return model`"),
])
@pytest.mark.parametrize("seed", [961, 962, 963])
def test_freeze_mistakes_are_named(kind, message, seed):
    with pytest.raises(CheckFailure, match=message):
        hidden.check_freeze(_freeze_variant(kind), seed=seed)


def test_the_visible_freeze_cases_name_the_mistakes(ref):
    model = MnistCNN()
    head = ["classifier.3.weight", "classifier.3.bias"]
    checks.check_freeze_call(ref["freeze"], model, ["classifier.3"], head)
    with pytest.raises(CheckFailure, match="keep their previous requires_grad"):
        checks.check_freeze_call(_freeze_variant("sticky"), model, ["features.0", "classifier"],
                                 ["features.0.weight", "features.0.bias", "classifier.1.weight",
                                  "classifier.1.bias", "classifier.3.weight", "classifier.3.bias"])

    def splits_and_checks(model, trainable=()):
        return ref["freeze"](model, list(trainable))  # "classifier.3" -> 'c', 'l', ...: 'l' matches nothing

    for wrong in (_freeze_variant("letters"), splits_and_checks):
        with pytest.raises(CheckFailure, match="one-letter prefixes"):
            checks.check_freeze_call(wrong, MnistCNN(), "classifier.3", head)


def test_freeze_changing_values_fails(ref):
    def resets(model, trainable=()):
        ref["freeze"](model, trainable)
        with torch.no_grad():
            next(model.parameters()).zero_()
        return model

    with pytest.raises(CheckFailure, match="changed the values"):
        hidden.check_freeze(resets)


def test_adam_over_every_parameter_moves_only_what_freeze_left_trainable(ref):
    # The notebook's transfer demo hands Adam every parameter and says freeze alone decides what moves.
    torch.manual_seed(0)
    model = ref["freeze"](ref["replace_head"](MnistCNN(), 10), ["classifier.3"])
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    body = list(model.features.parameters()) + list(model.classifier[1].parameters())
    optimizer = torch.optim.Adam([{"params": list(model.classifier[3].parameters()), "lr": 1e-2},
                                  {"params": body, "lr": 1e-3}])
    for _ in range(3):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(torch.rand(8, 1, 28, 28)), torch.arange(8)).backward()
        optimizer.step()
    moved = {name for name, p in model.named_parameters() if not torch.equal(p, before[name])}
    assert moved == {"classifier.3.weight", "classifier.3.bias"}


def test_freeze_bad_input_messages(ref):
    with pytest.raises(CheckFailure, match=r"freeze\(MnistCNN\(\), \['clasifier'\]\) returned without "
                                           r"error.*\nLikely cause: prefixes that match no parameter"):
        checks.check_freeze_rejects_bad_input(lambda model, trainable=(): model)

    def key_error(model, trainable=()):
        if trainable == ["classifier"]:
            return ref["freeze"](model, trainable)
        return {}["x"]

    with pytest.raises(CheckFailure, match="raised KeyError .* expected ValueError"):
        checks.check_freeze_rejects_bad_input(key_error)


def test_raising_for_everything_earns_no_bad_input_points(ref):
    def always(*args, **kwargs):
        raise ValueError("refused")

    for check in (checks.check_gabor_kernel_rejects_bad_input, checks.check_freeze_rejects_bad_input,
                  checks.check_replace_head_rejects_bad_input):
        with pytest.raises(CheckFailure, match="refused"):
            check(always)
    layers = {name: ref[name] for name in ("s1_layer", "c1_layer", "s2_layer", "c2_layer")}
    for name in layers:
        with pytest.raises(CheckFailure, match=r"raised ValueError \(refused\); a valid input must be accepted"):
            checks.check_hmax_rejects_bad_input(**{**layers, name: always})


def test_bad_input_checks_send_plain_data_of_the_wrong_type(ref):
    for name, check in (("freeze", checks.check_freeze_rejects_bad_input),
                        ("replace_head", checks.check_replace_head_rejects_bad_input)):
        seen = []

        def recording(model, *args):
            seen.append(type(model))
            return ref[name](model, *args)

        check(recording)
        not_models = [kind for kind in seen if not issubclass(kind, nn.Module)]
        assert not_models and set(not_models) <= {str, dict, np.ndarray}


# ----------------------------------------------------------------------------- replace_head

def _head_variant(kind):
    def wrong(model, num_classes):
        linears = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]
        name, old = linears[0] if kind == "first" else linears[-1]
        in_features = old.out_features if kind == "out" else old.in_features
        bias = True if kind == "bias" else old.bias is not None
        dtype = None if kind == "dtype" else old.weight.dtype
        new = nn.Linear(in_features, num_classes, bias=bias, dtype=dtype)
        if name == "":
            return new
        parent, _, child = name.rpartition(".")
        if kind == "root":
            setattr(model, child, new)
        elif kind != "keep":
            setattr(model.get_submodule(parent), child, new)
        return None if kind == "no return" else model
    return wrong


@pytest.mark.parametrize(("kind", "message"), [
    ("first", "another nn.Linear was replaced"),
    ("out", "not its out_features"),
    ("root", "attached to the model itself"),
    ("keep", "still the old layer"),
    ("bias", "has a bias although the old one had none"),
    ("dtype", "default dtype"),
    ("no return", "without `return model`"),
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
    assert checks.trainable_names(model) == ["classifier.3.weight", "classifier.3.bias"]


class _OwnLinear(nn.Linear):
    """A student's own subclass of nn.Linear."""


def _own_class_head(model, num_classes):
    parent, _, child = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)][-1].rpartition(".")
    old = model.get_submodule(f"{parent}.{child}" if parent else child)
    setattr(model.get_submodule(parent), child, _OwnLinear(old.in_features, num_classes))
    return model


def test_a_head_of_the_students_own_class_fails_readably(ref):
    with pytest.raises(CheckFailure, match="expected torch.nn.Linear itself.\nLikely cause: the new head "
                                           "is a module of a class of your own"):
        checks.check_head_replaced(_own_class_head, MnistCNN(), 3, "classifier.3", "MnistCNN()")


def test_expect_error_reports_the_wrong_exception(ref):
    def wrong(model, num_classes):
        if num_classes == 3 and isinstance(model, MnistCNN):
            return ref["replace_head"](model, num_classes)
        raise RuntimeError("boom")

    with pytest.raises(CheckFailure, match=r"raised RuntimeError \(boom\); expected ValueError"):
        checks.check_replace_head_rejects_bad_input(wrong)


# ----------------------------------------------------------------------------- through the engine

def test_transfer_checks_pass_the_reference_through_the_engine(remote):
    hidden.check_freeze(remote("freeze"))
    checks.check_freeze_call(remote("freeze"), MnistCNN(), ["classifier.3"],
                             ["classifier.3.weight", "classifier.3.bias"])
    checks.check_freeze_rejects_bad_input(remote("freeze"))
    checks.check_replace_head(remote("replace_head"))
    checks.check_replace_head_rejects_bad_input(remote("replace_head"))
    checks.check_rejects(remote("c1_layer"), ([np.ones((2, 6, 6))], 2, 2), reason="one scale")


def test_the_engine_writes_freeze_and_replace_head_back_into_the_graders_model(remote):
    model = checks.mid_training(MnistCNN())
    first, old_head = model.classifier[1], model.classifier[3]
    assert remote("freeze")(model, ["classifier.3"]) is model
    assert checks.trainable_names(model) == ["classifier.3.weight", "classifier.3.bias"]
    assert remote("replace_head")(model, 3) is model
    assert model.classifier[1] is first and model.classifier[3] is not old_head
    assert model.classifier[3].out_features == 3


def test_a_head_of_the_students_own_class_fails_readably_through_the_engine(remote):
    with pytest.raises(CheckFailure, match="cannot read back .*\nLikely cause: the new head is a module "
                                           "of a class of your own"):
        checks.check_head_replaced(remote("own", own=_own_class_head), MnistCNN(), 3, "classifier.3",
                                   "MnistCNN()")


def test_mistakes_fail_through_the_engine(remote):
    with pytest.raises(CheckFailure, match="logic is inverted"):
        hidden.check_freeze(remote("wrong", wrong=_freeze_variant("inverted")))
    with pytest.raises(CheckFailure, match="attached to the model itself"):
        checks.check_replace_head(remote("wrong", wrong=_head_variant("root")))


# ----------------------------------------------------------------------------- widget

@pytest.fixture
def explorer():
    return widget.gabor_explorer(image_size=48)


@pytest.mark.parametrize("args", [(15, 6.0, 30.0, 3.0, 0.5, 45.0), (7, 3.0, 90.0, 1.5, 1.0, 0.0),
                                  (31, 12.0, 172.5, 6.0, 0.2, -90.0)])
def test_widget_kernel_is_the_notebook_kernel_in_degrees(args):
    size, wavelength, theta, sigma, gamma, phase = args
    expected = hidden.gabor_formula_torch(size, wavelength, math.radians(theta), sigma, gamma,
                                          math.radians(phase))
    np.testing.assert_allclose(widget.gabor(*args), expected, rtol=1e-9, atol=1e-12)


def test_widget_draws_its_kernels_with_scikit_image(monkeypatch):
    calls = []
    original = skimage.filters.gabor_kernel
    monkeypatch.setattr(widget, "gabor_kernel", lambda *a, **k: calls.append(a) or original(*a, **k))
    widget.gabor(9, 4.0, 30.0, 2.0, 0.5, 0.0)
    assert calls


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
