"""Structured logging: ``key=value`` lines by default, one JSON object per line with ``json``."""

from __future__ import annotations

import logging
import sys
import time

import orjson

LEVELS = ("debug", "info", "warning", "error")


class KeyValueFormatter(logging.Formatter):
    """``ts=... level=... logger=... msg="..."`` lines for humans."""

    def format(self, record: logging.LogRecord) -> str:
        """One line for ``record``."""
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"
        line = f'ts={ts} level={record.levelname.lower()} logger={record.name} msg="{record.getMessage()}"'
        if record.exc_info:
            line += " exc=" + orjson.dumps(self.formatException(record.exc_info)).decode()
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        """One JSON object for ``record``."""
        entry = {
            "ts": record.created,
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


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
