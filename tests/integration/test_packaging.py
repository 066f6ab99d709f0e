"""Packaging, checked where no Docker engine or systemd runs: the Dockerfile passes hadolint and
builds the image the docs describe (multi-stage, non-root, the data dir a volume, a health check
on /health); the compose file is valid by the compose-spec schema and wires a sequencer to two
verifiers; the systemd units pass ``systemd-analyze verify`` and its security review; the
Grafana dashboard's queries are valid PromQL over metrics the processes really export; the
Prometheus config is valid; ``pip install .`` ships the dashboard's files; and the node runs
without uvloop where there is none."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from packaging.requirements import Requirement

from tests.support.daemon import ROOT, Daemon, start_daemon
from tests.support.debian import ensure_command
from tests.support.verifier import VerifierProc, start_verifier

# the first test may install Debian packages (apt-get), which can take minutes on a new machine
pytestmark = pytest.mark.timeout(900)

DEPLOY = ROOT / "deploy"
BIN = Path(sys.executable).parent
UNITS = ("megapy-sequencer.service", "megapy-verifier@.service")


def run(*args: str | Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=120, cwd=ROOT, **kwargs
    )


def help_flags(*command: str) -> set[str]:
    result = run(sys.executable, "-m", *command, "--help")
    assert result.returncode == 0, result.stderr
    return set(re.findall(r"--[a-z][a-z0-9-]*", result.stdout))


def flags_of(args: list[str]) -> set[str]:
    return {a.split("=", 1)[0] for a in args if a.startswith("--")}


# -- Dockerfile ---------------------------------------------------------------------------------


def dockerfile() -> str:
    return (DEPLOY / "Dockerfile").read_text()


def json_array(instruction: str) -> list[str]:
    """The exec-form arguments of ``instruction`` (a continued line joined)."""
    text = re.sub(r"\s*\\\n\s*", " ", dockerfile())
    found = re.search(rf"^{instruction} (\[.*\])$", text, re.M)
    assert found, instruction
    args: list[str] = json.loads(found.group(1))
    return args


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    result = run(BIN / "hadolint", DEPLOY / "Dockerfile")
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_hadolint_is_a_real_check(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN apt-get install curl\n")
    result = run(BIN / "hadolint", bad)
    assert result.returncode != 0 and "DL3006" in result.stdout


def test_the_image_is_multi_stage_non_root_with_a_data_volume_and_a_health_check() -> None:
    text = dockerfile()
    stages = re.findall(r"^FROM (\S+)(?: AS (\S+))?$", text, re.M)
    assert len(stages) >= 2 and stages[0][1] == "build", stages
    assert re.search(r"^COPY --from=build /opt/megapy /opt/megapy$", text, re.M), (
        "only the venv is carried over"
    )
    users = re.findall(r"^USER (\S+)$", text, re.M)
    assert users and users[-1].split(":")[0] not in ("0", "root"), users
    assert json_array("VOLUME") == ["/var/lib/megapy"]
    health = json_array("HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 CMD")
    assert "MEGAPY_HEALTH_URL" in health[-1]
    assert re.search(r"MEGAPY_HEALTH_URL=http://127\.0\.0\.1:8545/health", text)
    for source in re.findall(r"^COPY (?!--from)(.+) \S+$", text, re.M):
        for path in source.split():
            assert (ROOT / path).exists(), f"COPY {path}: not in the repository"


def test_the_image_command_uses_flags_that_exist() -> None:
    assert json_array("ENTRYPOINT") == ["sequencer"]
    command = json_array("CMD")
    assert command[0] == "run"
    assert flags_of(command) <= help_flags("sequencer.cli", "run")
    config = command[command.index("--config") + 1]
    assert (ROOT / "configs" / Path(config).name).exists() and config.startswith("/etc/megapy/")
    assert command[command.index("--data-dir") + 1].startswith("/var/lib/megapy/"), "inside the volume"


# -- compose ------------------------------------------------------------------------------------


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return document


def test_the_compose_file_is_valid_by_the_compose_spec_schema() -> None:
    result = run(BIN / "check-jsonschema", "--builtin-schema", "vendor.compose-spec", DEPLOY / "compose.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_compose_schema_check_is_a_real_check(tmp_path: Path) -> None:
    bad = tmp_path / "compose.yaml"
    bad.write_text("services:\n  sequencer:\n    image: megapy\n    ports: 8545\n")
    result = run(BIN / "check-jsonschema", "--builtin-schema", "vendor.compose-spec", bad)
    assert result.returncode != 0 and "ports" in result.stdout


def test_compose_runs_a_sequencer_and_two_verifiers_that_follow_it() -> None:
    services = compose()["services"]
    assert {"sequencer", "verifier-1", "verifier-2"} <= set(services)
    sequencer = services["sequencer"]
    assert sequencer["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
    assert flags_of(sequencer["command"]) <= help_flags("sequencer.cli", "run")
    assert "--feed-host=0.0.0.0" in sequencer["command"], "verifiers reach the feed from their containers"
    shown = {a.split("=", 1)[1] for a in sequencer["command"] if a.startswith("--dashboard-verifier=")}
    for name in ("verifier-1", "verifier-2"):
        verifier = services[name]
        assert verifier["entrypoint"] == ["verifier"]
        assert flags_of(verifier["command"]) <= help_flags("verifier.cli", "run")
        assert "--feed=ws://sequencer:8546" in verifier["command"]
        assert "--status-host=0.0.0.0" in verifier["command"] and "--status-port=9100" in verifier["command"]
        assert verifier["depends_on"]["sequencer"]["condition"] == "service_healthy"
        assert verifier["environment"]["MEGAPY_HEALTH_URL"] == "http://127.0.0.1:9100/health"
        assert f"http://{name}:9100" in shown, "the dashboard polls every verifier"
    volumes = compose()["volumes"]
    for name in ("sequencer", "verifier-1", "verifier-2"):
        for mount in services[name]["volumes"]:
            assert mount.split(":")[0] in volumes
        assert f"{name}-data:/var/lib/megapy" in services[name]["volumes"]


def test_compose_settles_on_an_l1_devnet_deployed_before_the_sequencer_starts() -> None:
    services = compose()["services"]
    l1, deploy, sequencer = services["l1"], services["l1-deploy"], services["sequencer"]
    assert l1["entrypoint"] == ["anvil"] and "--host=0.0.0.0" in l1["command"]
    assert "healthcheck" in l1
    assert deploy["depends_on"]["l1"]["condition"] == "service_healthy"
    script = deploy["command"][0]
    deploy_args = script.split("||", 1)[1].split()
    assert deploy_args[:3] == ["sequencer", "l1", "deploy"]
    assert flags_of(deploy_args[3:]) <= help_flags("sequencer.cli", "l1", "deploy")
    assert "--l1-rpc=http://l1:8545" in deploy_args
    out = next(a.split("=", 1)[1] for a in deploy_args if a.startswith("--out="))
    assert sequencer["depends_on"]["l1-deploy"]["condition"] == "service_completed_successfully"
    assert f"--l1={out}" in sequencer["command"], "the sequencer reads the file the deploy wrote"
    shared = {m.split(":")[0] for m in deploy["volumes"]} & {m.split(":")[0] for m in sequencer["volumes"]}
    assert shared == {"settlement"}


# -- systemd ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def units(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The units with ExecStart pointing at this checkout's executables (verify checks they exist)."""
    folder = tmp_path_factory.mktemp("units")
    for name in UNITS:
        text = (DEPLOY / "systemd" / name).read_text().replace("/opt/megapy/bin/", f"{BIN}/")
        (folder / name).write_text(text)
    shutil.copy(folder / "megapy-verifier@.service", folder / "megapy-verifier@1.service")
    return folder


@pytest.fixture(scope="module")
def systemd_analyze() -> str:
    return ensure_command("systemd-analyze", "systemd")


def test_systemd_analyze_verify_finds_nothing(units: Path, systemd_analyze: str) -> None:
    for name in ("megapy-sequencer.service", "megapy-verifier@1.service"):
        result = run(systemd_analyze, "verify", units / name)
        assert (result.returncode, result.stdout + result.stderr) == (0, ""), name


def test_the_units_are_hardened(units: Path, systemd_analyze: str) -> None:
    for name in ("megapy-sequencer.service", "megapy-verifier@1.service"):
        text = (units / name).read_text()
        for option in (
            "NoNewPrivileges=yes",
            "ProtectSystem=strict",
            "PrivateTmp=yes",
            "CapabilityBoundingSet=",
        ):
            assert f"\n{option}\n" in text, (name, option)
        result = run(systemd_analyze, "security", "--offline=yes", units / name)
        found = re.search(r"Overall exposure level for \S+: ([0-9.]+)", result.stdout + result.stderr)
        assert found, result.stdout + result.stderr
        assert float(found.group(1)) <= 2.0, f"{name}: exposure {found.group(1)} (systemd's 'OK' is below 2)"
    verifier = (DEPLOY / "systemd" / "megapy-verifier@.service").read_text()
    assert "RestartPreventExitStatus=3" in verifier, "a mismatch stays stopped: it is the alarm"


def test_the_units_run_commands_that_exist() -> None:
    for name, command in (
        ("megapy-sequencer.service", "sequencer.cli"),
        ("megapy-verifier@.service", "verifier.cli"),
    ):
        exec_start = re.search(r"^ExecStart=\S+ (.+)$", (DEPLOY / "systemd" / name).read_text(), re.M)
        assert exec_start, name
        args = exec_start.group(1).split()
        assert args[0] == "run" and flags_of(args) <= help_flags(command, "run"), name


# -- Grafana and Prometheus ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def promtool() -> str:
    return ensure_command("promtool", "prometheus")


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[set[str]]:
    """The metric names a running sequencer and verifier export."""
    root = tmp_path_factory.mktemp("exported")
    daemon: Daemon = start_daemon(root / "node", "--metrics-port", "0", "--evm-block-ms", "200")
    verifier: VerifierProc | None = None
    try:
        verifier = start_verifier(daemon.feed_url, root / "verifier")
        metrics = re.search(r'metrics=(http://[^\s"]+)', daemon.log())
        assert metrics, daemon.log()
        texts = [
            requests.get(u + "/metrics", timeout=5).text for u in (metrics.group(1), verifier.status_url)
        ]
        yield {
            line.split(" ")[2] for text in texts for line in text.splitlines() if line.startswith("# TYPE ")
        }
    finally:
        if verifier is not None:
            verifier.stop()
        daemon.stop()


def grafana_exprs() -> list[str]:
    dashboard = json.loads((DEPLOY / "grafana" / "megapy-dashboard.json").read_text())
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert panels
    for panel in panels:
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
    return [target["expr"] for panel in panels for target in panel["targets"]]


def concrete(expr: str) -> str:
    """A Grafana query as plain PromQL (its variables replaced)."""
    return (
        expr.replace("$__rate_interval", "1m").replace("$sequencer_job", ".+").replace("$verifier_job", ".+")
    )


def test_the_grafana_queries_are_valid_promql(promtool: str, tmp_path: Path) -> None:
    rules = {
        "groups": [
            {
                "name": "grafana",
                "rules": [
                    {"record": f"megapy:query_{i}", "expr": concrete(e)}
                    for i, e in enumerate(grafana_exprs())
                ],
            }
        ]
    }
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump(rules))
    result = run(promtool, "check", "rules", path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_grafana_dashboard_reads_only_metrics_that_exist(exported: set[str]) -> None:
    suffixes = ("_bucket", "_count", "_sum", "_total")
    for expr in grafana_exprs():
        for name in set(re.findall(r"\b((?:sequencer|verifier|process)_[a-z_]+)\b", concrete(expr))):
            base = next((name.removesuffix(s) for s in suffixes if name.endswith(s)), name)
            assert name in exported or base in exported, f"{name} (in {expr}) is not exported"


def test_the_prometheus_config_is_valid(promtool: str) -> None:
    result = run(promtool, "check", "config", DEPLOY / "prometheus" / "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


# -- the Python package -------------------------------------------------------------------------


def test_pip_install_ships_the_dashboard_files(tmp_path: Path) -> None:
    result = run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", tmp_path, ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = tmp_path.glob("megapy_l2-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    static = "sequencer/dashboard/static/"
    for name in (
        "index.html",
        "dashboard.js",
        "dashboard.css",
        "vendor/uplot/uPlot.iife.min.js",
        "vendor/uplot/LICENSE",
    ):
        assert static + name in names, name


def test_uvloop_is_a_dependency_only_where_it_exists() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    (uvloop,) = [Requirement(r) for r in project["dependencies"] if Requirement(r).name == "uvloop"]
    assert uvloop.marker is not None
    assert uvloop.marker.evaluate({"sys_platform": "linux", "platform_python_implementation": "CPython"})
    assert not uvloop.marker.evaluate({"sys_platform": "win32", "platform_python_implementation": "CPython"})


def test_the_node_runs_on_asyncio_where_uvloop_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shim = tmp_path / "no-uvloop"
    shim.mkdir()
    (shim / "uvloop.py").write_text('raise ImportError("no uvloop on this platform")\n')
    monkeypatch.setenv("PYTHONPATH", str(shim))
    daemon = start_daemon(tmp_path / "node")
    try:
        answer = requests.post(
            daemon.url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}, timeout=5
        )
        assert answer.json()["result"] == "0x539"
    finally:
        assert daemon.stop() == 0, daemon.log()
