"""Specification of the two-tier view (docs/rpc.md, "The two-tier model") over an in-process
node whose producer is driven by hand, so every answer is read at a known point: a block open
with some mini-blocks sealed into it, then sealed.

* The open EVM block is the ``pending`` block and is served by its number: hash null,
  ``miniBlockCount``, the roots and bloom as they stand; its transactions, receipts and logs
  carry its number and the placeholder block hash ``0xff..ff`` until the seal, the real hash
  after it.
* ``latest`` blocks and logs are the newest sealed block; ``latest``/``pending`` state is after
  the newest mini-block; state at the open block's number is the state before it.
* Calls run in the environment a transaction meets; ``eth_estimateGas`` answers a limit valid in
  the open block and in the next one, counts the access list, and honours geth's overrides;
  MegaETH's ``eth_callMany``, ``eth_callAfter``, ``eth_getLogsWithCursor``,
  ``eth_getHeaderBy*`` and ``realtime_sendRawTransaction`` answer as MegaETH documents them.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3

from sequencer.config import load_preset
from sequencer.node import Node
from tests.support.accounts import DEV_KEYS
from tests.support.contracts import load_artifact
from tests.support.inprocess import in_process_node, result, rpc, signed

ALICE, BOB = DEV_KEYS[0], DEV_KEYS[1]
ALICE_ADDRESS = Account.from_key(ALICE).address
BOB_ADDRESS = Account.from_key(BOB).address
PLACEHOLDER = "0x" + "ff" * 32
REVERTER = load_artifact("Reverter")
COUNTER = Web3().eth.contract(abi=REVERTER["abi"])
INCREMENT = COUNTER.encode_abi("increment", [])
READ_COUNTER = COUNTER.encode_abi("counter", [])
# runtime: if (sload(0) != block.number) sstore(0, block.number) -- 5,000 gas more in a block
# other than the one that last called it (the shape of Uniswap V2's price accumulators)
BLOCK_STAMP_RUNTIME = "4360005414600c57436000555b00"
BLOCK_STAMP_INIT = "0x600e600c600039600e6000f3" + BLOCK_STAMP_RUNTIME


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    with in_process_node(tmp_path / "data") as n:
        yield n


class Sender:
    """Submits a key's transactions with consecutive nonces."""

    def __init__(self, node: Node, key: str) -> None:
        self.node, self.key, self.nonce = node, key, 0

    async def send(self, **fields: Any) -> str:
        tx = await self.node.submitter.submit(signed(self.key, self.nonce, **fields))
        self.nonce += 1
        return "0x" + tx.hash.hex()


async def deploy(node: Node, sender: Sender, init_code: str, gas: int = 1_000_000) -> str:
    """Deploy in its own sealed EVM block; the contract's address."""
    tx_hash = await sender.send(to=None, data=init_code, gas=gas, value=0)
    await node.producer.seal_mini_block_now()
    await node.producer.seal_evm_block_now()
    receipt = await result(node, "eth_getTransactionReceipt", tx_hash)
    assert receipt["status"] == "0x1"
    return Web3.to_checksum_address(receipt["contractAddress"])


# -- the open block is the pending block ----------------------------------------------------


@pytest.mark.asyncio
async def test_a_fresh_receipt_names_a_block_the_node_serves(node: Node) -> None:
    alice = Sender(node, ALICE)
    first = await alice.send()
    await node.producer.seal_mini_block_now()
    second = await alice.send()
    await node.producer.seal_mini_block_now()
    receipt = await result(node, "eth_getTransactionReceipt", second)
    open_number = receipt["blockNumber"]
    assert int(open_number, 16) == node.chain.head.number + 1
    assert receipt["blockHash"] == PLACEHOLDER

    by_number = await result(node, "eth_getBlockByNumber", open_number, False)
    pending = await result(node, "eth_getBlockByNumber", "pending", False)
    # asked for by number the open block carries the placeholder hash (cast refuses a null hash
    # there); as ``pending`` it has none (geth's shape); otherwise the same block
    assert by_number["hash"] == PLACEHOLDER and pending["hash"] is None
    assert {k: v for k, v in by_number.items() if k != "hash"} == {
        k: v for k, v in pending.items() if k != "hash"
    }
    assert await result(node, "eth_getBlockByHash", PLACEHOLDER, False) == by_number
    assert by_number["number"] == open_number
    assert by_number["transactions"] == [first, second]
    assert by_number["miniBlockCount"] == "0x2"
    assert by_number["parentHash"] == (await result(node, "eth_getBlockByNumber", "latest", False))["hash"]
    assert await result(node, "eth_getBlockTransactionCountByNumber", open_number) == "0x2"
    at_index = await result(node, "eth_getTransactionByBlockNumberAndIndex", open_number, "0x1")
    assert at_index["hash"] == second and at_index["blockHash"] == PLACEHOLDER
    receipts = await result(node, "eth_getBlockReceipts", open_number)
    assert [r["transactionHash"] for r in receipts] == [first, second]
    assert receipts[1] == receipt
    header = await result(node, "eth_getHeaderByNumber", "pending")
    assert header["transactionsRoot"] == by_number["transactionsRoot"] and "transactions" not in header

    await node.producer.seal_evm_block_now()
    sealed = await result(node, "eth_getBlockByNumber", open_number, False)
    assert sealed["hash"] is not None and sealed["hash"] != PLACEHOLDER
    assert {k: v for k, v in sealed.items() if k != "hash"} == {
        k: v for k, v in by_number.items() if k != "hash"
    }, "what the pending block showed is what the sealed block shows"
    after = await result(node, "eth_getTransactionReceipt", second)
    assert after["blockHash"] == sealed["hash"]
    assert {k: v for k, v in after.items() if k not in ("blockHash", "logs")} == {
        k: v for k, v in receipt.items() if k not in ("blockHash", "logs")
    }
    assert await result(node, "eth_getHeaderByHash", sealed["hash"]) == await result(
        node, "eth_getHeaderByNumber", open_number
    )


@pytest.mark.asyncio
async def test_the_pending_roots_grow_with_every_mini_block(node: Node) -> None:
    alice = Sender(node, ALICE)
    await alice.send()
    await node.producer.seal_mini_block_now()
    one = await result(node, "eth_getBlockByNumber", "pending", False)
    await alice.send()
    await node.producer.seal_mini_block_now()
    two = await result(node, "eth_getBlockByNumber", "pending", False)
    assert one["number"] == two["number"]
    for field in ("transactionsRoot", "receiptsRoot", "stateRoot", "gasUsed"):
        assert one[field] != two[field], field
    assert int(two["gasUsed"], 16) == 2 * 21_000


@pytest.mark.asyncio
async def test_without_an_open_block_pending_is_the_newest_sealed_block(node: Node) -> None:
    latest = await result(node, "eth_getBlockByNumber", "latest", False)
    assert await result(node, "eth_getBlockByNumber", "pending", False) == latest
    assert await result(node, "eth_getBlockByNumber", hex(int(latest["number"], 16) + 1), False) is None


# -- state and logs agree -------------------------------------------------------------------


@pytest.mark.asyncio
async def test_logs_of_the_open_block_are_in_ranges_that_reach_it(node: Node) -> None:
    alice = Sender(node, ALICE)
    contract = await deploy(node, alice, REVERTER["bytecode"])
    for _ in range(2):
        await alice.send(to=contract, data=INCREMENT, gas=100_000, value=0)
        await node.producer.seal_mini_block_now()
    await node.producer.seal_evm_block_now()
    for _ in range(3):
        await alice.send(to=contract, data=INCREMENT, gas=100_000, value=0)
        await node.producer.seal_mini_block_now()
    count = int(await result(node, "eth_call", {"to": contract, "data": READ_COUNTER}, "latest"), 16)
    assert count == 5

    to_pending = await result(
        node, "eth_getLogs", {"address": contract, "fromBlock": "0x0", "toBlock": "pending"}
    )
    assert len(to_pending) == count, "the logs agree with the state"
    open_number = hex(node.chain.head.number + 1)
    by_range = await result(
        node, "eth_getLogs", {"address": contract, "fromBlock": "0x0", "toBlock": open_number}
    )
    assert by_range == to_pending
    open_logs = [log for log in to_pending if log["blockNumber"] == open_number]
    assert len(open_logs) == 3 and all(log["blockHash"] == PLACEHOLDER for log in open_logs)
    latest = await result(node, "eth_getLogs", {"address": contract, "fromBlock": "0x0", "toBlock": "latest"})
    assert len(latest) == 2 and all(log["blockHash"] != PLACEHOLDER for log in latest)


@pytest.mark.asyncio
async def test_state_at_the_open_blocks_number_is_the_state_before_it(node: Node) -> None:
    alice = Sender(node, ALICE)
    await alice.send(to=BOB_ADDRESS, value=7)
    await node.producer.seal_mini_block_now()
    open_number = hex(node.chain.head.number + 1)
    before = int(await result(node, "eth_getBalance", BOB_ADDRESS, hex(node.chain.head.number)), 16)
    assert int(await result(node, "eth_getBalance", BOB_ADDRESS, open_number), 16) == before
    assert int(await result(node, "eth_getBalance", BOB_ADDRESS, "latest"), 16) == before + 7
    assert int(await result(node, "eth_getBalance", BOB_ADDRESS, "pending"), 16) == before + 7
    await node.producer.seal_evm_block_now()
    assert int(await result(node, "eth_getBalance", BOB_ADDRESS, open_number), 16) == before + 7


# -- calls in the environment the transaction meets -----------------------------------------


@pytest.mark.asyncio
async def test_an_estimate_holds_in_the_open_block_and_in_the_next_one(node: Node) -> None:
    alice = Sender(node, ALICE)
    stamp = await deploy(node, alice, BLOCK_STAMP_INIT, gas=200_000)
    await alice.send(to=stamp, gas=100_000, value=0)  # stamps the open block's number
    await node.producer.seal_mini_block_now()
    open_number = node.chain.head.number + 1
    call = {"from": BOB_ADDRESS, "to": stamp}
    in_open = int(
        await result(node, "eth_estimateGas", call, "latest", None, {"number": hex(open_number)}), 16
    )
    in_next = int(
        await result(node, "eth_estimateGas", call, "latest", None, {"number": hex(open_number + 1)}), 16
    )
    assert in_next >= in_open + 2_900, "the next block writes the slot again"
    assert int(await result(node, "eth_estimateGas", call, "latest"), 16) == in_next


@pytest.mark.asyncio
async def test_estimate_counts_the_access_list(node: Node) -> None:
    entry = [{"address": BOB_ADDRESS, "storageKeys": ["0x" + "00" * 31 + "01"]}]
    plain = {"from": ALICE_ADDRESS, "to": BOB_ADDRESS, "value": "0x1"}
    assert await result(node, "eth_estimateGas", plain) == hex(21_000)
    with_list = int(await result(node, "eth_estimateGas", {**plain, "accessList": entry}), 16)
    assert with_list == 21_000 + 2_400 + 1_900
    tx = await node.submitter.submit(
        signed(ALICE, 0, value=1, gas=with_list, to=BOB_ADDRESS, accessList=entry)
    )
    await node.producer.seal_mini_block_now()
    receipt = await result(node, "eth_getTransactionReceipt", "0x" + tx.hash.hex())
    assert receipt["status"] == "0x1" and int(receipt["gasUsed"], 16) == with_list


@pytest.mark.asyncio
async def test_state_overrides_are_honoured(node: Node) -> None:
    nobody = "0x" + "ab" * 20
    balance_probe = {"to": nobody, "data": "0x"}
    # BALANCE of CALLER, returned as one word: CALLER BALANCE PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN
    code = "0x3331600052" + "60206000f3"
    answered = await result(
        node,
        "eth_call",
        {"from": BOB_ADDRESS, **balance_probe},
        "latest",
        {nobody: {"code": code}, BOB_ADDRESS: {"balance": "0x2a"}},
    )
    assert int(answered, 16) == 42
    pinned = await result(
        node,
        "eth_call",
        {"to": nobody, "data": "0x"},
        "latest",
        {
            nobody: {
                "code": "0x60005460005260206000f3",
                "stateDiff": {"0x" + "00" * 32: "0x" + "00" * 31 + "07"},
            }
        },
    )
    assert int(pinned, 16) == 7
    estimate_with_funds = await rpc(
        node,
        "eth_estimateGas",
        {"from": nobody, "to": BOB_ADDRESS, "value": hex(10**30)},
        "latest",
        {nobody: {"balance": hex(10**31)}},
    )
    assert estimate_with_funds["result"] == hex(21_000)
    unknown = await rpc(node, "eth_call", balance_probe, "latest", {nobody: {"balanse": "0x1"}})
    assert unknown["error"]["code"] == -32602 and "balanse" in unknown["error"]["message"]
    both = await rpc(node, "eth_call", balance_probe, "latest", {nobody: {"state": {}, "stateDiff": {}}})
    assert both["error"]["code"] == -32602


@pytest.mark.asyncio
async def test_block_overrides_set_the_environment(node: Node) -> None:
    # TIMESTAMP NUMBER, two words
    probe = {"data": "0x" + "42600052" + "43602052" + "60406000f3"}
    out = await result(node, "eth_call", probe, "latest", None, {"time": "0x65", "number": "0x0999"})
    words = bytes.fromhex(out[2:])
    assert (int.from_bytes(words[:32], "big"), int.from_bytes(words[32:], "big")) == (0x65, 0x999)
    bad = await rpc(node, "eth_call", probe, "latest", None, {"tme": "0x1"})
    assert bad["error"]["code"] == -32602


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("blobVersionedHashes", ["0x01" + "00" * 31], "EIP-4844"),
        ("maxFeePerBlobGas", "0x1", "EIP-4844"),
        ("authorizationList", [], "EIP-7702"),
    ],
)
async def test_blob_and_set_code_fields_are_refused_clearly(
    node: Node, field: str, value: Any, named: str
) -> None:
    for method in ("eth_call", "eth_estimateGas", "eth_createAccessList"):
        answer = await rpc(node, method, {"to": BOB_ADDRESS, field: value})
        assert answer["error"]["code"] == -32602 and named in answer["error"]["message"], method


@pytest.mark.asyncio
async def test_data_and_input_must_agree(node: Node) -> None:
    assert await result(node, "eth_call", {"to": BOB_ADDRESS, "data": "0x01", "input": "0x01"}) == "0x"
    answer = await rpc(node, "eth_call", {"to": BOB_ADDRESS, "data": "0x01", "input": "0x02"})
    assert answer["error"]["code"] == -32602 and "not equal" in answer["error"]["message"]


@pytest.mark.asyncio
async def test_create_access_list_names_what_the_call_touches(node: Node) -> None:
    alice = Sender(node, ALICE)
    contract = await deploy(node, alice, REVERTER["bytecode"])
    answer = await result(
        node, "eth_createAccessList", {"from": BOB_ADDRESS, "to": contract, "data": INCREMENT}
    )
    # the recipient is warm anyway, but its slots are listed (as geth and foundry do)
    assert answer["accessList"] == [{"address": contract.lower(), "storageKeys": ["0x" + "00" * 32]}]
    caller_code = (  # CALL(gas, contract, 0, ...) with increment() selector in memory
        "0x63"
        + INCREMENT[2:10]
        + "60e01b600052"
        + "60006000600460006000"  # retSize retOffset argsSize argsOffset value
        + "73"
        + contract[2:].lower()
        + "5af100"
    )
    wrapper = "0x" + "cd" * 20
    listed = await result(
        node,
        "eth_createAccessList",
        {"from": BOB_ADDRESS, "to": wrapper, "gas": "0x30d40"},
        "latest",
        {wrapper: {"code": caller_code}},
    )
    (entry,) = listed["accessList"]
    assert entry["address"].lower() == contract.lower() and len(entry["storageKeys"]) == 1
    assert int(listed["gasUsed"], 16) > 21_000 and "error" not in listed


# -- MegaETH's methods ----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_call_many_runs_bundles_on_one_state(node: Node) -> None:
    alice = Sender(node, ALICE)
    contract = await deploy(node, alice, REVERTER["bytecode"])
    bump = {"from": BOB_ADDRESS, "to": contract, "data": INCREMENT}
    read = {"to": contract, "data": READ_COUNTER}
    answer = await result(
        node,
        "eth_callMany",
        [{"transactions": [bump, bump, read]}, {"transactions": [read]}],
        {"blockNumber": "latest", "transactionIndex": -1},
    )
    assert [int(bundle[-1]["value"], 16) for bundle in answer] == [2, 2]
    assert answer[0][0] == {"value": "0x"}
    assert int(await result(node, "eth_call", read), 16) == 0, "nothing was committed"
    failing = await result(
        node,
        "eth_callMany",
        [{"transactions": [{"to": contract, "data": COUNTER.encode_abi("failRequire", [])}]}],
        {"blockNumber": "latest"},
    )
    assert "error" in failing[0][0]
    missing = await rpc(node, "eth_callMany", [{"transactions": [read]}], {})
    assert missing["error"]["code"] == -32602


@pytest.mark.asyncio
async def test_call_after_waits_for_the_nonce_then_calls(node: Node) -> None:
    alice = Sender(node, ALICE)
    contract = await deploy(node, alice, REVERTER["bytecode"])
    read = {"to": contract, "data": READ_COUNTER}
    waiting = asyncio.ensure_future(
        result(
            node,
            "eth_callAfter",
            read,
            {"account": ALICE_ADDRESS, "nonce": hex(alice.nonce + 1), "timeout": 5000},
        )
    )
    await asyncio.sleep(0.05)
    assert not waiting.done(), "it waits for the nonce"
    await alice.send(to=contract, data=INCREMENT, gas=100_000, value=0)
    await node.producer.seal_mini_block_now()
    assert int(await asyncio.wait_for(waiting, 5), 16) == 1, "the state right after the transaction"
    timed_out = await rpc(
        node, "eth_callAfter", read, {"account": BOB_ADDRESS, "nonce": "0x5", "timeout": 20}
    )
    assert timed_out["error"] == {"code": -32000, "message": "Timeout: timeout waiting for nonce condition"}


@pytest.mark.asyncio
async def test_realtime_send_expires_with_megaeths_error_and_sync_send_with_eip_7966s(node: Node) -> None:
    raw = signed(ALICE, 0)
    expired = await rpc(node, "realtime_sendRawTransaction", "0x" + raw.hex(), 30)
    assert (
        expired["error"]["code"] == -32000 and expired["error"]["message"] == "realtime transaction expired"
    )
    tx_hash = "0x" + Web3.keccak(raw).hex().removeprefix("0x")
    assert expired["error"]["data"] == tx_hash
    timed_out = await rpc(node, "eth_sendRawTransactionSync", "0x" + signed(ALICE, 1).hex(), 30)
    assert timed_out["error"]["code"] == 4


@pytest.fixture
def small_pages(tmp_path: Path) -> Iterator[Node]:
    config = load_preset("devnet")
    config = dataclasses.replace(
        config, rpc_policy=dataclasses.replace(config.rpc_policy, max_logs_per_response=2)
    )
    node = Node(config, tmp_path / "paged")
    try:
        yield node
    finally:
        node.writer.close()
        node.ingress.close()
        node.db.close()


@pytest.mark.asyncio
async def test_logs_beyond_the_cap_are_refused_and_paged_with_a_cursor(small_pages: Node) -> None:
    node = small_pages
    alice = Sender(node, ALICE)
    contract = await deploy(node, alice, REVERTER["bytecode"])
    for _ in range(5):
        await alice.send(to=contract, data=INCREMENT, gas=100_000, value=0)
        await node.producer.seal_mini_block_now()
    await node.producer.seal_evm_block_now()
    criteria = {"address": contract, "fromBlock": "0x0", "toBlock": "latest"}
    capped = await rpc(node, "eth_getLogs", criteria)
    assert capped["error"]["code"] == -32005 and "eth_getLogsWithCursor" in capped["error"]["message"]
    pages, cursor = [], None
    while True:
        page = await result(
            node, "eth_getLogsWithCursor", {**criteria, **({"cursor": cursor} if cursor else {})}
        )
        pages.append(page["logs"])
        cursor = page.get("cursor")
        if cursor is None:
            break
    assert [len(p) for p in pages] == [2, 2, 1]
    values = [int(log["data"], 16) for p in pages for log in p]
    assert values == [1, 2, 3, 4, 5], "every log once, in order"
    bad = await rpc(node, "eth_getLogsWithCursor", {**criteria, "cursor": "0x1234"})
    assert bad["error"]["code"] == -32602
