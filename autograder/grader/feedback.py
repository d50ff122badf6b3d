"""What ``nbgrader generate_feedback`` does to a notebook before students get its HTML.

- ``StripInstructorPaths``: outputs (tracebacks, printed text, HTML) name no folder of the
  instructor's machine: the course directory, this package's checkout, the Python installation,
  the home and temporary folders become ``<course>``, a relative ``autograder/...``,
  ``site-packages``, ``<python>``, ``~`` and ``<tmp>``.
- ``MathToMathML``: the LaTeX of markdown cells (``$...$``, ``$$...$$``, ``\\begin{env}...``,
  found as JupyterLab finds it: not inside code) becomes MathML, which browsers render natively.
  With ``TEMPLATE_BASEDIRS`` (the feedback template without nbconvert's MathJax script), a
  feedback page needs no network: nothing is fetched from a CDN.

``course_config.configure`` lists them in ``GenerateFeedback.preprocessors``.
"""
import html
import os
import re
import site
import sys
import sysconfig
import tempfile
from pathlib import Path

import latex2mathml.converter
import nbgrader
from nbgrader.preprocessors import NbGraderPreprocessor

import autograder

HERE = Path(__file__).resolve().parent
# Searched before nbgrader's own feedback template: ``feedback/mathjax.html.j2`` replaces the
# macro that would load MathJax from a CDN.
TEMPLATE_BASEDIRS = [
    str(HERE / "templates"),
    str(Path(nbgrader.__file__).resolve().parent / "server_extensions" / "formgrader" / "templates"),
]

# Mimetypes whose data is base64, never text that could hold a path.
BINARY_MIMETYPES = ("image/png", "image/jpeg", "image/gif", "application/pdf")


# ----------------------------------------------------------------------------- paths

def instructor_folders(course_root=None):
    """``[(folder, label)]``: the instructor's folders and what replaces each, longest first."""
    package_parent = Path(autograder.__file__).resolve().parents[1]
    site_dirs = {sysconfig.get_paths()[key] for key in ("purelib", "platlib")}
    site_dirs |= set(site.getsitepackages()) | {site.getusersitepackages()}
    labelled = [(d, "site-packages") for d in site_dirs]
    labelled += [(sysconfig.get_paths()[key], "<python>") for key in ("stdlib", "platstdlib")]
    labelled += [(p, "<python>") for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)]
    if str(package_parent) not in site_dirs:
        labelled.append((package_parent, ""))  # autograder/checking.py, as in the bundle
    if course_root:
        labelled.append((course_root, "<course>"))
    labelled += [(tempfile.gettempdir(), "<tmp>"), (os.path.expanduser("~"), "~")]
    folders = {}
    for folder, label in labelled:
        for variant in (str(folder), os.path.realpath(folder)):
            variant = variant.rstrip("/")
            if len(variant) > 1 and variant not in folders:
                folders[variant] = label
    return sorted(folders.items(), key=lambda item: -len(item[0]))


def path_replacer(folders):
    """A function replacing each folder of ``folders`` (as a whole path component) by its label."""
    labels = dict(folders)
    pattern = re.compile("(" + "|".join(re.escape(f) for f, _ in folders) + r")(?![\w.-])(/?)")

    def replace(match):
        label = labels[match.group(1)]
        return (label + match.group(2)) if label else ""

    return lambda text: pattern.sub(replace, text)


class StripInstructorPaths(NbGraderPreprocessor):
    """Replace the instructor's folders in every output by neutral labels."""

    def preprocess(self, nb, resources):
        course_root = None
        path = resources.get("metadata", {}).get("path")
        if path:  # <course>/autograded/<student>/<assignment>
            course_root = str(Path(path).resolve().parents[2])
        self._replace = path_replacer(instructor_folders(course_root))
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, index):
        for output in cell.get("outputs", []):
            if "text" in output:
                output.text = self._replace(output.text)
            if "evalue" in output:
                output.evalue = self._replace(output.evalue)
            if "traceback" in output:
                output.traceback = [self._replace(line) for line in output.traceback]
            for mimetype, data in output.get("data", {}).items():
                if isinstance(data, str) and mimetype not in BINARY_MIMETYPES:
                    output.data[mimetype] = self._replace(data)
        return cell, resources


# ----------------------------------------------------------------------------- math

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
CODE_SPAN = re.compile(r"(`+)(?:.|\n)*?(?<!`)\1(?!`)")
MATH = re.compile(
    r"\$\$(?P<display>.+?)\$\$"
    r"|(?<![\\$])\$(?P<inline>(?:\\.|[^$\\\n]|\n(?![ \t]*\n))+?)\$"
    r"|(?P<env>\\begin\{(?P<name>[A-Za-z]+\*?)\}.*?\\end\{(?P=name)\})",
    re.S)


def _encode(text):
    """``text`` with every character but letters, digits and spaces as a numeric reference.

    Markdown then finds nothing to interpret inside a formula (``*``, ``_``, ``|``, ``\\``).
    """
    return "".join(c if c.isascii() and (c.isalnum() or c == " ") else f"&#{ord(c)};"
                   for c in text)


def _serialize(element):
    attributes = "".join(f' {key}="{_encode(value)}"' for key, value in element.attrib.items())
    inner = _encode(html.unescape(element.text or ""))
    inner += "".join(_serialize(child) + _encode(html.unescape(child.tail or ""))
                     for child in element)
    return f"<{element.tag}{attributes}>{inner}</{element.tag}>"


def latex_to_mathml(tex, display):
    """One line of MathML for the LaTeX ``tex``; the LaTeX as code if it cannot be converted."""
    try:
        element = latex2mathml.converter.convert_to_element(
            tex.strip(), display="block" if display else "inline")
    except Exception:  # latex2mathml raises many types on LaTeX it does not know
        return f"<code>{_encode(tex)}</code>"
    element.set("alttext", " ".join(tex.split()))
    return _serialize(element)


def _math_in_text(text):
    def replace(match):
        if match.group("inline") is not None:
            return latex_to_mathml(match.group("inline"), display=False)
        return latex_to_mathml(match.group("display") or match.group("env"), display=True)

    return MATH.sub(replace, text)


def markdown_with_mathml(source):
    """``source`` (markdown) with its formulas as MathML; fenced code and code spans untouched."""
    out, text, fence = [], [], None

    def flush():
        chunk, pieces, last = "".join(text), [], 0
        for span in CODE_SPAN.finditer(chunk):
            pieces += [_math_in_text(chunk[last:span.start()]), span.group(0)]
            last = span.end()
        out.extend(pieces + [_math_in_text(chunk[last:])])
        text.clear()

    for line in source.splitlines(keepends=True):
        marker = FENCE.match(line)
        if fence is None and marker:
            flush()
            fence = marker.group(1)
            out.append(line)
        elif fence is not None:
            out.append(line)
            if marker and marker.group(1)[0] == fence[0] and len(marker.group(1)) >= len(fence):
                fence = None
        else:
            text.append(line)
    flush()
    return "".join(out)


class MathToMathML(NbGraderPreprocessor):
    """Turn the LaTeX of every markdown cell into MathML."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "markdown":
            cell.source = markdown_with_mathml(cell.source)
        return cell, resources
