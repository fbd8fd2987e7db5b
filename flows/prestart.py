"""The ``alliance-risk`` console script: Prefect's ephemeral API server launched first thing.

A flow command without an API (no $PREFECT_API_URL) waits for the ephemeral server Prefect's
API needs, and that server takes 4.5-6 s to boot on a 2-core machine: it is the critical path
of the command's start-up. ``entry`` launches it before anything else is imported (the command
line's own imports and the scenario check take 1.2-1.5 s), then runs the command line
(alliance_risk.pipeline.apps.cli); the flow session adopts the server (``adopt``), and a
command that ends before (bad input, exit 2) stops it at exit. Only the standard library is
imported here.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

FLOW_COMMANDS = ("forecast", "cluster-run", "compare")  # the commands that run a flow
_FALSE = ("0", "false", "no", "off")
_early: list[tuple[subprocess.Popen, str]] = []  # launched by ``entry``, not yet adopted


def prefect_dir() -> Path:
    """Where Prefect is installed, found without importing it (1-1.2 s)."""
    spec = importlib.util.find_spec("prefect")
    if spec is None or spec.origin is None:
        raise RuntimeError("Prefect is not installed")
    return Path(spec.origin).parent


def api_configured(environ) -> bool:
    """Whether a command must not start an ephemeral server, as far as can be told without
    importing Prefect: $PREFECT_API_URL, $PREFECT_SERVER_EPHEMERAL_ENABLED, or the same keys
    in the active profile (Prefect's packaged profiles, updated by $PREFECT_PROFILES_PATH,
    by default $PREFECT_HOME/profiles.toml, ~/.prefect by default)."""
    home = Path(environ.get("PREFECT_HOME", "~/.prefect")).expanduser()
    user = Path(environ.get("PREFECT_PROFILES_PATH", home / "profiles.toml")).expanduser()
    active, profiles = "ephemeral", {}
    for path in (prefect_dir() / "settings" / "profiles.toml", user):
        try:
            doc = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError):
            continue
        active = doc.get("active", active)
        for name, values in doc.get("profiles", {}).items():
            profiles[name] = profiles.get(name, {}) | values
    profile = profiles.get(environ.get("PREFECT_PROFILE") or active, {})
    settings = {k: str(v) for k, v in profile.items()} | dict(environ)
    ephemeral = settings.get("PREFECT_SERVER_EPHEMERAL_ENABLED", "true").strip().lower()
    return bool(settings.get("PREFECT_API_URL")) or ephemeral in _FALSE


def launch_server() -> tuple[subprocess.Popen, str]:
    """Prefect's ephemeral server (its command and environment: uvicorn with Prefect's app
    factory on a free port of 127.0.0.1, no UI, the ephemeral set of services), and its API
    URL. It reads Prefect's settings from the same sources as this process."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [sys.executable, "-m", "uvicorn", "--app-dir", str(prefect_dir().parent)]
    cmd += ["--factory", "prefect.server.api.server:create_app", "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--log-level", "error", "--lifespan", "on"]
    env = os.environ | {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1"}
    env |= {"PREFECT__SERVER_FINAL": "1"}
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL)
    return proc, f"http://127.0.0.1:{port}/api"


def adopt() -> tuple[subprocess.Popen, str] | None:
    """The server ``entry`` launched, if any: the caller now owns it (and stops it)."""
    return _early.pop() if _early else None


def stop(proc: subprocess.Popen) -> None:
    """Stop a server and wait for it (killed after 5 s)."""
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _stop_unadopted() -> None:
    while _early:
        stop(_early.pop()[0])


def _runs_a_flow(argv: list[str]) -> bool:
    """The command line names a flow command (the first word that is not an option) and
    does not ask for help."""
    words = [a for a in argv if not a.startswith("-")]
    return bool(words) and words[0] in FLOW_COMMANDS and not {"-h", "--help"} & set(argv)


def entry() -> None:
    """Console-script entry point: the server first (for a flow command that needs it),
    then the command line."""
    try:
        if _runs_a_flow(sys.argv[1:]) and not api_configured(os.environ):
            _early.append(launch_server())
            atexit.register(_stop_unadopted)
    except (OSError, RuntimeError):  # the flow session launches it, or says what fails
        pass
    from alliance_risk.pipeline.apps.cli import entry as command_line

    command_line()
