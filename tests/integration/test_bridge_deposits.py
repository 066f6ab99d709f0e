"""Deposits end to end, on a real L1 (anvil) and a real sequencer with ``--l1``.

* ``sequencer bridge deposit`` of 1 ETH from an L1 account: the deposit is on L2 within a few
  L1 blocks (the recipient's balance rises by exactly 1 ETH, the receipt is type 0x7e), ``bridge
  status`` of the L1 transaction says so, and the derivation verifier derives the same block.
* A deposit that calls a contract executes on L2 (the contract sees the depositor and the data).
* A streaming verifier following the sequencer's feed re-executes those deposits with its own
  rules and agrees with every block (verdict ok at the sequencer's head).
* The deposit path survives ``kill -9`` of the sequencer with deposits in flight (between seen
  and included, and right after inclusion): after a restart each deposit is on L2 exactly once.
* A sequencer that skips a deposit (``--dev-fault deposit-skip``) is flagged by the derivation
  verifier, naming the deposit's L1 transaction and log index.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from eth_account import Account
from eth_typing import ChecksumAddress
from hexbytes import HexBytes
from web3 import Web3

from sequencer.bridge.deposits import DepositEvent, deposit_tx
from sequencer.cli.bridge_deposits import deposits_of_receipt
from sequencer.settlement.contracts import OPTIMISM_PORTAL, abi
from sequencer.settlement.settings import load_settlement
from tests.support.accounts import DEV_KEYS
from tests.support.anvil import Anvil, start_anvil
from tests.support.cli import run_tool
from tests.support.contracts import load_artifact
from tests.support.daemon import Daemon, start_daemon
from tests.support.rpc import request
from tests.support.settlement import CHAIN_ID, GWEI, deploy_settlement, start_deriver, wait_until
from tests.support.verifier import VerifierProc, start_verifier

ETH = 10**18
DEPOSITOR = Account.from_key(DEV_KEYS[5])
EXIT_MISMATCH = 3
OUTPUT_INTERVAL = 4  # deploy_settlement's default


@pytest.fixture(scope="module")
def anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Anvil]:
    node = start_anvil(tmp_path_factory.mktemp("anvil"), block_time=1, slots_in_an_epoch=2)
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="module")
def l1_file(anvil: Anvil, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return deploy_settlement(anvil, tmp_path_factory.mktemp("settle") / "l1.toml")


@pytest.fixture(scope="module")
def node(l1_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    d = start_daemon(
        tmp_path_factory.mktemp("seq") / "data",
        "--l1",
        str(l1_file),
        "--evm-block-ms",
        "250",
        "--metrics-port",
        "0",
    )
    try:
        yield d
    finally:
        try:
            d.stop()
        finally:
            d.kill()


@pytest.fixture(scope="module")
def deriver(l1_file: Path, node: Daemon, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VerifierProc]:
    proc = start_deriver(l1_file, tmp_path_factory.mktemp("derive") / "data")
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def follower(node: Daemon, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VerifierProc]:
    proc = start_verifier(node.feed_url, tmp_path_factory.mktemp("follow") / "data")
    try:
        yield proc
    finally:
        proc.stop()


def l2(d: Daemon) -> Web3:
    return Web3(Web3.HTTPProvider(d.url, request_kwargs={"timeout": 10}))


def cli(*args: str, check: bool = True) -> Any:
    return run_tool([sys.executable, "-m", "sequencer.cli", "bridge", *args], timeout=150, check=check)


def portal_deposit(anvil: Anvil, l1_file: Path, to: str, wei: int, nonce: int | None = None) -> bytes:
    """A deposit sent to the portal with web3.py (not waited for): its L1 transaction hash."""
    w3 = anvil.w3()
    portal_address = load_settlement(l1_file).contracts.portal
    assert portal_address is not None
    portal = w3.eth.contract(address=Web3.to_checksum_address(portal_address), abi=abi(OPTIMISM_PORTAL))
    params: Any = {
        "from": DEPOSITOR.address,
        "value": wei,
        "gas": 200_000,
        "nonce": nonce if nonce is not None else w3.eth.get_transaction_count(DEPOSITOR.address, "pending"),
        "chainId": w3.eth.chain_id,
    }
    tx = portal.functions.depositTransaction(to, wei, 100_000, False, b"").build_transaction(params)
    return bytes(w3.eth.send_raw_transaction(DEPOSITOR.sign_transaction(tx).raw_transaction))


def checked_past(deriver: VerifierProc, number: int) -> dict[str, Any] | None:
    """The derivation verifier's status once it has checked an output root at or after L2 block ``number``."""
    status = deriver.status()
    return status if status["outputsChecked"] * OUTPUT_INTERVAL >= number else None


def deploy_on_l2(w3: Web3, bytecode: str) -> ChecksumAddress:
    """Deploy a contract (no constructor arguments) from dev account #0; its checksummed address."""
    deployer = Account.from_key(DEV_KEYS[0])
    create = {
        "chainId": CHAIN_ID,
        "nonce": w3.eth.get_transaction_count(deployer.address),
        "gas": 1_000_000,
        "maxFeePerGas": 10 * GWEI,
        "maxPriorityFeePerGas": 0,
        "type": 2,
        "value": 0,
        "data": bytecode,
    }
    raw = "0x" + bytes(deployer.sign_transaction(create).raw_transaction).hex()
    created = request(w3, "eth_sendRawTransactionSync", [raw])["result"]
    return Web3.to_checksum_address(created["contractAddress"])


def tx_hashes(w3: Web3, number: int) -> list[str]:
    """An L2 block's transaction hashes (0x-hex), as ``eth_getBlockByNumber`` lists them."""
    hashes: list[str] = request(w3, "eth_getBlockByNumber", [hex(number), False])["result"]["transactions"]
    return hashes


def deposits_of(anvil: Anvil, l1_file: Path, l1_tx: bytes) -> list[DepositEvent]:
    portal = load_settlement(l1_file).contracts.portal
    assert portal is not None
    receipt = anvil.w3().eth.wait_for_transaction_receipt(HexBytes(l1_tx), timeout=30, poll_latency=0.2)
    return deposits_of_receipt(receipt, portal)


def test_a_1_eth_deposit_reaches_l2_and_the_derived_chain(
    anvil: Anvil, l1_file: Path, node: Daemon, deriver: VerifierProc
) -> None:
    recipient = Account.create().address
    done = cli(
        "deposit", "--l1", str(l1_file), "--amount", "1", "--to", recipient,
        "--key", DEV_KEYS[5], "--rpc", node.url, "--json",
    )  # fmt: skip
    result = json.loads(done.stdout)
    (deposit,) = result["deposits"]
    assert deposit["mint"] == str(ETH) and deposit["to"] == recipient
    assert deposit["l2"]["status"] == "included" and deposit["l2"]["receiptStatus"] == 1
    w3 = l2(node)
    assert w3.eth.get_balance(recipient) == ETH
    receipt = request(w3, "eth_getTransactionReceipt", [deposit["l2Tx"]])["result"]
    assert receipt["type"] == "0x7e" and receipt["status"] == "0x1"
    l1_block = anvil.w3().eth.get_block(result["l1Block"])
    l2_block = w3.eth.get_block(int(receipt["blockNumber"], 16))
    assert tx_hashes(w3, int(receipt["blockNumber"], 16))[0] == deposit["l2Tx"]  # deposits open their block
    assert int(l2_block["timestamp"]) >= int(l1_block["timestamp"])
    following = request(w3, "sequencer_status", [])["result"]["settlement"]["deposits"]
    assert following["pending"] == 0 and following["portal"] == result["portal"]
    m = re.search(r"operator endpoints.* metrics=(http://\S+)", node.log())
    assert m, node.log()
    metrics = requests.get(m.group(1) + "/metrics", timeout=5).text
    assert re.search(r"^settlement_deposits_included_total [1-9]", metrics, re.M), metrics
    status = json.loads(
        cli("status", result["l1Tx"], "--l1", str(l1_file), "--rpc", node.url, "--json").stdout
    )
    assert status["deposits"][0]["l2"]["blockNumber"] == int(receipt["blockNumber"], 16)
    # the derivation verifier derives the block with the deposit from L1 alone, and the first
    # output root at or after it (which commits to that chain's block hash) matches
    number = int(receipt["blockNumber"], 16)
    derived = wait_until(
        lambda: checked_past(deriver, number),
        90,
        f"derivation to check an output at or after L2 block {number}",
    )
    assert derived["verdict"] == "ok", derived
    shown = run_tool(
        [sys.executable, "-m", "verifier.cli", "status", "--data-dir", str(deriver.data_dir), "--json"]
    )
    assert json.loads(shown.stdout)["verdict"] == "ok"
    assert derived["height"] >= number


def test_a_deposit_that_calls_a_contract_executes_on_l2(anvil: Anvil, l1_file: Path, node: Daemon) -> None:
    w3 = l2(node)
    art = load_artifact("Forwarder")
    target = deploy_on_l2(w3, art["bytecode"])
    done = cli(
        "deposit", "--l1", str(l1_file), "--amount", "0.5", "--to", target, "--data", "0xc0ffee",
        "--key", DEV_KEYS[5], "--rpc", node.url, "--json",
    )  # fmt: skip
    (deposit,) = json.loads(done.stdout)["deposits"]
    receipt = request(w3, "eth_getTransactionReceipt", [deposit["l2Tx"]])["result"]
    assert receipt["status"] == "0x1" and receipt["type"] == "0x7e"
    forwarder = w3.eth.contract(address=target, abi=art["abi"])
    (event,) = forwarder.events.Received().process_receipt(w3.eth.get_transaction_receipt(deposit["l2Tx"]))
    assert event["args"]["from"] == DEPOSITOR.address  # an EOA's deposit: not aliased
    assert event["args"]["value"] == ETH // 2 and event["args"]["data"] == bytes.fromhex("c0ffee")
    assert w3.eth.get_balance(target) == ETH // 2


def test_a_deposit_to_a_reverting_contract_is_included_failed_and_keeps_its_mint(
    l1_file: Path, node: Daemon
) -> None:
    w3 = l2(node)
    art = load_artifact("Reverter")
    target = deploy_on_l2(w3, art["bytecode"])
    calldata = w3.eth.contract(address=target, abi=art["abi"]).encode_abi("failRequire", [])
    before = w3.eth.get_balance(DEPOSITOR.address)
    done = cli(
        "deposit", "--l1", str(l1_file), "--amount", "0.25", "--to", target, "--data", calldata,
        "--key", DEV_KEYS[5], "--rpc", node.url, "--json",
    )  # fmt: skip
    (deposit,) = json.loads(done.stdout)["deposits"]
    receipt = request(w3, "eth_getTransactionReceipt", [deposit["l2Tx"]])["result"]
    assert receipt["type"] == "0x7e" and receipt["status"] == "0x0", receipt
    assert w3.eth.get_balance(target) == 0, "a failed deposit moves no value"
    assert w3.eth.get_balance(DEPOSITOR.address) == before + ETH // 4, "the mint stays with the sender"


def test_a_streaming_verifier_re_executes_the_deposits_and_agrees(
    anvil: Anvil, l1_file: Path, node: Daemon, follower: VerifierProc
) -> None:
    w3 = l2(node)
    recipient = Account.create().address
    portal_deposit(anvil, l1_file, recipient, ETH // 10)
    wait_until(lambda: w3.eth.get_balance(recipient) == ETH // 10, 60, "the deposit on L2")
    deposit_blocks = [
        n
        for n in range(w3.eth.block_number + 1)
        if any(
            tx["type"] == "0x7e"
            for tx in request(w3, "eth_getBlockByNumber", [hex(n), True])["result"]["transactions"]
        )
    ]
    assert deposit_blocks, "deposits are on L2"
    head = w3.eth.get_block("latest")

    def verified() -> dict[str, Any] | None:
        status = follower.status()
        assert status["verdict"] == "ok", f"{status}\n{follower.log()}"
        return status if status["height"] >= head["number"] else None

    status = wait_until(verified, 60, f"the streaming verifier to verify block {head['number']}")
    assert status["verdict"] == "ok"
    assert follower.proc.poll() is None


def test_the_cli_refuses_bad_deposits_with_clear_errors(l1_file: Path, node: Daemon) -> None:
    small = cli(
        "deposit",
        "--l1",
        str(l1_file),
        "--amount",
        "1",
        "--gas-limit",
        "100",
        "--key",
        DEV_KEYS[5],
        check=False,
    )
    assert small.returncode == 1 and "SmallGasLimit" in small.stderr and "--gas-limit" in small.stderr
    amount = cli("deposit", "--l1", str(l1_file), "--amount", "lots", check=False)
    assert amount.returncode == 2 and "--amount" in amount.stderr
    unknown = cli("status", "0x" + "00" * 32, "--l1", str(l1_file), "--rpc", node.url, check=False)
    assert unknown.returncode == 1 and "neither a deposit on L1 nor a withdrawal" in unknown.stderr


@pytest.mark.parametrize("moment", ["deposit seen", "deposit included"])
def test_deposits_in_flight_survive_kill_9_exactly_once(anvil: Anvil, tmp_path: Path, moment: str) -> None:
    l1_file = deploy_settlement(anvil, tmp_path / "l1.toml")  # its own chain: its own batcher nonces
    data = tmp_path / "seq"
    d = start_daemon(data, "--l1", str(l1_file), "--evm-block-ms", "250")
    try:
        recipient = Account.create().address
        nonce = anvil.w3().eth.get_transaction_count(DEPOSITOR.address, "pending")
        sent = [portal_deposit(anvil, l1_file, recipient, (i + 1) * GWEI, nonce + i) for i in range(3)]
        hashes = ["0x" + deposit_tx(e).hash.hex() for tx in sent for e in deposits_of(anvil, l1_file, tx)]
        wait_until(lambda: moment in d.log(), 60, f"the sequencer's log to say {moment!r}", interval=0.02)
        d.kill()  # SIGKILL
        d = start_daemon(data, "--l1", str(l1_file), "--evm-block-ms", "250")
        w3 = l2(d)
        wait_until(
            lambda: all(request(w3, "eth_getTransactionReceipt", [h])["result"] for h in hashes),
            90,
            "every deposit on L2 after the restart",
        )
        assert w3.eth.get_balance(recipient) == 6 * GWEI  # 1 + 2 + 3 gwei: none lost, none twice
        last = max(
            int(request(w3, "eth_getTransactionReceipt", [h])["result"]["blockNumber"], 16) for h in hashes
        )
        wait_until(lambda: int(w3.eth.block_number) >= last, 30, f"L2 block {last} sealed")
        seen = [t for n in range(1, last + 1) for t in tx_hashes(w3, n) if t in hashes]
        assert sorted(seen) == sorted(hashes)  # each exactly once in the chain
    finally:
        d.kill()


def test_a_skipped_deposit_is_flagged_naming_its_l1_tx_and_log_index(
    anvil: Anvil, l1_file: Path, tmp_path: Path
) -> None:
    # a second chain on the same L1 would share the portal: deploy its own settlement
    path = deploy_settlement(anvil, tmp_path / "l1.toml")
    first_block = int(anvil.w3().eth.block_number)
    d = start_daemon(
        tmp_path / "seq",
        "--l1",
        str(path),
        "--evm-block-ms",
        "250",
        "--dev-fault",
        f"deposit-skip@{first_block}",
    )
    deriver = start_deriver(path, tmp_path / "derive")
    try:
        recipient = Account.create().address
        skipped_tx = portal_deposit(anvil, path, recipient, GWEI)
        (skipped,) = deposits_of(anvil, path, skipped_tx)
        later_tx = portal_deposit(anvil, path, recipient, 2 * GWEI)
        (later,) = deposits_of(anvil, path, later_tx)
        wait_until(lambda: re.search(r"dev fault deposit-skip", d.log()), 60, "the drill to fire")
        assert deriver.proc.wait(120) == EXIT_MISMATCH, deriver.log()
        shown = run_tool(
            [
                sys.executable,
                "-m",
                "verifier.cli",
                "status",
                "--data-dir",
                str(tmp_path / "derive"),
                "--json",
            ],
            check=False,
        )
        (verdict,) = json.loads(shown.stdout)["mismatches"]
        assert verdict["field"] == "deposit.skipped"
        assert (
            verdict["l1_tx"] == "0x" + skipped.l1_tx_hash.hex() and verdict["log_index"] == skipped.log_index
        )
        assert verdict["l1_block"] == skipped.l1_block_number
        # the later deposit was included, the skipped one never
        w3 = l2(d)
        assert request(w3, "eth_getTransactionReceipt", ["0x" + deposit_tx(later).hash.hex()])["result"]
        assert (
            request(w3, "eth_getTransactionReceipt", ["0x" + deposit_tx(skipped).hash.hex()])["result"]
            is None
        )
    finally:
        deriver.stop()
        d.kill()
