"""Attacks on the data dir, against the real daemon and CLI.

Specified here:

* One process per data dir: a second ``sequencer run`` (or ``sequencer init``) on a live data
  dir exits non-zero at once, naming the lock file and the pid holding it; once the holder is
  gone, even by ``kill -9``, the data dir opens again.
* A failed log rotation (the daemon cannot open the next segment: EMFILE, from a real
  ``RLIMIT_NOFILE`` set on the running daemon) poisons nothing: sealing pauses, the node says it
  is unhealthy, resumes by itself when files can be opened again, loses nothing acknowledged,
  and the next start finds the data dir sound (``sequencer db check``).
* ``chain.devnet`` is part of the chain's identity: a data dir made for a production chain
  refuses a config that flips the flag (so ``--dev-fault`` can never be armed on it), with a
  message that says so; a data dir from before the flag was fingerprinted is upgraded once.
"""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import requests
from web3 import Web3

from sequencer.config import load_config
from sequencer.genesis import genesis_spec_hash_v1
from sequencer.storage.store import ChainStore
from tests.support.accounts import DEV_KEYS
from tests.support.attack import address, sign, write_attack_config
from tests.support.daemon import DEVNET, ROOT, start_daemon, write_config

CLI = [sys.executable, "-m", "sequencer.cli"]


def cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=ROOT, timeout=timeout)


def run_args(data: Path, config: Path = DEVNET) -> list[str]:
    return ["run", "--config", str(config), "--data-dir", str(data), "--rpc-port", "0", "--feed-port", "0"]


def test_a_second_process_on_a_live_data_dir_is_refused_naming_the_lock_and_its_holder(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    first = start_daemon(data)
    try:
        started = time.monotonic()
        second = cli(*run_args(data))
        assert time.monotonic() - started < 15, "refused at once, not after waiting"
        assert second.returncode == 2
        assert f"{data / 'LOCK'} is held by pid {first.proc.pid}" in second.stderr, second.stderr
        init = cli("init", "--config", str(DEVNET), "--data-dir", str(data))
        assert init.returncode == 2 and f"held by pid {first.proc.pid}" in init.stderr
        assert requests.get(first.url + "/health", timeout=5).status_code == 200, "the first is unharmed"
    finally:
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait(10)
        first.kill()
    again = start_daemon(data)  # the kernel dropped the lock with its holder
    assert again.stop() == 0


def lowest_free_fd(pid: int) -> int:
    used = {int(name) for name in os.listdir(f"/proc/{pid}/fd")}
    return next(n for n in range(len(used) + 1) if n not in used)


def test_a_failed_log_rotation_pauses_sealing_and_recovers_without_damage(tmp_path: Path) -> None:
    config = write_attack_config(tmp_path / "small-segments.toml", 0, {"storage": {"segment_bytes": "65536"}})
    data = tmp_path / "data"
    d = start_daemon(data, "--evm-block-ms", "200", config=config)
    session = requests.Session()  # one kept-alive connection: it needs no new descriptor

    def call(method: str, params: list[object]) -> dict[str, object]:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        headers = {"Content-Type": "application/json"}
        answer: dict[str, object] = session.post(d.url, data=body, headers=headers, timeout=10).json()
        return answer

    key = bytes.fromhex(DEV_KEYS[6][2:])
    nonce = int(str(call("eth_getTransactionCount", ["0x" + address(key).hex(), "latest"])["result"]), 16)
    acked: list[str] = []
    try:
        assert session.get(d.url + "/health", timeout=5).status_code == 200
        segments_before = len(list((data / "log").glob("*.seg")))
        # no descriptor can be opened any more: the next rotation fails
        resource.prlimit(d.proc.pid, resource.RLIMIT_NOFILE, (lowest_free_fd(d.proc.pid), 4096))
        deadline = time.monotonic() + 20
        while session.get(d.url + "/health", timeout=5).status_code == 200:
            assert time.monotonic() < deadline, "the rotation never failed"
            answer = call("eth_sendRawTransaction", ["0x" + sign(key, nonce, b"\x33" * 20, value=1).hex()])
            if "result" in answer:
                acked.append(str(answer["result"]))
                nonce += 1
            time.sleep(0.01)
        time.sleep(0.2)  # a seal already past its durable write when the rotation failed lands
        head = int(str(call("eth_blockNumber", [])["result"]), 16)
        time.sleep(0.5)
        assert int(str(call("eth_blockNumber", [])["result"]), 16) == head, (
            "nothing is sealed meanwhile\n" + d.log()[-3000:]
        )
        assert len(list((data / "log").glob("*.seg"))) <= segments_before + 1

        resource.prlimit(d.proc.pid, resource.RLIMIT_NOFILE, (4096, 4096))
        deadline = time.monotonic() + 10
        while session.get(d.url + "/health", timeout=5).status_code != 200:
            assert time.monotonic() < deadline, "the node did not resume"
            time.sleep(0.05)
        raw = sign(key, nonce, b"\x33" * 20, value=1)
        receipt = call("eth_sendRawTransactionSync", ["0x" + raw.hex()])["result"]
        assert isinstance(receipt, dict) and receipt["status"] == "0x1"
        acked.append(str(receipt["transactionHash"]))
        assert len(list((data / "log").glob("*.seg"))) > segments_before, "the log rotated in the end"
        assert "log rotation failed" in d.log() and "sealing resumed" in d.log()
    finally:
        session.close()
        assert d.stop() == 0, d.log()
    check = cli("db", "check", "--data-dir", str(data), timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr

    again = start_daemon(data, config=config)
    try:
        w3 = Web3(Web3.HTTPProvider(again.url))
        for h in acked:
            receipt = w3.eth.get_transaction_receipt(h)  # type: ignore[arg-type]
            assert receipt["status"] == 1
    finally:
        assert again.stop() == 0


def test_the_devnet_flag_cannot_be_flipped_on_a_production_data_dir(tmp_path: Path) -> None:
    production = write_config(tmp_path / "production.toml", devnet="false")
    # a production chain takes its signing key from a file (inline keys are for devnets)
    key_file = tmp_path / "sequencer.key"
    key_file.write_text("0x" + load_config(DEVNET).signing_keys[0].hex())
    text = production.read_text()
    production.write_text(re.sub(r"(?m)^keys = .*$", f'key_files = ["{key_file}"]', text))
    flipped = write_config(tmp_path / "flipped.toml", devnet="true")
    data = tmp_path / "data"
    assert cli("init", "--config", str(production), "--data-dir", str(data)).returncode == 0

    drill = cli(*run_args(data, flipped), "--dev-fault", "balance")
    assert drill.returncode == 2
    assert (
        "was created for a production chain (chain.devnet = false); the config says chain.devnet = true"
        in (drill.stderr)
    ), drill.stderr
    assert cli(*run_args(data, flipped)).returncode == 2, "not even without the drill"
    refused = cli(*run_args(data, production), "--dev-fault", "balance")
    assert refused.returncode == 2 and "--dev-fault is refused" in refused.stderr

    # a data dir from before the flag was fingerprinted opens, and records the flag once
    store = ChainStore(data)
    try:
        genesis = store.get_block(0)
        assert genesis is not None
        chain = replace(load_config(production).chain, genesis_timestamp=genesis.timestamp)
        store.put_meta("genesis_spec", genesis_spec_hash_v1(chain))
    finally:
        store.close()
    d = start_daemon(data, config=production)
    assert d.stop() == 0
    assert "data dir identity upgraded" in d.log() and "devnet=false" in d.log()
    assert cli(*run_args(data, flipped)).returncode == 2, "and refuses a flip from then on"
