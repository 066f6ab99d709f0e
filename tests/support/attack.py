"""What the adversarial tests and ``bench/abuse.py`` attack the node with: a contract that loops
forever, many funded senders whose keys we hold, cheap signing (libsecp256k1 through coincurve,
the same bytes as eth-account), and configs derived from the devnet's."""

from __future__ import annotations

import itertools
import json
import threading
import time
from functools import cache
from pathlib import Path
from typing import Any

import coincurve
import requests
from eth_hash.auto import keccak
from websockets.sync.client import connect as ws_connect

from sequencer import fastrlp
from tests.support.daemon import DEVNET

CHAIN_ID = 1337
GWEI = 10**9
MAX_TX_GAS = 16_777_216  # the devnet's execution.max_tx_gas (EIP-7825's cap)

# The loop contract's code: SSTORE(0, 1), then JUMPDEST at 5, PUSH1 5, JUMP, forever. The store
# happens before the loop, so an aborted call that left a trace would show slot 0 = 1.
LOOP_RUNTIME = bytes.fromhex("6001600055" + "5b600556")
# PUSH9 runtime, PUSH1 0, MSTORE, PUSH1 9, PUSH1 23, RETURN: deploys LOOP_RUNTIME
LOOP_INITCODE = bytes.fromhex("68" + LOOP_RUNTIME.hex() + "6000526009" + "6017f3")


@cache
def key(i: int) -> bytes:
    """A private key of a generated sender (deterministic)."""
    return keccak(b"tests/support/attack/" + i.to_bytes(4, "big"))


@cache
def address(private_key: bytes) -> bytes:
    """The address of ``private_key``."""
    return keccak(coincurve.PrivateKey(private_key).public_key.format(compressed=False)[1:])[12:]


def sign(
    private_key: bytes,
    nonce: int,
    to: bytes | None,
    *,
    value: int = 0,
    data: bytes = b"",
    gas: int = 21_000,
    max_fee: int = 10 * GWEI,
    tip: int = 0,
) -> bytes:
    """A signed EIP-1559 transaction (``to=None`` deploys ``data``)."""
    fields = [CHAIN_ID, nonce, tip, max_fee, gas, to or b"", value, data, []]
    unsigned = b"\x02" + fastrlp.encode(fields)
    sig = coincurve.PrivateKey(private_key).sign_recoverable(keccak(unsigned), hasher=None)
    r, s, v = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big"), sig[64]
    return b"\x02" + fastrlp.encode([*fields, v, r, s])


def contract_address(sender: bytes, nonce: int) -> bytes:
    """Where a deployment by ``sender`` with ``nonce`` puts its contract."""
    return keccak(fastrlp.encode([sender, nonce]))[12:]


def write_attack_config(
    path: Path, funded: int = 0, settings: dict[str, dict[str, str]] | None = None
) -> Path:
    """The devnet config with ``funded`` generated senders (1,000 ether each) in the genesis and
    ``settings`` (``{table: {key: TOML value}}``) set in its tables, e.g.
    ``{"mempool": {"capacity": "2000"}}``."""
    text = DEVNET.read_text()
    lines = "".join(
        f'"0x{address(key(i)).hex()}" = {{ balance = "1000000000000000000000" }}\n' for i in range(funded)
    )
    header = "[chain.genesis]\n"
    assert text.count(header) == 1
    text = text.replace(header, header + lines)
    for table, values in (settings or {}).items():
        text = _set_in_table(text, table, values)
    path.write_text(text)
    return path


def set_in_config(path: Path, table: str, values: dict[str, str]) -> Path:
    """Set ``key = value`` (TOML text) in ``[table]`` of the config file at ``path``."""
    path.write_text(_set_in_table(path.read_text(), table, values))
    return path


HEAVY_TRANSACTIONS = {"max_tx_gas": "30_000_000", "tx_time_budget_ms": "10_000"}
"""``[execution]`` for tests that need one transaction heavier than the node allows by default."""


def _set_in_table(text: str, table: str, values: dict[str, str]) -> str:
    """``text`` with ``key = value`` set in ``[table]`` (the line replaced, or added)."""
    out: list[str] = []
    current = None
    pending = dict(values)
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            if current == table:
                out.extend(f"{k} = {v}" for k, v in pending.items())
                pending = {}
            current = stripped.split("]")[0].lstrip("[").strip()
        elif current == table and "=" in stripped and stripped.split("=")[0].strip() in pending:
            name = stripped.split("=")[0].strip()
            line = f"{name} = {pending.pop(name)}"
        out.append(line)
    if pending:
        if current != table:
            out.append(f"[{table}]")
        out.extend(f"{k} = {v}" for k, v in pending.items())
    return "\n".join(out) + "\n"


class MiniBlockWatch:
    """Every mini-block's timestamp, from a ``miniBlocks`` WebSocket subscription (a thread)."""

    def __init__(self, rpc_url: str) -> None:
        self.url = rpc_url.replace("http://", "ws://")
        self.stamps: list[tuple[float, int]] = []  # (seconds, transactions)
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> MiniBlockWatch:
        self._thread.start()
        assert self._ready.wait(10), "the miniBlocks subscription did not start"
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        with ws_connect(self.url, open_timeout=10) as ws:
            ws.send(
                json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["miniBlocks"]})
            )
            assert "result" in json.loads(ws.recv(timeout=10))
            self._ready.set()
            while not self._stop.is_set():
                try:
                    message = json.loads(ws.recv(timeout=0.2))
                except TimeoutError:
                    continue
                mb = message["params"]["result"]
                self.stamps.append((int(mb["mini_block_timestamp"], 16) / 1e6, len(mb["transactions"])))

    def intervals_ms(self, since: float, until: float) -> list[float]:
        """The intervals between mini-blocks sealed in [since, until] (wall-clock seconds)."""
        times = [t for t, _ in self.stamps if since <= t <= until]
        return [(b - a) * 1000 for a, b in itertools.pairwise(times)]


def p99(values: list[float]) -> float:
    """The 99th percentile, nearest rank (as the node's own metrics)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


class PacedLoad:
    """Open-loop transfers: a batch of ``per_tick`` pre-signed transfers every ``tick_s`` from
    ``keys`` (nonces from ``first_nonces``), so transactions always wait for the next mini-block.
    Records every hash acknowledged."""

    def __init__(
        self,
        rpc_url: str,
        keys: list[bytes],
        first_nonces: list[int],
        per_tick: int = 4,
        tick_s: float = 0.01,
    ) -> None:
        self.url = rpc_url
        self.per_tick = per_tick
        self.tick_s = tick_s
        self.acked: list[str] = []
        self.errors: list[Any] = []
        self._raws = [
            sign(k, n + i, b"\x77" * 20, value=1)
            for i in range(4000 // len(keys))
            for k, n in zip(keys, first_nonces, strict=True)
        ]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PacedLoad:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        session = requests.Session()
        started = time.monotonic()
        sent = tick = 0
        while not self._stop.is_set() and sent < len(self._raws):
            chunk = self._raws[sent : sent + self.per_tick]
            sent += len(chunk)
            payload = [
                {"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction", "params": ["0x" + r.hex()]}
                for i, r in enumerate(chunk)
            ]
            body = json.dumps(payload)
            headers = {"Content-Type": "application/json"}
            for answer in session.post(self.url, data=body, headers=headers, timeout=10).json():
                if "result" in answer:
                    self.acked.append(answer["result"])
                else:
                    self.errors.append(answer["error"])
            tick += 1
            time.sleep(max(0.0, started + tick * self.tick_s - time.monotonic()))
        session.close()
