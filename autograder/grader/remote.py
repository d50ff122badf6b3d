"""The grader's side of a graded notebook's kernel: names, calls and objects that live there.

A test cell runs in the grader's process. The names it uses but does not define (the student's
functions, classes and variables) resolve through :class:`RemoteNamespace` to values copied out of
the kernel (plain data, :mod:`autograder.wire`) or to :class:`RemoteObject` proxies: calling a
proxy, reading or setting its attributes, iterating or indexing it sends a request to the agent
in the kernel (:mod:`autograder.agent`) over a Jupyter comm and decodes the answer. Nothing the
kernel sends is executed here.
"""
import builtins
import queue
import time
import uuid

from autograder import wire

READY_TIMEOUT_SECONDS = 60
POLL_SECONDS = 0.25
INTERRUPT_GRACE_SECONDS = 5


class KernelUnavailable(RuntimeError):
    """The student's kernel died, stopped answering, or was restarted under an old handle."""


class CallTimeout(TimeoutError):
    """A call into the student's code did not finish in the time its test cell has."""


class StudentCodeError(Exception):
    """Base of the exceptions raised here for an exception in the student's code.

    Each concrete class also derives from the builtin exception the student's code raised (or
    the nearest builtin base of it), so ``except ValueError`` works as it would in one process.
    ``frames`` lists the lines of the student's own code the exception passed through.
    """

    frames = ()
    remote_type = ""
    function = None  # the innermost function of the student's that the exception came from


_EXCEPTION_CLASSES = {}


def student_exception(info):
    """An exception instance for the kernel's description ``info`` of a student's exception."""
    base = getattr(builtins, str(info.get("builtin")), None)
    if not (isinstance(base, type) and issubclass(base, BaseException)) or not issubclass(base, Exception):
        base = Exception
    cls = _EXCEPTION_CLASSES.get(base)
    if cls is None:
        try:
            cls = type(base.__name__, (base, StudentCodeError), {"__module__": "builtins"})
        except TypeError:  # a builtin whose layout forbids the mixin
            cls = type(base.__name__, (StudentCodeError,), {"__module__": "builtins"})
        _EXCEPTION_CLASSES[base] = cls
    try:
        error = cls(str(info.get("message", "")))
    except TypeError:
        error = StudentCodeError(str(info.get("message", "")))
    error.frames = tuple(str(f) for f in info.get("frames", ()) if isinstance(f, str))
    error.remote_type = str(info.get("type", base.__name__))
    error.function = info.get("function") if isinstance(info.get("function"), str) else None
    return error


class KernelLink:
    """The comm between this process and the agent in one kernel incarnation.

    ``client`` is a started ``BlockingKernelClient``; ``alive()`` tells whether the kernel still
    runs; ``interrupt()`` interrupts it. ``deadline`` (a ``time.monotonic()`` value) bounds every
    request until it is changed: the session sets it per test cell.
    """

    def __init__(self, client, alive, interrupt, generation=0):
        self.client = client
        self.alive = alive
        self.interrupt = interrupt
        self.generation = generation
        self.comm_id = uuid.uuid4().hex
        self.deadline = None
        self.broken = None  # why the kernel must be restarted before the next use, if it must
        self.requests = 0
        self._counter = 0

    def open(self):
        message = self.client.session.msg("comm_open", {
            "comm_id": self.comm_id, "target_name": "cnn-course-agent", "data": {}})
        self.client.shell_channel.send(message)
        ready = self._wait(0, time.monotonic() + READY_TIMEOUT_SECONDS)
        if not ready.get("ready"):
            raise KernelUnavailable("the grader's agent did not start in the kernel")

    # ------------------------------------------------------------------ requests
    def request(self, operation, *, target=None, args=(), kwargs=None, **fields):
        """Send one request; return ``(reply, decoder)`` with the arguments written back."""
        if self.broken:
            raise KernelUnavailable(self.broken)
        if target is not None and target._generation != self.generation:
            raise KernelUnavailable("this object belonged to a kernel that has been restarted")
        encoder = wire.Encoder(self._handle_node, mark_refs=True)
        self._counter += 1
        self.requests += 1
        data = {"op": operation, "rq": self._counter, **fields,
                "args": encoder.encode(list(args)), "kwargs": encoder.encode(dict(kwargs or {}))}
        if target is not None:
            data["target"] = target._id
        message = self.client.session.msg("comm_msg", {"comm_id": self.comm_id, "data": data})
        message["buffers"] = encoder.buffers
        self.client.shell_channel.send(message)
        reply, buffers = self._wait_reply(self._counter)
        decoder = wire.Decoder(buffers, handle=self._proxy, originals=encoder.rids)
        try:
            decoder.decode(reply.get("args"))
            decoder.decode(reply.get("kwargs"))
        except wire.WireError as error:
            raise student_exception({"builtin": "TypeError", "message": (
                f"the kernel's answer could not be read ({error})")}) from None
        if "error" in reply:
            if reply.get("protocol"):
                raise RuntimeError(f"the grader's request was refused: {reply['error']}")
            raise student_exception(reply["error"])
        try:
            result = decoder.decode(reply.get("result"))
        except wire.WireError as error:
            raise student_exception({"builtin": "TypeError", "message": (
                f"returned a value the grader cannot read: {error}")}) from None
        return result, reply

    def _handle_node(self, obj):
        if isinstance(obj, RemoteObject) and obj._link is self:
            return {"t": "handle", "id": obj._id}
        kind = type(obj)
        raise wire.WireError(f"a {kind.__module__}.{kind.__qualname__} cannot be sent to the "
                             "student's kernel")

    def _proxy(self, node):
        bases = node.get("bases")
        bases = tuple(b for b in bases if isinstance(b, str)) if isinstance(bases, list) else ()
        return RemoteObject(self, node["id"], node.get("type"), node.get("name"),
                            bool(node.get("callable")), bases, bool(node.get("pymodule")),
                            bool(node.get("class")))

    def _wait_reply(self, number):
        limit = self.deadline if self.deadline is not None else float("inf")
        try:
            return self._wait(number, limit, with_buffers=True)
        except CallTimeout:
            self._recover(number)
            raise

    def _recover(self, number):
        """After a timeout: interrupt, and give up on the kernel if it does not come back."""
        self.interrupt()
        try:
            self._wait(number, time.monotonic() + INTERRUPT_GRACE_SECONDS)
        except (CallTimeout, KernelUnavailable):
            self.broken = "the student's code did not stop when interrupted"

    def _wait(self, number, limit, with_buffers=False):
        while True:
            remaining = limit - time.monotonic()
            if remaining <= 0:
                raise CallTimeout("the student's code did not finish in the time the test allows")
            try:
                message = self.client.get_iopub_msg(timeout=min(POLL_SECONDS, remaining))
            except queue.Empty:
                if not self.alive():
                    self.broken = "the student's kernel died"
                    raise KernelUnavailable("the student's kernel died (it was restarted for the "
                                            "next test)") from None
                continue
            content = message.get("content", {})
            if content.get("comm_id") != self.comm_id:
                continue
            if message["header"]["msg_type"] == "comm_close":
                self.broken = "the student's code closed the grader's channel"
                raise KernelUnavailable(self.broken)
            data = content.get("data") or {}
            if data.get("rq") == number:
                return (data, message.get("buffers") or []) if with_buffers else data

    # ------------------------------------------------------------------ conveniences
    def lookup(self, name):
        value = self.request("lookup", name=name)[0]
        if isinstance(value, RemoteObject) and value._pymodule:
            raise NameError(f"the test cell uses `{name}`, a module it does not import (only the "
                            "student's kernel has it): import it in the test or set-up cell")
        return value


class RemoteObject:
    """A proxy for an object that lives in the student's kernel (a function, a class, an instance)."""

    __slots__ = ("_link", "_id", "_type", "_name", "_callable", "_generation", "_bases", "_pymodule",
                 "_isclass")

    def __init__(self, link, number, type_name, name, is_callable, bases=(), pymodule=False,
                 isclass=False):
        object.__setattr__(self, "_link", link)
        object.__setattr__(self, "_id", number)
        object.__setattr__(self, "_type", type_name or "object")
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_callable", is_callable)
        object.__setattr__(self, "_generation", link.generation)
        object.__setattr__(self, "_bases", tuple(bases))
        object.__setattr__(self, "_pymodule", pymodule)
        object.__setattr__(self, "_isclass", isclass)

    def __copy__(self):
        return self._operation("copy")

    def __deepcopy__(self, memo):
        return self._operation("deepcopy")  # the copy is made in the kernel, where the object is

    # Calls ---------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        return self._link.request("call", target=self, args=args, kwargs=kwargs)[0]

    def __course_invoke__(self, args, kwargs, *, forbidden=(), count_lines=False, helper=None):
        """Call with watches: ``(result, forbidden functions called, student lines run)``.

        ``helper`` names a function of ``autograder.checking.HELPERS`` to run on this object in
        the kernel instead of calling it (e.g. a forward and backward pass).
        """
        result, reply = self._link.request("call", target=self, args=args, kwargs=kwargs,
                                           forbidden=list(forbidden), count_lines=count_lines,
                                           helper=helper)
        return result, list(reply.get("forbidden_called", [])), int(reply.get("lines", 0))

    def __course_map__(self, calls, *, forbidden=()):
        """Call once per ``(args, kwargs)`` in one round trip: ``([(value, error)], called)``."""
        results, reply = self._link.request("map", target=self, args=[list(c) for c in calls],
                                            forbidden=list(forbidden))
        if not (isinstance(results, list) and len(results) == len(calls)
                and all(isinstance(r, dict) and ("error" in r) != ("value" in r) for r in results)):
            count = len(results) if isinstance(results, list) else type(results).__name__
            raise KernelUnavailable(f"the kernel answered {count} results for {len(calls)} calls: "
                                    "the notebook changed the grading link, and nothing it answers "
                                    "is counted")
        outcomes = [(None, student_exception(r["error"])) if "error" in r else (r["value"], None)
                    for r in results]
        return outcomes, list(reply.get("forbidden_called", []))

    @property
    def __course_bases__(self):
        """Qualified names of the object's class and its bases (of the class, for a class)."""
        return self._bases

    @property
    def __course_is_class__(self):
        return self._isclass

    # Attributes ------------------------------------------------------------
    @property
    def __name__(self):
        return self._name or self._type.rsplit(".", 1)[-1]

    @property
    def __course_type__(self):
        return self._type

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self._link.request("getattr", target=self, name=name)[0]

    def __setattr__(self, name, value):
        self._link.request("setattr", target=self, name=name, args=(value,))

    def __delattr__(self, name):
        self._link.request("delattr", target=self, name=name)

    # Protocols -------------------------------------------------------------
    def _operation(self, name, *args):
        return self._link.request("op", target=self, name=name, args=args)[0]

    def __iter__(self):
        return self._operation("iter")

    def __next__(self):
        try:
            return self._operation("next")
        except StopIteration:
            raise StopIteration from None

    def __len__(self):
        return self._operation("len")

    def __bool__(self):
        return self._operation("bool")

    def __getitem__(self, key):
        return self._operation("getitem", key)

    def __setitem__(self, key, value):
        self._operation("setitem", key, value)

    def __delitem__(self, key):
        self._operation("delitem", key)

    def __contains__(self, item):
        return self._operation("contains", item)

    def __repr__(self):
        return f"<the student's {self._type.rsplit('.', 1)[-1]} {self._name or 'object'}>"


class RemoteNamespace(dict):
    """A test cell's globals: what the cell does not define is looked up in the student's kernel.

    Builtins come first; values copied from the kernel are not kept, so a later test cell sees
    the student's definitions as they are then, as it would in one process.
    """

    def __init__(self, link):
        super().__init__(__builtins__=builtins.__dict__, __name__="__main__")
        self.link = link

    def __missing__(self, name):
        if hasattr(builtins, name):
            return getattr(builtins, name)
        try:
            return self.link.lookup(name)
        except NameError:
            raise KeyError(name) from None
