"""Flag, for the instructor's review, what a submission's own cells do to get around grading.

The grading engine keeps a student's code away from the verdicts (it runs in a sandboxed kernel,
the checks run in the grader). What it cannot prevent, it reports: this module reads the cells a
student wrote (outside the kernel, without running them) and lists constructs that have no place
in an honest exercise:

- IPython's machinery (hooks, input and AST transformers, exception handlers, shell commands);
- tracing, frames and garbage-collector introspection (``sys.settrace``, ``sys._getframe``,
  ``inspect.currentframe``, ``gc``), ``ctypes``, threads and processes, code objects, closures
  and globals of functions, ``exec``/``eval``/``compile``, dynamic imports;
- imports of the course's own checking code (or reaching it through an allowed module, e.g.
  ``autograder.lab.checking``), paths outside the notebook's folder;
- a module's attributes reached through ``vars()`` or ``__dict__``, PyTorch's operator tables
  (``torch.ops``, ``torch._C``), which bypass the names a from-scratch exercise forbids;
- the pretrained network of notebook 10's widget (a trained answer made elsewhere);
- in a from-scratch exercise, any reference to a library function it forbids, however spelled
  (an alias, a submodule path, ``getattr`` with a constant name), and library attributes reached
  by a computed name.

Cells an instructor wrote (found unchanged in the release) are not read. Each flag names the cell
and the reason; honest submissions get none (``tests/test_classgrade.py`` proves it on the corpus).
"""
import ast
import importlib
from dataclasses import dataclass

from autograder import guards
from autograder.grader import notebooks

LIBRARY_ROOTS = guards.LIBRARY_PACKAGES
ALLOWED_MAGICS = {"timeit", "time", "matplotlib", "precision", "who", "whos", "pinfo", "pinfo2",
                  "config", "xmode", "pprint", "load_ext", "autoreload", "aimport"}
FORBIDDEN_IMPORTS = {
    "ctypes": "loads ctypes (raw memory access)", "gc": "inspects the garbage collector",
    "threading": "starts threads", "_thread": "starts threads",
    "multiprocessing": "starts processes", "concurrent": "starts threads or processes",
    "subprocess": "starts processes", "pty": "starts processes", "signal": "handles signals",
    "socket": "opens network sockets", "importlib": "imports modules dynamically",
    "builtins": "changes Python's builtins", "code": "runs code dynamically",
    "codeop": "compiles code dynamically", "marshal": "loads code objects", "dis": "reads bytecode",
    "types": "builds functions or code objects", "inspect": "inspects frames or source",
    "IPython": "uses IPython's machinery", "ipykernel": "uses the kernel's machinery",
    "traceback": "inspects tracebacks", "faulthandler": "handles crashes",
}
COURSE_PACKAGE = "autograder"
ALLOWED_COURSE_MODULES = ("autograder.data", "autograder.models", "autograder.widgets",
                          "autograder.lab")
# Modules of the checking code and the grading link, however reached (``autograder.lab.checking``).
COURSE_INTERNALS = {"checking", "guards", "wire", "agent", "selfcheck"}
# The network notebook 10's widget reads: trained elsewhere, never a student's answer.
PRETRAINED = ("load_pretrained", "PRETRAINED_WEIGHTS", "_pretrained_arrays", "convnet_mnist")
LIBRARY_INTERNALS = ("torch.ops", "torch._C", "torch._ops", "torch._refs", "torch._decomp",
                     "torch._prims")
ATTRIBUTES = {
    "settrace": "installs a trace function (sys.settrace)",
    "setprofile": "installs a profiler (sys.setprofile)", "_getframe": "reads call frames",
    "currentframe": "reads call frames", "stack": "reads call frames",
    "getouterframes": "reads call frames", "f_back": "reads call frames",
    "f_locals": "reads call frames", "f_globals": "reads call frames", "tb_frame": "reads call frames",
    "gi_frame": "reads call frames", "__code__": "reads or replaces a function's code",
    "co_code": "reads bytecode", "__closure__": "reads a function's closure",
    "__globals__": "reads a function's globals", "__builtins__": "reaches Python's builtins",
    "__subclasses__": "walks the class hierarchy", "__import__": "imports modules dynamically",
    "displayhook": "replaces the display hook", "excepthook": "replaces the exception hook",
    "system": "runs a shell command", "popen": "runs a shell command", "fork": "starts processes",
    "execv": "starts programs", "execve": "starts programs", "spawnv": "starts programs",
    "kill": "sends signals", "killpg": "sends signals", "chdir": "changes the working folder",
    "modules": "reads or changes sys.modules",
    "__dict__": "reaches attributes through __dict__",
}
CALLS = {"exec": "runs code from a string (exec)", "eval": "runs code from a string (eval)",
         "compile": "compiles code from a string", "__import__": "imports modules dynamically",
         "globals": "reads the notebook's globals", "breakpoint": "starts a debugger"}


@dataclass(frozen=True)
class Flag:
    """One reason to review a submission: where and why."""

    cell: str
    reason: str

    def __str__(self):
        return f"{self.cell}: {self.reason}"


def _python(source):
    """``(tree, lines)`` of the cell as Python (magics and shell escapes translated), or ``None``."""
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        text = TransformerManager().transform_cell(source)
        return _with_parents(ast.parse(text)), text.splitlines()
    except (SyntaxError, ValueError):
        return None


def _resolve(path):
    """The library object a dotted ``path`` names (only under the scientific libraries), or None."""
    parts = path.split(".")
    if parts[0] not in LIBRARY_ROOTS:
        return None
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for name in parts[cut:]:
                obj = getattr(obj, name)
        except AttributeError:
            return None
        return obj
    return None


class _CellScanner(ast.NodeVisitor):
    """Walks one cell's syntax tree; ``aliases`` (name -> dotted path) carry over cells."""

    def __init__(self, aliases, forbidden=None, strict=False, lines=(), instructor_lines=frozenset()):
        self.aliases = aliases
        self.forbidden = forbidden or {}  # {id(object) or id(code): graded function's name}
        self.strict = strict  # a solution cell: any reference counts, not only aliasing
        self.lines = lines  # the cell's lines, to tell its instructor's lines from the student's
        self.instructor_lines = instructor_lines
        self.reasons = []
        self._node = None

    def visit(self, node):
        if hasattr(node, "lineno"):
            self._node = node
        return super().visit(node)

    def _flag(self, reason):
        node = self._node
        if node is not None and 0 < node.lineno <= len(self.lines) \
                and self.lines[node.lineno - 1].strip() in self.instructor_lines:
            return  # a line the instructor wrote, e.g. in a demo the student edited elsewhere
        if reason and reason not in self.reasons:
            self.reasons.append(reason)

    # imports ---------------------------------------------------------------------------------
    def visit_Import(self, node):
        for alias in node.names:
            self._imported(alias.name)
            self.aliases[alias.asname or alias.name.split(".")[0]] = (
                alias.name if alias.asname else alias.name.split(".")[0])
            self._check_path(alias.name, node)

    def visit_ImportFrom(self, node):
        module = node.module or ""
        self._imported(module)
        for alias in node.names:
            self._check_pretrained(alias.name)
            path = f"{module}.{alias.name}"
            self.aliases[alias.asname or alias.name] = path
            self._imported(path)
            self._check_path(path, node)

    def _imported(self, module):
        root = module.split(".")[0]
        if root in FORBIDDEN_IMPORTS:
            self._flag(f"imports {module}: {FORBIDDEN_IMPORTS[root]}")
        if root == COURSE_PACKAGE and not module.startswith(ALLOWED_COURSE_MODULES):
            self._flag(f"imports the course's checking code ({module})")

    # names and attributes --------------------------------------------------------------------
    def _dotted(self, node):
        """The dotted path an expression names through the known aliases, or ``None``."""
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id)
        if isinstance(node, ast.Attribute):
            base = self._dotted(node.value)
            return f"{base}.{node.attr}" if base else None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr" \
                and len(node.args) >= 2:
            base = self._dotted(node.args[0])
            name = node.args[1]
            if base and isinstance(name, ast.Constant) and isinstance(name.value, str):
                return f"{base}.{name.value}"
        return None

    def _check_path(self, path, node):
        obj = _resolve(path)
        if obj is None:
            return
        identities = guards._identities(obj) if callable(obj) else {id(obj)}
        for identity in identities:
            if identity in self.forbidden:
                if self.strict or isinstance(getattr(node, "parent_assign", None), ast.AST):
                    self._flag(f"refers to {path}, which {self.forbidden[identity]} forbids")
                return

    def visit_Attribute(self, node):
        if _is_get_ipython(node.value):
            node.value.seen = True
            self._ipython(node.attr, getattr(node, "parent", None))
        reason = ATTRIBUTES.get(node.attr)
        if reason and (node.attr.startswith("_") or node.attr.startswith(("f_", "co_", "tb_", "gi_"))
                       or self._dotted(node.value) in ("sys", "os", "inspect", "threading")):
            self._flag(f"{reason} ({ast.unparse(node)})")
        path = self._dotted(node)
        if path:
            self._check_path(path, node)
        if path == "os.environ" or (path or "").startswith("sys.modules"):
            self._flag(f"touches {path}")
        self._check_internals(path)
        self._check_pretrained(node.attr)
        self.generic_visit(node)

    def _check_pretrained(self, text):
        if any(name in text for name in PRETRAINED):
            self._flag(f"uses the course's pretrained network ({text[:60]}), trained elsewhere")

    def _check_internals(self, path):
        """Flag the course's checking code or PyTorch's operator tables reached by a path."""
        parts = (path or "").split(".")
        if parts[0] == COURSE_PACKAGE and COURSE_INTERNALS & set(parts[1:]):
            self._flag(f"reaches the course's checking code ({path})")
        if path and path.startswith(LIBRARY_INTERNALS):
            self._flag(f"calls PyTorch's internal operators ({path}), around the functions "
                       "an exercise forbids")

    def visit_Name(self, node):
        self._check_pretrained(node.id)
        path = self.aliases.get(node.id)
        if path and path != node.id:
            self._check_path(path, node)

    def visit_Assign(self, node):
        for target in node.targets:
            if isinstance(target, ast.Attribute) and self._dotted(target.value):
                root = self._dotted(target.value).split(".")[0]
                if root in LIBRARY_ROOTS + ("sys", "os", "builtins", COURSE_PACKAGE):
                    self._flag(f"replaces a library attribute ({ast.unparse(target)})")
        value = self._dotted(node.value)
        if value:
            node.value.parent_assign = node
            self._check_path(value, node.value)
        self.generic_visit(node)

    def visit_Call(self, node):
        func = node.func
        if isinstance(func, ast.Name) and CALLS.get(func.id):
            self._flag(CALLS[func.id])
        if isinstance(func, ast.Name) and func.id == "vars" and node.args:
            self._flag(f"reaches attributes through vars() ({ast.unparse(node)[:80]})")
        if isinstance(func, ast.Name) and func.id in ("getattr", "setattr", "delattr") and node.args:
            base = self._dotted(node.args[0])
            if base and len(node.args) > 1 and not isinstance(node.args[1], ast.Constant):
                self._flag(f"reaches an attribute of {base} by a computed name ({ast.unparse(node)[:80]})")
            elif base and func.id != "getattr":
                self._flag(f"changes a library attribute ({ast.unparse(node)[:80]})")
        if isinstance(func, ast.Name) and func.id == "open" and node.args:
            self._path_argument(node.args[0])
        if isinstance(func, ast.Name) and func.id == "getattr":
            path = self._dotted(node)
            if path:
                self._check_path(path, node)
        self.generic_visit(node)
        if _is_get_ipython(node) and not getattr(node, "seen", False):
            self._flag("uses IPython's machinery (get_ipython())")

    def _ipython(self, attribute, call):
        args = call.args if isinstance(call, ast.Call) else []
        magic = args[0].value if args and isinstance(args[0], ast.Constant) else None
        if attribute in ("run_line_magic", "run_cell_magic") and magic in ALLOWED_MAGICS:
            return
        if attribute == "system" or magic in ("bash", "sh", "script", "system"):
            self._flag("runs a shell command")
            return
        self._flag(f"uses IPython's machinery (get_ipython().{attribute})")

    def visit_Constant(self, node):
        if isinstance(getattr(node, "parent", None), ast.JoinedStr) and node.value == "..":
            return  # "0..{n}" in a message, not a path
        if isinstance(node.value, str):
            self._check_pretrained(node.value)
        self._path_argument(node)

    def _path_argument(self, node):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
            if (len(text) > 1 and text[0] in "/~" and (text[1:2].isalnum() or text[1:2] in "._"))\
                    or "../" in text or text == "..":
                self._flag(f"names a path outside the notebook's folder ({text[:60]!r})")


def _is_get_ipython(node):
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == "get_ipython")


def _with_parents(tree):
    for parent in ast.walk(tree):
        for child in ast.iter_child_nodes(parent):
            child.parent = parent
    return tree


def defined_names(tree):
    """The functions and classes a cell defines at its top level."""
    return {node.name for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


def scan(nb, release_sources, forbidden_by_function):
    """The :class:`Flag` list of a submission.

    ``release_sources``: the sources of the release's cells (cells found among them unchanged are
    the instructor's and are not read; in an edited cell, the instructor's lines are not flagged).
    ``forbidden_by_function``: ``{name: [library functions]}`` for the from-scratch exercises
    (what the checks forbade while grading).
    """
    untouched = {" ".join(s.split()) for s in release_sources}
    instructor_lines = frozenset(line.strip() for s in release_sources for line in s.splitlines()
                                 if line.strip())
    forbidden = {}
    for name, functions in forbidden_by_function.items():
        for function in functions:
            for identity in guards._identities(function):
                forbidden.setdefault(identity, name)
    aliases = {}
    flags = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or notebooks.is_test(cell):
            continue
        parsed = _python(cell.source)
        if parsed is None:
            continue
        tree, lines = parsed
        if " ".join(cell.source.split()) in untouched or notebooks.grade_id(cell) == "setup":
            _CellScanner(aliases).visit(tree)  # its imports still bind names for later cells
            continue
        names = defined_names(tree)
        own = {k: v for k, v in forbidden.items() if v in names}
        scanner = _CellScanner(aliases, own or forbidden, strict=bool(own), lines=lines,
                               instructor_lines=instructor_lines)
        scanner.visit(tree)
        where = notebooks.grade_id(cell) or f"cell {index + 1} (the student's own)"
        flags += [Flag(where, reason) for reason in scanner.reasons]
    return flags
