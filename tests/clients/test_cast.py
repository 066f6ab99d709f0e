"""foundry's ``cast`` against the real daemon, as a developer uses it from a shell.

Specified: ``cast send --json`` prints a receipt whose block ``cast block`` serves at once (the
open EVM block is served by its number and as ``pending``); one key sends back to back; ``mktx``
+ ``publish``; ``receipt`` and ``tx`` agree with the send; ``call`` reports a custom error's revert
data, which ``decode-error`` decodes; ``estimate`` is enough gas for the transaction it estimates,
and ``access-list`` + ``send --access-list`` work; ``logs --to-block pending`` agrees with the
state a ``call`` reads, while ``--to-block latest`` lists sealed blocks only; ``storage``,
``code``, ``find-block``, ``age``, ``gas-price`` vs ``base-fee``; ``run`` replays a transaction
with the gas its receipt reports, and ``run --trace-printer`` prints its opcodes; ``send
--unlocked`` sends from a dev account the node holds (``eth_sendTransaction``); ``proof``
(``eth_getProof``) answers the slot ``storage`` reads and the code's hash.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from eth_account import Account

from tests.support.accounts import DEV_KEYS
from tests.support.cli import run_tool
from tests.support.contracts import load_artifact
from tests.support.daemon import Daemon
from tests.support.tools import cast_bin

PLACEHOLDER_HASH = "0x" + "ff" * 32
ZERO_HASH = "0x" + "00" * 32
UNAUTHORIZED = "0xda472023"  # bytes4(keccak256("Unauthorized(address,uint256)"))
SEAL_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Cast:
    """cast against one daemon: ``cast(*args)`` is its stdout (stripped), failing on an error."""

    binary: str
    daemon: Daemon
    env: dict[str, str]

    def __call__(self, *args: str) -> str:
        return self.run(*args).stdout.strip()

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run_tool([self.binary, *args], env=self.env, daemon=self.daemon, check=check)


@pytest.fixture(scope="module")
def cast(daemon: Daemon, tmp_path_factory: pytest.TempPathFactory) -> Cast:
    home = tmp_path_factory.mktemp("cast-home")  # foundry's caches, not the user's
    env = {**os.environ, "ETH_RPC_URL": daemon.url, "HOME": str(home), "NO_COLOR": "1"}
    env.pop("ETH_FROM", None)
    return Cast(cast_bin(), daemon, env)


def cast_json(cast: Cast, *args: str) -> Any:
    return json.loads(cast(*args, "--json"))


def wait_sealed(cast: Cast, number: int) -> None:
    """Until ``latest`` (the newest sealed EVM block) has reached ``number``."""
    deadline = time.monotonic() + SEAL_TIMEOUT_S
    while int(cast("block-number")) < number:
        assert time.monotonic() < deadline, f"block {number} not sealed within {SEAL_TIMEOUT_S}s"
        time.sleep(0.05)


def deploy(cast: Cast, name: str, key: str) -> str:
    receipt = cast_json(cast, "send", "--private-key", key, "--create", load_artifact(name)["bytecode"])
    assert receipt["status"] == "0x1", receipt
    address: str = receipt["contractAddress"]
    return address


@pytest.fixture(scope="module")
def storage(cast: Cast) -> str:
    return deploy(cast, "SimpleStorage", DEV_KEYS[0])


@pytest.fixture(scope="module")
def reverter(cast: Cast) -> str:
    return deploy(cast, "Reverter", DEV_KEYS[0])


def test_send_json_receipt_names_a_block_cast_block_serves(cast: Cast) -> None:
    recipient = Account.create().address
    receipt = cast_json(cast, "send", "--private-key", DEV_KEYS[1], recipient, "--value", "12345")
    assert receipt["status"] == "0x1" and receipt["to"] == recipient.lower(), receipt
    number = int(receipt["blockNumber"], 16)
    # At once, while the EVM block may still be open: the number names a block.
    block = cast_json(cast, "block", str(number))
    assert int(block["number"], 16) == number
    assert receipt["transactionHash"] in block["transactions"], block["transactions"]
    assert cast("balance", recipient) == "12345"
    # Once sealed, the receipt carries the block's real hash.
    wait_sealed(cast, number)
    sealed = cast_json(cast, "block", str(number))
    assert sealed["hash"] not in (PLACEHOLDER_HASH, ZERO_HASH)
    again = cast_json(cast, "receipt", receipt["transactionHash"])
    assert again["blockHash"] == sealed["hash"] and again["blockNumber"] == receipt["blockNumber"]


def test_receipt_and_tx_agree_with_the_send(cast: Cast, storage: str) -> None:
    sent = cast_json(cast, "send", "--private-key", DEV_KEYS[1], storage, "set(uint256)", "77")
    tx_hash = sent["transactionHash"]
    receipt = cast_json(cast, "receipt", tx_hash)
    for key in ("status", "blockNumber", "gasUsed", "transactionHash", "from", "to"):
        assert receipt[key] == sent[key], key
    # the same logs; the block hash may have turned from the placeholder into the real one since
    assert [{**log, "blockHash": None} for log in receipt["logs"]] == [
        {**log, "blockHash": None} for log in sent["logs"]
    ]
    assert receipt["blockHash"] in (
        sent["blockHash"],
        cast_json(cast, "block", str(int(sent["blockNumber"], 16)))["hash"],
    )
    tx = cast_json(cast, "tx", tx_hash)
    assert tx["hash"] == tx_hash and tx["blockNumber"] == sent["blockNumber"]
    assert tx["from"].lower() == Account.from_key(DEV_KEYS[1]).address.lower()
    assert tx["input"].startswith("0x60fe47b1")  # set(uint256)
    assert cast("receipt", tx_hash, "status") == "true"


def test_back_to_back_sends_from_one_key_all_land(cast: Cast) -> None:
    key = DEV_KEYS[2]
    sender = Account.from_key(key).address
    first = int(cast("nonce", sender))
    receipts = [
        cast_json(cast, "send", "--private-key", key, Account.create().address, "--value", "1")
        for _ in range(4)
    ]
    assert [r["status"] for r in receipts] == ["0x1"] * 4
    nonces = [int(cast_json(cast, "tx", r["transactionHash"])["nonce"], 16) for r in receipts]
    assert nonces == list(range(first, first + 4))
    assert int(cast("nonce", sender)) == first + 4


def test_mktx_then_publish(cast: Cast) -> None:
    recipient = Account.create().address
    raw = cast("mktx", "--private-key", DEV_KEYS[3], recipient, "--value", "999")
    assert raw.startswith("0x02"), raw  # EIP-1559 by default
    receipt = json.loads(cast("publish", raw))
    assert receipt["status"] == "0x1" and receipt["to"] == recipient.lower(), receipt
    assert cast("balance", recipient) == "999"
    legacy = cast("mktx", "--legacy", "--private-key", DEV_KEYS[3], recipient, "--value", "1")
    tx_hash = cast("publish", "--async", legacy)
    assert json.loads(cast("receipt", tx_hash, "--json"))["status"] == "0x1"
    assert cast("balance", recipient) == "1000"


def test_block_pending_is_the_open_block(cast: Cast) -> None:
    before = int(cast("block-number"))
    pending = cast_json(cast, "block", "pending")
    after = int(cast("block-number"))
    assert before + 1 <= int(pending["number"], 16) <= after + 1
    assert pending["hash"] in (None, ZERO_HASH), pending["hash"]  # no hash until sealed (cast prints zero)
    latest = cast_json(cast, "block", "latest")
    assert int(latest["number"], 16) >= before and latest["hash"] not in (None, ZERO_HASH, PLACEHOLDER_HASH)


def test_call_reports_a_custom_error_that_decode_error_decodes(cast: Cast, reverter: str) -> None:
    caller = Account.from_key(DEV_KEYS[4]).address
    assert cast("call", reverter, "ok()(uint256)") != ""
    failed = cast.run("call", "--from", caller, reverter, "failCustom(uint256)", "7", check=False)
    assert failed.returncode != 0
    assert "execution reverted" in failed.stderr, failed.stderr
    data = failed.stderr.split('data: "', 1)[1].split('"', 1)[0]
    assert data.startswith(UNAUTHORIZED), failed.stderr
    decoded = cast("decode-error", "--sig", "Unauthorized(address,uint256)", data).splitlines()
    assert decoded == [caller, "7"], decoded


def test_estimate_is_enough_for_the_transaction(cast: Cast, storage: str) -> None:
    key = DEV_KEYS[5]
    sender = Account.from_key(key).address
    estimate = int(cast("estimate", "--from", sender, storage, "setSlot(uint256,uint256)", "11", "5"))
    assert estimate > 21_000 + 20_000  # a fresh slot costs a 20k SSTORE
    receipt = cast_json(
        cast,
        "send",
        "--private-key",
        key,
        "--gas-limit",
        str(estimate),
        storage,
        "setSlot(uint256,uint256)",
        "11",
        "5",
    )
    assert receipt["status"] == "0x1" and int(receipt["gasUsed"], 16) <= estimate, receipt
    assert int(cast("call", storage, "slots(uint256)(uint256)", "11")) == 5


def test_access_list_then_send_with_it(cast: Cast, storage: str) -> None:
    key = DEV_KEYS[5]
    sender = Account.from_key(key).address
    created = cast_json(cast, "access-list", "--from", sender, storage, "set(uint256)", "31")
    entries = {e["address"].lower(): e["storageKeys"] for e in created["accessList"]}
    assert entries == {storage.lower(): [ZERO_HASH]}, created  # `value` lives in slot 0
    receipt = cast_json(cast, "send", "--private-key", key, storage, "set(uint256)", "31", "--access-list")
    assert receipt["status"] == "0x1", receipt
    tx = cast_json(cast, "tx", receipt["transactionHash"])
    assert [a["address"].lower() for a in tx["accessList"]] == [storage.lower()]
    assert int(created["gasUsed"], 16) >= int(receipt["gasUsed"], 16) - 2_900  # the slot was warm here


def test_logs_to_pending_agree_with_the_state(cast: Cast) -> None:
    """The issue's symptom: state said 5 while ``logs --to-block pending`` listed 3 of 5 events."""
    address = deploy(cast, "SimpleStorage", DEV_KEYS[6])
    for v in range(1, 6):
        cast("send", "--private-key", DEV_KEYS[6], address, "set(uint256)", str(v), "--json")
    value = int(cast("call", address, "value()(uint256)"))
    logs = cast_json(cast, "logs", "--from-block", "0", "--to-block", "pending", "--address", address)
    assert value == 5
    assert [int(log["data"], 16) for log in logs] == [1, 2, 3, 4, 5], logs


def test_logs_to_latest_list_sealed_blocks_only(cast: Cast) -> None:
    address = deploy(cast, "SimpleStorage", DEV_KEYS[7])
    last = cast_json(cast, "send", "--private-key", DEV_KEYS[7], address, "set(uint256)", "8")
    logs = cast_json(cast, "logs", "--from-block", "0", "--to-block", "latest", "--address", address)
    sealed_then = int(cast("block-number"))
    for log in logs:
        assert log["blockHash"] not in (None, PLACEHOLDER_HASH) and int(log["blockNumber"], 16) <= sealed_then
    wait_sealed(cast, int(last["blockNumber"], 16))
    logs = cast_json(cast, "logs", "--from-block", "0", "--to-block", "latest", "--address", address)
    assert [log["transactionHash"] for log in logs] == [last["transactionHash"]]
    sealed = cast_json(cast, "block", str(int(last["blockNumber"], 16)))
    assert logs[0]["blockHash"] == sealed["hash"]


def test_storage_and_code(cast: Cast, storage: str) -> None:
    cast("send", "--private-key", DEV_KEYS[8], storage, "set(uint256)", "4242", "--json")
    assert int(cast("storage", storage, "0"), 16) == 4242
    assert int(cast("storage", storage, "0", "--block", "pending"), 16) == 4242
    assert cast("code", storage) == load_artifact("SimpleStorage")["deployedBytecode"]
    assert cast("codesize", storage) == str(
        (len(load_artifact("SimpleStorage")["deployedBytecode"]) - 2) // 2
    )
    assert cast("code", Account.create().address) == "0x"


def test_find_block_and_age(cast: Cast) -> None:
    latest = int(cast("block-number"))
    target = max(1, latest - 2)
    timestamp = int(cast("block", str(target), "-f", "timestamp"))
    assert int(cast("find-block", str(timestamp))) == target  # each EVM block has its own second
    age = datetime.strptime(" ".join(cast("age", str(target)).split()), "%a %b %d %H:%M:%S %Y %Z")
    assert age.replace(tzinfo=UTC) == datetime.fromtimestamp(timestamp, UTC)
    assert int(cast("block", "0", "-f", "timestamp")) <= timestamp


def test_gas_price_covers_the_base_fee(cast: Cast) -> None:
    gas_price = int(cast("gas-price"))
    assert gas_price >= int(cast("base-fee"))
    assert gas_price >= int(cast("base-fee", "pending"))


def test_run_replays_a_transaction_with_its_gas(cast: Cast, storage: str) -> None:
    sent = cast_json(
        cast, "send", "--private-key", DEV_KEYS[9], storage, "setSlot(uint256,uint256)", "3", "9"
    )
    out = cast("run", sent["transactionHash"])
    assert "Transaction successfully executed." in out, out
    gas = int(out.rsplit("Gas used:", 1)[1].split()[0])
    assert gas == int(sent["gasUsed"], 16), out


def test_run_trace_printer_prints_the_opcodes_of_a_transaction(cast: Cast, storage: str) -> None:
    sent = cast_json(
        cast, "send", "--private-key", DEV_KEYS[9], storage, "setSlot(uint256,uint256)", "4", "16"
    )
    out = cast("run", "--trace-printer", sent["transactionHash"])
    assert "SSTORE" in out and "Transaction successfully executed." in out, out


def test_send_unlocked_sends_from_a_dev_account_the_node_holds(cast: Cast) -> None:
    sender = Account.from_key(DEV_KEYS[8]).address
    to = Account.create().address
    receipt = cast_json(cast, "send", "--unlocked", "--from", sender, to, "--value", "1234")
    assert receipt["status"] == "0x1" and receipt["from"].lower() == sender.lower(), receipt
    assert int(cast("balance", to)) == 1234


def test_proof_answers_the_account_and_the_slot_cast_storage_reads(cast: Cast, storage: str) -> None:
    sent = cast_json(
        cast, "send", "--private-key", DEV_KEYS[9], storage, "setSlot(uint256,uint256)", "5", "25"
    )
    slot = cast("index", "uint256", "5", "1")  # slots[5]: keccak256(abi.encode(5, 1))
    pending = json.loads(cast("proof", "--block", "pending", storage, slot))
    assert int(pending["storageProof"][0]["value"], 16) == 25, pending
    wait_sealed(cast, int(sent["blockNumber"], 16))
    proof = json.loads(cast("proof", storage, slot))
    assert proof["address"].lower() == storage.lower() and proof["accountProof"], proof
    (proven,) = proof["storageProof"]
    assert int(proven["value"], 16) == 25 == int(cast("storage", storage, slot), 16)
    assert proof["codeHash"] == cast("keccak", cast("code", storage))
