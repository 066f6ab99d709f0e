"""Record a short devnet feed as a test fixture (``tests/fixtures/feed/devnet.jsonl``).

The verifier's unit tests replay this recording instead of starting a sequencer. It holds
genesis and a handful of EVM blocks: a contract deployment, transfers, an event-emitting storage
write, EVM blocks of several mini-blocks and empty ones. Regenerate it (after a feed format
change) with::

    .venv/bin/python -m tests.support.record_feed tests/fixtures/feed/devnet.jsonl
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import requests
from eth_account import Account
from web3 import Web3

from tests.conftest import DEV_KEYS, load_artifact, start_daemon
from tests.support.rpc import batch, request

CHAIN_ID = 1337
GWEI = 10**9


def workload(w3: Web3) -> None:
    """A deployment, transfers, and contract calls spread over a few EVM blocks."""
    keys = DEV_KEYS[:3]
    nonces = {k: 0 for k in keys}
    art = load_artifact("Reverter")

    def raw(key: str, **fields: Any) -> str:
        tx = {
            "chainId": CHAIN_ID,
            "nonce": nonces[key],
            "gas": 21_000,
            "maxFeePerGas": 10 * GWEI,
            "maxPriorityFeePerGas": 0,
            "type": 2,
            "value": 0,
            **fields,
        }
        nonces[key] += 1
        return "0x" + bytes(Account.from_key(key).sign_transaction(tx).raw_transaction).hex()

    def sync(raw_tx: str) -> dict[str, Any]:
        answer: dict[str, Any] = request(w3, "eth_sendRawTransactionSync", [raw_tx])["result"]
        return answer

    deploy = sync(raw(keys[0], data=art["bytecode"], gas=1_000_000))
    contract = w3.eth.contract(address=Web3.to_checksum_address(deploy["contractAddress"]), abi=art["abi"])
    increment = contract.encode_abi("increment", [])
    for round_ in range(3):
        sync(raw(keys[1], to=Account.from_key(keys[2]).address, value=round_ + 1))
        calls = [
            ("eth_sendRawTransaction", [raw(keys[0], to=contract.address, data=increment, gas=100_000)]),
            ("eth_sendRawTransaction", [raw(keys[2], to=Account.create().address, value=7)]),
        ]
        hashes = [a["result"] for a in batch(w3, calls)]
        for h in hashes:
            w3.eth.wait_for_transaction_receipt(h, timeout=10, poll_latency=0.005)
        sync(raw(keys[1], to=contract.address, data=increment, gas=100_000))
        time.sleep(0.4)


async def read_feed(feed_url: str, until_seq: int) -> list[dict[str, Any]]:
    """Every feed message from genesis up to and including ``until_seq``."""
    out: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as session, session.ws_connect(f"{feed_url}/?from=0") as ws:
        async for msg in ws:
            message = orjson.loads(msg.data)
            out.append(message)
            if message["seq"] >= until_seq:
                break
    return out


def main(out: Path) -> None:
    """Record the fixture into ``out``."""
    with tempfile.TemporaryDirectory() as tmp:
        d = start_daemon(Path(tmp) / "data", "--evm-block-ms", "300")
        try:
            workload(Web3(Web3.HTTPProvider(d.url)))
            time.sleep(1.0)  # a couple of (empty) blocks after the last transaction
            status_url = d.feed_url.replace("ws://", "http://") + "/status"
            head = int(requests.get(status_url, timeout=5).json()["headSeq"])
            messages = asyncio.run(read_feed(d.feed_url, head))
        finally:
            d.stop()
    while messages[-1]["type"] != "block":
        messages.pop()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(b"".join(orjson.dumps(m) + b"\n" for m in messages))
    print(f"{out}: {len(messages)} messages, up to EVM block {int(messages[-1]['block']['number'], 16)}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
