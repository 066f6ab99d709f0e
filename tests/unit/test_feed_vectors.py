"""Specification of docs/feed.md's test vectors (``tests/fixtures/feed/vectors.json``): the
mini-block hash, the mini-block roots, the signing digest and the signer of real messages, a
devnet's dev-edit mini-blocks among them.

Three implementations agree on every vector: the sequencer's (what it sends), the verifier's
(what it checks), and a follower written from docs/feed.md alone, below, with only pyrlp,
py-trie, eth-keys and keccak: the document is enough to follow the feed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
import rlp
from eth_hash.auto import keccak
from eth_keys.datatypes import Signature as KeysSignature
from trie.hexary import HexaryTrie

from sequencer.feed.wire import wire_mini_block_hash, wire_signing_hash
from verifier.commitments import index_root, mini_block_hash, receipt_encoding, signing_hash
from verifier.signatures import recover_signer
from verifier.wire import BlockMessage, MiniBlockMessage, decode_message

VECTORS = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "feed" / "vectors.json").read_text())
MINIS = VECTORS["miniBlocks"] + VECTORS["devEditMiniBlocks"]


# -- a follower from the document alone ---------------------------------------------------------
def q(text: str) -> int:
    """A hex quantity."""
    return int(text, 16)


def b(text: str) -> bytes:
    """Hex data."""
    return bytes.fromhex(text[2:])


def doc_receipt(r: dict[str, Any]) -> bytes:
    """The consensus encoding: type byte (if typed) || rlp([status, cumulativeGasUsed, bloom, logs])."""
    bloom = 0
    for log in r["logs"]:
        for item in [b(log["address"]), *[b(t) for t in log["topics"]]]:
            h = keccak(item)
            for i in (0, 2, 4):
                bloom |= 1 << (((h[i] << 8) | h[i + 1]) & 2047)
    logs = [[b(lg["address"]), [b(t) for t in lg["topics"]], b(lg["data"])] for lg in r["logs"]]
    body: bytes = rlp.encode([q(r["status"]), q(r["cumulativeGasUsed"]), bloom.to_bytes(256, "big"), logs])
    return (bytes([q(r["type"])]) + body) if q(r["type"]) else body


def doc_root(items: list[bytes]) -> bytes:
    trie = HexaryTrie({})
    for i, item in enumerate(items):
        trie[rlp.encode(i)] = item
    return bytes(trie.root_hash)


def doc_hash(mb: dict[str, Any]) -> bytes:
    env = mb["env"]
    receipts = [
        [
            b(r["transactionHash"]),
            q(r["type"]),
            q(r["status"]),
            q(r["gasUsed"]),
            q(r["cumulativeGasUsed"]),
            q(r["effectiveGasPrice"]),
            b(r["contractAddress"]) if r["contractAddress"] else b"",
            q(r["transactionIndex"]),
            q(r["firstLogIndex"]),
            [[b(lg["address"]), [b(t) for t in lg["topics"]], b(lg["data"])] for lg in r["logs"]],
        ]
        for r in mb["receipts"]
    ]
    diff = [
        [
            b(a["address"]),
            q(a["nonce"]),
            q(a["balance"]),
            b(a["codeHash"]),
            [] if a["code"] is None else [b(a["code"])],
            [[q(s), q(v)] for s, v in a["storage"]],
            1 if a["deleted"] else 0,
        ]
        for a in mb["stateDiff"]
    ]
    fields = [
        q(mb["number"]),
        q(mb["blockNumber"]),
        q(mb["index"]),
        q(mb["timestampUs"]),
        b(mb["parentHash"]),
        [
            q(env["number"]),
            q(env["timestamp"]),
            b(env["parentHash"]),
            q(env["baseFee"]),
            q(env["gasLimit"]),
            b(env["coinbase"]),
            b(env["prevRandao"]),
        ],
        q(mb["gasUsed"]),
        [b(t) for t in mb["transactions"]],
        receipts,
        diff,
    ]
    if "devEdits" in mb:  # a devnet's dev edits: an 11th item
        fields.append([doc_dev_edit(e) for e in mb["devEdits"]])
    return bytes(keccak(rlp.encode(fields)))


def doc_dev_edit(e: dict[str, Any]) -> list[Any]:
    """``[kind, address, value, hasSlot, slot]``: the kind's ASCII name; ``value`` data for code
    and impersonated, else a quantity; ``slot`` 0 when null."""
    value = b(e["value"]) if e["kind"] in ("code", "impersonated") else q(e["value"])
    has_slot = e["slot"] is not None
    return [e["kind"].encode(), b(e["address"]), value, int(has_slot), q(e["slot"]) if has_slot else 0]


def doc_signing_hash(mb: dict[str, Any]) -> bytes:
    header = [
        q(mb["blockNumber"]),
        q(mb["env"]["timestamp"]),
        q(mb["index"]),
        q(mb["number"]),
        q(mb["timestampUs"]),
        q(mb["gasUsed"]),
        doc_root([b(t) for t in mb["transactions"]]),
        doc_root([doc_receipt(r) for r in mb["receipts"]]),
    ]
    return bytes(keccak(rlp.encode(header)))


def doc_signer(digest: bytes, sig: dict[str, str]) -> str:
    signature = KeysSignature(vrs=(q(sig["yParity"]), q(sig["r"]), q(sig["s"])))
    return "0x" + signature.recover_public_key_from_msg_hash(digest).to_canonical_address().hex()


# -- the three agree --------------------------------------------------------------------------------
@pytest.mark.parametrize("i", range(len(MINIS)))
def test_a_follower_from_the_document_alone_reproduces_every_mini_block_vector(i: int) -> None:
    vector = MINIS[i]
    mb = vector["message"]["miniBlock"]
    assert "0x" + doc_hash(mb).hex() == vector["hash"] == mb["hash"]
    assert "0x" + doc_root([b(t) for t in mb["transactions"]]).hex() == vector["transactionRoot"]
    assert "0x" + doc_root([doc_receipt(r) for r in mb["receipts"]]).hex() == vector["receiptRoot"]
    digest = doc_signing_hash(mb)
    assert "0x" + digest.hex() == vector["signingHash"]
    assert doc_signer(digest, mb["signature"]) == vector["signer"]


@pytest.mark.parametrize("i", range(len(MINIS)))
def test_the_verifier_and_the_sequencer_agree_with_every_mini_block_vector(i: int) -> None:
    vector = MINIS[i]
    message = decode_message(orjson.dumps(vector["message"]))
    assert isinstance(message, MiniBlockMessage)
    encodings = [receipt_encoding(r)[0] for r in message.receipts]
    assert "0x" + mini_block_hash(message).hex() == vector["hash"]
    assert "0x" + index_root(message.transactions).hex() == vector["transactionRoot"]
    assert "0x" + index_root(encodings).hex() == vector["receiptRoot"]
    digest = signing_hash(message, encodings)
    assert "0x" + digest.hex() == vector["signingHash"]
    assert message.signature is not None
    assert "0x" + (recover_signer(digest, message.signature) or b"").hex() == vector["signer"]
    body = vector["message"]["miniBlock"]
    assert "0x" + wire_mini_block_hash(body).hex() == vector["hash"]
    assert "0x" + wire_signing_hash(body).hex() == vector["signingHash"]


def test_the_block_vector() -> None:
    vector = VECTORS["block"]
    body = vector["message"]["block"]
    block_hash = bytes(keccak(b(body["header"])))
    assert "0x" + block_hash.hex() == vector["hash"] == body["hash"]
    assert doc_signer(block_hash, body["signature"]) == vector["signer"]
    message = decode_message(orjson.dumps(vector["message"]))
    assert isinstance(message, BlockMessage) and message.signature is not None
    assert "0x" + (recover_signer(block_hash, message.signature) or b"").hex() == vector["signer"]


def test_the_vectors_cover_what_they_should() -> None:
    """A deployment (code in the diff), logs, more than one transaction, every kind of dev edit;
    one signer throughout, the devnet's scheduled one."""
    bodies = [v["message"]["miniBlock"] for v in MINIS]
    kinds = {e["kind"] for mb in bodies for e in mb.get("devEdits", [])}
    assert kinds == {"balance", "nonce", "code", "storage", "impersonated"}
    assert any(a["code"] for mb in bodies for a in mb["stateDiff"])
    assert any(r["logs"] for mb in bodies for r in mb["receipts"])
    assert any(len(mb["transactions"]) > 1 for mb in bodies)
    signers = {v["signer"] for v in MINIS} | {VECTORS["block"]["signer"]}
    assert signers == {"0x80d7b52b25d45387fc4646002763c67cc62e699d"}
