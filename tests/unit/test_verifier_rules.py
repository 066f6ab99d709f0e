"""Specification of what the verifier checks a stream against: the chain's rules from its own
config, not the stream's consistency with itself (docs/feed.md, "What a follower checks").

Each case edits the recorded devnet feed the way a lying sequencer (or an attacker holding its
key) would — re-hashing and re-signing what it edits, so only the rule it breaks can catch it —
and runs it through an unsharded verifier and both shards of two: all of them give the same
verdict, at the first message that breaks the rule, naming block, mini-block, field, claimed
and recomputed value.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import rlp
from eth_hash.auto import keccak

from sequencer.feed.faults import FORGER_KEY
from sequencer.feed.wire import wire_signing_hash
from sequencer.signing import SequencerKey
from tests.support.feed_fixture import CHAIN, Message, recorded_feed, reseal, text
from verifier.node import VerifierNode
from verifier.replay import Mode
from verifier.verdict import Verdict

FEED = recorded_feed()
MINIS = [m for m in FEED if m["type"] == "miniBlock"]
BLOCKS = [m for m in FEED if m["type"] == "block"]
EMPTY_BLOCK = next(m for m in BLOCKS if m["block"]["miniBlockCount"] == "0x0")
MID_BLOCK = next(m for m in MINIS if m["miniBlock"]["index"] != "0x0")
FIRST_OF_BLOCK = next(m for m in MINIS if m["miniBlock"]["index"] == "0x0" and m["seq"] > MINIS[0]["seq"])
WITH_LOG = next(
    m
    for m in MINIS
    if any(r["logs"] for r in m["miniBlock"]["receipts"]) and m["miniBlock"]["index"] != "0x0"
)
MODES = {"unsharded": Mode(), "shard 0/2": Mode(0, 2), "shard 1/2": Mode(1, 2)}
HEADER_FIELD = {"coinbase": 2, "stateRoot": 3, "gasLimit": 9, "gasUsed": 10, "timestamp": 11, "baseFee": 15}
HEADER_FIELD |= {"withdrawalsRoot": 16, "extraData": 12, "nonce": 14, "difficulty": 7}

Edit = Callable[[list[Message]], int]
"""Edits a copy of the feed in place; returns the seq of the message that must be caught."""


def at(messages: list[Message], seq: int) -> Message:
    return next(m for m in messages if m["seq"] == seq)


def run(messages: list[Message], mode: Mode, data_dir: Path) -> Verdict | None:
    node = VerifierNode("ws://127.0.0.1:9", CHAIN, data_dir, mode=mode)
    try:
        for message in messages:
            step = node.verification.handle_text(text(message))
            if step.verdict is not None:
                return step.verdict
        return None
    finally:
        node.close()


def env_edit(seq: int, name: str, value: str) -> Edit:
    def edit(messages: list[Message]) -> int:
        message = at(messages, seq)
        message["miniBlock"]["env"][name] = value
        reseal(message)
        return seq

    return edit


def header_edit(seq: int, name: str, value: bytes) -> Edit:
    def edit(messages: list[Message]) -> int:
        message = at(messages, seq)
        fields = rlp.decode(bytes.fromhex(message["block"]["header"][2:]))
        fields[HEADER_FIELD[name]] = value
        message["block"]["header"] = "0x" + rlp.encode(fields).hex()
        reseal(message)
        return seq

    return edit


def mini_edit(
    seq: int, change: Callable[[dict[str, Any]], None], *, seal: bool = True, chain: bool = False
) -> Edit:
    """Edit the mini-block at ``seq``; ``chain``: and link every later mini-block to it, as a
    sequencer lying from there on would."""

    def edit(messages: list[Message]) -> int:
        message = at(messages, seq)
        change(message["miniBlock"])
        if seal:
            reseal(message)
        if chain:
            parent = message["miniBlock"]["hash"]
            for later in messages:
                if later["seq"] > seq and later["type"] == "miniBlock":
                    later["miniBlock"]["parentHash"] = parent
                    parent = reseal(later)["miniBlock"]["hash"]
        return seq

    return edit


def _int(text_: str) -> int:
    return int(text_, 16)


def _hex(n: int) -> str:
    return hex(n)


def genesis_with_an_extra_billion_ether(messages: list[Message]) -> int:
    genesis = messages[0]["genesis"]
    genesis["alloc"].append(
        {"address": "0x" + "be" * 20, "balance": hex(10**27), "nonce": "0x0", "code": "0x", "storage": []}
    )
    fields = rlp.decode(bytes.fromhex(genesis["header"][2:]))
    fields[3] = keccak(b"a state with an extra account")
    genesis["header"] = "0x" + rlp.encode(fields).hex()
    genesis["hash"] = "0x" + keccak(rlp.encode(fields)).hex()
    return 0


def a_second_genesis(messages: list[Message]) -> int:
    fake = copy.deepcopy(messages[0])
    fake["seq"] = MID_BLOCK["seq"]
    messages[messages.index(at(messages, MID_BLOCK["seq"]))] = fake
    seq: int = MID_BLOCK["seq"]
    return seq


def forged(mb: dict[str, Any]) -> None:
    mb["signature"] = SequencerKey(FORGER_KEY).sign(wire_signing_hash(mb)).as_json()


def signature_of_the_first_mini_block(mb: dict[str, Any]) -> None:
    mb["signature"] = MINIS[0]["miniBlock"]["signature"]


def relabelled(mb: dict[str, Any]) -> None:
    mb["number"] = _hex(_int(mb["number"]) + 1000)


def first_parent_after_genesis(mb: dict[str, Any]) -> None:
    mb["parentHash"] = "0x" + "00" * 32


def _touched_once() -> tuple[Message, str]:
    """A mini-block in the middle of its block, and an account of its diff no later one touches."""
    for m in MINIS:
        if m["miniBlock"]["index"] == "0x0":
            continue
        later = {a["address"] for n in MINIS if n["seq"] > m["seq"] for a in n["miniBlock"]["stateDiff"]}
        for a in m["miniBlock"]["stateDiff"]:
            if a["address"] not in later and not a["deleted"]:
                return m, a["address"]
    raise AssertionError("the recording has no account touched once in the middle of a block")


ONCE, ONCE_ACCOUNT = _touched_once()


def more_ether(mb: dict[str, Any]) -> None:
    entry = next(a for a in mb["stateDiff"] if a["address"] == ONCE_ACCOUNT)
    entry["balance"] = _hex(_int(entry["balance"]) + 1000 * 10**18)


CASES: dict[str, tuple[Edit, str]] = {
    # trust anchors: the verifier's genesis is its config's
    "genesis-extra-account": (genesis_with_an_extra_billion_ether, "genesis.hash"),
    "genesis-not-at-0": (a_second_genesis, "stream.type"),
    # the environment of a block, checked at its first mini-block
    "env-coinbase": (
        env_edit(FIRST_OF_BLOCK["seq"], "coinbase", "0x" + "de" * 19 + "ad"),
        "miniBlock.env.coinbase",
    ),
    "env-gas-limit-1": (env_edit(FIRST_OF_BLOCK["seq"], "gasLimit", "0x1"), "miniBlock.env.gasLimit"),
    "env-timestamp-1": (env_edit(FIRST_OF_BLOCK["seq"], "timestamp", "0x1"), "miniBlock.env.timestamp"),
    "env-base-fee-0": (env_edit(FIRST_OF_BLOCK["seq"], "baseFee", "0x0"), "miniBlock.env.baseFee"),
    "env-prev-randao": (
        env_edit(FIRST_OF_BLOCK["seq"], "prevRandao", "0x" + "11" * 32),
        "miniBlock.env.prevRandao",
    ),
    "env-changes-mid-block": (env_edit(MID_BLOCK["seq"], "timestamp", hex(2**40)), "miniBlock.env.timestamp"),
    # headers of blocks without a mini-block to tell (the rules alone)
    "header-coinbase": (
        header_edit(EMPTY_BLOCK["seq"], "coinbase", b"\xde" * 19 + b"\xad"),
        "block.coinbase",
    ),
    "header-gas-limit-1": (header_edit(EMPTY_BLOCK["seq"], "gasLimit", b"\x01"), "block.gasLimit"),
    "header-timestamp-1": (header_edit(EMPTY_BLOCK["seq"], "timestamp", b"\x01"), "block.timestamp"),
    "header-base-fee-0": (header_edit(EMPTY_BLOCK["seq"], "baseFee", b""), "block.baseFee"),
    "header-withdrawals": (
        header_edit(EMPTY_BLOCK["seq"], "withdrawalsRoot", b"\x11" * 32),
        "block.withdrawalsRoot",
    ),
    "header-difficulty": (header_edit(EMPTY_BLOCK["seq"], "difficulty", b"\x01"), "block.difficulty"),
    "header-nonce": (header_edit(EMPTY_BLOCK["seq"], "nonce", b"\x00" * 7 + b"\x01"), "block.nonce"),
    "header-gas-used": (header_edit(BLOCKS[0]["seq"], "gasUsed", b"\x01"), "block.gasUsed"),
    # numbering and the hash chain, for every mini-block whoever re-executes it
    "mini-block-number": (mini_edit(MID_BLOCK["seq"], relabelled), "miniBlock.number"),
    "mini-block-index": (mini_edit(MID_BLOCK["seq"], lambda mb: mb.update(index="0x7")), "miniBlock.index"),
    "mini-block-hash": (
        mini_edit(MID_BLOCK["seq"], lambda mb: mb.update(hash="0x" + "ab" * 32), seal=False),
        "miniBlock.hash",
    ),
    "first-parent-after-genesis": (
        mini_edit(MINIS[0]["seq"], first_parent_after_genesis),
        "miniBlock.parentHash",
    ),
    # signatures
    "signature-forged": (mini_edit(MID_BLOCK["seq"], forged, seal=False), "miniBlock.signature"),
    "signature-missing": (
        mini_edit(MID_BLOCK["seq"], lambda mb: mb.pop("signature"), seal=False),
        "miniBlock.signature",
    ),
    "signature-of-another-mini-block": (
        mini_edit(
            MID_BLOCK["seq"], lambda mb: mb.update(signature=MINIS[0]["miniBlock"]["signature"]), seal=False
        ),
        "miniBlock.signature",
    ),
    # receipts: consistency every shard checks
    "receipt-first-log-index": (
        mini_edit(WITH_LOG["seq"], lambda mb: mb["receipts"][-1].update(firstLogIndex="0x9")),
        "receipt.firstLogIndex",
    ),
}
SHARD_SPECIFIC: dict[str, tuple[Edit, dict[str, str | None]]] = {
    # only the shard re-executing the mini-block sees these at once; the other at its block's end
    # (the state root), or not at all (the price a receipt reports is in no root): every
    # mini-block is re-executed by exactly one shard, and the chain is valid when all agree
    "receipt-effective-gas-price": (
        mini_edit(MID_BLOCK["seq"], lambda mb: mb["receipts"][0].update(effectiveGasPrice="0x1"), chain=True),
        {"execute": "receipt.effectiveGasPrice", "other": None},
    ),
    "a-thousand-ether": (
        mini_edit(ONCE["seq"], more_ether, chain=True),
        {"execute": "stateDiff.balance", "other": "block.stateRoot"},
    ),
}


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("case", sorted(CASES))
def test_every_verifier_catches_the_broken_rule_at_the_message_that_breaks_it(
    tmp_path: Path, case: str, mode: str
) -> None:
    edit, field = CASES[case]
    messages = copy.deepcopy(FEED)
    seq = edit(messages)
    verdict = run(messages, MODES[mode], tmp_path / "v")
    assert verdict is not None, f"{case}: accepted"
    assert (verdict.field, verdict.seq) == (field, seq), verdict
    assert verdict.claimed != verdict.recomputed
    target = at(messages, seq)
    if target["type"] == "miniBlock":
        assert verdict.evm_block == int(
            FEED[[m["seq"] for m in FEED].index(seq)]["miniBlock"]["blockNumber"], 16
        )
        assert verdict.mini_block == int(at(FEED, seq)["miniBlock"]["number"], 16), (
            "the position, not the label"
        )


@pytest.mark.parametrize("case", sorted(SHARD_SPECIFIC))
def test_the_shard_that_re_executes_names_the_lie_and_the_other_its_blocks_roots(
    tmp_path: Path, case: str
) -> None:
    edit, fields = SHARD_SPECIFIC[case]
    messages = copy.deepcopy(FEED)
    seq = edit(messages)
    number = int(at(FEED, seq)["miniBlock"]["number"], 16)
    for name, mode in MODES.items():
        verdict = run(messages, mode, tmp_path / name.replace(" ", "").replace("/", "-"))
        expected = fields["execute"] if mode.executes(number) else fields["other"]
        assert (verdict.field if verdict else None) == expected, (name, verdict)


def test_the_honest_recording_passes_every_mode(tmp_path: Path) -> None:
    for name, mode in MODES.items():
        assert run(FEED, mode, tmp_path / name.replace(" ", "").replace("/", "-")) is None, name
