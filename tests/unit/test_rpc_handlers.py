"""Specification of the JSON-RPC handlers (sequencer.rpc.*) over an in-process node: the answers
a client gets, with the producer driven by hand, and every domain error through the one table.

* Calls run in the environment the next transaction meets: before a block opens, the one the
  producer will open it with (``sequencer.rules.next_block_env``); once open, the open block's.
* Domain errors answer with their codes: a revert 3 with its data, an unknown block -32001, a
  rejected transaction -32000 in geth's words; malformed parameters -32602.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from sequencer.node import Node
from tests.support.accounts import DEV_KEYS
from tests.support.inprocess import in_process_node, result, rpc, signed

ALICE = DEV_KEYS[0]
ALICE_ADDRESS = Account.from_key(ALICE).address
# init code that returns TIMESTAMP, NUMBER and BASEFEE as three words:
# TIMESTAMP PUSH1 0 MSTORE NUMBER PUSH1 32 MSTORE BASEFEE PUSH1 64 MSTORE PUSH1 96 PUSH1 0 RETURN
ENV_PROBE = "0x" + "42600052" + "43602052" + "48604052" + "60606000f3"


@pytest.fixture
def node(tmp_path: Path) -> Any:
    with in_process_node(tmp_path / "data") as n:
        yield n


async def probe_env(node: Node) -> tuple[int, int, int]:
    out = await result(node, "eth_call", {"data": ENV_PROBE}, "latest")
    words = bytes.fromhex(out[2:])
    return tuple(int.from_bytes(words[i : i + 32], "big") for i in (0, 32, 64))  # type: ignore[return-value]


@pytest.mark.asyncio
async def test_calls_run_in_the_environment_the_next_block_opens_with(node: Node) -> None:
    head = node.chain.head
    timestamp, number, base_fee = await probe_env(node)
    expected = node.chain.next_env()
    assert number == head.number + 1 == expected.number
    assert timestamp >= head.timestamp + 1 and abs(timestamp - expected.timestamp) <= 1
    assert base_fee == 0  # a call without a gas price runs with a zero base fee (geth)
    await node.submitter.submit(signed(ALICE, 0))
    await node.producer.seal_mini_block_now()  # the block opens
    opened = node.chain.open_env
    assert opened is not None
    assert (await probe_env(node))[:2] == (opened.timestamp, opened.number)
    await node.producer.seal_evm_block_now()
    sealed = node.chain.head
    assert (sealed.number, sealed.timestamp) == (opened.number, opened.timestamp)


@pytest.mark.asyncio
async def test_gas_price_stays_includable_across_the_next_block_boundary(node: Node) -> None:
    """Never below the newest sealed, the open or the next block's base fee, plus one block's
    largest rise (12.5%), so a legacy transaction priced at it is not underpriced a block later."""
    chain = node.chain
    highest = max(chain.head.base_fee, chain.pending_base_fee(), chain.following_env().base_fee)
    price = int(await result(node, "eth_gasPrice"), 16)
    assert price == -(-highest * 9 // 8)
    assert price > chain.head.base_fee and price > chain.next_env().base_fee
    assert await result(node, "eth_maxPriorityFeePerGas") == "0x0"


@pytest.mark.asyncio
async def test_state_reads_follow_the_newest_mini_block_and_history(node: Node) -> None:
    recipient = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
    before = int(await result(node, "eth_getBalance", recipient, "latest"), 16)
    await node.submitter.submit(signed(ALICE, 0, value=5))
    assert await result(node, "eth_getTransactionCount", ALICE_ADDRESS, "pending") == "0x1"
    assert await result(node, "eth_getTransactionCount", ALICE_ADDRESS, "latest") == "0x0"
    await node.producer.seal_mini_block_now()
    assert int(await result(node, "eth_getBalance", recipient, "latest"), 16) == before + 5
    await node.producer.seal_evm_block_now()
    assert int(await result(node, "eth_getBalance", recipient, "0x0"), 16) == before  # genesis
    assert int(await result(node, "eth_getBalance", recipient, "0x1"), 16) == before + 5


@pytest.mark.asyncio
async def test_blocks_and_transactions_read_back(node: Node) -> None:
    raw = signed(ALICE, 0)
    tx_hash = "0x" + (await node.submitter.submit(raw)).hash.hex()
    pooled = await result(node, "eth_getTransactionByHash", tx_hash)
    assert pooled["blockHash"] is None and pooled["from"].lower() == ALICE_ADDRESS.lower()
    await node.producer.seal_mini_block_now()
    await node.producer.seal_evm_block_now()
    block = await result(node, "eth_getBlockByNumber", "latest", True)
    assert block["number"] == "0x1" and [t["hash"] for t in block["transactions"]] == [tx_hash]
    included = block["transactions"][0]
    per_block = ("blockHash", "blockNumber", "transactionIndex", "blockTimestamp", "gasPrice")
    assert {k: v for k, v in included.items() if k not in per_block} == {
        k: v for k, v in pooled.items() if k not in per_block
    }
    assert included["blockHash"] == block["hash"] and included["transactionIndex"] == "0x0"
    assert await result(node, "eth_getRawTransactionByHash", tx_hash) == "0x" + raw.hex()
    receipts = await result(node, "eth_getBlockReceipts", "latest")
    assert [r["transactionHash"] for r in receipts] == [tx_hash]
    assert await result(node, "eth_getBlockByNumber", "0x5", False) is None


@pytest.mark.asyncio
async def test_domain_errors_answer_with_their_codes(node: Node) -> None:
    unknown = await rpc(node, "eth_getBalance", ALICE_ADDRESS, "0x99")
    assert unknown["error"]["code"] == -32001 and "block 153 not found" in unknown["error"]["message"]
    low = await rpc(node, "eth_sendRawTransaction", "0x" + signed(ALICE, 0, maxFeePerGas=1).hex())
    assert low["error"]["code"] == -32000 and low["error"]["message"].startswith("transaction underpriced")
    bad = await rpc(node, "eth_getBalance", "0x1234", "latest")
    assert bad["error"]["code"] == -32602
    # REVERT with Error("nope"): PUSH the ABI encoding into memory and revert it
    revert_code = (
        "7f08c379a0000000000000000000000000000000000000000000000000000000006000526020600452"
        "6004602452" + "7f6e6f706500000000000000000000000000000000000000000000000000000000604452"
        "60646000fd"
    )
    reverted = await rpc(node, "eth_call", {"data": "0x" + revert_code}, "latest")
    assert reverted["error"]["code"] == 3
    assert reverted["error"]["message"] == "execution reverted: nope"
    assert reverted["error"]["data"].startswith("0x08c379a0")


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "method", ["eth_sendRawTransaction", "eth_sendRawTransactionSync", "realtime_sendRawTransaction"]
)
async def test_an_oversized_raw_transaction_is_refused_for_its_size_before_its_digits(
    node: Node, method: str
) -> None:
    """4 MiB of hex (or of anything) is answered geth's ``oversized data`` without being read."""
    for raw in ("0x" + "ab" * (2 * 1024 * 1024), "0x" + "zz" * (128 * 1024 + 1)):
        refused = await rpc(node, method, raw)
        assert refused["error"] == {"code": -32000, "message": "oversized data"}
    at_the_limit = await rpc(node, method, "0x02" + "00" * (128 * 1024 - 1))
    assert at_the_limit["error"]["code"] == -32000
    assert at_the_limit["error"]["message"].startswith("transaction could not be decoded")
