"""Specification of a replica's read-only JSON-RPC (``verifier/reads.py``), answered through the
sequencer's JSON-RPC 2.0 dispatcher with its strict parameter decoding.

* ``eth_blockNumber``, ``eth_getBalance``, ``eth_getTransactionCount``, ``eth_getCode`` and
  ``eth_getStorageAt`` answer from the state after the last verified EVM block.
* ``latest``, ``pending``, ``safe``, ``finalized`` (and no block at all), that block's number
  and its hash (EIP-1898) read that state; ``earliest`` does while that block is genesis; any
  other block is an invalid-params error naming the one block served.
* Malformed JSON is a parse error (-32700) with HTTP 200, bad parameters are invalid params
  (-32602), unknown methods "method not found" (-32601); batches are answered in order.

The state comes from replaying the recorded devnet feed; the expected values are the feed's
own claims (its state diffs folded over the genesis allocation), which the replay verified.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer

from tests.support.feed_fixture import CHAIN, recorded_feed
from verifier.checkpoint import Boundary
from verifier.genesis import build_genesis
from verifier.reads import VerifiedState, read_dispatcher
from verifier.replay import Replay
from verifier.state import FlatState
from verifier.status import make_status_app
from verifier.wire import decode_message

PARSE_ERROR, METHOD_NOT_FOUND, INVALID_PARAMS = -32700, -32601, -32602
FEED = recorded_feed()
LAST = FEED[-1]["block"]
GENESIS_HASH = FEED[0]["genesis"]["hash"]


def replayed(count: int, *, into_next_block: bool = False) -> Replay:
    """A replay of the first ``count`` messages (and, ``into_next_block``, of every later
    mini-block up to the next ``block`` message: a block being verified)."""
    state = FlatState()
    replay = Replay(CHAIN, state, Boundary(), genesis=build_genesis(CHAIN, state))
    for message in FEED[:count]:
        replay.check(decode_message(orjson.dumps(message)))
        if message["type"] in ("genesis", "block"):
            state.take_changes()  # what a commit does at a boundary
    if into_next_block:
        for message in FEED[count:]:
            if message["type"] != "miniBlock":
                break
            replay.check(decode_message(orjson.dumps(message)))
    return replay


@pytest.fixture(scope="module")
def head() -> Replay:
    return replayed(len(FEED))


def claimed_accounts() -> dict[str, dict[str, Any]]:
    """Address -> {balance, nonce, code, storage}: genesis with every claimed diff applied."""
    accounts: dict[str, dict[str, Any]] = {}
    for entry in FEED[0]["genesis"]["alloc"]:
        accounts[entry["address"].lower()] = {
            "balance": entry["balance"],
            "nonce": entry["nonce"],
            "code": entry["code"],
            "storage": dict(entry["storage"]),
        }
    for m in FEED:
        for acc in m.get("miniBlock", {}).get("stateDiff", []):
            if acc["deleted"]:
                accounts.pop(acc["address"], None)
                continue
            known = accounts.setdefault(acc["address"], {"code": "0x", "storage": {}})
            known["balance"], known["nonce"] = acc["balance"], acc["nonce"]
            if acc["code"] is not None:
                known["code"] = acc["code"]
            known["storage"].update(dict(acc["storage"]))
    return accounts


ACCOUNTS = claimed_accounts()
CONTRACT = next(a for a, v in ACCOUNTS.items() if v["code"] != "0x" and v["storage"])
SENDER = next(a for a, v in ACCOUNTS.items() if int(v["nonce"], 16) > 1)


def call(replay: Replay, method: str, *params: Any) -> dict[str, Any]:
    """One request through the dispatcher; the response object."""
    body = orjson.dumps({"jsonrpc": "2.0", "id": 7, "method": method, "params": list(params)})
    answer: dict[str, Any] = orjson.loads(asyncio.run(dispatcher(replay).handle_body(body)) or b"null")
    assert answer["id"] == 7
    return answer


def dispatcher(replay: Replay) -> Any:
    return read_dispatcher(lambda: VerifiedState(replay.boundary, replay.state))


def error_code(answer: dict[str, Any]) -> int:
    assert "result" not in answer, answer
    code: int = answer["error"]["code"]
    return code


def test_the_recording_has_a_contract_with_storage_and_a_sender() -> None:
    assert int(ACCOUNTS[CONTRACT]["storage"][next(iter(ACCOUNTS[CONTRACT]["storage"]))], 16) > 0
    assert int(ACCOUNTS[SENDER]["nonce"], 16) > 1


def test_eth_block_number_is_the_last_verified_block(head: Replay) -> None:
    assert call(head, "eth_blockNumber") == {"jsonrpc": "2.0", "id": 7, "result": LAST["number"]}


def test_accounts_read_the_state_after_the_last_verified_block(head: Replay) -> None:
    for address, account in ACCOUNTS.items():
        assert call(head, "eth_getBalance", address, "latest")["result"] == account["balance"], address
        assert call(head, "eth_getTransactionCount", address, "latest")["result"] == account["nonce"]
        assert call(head, "eth_getCode", address, "latest")["result"] == account["code"]
    for slot, value in ACCOUNTS[CONTRACT]["storage"].items():
        word = "0x" + int(value, 16).to_bytes(32, "big").hex()
        assert call(head, "eth_getStorageAt", CONTRACT, slot, "latest")["result"] == word
        as_hash = "0x" + int(slot, 16).to_bytes(32, "big").hex()
        assert call(head, "eth_getStorageAt", CONTRACT, as_hash)["result"] == word, "a slot as a 32-byte word"


def test_while_a_block_is_being_verified_the_reads_answer_from_the_last_verified_one() -> None:
    """The flat state moves with every mini-block's diff; the reads still answer the boundary's."""
    follows = [
        i for i, m in enumerate(FEED[:-1]) if m["type"] == "block" and FEED[i + 1]["type"] == "miniBlock"
    ]
    count = follows[0] + 1
    at_boundary, moving = replayed(count), replayed(count, into_next_block=True)
    assert moving.open is not None and moving.open.mini_blocks > 0
    minis = [m["miniBlock"] for m in FEED[count:] if m["type"] == "miniBlock"]
    changed = {a["address"] for mb in minis for a in mb["stateDiff"]}
    assert changed
    for address in changed:
        for method in ("eth_getBalance", "eth_getTransactionCount", "eth_getCode"):
            assert call(moving, method, address)["result"] == call(at_boundary, method, address)["result"]


def test_an_account_never_seen_reads_as_empty(head: Replay) -> None:
    nobody = "0x" + "42" * 20
    assert call(head, "eth_getBalance", nobody)["result"] == "0x0"
    assert call(head, "eth_getTransactionCount", nobody)["result"] == "0x0"
    assert call(head, "eth_getCode", nobody)["result"] == "0x"
    assert call(head, "eth_getStorageAt", nobody, "0x0")["result"] == "0x" + "00" * 32


@pytest.mark.parametrize(
    "block",
    ["latest", "pending", "safe", "finalized", None, LAST["number"], {"blockHash": LAST["hash"]}],
    ids=["latest", "pending", "safe", "finalized", "omitted", "its-number", "its-hash"],
)
def test_the_newest_tags_and_the_verified_block_itself_read_the_verified_state(
    head: Replay, block: Any
) -> None:
    params = [SENDER] if block is None else [SENDER, block]
    assert call(head, "eth_getTransactionCount", *params)["result"] == ACCOUNTS[SENDER]["nonce"]


@pytest.mark.parametrize(
    "block",
    ["earliest", "0x1", hex(int(LAST["number"], 16) + 1), {"blockHash": GENESIS_HASH}],
    ids=["earliest", "an-older-number", "a-newer-number", "another-hash"],
)
def test_any_other_block_is_a_clear_invalid_params_error(head: Replay, block: Any) -> None:
    answer = call(head, "eth_getBalance", SENDER, block)
    assert error_code(answer) == INVALID_PARAMS
    message = answer["error"]["message"]
    assert "not kept" in message and f"block, {int(LAST['number'], 16)} " in message, message


def test_earliest_reads_genesis_while_genesis_is_the_last_verified_block() -> None:
    at_genesis = replayed(1)
    alloc = FEED[0]["genesis"]["alloc"][0]
    assert call(at_genesis, "eth_blockNumber")["result"] == "0x0"
    assert call(at_genesis, "eth_getBalance", alloc["address"], "earliest")["result"] == alloc["balance"]
    assert (
        call(at_genesis, "eth_getBalance", alloc["address"], {"blockHash": GENESIS_HASH})["result"]
        == (alloc["balance"])
    )


def test_before_genesis_there_is_no_state_to_read() -> None:
    nothing = replayed(0)
    for method, params in (("eth_blockNumber", []), ("eth_getBalance", [SENDER])):
        answer = call(nothing, method, *params)
        assert error_code(answer) == INVALID_PARAMS
        assert "has not verified genesis" in answer["error"]["message"]


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("eth_getBalance", ["0x1234"]),  # too short
        ("eth_getBalance", ["0x" + "11" * 21]),  # too long
        ("eth_getBalance", ["11" * 20]),  # no 0x
        ("eth_getBalance", ["0x" + "zz" * 20]),  # not hex
        ("eth_getBalance", [17]),  # not a string
        ("eth_getCode", ["0x" + "11" * 20, "0x01"]),  # a block number with a leading zero
        ("eth_getCode", ["0x" + "11" * 20, "newest"]),  # no such tag
        ("eth_getStorageAt", ["0x" + "11" * 20, "0x"]),  # an empty slot
        ("eth_getStorageAt", ["0x" + "11" * 20, "1"]),  # a slot without 0x
        ("eth_getStorageAt", ["0x" + "11" * 20]),  # the slot missing
        ("eth_getBalance", []),  # the address missing
        ("eth_getBalance", ["0x" + "11" * 20, "latest", "extra"]),  # one too many
        ("eth_blockNumber", ["latest"]),  # takes no params
    ],
)
def test_malformed_params_are_invalid_params(head: Replay, method: str, params: list[Any]) -> None:
    assert error_code(call(head, method, *params)) == INVALID_PARAMS


@pytest.mark.parametrize("method", ["eth_sendRawTransaction", "eth_call", "eth_getBlockByNumber", "nope"])
def test_methods_a_replica_does_not_serve_are_method_not_found(head: Replay, method: str) -> None:
    assert error_code(call(head, method)) == METHOD_NOT_FOUND


def test_a_batch_is_answered_in_order(head: Replay) -> None:
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber"},
        {"jsonrpc": "2.0", "id": 2, "method": "eth_getBalance", "params": [SENDER, "latest"]},
        {"jsonrpc": "2.0", "id": 3, "method": "eth_mining"},
        {"jsonrpc": "2.0", "method": "eth_blockNumber"},  # a notification: no answer
    ]
    answers = orjson.loads(asyncio.run(dispatcher(head).handle_body(orjson.dumps(batch))) or b"null")
    assert [a["id"] for a in answers] == [1, 2, 3]
    assert answers[0]["result"] == LAST["number"]
    assert answers[1]["result"] == ACCOUNTS[SENDER]["balance"]
    assert error_code(answers[2]) == METHOD_NOT_FOUND


@pytest.fixture
def status_port(head: Replay) -> Iterator[Any]:
    """The status port's app with the reads on ``POST /``, as a test client factory."""
    app = make_status_app(lambda: {"height": head.boundary.block_number}, lambda: b"", dispatcher(head))

    async def post(body: bytes) -> tuple[int, bytes]:
        async with TestClient(TestServer(app)) as client:
            response = await client.post("/", data=body, headers={"Content-Type": "application/json"})
            return response.status, await response.read()

    yield lambda body: asyncio.run(post(body))


def test_malformed_json_is_a_parse_error_with_http_200(status_port: Any) -> None:
    status, body = status_port(b'{"jsonrpc": "2.0", "id": 1, "method": ')
    assert status == 200
    answer = orjson.loads(body)
    assert answer["id"] is None and answer["error"]["code"] == PARSE_ERROR


def test_the_status_port_answers_json_rpc_on_post(status_port: Any) -> None:
    status, body = status_port(orjson.dumps({"jsonrpc": "2.0", "id": "a", "method": "eth_blockNumber"}))
    assert (status, orjson.loads(body)) == (200, {"jsonrpc": "2.0", "id": "a", "result": LAST["number"]})
