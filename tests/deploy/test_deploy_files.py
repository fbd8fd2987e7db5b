"""deploy/ cannot be started here (no container engine): check what can be checked.

The files parse; every container runs the same image; ports and addresses agree between
the commands and the settings; the commands exist; every variable set is documented.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from alliance_risk.pipeline.apps.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def _compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def _k8s() -> list[dict]:
    docs = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def _containers(doc: dict) -> list[dict]:
    found = []

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "containers":
                    found.extend(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(doc)
    return found


def test_compose_services_share_the_image_and_agree_on_addresses():
    compose = _compose()
    services = compose["services"]
    assert {"postgres", "prefect-server", "dask-scheduler", "dask-worker", "serve"} <= set(services)
    ours = {n: s for n, s in services.items() if n != "postgres"}
    assert {s["image"] for s in ours.values()} == {"alliance-risk:0.1.0"}
    env = services["serve"]["environment"]
    sched = services["dask-scheduler"]["command"]
    port = sched[sched.index("--port") + 1]
    assert env["DASK_SCHEDULER_ADDRESS"] == f"tcp://dask-scheduler:{port}"
    assert services["dask-worker"]["command"][2] == env["DASK_SCHEDULER_ADDRESS"]
    server = services["prefect-server"]["command"]
    assert (
        env["PREFECT_API_URL"] == f"http://prefect-server:{server[server.index('--port') + 1]}/api"
    )
    assert f"{LOOPBACK}{port}:{port}" in services["dask-scheduler"]["ports"]
    db = services["prefect-server"]["environment"]["PREFECT_SERVER_DATABASE_CONNECTION_URL"]
    assert db.startswith("postgresql+asyncpg://") and "@postgres:5432/" in db
    for name in ("serve", "dask-worker"):  # the store volume is shared where it is written
        assert any(v.startswith("forecasts:/data") for v in services[name]["volumes"])
    assert env["ALLIANCE_RISK_STORE"].startswith("/data/")


def test_container_commands_exist():
    parser = build_parser()  # the flows' commands come through the entry point
    args = parser.parse_args(_compose()["services"]["serve"]["command"][1:])
    assert args.command == "serve"
    for tool in ("dask", "prefect"):
        assert shutil.which(tool), f"{tool} is not installed"
    for argv in (
        ["dask", "scheduler", "--help"],
        ["dask", "worker", "--help"],
        ["prefect", "worker", "start", "--help"],
    ):
        assert subprocess.run(argv, capture_output=True, timeout=120).returncode == 0, argv
    worker = next(c for d in _k8s() if d["kind"] == "Deployment" for c in _containers(d))
    assert worker["command"][:3] == ["prefect", "worker", "start"]
    pool = worker["command"][worker["command"].index("--pool") + 1]
    prefect_yaml = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    assert {d["work_pool"]["name"] for d in prefect_yaml["deployments"]} == {pool}


def test_k8s_manifests_use_the_image_and_the_operator_service():
    docs = _k8s()
    kinds = {d["kind"] for d in docs}
    assert {"DaskCluster", "Deployment", "ConfigMap", "PersistentVolumeClaim"} <= kinds
    images = {c["image"] for d in docs for c in _containers(d)}
    assert images == {"alliance-risk"}  # kustomization.yaml pins registry and tag
    kust = yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text())
    assert [i["name"] for i in kust["images"]] == ["alliance-risk"]
    assert kust["images"][0]["newTag"] == "0.1.0"
    cluster = next(d for d in docs if d["kind"] == "DaskCluster")
    config = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
    ports = cluster["spec"]["scheduler"]["service"]["ports"]
    comm = next(p["port"] for p in ports if p["name"] == "tcp-comm")
    # the operator names the scheduler service <cluster>-scheduler
    assert (
        config["DASK_SCHEDULER_ADDRESS"] == f"tcp://{cluster['metadata']['name']}-scheduler:{comm}"
    )
    sched_args = cluster["spec"]["scheduler"]["spec"]["containers"][0]["args"]
    assert sched_args[sched_args.index("--port") + 1] == str(comm)


def test_every_variable_set_is_documented():
    readme = (DEPLOY / "README.md").read_text()
    variables = set(_compose()["x-env"])
    variables |= set(_compose()["services"]["prefect-server"]["environment"])
    variables |= set(next(d for d in _k8s() if d["kind"] == "ConfigMap")["data"])
    variables |= set(re.findall(r"^\s+(\w+)=", (DEPLOY / "Dockerfile").read_text(), re.M))
    variables |= set(re.findall(r"\{\{ \$(\w+) \}\}", (ROOT / "prefect.yaml").read_text()))
    variables -= {"PYTHONUNBUFFERED", "PIP_NO_CACHE_DIR"}
    missing = sorted(v for v in variables if f"`{v}" not in readme)
    assert not missing, f"not documented in deploy/README.md: {missing}"


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_renders_the_manifests():
    out = subprocess.run(
        ["kubectl", "kustomize", str(DEPLOY / "k8s")], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    rendered = list(yaml.safe_load_all(out.stdout))
    assert all(
        d["metadata"].get("namespace") == "alliance-risk"
        for d in rendered
        if d["kind"] != "Namespace"
    )
    images = {c["image"] for d in rendered for c in _containers(d)}
    assert images == {"registry.example.org/alliance-risk:0.1.0"}


def _copied(dockerfile: str) -> set[str]:
    """Repository paths the Dockerfile COPYs into the image (sources of COPY lines)."""
    out: set[str] = set()
    for line in re.findall(r"^COPY\s+(.+)$", dockerfile, re.M):
        *sources, _dest = line.split()
        out |= {src.rstrip("/").removeprefix("./") for src in sources}
    return out


def test_the_image_gets_every_file_the_package_build_reads():
    """The Dockerfile copies what pyproject.toml builds from (each package folder, the
    readme) and what the deployments need (prefect.yaml), then installs that with the s3
    extra: a new package folder or data file left out of the image fails here."""
    text = (DEPLOY / "Dockerfile").read_text()
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    needed = {"pyproject.toml", meta["project"]["readme"], "prefect.yaml"}
    needed |= set(meta["tool"]["setuptools"]["package-dir"].values())
    assert all((ROOT / p).exists() for p in needed)
    assert needed <= _copied(text), f"not copied into the image: {needed - _copied(text)}"
    install = re.search(r"pip install (\S+)", text).group(1).strip('"')
    assert (
        install.startswith(".[")
        and "s3" in install
        and "s3" in meta["project"]["optional-dependencies"]
    )


def test_the_image_exposes_the_ports_its_services_listen_on():
    exposed = set(
        re.search(r"^EXPOSE (.+)$", (DEPLOY / "Dockerfile").read_text(), re.M).group(1).split()
    )
    services = _compose()["services"]
    listening = set()
    for name in ("prefect-server", "dask-scheduler"):
        cmd = services[name]["command"]
        listening.add(str(cmd[cmd.index("--port") + 1]))
    dash = services["dask-scheduler"]["command"]
    listening.add(str(dash[dash.index("--dashboard-address") + 1]).rsplit(":", 1)[-1])
    assert listening == exposed


# ---- safe defaults (issue: reliability) ----------------------------------------------------

LOOPBACK = "${BIND_ADDRESS:-127.0.0.1}:"


def test_published_ports_bind_to_the_loopback_by_default():
    services = _compose()["services"]
    published = [p for s in services.values() for p in s.get("ports", [])]
    assert published and all(str(p).startswith(LOOPBACK) for p in published), published
    sched = next(d for d in _k8s() if d["kind"] == "DaskCluster")["spec"]["scheduler"]
    assert sched["service"]["type"] == "ClusterIP"


def test_secrets_have_no_default_and_the_prefect_api_requires_credentials():
    text = (DEPLOY / "compose.yaml").read_text()
    for var in ("POSTGRES_PASSWORD", "PREFECT_API_AUTH_STRING"):
        uses = re.findall(rf"\$\{{{var}(.?.?)", text)
        assert uses and all(u == ":?" for u in uses), (var, uses)  # required, never defaulted
    server = _compose()["services"]["prefect-server"]["environment"]
    assert server["PREFECT_SERVER_API_AUTH_STRING"].startswith("${PREFECT_API_AUTH_STRING:?")
    assert _compose()["x-env"]["PREFECT_API_AUTH_STRING"].startswith("${PREFECT_API_AUTH_STRING:?")


def _security(env: dict[str, str], tmp_path: Path):
    """distributed's Security as a process with ``env`` (and the files in place) builds it."""
    import dask
    from distributed.security import Security

    files = {k: v for k, v in env.items() if v.startswith("/etc/dask-tls/")}
    local = {k: str(tmp_path / Path(v).name) for k, v in files.items()}
    for path in local.values():
        Path(path).write_text("placeholder")
    settings = dask.config.collect_env({**env, **local})
    with dask.config.set(_dotted(settings)):  # dotted keys: the rest of the config stays
        return Security()


def _dotted(tree: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out |= _dotted(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def test_the_compose_tls_override_gives_every_dask_process_its_certificates(tmp_path):
    tls = yaml.safe_load((DEPLOY / "compose.tls.yaml").read_text())["services"]
    assert set(tls) == {"dask-scheduler", "dask-worker", "serve"}
    assert "--protocol" in tls["dask-scheduler"]["command"]
    assert "tls://dask-scheduler:8786" in tls["dask-worker"]["command"]
    for name, service in tls.items():
        env = service["environment"]
        assert env["DASK_SCHEDULER_ADDRESS"].startswith("tls://"), name
        mounts = [str(v) for v in service["volumes"]]
        assert any(m.endswith(":/etc/dask-tls:ro") and "DASK_TLS_DIR:?" in m for m in mounts)
        sec = _security(env, tmp_path)
        assert sec.require_encryption and sec.tls_ca_file.endswith("ca.pem"), name
        for role in ("scheduler", "worker", "client"):
            assert getattr(sec, f"tls_{role}_cert") and getattr(sec, f"tls_{role}_key"), role


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_the_k8s_tls_overlay_mounts_the_secret_wherever_dask_is_reached(tmp_path):
    out = subprocess.run(
        ["kubectl", "kustomize", str(DEPLOY / "k8s-tls")], capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    docs = list(yaml.safe_load_all(out.stdout))
    env = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
    assert env["DASK_SCHEDULER_ADDRESS"].startswith("tls://")
    assert _security(env, tmp_path).require_encryption
    cluster = next(d for d in docs if d["kind"] == "DaskCluster")["spec"]
    assert "tls" in cluster["scheduler"]["spec"]["containers"][0]["args"]
    assert any(a.startswith("tls://") for a in cluster["worker"]["spec"]["containers"][0]["args"])
    pods = [cluster["scheduler"]["spec"], cluster["worker"]["spec"]]
    pods.append(next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"])
    for pod in pods:
        secrets = {v["name"] for v in pod["volumes"] if v.get("secret", {}).get("secretName")
                   == "alliance-risk-dask-tls"}  # fmt: skip
        mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
        assert secrets and all(mounts.get(s) == "/etc/dask-tls" for s in secrets), pod
