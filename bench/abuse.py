"""Heavier versions of the adversarial tests' attacks (not part of CI), against the real daemon.

Each attack is one function ``attack_NAME(node, seconds) -> str`` (registered in ``ATTACKS``):
it gets a fresh daemon, runs the attack for about ``seconds`` while :class:`Probe` measures, and
returns a note on what the node did. Every attack prints the same figures, measured during the
attack only:

  * mini-block interval p50 / p99 / max (from a ``miniBlocks`` WebSocket subscription; a
    steady open-loop load from other senders keeps transactions waiting, so the interval is the
    cadence, not idle time) and the load's transactions included;
  * ``eth_blockNumber`` p50 / p99 (one call every 10 ms on a kept-alive connection).

To add an attack: write ``attack_NAME`` (start from the daemon it is given, return a note) and
add it to ``ATTACKS``; ``--attack NAME`` runs one, the default runs all.

Usage:
  .venv/bin/python -m bench.abuse [--attack NAME] [--seconds 10]
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from eth_account import Account

from tests.support.accounts import DEV_KEYS
from tests.support.attack import (
    LOOP_INITCODE,
    MAX_TX_GAS,
    MiniBlockWatch,
    PacedLoad,
    contract_address,
    key,
    p99,
    sign,
    write_attack_config,
)
from tests.support.daemon import Daemon, start_daemon

LOAD_KEYS = [bytes.fromhex(k[2:]) for k in DEV_KEYS[:4]]
FLOOD_SENDERS = 20_000
LOOP_SENDERS = 40


def post(session: Any, url: str, body: Any, timeout: float = 30) -> Any:
    """One JSON-RPC request or batch; the decoded answer."""
    headers = {"Content-Type": "application/json"}
    return session.post(url, data=json.dumps(body), headers=headers, timeout=timeout).json()


def rpc(url: str, method: str, params: list[Any], session: Any = requests) -> Any:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    answer = post(session, url, body)
    if "error" in answer:
        raise RuntimeError(f"{method}: {answer['error']}")
    return answer["result"]


def nonce(url: str, private_key: bytes) -> int:
    return int(rpc(url, "eth_getTransactionCount", [Account.from_key(private_key).address, "pending"]), 16)


class Probe:
    """``eth_blockNumber`` every 10 ms, timed, on one kept-alive connection (a thread)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.samples: list[tuple[float, float]] = []  # (wall-clock seconds, latency ms)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Probe:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        session = requests.Session()
        while not self._stop.is_set():
            started = time.perf_counter()
            rpc(self.url, "eth_blockNumber", [], session)
            self.samples.append((time.time(), (time.perf_counter() - started) * 1000))
            time.sleep(0.01)
        session.close()

    def latencies_ms(self, since: float, until: float) -> list[float]:
        return [ms for t, ms in self.samples if since <= t <= until]


def report(name: str, note: str, watch: MiniBlockWatch, probe: Probe, since: float, until: float) -> None:
    intervals = watch.intervals_ms(since, until)
    included = sum(n for t, n in watch.stamps if since <= t <= until)
    calls = probe.latencies_ms(since, until)
    print(f"{name}: {note}")
    if intervals:
        print(
            f"  mini-block interval p50 {statistics.median(intervals):.1f} ms, p99 {p99(intervals):.1f} ms, "
            f"max {max(intervals):.1f} ms ({len(intervals)} intervals); load included {included} txs"
        )
    if calls:
        p50 = statistics.median(calls)
        print(f"  eth_blockNumber p50 {p50:.1f} ms, p99 {p99(calls):.1f} ms ({len(calls)} calls)")


def under_load(name: str, node: Daemon, seconds: float, attack: Callable[[Callable[[], bool]], str]) -> None:
    """Run ``attack`` (given a ``running()`` predicate) under the steady load, measuring."""
    nonces = [nonce(node.url, k) for k in LOAD_KEYS]
    with MiniBlockWatch(node.url) as watch, Probe(node.url) as probe, PacedLoad(node.url, LOAD_KEYS, nonces):
        time.sleep(1)
        since = time.time()
        until = since + seconds
        note = attack(lambda: time.time() < until)
        until = max(until, time.time())
    report(name, note, watch, probe, since, until)


# -- the attacks ------------------------------------------------------------------------------


def attack_baseline(node: Daemon, seconds: float) -> None:
    """No attack: the steady load alone, for comparison."""
    under_load("baseline", node, seconds, lambda running: _idle(running))


def _idle(running: Callable[[], bool]) -> str:
    while running():
        time.sleep(0.05)
    return "the steady load alone"


def attack_one_looping_transaction(node: Daemon, seconds: float) -> None:
    """One transaction with the largest allowed gas calling a contract that loops forever (the
    adversarial test's attack): aborted after the time budget, its sender throttled."""
    _looping(node, seconds, "one-looping-transaction", senders=1, threads=1)


def attack_looping_transactions(node: Daemon, seconds: float) -> None:
    """Such transactions back to back from 4 threads, each cycling through its own funded
    senders (``LOOP_SENDERS`` in all): every one is aborted after the time budget and dropped,
    and its sender throttled (``execution.abort_cooldown_s``), so each sender gets one abort per
    cooldown: the attack costs the node about senders x budget per cooldown."""
    _looping(node, seconds, "looping-transactions", senders=LOOP_SENDERS, threads=4)


def _looping(node: Daemon, seconds: float, name: str, senders: int, threads: int) -> None:
    deployer = bytes.fromhex(DEV_KEYS[9][2:])
    n = nonce(node.url, deployer)
    deploy = sign(deployer, n, None, data=LOOP_INITCODE, gas=200_000)
    rpc(node.url, "eth_sendRawTransactionSync", ["0x" + deploy.hex()])
    loop = contract_address(bytes.fromhex(Account.from_key(deployer).address[2:]), n)
    answers: list[str] = []

    def attacker(keys: list[bytes], running: Callable[[], bool]) -> None:
        session = requests.Session()
        for private_key in itertools.cycle(keys):
            if not running():
                break
            raw = sign(private_key, 0, loop, gas=MAX_TX_GAS)  # the nonce is free again after a drop
            body = {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "eth_sendRawTransactionSync",
                "params": ["0x" + raw.hex()],
            }
            answers.append(str(post(session, node.url, body).get("error", {}).get("message", "included?!")))
            if senders == 1:
                break
        session.close()

    def attack(running: Callable[[], bool]) -> str:
        share = senders // threads
        workers = [
            threading.Thread(
                target=attacker, args=([key(i) for i in range(t * share, (t + 1) * share)], running)
            )
            for t in range(threads)
        ]
        for t in workers:
            t.start()
        for t in workers:
            t.join()
        while running():
            time.sleep(0.05)
        aborted = sum("execution time budget exceeded" in a for a in answers)
        throttled = sum(a.startswith("sender throttled") for a in answers)
        return (
            f"{len(answers)} looping transactions from {senders} senders: {aborted} aborted at the "
            f"time budget, {throttled} refused (sender throttled)"
        )

    under_load(name, node, seconds, attack)


def attack_queued_flood(node: Daemon, seconds: float) -> None:
    """Future-nonce transactions (tip 1) from 20,000 funded senders, in batches of 500, while
    honest tip-0 ready transactions keep arriving (they must never be refused)."""
    raws = [sign(key(i), 1, b"\x66" * 20, tip=1) for i in range(FLOOD_SENDERS)]
    honest = bytes.fromhex(DEV_KEYS[5][2:])

    def attack(running: Callable[[], bool]) -> str:
        session = requests.Session()
        refused = accepted = honest_ok = honest_refused = sent = 0
        first = nonce(node.url, honest)
        while running() or sent < len(raws):
            chunk = raws[sent : sent + 500]
            sent += len(chunk)
            if chunk:
                payload = [
                    {
                        "jsonrpc": "2.0",
                        "id": i,
                        "method": "eth_sendRawTransaction",
                        "params": ["0x" + r.hex()],
                    }
                    for i, r in enumerate(chunk)
                ]
                for answer in post(session, node.url, payload, timeout=60):
                    accepted += "result" in answer
                    refused += "error" in answer
            raw = sign(honest, first + honest_ok, b"\x55" * 20, value=1)
            body = {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "eth_sendRawTransactionSync",
                "params": ["0x" + raw.hex()],
            }
            answer = post(session, node.url, body)
            if "result" in answer:
                honest_ok += 1
            else:
                honest_refused += 1
            if not chunk:
                time.sleep(0.02)
        session.close()
        return (
            f"{accepted} queued accepted, {refused} refused (mempool.max_queued); honest ready "
            f"transactions included {honest_ok}, refused {honest_refused}"
        )

    under_load("queued-flood", node, seconds, attack)


def attack_heavy_calls(node: Daemon, seconds: float) -> None:
    """``eth_call`` of the looping contract with the RPC gas cap, back to back from 8 threads:
    each runs in a call worker process until the call deadline (``rpc.call_timeout_ms``), never
    on the event loop; a caller beyond the workers waits its turn."""
    deployer = bytes.fromhex(DEV_KEYS[9][2:])
    n = nonce(node.url, deployer)
    deploy = sign(deployer, n, None, data=LOOP_INITCODE, gas=200_000)
    rpc(node.url, "eth_sendRawTransactionSync", ["0x" + deploy.hex()])
    loop = "0x" + contract_address(bytes.fromhex(Account.from_key(deployer).address[2:]), n).hex()
    answers: list[str] = []

    def caller(running: Callable[[], bool]) -> None:
        session = requests.Session()
        body = {"jsonrpc": "2.0", "id": 1, "method": "eth_call", "params": [{"to": loop}, "latest"]}
        while running():
            answer = post(session, node.url, body, timeout=60)
            answers.append(str(answer.get("error", {}).get("message", "answered?!")))
        session.close()

    def attack(running: Callable[[], bool]) -> str:
        threads = [threading.Thread(target=caller, args=(running,)) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        kinds = {m: answers.count(m) for m in sorted(set(answers))}
        return f"{len(answers)} looping calls from 8 threads: {kinds}"

    under_load("heavy-calls", node, seconds, attack)


def attack_audience(node: Daemon, seconds: float) -> None:
    """10 WebSocket connections with 100 ``newPendingTransactions`` subscriptions each (1,000
    subscribers, the per-address cap ``rpc.max_ws_subscriptions_per_ip``), all reading, while
    the steady load runs: every pending hash is fanned out 1,000 times, off the block path."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect as ws_connect

    ws_url = node.url.replace("http://", "ws://")
    received, closed = [0], [0]

    def listener(ws: Any, running: Callable[[], bool]) -> None:
        while running():
            try:
                ws.recv(timeout=0.5)
                received[0] += 1
            except TimeoutError:
                continue
            except ConnectionClosed:  # too slow a reader is cut off (1008), by design
                closed[0] += 1
                return

    def attack(running: Callable[[], bool]) -> str:
        sockets, threads = [], []
        for _ in range(10):
            ws = ws_connect(ws_url, open_timeout=10, max_size=None)
            for i in range(100):
                ws.send(
                    json.dumps(
                        {
                            "jsonrpc": "2.0",
                            "id": i,
                            "method": "eth_subscribe",
                            "params": ["newPendingTransactions"],
                        }
                    )
                )
            sockets.append(ws)
            threads.append(threading.Thread(target=listener, args=(ws, running)))
            threads[-1].start()
        for t in threads:
            t.join()
        for ws in sockets:
            ws.close()
        return (
            f"1,000 subscribers received {received[0]} messages; {closed[0]} connections cut off as too slow"
        )

    under_load("audience", node, seconds, attack)


def attack_connection_flood(node: Daemon, seconds: float) -> None:
    """Idle TCP connections opened as fast as the node accepts them, up to 3,000 (beyond
    ``rpc.max_connections_per_ip`` = 500 from this address): the node refuses the excess and
    closes idle ones after ``rpc.idle_timeout_s``; the probe's kept-alive connection is served."""
    import socket

    host, port = node.url.removeprefix("http://").split(":")

    def attack(running: Callable[[], bool]) -> str:
        opened: list[socket.socket] = []
        failed = 0
        while running() and len(opened) + failed < 3000:
            try:
                opened.append(socket.create_connection((host, int(port)), timeout=2))
            except OSError:
                failed += 1
        while running():
            time.sleep(0.05)
        refused = 0
        for sock in opened:
            sock.settimeout(0.01)
            try:
                if sock.recv(1) == b"":
                    refused += 1
            except (TimeoutError, OSError):
                pass
            sock.close()
        return f"{len(opened)} connections opened ({failed} failed), {refused} already closed by the node"

    under_load("connection-flood", node, seconds, attack)


ATTACKS: dict[str, tuple[Callable[[Daemon, float], None], int]] = {
    # name: (attack, generated funded senders in the genesis)
    "baseline": (attack_baseline, 0),
    "one-looping-transaction": (attack_one_looping_transaction, 1),
    "looping-transactions": (attack_looping_transactions, LOOP_SENDERS),
    "queued-flood": (attack_queued_flood, FLOOD_SENDERS),
    "heavy-calls": (attack_heavy_calls, 0),
    "audience": (attack_audience, 0),
    "connection-flood": (attack_connection_flood, 0),
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--attack", choices=sorted(ATTACKS), default=None, help="one attack (default: all)")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    names = [args.attack] if args.attack else list(ATTACKS)
    for name in names:
        attack, funded = ATTACKS[name]
        with tempfile.TemporaryDirectory() as tmp:
            config = write_attack_config(Path(tmp) / "abuse.toml", funded)
            node = start_daemon(Path(tmp) / "data", config=config)
            try:
                attack(node, args.seconds)
            finally:
                node.stop()


if __name__ == "__main__":
    main()
