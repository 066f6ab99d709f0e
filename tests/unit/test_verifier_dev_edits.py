"""Specification of how a verifier takes a devnet's dev edits (docs/feed.md, "Devnet events").

* A mini-block with ``devEdits`` (here: ``anvil_setBalance``, ``anvil_setStorageAt``, an
  impersonated transfer, from an in-process devnet sequencer's feed) verifies on a chain whose
  config says ``chain.devnet = true``, unsharded and by each shard of two: the state edits' diff
  is applied, the impersonated transaction re-executed for its named sender (by the shard that
  owns it), and the EVM block's state root recomputes.
* On any other chain the same message is a verdict, ``miniBlock.devEdits``, and nothing is
  applied.
* A state edit whose state diff is not what the edit makes (another value, another account) is
  a verdict, ``stateDiff.devEdits``.
* An empty ``devEdits`` list is malformed (the field is absent when there are none).
* A devnet's block timestamp may run ahead of the verifier's clock (``evm_increaseTime``); on
  any other chain more than 15 s ahead is ``miniBlock.env.timestamp``; on both it must be after
  the parent's.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from sequencer.config import ChainConfig
from tests.support.inprocess import in_process_node, result
from verifier.checkpoint import Boundary
from verifier.commitments import mini_block_hash
from verifier.genesis import build_genesis
from verifier.replay import EVERYTHING, Mode, Replay
from verifier.rules import Parent, env_problems
from verifier.state import FlatState
from verifier.verdict import Mismatch
from verifier.wire import Env, Malformed, MiniBlockMessage, decode_message

RICH = "0x00000000000000000000000000000000000000aa"
GHOST = "0x00000000000000000000000000000000deadbeef"
PAID = "0x00000000000000000000000000000000000000bb"


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ChainConfig, list[dict[str, Any]]]]:
    """A devnet chain config and its feed, genesis to the block sealing four dev edits."""

    async def run() -> tuple[ChainConfig, list[dict[str, Any]]]:
        with in_process_node(tmp_path_factory.mktemp("dev-edits") / "data") as node:
            await result(node, "anvil_setBalance", RICH, hex(10**18))
            await result(node, "anvil_setStorageAt", RICH, "0x1", "0x" + "00" * 31 + "07")
            await result(node, "anvil_setBalance", GHOST, hex(10**18))
            await result(node, "anvil_impersonateAccount", GHOST)
            await result(node, "eth_sendTransaction", {"from": GHOST, "to": PAID, "value": "0x5"})
            await result(node, "evm_mine")
            return node.chain.config, list(node.feed.history(0))

    yield asyncio.run(run())


def replay(chain: ChainConfig, messages: list[dict[str, Any]], mode: Mode = EVERYTHING) -> Replay:
    state = FlatState()
    r = Replay(chain, state, Boundary(), mode, genesis=build_genesis(chain, state))
    for message in messages:
        r.check(decode_message(orjson.dumps(message)))
    return r


def unsigned(chain: ChainConfig) -> ChainConfig:
    """The same chain without a signing schedule (a tampered message keeps its hash chain)."""
    return dataclasses.replace(chain, sequencer_signers=())


def edit_messages(messages: list[dict[str, Any]]) -> list[int]:
    return [i for i, m in enumerate(messages) if "devEdits" in m.get("miniBlock", {})]


@pytest.mark.parametrize("mode", [EVERYTHING, Mode(0, 2), Mode(1, 2)], ids=lambda m: m.label)
def test_a_devnet_verifier_applies_state_edits_and_re_executes_impersonated_transactions(
    recorded: tuple[ChainConfig, list[dict[str, Any]]], mode: Mode
) -> None:
    chain, messages = recorded
    assert chain.devnet
    kinds = [e["kind"] for i in edit_messages(messages) for e in messages[i]["miniBlock"]["devEdits"]]
    assert kinds == ["balance", "storage", "balance", "impersonated"]
    r = replay(chain, messages, mode)
    last = messages[-1]
    assert last["type"] == "block" and "0x" + r.boundary.block_hash.hex() == last["block"]["hash"]
    rich = r.state.get_account(bytes.fromhex(RICH[2:]))
    assert rich is not None and rich.balance == 10**18
    assert r.state.get_storage(bytes.fromhex(RICH[2:]), 1) == 7
    paid = r.state.get_account(bytes.fromhex(PAID[2:]))
    assert paid is not None and paid.balance == 5
    impersonated = messages[edit_messages(messages)[-1]]["miniBlock"]
    executed = 1 if mode.executes(int(impersonated["number"], 16)) else 0
    assert r.counts.txs == executed, "the impersonated transaction was re-executed by its owner only"


def test_dev_edits_on_a_chain_that_is_not_a_devnet_are_a_verdict(
    recorded: tuple[ChainConfig, list[dict[str, Any]]],
) -> None:
    chain, messages = recorded
    first = edit_messages(messages)[0]
    r = replay(dataclasses.replace(chain, devnet=False), messages[:first])
    before = r.state.root()
    with pytest.raises(Mismatch) as raised:
        r.check(decode_message(orjson.dumps(messages[first])))
    assert raised.value.verdict.field == "miniBlock.devEdits"
    assert "not a devnet" in raised.value.verdict.recomputed
    assert r.state.root() == before and r.next_seq == messages[first]["seq"], "nothing was applied"


def tampered(message: dict[str, Any], change: Any) -> bytes:
    """``message`` with ``change`` applied to its body and its hash recomputed."""
    copy = orjson.loads(orjson.dumps(message))
    change(copy["miniBlock"])
    copy["miniBlock"].pop("signature", None)
    decoded = decode_message(orjson.dumps(copy))
    assert isinstance(decoded, MiniBlockMessage)
    copy["miniBlock"]["hash"] = "0x" + mini_block_hash(decoded).hex()
    return orjson.dumps(copy)


@pytest.mark.parametrize(
    "change",
    [
        lambda mb: mb["stateDiff"][0].update(balance="0x1"),
        lambda mb: mb["stateDiff"][0].update(address=PAID),
    ],
    ids=["another-value", "another-account"],
)
def test_a_state_edit_whose_diff_is_not_the_edit_is_a_verdict(
    recorded: tuple[ChainConfig, list[dict[str, Any]]], change: Any
) -> None:
    chain, messages = recorded
    first = edit_messages(messages)[0]
    r = replay(unsigned(chain), messages[:first])
    with pytest.raises(Mismatch) as raised:
        r.check(decode_message(tampered(messages[first], change)))
    assert raised.value.verdict.field == "stateDiff.devEdits"


def test_an_empty_dev_edits_list_is_malformed(recorded: tuple[ChainConfig, list[dict[str, Any]]]) -> None:
    _chain, messages = recorded
    copy = orjson.loads(orjson.dumps(messages[edit_messages(messages)[0]]))
    copy["miniBlock"]["devEdits"] = []
    with pytest.raises(Malformed, match="devEdits"):
        decode_message(orjson.dumps(copy))


def test_a_devnet_block_may_be_stamped_ahead_of_the_clock_and_no_other_chain_s(
    recorded: tuple[ChainConfig, list[dict[str, Any]]],
) -> None:
    devnet, _messages = recorded
    now = 1_800_000_000
    parent = Parent(7, b"\x01" * 32, now, devnet.initial_base_fee, 0, devnet.block_gas_limit)

    def stamped(timestamp: int) -> Env:
        return Env(8, timestamp, parent.hash, 0, devnet.block_gas_limit, devnet.coinbase, parent.hash)

    def timestamp_problems(chain: ChainConfig, timestamp: int) -> list[tuple[str, str, str]]:
        return [p for p in env_problems(stamped(timestamp), parent, chain, now) if p[0] == "timestamp"]

    production = dataclasses.replace(devnet, devnet=False)
    an_hour_on = now + 3600
    assert timestamp_problems(devnet, an_hour_on) == []
    assert timestamp_problems(production, an_hour_on) == [
        ("timestamp", str(an_hour_on), f"<= {now + 15} (now + 15 s)")
    ]
    for chain in (devnet, production):
        assert timestamp_problems(chain, now) == [("timestamp", str(now), f"> {now} (the parent's)")]
