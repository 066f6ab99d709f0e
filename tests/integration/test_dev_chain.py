"""Dev-chain controls, dev accounts, ``eth_simulateV1`` and ``eth_getProof`` against the real
daemon; and what a chain that is not a devnet answers instead.

Specified, on a devnet: ``evm_mine`` / ``anvil_mine`` / ``hardhat_mine`` seal now (N blocks);
``evm_increaseTime`` and ``evm_setNextBlockTimestamp`` move the next block's timestamp (one in the
past is refused); ``evm_snapshot`` / ``evm_revert`` roll state and block number back, and a
snapshot id is used once; ``anvil_setBalance`` / ``setCode`` / ``setNonce`` / ``setStorageAt`` (and
their ``hardhat_`` aliases) edit state the reads see at once; ``anvil_impersonateAccount`` lets
``eth_sendTransaction`` send for an account without a key until
``anvil_stopImpersonatingAccount``. ``eth_accounts`` lists the ten dev accounts;
``eth_sendTransaction`` fills and signs for them; ``eth_sign`` / ``personal_sign`` (EIP-191) and
``eth_signTypedData_v4`` (EIP-712) sign as eth-account does. ``eth_simulateV1`` and
``eth_getProof`` answer execution-apis' schemas, and the proof verifies against the block's state
root.

On a chain that is not a devnet: every dev-chain control and dev-account method answers -32601
naming ``chain.devnet``; ``eth_accounts`` is empty; the ``debug_*`` traces are not on the public
port, only on the admin port.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import rlp
from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from trie.hexary import HexaryTrie
from web3 import Web3

from tests.support.accounts import DEV_KEYS
from tests.support.daemon import Daemon, start_daemon, write_config
from tests.support.openrpc import load_spec
from tests.support.rpc import request

ADMIN_TOKEN = "dev-chain-test-admin-token-0123456789"
DEV_ADDRESSES = [Account.from_key(k).address for k in DEV_KEYS]
STRANGER = "0x000000000000000000000000000000000000bEEF"
DEV_CONTROLS: list[tuple[str, list[Any]]] = [
    ("evm_mine", []),
    ("anvil_mine", ["0x1"]),
    ("hardhat_mine", ["0x1"]),
    ("evm_increaseTime", [10]),
    ("evm_setNextBlockTimestamp", [4_000_000_000]),
    ("evm_snapshot", []),
    ("evm_revert", ["0x1"]),
    ("anvil_setBalance", [STRANGER, "0x1"]),
    ("anvil_setCode", [STRANGER, "0x00"]),
    ("anvil_setNonce", [STRANGER, "0x1"]),
    ("anvil_setStorageAt", [STRANGER, "0x0", "0x" + "00" * 32]),
    ("hardhat_setBalance", [STRANGER, "0x1"]),
    ("anvil_impersonateAccount", [STRANGER]),
    ("anvil_stopImpersonatingAccount", [STRANGER]),
    ("eth_sendTransaction", [{"from": DEV_ADDRESSES[0], "to": STRANGER, "value": "0x1"}]),
    ("eth_sign", [DEV_ADDRESSES[0], "0x1234"]),
    ("personal_sign", ["0x1234", DEV_ADDRESSES[0]]),
]
TYPED_DATA: dict[str, Any] = {
    "types": {
        "EIP712Domain": [
            {"name": "name", "type": "string"},
            {"name": "chainId", "type": "uint256"},
        ],
        "Mail": [{"name": "to", "type": "address"}, {"name": "contents", "type": "string"}],
    },
    "primaryType": "Mail",
    "domain": {"name": "megapy", "chainId": 1337},
    "message": {"to": STRANGER, "contents": "hello"},
}


def daemon_at(base: Path, *extra: str, config: Path | None = None) -> Iterator[Daemon]:
    d = start_daemon(base / "data", *extra, **({"config": config} if config else {}))
    try:
        yield d
        assert d.stop() == 0, d.log()
    finally:
        d.kill()


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    # long EVM blocks: only the dev controls seal, so block numbers are exact
    yield from daemon_at(tmp_path_factory.mktemp("devnet"), "--evm-block-ms", "60000")


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    base = tmp_path_factory.mktemp("production")
    config = write_config(base / "chain.toml", devnet="false")
    key_file = base / "sequencer.key"  # the devnet's well-known key, as a production config holds one
    key_file.write_text(re.search(r'keys = \["(0x[0-9a-f]+)"\]', config.read_text()).group(1))  # type: ignore[union-attr]
    key_file.chmod(0o600)
    config.write_text(re.sub(r"(?m)^keys = \[.*\]", f'key_files = ["{key_file}"]', config.read_text()))
    yield from daemon_at(
        base, "--evm-block-ms", "250", "--admin-port", "0", "--admin-token", ADMIN_TOKEN, config=config
    )


@pytest.fixture(scope="module")
def w3(devnet: Daemon) -> Web3:
    return Web3(Web3.HTTPProvider(devnet.url, request_kwargs={"timeout": 30}))


def call(w3: Web3, method: str, *params: Any) -> Any:
    answer = request(w3, method, list(params))
    assert "result" in answer, (method, answer)
    return answer["result"]


def refused(w3: Web3, method: str, *params: Any) -> dict[str, Any]:
    answer = request(w3, method, list(params))
    assert "error" in answer, (method, answer)
    error: dict[str, Any] = answer["error"]
    return error


def latest(w3: Web3) -> Any:
    return w3.eth.get_block("latest")


# -- mining and time ---------------------------------------------------------------------------


def test_evm_mine_and_its_aliases_seal_the_number_of_blocks_asked_for(w3: Web3) -> None:
    start = w3.eth.block_number
    assert call(w3, "evm_mine") == "0x0"
    assert w3.eth.block_number == start + 1
    call(w3, "anvil_mine", "0x3")
    assert w3.eth.block_number == start + 4
    call(w3, "hardhat_mine", 2)
    assert w3.eth.block_number == start + 6
    call(w3, "evm_mine", {"blocks": 2})
    assert w3.eth.block_number == start + 8


def test_increase_time_and_set_next_block_timestamp_move_block_time(w3: Web3) -> None:
    call(w3, "evm_mine")
    before = latest(w3)["timestamp"]
    call(w3, "evm_increaseTime", 3600)
    call(w3, "evm_mine")
    assert latest(w3)["timestamp"] >= before + 3600
    target = latest(w3)["timestamp"] + 10_000
    call(w3, "evm_setNextBlockTimestamp", target)
    call(w3, "evm_mine")
    assert latest(w3)["timestamp"] == target
    error = refused(w3, "evm_setNextBlockTimestamp", target - 100)
    assert error["code"] == -32000 and "timestamp" in error["message"], error


# -- snapshots ---------------------------------------------------------------------------------


def test_snapshot_and_revert_roll_state_and_blocks_back_once(w3: Web3) -> None:
    call(w3, "evm_mine")
    snapshot = call(w3, "evm_snapshot")
    head = w3.eth.block_number
    someone = Account.create().address
    tx_hash = call(w3, "eth_sendTransaction", {"from": DEV_ADDRESSES[1], "to": someone, "value": hex(10**15)})
    w3.eth.wait_for_transaction_receipt(HexBytes(tx_hash), timeout=20)
    call(w3, "evm_mine")
    assert w3.eth.get_balance(someone) == 10**15 and w3.eth.block_number == head + 1
    assert call(w3, "evm_revert", snapshot) is True
    assert w3.eth.get_balance(someone) == 0
    assert w3.eth.block_number == head
    assert call(w3, "eth_getTransactionReceipt", tx_hash) is None
    assert call(w3, "evm_revert", snapshot) is False  # a snapshot is used once


# -- state edits --------------------------------------------------------------------------------


def test_state_edits_are_read_back_at_once(w3: Web3) -> None:
    account = Account.create().address
    assert call(w3, "anvil_setBalance", account, hex(123)) is None
    assert w3.eth.get_balance(account) == 123
    assert call(w3, "hardhat_setBalance", account, hex(456)) is True
    assert w3.eth.get_balance(account) == 456
    call(w3, "anvil_setCode", account, "0x6001600055")
    assert w3.eth.get_code(account) == HexBytes("0x6001600055")
    call(w3, "anvil_setNonce", account, hex(9))
    assert w3.eth.get_transaction_count(account) == 9
    call(w3, "anvil_setStorageAt", account, "0x5", "0x" + f"{77:064x}")
    assert int.from_bytes(w3.eth.get_storage_at(account, 5), "big") == 77


def test_impersonation_sends_for_an_account_without_a_key_until_stopped(w3: Web3) -> None:
    ghost = Account.create().address
    call(w3, "anvil_setBalance", ghost, hex(10**18))
    call(w3, "anvil_impersonateAccount", ghost)
    to = Account.create().address
    tx_hash = call(w3, "eth_sendTransaction", {"from": ghost, "to": to, "value": hex(5)})
    receipt = w3.eth.wait_for_transaction_receipt(HexBytes(tx_hash), timeout=20)
    assert receipt["status"] == 1 and receipt["from"] == ghost
    assert w3.eth.get_balance(to) == 5
    call(w3, "anvil_stopImpersonatingAccount", ghost)
    error = refused(w3, "eth_sendTransaction", {"from": ghost, "to": to, "value": hex(5)})
    assert error["code"] == -32000 and ghost.lower() in error["message"].lower(), error


# -- dev accounts -------------------------------------------------------------------------------


def test_eth_accounts_lists_the_ten_dev_accounts(w3: Web3) -> None:
    assert [Web3.to_checksum_address(a) for a in call(w3, "eth_accounts")] == DEV_ADDRESSES


def test_eth_send_transaction_fills_and_signs_for_a_dev_account(w3: Web3) -> None:
    to = Account.create().address
    tx_hash = call(w3, "eth_sendTransaction", {"from": DEV_ADDRESSES[2], "to": to, "value": hex(7)})
    receipt = w3.eth.wait_for_transaction_receipt(HexBytes(tx_hash), timeout=20)
    tx = w3.eth.get_transaction(HexBytes(tx_hash))
    assert receipt["status"] == 1 and tx["from"] == DEV_ADDRESSES[2] and tx["type"] == 2
    assert tx["chainId"] == 1337 and tx["gas"] >= 21_000


def test_eth_sign_personal_sign_and_typed_data_sign_as_eth_account_does(w3: Web3) -> None:
    key = DEV_KEYS[3]
    message = encode_defunct(primitive=b"\x12\x34")
    expected = Account.sign_message(message, key).signature.to_0x_hex()
    assert call(w3, "eth_sign", DEV_ADDRESSES[3], "0x1234") == expected
    assert call(w3, "personal_sign", "0x1234", DEV_ADDRESSES[3]) == expected
    typed = call(w3, "eth_signTypedData_v4", DEV_ADDRESSES[3], TYPED_DATA)
    assert (
        typed == Account.sign_message(encode_typed_data(full_message=TYPED_DATA), key).signature.to_0x_hex()
    )
    error = refused(w3, "eth_sign", STRANGER, "0x1234")
    assert error["code"] == -32000, error


# -- simulation and proofs ----------------------------------------------------------------------


def test_simulate_v1_answers_the_execution_apis_schema_with_transfers_traced(w3: Web3) -> None:
    someone = Account.create().address
    result = call(
        w3,
        "eth_simulateV1",
        {
            "blockStateCalls": [
                {
                    "stateOverrides": {someone: {"balance": hex(10**18)}},
                    "calls": [{"from": someone, "to": STRANGER, "value": hex(1000)}],
                },
                {"blockOverrides": {"baseFeePerGas": "0x0"}, "calls": [{"from": STRANGER, "to": someone}]},
            ],
            "traceTransfers": True,
            "validation": False,
        },
        "latest",
    )
    load_spec().validate_result("eth_simulateV1", result)
    first, second = result
    assert int(second["number"], 16) == int(first["number"], 16) + 1
    (transfer,) = first["calls"]
    assert transfer["status"] == "0x1"
    (log,) = transfer["logs"]  # traceTransfers: the ETH transfer as an ERC-20-like log
    assert log["address"] == "0xeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
    assert int(log["data"], 16) == 1000


def test_simulate_v1_validation_refuses_a_call_that_breaks_a_rule(w3: Web3) -> None:
    poor = Account.create().address
    error = refused(
        w3,
        "eth_simulateV1",
        {
            "blockStateCalls": [
                {"calls": [{"from": poor, "to": STRANGER, "value": hex(10**18), "maxFeePerGas": hex(10**12)}]}
            ],
            "validation": True,
        },
        "latest",
    )
    assert error["code"] == -38014, error  # insufficient funds (execution-apis)


def test_get_proof_answers_the_schema_and_verifies_against_the_state_root(w3: Web3) -> None:
    account = Account.create().address
    call(w3, "anvil_setBalance", account, hex(31337))
    call(w3, "anvil_setCode", account, "0x00")
    call(w3, "anvil_setStorageAt", account, "0x2", "0x" + f"{5:064x}")
    call(w3, "evm_mine")
    block = latest(w3)
    proof = call(w3, "eth_getProof", account, ["0x2"], hex(block["number"]))
    load_spec().validate_result("eth_getProof", proof)
    assert int(proof["balance"], 16) == 31337
    nodes = [rlp.decode(bytes(HexBytes(n))) for n in proof["accountProof"]]
    leaf = HexaryTrie.get_from_proof(bytes(block["stateRoot"]), keccak(HexBytes(account)), nodes)
    assert leaf, "the account proof must prove the account's leaf"
    (slot,) = proof["storageProof"]
    assert int(slot["value"], 16) == 5
    storage_nodes = [rlp.decode(bytes(HexBytes(n))) for n in slot["proof"]]
    value = HexaryTrie.get_from_proof(
        bytes(HexBytes(proof["storageHash"])), keccak((2).to_bytes(32, "big")), storage_nodes
    )
    assert value == b"\x05"  # rlp(5)


def _proven(proof: dict[str, Any], state_root: bytes, address: str, slot: int) -> tuple[bytes, bytes]:
    """The account leaf and the slot's value that ``proof`` proves against ``state_root``."""
    nodes = [rlp.decode(bytes(HexBytes(n))) for n in proof["accountProof"]]
    leaf = HexaryTrie.get_from_proof(state_root, keccak(HexBytes(address)), nodes)
    (entry,) = proof["storageProof"]
    storage_nodes = [rlp.decode(bytes(HexBytes(n))) for n in entry["proof"]]
    value = HexaryTrie.get_from_proof(
        bytes(HexBytes(proof["storageHash"])), keccak(slot.to_bytes(32, "big")), storage_nodes
    )
    return leaf, value


def test_get_proof_at_a_past_block_proves_that_blocks_state(w3: Web3) -> None:
    account = Account.create().address
    call(w3, "anvil_setBalance", account, hex(1000))
    call(w3, "anvil_setCode", account, "0x00")
    call(w3, "anvil_setStorageAt", account, "0x3", "0x" + f"{7:064x}")
    call(w3, "evm_mine")
    then = latest(w3)
    call(w3, "anvil_setBalance", account, hex(2000))
    call(w3, "anvil_setStorageAt", account, "0x3", "0x" + f"{9:064x}")
    call(w3, "evm_mine")
    now = latest(w3)
    past = call(w3, "eth_getProof", account, ["0x3"], hex(then["number"]))
    load_spec().validate_result("eth_getProof", past)
    assert int(past["balance"], 16) == 1000 and int(past["storageProof"][0]["value"], 16) == 7
    leaf, value = _proven(past, bytes(then["stateRoot"]), account, 3)
    assert leaf and value == b"\x07"
    by_hash = call(w3, "eth_getProof", account, ["0x3"], {"blockHash": then["hash"].to_0x_hex()})
    assert by_hash == past
    current = call(w3, "eth_getProof", account, ["0x3"], hex(now["number"]))
    assert (
        int(current["balance"], 16) == 2000
        and _proven(current, bytes(now["stateRoot"]), account, 3)[1] == b"\x09"
    )
    genesis = call(w3, "eth_getProof", account, ["0x3"], "earliest")
    assert int(genesis["balance"], 16) == 0 and genesis["accountProof"]
    leaf, _ = _proven(genesis, bytes(w3.eth.get_block(0)["stateRoot"]), account, 3)
    assert leaf == b"", "the account did not exist at genesis: the proof proves its absence"


# -- not a devnet -------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "params"), DEV_CONTROLS, ids=[m for m, _ in DEV_CONTROLS])
def test_on_a_non_devnet_chain_dev_methods_are_refused_naming_chain_devnet(
    production: Daemon, method: str, params: list[Any]
) -> None:
    w3 = Web3(Web3.HTTPProvider(production.url))
    error = refused(w3, method, *params)
    assert error["code"] == -32601, error
    assert "chain.devnet" in error["message"] and method in error["message"], error


def test_on_a_non_devnet_chain_eth_accounts_is_empty_and_traces_need_the_admin_port(
    production: Daemon,
) -> None:
    w3 = Web3(Web3.HTTPProvider(production.url))
    assert call(w3, "eth_accounts") == []
    assert refused(w3, "debug_traceBlockByNumber", "latest")["code"] == -32601
    admin = production.printed() + production.log()
    found = re.search(r"admin=(http://[^\s\"]+)", admin)
    assert found is not None, admin
    answer = requests.post(
        found.group(1),
        json={"jsonrpc": "2.0", "id": 1, "method": "debug_traceBlockByNumber", "params": ["0x0"]},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=30,
    ).json()
    assert answer.get("result") == [], answer
