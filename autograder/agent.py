"""The grader's agent inside a student's kernel, under grading only.

While nbgrader grades a notebook, the test cells run in the grader's own process. When one calls a
student's function, the grader sends a message on a Jupyter comm to this agent, which looks the
function up in the notebook's namespace, calls it on the arguments it received as plain data
(:mod:`autograder.wire`), and answers with the result and the arguments' state afterwards.

The agent holds no secret and decides nothing: whatever a notebook does to it can only change the
answers the grader gets, which the grader compares with its own oracles. It also watches, for the
grader's messages, which forbidden library functions a call used and how many lines of the
student's own code it ran (``autograder.guards``).
"""
import builtins
import copy
import importlib
import resource
import traceback
import types

from autograder import checking, guards, lab, wire

TARGET = "cnn-course-agent"
FILE_SIZE_LIMIT = 256 * 2 ** 20  # bytes: the largest file a grading kernel may write
SPECIAL_OPERATIONS = {
    "iter": iter, "next": next, "len": len, "bool": bool, "repr": repr, "str": str,
    "getitem": lambda obj, key: obj[key],
    "setitem": lambda obj, key, value: obj.__setitem__(key, value),
    "delitem": lambda obj, key: obj.__delitem__(key),
    "contains": lambda obj, item: item in obj,
    "copy": copy.copy, "deepcopy": copy.deepcopy,
}


def _describe_error(error):
    builtin = next((cls.__name__ for cls in type(error).__mro__
                    if getattr(builtins, cls.__name__, None) is cls), "Exception")
    frames = [f for f in traceback.extract_tb(error.__traceback__)
              if guards.is_student_code(f.filename)]
    return {"type": type(error).__name__, "builtin": builtin, "message": str(error)[:4000],
            "frames": [f"in {f.name}, line {f.lineno}: {(f.line or '').strip()}" for f in frames][-4:],
            "function": lab.innermost_function(error.__traceback__) if frames else None}


def _resolve(path):
    """The object at ``"module:attr.attr"``, or ``None`` if it does not exist here."""
    module_name, _, attributes = path.partition(":")
    try:
        obj = importlib.import_module(module_name)
        for name in attributes.split("."):
            obj = getattr(obj, name)
    except Exception:  # a library that is missing or differs: nothing to watch
        return None
    return obj


class Agent:
    """Serves the grader's requests: look up names, call, get and set attributes."""

    def __init__(self, namespace):
        self.namespace = namespace
        self.objects = {}
        self.handle_ids = {}

    # ------------------------------------------------------------------ handles
    def handle(self, obj):
        key = id(obj)
        number = self.handle_ids.get(key)
        if number is None or self.objects.get(number) is not obj:
            number = len(self.objects) + 1
            self.objects[number] = obj
            self.handle_ids[key] = number
        kind = type(obj)
        name = getattr(obj, "__name__", None)
        bases = [f"{c.__module__}.{c.__qualname__}" for c in
                 (obj.__mro__ if isinstance(obj, type) else kind.__mro__)]
        return {"t": "handle", "id": number, "type": f"{kind.__module__}.{kind.__qualname__}",
                "callable": callable(obj), "name": name if isinstance(name, str) else None,
                "class": isinstance(obj, type), "bases": bases,
                "pymodule": isinstance(obj, types.ModuleType)}

    def lookup_handle(self, node):
        number = node.get("id")
        if number not in self.objects:
            raise wire.WireError("a handle the kernel does not know (was the kernel restarted?)")
        return self.objects[number]

    # ------------------------------------------------------------------ requests
    def serve(self, request, buffers):
        """Answer one request; returns ``(reply, buffers)``."""
        decoder = wire.Decoder(buffers, handle=self.lookup_handle)
        try:
            operation = request["op"]
            target = (self.lookup_handle({"id": request["target"]}) if "target" in request
                      else None)
            args = decoder.decode(request.get("args", {"t": "list", "v": []}))
            kwargs = decoder.decode(request.get("kwargs", {"t": "dict", "v": []}))
        except Exception as error:
            return {"error": _describe_error(error), "protocol": True}, []
        watch = guards.forbidden_calls([f for f in map(_resolve, request.get("forbidden", ())) if f])
        counts = [0]
        try:
            if operation == "lookup":
                if request["name"] not in self.namespace:
                    raise NameError(f"name '{request['name']}' is not defined")
                result = self.namespace[request["name"]]
            elif operation == "getattr":
                result = getattr(target, request["name"])
            elif operation == "setattr":
                setattr(target, request["name"], args[0])
                result = None
            elif operation == "delattr":
                delattr(target, request["name"])
                result = None
            elif operation == "op":
                result = SPECIAL_OPERATIONS[request["name"]](target, *args)
            elif operation == "call":
                function = target
                if request.get("helper") is not None:
                    helper = checking.HELPERS[request["helper"]]
                    function = lambda *a, **k: helper(target, *a, **k)  # noqa: E731
                with watch:
                    if request.get("count_lines"):
                        result, counts[0] = guards.count_student_lines(function, *args, **kwargs)
                    else:
                        result = function(*args, **kwargs)
            elif operation == "map":
                with watch:
                    result = [self._one(target, a, k) for a, k in args]
            elif operation == "ping":
                result = None
            else:
                raise ValueError(f"unknown operation {operation!r}")
        except BaseException as error:  # the student's code may raise anything, exits included
            reply = {"error": _describe_error(error)}
        else:
            reply = {"result": result}
        return self._encode(reply, args, kwargs, decoder, watch.called, counts[0])

    @staticmethod
    def _one(target, args, kwargs):
        """One call of a ``map`` request: ``{"value": result}`` or ``{"error": description}``."""
        try:
            return {"value": target(*args, **kwargs)}
        except Exception as error:  # the student's code may raise anything
            return {"error": _describe_error(error)}

    def _encode(self, reply, args, kwargs, decoder, called, lines):
        def unchanged(obj, rid):
            snapshot = decoder.snapshots.get(rid)
            if snapshot is None:
                return False
            tensor = hasattr(obj, "detach")
            data = obj.detach().numpy() if tensor else obj
            same = (data.shape, data.dtype) == snapshot[:2] and data.tobytes() == snapshot[2]
            if tensor:
                same = same and obj.requires_grad == snapshot[3] and obj.grad is None
            return same

        known = {id(obj): rid for rid, obj in decoder.by_rid.items()}
        encoder = wire.Encoder(self.handle, known=known, unchanged=unchanged)
        try:
            out = {"args": encoder.encode(args), "kwargs": encoder.encode(kwargs),
                   "forbidden_called": list(called), "lines": lines}
            if "error" in reply:
                out["error"] = reply["error"]
            else:
                out["result"] = encoder.encode(reply["result"])
        except Exception as error:
            return {"error": dict(_describe_error(error), unsendable=True)}, []
        return out, encoder.buffers

    # ------------------------------------------------------------------ comm
    def open(self, comm, _message):
        def on_message(message):
            data = message["content"]["data"]
            reply, buffers = self.serve(data, message.get("buffers") or [])
            reply["rq"] = data.get("rq")
            comm.send(reply, buffers=buffers)

        comm.on_msg(on_message)
        comm.send({"rq": 0, "ready": True})


def install(memory_limit=None, threads=1):
    """Register the agent's comm target in this kernel; called by the grader before any cell runs.

    ``memory_limit`` (bytes of address space) is set as both the soft and the hard limit, so a
    cell that allocates without bound meets a ``MemoryError`` instead of taking the machine.
    """
    import torch

    shell = builtins.get_ipython()
    torch.set_num_threads(threads)
    if memory_limit:
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
    # No file the notebook writes (in its folder, or in the socket folder it shares with the
    # grader outside the sandbox) grows past this.
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))
    agent = Agent(shell.user_ns)
    shell.kernel.comm_manager.register_target(TARGET, agent.open)
    return agent
