"""Specification of the JSON-RPC 2.0 layer: sequencer.jsonrpc.dispatch (bytes in, bytes out; every
failure is an error object, domain errors through the node's table in sequencer.rpc.errors) and
the strict parameter parsing of sequencer.jsonrpc.encoding."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import orjson
import pytest

from sequencer.errors import BlockNotFound, ExecutionReverted
from sequencer.jsonrpc.dispatch import Dispatcher
from sequencer.jsonrpc.encoding import (
    BlockRef,
    d,
    params_list,
    parse_address,
    parse_block_ref,
    parse_bool,
    parse_data,
    parse_hash,
    parse_quantity,
    q,
)
from sequencer.jsonrpc.errors import InvalidParams
from sequencer.rpc.errors import translate

REVERT_DATA = "0x08c379a0" + "00" * 31 + "20" + "00" * 31 + "04" + "6e6f706500000000" + "00" * 24


def echo(params: list[Any]) -> Any:
    return params


async def add(params: list[Any]) -> Any:
    await asyncio.sleep(0)
    return sum(params)


def bad_params(params: list[Any]) -> Any:
    raise InvalidParams("bad_params: expected 1 params, got 0")


def boom(params: list[Any]) -> Any:
    raise RuntimeError("secret: /home/operator/.keys/sequencer.key")


def revert(params: list[Any]) -> Any:
    raise ExecutionReverted("execution reverted", bytes.fromhex(REVERT_DATA[2:]))


def missing_block(params: list[Any]) -> Any:
    raise BlockNotFound("block not found")


def key_error(params: list[Any]) -> Any:
    return params[0]["to"]


METHODS = {
    "echo": echo,
    "add": add,
    "bad_params": bad_params,
    "boom": boom,
    "revert": revert,
    "missing_block": missing_block,
    "key_error": key_error,
}


@pytest.fixture
def dispatcher() -> Dispatcher:
    return Dispatcher(METHODS, max_batch=3, translate=translate)


def call(dispatcher: Dispatcher, body: Any) -> Any:
    """Send ``body`` (bytes as is, anything else JSON-encoded); the decoded answer or None."""
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    answer = asyncio.run(dispatcher.handle_body(raw))
    return None if answer is None else orjson.loads(answer)


def request(method: str, params: Any = None, id: Any = 1) -> dict[str, Any]:
    req: dict[str, Any] = {"jsonrpc": "2.0", "id": id, "method": method}
    if params is not None:
        req["params"] = params
    return req


def error_of(answer: Any) -> tuple[int, str]:
    assert set(answer) == {"jsonrpc", "id", "error"}, answer
    assert answer["jsonrpc"] == "2.0"
    return answer["error"]["code"], answer["error"]["message"]


# -- successful calls ----------------------------------------------------------------------------


def test_result_echoes_the_id(dispatcher: Dispatcher) -> None:
    assert call(dispatcher, request("echo", [1, "a"], id=7)) == {
        "jsonrpc": "2.0",
        "id": 7,
        "result": [1, "a"],
    }
    assert call(dispatcher, request("echo", [], id="abc"))["id"] == "abc"
    assert call(dispatcher, request("echo", [], id=None)) == {"jsonrpc": "2.0", "id": None, "result": []}


@pytest.mark.parametrize(
    "literal",
    [b"123456789012345678901234567890", b"-123456789012345678901234567890", b"18446744073709551616"],
)
def test_an_integer_id_beyond_64_bits_is_echoed_exactly(dispatcher: Dispatcher, literal: bytes) -> None:
    """orjson reads such an integer as a float (1.2345678901234568e+29) and cannot write it back:
    the id comes back digit for digit, in a single request and in a batch."""
    single = b'{"jsonrpc":"2.0","id":' + literal + b',"method":"echo","params":[1]}'
    answer = asyncio.run(dispatcher.handle_body(single))
    assert answer is not None
    assert b'"id":' + literal + b"," in answer
    assert json.loads(answer) == {"jsonrpc": "2.0", "id": int(literal), "result": [1]}
    batch = b"[" + single + b',{"jsonrpc":"2.0","id":2,"method":"boom"}]'
    answers = asyncio.run(dispatcher.handle_body(batch))
    assert answers is not None
    first, second = json.loads(answers)
    assert first["id"] == int(literal) and type(first["id"]) is int
    assert second["id"] == 2 and second["error"]["code"] == -32603


def test_fractional_and_64_bit_ids_are_echoed_as_sent(dispatcher: Dispatcher) -> None:
    for literal in (b"1.5", b"-0.25", b"1e300", b"18446744073709551615", b"-9223372036854775808"):
        body = b'{"jsonrpc":"2.0","id":' + literal + b',"method":"echo"}'
        answer = asyncio.run(dispatcher.handle_body(body))
        assert answer is not None
        assert json.loads(answer)["id"] == json.loads(literal)


def test_async_handlers_are_awaited(dispatcher: Dispatcher) -> None:
    assert call(dispatcher, request("add", [1, 2, 3]))["result"] == 6


def test_params_default_to_an_empty_array(dispatcher: Dispatcher) -> None:
    assert call(dispatcher, request("echo"))["result"] == []


def test_string_bodies_are_accepted(dispatcher: Dispatcher) -> None:
    body = '{"jsonrpc":"2.0","id":1,"method":"echo","params":[true]}'
    answer = asyncio.run(dispatcher.handle_body(body))
    assert answer is not None
    assert orjson.loads(answer)["result"] == [True]


def test_observer_sees_method_duration_and_outcome() -> None:
    seen: list[tuple[str, float, bool]] = []
    dispatcher = Dispatcher(METHODS, observe=lambda m, s, ok: seen.append((m, s, ok)))
    call(dispatcher, [request("echo", []), request("boom", [], id=2), request("nope", [], id=3)])
    assert [(m, ok) for m, _, ok in seen] == [("echo", True), ("boom", False), ("<unknown>", False)]
    assert all(seconds >= 0 for _, seconds, _ in seen)


# -- errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"{", b"not json", b'{"jsonrpc": "2.0",}', b"\xff\xfe", b""])
def test_parse_error(dispatcher: Dispatcher, body: bytes) -> None:
    answer = call(dispatcher, body)
    assert answer["id"] is None
    code, message = error_of(answer)
    assert code == -32700
    assert message.startswith("parse error")


@pytest.mark.parametrize("payload", [1, "echo", None, True, [1], [[]]])
def test_non_object_request_is_invalid(dispatcher: Dispatcher, payload: Any) -> None:
    answer = call(dispatcher, payload)
    if isinstance(payload, list):
        (answer,) = answer
    assert answer["id"] is None
    assert error_of(answer) == (-32600, "invalid request: expected an object")


@pytest.mark.parametrize("version", [None, "1.0", 2.0, "2"])
def test_jsonrpc_member_must_be_2_0(dispatcher: Dispatcher, version: Any) -> None:
    req = request("echo", [], id=5)
    if version is None:
        del req["jsonrpc"]
    else:
        req["jsonrpc"] = version
    answer = call(dispatcher, req)
    assert answer["id"] == 5
    assert error_of(answer) == (-32600, 'invalid request: "jsonrpc" must be "2.0"')


def test_method_must_be_a_string(dispatcher: Dispatcher) -> None:
    for method in (None, 1, ["echo"]):
        req = {"jsonrpc": "2.0", "id": 1, "method": method}
        assert error_of(call(dispatcher, req))[0] == -32600
    assert error_of(call(dispatcher, {"jsonrpc": "2.0", "id": 1}))[0] == -32600


def test_id_must_be_a_string_number_or_null(dispatcher: Dispatcher) -> None:
    answer = call(dispatcher, request("echo", [], id={"a": 1}))
    assert answer["id"] is None
    assert error_of(answer)[0] == -32600


def test_empty_batch_is_invalid(dispatcher: Dispatcher) -> None:
    answer = call(dispatcher, [])
    assert answer["id"] is None
    assert error_of(answer) == (-32600, "empty batch")


def test_batch_over_the_limit_is_invalid(dispatcher: Dispatcher) -> None:
    answer = call(dispatcher, [request("echo", [], id=i) for i in range(4)])
    assert isinstance(answer, dict)
    assert error_of(answer) == (-32600, "batch too large: 4 > 3")


def test_batch_at_the_limit_is_answered(dispatcher: Dispatcher) -> None:
    answer = call(dispatcher, [request("echo", [i], id=i) for i in range(3)])
    assert [a["result"] for a in answer] == [[0], [1], [2]]


def test_method_not_found(dispatcher: Dispatcher) -> None:
    answer = call(dispatcher, request("eth_mine", [], id=3))
    assert answer["id"] == 3
    assert error_of(answer) == (-32601, "the method eth_mine does not exist/is not available")


def test_invalid_params_from_a_handler(dispatcher: Dispatcher) -> None:
    assert error_of(call(dispatcher, request("bad_params", []))) == (
        -32602,
        "bad_params: expected 1 params, got 0",
    )


def test_params_must_be_an_array(dispatcher: Dispatcher) -> None:
    code, message = error_of(call(dispatcher, request("echo", {"a": 1})))
    assert code == -32602
    assert "array" in message
    code, _ = error_of(call(dispatcher, request("echo", "scalar")))
    assert code == -32602


def test_missing_field_is_invalid_params(dispatcher: Dispatcher) -> None:
    code, message = error_of(call(dispatcher, request("key_error", [{}])))
    assert code == -32602
    assert "to" in message


def test_internal_error_does_not_leak_the_exception(
    dispatcher: Dispatcher, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="sequencer.rpc"):
        answer = call(dispatcher, request("boom", [], id=9))
    assert answer["id"] == 9
    assert error_of(answer) == (-32603, "internal error")
    assert "secret" not in orjson.dumps(answer).decode()
    assert "data" not in answer["error"]
    assert any("boom" in record.getMessage() for record in caplog.records)  # logged server-side


def test_execution_reverted_carries_the_revert_data(dispatcher: Dispatcher) -> None:
    answer = call(dispatcher, request("revert", []))
    assert answer["error"] == {"code": 3, "message": "execution reverted", "data": REVERT_DATA}


def test_resource_not_found(dispatcher: Dispatcher) -> None:
    assert error_of(call(dispatcher, request("missing_block", []))) == (-32001, "block not found")


# -- batches and notifications ---------------------------------------------------------------------


def test_batch_keeps_order_and_ids_with_mixed_outcomes(dispatcher: Dispatcher) -> None:
    answer = call(
        dispatcher,
        [
            request("add", [1, 1], id="first"),
            request("nope", [], id=2),
            request("echo", ["x"]),  # id 1
        ],
    )
    assert [a["id"] for a in answer] == ["first", 2, 1]
    assert answer[0]["result"] == 2
    assert answer[1]["error"]["code"] == -32601
    assert answer[2]["result"] == ["x"]


def test_batch_item_errors_do_not_spoil_the_batch(dispatcher: Dispatcher) -> None:
    answer = call(dispatcher, [1, request("boom", [], id=2), request("echo", [], id=3)])
    assert [a["id"] for a in answer] == [None, 2, 3]
    assert [a.get("error", {}).get("code") for a in answer] == [-32600, -32603, None]


def test_notification_gets_no_response(dispatcher: Dispatcher) -> None:
    notification = {"jsonrpc": "2.0", "method": "echo", "params": [1]}
    assert call(dispatcher, notification) is None
    assert call(dispatcher, {"jsonrpc": "2.0", "method": "nope"}) is None
    assert call(dispatcher, {"jsonrpc": "2.0", "method": "boom"}) is None


def test_notifications_in_a_batch_are_left_out(dispatcher: Dispatcher) -> None:
    answer = call(
        dispatcher,
        [
            {"jsonrpc": "2.0", "method": "echo"},
            request("echo", ["kept"], id=4),
            {"jsonrpc": "2.0", "method": "boom"},
        ],
    )
    assert answer == [{"jsonrpc": "2.0", "id": 4, "result": ["kept"]}]


def test_batch_of_only_notifications_gets_no_response(dispatcher: Dispatcher) -> None:
    assert call(dispatcher, [{"jsonrpc": "2.0", "method": "echo"}] * 2) is None


def test_notification_handlers_still_run() -> None:
    calls: list[list[Any]] = []
    dispatcher = Dispatcher({"record": lambda params: calls.append(params)})
    assert call(dispatcher, {"jsonrpc": "2.0", "method": "record", "params": [1]}) is None
    assert calls == [[1]]


# -- encoding: QUANTITY ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [("0x0", 0), ("0x1", 1), ("0x1a", 26), ("0xFF", 255), ("0x" + "f" * 64, 2**256 - 1)],
)
def test_parse_quantity_accepts_canonical_hex(text: str, value: int) -> None:
    assert parse_quantity(text, "value") == value


@pytest.mark.parametrize(
    ("text", "value"), [("0x01", 1), ("0x00", 0), ("0x0000ff", 255), ("0x" + "0" * 79 + "1", 1)]
)
def test_parse_quantity_accepts_leading_zeros_as_the_ecosystem_does(text: str, value: int) -> None:
    """ethers' toBeHex(1) gives 0x01; anvil, hardhat and reth accept it (geth refuses)."""
    assert parse_quantity(text, "value") == value


def test_parse_quantity_bounds_the_digits_and_the_bits() -> None:
    with pytest.raises(InvalidParams, match="expected a hex quantity"):
        parse_quantity("0x" + "0" * 81, "value")  # a huge string is refused before parsing
    with pytest.raises(InvalidParams, match="exceeds 64 bits"):
        parse_quantity("0x" + "0" * 10 + "1" + "0" * 16, "value", 64)


@pytest.mark.parametrize(
    "value",
    [
        "0x",
        "",
        "0",
        "1",
        "12",
        "0X1",
        "0xg",
        " 0x1",
        "0x1 ",
        "-0x1",
        1,
        0,
        1.0,
        None,
        True,
        [],
        b"0x1",
    ],
    ids=repr,
)
def test_parse_quantity_rejects(value: Any) -> None:
    with pytest.raises(InvalidParams, match="invalid nonce: expected a hex quantity"):
        parse_quantity(value, "nonce")


def test_parse_quantity_rejects_a_trailing_newline() -> None:
    with pytest.raises(InvalidParams):
        parse_quantity("0x1\n", "nonce")


def test_parse_quantity_limits_the_bit_length() -> None:
    with pytest.raises(InvalidParams, match="exceeds 256 bits"):
        parse_quantity("0x1" + "0" * 64, "value")
    assert parse_quantity("0x" + "f" * 16, "block", 64) == 2**64 - 1
    with pytest.raises(InvalidParams, match="exceeds 64 bits"):
        parse_quantity("0x1" + "0" * 16, "block", 64)


def test_q_and_d_formats() -> None:
    assert (q(0), q(26)) == ("0x0", "0x1a")
    assert (d(b""), d(b"\x00\x1a")) == ("0x", "0x001a")
    for n in (0, 1, 255, 2**256 - 1):
        assert parse_quantity(q(n), "n") == n


# -- encoding: DATA, addresses, hashes, booleans --------------------------------------------------------


def test_parse_data() -> None:
    assert parse_data("0x", "data") == b""
    assert parse_data("0x00aB", "data") == b"\x00\xab"
    for bad in ("0x0", "00", "0xzz", 1, None):
        with pytest.raises(InvalidParams, match="invalid data"):
            parse_data(bad, "data")
    with pytest.raises(InvalidParams, match="longer than 1 bytes"):
        parse_data("0x0000", "data", max_len=1)


def test_parse_data_checks_the_length_before_the_digits() -> None:
    """A string longer than ``max_len`` bytes is refused for its length without its digits being
    read: even when they are not hex, the error names the length."""
    with pytest.raises(InvalidParams, match="longer than 4 bytes"):
        parse_data("0x" + "zz" * 5, "data", max_len=4)
    with pytest.raises(InvalidParams, match="longer than 131072 bytes"):
        parse_data("0x" + "ab" * (2 * 1024 * 1024), "data", max_len=128 * 1024)
    assert parse_data("0x" + "ab" * 4, "data", max_len=4) == b"\xab" * 4


def test_parse_data_reads_megabytes_of_hex() -> None:
    assert parse_data("0x" + "0aF1" * (1024 * 1024), "data") == b"\x0a\xf1" * (1024 * 1024)
    with pytest.raises(InvalidParams, match="expected 0x-prefixed hex bytes"):
        parse_data("0x" + "ab" * (1024 * 1024) + "a", "data")  # odd length
    with pytest.raises(InvalidParams, match="expected 0x-prefixed hex bytes"):
        parse_data("0x" + "ab" * (1024 * 1024) + " a", "data")  # bytes.fromhex would skip spaces


def test_parse_data_rejects_a_trailing_newline() -> None:
    with pytest.raises(InvalidParams):
        parse_data("0x00\n", "data")


def test_parse_address_and_hash_check_lengths() -> None:
    assert parse_address("0x" + "11" * 20) == b"\x11" * 20
    assert parse_hash("0x" + "22" * 32) == b"\x22" * 32
    with pytest.raises(InvalidParams, match="invalid to: expected 20 bytes, got 19"):
        parse_address("0x" + "11" * 19, "to")
    with pytest.raises(InvalidParams, match="expected 32 bytes, got 20"):
        parse_hash("0x" + "11" * 20)


def test_parse_bool() -> None:
    assert parse_bool(True, "full") is True
    for bad in (1, "true", None):
        with pytest.raises(InvalidParams, match="invalid full: expected a boolean"):
            parse_bool(bad, "full")


# -- encoding: block references ---------------------------------------------------------------------------


@pytest.mark.parametrize("tag", ["latest", "pending", "safe", "finalized", "earliest"])
def test_parse_block_ref_tags(tag: str) -> None:
    assert parse_block_ref(tag) == BlockRef(tag=tag)


def test_parse_block_ref_defaults_to_latest() -> None:
    assert parse_block_ref(None) == BlockRef(tag="latest")


def test_parse_block_ref_numbers() -> None:
    assert parse_block_ref("0x0") == BlockRef(number=0)
    assert parse_block_ref("0x1f") == BlockRef(number=31)
    with pytest.raises(InvalidParams, match="exceeds 64 bits"):
        parse_block_ref("0x1" + "0" * 16)


def test_parse_block_ref_eip1898_objects() -> None:
    block_hash = "0x" + "ab" * 32
    assert parse_block_ref({"blockHash": block_hash}) == BlockRef(hash=b"\xab" * 32)
    assert parse_block_ref({"blockHash": block_hash, "requireCanonical": True}) == BlockRef(hash=b"\xab" * 32)
    assert parse_block_ref({"blockNumber": "0x10"}) == BlockRef(number=16)
    with pytest.raises(InvalidParams, match=r"invalid block\.blockHash"):
        parse_block_ref({"blockHash": "0x1234"})
    assert parse_block_ref({"blockNumber": "0x01"}) == BlockRef(number=1)
    with pytest.raises(InvalidParams, match=r"invalid block\.blockNumber"):
        parse_block_ref({"blockNumber": "1"})


@pytest.mark.parametrize("value", ["Latest", "0x", "12", 12, {}, {"number": "0x1"}, [], True], ids=repr)
def test_parse_block_ref_rejects(value: Any) -> None:
    with pytest.raises(InvalidParams, match="invalid block"):
        parse_block_ref(value)


# -- encoding: positional params -------------------------------------------------------------------------


def test_params_list_pads_optional_params() -> None:
    assert params_list(["0x1"], "eth_getBalance", 1, 2) == ["0x1", None]
    assert params_list(None, "eth_blockNumber", 0, 0) == []


def test_params_list_counts() -> None:
    with pytest.raises(InvalidParams, match=r"^eth_getBalance: expected 1 to 2 params, got 3$"):
        params_list([1, 2, 3], "eth_getBalance", 1, 2)
    with pytest.raises(InvalidParams, match=r"^eth_chainId: expected 0 params, got 1$"):
        params_list([1], "eth_chainId", 0, 0)
    with pytest.raises(InvalidParams, match="params must be an array"):
        params_list({"a": 1}, "eth_call", 1, 2)


# -- batches: started in order, waiting together ----------------------------------------------


def test_batch_requests_start_in_order_and_wait_together() -> None:
    """A request that waits does not hold up the ones after it; answers keep the request order."""
    events: list[str] = []

    async def main() -> Any:
        released = asyncio.Event()

        async def wait_for_release(params: list[Any]) -> Any:
            events.append(f"start {params[0]}")
            await released.wait()
            events.append(f"end {params[0]}")
            return params[0]

        def release(params: list[Any]) -> Any:
            events.append("release")
            released.set()
            return "released"

        d = Dispatcher({"wait": wait_for_release, "release": release})
        body = orjson.dumps([request("wait", [1], 1), request("wait", [2], 2), request("release", [], 3)])
        return await asyncio.wait_for(d.handle_body(body), 5)

    answers = orjson.loads(asyncio.run(main()))
    assert [a["result"] for a in answers] == [1, 2, "released"]
    assert events[:3] == ["start 1", "start 2", "release"]
    assert sorted(events[3:]) == ["end 1", "end 2"]


def test_a_batch_yields_to_the_event_loop_between_requests() -> None:
    """Other tasks (the block producer) get turns while a long batch of quick requests runs."""
    ticks: list[int] = []

    async def main() -> None:
        stop = asyncio.Event()

        async def ticker() -> None:
            while not stop.is_set():
                ticks.append(len(ticks))
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        before = len(ticks)
        d = Dispatcher({"echo": echo})
        await d.handle_body(orjson.dumps([request("echo", [i], i) for i in range(50)]))
        stop.set()
        await task
        assert len(ticks) - before >= 40

    asyncio.run(main())


# -- Host names (the admin port's allow-list) ------------------------------------------------


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("localhost:8551", "localhost"),
        ("LocalHost", "localhost"),
        ("[::1]:8551", "::1"),
        ("::1", "::1"),
        ("", ""),
    ],
)
def test_host_names_are_read_without_their_port(header: str, name: str) -> None:
    from sequencer.rpc.server import host_name

    assert host_name(header) == name
