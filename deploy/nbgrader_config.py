"""nbgrader configuration every user of the hub shares (installed into <venv>/etc/jupyter).

Students' servers read it to list, fetch and submit assignments; the instructor's own
nbgrader_config.py (the repository's, in their course directory) adds the course layout.
The exchange is a folder all users share: its root is created once, mode 777, by the
administrator; nbgrader makes its ``outbound/`` (755) and ``inbound/`` (2733) itself.
"""
import os

c = get_config()  # noqa: F821
c.CourseDirectory.course_id = "cnn-course"
c.Exchange.root = os.environ.get("CNN_COURSE_EXCHANGE", "/srv/nbgrader/exchange")
