"""Structured logging: ``key=value`` lines by default, one JSON object per line with ``json``.

An event's values travel as fields, not inside the message text, so log shippers (Loki, ELK)
can filter on them::

    log.info("evm block sealed", extra=fields(number=7, hash="0x..", txs=12, seal_ms=1.25))

prints, as ``kv`` (one line)::

    ts=2024-01-01T00:00:00.000Z level=info logger=sequencer.builder msg="evm block sealed"
    number=7 hash=0x.. txs=12 seal_ms=1.25

and as ``json``, the fields beside ``ts``, ``level``, ``logger`` and ``msg``, with their types::

    {"ts": 1704067200.0, "level": "info", "logger": "sequencer.builder",
     "msg": "evm block sealed", "number": 7, "hash": "0x..", "txs": 12, "seal_ms": 1.25}

Every record is one line: quotes, backslashes and newlines in the message and in values are
escaped, and a traceback (only logged for unexpected errors) is one escaped ``exc`` value.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Mapping
from typing import Any

import orjson

LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("kv", "json")
FIELDS_ATTR = "fields"
"""The ``LogRecord`` attribute that :func:`fields` sets through ``extra=``."""
RESERVED = frozenset({"ts", "level", "logger", "msg", "exc"})
_BARE = re.compile(r"[^\s\"=\\]+")


def fields(**values: Any) -> dict[str, Any]:
    """``extra=`` for a log call: ``values`` become the record's fields (see the module doc)."""
    return {FIELDS_ATTR: values}


def record_fields(record: logging.LogRecord) -> Mapping[str, Any]:
    """The fields a record carries (none for a plain log call)."""
    found = getattr(record, FIELDS_ATTR, None)
    return found if isinstance(found, Mapping) else {}


def _field_name(name: str) -> str:
    """A field's key in the output: one that would shadow a standard key gets a ``field_`` prefix."""
    return f"field_{name}" if name in RESERVED else name


def logfmt_value(value: Any) -> str:
    """One value as logfmt writes it: bare when it can be, else double-quoted and escaped."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
    if _BARE.fullmatch(text):
        return text
    return orjson.dumps(text).decode()  # JSON string escaping: \" \\ \n, one line


def _json_value(value: Any) -> Any:
    return "0x" + value.hex() if isinstance(value, bytes) else value


class KeyValueFormatter(logging.Formatter):
    """``ts=... level=... logger=... msg="..." key=value...`` lines for humans."""

    def format(self, record: logging.LogRecord) -> str:
        """One line for ``record``."""
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"
        parts = [
            f"ts={ts}",
            f"level={record.levelname.lower()}",
            f"logger={record.name}",
            "msg=" + orjson.dumps(record.getMessage()).decode(),
        ]
        parts += [f"{_field_name(k)}={logfmt_value(v)}" for k, v in record_fields(record).items()]
        if record.exc_info:
            parts.append("exc=" + orjson.dumps(self.formatException(record.exc_info)).decode())
        return " ".join(parts)


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers: the record's fields beside the standard keys."""

    def format(self, record: logging.LogRecord) -> str:
        """One JSON object for ``record``."""
        entry: dict[str, Any] = {
            "ts": record.created,
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record_fields(record).items():
            entry[_field_name(key)] = _json_value(value)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class ClientDisconnects(logging.Filter):
    """A client that goes away mid-request is expected, not an error: aiohttp logs it with a
    traceback at error level; this turns it into one debug line (``error=...``, no traceback)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep ``record``, rewritten when it is a client disconnect (dropped unless debug)."""
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, ConnectionError):
            return True
        if not logging.getLogger().isEnabledFor(logging.DEBUG):
            return False
        record.msg, record.args, record.exc_info, record.exc_text = "client connection lost", None, None, None
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        setattr(record, FIELDS_ATTR, {"error": f"{type(exc).__name__}: {exc}"})
        return True


def setup_logging(level: str = "info", fmt: str = "kv") -> None:
    """Log to stderr at ``level`` in ``fmt`` (``kv`` or ``json``); quiet py-evm and aiohttp."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else KeyValueFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # py-evm logs at debug on every opcode path; keep it quiet unless asked for explicitly
    for noisy in ("eth", "trie", "aiohttp.access", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    server = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, ClientDisconnects) for f in server.filters):
        server.addFilter(ClientDisconnects())
