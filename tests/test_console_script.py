"""The console script's early start of Prefect's ephemeral server: when it starts one (the
flow tests run it: tests/flows/test_flows.py)."""

from __future__ import annotations

import pytest

from alliance_risk.flows.prestart import _runs_a_flow, api_configured


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["forecast", "nato-2025"], True),
        (["--debug", "cluster-run", "--sims", "10"], True),
        (["compare"], True),
        (["forecast", "--help"], False),
        (["run", "nato-2025"], False),
        (["serve"], False),
        ([], False),
    ],
)
def test_only_flow_commands_launch_a_server_early(argv, expected):
    assert _runs_a_flow(argv) is expected


def test_an_api_named_anywhere_prestart_reads_means_no_ephemeral_server(tmp_path):
    home = {"PREFECT_HOME": str(tmp_path)}
    assert not api_configured(home)  # Prefect's packaged default: the ephemeral profile
    assert api_configured(home | {"PREFECT_API_URL": "http://127.0.0.1:4200/api"})
    assert api_configured(home | {"PREFECT_SERVER_EPHEMERAL_ENABLED": "false"})
    assert api_configured(home | {"PREFECT_PROFILE": "local"})  # packaged: names an API URL
    (tmp_path / "profiles.toml").write_text(
        'active = "mine"\n[profiles.mine]\nPREFECT_API_URL = "http://10.0.0.1:4200/api"\n'
    )
    assert api_configured(home)
    assert not api_configured(home | {"PREFECT_PROFILE": "ephemeral"})
    # the environment wins over the profile, as in Prefect
    assert not api_configured(home | {"PREFECT_API_URL": ""})
    other = tmp_path / "other.toml"
    other.write_text('active = "x"\n[profiles.x]\nPREFECT_SERVER_EPHEMERAL_ENABLED = "0"\n')
    assert api_configured(home | {"PREFECT_PROFILES_PATH": str(other)})
    (tmp_path / "profiles.toml").write_text("not toml [")
    assert not api_configured(home)  # an unreadable file: Prefect's defaults


def test_flows_on_the_commands_own_server_send_no_heartbeats():
    """On the command's own ephemeral server (which dies with the command, so cannot mark a
    crashed run) flow runs send no heartbeats, whose thread held up every flow run's end;
    against another API Prefect's settings are left alone."""
    from prefect.settings import get_current_settings

    from alliance_risk.flows.commands import _PrefectAPI

    default = get_current_settings().flows.heartbeat_frequency
    assert default is not None
    api = _PrefectAPI.__new__(_PrefectAPI)  # its settings only: no server launched
    api.proc, api.url = None, "http://127.0.0.1:9/api"
    with api.settings():
        now = get_current_settings()
        assert now.flows.heartbeat_frequency is None and str(now.api.url) == api.url
    api.url = None  # an API named by the user
    with api.settings():
        assert get_current_settings().flows.heartbeat_frequency == default


def test_a_server_that_exits_is_reported_with_its_status():
    """The thread that waits for the server notices it has exited (a real process that ends
    with status 1 in place of the server) and ``ready`` says so at once, not after the
    120 s start-up timeout."""
    import socket
    import subprocess
    import sys
    import time

    from alliance_risk.flows.commands import _PrefectAPI
    from alliance_risk.models.errors import EnvironmentFailure

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    t = time.monotonic()
    exits = subprocess.Popen([sys.executable, "-c", "raise SystemExit(1)"])
    api = _PrefectAPI(server=(exits, f"http://127.0.0.1:{port}/api"))
    assert api.url is not None  # no API configured here: the command keeps its server
    with pytest.raises(EnvironmentFailure, match="exited with status 1"):
        api.ready()
    assert time.monotonic() - t < 30


def test_an_api_named_only_in_prefect_toml_stops_the_early_server(tmp_path):
    """prefect.toml in the working directory names an API that only Prefect's settings can
    read: the server launched before that import is stopped, and the flows talk to the API
    the user named, not to it. Without the file, the command keeps its server."""
    import os
    import subprocess
    import sys

    probe = (
        "from alliance_risk.flows.commands import _PrefectAPI\n"
        "api = _PrefectAPI()\n"
        "print(api.url, api.proc is None)\n"
        "api.stop()\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env |= {"PREFECT_HOME": str(tmp_path / "home")}
    env.pop("PREFECT_PROFILE", None)
    own = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, **_OUT)
    assert own.returncode == 0 and own.stdout.startswith("http://127.0.0.1:"), own.stderr
    (tmp_path / "prefect.toml").write_text('[api]\nurl = "http://127.0.0.1:9/api"\n')
    named = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, **_OUT)
    assert named.returncode == 0 and named.stdout.split() == ["None", "True"], named.stderr


_OUT = {"capture_output": True, "text": True, "timeout": 120}
