"""Both ``/metrics`` follow Prometheus' conventions, as Prometheus' own linter checks them:
``promtool check metrics`` reports nothing on the sequencer's nor on the verifier's exposition.
Both carry the standard process collectors and a ``*_build_info``; latency histograms reach the
longest wait (send-and-wait waits up to 10 s)."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator

import pytest
import requests
from web3 import Web3

from tests.support.accounts import DEV_KEYS
from tests.support.daemon import Daemon, start_daemon
from tests.support.debian import ensure_command
from tests.support.loadgen import raw_transfer
from tests.support.rpc import request
from tests.support.verifier import VerifierProc, start_verifier

# the first test may install Debian packages (apt-get), which can take minutes on a new machine
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def promtool() -> str:
    return ensure_command("promtool", "prometheus")


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, VerifierProc]]:
    root = tmp_path_factory.mktemp("metrics")
    daemon = start_daemon(root / "node", "--metrics-port", "0", "--evm-block-ms", "200")
    verifier = None
    try:
        verifier = start_verifier(daemon.feed_url, root / "verifier")
        w3 = Web3(Web3.HTTPProvider(daemon.url))
        assert "result" in request(w3, "eth_sendRawTransactionSync", [raw_transfer(DEV_KEYS[4], 0)])
        request(w3, "eth_sendRawTransaction", ["0x1234"])  # a rejection: a labelled counter
        deadline = time.monotonic() + 20
        while verifier.status()["verifiedTxs"] < 1:
            assert time.monotonic() < deadline, verifier.log()
            time.sleep(0.1)
        yield daemon, verifier
    finally:
        if verifier is not None:
            verifier.stop()
        daemon.stop()


def sequencer_metrics(daemon: Daemon) -> str:
    found = re.search(r'metrics=(http://[^\s"]+)', daemon.log())
    assert found, daemon.log()
    return requests.get(found.group(1) + "/metrics", timeout=5).text


def test_both_expositions_say_their_format(running: tuple[Daemon, VerifierProc]) -> None:
    daemon, verifier = running
    found = re.search(r'metrics=(http://[^\s"]+)', daemon.log())
    assert found
    for url in (found.group(1), verifier.status_url):
        content_type = requests.get(url + "/metrics", timeout=5).headers["Content-Type"]
        assert content_type == "text/plain; version=0.0.4; charset=utf-8", url


def lint(promtool: str, exposition: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool, "check", "metrics"], input=exposition, capture_output=True, text=True, timeout=60
    )


def test_promtool_finds_nothing_in_the_sequencer_metrics(
    promtool: str, running: tuple[Daemon, VerifierProc]
) -> None:
    result = lint(promtool, sequencer_metrics(running[0]))
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_promtool_finds_nothing_in_the_verifier_metrics(
    promtool: str, running: tuple[Daemon, VerifierProc]
) -> None:
    result = lint(promtool, requests.get(running[1].status_url + "/metrics", timeout=5).text)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_promtool_is_a_real_check(promtool: str) -> None:
    """The linter does object to what the metrics used to be named."""
    old = "# HELP verifier_lag_ms Age\n# TYPE verifier_lag_ms gauge\nverifier_lag_ms 1\n"
    result = lint(promtool, old)
    assert result.returncode != 0 and "abbreviated units" in result.stdout + result.stderr


@pytest.mark.parametrize("role", ["sequencer", "verifier"])
def test_process_collectors_and_build_info(role: str, running: tuple[Daemon, VerifierProc]) -> None:
    daemon, verifier = running
    text = (
        sequencer_metrics(daemon)
        if role == "sequencer"
        else requests.get(verifier.status_url + "/metrics", timeout=5).text
    )
    rss = re.search(r"^process_resident_memory_bytes (\S+)$", text, re.M)
    cpu = re.search(r"^process_cpu_seconds_total (\S+)$", text, re.M)
    assert rss and float(rss.group(1)) > 10 * 2**20, "a Python node holds more than 10 MiB"
    assert cpu and float(cpu.group(1)) > 0
    assert re.search(rf'^{role}_build_info\{{.*version="0\.1\.0".*\}} 1\.0$', text, re.M)
    assert "python_info{" in text


def test_names_carry_their_units(running: tuple[Daemon, VerifierProc]) -> None:
    daemon, verifier = running
    text = sequencer_metrics(daemon)
    followers = re.search(r"^sequencer_feed_followers (\S+)$", text, re.M)
    assert followers and float(followers.group(1)) == 1, "the verifier follows the feed"
    assert re.search(r"^sequencer_feed_follower_max_lag_messages \d", text, re.M)
    assert "_lag_max " not in text
    verifier_text = requests.get(verifier.status_url + "/metrics", timeout=5).text
    lag = re.search(r"^verifier_lag_seconds (\S+)$", verifier_text, re.M)
    assert lag and 0 <= float(lag.group(1)) < 3600, "seconds, not milliseconds"
    assert "verifier_lag_ms" not in verifier_text


def test_rpc_latency_buckets_reach_the_send_and_wait_timeout(running: tuple[Daemon, VerifierProc]) -> None:
    text = sequencer_metrics(running[0])
    bounds = {
        float(le)
        for le in re.findall(
            r'^sequencer_rpc_latency_seconds_bucket\{le="([0-9.e+]+)",method="eth_sendRawTransactionSync"\}',
            text,
            re.M,
        )
    }
    assert bounds and max(bounds) >= 10.0, sorted(bounds)
