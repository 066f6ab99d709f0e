"""Structured logs: an event's values are fields, not text inside the message.

``kv`` lines are logfmt for humans (``msg="..." key=value``), ``json`` lines are one object per
record with the fields beside ``ts``/``level``/``logger``/``msg`` and their JSON types. Every
record is one line whatever its message or values hold; a client that disconnects is no error.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest

from sequencer.logs import (
    ClientDisconnects,
    JsonFormatter,
    KeyValueFormatter,
    fields,
    logfmt_value,
    setup_logging,
)

LOGFMT_PAIR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')


def record(
    message: str, /, *args: object, exc: BaseException | None = None, **values: object
) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    rec = logging.LogRecord("sequencer.test", logging.INFO, __file__, 1, message, args, exc_info)
    for key, value in fields(**values).items():
        setattr(rec, key, value)
    return rec


def parse_logfmt(line: str) -> dict[str, str]:
    """Decode a logfmt line (quoted values are JSON strings)."""
    out: dict[str, str] = {}
    for key, raw in LOGFMT_PAIR.findall(line):
        out[key] = json.loads(raw) if raw.startswith('"') else raw
    return out


def raised(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:
        return caught


def test_kv_lines_carry_fields_after_the_message() -> None:
    line = KeyValueFormatter().format(
        record("evm block sealed", number=7, hash=b"\xab\xcd", txs=12, seal_ms=1.25, full=False, root=None)
    )
    assert "\n" not in line
    assert re.match(r"ts=\S+Z level=info logger=sequencer\.test ", line)
    assert line.endswith(
        'msg="evm block sealed" number=7 hash=0xabcd txs=12 seal_ms=1.25 full=false root=null'
    )


def test_kv_quotes_and_escapes_so_a_line_cannot_be_forged() -> None:
    nasty = 'a "quoted" value\nlevel=error msg=forged \\ end'
    line = KeyValueFormatter().format(record('message with "quotes"\nand a newline', reason=nasty))
    assert "\n" not in line
    parsed = parse_logfmt(line)
    assert parsed["msg"] == 'message with "quotes"\nand a newline'
    assert parsed["reason"] == nasty
    assert parsed["level"] == "info", "a value cannot inject a field"


def test_logfmt_values_are_bare_only_when_unambiguous() -> None:
    assert logfmt_value("plain") == "plain"
    assert logfmt_value("") == '""'
    assert logfmt_value("a=b") == '"a=b"'
    assert logfmt_value("two words") == '"two words"'
    assert logfmt_value(3) == "3" and logfmt_value(True) == "true"
    assert logfmt_value({"a": 1}) == '"{\\"a\\":1}"'


def test_json_lines_have_typed_fields_beside_the_standard_keys() -> None:
    line = JsonFormatter().format(
        record("evm block sealed", number=7, hash=b"\x01" * 32, txs=0, seal_ms=1.5, ok=True, msg="shadow")
    )
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["msg"] == "evm block sealed" and entry["level"] == "info"
    assert entry["logger"] == "sequencer.test" and isinstance(entry["ts"], float)
    assert entry["number"] == 7 and entry["txs"] == 0 and entry["seal_ms"] == 1.5 and entry["ok"] is True
    assert entry["hash"] == "0x" + "01" * 32
    assert entry["field_msg"] == "shadow", "a field never overwrites a standard key"


def test_plain_records_of_other_libraries_still_format() -> None:
    for formatter in (KeyValueFormatter(), JsonFormatter()):
        assert "done 3" in formatter.format(record("done %d", 3))


def test_a_traceback_is_one_escaped_value() -> None:
    exc = raised(ValueError("boom"))
    kv = KeyValueFormatter().format(record("failed", exc=exc))
    entry = json.loads(JsonFormatter().format(record("failed", exc=exc)))
    assert "\n" not in kv and "ValueError: boom" in parse_logfmt(kv)["exc"]
    assert "Traceback" in entry["exc"] and "ValueError: boom" in entry["exc"]


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream = io.StringIO()
    yield stream
    root.handlers[:], _ = saved
    root.setLevel(saved[1])


def test_a_client_disconnect_is_not_logged_as_an_error(captured: io.StringIO) -> None:
    setup_logging("info", "json")
    logging.getLogger().handlers[0].setStream(captured)  # type: ignore[attr-defined]
    server = logging.getLogger("aiohttp.server")
    assert sum(isinstance(f, ClientDisconnects) for f in server.filters) == 1
    server.error("Error handling request", exc_info=raised(ConnectionResetError("Connection lost")))
    server.error("Error handling request", exc_info=raised(RuntimeError("a real bug")))
    lines = [json.loads(line) for line in captured.getvalue().splitlines()]
    assert len(lines) == 1 and "a real bug" in lines[0]["exc"], "real errors keep their traceback"

    setup_logging("debug", "json")
    logging.getLogger().handlers[0].setStream(captured)  # type: ignore[attr-defined]
    captured.truncate(0)
    captured.seek(0)
    server.error("Error handling request", exc_info=raised(BrokenPipeError("gone")))
    (entry,) = [json.loads(line) for line in captured.getvalue().splitlines()]
    assert entry["level"] == "debug" and entry["msg"] == "client connection lost"
    assert entry["error"] == "BrokenPipeError: gone" and "exc" not in entry
    assert sum(isinstance(f, ClientDisconnects) for f in server.filters) == 1, "set up once"
