"""Specification of L1 deposits (type 0x7E) as the JSON-RPC API shows them, in the shapes op-geth
gives them, in-process over a real chain:

* ``eth_getTransactionByHash`` and full-transaction blocks: ``type`` ``0x7e``, ``sourceHash``,
  ``mint``, ``nonce`` = the sender's nonce before (its receipt's ``depositNonce``),
  ``depositReceiptVersion``, ``gasPrice``/``v``/``r``/``s`` 0, no ``chainId``, ``accessList`` or
  ``yParity``, ``isSystemTx`` only when true;
* ``eth_getTransactionReceipt``: ``depositNonce`` and ``depositReceiptVersion`` 1, effective gas
  price 0; everything else conforms to execution-apis' ``ReceiptInfo``; the receipts root commits
  to the consensus encoding ``0x7E || rlp([status, cumulativeGas, bloom, logs, depositNonce, 1])``;
* ``eth_sendRawTransaction`` refuses a deposit with a clear error;
* calls, gas estimates and traces work over a block that contains deposits.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from eth._utils.address import generate_contract_address
from eth_account import Account
from eth_utils.address import to_checksum_address

from sequencer import fastrlp
from sequencer.node import Node
from sequencer.trie.mpt import compute_root
from sequencer.types import SignedTx
from tests.support.accounts import DEV_KEYS
from tests.support.deposits import ListDepositSource, make_deposit
from tests.support.inprocess import in_process_node, result, rpc, signed
from tests.support.openrpc import load_spec

ALICE = DEV_KEYS[0]
ALICE_ADDRESS = bytes.fromhex(Account.from_key(ALICE).address[2:])
DEPOSITOR = b"\xd1" * 20
RECIPIENT = b"\xe2" * 20
ETHER = 10**18
INITCODE = bytes.fromhex("600060005360016000f3")  # deploys the one-byte runtime 0x00
REVERTING_INITCODE = bytes.fromhex("60006000fd")


def h(value: bytes) -> str:
    return "0x" + value.hex()


class Chain:
    """A block with a value deposit, a creation, a reverting creation, then a pooled transfer."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.transfer = make_deposit(DEPOSITOR, RECIPIENT, mint=2 * ETHER, value=ETHER, log_index=0)
        self.create = make_deposit(DEPOSITOR, None, gas=200_000, data=INITCODE, log_index=1)
        self.reverting = make_deposit(
            DEPOSITOR, None, mint=5, gas=100_000, data=REVERTING_INITCODE, log_index=2
        )
        self.deposits: list[SignedTx] = [self.transfer, self.create, self.reverting]
        self.pooled = b""

    async def build(self) -> None:
        node = self.node
        node.producer.set_deposit_source(ListDepositSource(self.deposits))
        self.pooled = (await node.submitter.submit(signed(ALICE, 0, to=to_checksum_address(DEPOSITOR)))).hash
        await node.producer.seal_mini_block_now()
        await node.producer.seal_evm_block_now()


@pytest_asyncio.fixture
async def chain(tmp_path: Path) -> AsyncIterator[Chain]:
    with in_process_node(tmp_path / "data") as node:
        c = Chain(node)
        await c.build()
        yield c


@pytest.mark.asyncio
async def test_a_deposit_transaction_has_op_geths_shape(chain: Chain) -> None:
    tx = await result(chain.node, "eth_getTransactionByHash", h(chain.transfer.hash))
    block = chain.node.chain.head
    assert tx == {
        "type": "0x7e",
        "hash": h(chain.transfer.hash),
        "nonce": "0x0",
        "blockHash": h(block.hash),
        "blockNumber": hex(block.number),
        "transactionIndex": "0x0",
        "blockTimestamp": hex(block.timestamp),
        "from": h(DEPOSITOR),
        "to": h(RECIPIENT),
        "value": hex(ETHER),
        "gas": hex(100_000),
        "input": "0x",
        "v": "0x0",
        "r": "0x0",
        "s": "0x0",
        "gasPrice": "0x0",
        "sourceHash": h(chain.transfer.source_hash or b""),
        "mint": hex(2 * ETHER),
        "depositReceiptVersion": "0x1",
    }
    second = await result(chain.node, "eth_getTransactionByHash", h(chain.create.hash))
    assert second["nonce"] == "0x1" and second["to"] is None and second["mint"] == "0x0"


@pytest.mark.asyncio
async def test_a_full_block_lists_deposits_first_in_the_same_shape(chain: Chain) -> None:
    block = await result(chain.node, "eth_getBlockByNumber", "latest", True)
    hashes = [t["hash"] for t in block["transactions"]]
    assert hashes == [h(d.hash) for d in chain.deposits] + [h(chain.pooled)]
    by_hash = await result(chain.node, "eth_getTransactionByHash", h(chain.create.hash))
    assert block["transactions"][1] == by_hash
    assert block["transactions"][3]["type"] == "0x2"


@pytest.mark.asyncio
async def test_deposit_receipts_carry_the_deposit_nonce_and_receipt_version(chain: Chain) -> None:
    node = chain.node
    receipts = [await result(node, "eth_getTransactionReceipt", h(d.hash)) for d in chain.deposits]
    assert [r["type"] for r in receipts] == ["0x7e"] * 3
    assert [r["depositNonce"] for r in receipts] == ["0x0", "0x1", "0x2"]
    assert [r["depositReceiptVersion"] for r in receipts] == ["0x1"] * 3
    assert [r["status"] for r in receipts] == ["0x1", "0x1", "0x0"]
    assert [r["effectiveGasPrice"] for r in receipts] == ["0x0"] * 3
    created = bytes(generate_contract_address(DEPOSITOR, 1))  # type: ignore[arg-type]
    assert receipts[1]["contractAddress"] == h(created)
    assert await result(node, "eth_getCode", h(created), "latest") == "0x00"
    # mint kept by the reverting creation; the value transfer and both mints otherwise
    assert int(await result(node, "eth_getBalance", h(DEPOSITOR), "latest"), 16) == ETHER + 5 + 1
    spec = load_spec()
    for receipt in receipts:
        plain = {k: v for k, v in receipt.items() if k not in ("depositNonce", "depositReceiptVersion")}
        spec.validate_result("eth_getTransactionReceipt", plain)
    pooled = await result(node, "eth_getTransactionReceipt", h(chain.pooled))
    assert "depositNonce" not in pooled and pooled["status"] == "0x1"


@pytest.mark.asyncio
async def test_the_receipts_root_commits_to_the_consensus_deposit_receipt(chain: Chain) -> None:
    node = chain.node
    block = node.chain.head
    (mb,) = node.chain.block_mini_blocks(block)
    first = mb.receipts[0].encoded
    assert first[0] == 0x7E
    status, cumulative, _bloom, logs, nonce, version = fastrlp.decode(first[1:])
    assert (status, cumulative, logs, nonce, version) == (
        b"\x01",
        (21_000).to_bytes(2, "big"),
        [],
        b"",
        b"\x01",
    )
    root = compute_root((fastrlp.encode(i), r.encoded) for i, r in enumerate(mb.receipts))
    assert block.receipts_root == root


@pytest.mark.asyncio
async def test_eth_send_raw_transaction_refuses_a_deposit(chain: Chain) -> None:
    fresh = make_deposit(DEPOSITOR, RECIPIENT, mint=ETHER, log_index=9)
    answer = await rpc(chain.node, "eth_sendRawTransaction", h(fresh.raw))
    assert answer["error"] == {"code": -32000, "message": "deposit transactions come only from L1"}
    assert fresh.hash not in chain.node.pool


@pytest.mark.asyncio
async def test_calls_and_estimates_work_over_a_block_with_deposits(chain: Chain) -> None:
    node = chain.node
    call = {"from": h(RECIPIENT), "to": h(DEPOSITOR), "value": hex(ETHER // 2)}
    assert await result(node, "eth_call", call, "latest") == "0x"
    assert await result(node, "eth_estimateGas", call, "latest") == hex(21_000)


@pytest.mark.asyncio
@pytest.mark.parametrize("tracer", [None, "callTracer", "prestateTracer"])
async def test_deposits_are_traced_and_replayed_before_the_transactions_behind_them(
    chain: Chain, tracer: str | None
) -> None:
    node = chain.node
    options: dict[str, Any] = {"tracer": tracer} if tracer else {}
    trace = await result(node, "debug_traceTransaction", h(chain.transfer.hash), options)
    if tracer == "callTracer":
        assert trace["type"] == "CALL" and trace["from"] == h(DEPOSITOR) and trace["value"] == hex(ETHER)
        assert trace["gasUsed"] == hex(21_000)
    elif tracer == "prestateTracer":
        assert h(DEPOSITOR) in trace and h(RECIPIENT) in trace
    else:
        assert trace["gas"] == 21_000 and trace["failed"] is False
    reverting = await result(node, "debug_traceTransaction", h(chain.reverting.hash), options)
    if tracer is None:
        assert reverting["failed"] is True
    block = await result(node, "debug_traceBlockByNumber", "latest", options)
    assert [t["txHash"] for t in block] == [h(d.hash) for d in chain.deposits] + [h(chain.pooled)]
    pooled = await result(node, "debug_traceTransaction", h(chain.pooled), options)
    assert pooled == block[3]["result"]


@pytest.mark.asyncio
async def test_a_failed_deposit_is_traced_with_its_failure(tmp_path: Path) -> None:
    with in_process_node(tmp_path / "data") as node:
        failed = make_deposit(DEPOSITOR, RECIPIENT, mint=1, value=ETHER, gas=30_000)
        node.producer.set_deposit_source(ListDepositSource([failed]))
        await node.producer.seal_mini_block_now()
        receipt = await result(node, "eth_getTransactionReceipt", h(failed.hash))
        assert receipt["status"] == "0x0" and receipt["gasUsed"] == hex(30_000)
        calls = await result(node, "debug_traceTransaction", h(failed.hash), {"tracer": "callTracer"})
        assert calls["error"] == "failed deposit: insufficient funds for transfer"
        assert calls["gasUsed"] == hex(30_000)
        steps = await result(node, "debug_traceTransaction", h(failed.hash))
        assert steps == {"gas": 30_000, "failed": True, "returnValue": "0x", "structLogs": []}
        diff = await result(
            node,
            "debug_traceTransaction",
            h(failed.hash),
            {"tracer": "prestateTracer", "tracerConfig": {"diffMode": True}},
        )
        assert diff["post"][h(DEPOSITOR)] == {"balance": "0x1", "nonce": 1}  # the mint and the nonce only
