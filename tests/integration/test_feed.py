"""The state-diff feed (docs/feed.md): contiguous, versioned, resumable from any position."""

from __future__ import annotations

import itertools
import time
from typing import Any

import aiohttp
import pytest
import requests
from eth_account import Account
from eth_hash.auto import keccak
from web3 import Web3

from tests.support.accounts import DEV_KEYS
from tests.support.contracts import load_artifact
from tests.support.daemon import Daemon
from tests.support.rpc import request

CHAIN_ID = 1337
GWEI = 10**9


def drive_some_load(w3: Web3) -> str:
    acct = Account.from_key(DEV_KEYS[0])
    nonce = int(w3.eth.get_transaction_count(acct.address))
    art = load_artifact("SimpleStorage")

    def send(**fields: Any) -> dict[str, Any]:
        nonlocal nonce
        tx = {
            "chainId": CHAIN_ID,
            "nonce": nonce,
            "gas": 21_000,
            "maxFeePerGas": 10 * GWEI,
            "maxPriorityFeePerGas": 0,
            "type": 2,
            "value": 0,
            **fields,
        }
        nonce += 1
        raw = "0x" + bytes(acct.sign_transaction(tx).raw_transaction).hex()
        result: dict[str, Any] = request(w3, "eth_sendRawTransactionSync", [raw])["result"]
        return result

    address = send(data=art["bytecode"], gas=500_000)["contractAddress"]
    contract = w3.eth.contract(address=Web3.to_checksum_address(address), abi=art["abi"])
    send(to=contract.address, data=contract.encode_abi("set", [7]), gas=100_000)
    for i in range(5):
        send(to=Account.create().address, value=i + 1)
    return str(address)


async def read(url: str, start: int, count: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as session, session.ws_connect(f"{url}/?from={start}") as ws:
        while len(out) < count:
            out.append(await ws.receive_json(timeout=10))
    return out


@pytest.mark.asyncio
async def test_a_follower_reads_the_whole_chain_from_genesis_then_live(daemon_factory: Any) -> None:
    d: Daemon = daemon_factory("--evm-block-ms", "200")
    w3 = Web3(Web3.HTTPProvider(d.url))
    contract = drive_some_load(w3)
    time.sleep(0.5)
    head_seq = requests.get(d.feed_url.replace("ws://", "http://") + "/status", timeout=5).json()["headSeq"]
    messages = await read(d.feed_url, 0, head_seq + 3)  # history, then live blocks

    assert [m["seq"] for m in messages] == list(range(len(messages))), "contiguous positions"
    assert {m["version"] for m in messages} == {2}
    assert messages[0]["type"] == "genesis"
    genesis_hash = messages[0]["genesis"]["hash"]
    minis = [m["miniBlock"] for m in messages if m["type"] == "miniBlock"]
    blocks = [m["block"] for m in messages if m["type"] == "block"]
    assert len(minis) == 7 and blocks
    # mini-blocks chain by parent hash (the first one to the genesis block)
    assert minis[0]["parentHash"] == genesis_hash
    for prev, mb in itertools.pairwise(minis):
        assert mb["parentHash"] == prev["hash"]
        assert int(mb["number"], 16) == int(prev["number"], 16) + 1
    # each block message carries the header its hash commits to, and counts its mini-blocks
    seen_minis = 0
    for m in messages:
        if m["type"] == "miniBlock":
            seen_minis += 1
        elif m["type"] == "block":
            block = m["block"]
            assert "0x" + keccak(bytes.fromhex(block["header"][2:])).hex() == block["hash"]
            assert w3.eth.get_block(int(block["number"], 16))["hash"].to_0x_hex() == block["hash"]
            first, count = int(block["firstMiniBlock"], 16), int(block["miniBlockCount"], 16)
            assert first + count == seen_minis
    # the state diff of the storage write names the contract's slot 0 = 7
    writes = [a for mb in minis for a in mb["stateDiff"] if a["address"] == contract.lower() and a["storage"]]
    assert ["0x0", "0x7"] in writes[-1]["storage"]


@pytest.mark.asyncio
async def test_a_follower_resumes_from_any_position(daemon_factory: Any) -> None:
    d: Daemon = daemon_factory("--evm-block-ms", "200")
    drive_some_load(Web3(Web3.HTTPProvider(d.url)))
    full = await read(d.feed_url, 0, 12)
    for start in (1, 5, 9):
        again = await read(d.feed_url, start, 3)
        assert again == full[start : start + 3]


def test_bad_positions_are_refused(daemon_factory: Any) -> None:
    d: Daemon = daemon_factory()
    response = requests.get(d.feed_url.replace("ws://", "http://") + "/?from=-3", timeout=5)
    assert response.status_code == 400
