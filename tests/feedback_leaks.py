"""What a student's feedback must not contain: hidden tests' lines, the checks' internals."""
import html
import re

from autograder.grader import notebooks
from autograder.grader.session import hidden_lines

INTERNALS = ("autograder/checking.py", "autograder/grader", "autograder/agent.py",
             "autograder/wire.py", "BEGIN HIDDEN TESTS")


def _normalised(line):
    return " ".join(line.split())


def hidden_test_lines(solution_nb):
    """Every non-trivial line of the notebook's hidden tests, whitespace-normalised."""
    found = set()
    for cell in solution_nb.cells:
        if notebooks.is_test(cell):
            lines = cell.source.splitlines()
            for number in hidden_lines(cell.source):
                text = _normalised(lines[number - 1])
                if len(text) > 12 and not text.startswith(("#", "from ", "import ", "###")):
                    found.add(text)
    return found


def leaks(feedback_html, solution_nb):
    """The hidden lines and internal frames found in a feedback page's text."""
    text = _normalised(html.unescape(re.sub(r"<[^>]+>", " ", feedback_html)))
    found = [line for line in hidden_test_lines(solution_nb) if line in text]
    return found + [marker for marker in INTERNALS if marker in text]
