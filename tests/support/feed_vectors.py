"""Write the test vectors of docs/feed.md (``tests/fixtures/feed/vectors.json``) from the recorded
devnet feed: a few real messages with what a follower must recompute from them — the mini-block
hash, the mini-block's transaction and receipt roots, the signing digest and the signer the
signature recovers to, and for a block its hash and signer; and a devnet's dev-edit mini-blocks
(``devEdits``: each state edit, an impersonated transfer), recorded from an in-process devnet
sequencer when the vectors are written. Regenerate after recording the feed again::

    .venv/bin/python -m tests.support.feed_vectors tests/fixtures/feed/vectors.json

The values come from the sequencer's own functions (``sequencer/feed/wire.py``, the feed's
signer); ``tests/unit/test_feed_vectors.py`` checks them against the verifier and against a
follower written from docs/feed.md alone.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from eth_hash.auto import keccak

from sequencer import fastrlp
from sequencer.feed.wire import wire_mini_block_hash, wire_receipt_encoding, wire_signing_hash
from sequencer.signing import Signature, recover
from sequencer.trie.mpt import compute_root
from tests.support.feed_fixture import recorded_feed
from tests.support.inprocess import in_process_node, result

EDITED = "0x00000000000000000000000000000000000000aa"
IMPERSONATED = "0x00000000000000000000000000000000deadbeef"


def _signer(body: dict[str, Any], digest: bytes) -> str:
    sig = body["signature"]
    signer = recover(digest, Signature(int(sig["r"], 16), int(sig["s"], 16), int(sig["yParity"], 16)))
    assert signer is not None
    return "0x" + signer.hex()


def dev_edit_messages() -> list[dict[str, Any]]:
    """A devnet's dev-edit mini-blocks: setCode, setStorageAt, setNonce, setBalance, and a
    transfer sent for an impersonated account (from an in-process devnet sequencer)."""

    async def run(data_dir: Path) -> list[dict[str, Any]]:
        with in_process_node(data_dir) as node:
            await result(node, "anvil_setCode", EDITED, "0x600054600101600055")
            await result(node, "anvil_setStorageAt", EDITED, "0x1", "0x" + "00" * 31 + "2a")
            await result(node, "anvil_setNonce", EDITED, "0x7")
            await result(node, "anvil_setBalance", IMPERSONATED, hex(10**18))
            await result(node, "anvil_impersonateAccount", IMPERSONATED)
            await result(node, "eth_sendTransaction", {"from": IMPERSONATED, "to": EDITED, "value": "0x5"})
            return [m for m in node.feed.history(0) if "devEdits" in m.get("miniBlock", {})]

    with tempfile.TemporaryDirectory() as tmp:
        return asyncio.run(run(Path(tmp) / "data"))


def mini_block_vector(m: dict[str, Any]) -> dict[str, Any]:
    """A mini-block message with what a follower recomputes from it."""
    mb = m["miniBlock"]
    tx_root = compute_root(
        (fastrlp.encode(i), bytes.fromhex(t[2:])) for i, t in enumerate(mb["transactions"])
    )
    receipt_root = compute_root(
        (fastrlp.encode(i), wire_receipt_encoding(r)) for i, r in enumerate(mb["receipts"])
    )
    digest = wire_signing_hash(mb)
    return {
        "message": m,
        "hash": "0x" + wire_mini_block_hash(mb).hex(),
        "transactionRoot": "0x" + tx_root.hex(),
        "receiptRoot": "0x" + receipt_root.hex(),
        "signingHash": "0x" + digest.hex(),
        "signer": _signer(mb, digest),
    }


def vectors() -> dict[str, Any]:
    """The vectors: the genesis, three mini-blocks (a deployment, a transfer, one with two
    transactions and a log), the block of the first two, and a devnet's dev-edit mini-blocks."""
    feed = recorded_feed()
    minis = [m for m in feed if m["type"] == "miniBlock"]
    chosen = [minis[0], minis[1], next(m for m in minis if len(m["miniBlock"]["transactions"]) == 2)]
    out: dict[str, Any] = {
        "genesis": {"message": feed[0], "hash": feed[0]["genesis"]["hash"]},
        "miniBlocks": [mini_block_vector(m) for m in chosen],
    }
    block = next(m for m in feed if m["type"] == "block")
    block_hash = keccak(bytes.fromhex(block["block"]["header"][2:]))
    out["block"] = {
        "message": block,
        "hash": "0x" + block_hash.hex(),
        "signer": _signer(block["block"], block_hash),
    }
    out["devEditMiniBlocks"] = [mini_block_vector(m) for m in dev_edit_messages()]
    return out


if __name__ == "__main__":
    path = Path(sys.argv[1])
    path.write_text(json.dumps(vectors(), indent=1) + "\n")
    print(f"{path}: written")
