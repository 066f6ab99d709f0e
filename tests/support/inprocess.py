"""A sequencer node assembled in the test process, its servers not started: the producer is
driven by hand (one mini-block, one EVM block at a time) and the RPC through its dispatcher."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from eth_account import Account

from sequencer.config import Override, load_config
from sequencer.node import Node

ROOT = Path(__file__).resolve().parent.parent.parent
DEVNET = ROOT / "configs" / "devnet.toml"
CHAIN_ID = 1337
GWEI = 10**9


@contextmanager
def in_process_node(data_dir: Path) -> Iterator[Node]:
    """A devnet node over ``data_dir``, calls run inline; closed (writer, ingress, storage)
    afterwards."""
    node = Node(load_config(DEVNET, overrides=[Override("rpc.call_workers", 0)]), data_dir)
    try:
        yield node
    finally:
        node.writer.close()
        node.ingress.close()
        node.db.close()


async def rpc(node: Node, method: str, *params: Any) -> Any:
    """One JSON-RPC call through the node's public dispatcher: the whole response object."""
    body = orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
    answer = await node.dispatcher.handle_body(body)
    assert answer is not None
    return orjson.loads(answer)


async def result(node: Node, method: str, *params: Any) -> Any:
    """One JSON-RPC call's result (fails the test on an error answer)."""
    response = await rpc(node, method, *params)
    assert "result" in response, response
    return response["result"]


def signed(key: str, nonce: int, **fields: Any) -> bytes:
    """A signed EIP-1559 transaction (a 1-wei transfer unless ``fields`` say otherwise)."""
    tx = {
        "type": 2,
        "chainId": CHAIN_ID,
        "nonce": nonce,
        "maxFeePerGas": 10 * GWEI,
        "maxPriorityFeePerGas": 0,
        "gas": 21_000,
        "to": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
        "value": 1,
        **fields,
    }
    return bytes(Account.from_key(key).sign_transaction(tx).raw_transaction)
