"""The sequencer's signatures on the real daemon: every mini-block and block on the feed is signed
by the key the chain's schedule names, the ``miniBlocks`` subscription carries the same
signature, and a key rotation at an EVM block boundary is followed by a verifier (which records
it), while a sequencer without the new key is caught sending unsigned mini-blocks."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from eth_hash.auto import keccak
from web3 import Web3

from sequencer.feed.wire import wire_signing_hash
from sequencer.signing import SequencerKey, Signature, recover
from tests.support.accounts import DEV_KEYS
from tests.support.daemon import DEVNET, Daemon
from tests.support.loadgen import raw_transfer
from tests.support.rpc import request
from tests.support.verifier import start_verifier
from verifier.status import read_checkpoint

DEVNET_SIGNER = "80d7b52b25d45387fc4646002763c67cc62e699d"
NEW_KEY = SequencerKey(bytes.fromhex("11" * 32))


def signer_of(body: dict[str, Any], digest: bytes) -> str:
    sig = body["signature"]
    parsed = Signature(int(sig["r"], 16), int(sig["s"], 16), int(sig["yParity"], 16))
    return (recover(digest, parsed) or b"").hex()


def rotating_config(tmp_path: Path, at_block: int, *, with_new_key: bool) -> Path:
    text = DEVNET.read_text()
    old = '[{ address = "0x80d7B52B25d45387FC4646002763C67CC62e699d", from_block = 0 }]'
    new = (
        '[{ address = "0x80d7B52B25d45387FC4646002763C67CC62e699d", from_block = 0 }, '
        f'{{ address = "0x{NEW_KEY.address.hex()}", from_block = {at_block} }}]'
    )
    assert old in text
    text = text.replace(old, new)
    if with_new_key:
        text = text.replace('keys = ["0x', f'keys = ["0x{"11" * 32}", "0x', 1)
    path = tmp_path / "rotating.toml"
    path.write_text(text)
    return path


@pytest.mark.asyncio
async def test_the_feed_and_the_subscription_carry_the_sequencers_signature(daemon_factory: Any) -> None:
    d: Daemon = daemon_factory("--evm-block-ms", "300")
    w3 = Web3(Web3.HTTPProvider(d.url))
    ws_url = d.url.replace("http://", "ws://")
    async with aiohttp.ClientSession() as session, session.ws_connect(ws_url) as ws:
        await ws.send_json({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["miniBlocks"]})
        assert "result" in await ws.receive_json(timeout=10)
        raw = raw_transfer(DEV_KEYS[0], 0, 5)
        await asyncio.to_thread(request, w3, "eth_sendRawTransactionSync", [raw])
        note = await ws.receive_json(timeout=10)
        payload = note["params"]["result"]
    number = int(payload["mini_block_number"], 16)
    async with aiohttp.ClientSession() as session, session.ws_connect(f"{d.feed_url}/?from=0") as feed:
        while True:
            message = await feed.receive_json(timeout=10)
            if message["type"] == "block":
                block = message["block"]
                assert signer_of(block, keccak(bytes.fromhex(block["header"][2:]))) == DEVNET_SIGNER
            if message["type"] == "miniBlock" and int(message["miniBlock"]["number"], 16) == number:
                mb = message["miniBlock"]
                break
    assert signer_of(mb, wire_signing_hash(mb)) == DEVNET_SIGNER
    assert payload["signature"] == mb["signature"], "the subscription carries the same signature"


def drive(w3: Web3, until_block: int) -> None:
    nonce = 0
    deadline = time.monotonic() + 60
    while w3.eth.block_number < until_block:
        assert time.monotonic() < deadline
        request(w3, "eth_sendRawTransactionSync", [raw_transfer(DEV_KEYS[1], nonce, 1)])
        nonce += 1
        time.sleep(0.05)


def test_a_key_rotation_at_a_block_boundary_is_followed_and_recorded(
    daemon_factory: Any, tmp_path: Path
) -> None:
    at = 6
    config = rotating_config(tmp_path, at, with_new_key=True)
    d: Daemon = daemon_factory("--evm-block-ms", "150", config=config)
    v = start_verifier(d.feed_url, tmp_path / "v", config=config)
    w3 = Web3(Web3.HTTPProvider(d.url))
    try:
        drive(w3, at + 3)
        deadline = time.monotonic() + 30
        while v.status()["height"] < at + 3:
            assert time.monotonic() < deadline and v.proc.poll() is None, v.log()
            time.sleep(0.1)
        assert v.status()["verdict"] == "ok", v.log()
        rotated = f'msg="sequencer signing key rotated" block={at} signer=0x{NEW_KEY.address.hex()}'
        assert f"{rotated} previous=0x{DEVNET_SIGNER}" in v.log()
    finally:
        assert v.stop() == 0, v.log()
    rotations = [(r.block, r.signer.hex()) for r in read_checkpoint(tmp_path / "v").rotations]
    assert rotations == [(at, NEW_KEY.address.hex())]


def test_a_sequencer_without_the_scheduled_key_is_caught(daemon_factory: Any, tmp_path: Path) -> None:
    at = 4
    config = rotating_config(tmp_path, at, with_new_key=False)
    d: Daemon = daemon_factory("--evm-block-ms", "150", config=config)
    missing = f'msg="no signing key for a scheduled sequencer signer" signer=0x{NEW_KEY.address.hex()}'
    assert missing in d.log()
    v = start_verifier(d.feed_url, tmp_path / "v", config=config)
    w3 = Web3(Web3.HTTPProvider(d.url))
    drive(w3, at + 1)
    deadline = time.monotonic() + 30
    while v.proc.poll() is None:
        assert time.monotonic() < deadline, v.log()
        time.sleep(0.1)
    assert v.stop() == 3
    (verdict,) = read_checkpoint(tmp_path / "v").verdicts
    assert verdict.field in ("miniBlock.signature", "block.signature"), verdict
    assert verdict.evm_block is not None and verdict.evm_block >= at
    assert verdict.claimed == "no signature" and NEW_KEY.address.hex() in verdict.recomputed
