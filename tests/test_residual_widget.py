"""Tests for the gradient-flow explorer of notebook 08 (autograder.widgets.residual).

The widget's networks are rebuilt as torch.nn modules with the same weights (batch norm as
nn.BatchNorm1d calibrated on the grid), and its gradient norms and input gradients are compared
with PyTorch autograd through them.
"""
import io

import ipywidgets as widgets
import numpy as np
import pytest
import torch
import torch.nn as nn
from PIL import Image

from autograder.widgets import residual as widget

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SETTINGS = [(a, n) for a in widget.ARCHITECTURES for n in widget.NORMALISATIONS]


class PreActivation(nn.Module):
    """x + Linear(relu(BN(x)))."""

    def __init__(self, linear, norm):
        super().__init__()
        self.linear, self.norm = linear, norm

    def forward(self, x):
        return x + self.linear(torch.relu(self.norm(x)))


class AddRelu(nn.Module):
    """x + relu(Linear(x))."""

    def __init__(self, linear):
        super().__init__()
        self.linear = linear

    def forward(self, x):
        return x + torch.relu(self.linear(x))


def _linear(weight, bias):
    layer = nn.Linear(weight.shape[1], weight.shape[0]).double()
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(weight))
        layer.bias.copy_(torch.from_numpy(bias))
    return layer


def torch_network(depth, architecture, normalisation):
    """The widget's network as torch modules, batch norm with the grid's (biased) statistics."""
    first, blocks, head = widget._parameters(normalisation)
    layers = [_linear(*first)]
    for weight, bias in blocks[:depth]:
        linear = _linear(weight, bias)
        if normalisation == "none":
            layers.append(AddRelu(linear) if architecture == "residual"
                          else nn.Sequential(linear, nn.ReLU()))
        else:
            norm = nn.BatchNorm1d(widget.WIDTH, eps=widget.EPS, momentum=None).double()
            layers.append(PreActivation(linear, norm) if architecture == "residual"
                          else nn.Sequential(linear, norm, nn.ReLU()))
    model = nn.Sequential(*layers, _linear(*head))
    grid = torch.from_numpy(widget.GRID)
    with torch.no_grad():
        model.train()(grid)
    n = len(widget.GRID)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm1d):
            module.running_var.mul_((n - 1) / n)  # training mode normalises with the biased variance
    return model.eval()


def autograd_measurements(depth, architecture, normalisation):
    """(norm of dL/d(output of block k), k = 1..depth; df/dx on the grid) by autograd."""
    model = torch_network(depth, architecture, normalisation)
    x = torch.tensor(widget.GRID, requires_grad=True)
    h, outputs = model[0](x), []
    for block in model[1:-1]:
        h = block(h)
        outputs.append(h)
    f = model[-1](h)
    loss = torch.mean((f - torch.from_numpy(widget.TARGET)) ** 2)
    grads = torch.autograd.grad(loss, outputs, retain_graph=True)
    (slope,) = torch.autograd.grad(f.sum(), x)
    return np.array([g.norm().item() for g in grads]), slope[:, 0].numpy()


def decode(png):
    return np.asarray(Image.open(io.BytesIO(png)))


@pytest.fixture
def explorer():
    return widget.gradient_flow_explorer(width=240, height=150)


@pytest.mark.parametrize("architecture, normalisation", SETTINGS)
@pytest.mark.parametrize("depth", [1, 7, 30])
def test_norms_and_input_gradient_match_autograd(depth, architecture, normalisation):
    norms, slope = autograd_measurements(depth, architecture, normalisation)
    np.testing.assert_allclose(widget.gradient_norms(depth, architecture, normalisation), norms,
                               rtol=1e-8)
    np.testing.assert_allclose(widget.input_gradient(depth, architecture, normalisation), slope,
                               rtol=1e-8, atol=1e-10 * np.abs(slope).max())


def test_lag1_correlation_is_pearson_of_neighbours():
    g = np.random.default_rng(0).normal(size=50).cumsum()
    assert widget.lag1_correlation(g) == pytest.approx(np.corrcoef(g[:-1], g[1:])[0, 1])
    assert np.isnan(widget.lag1_correlation(np.ones(10)))


def test_the_widget_shows_the_notebooks_findings():
    vanishing = widget.gradient_norms(50, "plain", "none")
    assert vanishing[0] / vanishing[-1] < 1e-10
    for normalisation in widget.NORMALISATIONS:  # unscaled residual blocks: it grows towards the input
        for depth in range(2, widget.MAX_DEPTH + 1):
            growing = widget.gradient_norms(depth, "residual", normalisation)
            assert growing[0] / growing[-1] > 1, (normalisation, depth)
    shattered = widget.render(50, "plain", "batch norm")["correlation"]
    kept = widget.render(50, "residual", "batch norm")["correlation"]
    assert abs(shattered) < 0.2 < 0.4 < kept
    assert widget.render(2, "plain", "batch norm")["correlation"] > 0.9


def test_render_returns_the_documented_values():
    result = widget.render(12, "residual", "batch norm", width=300, height=200)
    assert set(result) == {"norms", "gradient", "correlation", "png", "text"}
    assert result["norms"].shape == (12,) and result["gradient"].shape == (256,)
    assert set(result["png"]) == set(widget.PANEL_NAMES)
    for png in result["png"].values():
        assert png.startswith(PNG_SIGNATURE)
        assert decode(png).shape == (200, 300, 3)
    assert "depth 12" in result["text"] and f"{result['correlation']:.2f}" in result["text"]
    result["norms"][0] = -1.0  # the caller owns its copy
    assert widget.render(12, "residual", "batch norm")["norms"][0] > 0


def test_bars_follow_the_norms():
    pixels = decode(widget.render(5, "plain", "none", width=250, height=160)["png"]["norms"])
    colour = np.array(widget.COLOURS["plain"])
    coloured = (pixels == colour).all(axis=2)
    columns = np.flatnonzero(coloured.any(axis=0))
    heights = [coloured[:, c].sum() for c in columns]
    assert len(columns) > 5
    # norms vanish towards the input: the first bar is the shortest, the last the tallest
    assert heights[0] == min(heights) and heights[-1] == max(heights)


@pytest.mark.parametrize("args, message", [
    ((0, "plain", "none"), "between 1 and 50"),
    ((51, "plain", "none"), "between 1 and 50"),
    ((2.0, "plain", "none"), "integer"),
    ((3, "dense", "none"), "unknown architecture"),
    ((3, "plain", "layer norm"), "unknown normalisation"),
])
def test_bad_settings_raise_value_error(args, message):
    with pytest.raises(ValueError, match=message):
        widget.render(*args)


def test_explorer_has_described_controls_and_panels(explorer):
    assert isinstance(explorer, widgets.VBox)
    assert set(explorer.controls) == {"depth", "architecture", "normalisation"}
    assert all(control.description for control in explorer.controls.values())
    depth = explorer.controls["depth"]
    assert (depth.min, depth.max) == (1, widget.MAX_DEPTH)
    assert tuple(explorer.controls["architecture"].options) == widget.ARCHITECTURES
    assert tuple(explorer.controls["normalisation"].options) == widget.NORMALISATIONS
    assert set(explorer.panels) == set(widget.PANEL_NAMES)
    assert all(isinstance(p, widgets.Image) and bytes(p.value).startswith(PNG_SIGNATURE)
               for p in explorer.panels.values())
    assert f"depth {depth.value}" in explorer.summary.value


def test_moving_the_depth_slider_redraws_both_panels(explorer):
    before = {name: bytes(panel.value) for name, panel in explorer.panels.items()}
    explorer.controls["depth"].value = 40
    assert all(bytes(panel.value) != before[name] for name, panel in explorer.panels.items())
    assert "depth 40" in explorer.summary.value


@pytest.mark.parametrize("control, value", [("architecture", "residual"),
                                            ("normalisation", "none")])
def test_toggles_redraw(explorer, control, value):
    before = bytes(explorer.panels["gradient"].value)
    explorer.controls[control].value = value
    assert bytes(explorer.panels["gradient"].value) != before
    assert value in explorer.summary.value
