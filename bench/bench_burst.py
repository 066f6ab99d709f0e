"""Closed-loop bursts, and send-and-wait right after them (issue #15; not part of CI).

The load shape of the common JS load tools, against the real daemon (devnet config, a
temporary data dir):

  1. **burst**: N EIP-1559 transfers (``--txs``, default 8,000) from 16 senders, pre-signed
     before the timed window, sent as JSON-RPC batches of 20 with 8 batches in flight, closed
     loop: 8 workers (one aiohttp session each), each posting the next batch when its previous
     one is acknowledged. ``--layout queue`` (the default, as the JS tools do it): transaction i
     is sender i % 16's, 20 consecutive ones make a batch, and the workers take the next batch
     of that one queue (a sender's nonces may arrive out of order); ``--layout groups``: each
     worker owns 2 senders and sends their nonces in order. ``--poll-ms MS`` makes the
     generator also wait for each batch's receipts the way a client waiting for its
     transactions does: one ``eth_getTransactionReceipt`` batch for those not yet seen every MS
     ms, while it goes on sending. The load generator runs in a process of its own, so its CPU is
     measured apart from the daemon's.
  2. **send-and-wait right after the burst**: as soon as the last batch is acknowledged (the
     pool still draining), ``eth_sendRawTransactionSync`` at 100 tx/s, one request at a time,
     for ``--probe-seconds``, from the same generator process;
  3. **send-and-wait on the idle node**: the same, once everything is included and the node
     has been idle for 2 s.

Inclusion is observed through the realtime ``stateChanges`` subscription (WebSocket) filtered to
the senders: it delivers each sender's new nonce with the mini-block that included its
transactions, once that mini-block is durable, which is when a receipt becomes readable; so
send->receipt is measured without polling ``eth_getTransactionReceipt``. A transaction's send
time is when its batch was posted.

Printed: included and accepted tx/s, ack latency per batch p50/p99, send->receipt p50/p99,
send-and-wait p50/p99/max after the burst and idle, CPU seconds per transaction of the daemon,
of its child processes (ingress and call workers) and of the load generator, the daemon's peak
RSS, and the same transfers through py-evm's plain chain API in this process (the naive
baseline of ``bench.bench_node``) with the ratio.

``--py-spy FILE`` records the daemon (all its threads, idle ones included, raw format) with
py-spy from the moment the last batch is acknowledged, for the send-and-wait window after the
burst (``pip install py-spy==0.4.0``: 0.4.3 did not find this Python); ``--py-spy-burst FILE``
records it from the go, for ``--burst-seconds``, during the burst itself.

Usage:
  .venv/bin/python -m bench.bench_burst [--txs 8000] [--poll-ms 100] [--layout queue|groups]
      [--probe-seconds 3] [--py-spy FILE] [--py-spy-burst FILE] [--daemon-arg=--flag ...]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from eth_account import Account
from eth_hash.auto import keccak
from eth_utils.address import to_checksum_address

from bench.bench_node import (
    JSON_HEADERS,
    cpu_seconds,
    fund_senders,
    naive_ceiling,
    node_status,
    pct,
    rpc,
    start_daemon,
    transfer,
)
from bench.bench_sustained import fast_transfer

SENDERS = 16
BATCH = 20
IN_FLIGHT = 8
PROBE_RATE = 100
TIMEOUT_S = 180.0
"""No phase waits longer than this: the benchmark always stops by itself."""


# -- the load generator (its own process) --------------------------------------------------------


@dataclass(frozen=True)
class Batch:
    """A pre-encoded JSON-RPC batch and what it carries: (sender index, nonce) per transaction."""

    body: bytes
    txs: tuple[tuple[int, int], ...]
    hashes: tuple[str, ...]


@dataclass
class GeneratorResult:
    """What the generator process measured (``time.monotonic`` clock, shared by the processes)."""

    sends: list[tuple[float, float, Batch]] = field(default_factory=list)
    """Per batch: posted, acknowledged, the batch."""
    probe: list[tuple[float, float]] = field(default_factory=list)
    """Send-and-wait after the burst: (start, latency in ms)."""
    errors: list[Any] = field(default_factory=list)
    burst_cpu_s: float = 0.0
    probe_cpu_s: float = 0.0


def make_batch(raws: list[bytes], txs: list[tuple[int, int]]) -> Batch:
    body = orjson.dumps(
        [
            {"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction", "params": ["0x" + r.hex()]}
            for i, r in enumerate(raws)
        ]
    )
    return Batch(body, tuple(txs), tuple("0x" + keccak(r).hex() for r in raws))


async def poll_receipts(s: aiohttp.ClientSession, url: str, hashes: tuple[str, ...], every_s: float) -> None:
    """What a client waiting for each transaction does: ``eth_getTransactionReceipt`` for those not
    yet seen, as one batch every ``every_s``, until all are there."""
    waiting = list(hashes)
    deadline = time.monotonic() + TIMEOUT_S
    while waiting and time.monotonic() < deadline:
        await asyncio.sleep(every_s)
        payload = [
            {"jsonrpc": "2.0", "id": i, "method": "eth_getTransactionReceipt", "params": [h]}
            for i, h in enumerate(waiting)
        ]
        async with s.post(url, data=orjson.dumps(payload), headers=JSON_HEADERS) as r:
            answers = orjson.loads(await r.read())
        found = {a["id"] for a in answers if a.get("result")}
        waiting = [h for i, h in enumerate(waiting) if i not in found]


async def closed_loop(
    url: str,
    groups: list[list[Batch]],
    out: GeneratorResult,
    pollers: set[asyncio.Task[None]],
    poll_s: float,
    acked: asyncio.Event,
) -> None:
    """``IN_FLIGHT`` workers, each on its own session, each posting its next batch when the previous
    one is acknowledged: one group of batches per worker, or (one group) all of them taking the
    next batch of a shared queue. ``acked`` is set when every batch is acknowledged. With
    ``poll_s``, each acknowledged batch's receipts are polled (on the worker's session) while the
    worker goes on sending."""
    queues = [iter(g) for g in groups]
    sending = [IN_FLIGHT]

    async def worker(batches: Iterator[Batch]) -> None:
        connector = aiohttp.TCPConnector(limit=1)
        async with aiohttp.ClientSession(connector=connector) as s:
            for b in batches:
                t0 = time.monotonic()
                async with s.post(url, data=b.body, headers=JSON_HEADERS) as r:
                    body = orjson.loads(await r.read())
                out.sends.append((t0, time.monotonic(), b))
                out.errors.extend(x["error"] for x in body if "error" in x)
                if poll_s:
                    task = asyncio.create_task(poll_receipts(s, url, b.hashes, poll_s))
                    pollers.add(task)
                    task.add_done_callback(pollers.discard)
            sending[0] -= 1
            if not sending[0]:
                acked.set()
            while pollers:  # the session stays open for its pollers
                await asyncio.gather(*list(pollers))

    await asyncio.gather(*(worker(queues[i % len(queues)]) for i in range(IN_FLIGHT)))


async def send_and_wait(
    url: str, raws: list[bytes], rate: int
) -> tuple[list[tuple[float, float]], list[Any]]:
    """``eth_sendRawTransactionSync`` paced at ``rate``, one request at a time: (start, ms) each."""
    out: list[tuple[float, float]] = []
    errors: list[Any] = []
    async with aiohttp.ClientSession() as s:
        t_first = time.monotonic()
        for i, raw in enumerate(raws):
            await asyncio.sleep(max(0.0, t_first + i / rate - time.monotonic()))
            body = orjson.dumps(
                {
                    "jsonrpc": "2.0",
                    "id": i,
                    "method": "eth_sendRawTransactionSync",
                    "params": ["0x" + raw.hex()],
                }
            )
            t0 = time.monotonic()
            async with s.post(url, data=body, headers=JSON_HEADERS) as r:
                answer = orjson.loads(await r.read())
            out.append((t0, (time.monotonic() - t0) * 1000))
            if "error" in answer or answer["result"]["status"] != "0x1":
                errors.append(answer.get("error", answer.get("result")))
    return out, errors


def generator_process(
    conn: Connection,
    url: str,
    groups: list[list[Batch]],
    probe: list[bytes],
    poll_s: float,
    ready: Event,
    go: Event,
) -> None:
    """The load generator: the burst, then send-and-wait at once; the results go back on ``conn``."""
    out = GeneratorResult()
    ready.set()
    go.wait(TIMEOUT_S)
    asyncio.run(generate(conn, url, groups, probe, poll_s, out))
    conn.send(out)


async def generate(
    conn: Connection,
    url: str,
    groups: list[list[Batch]],
    probe: list[bytes],
    poll_s: float,
    out: GeneratorResult,
) -> None:
    cpu0 = time.process_time()
    pollers: set[asyncio.Task[None]] = set()
    acked = asyncio.Event()
    workers = asyncio.create_task(closed_loop(url, groups, out, pollers, poll_s, acked))
    await acked.wait()
    cpu1 = time.process_time()
    conn.send("acked")  # the burst is acknowledged: the parent may start a profiler
    out.probe, errors = await send_and_wait(url, probe, PROBE_RATE)
    await workers
    out.errors.extend(errors)
    out.burst_cpu_s, out.probe_cpu_s = cpu1 - cpu0, time.process_time() - cpu1


# -- observing inclusion --------------------------------------------------------------------------


class Inclusion:
    """Each sender's nonce over time, from the ``stateChanges`` subscription."""

    def __init__(self, addresses: list[str]) -> None:
        self.index = {a.lower(): i for i, a in enumerate(addresses)}
        self.seen: list[list[tuple[float, int]]] = [[] for _ in addresses]
        """Per sender: (arrival, nonce after the mini-block), in arrival order."""
        self.changed = asyncio.Event()

    def nonce(self, sender: int) -> int:
        return self.seen[sender][-1][1] if self.seen[sender] else 0

    def included_at(self, sender: int, nonce: int) -> float | None:
        """When the transaction ``nonce`` of ``sender`` was first seen included."""
        seen = self.seen[sender]
        i = bisect_right([n for _, n in seen], nonce)  # the first update with nonce-after > nonce
        return seen[i][0] if i < len(seen) else None

    async def follow(self, url: str, subscribed: asyncio.Event) -> None:
        async with aiohttp.ClientSession() as s, s.ws_connect(url.replace("http", "ws", 1)) as ws:
            await ws.send_bytes(
                orjson.dumps(
                    {
                        "jsonrpc": "2.0",
                        "id": 1,
                        "method": "eth_subscribe",
                        "params": ["stateChanges", list(self.index)],
                    }
                )
            )
            async for msg in ws:
                now = time.monotonic()
                data = orjson.loads(msg.data)
                if data.get("id") == 1:
                    assert "result" in data, data
                    subscribed.set()
                    continue
                change = data["params"]["result"]
                sender = self.index.get(change["address"].lower())
                if sender is not None:
                    self.seen[sender].append((now, change["nonce"]))
                    self.changed.set()

    async def wait_for(self, nonces: list[int], timeout: float, follower: asyncio.Task[None]) -> float:
        """Until every sender's nonce reaches ``nonces``: the arrival of the last update."""
        deadline = time.monotonic() + timeout
        while any(self.nonce(i) < n for i, n in enumerate(nonces)):
            self.changed.clear()
            changed = asyncio.ensure_future(self.changed.wait())
            await asyncio.wait(
                [changed, follower], timeout=deadline - time.monotonic(), return_when=asyncio.FIRST_COMPLETED
            )
            changed.cancel()
            if follower.done():
                raise SystemExit(f"the stateChanges subscription ended: {follower}")
            if time.monotonic() > deadline:
                raise TimeoutError
        return max(self.seen[i][-1][0] for i, n in enumerate(nonces) if n)


async def stuck(url: str, senders: list[Any], inclusion: Inclusion, per_sender: int) -> str:
    """Why the burst was not all included in time: each late sender's nonces, seen and the node's."""
    lines = [f"not all {per_sender} transfers of every sender were seen included in 60 s after the last ack:"]
    async with aiohttp.ClientSession() as s:
        for i, a in enumerate(senders):
            if inclusion.nonce(i) < per_sender:
                latest, pending = [
                    int(await rpc(s, url, "eth_getTransactionCount", [a.address, tag]), 16)
                    for tag in ("latest", "pending")
                ]
                lines.append(f"  sender {i}: seen {inclusion.nonce(i)}, latest {latest}, pending {pending}")
    return "\n".join(lines)


# -- processes: CPU and memory from /proc ---------------------------------------------------------


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid``."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def listeners(port: int) -> set[int]:
    """The processes with a socket listening on TCP ``port`` (the RPC front ends, when on)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                cols = line.split()
                if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(f"socket:[{cols[9]}]")
    out = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if any(
                    os.readlink(f"/proc/{entry}/fd/{fd}") in inodes for fd in os.listdir(f"/proc/{entry}/fd")
                ):
                    out.add(int(entry))
    return out


def tree_cpu(pid: int) -> dict[int, float]:
    """CPU seconds so far of ``pid`` and of each of its descendants."""
    out = {}
    for p in [pid, *descendants(pid)]:
        with contextlib.suppress(OSError):  # it exited meanwhile
            out[p] = cpu_seconds(p)
    return out


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def spy(pid: int, seconds: float, path: str) -> subprocess.Popen[bytes] | None:
    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(exe).exists():
        print("py-spy not found (pip install py-spy==0.4.0): no profile")
        return None
    return subprocess.Popen(
        [
            *(exe, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds))), "--rate", "500"),
            *("--format", "raw", "--threads", "--idle", "--nonblocking", "--output", path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


# -- the run --------------------------------------------------------------------------------------


def summary(values: list[float], unit: str = "ms") -> str:
    if not values:
        return "no samples"
    return (
        f"p50 {statistics.median(values):.1f} {unit}, p99 {pct(values, 0.99):.1f} {unit}, "
        f"max {max(values):.1f} {unit} ({len(values)} samples)"
    )


async def run(args: argparse.Namespace, url: str, daemon_pid: int) -> dict[str, Any]:
    senders = [Account.create() for _ in range(SENDERS)]
    prober = Account.create()
    sink = bytes.fromhex(Account.create().address[2:])
    await fund_senders(url, [*senders, prober])
    keys = [bytes(a.key) for a in senders]
    assert fast_transfer(keys[0], 0, sink) == transfer(senders[0], 0, to_checksum_address(sink))
    per_sender = args.txs // SENDERS
    probe_n = int(PROBE_RATE * args.probe_seconds)
    probe_raws = [fast_transfer(bytes(prober.key), n, sink) for n in range(2 * probe_n)]

    groups: list[list[Batch]] = []
    if args.layout == "queue":  # tx i from sender i % 16 (nonce i // 16), 20 consecutive ones a batch
        order = [(i % SENDERS, i // SENDERS) for i in range(per_sender * SENDERS)]
        chunks = [order[i : i + BATCH] for i in range(0, len(order), BATCH)]
        groups.append([make_batch([fast_transfer(keys[s], n, sink) for s, n in c], c) for c in chunks])
    # "groups": 8 groups of 2 senders: each batch is 10 consecutive nonces of each of its group's senders
    per_group = SENDERS // IN_FLIGHT
    for g in range(IN_FLIGHT if args.layout == "groups" else 0):
        members = list(range(g * per_group, (g + 1) * per_group))
        step = BATCH // per_group
        batches = []
        for first in range(0, per_sender, step):
            txs = [(s, n) for s in members for n in range(first, min(per_sender, first + step))]
            batches.append(make_batch([fast_transfer(keys[s], n, sink) for s, n in txs], txs))
        groups.append(batches)
    total = per_sender * SENDERS

    inclusion = Inclusion([a.address for a in senders])
    subscribed = asyncio.Event()
    follower = asyncio.create_task(inclusion.follow(url, subscribed))
    await asyncio.wait_for(subscribed.wait(), 30)
    ctx = multiprocessing.get_context("spawn")
    ready, go = ctx.Event(), ctx.Event()
    parent, child = ctx.Pipe()
    gen = ctx.Process(
        target=generator_process,
        args=(child, url, groups, probe_raws[:probe_n], args.poll_ms / 1000, ready, go),
        daemon=True,
    )
    gen.start()
    loop = asyncio.get_running_loop()
    profiler = burst_profiler = None
    try:
        if not await loop.run_in_executor(None, ready.wait, 60):
            raise SystemExit("the load generator did not start")
        cpu0 = tree_cpu(daemon_pid)
        gen_cpu0 = cpu_seconds(gen.pid or 0)
        go.set()
        t_go = time.monotonic()
        burst_profiler = spy(daemon_pid, args.burst_seconds, args.py_spy_burst) if args.py_spy_burst else None
        if not await loop.run_in_executor(None, parent.poll, TIMEOUT_S):
            raise SystemExit("the burst did not finish in time")
        assert parent.recv() == "acked"
        if args.py_spy:
            profiler = spy(daemon_pid, args.probe_seconds, args.py_spy)
        try:
            t_included = await inclusion.wait_for([per_sender] * SENDERS, 60, follower)
        except TimeoutError:
            raise SystemExit(await stuck(url, senders, inclusion, per_sender)) from None
        cpu1 = tree_cpu(daemon_pid)
        if not await loop.run_in_executor(None, parent.poll, TIMEOUT_S):
            raise SystemExit("send-and-wait after the burst did not finish in time")
        result: GeneratorResult = parent.recv()
        gen_cpu = cpu_seconds(gen.pid or 0) - gen_cpu0
        await loop.run_in_executor(None, gen.join, 30)
    finally:
        if gen.is_alive():
            gen.kill()
    for recording in (profiler, burst_profiler):
        if recording is not None:
            await loop.run_in_executor(None, recording.wait, 60)
    if result.errors:
        raise SystemExit(f"{len(result.errors)} sends failed, e.g. {result.errors[:2]}")

    await asyncio.sleep(2)  # idle
    idle, idle_errors = await send_and_wait(url, probe_raws[probe_n:], PROBE_RATE)
    if idle_errors:
        raise SystemExit(f"idle send-and-wait failed: {idle_errors[:2]}")
    follower.cancel()
    status = await node_status(url)

    t_first = min(t0 for t0, _, _ in result.sends)
    t_last_ack = max(t1 for _, t1, _ in result.sends)
    receipt_ms = []
    for t0, _, b in result.sends:
        for s_i, n in b.txs:
            at = inclusion.included_at(s_i, n)
            assert at is not None, (s_i, n)
            receipt_ms.append((at - t0) * 1000)
    children = {p: cpu1[p] - cpu0.get(p, 0.0) for p in cpu1 if p != daemon_pid}
    fronts = listeners(int(url.rsplit(":", 1)[1])) - {daemon_pid}
    return {
        "frontend_cpu": {p: c for p, c in children.items() if p in fronts},
        "total": total,
        "accepted": total / (t_last_ack - t_first),
        "included": total / (t_included - t_first),
        "drain_s": t_included - t_last_ack,
        "go_to_first_send_ms": (t_first - t_go) * 1000,
        "ack_ms": [(t1 - t0) * 1000 for t0, t1, _ in result.sends],
        "receipt_ms": receipt_ms,
        "probe": result.probe,
        "probe_after_ack": [(t0 - t_last_ack, ms) for t0, ms in result.probe],
        "idle_ms": [ms for _, ms in idle],
        "daemon_cpu": cpu1[daemon_pid] - cpu0[daemon_pid],
        "children_cpu": children,
        "generator_cpu": result.burst_cpu_s,
        "generator_cpu_proc": gen_cpu,
        "status": status,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--txs", type=int, default=8000, help="transfers in the burst (a multiple of 16*10)")
    ap.add_argument(
        "--layout",
        choices=("queue", "groups"),
        default="queue",
        help="queue: the 8 workers take the next batch of one round-robin queue over the senders "
        "(a sender's nonces may arrive out of order); groups: each worker owns 2 senders",
    )
    ap.add_argument(
        "--poll-ms",
        type=float,
        default=0,
        help="also poll each batch's receipts (one eth_getTransactionReceipt batch every MS ms), "
        "as a client waiting for each transaction does (0: off)",
    )
    ap.add_argument("--probe-seconds", type=float, default=3.0, help="length of each send-and-wait window")
    ap.add_argument("--naive-txs", type=int, default=2000, help="transfers for the naive py-evm baseline")
    ap.add_argument("--py-spy", metavar="FILE", help="profile the daemon after the burst into FILE (raw)")
    ap.add_argument(
        "--py-spy-burst", metavar="FILE", help="profile the daemon during the burst into FILE (raw)"
    )
    ap.add_argument(
        "--burst-seconds", type=float, default=1.5, help="how long --py-spy-burst records from the go"
    )
    ap.add_argument("--daemon-arg", action="append", default=[], help="extra argument to `sequencer run`")
    ap.add_argument(
        "--rpc-frontends", type=int, default=0, metavar="N", help="RPC front-end processes (rpc.frontends)"
    )
    args = ap.parse_args()
    if args.rpc_frontends:
        args.daemon_arg += ["--rpc-frontends", str(args.rpc_frontends)]

    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_daemon(Path(tmp) / "data", *args.daemon_arg)
        try:
            r = asyncio.run(run(args, url, proc.pid))
            rss = peak_rss_mib(proc.pid)
            front_rss = [peak_rss_mib(p) for p in r["frontend_cpu"]]
        finally:
            proc.terminate()
            proc.wait(30)

    senders = [Account.create() for _ in range(SENDERS)]
    sink = to_checksum_address(bytes.fromhex(Account.create().address[2:]))
    raws = [transfer(senders[i % SENDERS], i // SENDERS, sink) for i in range(args.naive_txs)]
    naive = naive_ceiling([], raws, senders)

    total = r["total"]
    print(
        f"burst: {total:,} transfers from {SENDERS} senders, batches of {BATCH}, "
        f"{IN_FLIGHT} in flight, closed loop"
    )
    print(
        f"  included {r['included']:,.0f} tx/s (first send to last inclusion), "
        f"accepted {r['accepted']:,.0f} tx/s; "
        f"the pool drained {r['drain_s'] * 1000:,.0f} ms after the last ack"
    )
    print(f"  ack per batch: {summary(r['ack_ms'])}")
    print(f"  send->receipt (stateChanges subscription): {summary(r['receipt_ms'])}")
    st = r["status"]
    print(
        f"  mini-block interval p50 {st['miniBlockIntervalP50Ms']} ms, "
        f"p99 {st['miniBlockIntervalP99Ms']} ms; "
        f"EVM block seal max {st['evmBlockSealMaxMs']} ms"
    )
    probe_ms = [ms for _, ms in r["probe"]]
    print(f"send-and-wait at {PROBE_RATE} tx/s right after the burst: {summary(probe_ms)}")
    first_s = [ms for dt, ms in r["probe_after_ack"] if dt < 1.0]
    later = [ms for dt, ms in r["probe_after_ack"] if dt >= 1.0]
    print(f"  in the first second after the last ack: {summary(first_s)}; later: {summary(later)}")
    slow = [(dt, ms) for dt, ms in r["probe_after_ack"] if ms > 25]
    if slow:
        print(
            "  over 25 ms (s after the last ack: ms): "
            + ", ".join(f"{dt:.2f}: {ms:.0f}" for dt, ms in slow[:20])
        )
    print(f"send-and-wait at {PROBE_RATE} tx/s on the idle node: {summary(r['idle_ms'])}")
    fronts = r["frontend_cpu"]
    children = {p: c for p, c in r["children_cpu"].items() if p not in fronts}
    print(f"CPU per transaction over the burst (go to last inclusion; {total:,} transfers):")
    print(f"  daemon (main process) {r['daemon_cpu'] / total * 1e6:,.0f} us/tx ({r['daemon_cpu']:.2f} s)")
    if fronts:
        print(
            f"  its {len(fronts)} RPC front ends {sum(fronts.values()) / total * 1e6:,.0f} us/tx "
            f"({', '.join(f'{c:.2f}' for c in sorted(fronts.values(), reverse=True))} s)"
        )
    print(
        f"  its {len(children)} other child processes {sum(children.values()) / total * 1e6:,.0f} us/tx "
        f"({', '.join(f'{c:.2f}' for c in sorted(children.values(), reverse=True))} s)"
    )
    print(
        f"  load generator {r['generator_cpu'] / total * 1e6:,.0f} us/tx "
        f"({r['generator_cpu']:.2f} s in the burst)"
    )
    print(
        f"daemon peak RSS {rss:,.0f} MiB"
        + (f"; front ends {', '.join(f'{m:,.0f}' for m in front_rss)} MiB" if front_rss else "")
    )
    print(
        f"naive py-evm chain API ({len(raws):,} transfers, one process): {naive:,.0f} tx/s; "
        f"burst included / naive {r['included'] / naive:.2f}x"
    )


if __name__ == "__main__":
    main()
