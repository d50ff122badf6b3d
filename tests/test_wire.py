"""The wire format between grader and kernel: faithful for plain data, refusing everything else."""
import json

import numpy as np
import pytest
import scipy.sparse
import torch

from autograder import agent, wire
from autograder.wire import Decoder, Encoder, WireError


def round_trip(value, **encoder_options):
    encoder = Encoder(**encoder_options)
    node = json.loads(json.dumps(encoder.encode(value)))  # as Jupyter's JSON packer sends it
    return Decoder([bytes(b) for b in encoder.buffers]).decode(node)


@pytest.mark.parametrize("value", [
    None, True, 3, -2 ** 70, 1.5, float("inf"), "Grüße ✓", b"\x00\x01", 2 + 3j,
    (1, (2, [3, {"a": 4, 5: "b", (6, 7): None}])), {1, 2}, frozenset({"x"}), slice(1, None, 2),
    Ellipsis, np.float32(1.25), np.int64(-7), np.bool_(True), np.complex128(1 - 2j),
])
def test_plain_values_round_trip_with_their_types(value):
    back = round_trip(value)
    assert back == value and type(back) is type(value)


def test_nan_round_trips():
    assert np.isnan(round_trip(float("nan"))) and np.isnan(round_trip(np.float64("nan")))


@pytest.mark.parametrize("array", [
    np.arange(12.0).reshape(3, 4), np.arange(6, dtype=np.int32)[::2], np.zeros((0, 3)),
    np.array([[True, False]]), np.arange(4, dtype=">f8"), np.array(3.5), np.ones((2, 2), np.complex64),
    np.asfortranarray(np.arange(6.0).reshape(2, 3)),
])
def test_arrays_round_trip_exactly(array):
    back = round_trip(array)
    assert type(back) is np.ndarray and back.shape == array.shape
    assert back.dtype == array.dtype.newbyteorder("=") and np.array_equal(back, array)
    assert back.flags.writeable


def test_tensors_parameters_gradients_and_torch_types_round_trip():
    t = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    t.sum().backward()
    back = round_trip(t)
    assert type(back) is torch.Tensor and back.requires_grad and torch.equal(back.detach(), t.detach())
    assert torch.equal(back.grad, t.grad)
    p = torch.nn.Parameter(torch.ones(3), requires_grad=False)
    assert type(round_trip(p)) is torch.nn.Parameter and not round_trip(p).requires_grad
    assert round_trip(torch.Size([2, 3])) == torch.Size([2, 3]) and round_trip(torch.int16) is torch.int16
    assert round_trip(torch.arange(5)[1::2]).tolist() == [1, 3]


def test_standard_modules_round_trip_with_weights_buffers_and_mode():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, stride=2, padding=1, bias=False),
                                torch.nn.BatchNorm2d(4), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(4 * 4 * 4, 5))
    model(torch.randn(2, 3, 8, 8))  # running statistics move
    model.eval()
    model[4].weight.requires_grad_(False)
    back = round_trip(model)
    assert type(back) is torch.nn.Sequential and not back.training
    assert not back[4].weight.requires_grad and back[0].bias is None
    x = torch.randn(3, 3, 8, 8)
    assert torch.equal(back(x), model(x))
    assert set(back.state_dict()) == set(model.state_dict())


def test_sparse_matrices_round_trip_and_bad_indices_are_refused():
    matrix = scipy.sparse.random(5, 7, density=0.3, format="csr", random_state=0)
    back = round_trip(matrix)
    assert type(back) is type(matrix) and (back != matrix).nnz == 0
    assert type(round_trip(scipy.sparse.csr_array(matrix))) is scipy.sparse.csr_array
    assert (round_trip(matrix.tocoo()) != matrix).nnz == 0
    encoder = Encoder()
    node = encoder.encode(matrix)
    buffers = [bytes(b) for b in encoder.buffers]
    indices = node["parts"]["indices"]["b"]
    buffers[indices] = np.full(matrix.nnz, 99, matrix.indices.dtype).tobytes()
    with pytest.raises(WireError):
        Decoder(buffers).decode(node)


def test_objects_that_are_not_plain_data_need_a_handle():
    with pytest.raises(WireError):
        Encoder().encode(lambda x: x)

    class Layer:
        pass

    seen = []
    node = Encoder(handle=lambda obj: seen.append(obj) or {"t": "handle", "id": 7}).encode([Layer()])
    assert node["v"][0] == {"t": "handle", "id": 7} and isinstance(seen[0], Layer)
    with pytest.raises(WireError):
        Decoder([]).decode(node)  # a handle where no handles are expected


@pytest.mark.parametrize("node, buffers", [
    ({"t": "nd", "dtype": "|O", "shape": [1], "b": 0}, [b"\x00" * 8]),
    ({"t": "nd", "dtype": "<f8", "shape": [2], "b": 0}, [b"\x00" * 8]),
    ({"t": "nd", "dtype": "<f8", "shape": [-1], "b": 0}, [b""]),
    ({"t": "nd", "dtype": "<f8", "shape": [1], "b": 3}, [b"\x00" * 8]),
    ({"t": "module", "cls": "os.system", "training": True, "params": [], "buffers": [],
      "modules": [], "attrs": []}, []),
    ({"t": "module", "cls": "torch.nn.modules.linear.Linear", "training": True, "params": [],
      "buffers": [], "modules": [], "attrs": [["__class__", "x"]]}, []),
    ({"t": "obj", "cls": "builtins.object", "state": []}, []),
    ({"t": "sparse", "cls": "eval", "shape": [1, 1]}, []),
    ({"t": "pickle", "v": "..."}, []),
    ({"t": "ref", "id": 1}, []),
    ({"t": "tensor", "dtype": "object", "shape": [], "b": 0}, [b""]),
    ([1, 2], []),
])
def test_malformed_or_foreign_messages_are_refused(node, buffers):
    with pytest.raises(WireError):
        Decoder(buffers).decode(node)


def test_deep_nesting_is_refused():
    node = None
    for _ in range(wire.MAX_DEPTH + 5):
        node = {"t": "list", "v": [node]}
    with pytest.raises(WireError):
        Decoder([]).decode(node)


def test_registered_course_classes_cross_as_data():
    @wire.transferable
    class Quadratic:
        def __init__(self, a):
            self.a = a

        def __call__(self, x):
            return self.a * x ** 2

    back = round_trip(Quadratic(np.array([2.0])))
    assert type(back) is Quadratic and back(3.0)[0] == 18.0


def _serve(serving_agent, operation, args=(), kwargs=None, **fields):
    """One request through the agent, as the grader encodes it; ``(reply, result, decoder)``."""
    encoder = Encoder(lambda obj: {"t": "handle", "id": obj}, mark_refs=True)
    request = {"op": operation, "args": encoder.encode(list(args)),
               "kwargs": encoder.encode(dict(kwargs or {})), **fields}
    reply, buffers = serving_agent.serve(json.loads(json.dumps(request)), encoder.buffers)
    decoder = Decoder([bytes(b) for b in buffers], handle=lambda node: node["id"],
                      originals=encoder.rids)
    reply = json.loads(json.dumps(reply))
    decoder.decode(reply.get("args"))
    result = decoder.decode(reply["result"]) if "result" in reply else None
    return reply, result


def test_agent_writes_in_place_changes_back_and_keeps_identity():
    def step(params, grads, lr):
        for key in params:
            params[key] -= lr * grads[key]
        return params

    served = agent.Agent({"step": step})
    handle = served.handle(step)["id"]
    params, grads = {"w": np.ones(3)}, {"w": np.arange(3.0)}
    reply, result = _serve(served, "call", (params, grads, 0.5), target=handle)
    assert result is params and np.array_equal(params["w"], [1.0, 0.5, 0.0])
    assert reply["args"]["v"][1]["t"] == "dict"  # grads: same dict, its array unchanged ...
    assert reply["args"]["v"][1]["v"][0][1]["t"] == "ref"  # ... sent as a reference


def test_agent_reports_student_errors_forbidden_calls_and_lines():
    def correlate(x, k):
        return np.correlate(x, k, "valid")

    def broken(x):
        return x[10]

    served = agent.Agent({})
    reply, result = _serve(served, "call", (np.arange(5.0), np.ones(2)),
                           target=served.handle(correlate)["id"],
                           forbidden=["numpy:correlate"], count_lines=True)
    assert reply["forbidden_called"] and reply["lines"] >= 1 and np.array_equal(result, [1, 3, 5, 7])
    reply, _ = _serve(served, "call", (np.arange(3.0),), target=served.handle(broken)["id"])
    assert reply["error"]["builtin"] == "IndexError" and reply["error"]["function"] == "broken"
    assert "x[10]" in reply["error"]["frames"][-1]


def test_agent_keeps_student_objects_as_handles():
    class Layer:
        def __init__(self):
            self.w = np.zeros(2)

    served = agent.Agent({"Layer": Layer})
    _, handle = _serve(served, "call", (), target=served.handle(Layer)["id"])
    assert isinstance(handle, int) and isinstance(served.objects[handle], Layer)
    _, w = _serve(served, "getattr", target=handle, name="w")
    assert np.array_equal(w, [0.0, 0.0])
    reply, _ = _serve(served, "lookup", name="undefined_name")
    assert reply["error"]["builtin"] == "NameError"


def test_agent_sends_back_a_requires_grad_change_alone():
    def freeze(model):
        for parameter in model.parameters():
            parameter.requires_grad_(False)
        return model

    served = agent.Agent({})
    model = torch.nn.Linear(2, 2)
    _, result = _serve(served, "call", (model,), target=served.handle(freeze)["id"])
    assert result is model and [p.requires_grad for p in model.parameters()] == [False, False]
