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
