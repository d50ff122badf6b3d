"""Plain data between the grader and a student's kernel: encode it, and decode it without trust.

Under grading, the test cells run in the grader's process and call the student's functions in a
sandboxed kernel. Every value crosses as a JSON tree plus binary buffers (Jupyter's comm messages
carry both), never as ``pickle``:

- numbers, strings, ``None``, lists, tuples, dicts (ordered ones too), sets, slices, NumPy arrays
  and scalars, PyTorch tensors (parameters included), ``torch.Size`` and dtypes,
  ``scipy.sparse`` matrices;
- PyTorch modules whose class is a standard ``torch.nn`` layer or a course class registered with
  :func:`transferable`, as class name plus parameters, buffers, submodules and plain attributes;
- anything else stays where it was made: the other side gets a *handle* (a number).

Decoding builds only the types above: a class is looked up by name and accepted only if it is a
standard ``torch.nn`` module or registered here, arrays only with numeric dtypes, and the sizes,
depth and node count are bounded. A decoded value can therefore hold no code of the sender's.

Mutable arguments carry a reference id (``rid``): the kernel sends back their state after the call
(an unchanged array as a bare reference), and the grader writes that state into its own objects,
so a function that updates its arguments in place behaves as it would in one process.
"""
import importlib
import math
from collections import OrderedDict

import numpy as np

MAX_DEPTH = 64
MAX_NODES = 1_000_000
MAX_BYTES = 2 ** 31
NUMERIC_KINDS = "biufc"

_REGISTERED = {}  # "module.qualname" -> class, for transferable course classes
TORCH_DTYPES = ("bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64",
                "complex64", "complex128")


class WireError(Exception):
    """A value that cannot cross between the grader and the kernel, or a malformed message.

    Not a ``ValueError``: a check expecting the student's code to raise one must not mistake the
    grader's own failure to send an argument for it.
    """


def transferable(cls):
    """Register a course class whose instances cross as plain data (class decorator).

    A ``torch.nn.Module`` subclass crosses as a module (parameters, buffers, submodules, plain
    attributes); any other class crosses by its ``vars()``, which must be plain data.
    """
    _REGISTERED[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return cls


def _class_name(cls):
    return f"{cls.__module__}.{cls.__qualname__}"


def _is_standard_module_class(cls):
    import torch

    return (isinstance(cls, type) and issubclass(cls, torch.nn.Module)
            and cls.__module__.startswith("torch.nn.modules."))


def _lookup_class(name):
    """The class called ``name`` if it may be built from plain data, else ``WireError``."""
    module_name, _, qualname = name.rpartition(".") if isinstance(name, str) else ("", "", "")
    if name not in _REGISTERED and module_name.startswith("autograder.") \
            and not module_name.startswith("autograder.grader"):
        try:
            importlib.import_module(module_name)  # registers its transferable classes
        except ImportError:
            pass
    if name in _REGISTERED:
        return _REGISTERED[name]
    if not module_name.startswith("torch.nn.modules.") or "." in qualname:
        raise WireError(f"{name} is not a class the grader accepts as plain data")
    cls = getattr(importlib.import_module(module_name), qualname, None)
    if not _is_standard_module_class(cls):
        raise WireError(f"{name} is not a standard torch.nn module")
    return cls


def _dtype(text):
    try:
        dtype = np.dtype(text)
    except TypeError as error:
        raise WireError(f"unknown dtype {text!r}") from error
    if dtype.kind not in NUMERIC_KINDS or dtype.hasobject or dtype.fields is not None:
        raise WireError(f"dtype {text!r} is not numeric")
    return dtype


def _torch_dtype(name):
    import torch

    if name not in TORCH_DTYPES:
        raise WireError(f"unknown torch dtype {name!r}")
    return getattr(torch, name)


def _native(array):
    """``array`` as a C-contiguous array in native byte order (a copy only when needed)."""
    array = array if array.flags.c_contiguous else array.copy(order="C")
    return array.astype(array.dtype.newbyteorder("=")) if not array.dtype.isnative else array


class Encoder:
    """Turn a value into a JSON tree plus ``buffers``.

    ``handle(obj)`` is called for a value that is not plain data and returns its handle node (a
    dict), or raises ``WireError``. ``mark_refs`` gives every mutable object a reference id
    (``self.rids``: rid -> object). ``known`` (id -> rid) and ``unchanged(obj, rid)`` let the
    kernel answer with references to the objects it received.
    """

    def __init__(self, handle=None, *, mark_refs=False, known=None, unchanged=None):
        self.buffers = []
        self.rids = {}
        self._handle = handle
        self._mark = mark_refs
        self._known = known or {}
        self._unchanged = unchanged
        self._sent = set()  # rids already encoded in full in this message
        self._memo = {}  # id -> rid of objects marked in this message

    def _buffer(self, data):
        self.buffers.append(memoryview(data).cast("B") if not isinstance(data, bytes) else data)
        return len(self.buffers) - 1

    def _rid(self, obj):
        """``(rid, node_if_reference)``: the reference id of a mutable ``obj`` for this message."""
        key = id(obj)
        if key in self._known:
            rid = self._known[key]
            if rid in self._sent or (self._unchanged is not None and self._unchanged(obj, rid)):
                return rid, {"t": "ref", "id": rid}
            self._sent.add(rid)
            return rid, None
        if not self._mark:
            return None, None
        if key in self._memo:
            return self._memo[key], {"t": "ref", "id": self._memo[key]}
        rid = len(self.rids) + 1
        self._memo[key] = rid
        self.rids[rid] = obj
        self._sent.add(rid)
        return rid, None

    def encode(self, value, depth=0):
        if depth > MAX_DEPTH:
            raise WireError("the value is nested too deeply")
        if value is None or isinstance(value, (bool, str)):
            return value
        if type(value) is int:
            return value
        if type(value) is float:
            return value if math.isfinite(value) else {"t": "float", "v": repr(value)}
        kind = type(value)
        if kind is complex:
            return {"t": "complex", "re": self.encode(value.real), "im": self.encode(value.imag)}
        if isinstance(value, np.generic) and value.dtype.kind in NUMERIC_KINDS:
            scalar = _native(np.asarray(value))
            return {"t": "npscalar", "dtype": scalar.dtype.str, "b": self._buffer(scalar.tobytes())}
        if kind in (tuple, list, dict, set, frozenset, OrderedDict):
            return self._container(value, depth)
        if kind is slice:
            return {"t": "slice", "v": [self.encode(value.start, depth + 1),
                                        self.encode(value.stop, depth + 1),
                                        self.encode(value.step, depth + 1)]}
        if value is Ellipsis:
            return {"t": "ellipsis"}
        if kind is bytes:
            return {"t": "bytes", "b": self._buffer(value)}
        if kind is np.ndarray and value.dtype.kind in NUMERIC_KINDS and value.dtype.fields is None:
            return self._array(value)
        if kind is np.dtype and value.kind in NUMERIC_KINDS:
            return {"t": "dtype", "v": value.str}
        node = self._torch(value, depth)
        if node is None:
            node = self._sparse(value)
        if node is None and _class_name(kind) in _REGISTERED and not _is_module(value):
            node = self._registered(value, depth)
        if node is not None:
            return node
        if self._handle is None:
            raise WireError(f"a {kind.__module__}.{kind.__qualname__} cannot be sent as plain data")
        return self._handle(value)

    def _container(self, value, depth):
        kind = type(value)
        rid, ref = self._rid(value) if kind in (list, dict, set, OrderedDict) else (None, None)
        if ref is not None:
            return ref
        if kind in (dict, OrderedDict):
            node = {"t": "dict" if kind is dict else "odict",
                    "v": [[self.encode(k, depth + 1), self.encode(v, depth + 1)]
                          for k, v in value.items()]}
        else:
            items = sorted(value, key=repr) if kind in (set, frozenset) else value
            node = {"t": kind.__name__, "v": [self.encode(v, depth + 1) for v in items]}
        if rid is not None:
            node["rid"] = rid
        return node

    def _array(self, value):
        rid, ref = self._rid(value)
        if ref is not None:
            return ref
        array = _native(value)
        node = {"t": "nd", "dtype": array.dtype.str, "shape": list(array.shape),
                "b": self._buffer(array.data if array.size else b"")}
        if rid is not None:
            node["rid"] = rid
        return node

    def _torch(self, value, depth):
        import sys

        torch = sys.modules.get("torch")
        if torch is None:
            return None
        if isinstance(value, torch.Size):
            return {"t": "size", "v": [int(v) for v in value]}
        if isinstance(value, torch.dtype):
            return {"t": "tdtype", "v": str(value).removeprefix("torch.")}
        if type(value) in (torch.Tensor, torch.nn.Parameter):
            return self._tensor(value, depth)
        if _is_module(value):
            return self._module(value, depth)
        return None

    def _tensor(self, value, depth):
        import torch

        if value.device.type != "cpu" or value.is_sparse or value.is_quantized:
            return None
        rid, ref = self._rid(value)
        if ref is not None:
            return ref
        detached = value.detach()
        name = str(value.dtype).removeprefix("torch.")
        if name not in TORCH_DTYPES:
            return None
        array = detached.resolve_conj().resolve_neg().contiguous().numpy()
        node = {"t": "tensor", "dtype": name,
                "shape": list(value.shape), "b": self._buffer(_native(array).tobytes()),
                "rg": bool(value.requires_grad),
                "param": isinstance(value, torch.nn.Parameter)}
        if value.is_leaf and value.grad is not None:
            node["grad"] = self.encode(value.grad, depth + 1)
        if rid is not None:
            node["rid"] = rid
        return node

    def _module(self, value, depth):
        cls = type(value)
        if not (_is_standard_module_class(cls) or _class_name(cls) in _REGISTERED):
            return None
        attrs = {k: v for k, v in vars(value).items() if k not in _module_machinery()}
        if not all(_plain(v) for v in attrs.values()):
            return None
        rid, ref = self._rid(value)
        if ref is not None:
            return ref
        try:
            node = {
                "t": "module", "cls": _class_name(cls), "training": bool(value.training),
                "params": [[k, self.encode(v, depth + 1)] for k, v in value._parameters.items()],
                "buffers": [[k, self.encode(v, depth + 1)] for k, v in value._buffers.items()],
                "nonpersistent": sorted(value._non_persistent_buffers_set),
                "modules": [[k, self.encode(v, depth + 1)] for k, v in value._modules.items()],
                "attrs": [[k, self.encode(v, depth + 1)] for k, v in sorted(attrs.items())],
            }
        except WireError:
            return None
        if rid is not None:
            node["rid"] = rid
        return node

    def _sparse(self, value):
        import sys

        sparse = sys.modules.get("scipy.sparse")
        if sparse is None or not sparse.issparse(value):
            return None
        cls = type(value)
        if cls.__module__.split(".")[:2] != ["scipy", "sparse"] or value.format not in ("csr", "csc", "coo"):
            return None
        if value.dtype.kind not in NUMERIC_KINDS:
            return None
        parts = ({"row": value.row, "col": value.col} if value.format == "coo"
                 else {"indices": value.indices, "indptr": value.indptr})
        return {"t": "sparse", "cls": cls.__name__, "shape": [int(s) for s in value.shape],
                "data": {"t": "nd", "dtype": _native(value.data).dtype.str,
                         "shape": [int(value.data.shape[0])], "b": self._buffer(_native(value.data).tobytes())},
                "parts": {k: {"t": "nd", "dtype": _native(v).dtype.str, "shape": [int(v.shape[0])],
                              "b": self._buffer(_native(v).tobytes())} for k, v in parts.items()}}

    def _registered(self, value, depth):
        rid, ref = self._rid(value)
        if ref is not None:
            return ref
        node = {"t": "obj", "cls": _class_name(type(value)),
                "state": [[k, self.encode(v, depth + 1)] for k, v in sorted(vars(value).items())]}
        if rid is not None:
            node["rid"] = rid
        return node


def _is_module_class(cls):
    import sys

    torch = sys.modules.get("torch")
    return torch is not None and isinstance(cls, type) and issubclass(cls, torch.nn.Module)


def _is_module(value):
    import sys

    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.nn.Module)


def _module_machinery():
    """The attribute names every ``torch.nn.Module`` has (state and hooks), not layer settings."""
    global _MACHINERY
    if _MACHINERY is None:
        import torch

        _MACHINERY = frozenset(vars(torch.nn.Module()))
    return _MACHINERY


_MACHINERY = None


def _plain(value):
    """Whether ``value`` is data a module attribute may hold (numbers, strings, tuples of them)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (tuple, list)):
        return all(_plain(v) for v in value)
    return False


class Decoder:
    """Turn a JSON tree plus ``buffers`` back into values, building only plain data.

    ``handle(node)`` turns a handle node into an object (the kernel looks it up in its table, the
    grader makes a proxy). ``originals`` (rid -> object) are the sender's objects a message may
    update in place (the grader's arguments); without them, reference ids are recorded in
    ``self.by_rid`` (the kernel's view of the grader's arguments).
    """

    def __init__(self, buffers, handle=None, originals=None):
        self.buffers = [memoryview(b).cast("B") if not isinstance(b, bytes) else b for b in buffers]
        self.by_rid = {}
        self.snapshots = {}  # rid -> (shape, dtype, bytes[, requires_grad]) of an array or tensor
        self._handle = handle
        self._originals = originals
        self._nodes = 0
        self._bytes = 0

    def decode(self, node, depth=0):
        if depth > MAX_DEPTH:
            raise WireError("the message is nested too deeply")
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise WireError("the message has too many values")
        if node is None or isinstance(node, (bool, str)) or type(node) is int:
            return node
        if type(node) is float:
            return node
        if type(node) is not dict or not isinstance(node.get("t"), str):
            raise WireError("malformed message")
        decode = getattr(self, "_decode_" + node["t"], None)
        if decode is None:
            raise WireError(f"unknown value type {node['t']!r}")
        value = decode(node, depth)
        return value

    def _items(self, node, depth):
        items = node.get("v")
        if not isinstance(items, list):
            raise WireError("malformed container")
        return [self.decode(v, depth + 1) for v in items]

    def _rid_target(self, node, kind):
        """The grader's original object for ``node['rid']``, if it is to be updated in place."""
        rid = node.get("rid")
        if rid is None or self._originals is None:
            return rid, None
        if type(rid) is not int or rid not in self._originals:
            raise WireError("a reference to an unknown object")
        original = self._originals[rid]
        if type(original) is not kind:
            raise WireError("a reference to an object of another type")
        return rid, original

    def _record(self, rid, value):
        if rid is not None and self._originals is None:
            if type(rid) is not int:
                raise WireError("malformed reference id")
            self.by_rid[rid] = value
        return value

    def _decode_ref(self, node, depth):
        rid = node.get("id")
        table = self._originals if self._originals is not None else self.by_rid
        if type(rid) is not int or rid not in table:
            raise WireError("a reference to an unknown object")
        return table[rid]

    def _decode_float(self, node, depth):
        if node.get("v") not in ("nan", "inf", "-inf"):
            raise WireError("malformed float")
        return float(node["v"])

    def _decode_complex(self, node, depth):
        re, im = self.decode(node.get("re"), depth + 1), self.decode(node.get("im"), depth + 1)
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (re, im)):
            raise WireError("malformed complex number")
        return complex(re, im)

    def _buffer(self, index):
        if type(index) is not int or not 0 <= index < len(self.buffers):
            raise WireError("a reference to a missing buffer")
        data = self.buffers[index]
        self._bytes += len(data)
        if self._bytes > MAX_BYTES:
            raise WireError("the message is too large")
        return data

    def _decode_npscalar(self, node, depth):
        dtype = _dtype(node.get("dtype"))
        data = self._buffer(node.get("b"))
        if len(data) != dtype.itemsize:
            raise WireError("malformed NumPy scalar")
        return np.frombuffer(data, dtype=dtype)[0]

    def _array_from(self, node):
        dtype = _dtype(node.get("dtype"))
        shape = node.get("shape")
        if (not isinstance(shape, list) or len(shape) > 32
                or not all(type(s) is int and s >= 0 for s in shape)):
            raise WireError("malformed array shape")
        data = self._buffer(node.get("b"))
        if len(data) != math.prod(shape) * dtype.itemsize:
            raise WireError("the array's data does not match its shape")
        return np.frombuffer(data, dtype=dtype).reshape(tuple(shape)).copy()

    def _decode_nd(self, node, depth):
        array = self._array_from(node)
        rid, original = self._rid_target(node, np.ndarray)
        if original is not None:
            if original.shape == array.shape and original.dtype == array.dtype and original.flags.writeable:
                original[...] = array
            return original
        if rid is not None:
            self.snapshots[rid] = (array.shape, array.dtype, array.tobytes())
        return self._record(rid, array)

    def _decode_list(self, node, depth):
        items = self._items(node, depth)
        rid, original = self._rid_target(node, list)
        if original is not None:
            original[:] = items
            return original
        return self._record(rid, items)

    def _decode_tuple(self, node, depth):
        return tuple(self._items(node, depth))

    def _decode_set(self, node, depth):
        items = self._hashable(self._items(node, depth))
        rid, original = self._rid_target(node, set)
        if original is not None:
            original.clear()
            original.update(items)
            return original
        return self._record(rid, set(items))

    def _decode_frozenset(self, node, depth):
        return frozenset(self._hashable(self._items(node, depth)))

    @staticmethod
    def _hashable(items):
        for item in items:
            try:
                hash(item)
            except TypeError as error:
                raise WireError("an unhashable key") from error
        return items

    def _pairs(self, node, depth, key="v"):
        pairs = node.get(key)
        if not isinstance(pairs, list) or not all(isinstance(p, list) and len(p) == 2 for p in pairs):
            raise WireError("malformed mapping")
        return [(self.decode(k, depth + 1), self.decode(v, depth + 1)) for k, v in pairs]

    def _decode_dict(self, node, depth, kind=dict):
        pairs = self._pairs(node, depth)
        self._hashable([k for k, _ in pairs])
        rid, original = self._rid_target(node, kind)
        if original is not None:
            original.clear()
            original.update(pairs)
            return original
        return self._record(rid, kind(pairs))

    def _decode_odict(self, node, depth):
        return self._decode_dict(node, depth, OrderedDict)

    def _decode_slice(self, node, depth):
        parts = self._items(node, depth)
        if len(parts) != 3 or not all(p is None or type(p) is int for p in parts):
            raise WireError("malformed slice")
        return slice(*parts)

    def _decode_ellipsis(self, node, depth):
        return Ellipsis

    def _decode_bytes(self, node, depth):
        return bytes(self._buffer(node.get("b")))

    def _decode_dtype(self, node, depth):
        return _dtype(node.get("v"))

    def _decode_size(self, node, depth):
        import torch

        values = node.get("v")
        if not isinstance(values, list) or not all(type(v) is int for v in values):
            raise WireError("malformed torch.Size")
        return torch.Size(values)

    def _decode_tdtype(self, node, depth):
        return _torch_dtype(node.get("v"))

    def _decode_tensor(self, node, depth):
        import torch

        dtype = _torch_dtype(node.get("dtype"))
        array = self._array_from(node)
        tensor = torch.from_numpy(array)
        requires_grad = node.get("rg") is True and (dtype.is_floating_point or dtype.is_complex)
        grad = self.decode(node["grad"], depth + 1) if node.get("grad") is not None else None
        if grad is not None and not isinstance(grad, torch.Tensor):
            raise WireError("malformed gradient")
        cls = torch.nn.Parameter if node.get("param") is True else torch.Tensor
        rid, original = self._rid_target(node, cls)
        if original is not None:
            with torch.no_grad():
                if original.shape == tensor.shape and original.dtype == tensor.dtype:
                    original.copy_(tensor)
            if original.is_leaf:
                original.requires_grad_(requires_grad)
                original.grad = grad if grad is None or grad.shape == original.shape else None
            return original
        if rid is not None:
            self.snapshots[rid] = (array.shape, array.dtype, array.tobytes(), requires_grad)
        if cls is torch.nn.Parameter:
            tensor = torch.nn.Parameter(tensor, requires_grad=requires_grad)
        else:
            tensor.requires_grad_(requires_grad)
        if grad is not None and grad.shape == tensor.shape:
            tensor.grad = grad
        return self._record(rid, tensor)

    def _decode_module(self, node, depth):
        import torch

        cls = _lookup_class(node.get("cls"))
        if not issubclass(cls, torch.nn.Module):
            raise WireError(f"{node.get('cls')} is not a module")
        params = self._pairs(node, depth, "params")
        buffers = self._pairs(node, depth, "buffers")
        modules = self._pairs(node, depth, "modules")
        attrs = self._pairs(node, depth, "attrs")
        nonpersistent = node.get("nonpersistent", [])
        for name, value in params:
            if not isinstance(name, str) or not (value is None or isinstance(value, torch.nn.Parameter)):
                raise WireError("malformed module parameter")
        for name, value in buffers:
            if not isinstance(name, str) or not (value is None or isinstance(value, torch.Tensor)):
                raise WireError("malformed module buffer")
        for name, value in modules:
            if not isinstance(name, str) or not (value is None or isinstance(value, torch.nn.Module)):
                raise WireError("malformed submodule")
        for name, value in attrs:
            if not isinstance(name, str) or not name.isidentifier() or name.startswith("__") \
                    or name in _module_machinery() or not _plain(value):
                raise WireError("malformed module attribute")
        if not isinstance(nonpersistent, list) or not all(isinstance(n, str) for n in nonpersistent):
            raise WireError("malformed module")
        rid, original = self._rid_target(node, cls)
        module = original if original is not None else cls.__new__(cls)
        if original is None:
            torch.nn.Module.__init__(module)
        state = vars(module)
        state["training"] = node.get("training") is True
        state["_parameters"] = dict(params)
        state["_buffers"] = dict(buffers)
        state["_non_persistent_buffers_set"] = set(nonpersistent)
        state["_modules"] = dict(modules)
        for name, value in attrs:
            object.__setattr__(module, name, value)
        if original is not None:
            return original
        return self._record(rid, module)

    def _decode_sparse(self, node, depth):
        import scipy.sparse

        name = node.get("cls")
        cls = getattr(scipy.sparse, name, None) if isinstance(name, str) else None
        if not (isinstance(cls, type) and name.endswith(("_matrix", "_array"))
                and name[:3] in ("csr", "csc", "coo")):
            raise WireError(f"{name!r} is not a sparse matrix type the grader accepts")
        shape = node.get("shape")
        if not (isinstance(shape, list) and len(shape) == 2 and all(type(s) is int and s >= 0 for s in shape)):
            raise WireError("malformed sparse shape")
        data = self._array_from(node.get("data") or {})
        parts = node.get("parts")
        if not isinstance(parts, dict):
            raise WireError("malformed sparse matrix")
        arrays = {k: self._array_from(v) for k, v in parts.items() if isinstance(v, dict)}
        for array in (data, *arrays.values()):
            if array.ndim != 1:
                raise WireError("malformed sparse matrix")
        for key, array in arrays.items():
            if array.dtype.kind not in "iu":
                raise WireError("sparse indices must be integers")
        try:
            if name.startswith("coo"):
                if set(arrays) != {"row", "col"}:
                    raise WireError("malformed sparse matrix")
                rows, cols = arrays["row"], arrays["col"]
                if len(rows) != len(data) or len(cols) != len(data) or (len(data) and (
                        rows.min() < 0 or cols.min() < 0 or rows.max() >= shape[0] or cols.max() >= shape[1])):
                    raise WireError("sparse indices out of range")
                return cls((data, (rows, cols)), shape=tuple(shape))
            if set(arrays) != {"indices", "indptr"}:
                raise WireError("malformed sparse matrix")
            matrix = cls((data, arrays["indices"], arrays["indptr"]), shape=tuple(shape))
            matrix.check_format(full_check=True)
            return matrix
        except WireError:
            raise
        except Exception as error:  # scipy's own validation, whatever it raises
            raise WireError(f"malformed sparse matrix ({error})") from None

    def _decode_obj(self, node, depth):
        name = node.get("cls")
        cls = _lookup_class(name)
        if _is_module_class(cls):
            raise WireError(f"{name!r} is a module, sent as an object")
        state = self._pairs(node, depth, "state")
        if not all(isinstance(k, str) and k.isidentifier() and not k.startswith("__") for k, _ in state):
            raise WireError("malformed object state")
        rid, original = self._rid_target(node, cls)
        obj = original if original is not None else cls.__new__(cls)
        vars(obj).clear()
        vars(obj).update(state)
        if original is not None:
            return original
        return self._record(rid, obj)

    def _decode_handle(self, node, depth):
        if self._handle is None or type(node.get("id")) is not int:
            raise WireError("an object handle where plain data was expected")
        return self._handle(node)
