"""JupyterHub for a class taking this course, with nbgrader's exchange.

Run as root (the spawner switches to each user) after ``deploy/install.sh``:

    CNN_COURSE_PREFIX=/opt/cnn-course /opt/cnn-course/venv/bin/jupyterhub -f deploy/jupyterhub_config.py

As shipped it is the small, local set-up the end-to-end test runs on 127.0.0.1: real Unix users,
each server started as its own user by ``LocalProcessSpawner``, one shared password. Settings
come from environment variables so that the test and a real server use the same file:

    CNN_COURSE_PREFIX      where deploy/install.sh installed the course (/opt/cnn-course)
    CNN_COURSE_EXCHANGE    the nbgrader exchange, a folder every user can reach (/srv/nbgrader/exchange)
    CNN_COURSE_HUB_URL     address users connect to (http://127.0.0.1:8000)
    CNN_COURSE_STATE       folder for the hub's database, cookie secret and logs (/srv/jupyterhub)
    CNN_COURSE_INSTRUCTORS, CNN_COURSE_STUDENTS    comma-separated user names
    CNN_COURSE_PASSWORD    the students' shared password (at least 8 characters)
    CNN_COURSE_ADMIN_PASSWORD  the instructors' password (at least 32 characters, a different one)
    CNN_COURSE_SERVICE_TOKEN   API token of the "course-admin" service (creates users, tokens, servers)

Students' servers run nbgrader's student side only (the Assignments tab and Validate). The
instructors' own servers run the formgrader (nbgrader's "one class, one grader"): each points it
at their course directory with ``~/.jupyter/nbgrader_config.py`` and opens
``/user/<name>/formgrader`` in a browser tab of its own (JupyterHub forbids framing it in JupyterLab).

For a real university, change:
- the authenticator: ``oauthenticator`` (GitHub, Google, Azure AD, generic OpenID Connect) or
  ``ltiauthenticator`` (Moodle, Canvas: the LMS launches the hub), instead of the shared password;
- the spawner: ``systemdspawner`` on one server, or Kubernetes with Zero to JupyterHub
  (z2jh.jupyter.org), where the exchange becomes a shared volume (NFS) mounted in every pod with
  consistent user ids;
- TLS in front of the proxy (``c.JupyterHub.ssl_cert``/``ssl_key`` or a reverse proxy), a public
  ``bind_url``, and resource limits per user (``c.Spawner.mem_limit``, ``cpu_limit``).
"""
import os

prefix = os.environ.get("CNN_COURSE_PREFIX", "/opt/cnn-course")
exchange = os.environ.get("CNN_COURSE_EXCHANGE", "/srv/nbgrader/exchange")
state = os.environ.get("CNN_COURSE_STATE", "/srv/jupyterhub")
instructors = [n for n in os.environ.get("CNN_COURSE_INSTRUCTORS", "").split(",") if n]
students = [n for n in os.environ.get("CNN_COURSE_STUDENTS", "").split(",") if n]
venv_bin = os.path.join(prefix, "venv", "bin")

c = get_config()  # noqa: F821

# Network: users reach the proxy; the hub and the proxy's API listen on loopback only.
c.JupyterHub.bind_url = os.environ.get("CNN_COURSE_HUB_URL", "http://127.0.0.1:8000")
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = int(os.environ.get("CNN_COURSE_HUB_PORT", "8081"))
c.ConfigurableHTTPProxy.api_url = os.environ.get("CNN_COURSE_PROXY_API_URL", "http://127.0.0.1:8001")
c.ConfigurableHTTPProxy.command = [os.path.join(prefix, "proxy", "node_modules", ".bin",
                                                "configurable-http-proxy")]

# State: the database, the cookie secret and the proxy's pid file, out of the working directory.
c.JupyterHub.db_url = "sqlite:///" + os.path.join(state, "jupyterhub.sqlite")
c.JupyterHub.cookie_secret_file = os.path.join(state, "jupyterhub_cookie_secret")
c.ConfigurableHTTPProxy.pid_file = os.path.join(state, "jupyterhub-proxy.pid")

# Users: real Unix accounts (the exchange relies on their user ids to keep submissions apart).
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = os.environ.get("CNN_COURSE_PASSWORD") or None
c.SharedPasswordAuthenticator.admin_password = os.environ.get("CNN_COURSE_ADMIN_PASSWORD") or None
c.Authenticator.allowed_users = set(instructors + students)
c.Authenticator.admin_users = set(instructors)



def _jupyter_config_path(spawner):
    """Students' servers read deploy/install.sh's student folder first: nbgrader's student side
    only (the Assignments tab and Validate). Instructors' servers keep every nbgrader extension:
    their formgrader is nbgrader's "one class, one grader" set-up, served by their own server."""
    return "" if spawner.user.name in instructors else os.path.join(prefix, "etc", "jupyter-student")


# Servers: JupyterLab with nbgrader's extensions, from the course's environment, as each user.
c.JupyterHub.spawner_class = "localprocess"
c.Spawner.cmd = [os.path.join(venv_bin, "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
c.Spawner.environment = {
    "PATH": venv_bin + ":/usr/local/bin:/usr/bin:/bin",  # nbgrader needs alembic on PATH
    "CNN_COURSE_EXCHANGE": exchange,
    "JUPYTER_CONFIG_PATH": _jupyter_config_path,
}
c.Spawner.http_timeout = 120
c.Spawner.start_timeout = 120

# A service that may manage users, their tokens and servers (the test's and an admin's scripts).
service_token = os.environ.get("CNN_COURSE_SERVICE_TOKEN")
if service_token:
    c.JupyterHub.services = [{"name": "course-admin", "api_token": service_token}]
    c.JupyterHub.load_roles = [{
        "name": "course-admin",
        "scopes": ["admin:users", "admin:servers", "tokens", "list:users"],
        "services": ["course-admin"],
    }]
