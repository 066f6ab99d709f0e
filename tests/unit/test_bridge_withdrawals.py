"""Withdrawals on L2: the L2ToL1MessagePasser predeploy, and the encodings the bridge reads it with.

Every genesis holds the message passer at 0x4200000000000000000000000000000000000016 (the
sequencer's and the verifier's genesis builders agree on it, code and all). A withdrawal sent to
it emits ``MessagePassed``, which :func:`decode_message_passed` reads back into the withdrawal
whose :func:`withdrawal_hash` (OP's ``Hashing.hashWithdrawal``) is the log's; the contract stores
``sentMessages[hash] = true`` at :func:`sent_message_slot`; the nonce is versioned (1 << 240) and
counts up.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import rlp
from eth_abi.abi import encode as abi_encode
from eth_hash.auto import keccak
from trie.hexary import HexaryTrie
from web3 import Web3

from sequencer.bridge.withdrawals import (
    MESSAGE_PASSER,
    MalformedWithdrawal,
    WithdrawalTx,
    decode_message_passed,
    message_passer_abi,
    predeploys,
    sent_message_slot,
    versioned_nonce,
    withdrawal_hash,
)
from sequencer.config import GenesisAccount, load_config
from sequencer.node import Node
from sequencer.settlement.deploy import genesis_hash
from sequencer.state import EMPTY_CODE_HASH
from tests.support.accounts import DEV_KEYS
from tests.support.inprocess import DEVNET, in_process_node, result, rpc, signed
from verifier.genesis import build_genesis
from verifier.state import FlatState

PASSER = Web3().eth.contract(address=Web3.to_checksum_address(MESSAGE_PASSER), abi=message_passer_abi())
SENDER = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"  # DEV_KEYS[0]
TARGET = "0x" + "ab" * 20


@pytest.fixture
def node(tmp_path: Path) -> Any:
    with in_process_node(tmp_path / "data") as n:
        yield n


async def withdraw(node: Node, nonce: int, value: int, gas_limit: int, data: bytes) -> dict[str, Any]:
    call = PASSER.encode_abi("initiateWithdrawal", [Web3.to_checksum_address(TARGET), gas_limit, data])
    raw = signed(DEV_KEYS[0], nonce, to=PASSER.address, data=call, value=value, gas=200_000)
    tx_hash = "0x" + (await node.submitter.submit(raw)).hash.hex()
    await node.producer.seal_mini_block_now()
    receipt: dict[str, Any] = await result(node, "eth_getTransactionReceipt", tx_hash)
    assert receipt["status"] == "0x1"
    return receipt


def message_passed(receipt: dict[str, Any]) -> WithdrawalTx:
    (log,) = receipt["logs"]
    assert bytes.fromhex(log["address"][2:]) == MESSAGE_PASSER
    return decode_message_passed(
        [bytes.fromhex(t[2:]) for t in log["topics"]], bytes.fromhex(log["data"][2:])
    )


@pytest.mark.asyncio
async def test_the_genesis_holds_the_message_passer(node: Node) -> None:
    code = await result(node, "eth_getCode", PASSER.address, "latest")
    assert bytes.fromhex(code[2:]) == predeploys()[0].code != b""
    nonce = await result(
        node, "eth_call", {"to": PASSER.address, "data": PASSER.encode_abi("messageNonce")}, "latest"
    )
    assert int(nonce, 16) == versioned_nonce(0) == 1 << 240


@pytest.mark.asyncio
async def test_a_withdrawal_is_recorded_in_sent_messages_under_its_hash(node: Node) -> None:
    first = message_passed(await withdraw(node, 0, 5 * 10**17, 100_000, b"\x01\x02"))
    assert first == WithdrawalTx(
        versioned_nonce(0),
        bytes.fromhex(SENDER[2:]),
        bytes.fromhex(TARGET[2:]),
        5 * 10**17,
        100_000,
        b"\x01\x02",
    )
    expected = keccak(
        abi_encode(
            ["uint256", "address", "address", "uint256", "uint256", "bytes"],
            [first.nonce, SENDER, TARGET, first.value, first.gas_limit, first.data],
        )
    )
    assert withdrawal_hash(first) == expected
    second = message_passed(await withdraw(node, 1, 0, 50_000, b""))
    assert second.nonce == versioned_nonce(1) and second.hash != first.hash
    for w in (first, second):
        slot = hex(sent_message_slot(w.hash))
        assert int(await result(node, "eth_getStorageAt", PASSER.address, slot, "latest"), 16) == 1
        flag = PASSER.encode_abi("sentMessages", ["0x" + w.hash.hex()])
        assert int(await result(node, "eth_call", {"to": PASSER.address, "data": flag}, "latest"), 16) == 1
    other = hex(sent_message_slot(b"\x00" * 32))
    assert int(await result(node, "eth_getStorageAt", PASSER.address, other, "latest"), 16) == 0
    balance = await result(node, "eth_getBalance", PASSER.address, "latest")
    assert int(balance, 16) == 5 * 10**17  # the withdrawn ETH stays in the message passer


def test_a_log_whose_hash_is_not_its_withdrawals_is_refused() -> None:
    w = WithdrawalTx(versioned_nonce(3), b"\x01" * 20, b"\x02" * 20, 7, 21_000, b"")
    topics = [
        keccak(b"MessagePassed(uint256,address,address,uint256,uint256,bytes,bytes32)"),
        w.nonce.to_bytes(32, "big"),
        b"\x00" * 12 + w.sender,
        b"\x00" * 12 + w.target,
    ]
    good = abi_encode(["uint256", "uint256", "bytes", "bytes32"], [w.value, w.gas_limit, w.data, w.hash])
    assert decode_message_passed(topics, good) == w
    forged = dataclasses.replace(w, value=8)
    bad = abi_encode(["uint256", "uint256", "bytes", "bytes32"], [forged.value, w.gas_limit, w.data, w.hash])
    with pytest.raises(MalformedWithdrawal, match="hash"):
        decode_message_passed(topics, bad)
    with pytest.raises(MalformedWithdrawal, match="not a MessagePassed"):
        decode_message_passed(topics[:3], good)
    with pytest.raises(MalformedWithdrawal, match="bad MessagePassed data"):
        decode_message_passed(topics, good[:40])


def test_the_verifier_builds_the_same_genesis_with_the_predeploy_winning_its_address() -> None:
    config = load_config(DEVNET)
    squatter = GenesisAccount(address=MESSAGE_PASSER, balance=1, code=b"\x00")
    chain = dataclasses.replace(config.chain, genesis_timestamp=1, genesis=(*config.chain.genesis, squatter))
    state = FlatState()
    assert keccak(build_genesis(chain, state).encode()) == genesis_hash(chain)
    account = state.get_account(MESSAGE_PASSER)
    assert account is not None and account.balance == 0 and account.code_hash != EMPTY_CODE_HASH
    plain = dataclasses.replace(chain, genesis=config.chain.genesis)
    assert genesis_hash(plain) == genesis_hash(chain)


@pytest.mark.asyncio
async def test_outputs_and_withdrawal_proofs_are_served_at_past_blocks(node: Node) -> None:
    first = message_passed(await withdraw(node, 0, 1, 100_000, b""))
    await node.producer.seal_evm_block_now()
    before = int((await result(node, "eth_blockNumber")), 16)
    second = message_passed(await withdraw(node, 1, 2, 100_000, b"\x07"))
    await node.producer.seal_evm_block_now()
    head = int((await result(node, "eth_blockNumber")), 16)
    assert head == before + 1
    newest = await result(node, "eth_getProof", PASSER.address, [], "latest")
    for number, present in ((before, {first.hash}), (head, {first.hash, second.hash})):
        output = await result(node, "optimism_outputAtBlock", hex(number))
        block = await result(node, "eth_getBlockByNumber", hex(number), False)
        assert output["blockRef"]["hash"] == block["hash"] and output["stateRoot"] == block["stateRoot"]
        storage_root = bytes.fromhex(output["withdrawalStorageRoot"][2:])
        expected = keccak(
            b"\x00" * 32
            + bytes.fromhex(block["stateRoot"][2:])
            + storage_root
            + bytes.fromhex(block["hash"][2:])
        )
        assert output["outputRoot"] == "0x" + expected.hex()
        keys = ["0x" + sent_message_slot(w.hash).to_bytes(32, "big").hex() for w in (first, second)]
        proof = await result(node, "bridge_getWithdrawalProof", keys, hex(number))
        assert proof["storageHash"] == output["withdrawalStorageRoot"]
        for w, entry in zip((first, second), proof["storageProof"], strict=True):
            nodes = [rlp.decode(bytes.fromhex(n[2:])) for n in entry["proof"]]
            leaf = HexaryTrie.get_from_proof(storage_root, keccak(bytes.fromhex(entry["key"][2:])), nodes)
            assert (leaf == b"\x01") == (w.hash in present) and int(entry["value"], 16) == (w.hash in present)
    assert newest["storageHash"] == output["withdrawalStorageRoot"]  # the head's is the state trie's
    missing = await rpc(node, "optimism_outputAtBlock", hex(head + 5))
    assert "not found" in missing["error"]["message"]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("method", "params", "code", "words"),
    [
        ("bridge_getWithdrawalProof", [["0x1"] * 65, "latest"], -32602, "at most 64 slots"),
        ("bridge_getWithdrawalProof", ["0x1", "latest"], -32602, "storage keys"),
        ("bridge_getWithdrawalProof", [["0xzz"], "latest"], -32602, "storage key"),
        ("bridge_getWithdrawalProof", [[], "0x99999"], -32001, "not found"),
        ("bridge_getWithdrawalProof", [[]], -32602, "bridge_getWithdrawalProof"),
        ("optimism_outputAtBlock", ["soon"], -32602, "block"),
        ("optimism_outputAtBlock", [], -32602, "optimism_outputAtBlock"),
    ],
)
async def test_the_bridges_rpc_methods_refuse_bad_parameters_clearly(
    node: Node, method: str, params: list[Any], code: int, words: str
) -> None:
    error = (await rpc(node, method, *params))["error"]
    assert error["code"] == code and words in error["message"], error
