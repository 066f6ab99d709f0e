"""Verifier throughput against the sequencer on the same machine (not part of CI).

(a) **catch-up**: the sequencer builds a chain under paced load — ``--transfers`` plain transfers
    at ``--rate`` tx/s, then ``--erc20`` ERC-20 transfers at ``--erc20-rate`` — and its included
    tx/s is noted (all transactions / first send to last receipt, per phase and overall). Then,
    with the sequencer idle, a fresh verifier re-verifies that chain from genesis, once with
    ``--workers 1`` and once with ``--workers 2``: verified tx/s (transactions re-executed /
    time from its first verified block to the head; start-up, a second or two, is printed apart)
    and the ratio to the sequencer's included tx/s.
(b) **live**: a fresh sequencer at ``--live-rate`` tx/s for ``--live-seconds`` with one verifier
    (``--workers 1``) following: its lag behind the sequencer's head (``lagBlocks`` of its
    ``/status``, sampled every 100 ms) p50 / p99 / max, and its mismatches.

Usage:
  .venv/bin/python -m bench.bench_verifier [--transfers 60000] [--erc20 20000] [--rate 4000]
      [--erc20-rate 1600] [--live-rate 1000] [--live-seconds 30] [--skip-live] [--skip-catch-up]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from eth_account import Account

from bench.bench_node import erc20_setup, fund_senders, pct, rpc, send_all
from bench.bench_sustained import fast_transfer, full_load_phase
from tests.support.daemon import Daemon, start_daemon
from tests.support.verifier import VerifierProc, start_verifier

SAMPLE_S = 0.1


def tree_cpu(pid: int) -> float:
    """CPU seconds used so far by ``pid`` and its live descendants (a sequencer's ingress worker,
    a verifier's workers): a figure the other load on a shared machine does not inflate."""
    ticks = os.sysconf("SC_CLK_TCK")
    procs: dict[int, tuple[int, float]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            procs[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / ticks)
    total, stack = 0.0, [pid]
    while stack:
        current = stack.pop()
        total += procs.get(current, (0, 0.0))[1]
        stack.extend(child for child, (parent, _) in procs.items() if parent == current)
    return total


def senders(count: int) -> list[Any]:
    return [Account.create() for _ in range(count)]


async def build_chain(url: str, args: argparse.Namespace) -> list[tuple[str, int, float]]:
    """The load that makes the chain: (phase, transactions, included tx/s) per phase."""
    accounts = senders(200)
    await fund_senders(url, accounts)
    keys = [bytes(a.key) for a in accounts]
    out: list[tuple[str, int, float]] = []
    if args.transfers:
        raws = [
            fast_transfer(keys[i % len(keys)], i // len(keys), bytes.fromhex(Account.create().address[2:]))
            for i in range(args.transfers)
        ]
        _offered, included, sent = await full_load_phase(url, raws, args.rate)
        out.append(("transfers", sent, included))
    if args.erc20:
        deployer = Account.create()
        await fund_senders(url, [deployer])
        setup, token = erc20_setup(deployer, accounts)
        await send_all(url, setup)
        async with aiohttp.ClientSession() as s:
            nonces = [
                int(await rpc(s, url, "eth_getTransactionCount", [a.address, "pending"]), 16)
                for a in accounts
            ]
        to = bytes.fromhex(token[2:])
        raws = []
        for i in range(args.erc20):
            k = i % len(keys)
            data = (
                bytes.fromhex("a9059cbb")
                + bytes(12)
                + bytes.fromhex(Account.create().address[2:])
                + (1).to_bytes(32, "big")
            )
            raws.append(fast_transfer(keys[k], nonces[k] + i // len(keys), to, 0, data, 100_000))
        _offered, included, sent = await full_load_phase(url, raws, args.erc20_rate)
        out.append(("ERC-20 transfers", sent, included))
    return out


def head_of(d: Daemon) -> int:
    async def ask() -> int:
        async with aiohttp.ClientSession() as s:
            return int(await rpc(s, d.url, "eth_blockNumber", []), 16)

    return asyncio.run(ask())


def catch_up(d: Daemon, data_dir: Path, workers: int, head: int) -> tuple[float, float, int, float]:
    """(verified tx/s from the first verified block to the head, start-up seconds, transactions,
    the verifier's CPU microseconds per transaction over that span)."""
    started = time.perf_counter()
    v: VerifierProc = start_verifier(
        d.feed_url, data_dir, "--workers", str(workers), "--log-level", "warning"
    )
    try:
        first: tuple[float, int, float] | None = None
        while True:
            status = v.status()
            now = time.perf_counter()
            if first is None and status["height"] >= 1:
                first = (now, status["verifiedTxs"], tree_cpu(v.proc.pid))
            if status["height"] >= head:
                break
            assert status["verdict"] == "ok", status
            time.sleep(0.05)
        assert first is not None and status["verdict"] == "ok", status
        txs = status["verifiedTxs"] - first[1]
        cpu = tree_cpu(v.proc.pid) - first[2]
        return txs / (now - first[0]), first[0] - started, status["verifiedTxs"], cpu / txs * 1e6
    finally:
        v.stop()


async def live_phase(d: Daemon, v: VerifierProc, rate: int, seconds: float) -> tuple[list[int], float, int]:
    """Paced transfers while sampling the verifier's lag: (lag samples, included tx/s, sent)."""
    accounts = senders(200)
    await fund_senders(d.url, accounts)
    keys = [bytes(a.key) for a in accounts]
    sink = bytes.fromhex(Account.create().address[2:])
    raws = [fast_transfer(keys[i % len(keys)], i // len(keys), sink) for i in range(int(rate * seconds))]
    lags: list[int] = []
    done = asyncio.Event()

    async def sample() -> None:
        async with aiohttp.ClientSession() as s:
            while not done.is_set():
                async with s.get(v.status_url + "/status") as r:
                    lags.append((await r.json())["lagBlocks"])
                await asyncio.sleep(SAMPLE_S)

    sampler = asyncio.create_task(sample())
    _offered, included, sent = await full_load_phase(d.url, raws, rate)
    done.set()
    await sampler
    return lags, included, sent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--transfers", type=int, default=60_000)
    ap.add_argument("--erc20", type=int, default=20_000)
    ap.add_argument(
        "--rate",
        type=int,
        default=4000,
        help="offered transfers/s while building (above what the sequencer includes here)",
    )
    ap.add_argument("--erc20-rate", type=int, default=1600)
    ap.add_argument("--live-rate", type=int, default=1000)
    ap.add_argument("--live-seconds", type=float, default=30)
    ap.add_argument("--skip-catch-up", action="store_true")
    ap.add_argument("--skip-live", action="store_true")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        if not args.skip_catch_up:
            d = start_daemon(base / "seq", "--log-level", "warning")
            try:
                t0 = time.perf_counter()
                cpu0 = tree_cpu(d.proc.pid)
                phases = asyncio.run(build_chain(d.url, args))
                time.sleep(1.5)  # the last block sealed
                built_in = time.perf_counter() - t0
                seq_cpu = (tree_cpu(d.proc.pid) - cpu0) / sum(n for _, n, _ in phases) * 1e6
            finally:
                d.stop()
            d = start_daemon(base / "seq", "--log-level", "warning", "--evm-block-ms", "600000")  # idle
            try:
                head = head_of(d)
                total = sum(n for _, n, _ in phases)
                included = total / sum(n / rate for _, n, rate in phases)
                for name, n, rate in phases:
                    print(f"sequencer: {n:,} {name} included at {rate:,.0f} tx/s")
                print(
                    f"sequencer: {total:,} transactions, {head:,} EVM blocks, included at "
                    f"{included:,.0f} tx/s over both phases (built in {built_in:.0f} s); sequencer CPU "
                    f"{seq_cpu:,.0f} us/tx (funding and setup included)"
                )
                for workers in (1, 2):
                    rate, startup, verified, cpu = catch_up(d, base / f"v{workers}", workers, head)
                    print(
                        f"catch-up, --workers {workers}: {rate:,.0f} tx/s verified = "
                        f"{rate / included:.2f}x the sequencer ({verified:,} transactions; "
                        f"start-up {startup:.1f} s); verifier CPU {cpu:,.0f} us/tx",
                        flush=True,
                    )
            finally:
                d.stop()
        if not args.skip_live:
            d = start_daemon(base / "live", "--log-level", "warning")
            v = start_verifier(d.feed_url, base / "live-v", "--log-level", "warning")
            try:
                lags, included, sent = asyncio.run(live_phase(d, v, args.live_rate, args.live_seconds))
                time.sleep(2)
                mismatches = len(v.status()["mismatches"])
            finally:
                v.stop()
                d.stop()
            print(
                f"live: {sent:,} transfers at {args.live_rate:,} tx/s offered, {included:,.0f} included; "
                f"verifier lag (EVM blocks, {len(lags)} samples) p50 {statistics.median(lags):.0f}, "
                f"p99 {pct([float(x) for x in lags], 0.99):.0f}, max {max(lags)}; mismatches {mismatches}"
            )


if __name__ == "__main__":
    main()
