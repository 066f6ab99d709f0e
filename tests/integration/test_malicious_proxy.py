"""A malicious proxy between a real sequencer and real verifier processes edits the feed in
flight (``tests/support/proxy.py``: it has no signing key). For every edit, an unsharded verifier
and a shard stop with a verdict naming what was edited (the shard, 0 of 2, does not re-execute
the edited mini-block, number 1; for the state diff edit both shards run); none is fooled, none
crashes.

What catches what, on this signed devnet chain: a header field the block's mini-blocks
contradict is that field; an edited mini-block environment fails the signature (the attacker
cannot re-sign); a relabelled number and a broken hash are caught before anything else; a state
diff edit is not covered by MegaETH's signature, so it is re-execution's: the shard that
re-executes the mini-block names the balance, the other the block's state root; oversize,
non-JSON, the wrong shape and a header that is not one are malformed; a message dropped on every
connection is a gap that stays.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3

from tests.support.accounts import DEV_KEYS
from tests.support.contracts import load_artifact
from tests.support.daemon import DEVNET, ROOT, Daemon, start_daemon
from tests.support.proxy import ProxyProc, start_proxy
from tests.support.rpc import request
from tests.support.verifier import VerifierProc, start_verifier

CHAIN_ID = 1337
GWEI = 10**9
MODES = {"unsharded": (), "shard-0": ("--shard", "0/2"), "shard-1": ("--shard", "1/2")}
BOTH_SHARDS = ("thousand-ether",)
"""Edits whose verdict depends on which shard re-executes the mini-block: both shards run; for
the others an unsharded verifier and one shard (0 of 2) do."""
OWNER = "owner"
OTHER = "other"
EXPECTED: dict[str, str | dict[str, str]] = {
    "genesis": "genesis.hash",
    "header-coinbase": "block.coinbase",
    "header-gas-limit": "block.gasLimit",
    "header-timestamp": "block.timestamp",
    "header-base-fee": "block.baseFee",
    "env-base-fee": "miniBlock.env.baseFee",
    "relabel-number": "miniBlock.number",
    "mini-block-hash": "miniBlock.hash",
    "strip-signature": "miniBlock.signature",
    "thousand-ether": {OWNER: "stateDiff.balance", OTHER: "block.stateRoot"},
    "oversize": "stream.malformed",
    "not-json": "stream.malformed",
    "json-list": "stream.malformed",
    "bad-header": "stream.malformed",
    "drop": "stream.seq",
}


def workload(w3: Web3) -> None:
    """A deployment, an event-emitting storage write and transfers, one per mini-block."""
    acct = Account.from_key(DEV_KEYS[0])
    art = load_artifact("Reverter")
    nonce = 0

    def send(**fields: Any) -> dict[str, Any]:
        nonlocal nonce
        tx = {
            "chainId": CHAIN_ID,
            "nonce": nonce,
            "gas": 21_000,
            "maxFeePerGas": 10 * GWEI,
            "maxPriorityFeePerGas": 0,
            "type": 2,
            "value": 0,
            **fields,
        }
        nonce += 1
        raw = "0x" + bytes(acct.sign_transaction(tx).raw_transaction).hex()
        answer: dict[str, Any] = request(w3, "eth_sendRawTransactionSync", [raw])["result"]
        return answer

    deployed = send(data=art["bytecode"], gas=1_000_000)
    contract = w3.eth.contract(address=Web3.to_checksum_address(deployed["contractAddress"]), abi=art["abi"])
    for i in range(3):
        send(to=Account.create().address, value=i + 1)
        send(to=contract.address, data=contract.encode_abi("increment", []), gas=100_000)


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, ProxyProc, Path]]:
    """A sequencer with a few blocks of transactions, and the proxy in front of its feed."""
    base = tmp_path_factory.mktemp("proxy")
    d = start_daemon(base / "seq", "--evm-block-ms", "300", "--mini-block-ms", "20")
    try:
        workload(Web3(Web3.HTTPProvider(d.url)))
        time.sleep(0.7)  # the last transactions' block sealed, and an empty one after it
    finally:
        d.stop()
    d = start_daemon(base / "seq", "--evm-block-ms", "60000")  # a fixed chain from here on
    proxy = start_proxy(d.feed_url)
    try:
        small = base / "small-messages.toml"  # the verifiers' own limit, for the oversize edit
        small.write_text(
            DEVNET.read_text().replace("max_message_bytes = 67_108_864", "max_message_bytes = 1_048_576")
        )
        yield d, proxy, small
    finally:
        proxy.stop()
        d.kill()


def verdict_of(v: VerifierProc) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "verifier.cli", "status", "--data-dir", str(v.data_dir), "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=30,
    )
    mismatches: list[dict[str, Any]] = json.loads(out.stdout)["mismatches"]
    assert mismatches, v.log()
    return mismatches[0]


def owner_of(verdicts: dict[str, dict[str, Any]]) -> str:
    """Which shard re-executes the mini-block the unsharded verifier found the lie in."""
    number = verdicts["unsharded"]["mini_block"]
    return f"shard-{number % 2}"


@pytest.mark.parametrize("edit", sorted(EXPECTED))
def test_every_edit_in_flight_is_caught_by_every_verifier(
    chain: tuple[Daemon, ProxyProc, Path], tmp_path: Path, edit: str
) -> None:
    _d, proxy, small = chain
    config = small if edit == "oversize" else DEVNET
    modes = MODES if edit in BOTH_SHARDS else {k: v for k, v in MODES.items() if k != "shard-1"}
    verifiers = {
        name: start_verifier(proxy.feed(edit), tmp_path / name, *args, config=config)
        for name, args in modes.items()
    }
    try:
        deadline = time.monotonic() + 30
        for name, v in verifiers.items():
            while v.proc.poll() is None:
                assert time.monotonic() < deadline, f"{edit}: {name} gave no verdict\n{v.log()}"
                time.sleep(0.05)
            assert v.proc.returncode == 3, f"{edit}: {name} exited {v.proc.returncode}\n{v.log()}"
            assert "Traceback" not in v.log(), v.log()
        verdicts = {name: verdict_of(v) for name, v in verifiers.items()}
    finally:
        for v in verifiers.values():
            v.stop()
    expected = EXPECTED[edit]
    for name, verdict in verdicts.items():
        if isinstance(expected, dict):
            want = expected[OWNER] if name in ("unsharded", owner_of(verdicts)) else expected[OTHER]
        else:
            want = expected
        assert verdict["field"] == want, (edit, name, verdict)
        assert verdict["claimed"] != verdict["recomputed"]


def test_the_proxy_passes_an_honest_stream_and_verifiers_agree(
    chain: tuple[Daemon, ProxyProc, Path], tmp_path: Path
) -> None:
    d, proxy, _small = chain
    head = Web3(Web3.HTTPProvider(d.url)).eth.block_number
    verifiers = [start_verifier(proxy.feed("honest"), tmp_path / name, *args) for name, args in MODES.items()]
    try:
        deadline = time.monotonic() + 30
        for v in verifiers:
            while v.status()["height"] < head:
                assert v.proc.poll() is None and time.monotonic() < deadline, v.log()
                time.sleep(0.1)
            assert v.status()["verdict"] == "ok"
    finally:
        for v in verifiers:
            assert v.stop() == 0, v.log()
