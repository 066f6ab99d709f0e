"""Specification of the fuzz suite's invariants (``tests/support/fuzz.py``): each rule an answer
must follow is shown to catch the answer that breaks it, so the fuzzing against the daemon
cannot pass by checking nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.fuzz import Probe, check_answer, check_http, check_notification, expected_status
from tests.support.openrpc import load_spec

REQUEST = b'{"jsonrpc":"2.0","id":123456789012345678901234567890,"method":"eth_chainId","params":[]}'


def answer(value: Any) -> bytes:
    return json.dumps(value).encode()


def ok(request_id: Any = 123456789012345678901234567890, result: Any = "0x539") -> bytes:
    return answer({"jsonrpc": "2.0", "id": request_id, "result": result})


def error(code: int, request_id: Any = None) -> bytes:
    return answer({"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": "m"}})


def test_a_well_formed_answer_passes() -> None:
    assert check_answer(REQUEST, ok()) == []


def test_an_id_must_be_echoed_exactly_not_as_a_float() -> None:
    assert check_answer(REQUEST, ok(request_id=1.2345678901234568e29)) != []
    assert check_answer(REQUEST, b'{"jsonrpc":"2.0","id":1.2345678901234568e+29,"result":"0x539"}') != []
    assert check_answer(REQUEST, ok(request_id="123456789012345678901234567890")) != []


@pytest.mark.parametrize("code", [-32603, -32099, 0, 1, 2])
def test_an_internal_or_undocumented_error_code_fails(code: int) -> None:
    problems = check_answer(REQUEST, error(code, 123456789012345678901234567890))
    assert problems and str(code) in problems[0]


@pytest.mark.parametrize("code", [-32700, -32600, -32601, -32602, -32000, -32001, -32005, 3, 4, 5])
def test_the_documented_codes_pass(code: int) -> None:
    assert check_answer(REQUEST, error(code, 123456789012345678901234567890)) == []


def test_a_response_has_exactly_one_of_result_and_error() -> None:
    both = {"jsonrpc": "2.0", "id": 1, "result": 1, "error": {"code": -32000, "message": "m"}}
    body = b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}'
    assert check_answer(body, answer(both)) != []
    assert check_answer(body, answer({"jsonrpc": "2.0", "id": 1})) != []
    assert check_answer(body, answer({"jsonrpc": "1.0", "id": 1, "result": 1})) != []


def test_parse_errors_and_invalid_requests_are_due_with_a_null_id() -> None:
    assert check_answer(b"{", error(-32700)) == []
    assert check_answer(b"{", error(-32600)) != []
    assert check_answer(b"{", error(-32700, 1)) != []
    assert check_answer(b"[]", error(-32600)) == []
    assert check_answer(b"7", error(-32600)) == []
    assert check_answer(b'{"jsonrpc":"2.0","id":true,"method":"x"}', error(-32600)) == []
    assert check_answer(b'{"jsonrpc":"2.0","id":true,"method":"x"}', error(-32600, True)) != []


def test_notifications_get_no_answer_but_invalid_requests_do() -> None:
    notification = b'{"jsonrpc":"2.0","method":"eth_chainId"}'
    assert check_answer(notification, b"") == []
    assert check_answer(notification, ok(None)) != []
    invalid = b'{"jsonrpc":"1.0","method":"eth_chainId"}'
    assert check_answer(invalid, b"") != []
    assert check_answer(invalid, error(-32600)) == []


def test_a_batch_is_answered_in_request_order_without_its_notifications() -> None:
    batch = answer(
        [
            {"jsonrpc": "2.0", "id": 1, "method": "a"},
            {"jsonrpc": "2.0", "method": "b"},  # a notification
            {"jsonrpc": "2.0", "id": "x", "method": "c"},
        ]
    )
    right = b"[" + ok(1) + b"," + error(-32601, "x") + b"]"
    assert check_answer(batch, right) == []
    assert check_answer(batch, b"[" + error(-32601, "x") + b"," + ok(1) + b"]") != []  # order
    assert check_answer(batch, b"[" + ok(1) + b"]") != []  # one missing
    assert check_answer(batch, ok(1)) != []  # not an array
    assert check_answer(b'[{"jsonrpc":"2.0","method":"b"}]', b"") == []


def test_a_batch_over_the_limit_is_one_invalid_request() -> None:
    many = json.dumps([{"jsonrpc": "2.0", "id": i, "method": "m"} for i in range(1001)]).encode()
    assert check_answer(many, error(-32600)) == []
    assert check_answer(many, b"[" + b",".join(ok(i) for i in range(1001)) + b"]") != []


def test_http_statuses_follow_content_type_and_size() -> None:
    good = Probe("t", b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}')
    assert expected_status(good) == 200
    assert check_http(good, 500, b"") != []
    assert expected_status(Probe("t", good.body, content_type="text/plain")) == 415
    assert expected_status(Probe("t", good.body, content_type=None)) == 415
    assert expected_status(Probe("t", good.body, content_type="application/json; charset=utf-8")) == 200
    assert expected_status(Probe("t", b" " * (5 * 1024 * 1024 + 1))) == 413
    assert check_http(Probe("t", b" " * (5 * 1024 * 1024 + 1)), 413, error(-32600)) == []


def test_a_result_must_conform_to_the_spec() -> None:
    body = b'{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}'
    spec = load_spec()
    assert check_answer(body, ok(1, "0x10"), spec) == []
    assert check_answer(body, ok(1, "0x010"), spec) != []
    assert check_answer(body, ok(1, 16), spec) != []


def test_subscription_notifications_are_checked() -> None:
    good = {"jsonrpc": "2.0", "method": "eth_subscription", "params": {"subscription": "0x1", "result": {}}}
    assert check_notification(good) == []
    assert check_notification({**good, "params": {"result": {}}}) != []
    assert check_notification({**good, "id": 1}) != []
