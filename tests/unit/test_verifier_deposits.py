"""Specification of deposits (type 0x7E) in the feed and the streaming verifier: a chain with
deposits, produced in-process by the sequencer's own producer, is streamed as the feed sends it
(receipts with ``depositNonce``, committed to by the mini-block hash and the receipts roots) and
re-executed by the verifier's own deposit rules with verdict ok; a sequencer that lies about a
deposit's result (its mint credited twice in the diff, another deposit nonce, a reverted deposit
claimed successful, a mint changed in the transaction itself, bytes that are no deposit) is
caught, naming the field.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_hash.auto import keccak
from eth_utils.address import to_checksum_address

from sequencer.bridge.deposits import encode_deposit
from sequencer.feed.wire import block_message, genesis_message, mini_block_message
from sequencer.node import Node
from tests.support.accounts import DEV_KEYS
from tests.support.deposits import ListDepositSource, make_deposit
from tests.support.feed_fixture import CHAIN, Message, reseal
from tests.support.inprocess import in_process_node, signed
from verifier.node import VerifierNode
from verifier.verdict import Verdict

ALICE, BOB = DEV_KEYS[0], DEV_KEYS[1]
DEPOSITOR = b"\xd1" * 20
RECIPIENT = b"\xe2" * 20
ETHER = 10**18
INITCODE = bytes.fromhex("600060005360016000f3")
REVERTING_INITCODE = bytes.fromhex("60006000fd")


async def _produce(node: Node) -> list[Message]:
    deposits = [
        make_deposit(DEPOSITOR, RECIPIENT, mint=2 * ETHER, value=ETHER, log_index=0),
        make_deposit(DEPOSITOR, None, gas=200_000, data=INITCODE, log_index=1),
        make_deposit(DEPOSITOR, None, mint=5, data=REVERTING_INITCODE, log_index=2),
        make_deposit(DEPOSITOR, RECIPIENT, mint=1, value=100 * ETHER, gas=30_000, log_index=3),  # fails
    ]
    node.producer.set_deposit_source(ListDepositSource(deposits))
    await node.submitter.submit(signed(ALICE, 0, to=to_checksum_address(DEPOSITOR)))
    await node.producer.seal_mini_block_now()
    await node.submitter.submit(signed(BOB, 0))
    await node.producer.seal_mini_block_now()
    await node.producer.seal_evm_block_now()
    await node.submitter.submit(signed(ALICE, 1))
    await node.producer.seal_mini_block_now()  # the next block: the deposits are not included again
    await node.producer.seal_evm_block_now()
    chain = node.chain
    genesis = chain.get_block(0)
    assert genesis is not None
    messages: list[Message] = [genesis_message(genesis, node.config.chain)]
    for number in range(1, chain.head.number + 1):
        block = chain.get_block(number)
        assert block is not None
        messages += [reseal(mini_block_message(mb)) for mb in chain.block_mini_blocks(block)]
        messages.append(reseal(block_message(block)))
    return messages


@pytest.fixture(scope="module")
def feed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Message]]:
    with in_process_node(tmp_path_factory.mktemp("sequencer") / "data") as node:
        yield asyncio.run(_produce(node))


def verify(messages: list[Message], data_dir: Path) -> Verdict | None:
    node = VerifierNode("ws://127.0.0.1:9", CHAIN, data_dir, halt_on_mismatch=True)
    try:
        for message in messages:
            step = node.verification.handle_text(json.dumps(message))
            if step.verdict is not None:
                return step.verdict
        return None
    finally:
        node.close()


def first_mini(messages: list[Message]) -> Message:
    return next(m for m in messages if m["type"] == "miniBlock")


def tampered(feed: list[Message], edit: str) -> list[Message]:
    out = copy.deepcopy(feed)
    mb = first_mini(out)["miniBlock"]
    depositor = "0x" + DEPOSITOR.hex()
    if edit == "mint-in-diff":
        entry = next(e for e in mb["stateDiff"] if e["address"] == depositor)
        entry["balance"] = hex(int(entry["balance"], 16) + 2 * ETHER)
    elif edit == "deposit-nonce":
        mb["receipts"][1]["depositNonce"] = "0x5"
    elif edit == "status":
        mb["receipts"][2]["status"] = "0x1"
    elif edit == "mint-in-transaction":
        mb["transactions"][0] = (
            "0x"
            + encode_deposit(
                bytes.fromhex(_source_hash(0)), DEPOSITOR, RECIPIENT, 3 * ETHER, ETHER, 100_000, b""
            ).hex()
        )
        mb["receipts"][0]["transactionHash"] = "0x" + _keccak(mb["transactions"][0])
    elif edit == "malformed-deposit":
        mb["transactions"][3] = "0x7ec3010203"  # a list of 3 items, not a deposit's 8
        mb["receipts"][3]["transactionHash"] = "0x" + _keccak(mb["transactions"][3])
    reseal(first_mini(out))
    return out


def _source_hash(log_index: int) -> str:
    return make_deposit(DEPOSITOR, RECIPIENT, log_index=log_index).source_hash.hex()  # type: ignore[union-attr]


def _keccak(hex_raw: str) -> str:
    return bytes(keccak(bytes.fromhex(hex_raw[2:]))).hex()


def test_the_feed_carries_deposits_with_their_deposit_nonce(feed: list[Message]) -> None:
    mb = first_mini(feed)["miniBlock"]
    assert [t[:4] for t in mb["transactions"]] == ["0x7e"] * 4 + ["0x02"]
    assert [r.get("depositNonce") for r in mb["receipts"]] == ["0x0", "0x1", "0x2", "0x3", None]
    assert [r["status"] for r in mb["receipts"]] == ["0x1", "0x1", "0x0", "0x0", "0x1"]


def test_a_stream_with_deposits_verifies(feed: list[Message], tmp_path: Path) -> None:
    assert verify(feed, tmp_path / "verifier") is None


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        ("mint-in-diff", "stateDiff.balance"),
        ("deposit-nonce", "receipt.depositNonce"),
        ("status", "receipt.status"),
        ("mint-in-transaction", "stateDiff.balance"),
        ("malformed-deposit", "transaction.valid"),
    ],
)
def test_a_lie_about_a_deposit_is_caught(feed: list[Message], tmp_path: Path, edit: str, field: str) -> None:
    verdict = verify(tampered(feed, edit), tmp_path / "verifier")
    assert verdict is not None
    assert verdict.field == field, verdict
