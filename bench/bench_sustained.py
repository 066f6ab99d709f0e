"""Sustained-load benchmark of the sequencer daemon (not part of CI).

Paced, open-loop load over JSON-RPC, the way a busy node sees it: every 20 ms a batch of
plain transfers (``rate / 50`` of them) from ``--senders`` accounts, for ``--seconds``:

  phase 1, half load (``--rate / 2``): while it runs, send-and-wait latency
    (``eth_sendRawTransactionSync`` every 20 ms from another account) and the mini-block
    interval p50/p99 (the daemon's own, over the phase);
  phase 2, full load (``--rate``): included tx/s over the phase (all transfers / first send
    to last receipt), the smallest and median EVM block inside the window, and the slowest EVM
    block seal / state root;
  phase 3 (``--erc20-rate``, 0 skips it): ERC-20 ``transfer`` calls at that rate, the same way.

Transactions are signed before the timed window (coincurve, checked equal to eth-account's).

Usage:
  .venv/bin/python -m bench.bench_sustained [--rate 2000] [--seconds 30] [--senders 200]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import coincurve
import orjson
from eth_account import Account
from eth_hash.auto import keccak
from eth_utils.address import to_checksum_address

from bench.bench_node import (
    CHAIN_ID,
    GWEI,
    JSON_HEADERS,
    cpu_seconds,
    fund_senders,
    node_status,
    pct,
    rpc,
    start_daemon,
    transfer,
)
from sequencer import fastrlp
from tests.support.accounts import DEV_KEYS

TICK_S = 0.02


def fast_transfer(
    key: bytes, nonce: int, to: bytes, value: int = 1, data: bytes = b"", gas: int = 21_000
) -> bytes:
    """An EIP-1559 transaction signed with libsecp256k1 directly (same bytes as eth-account)."""
    fields = [CHAIN_ID, nonce, 0, 10 * GWEI, gas, to, value, data, []]
    unsigned = b"\x02" + fastrlp.encode(fields)
    sig = coincurve.PrivateKey(key).sign_recoverable(keccak(unsigned), hasher=None)
    r, s, v = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big"), sig[64]
    return b"\x02" + fastrlp.encode([*fields, v, r, s])


async def paced_load(
    url: str, raws: list[bytes], rate: int, stop: asyncio.Event | None = None
) -> tuple[float, int]:
    """Send ``raws`` at ``rate`` tx/s in 20 ms batches; returns (seconds, transactions sent)."""
    per_tick = max(1, round(rate * TICK_S))
    sent = 0
    errors: list[Any] = []
    async with aiohttp.ClientSession() as s:
        pending: set[asyncio.Task[None]] = set()

        async def send(chunk: list[bytes]) -> None:
            payload = [
                {"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction", "params": ["0x" + r.hex()]}
                for i, r in enumerate(chunk)
            ]
            async with s.post(url, data=orjson.dumps(payload), headers=JSON_HEADERS) as resp:
                body = orjson.loads(await resp.read())
            errors.extend(x["error"] for x in body if "error" in x)

        t0 = time.perf_counter()
        tick = 0
        while sent < len(raws) and not (stop and stop.is_set()):
            chunk = raws[sent : sent + per_tick]
            sent += len(chunk)
            task = asyncio.create_task(send(chunk))
            pending.add(task)
            task.add_done_callback(pending.discard)
            tick += 1
            await asyncio.sleep(max(0.0, t0 + tick * TICK_S - time.perf_counter()))
        await asyncio.gather(*pending)
        elapsed = time.perf_counter() - t0
    if errors:
        raise SystemExit(f"{len(errors)} sends failed, e.g. {errors[:2]}")
    return elapsed, sent


async def sync_latency(url: str, key: str, stop: asyncio.Event) -> list[float]:
    acct = Account.from_key(key)
    out = []
    async with aiohttp.ClientSession() as s:
        nonce = int(await rpc(s, url, "eth_getTransactionCount", [acct.address, "pending"]), 16)
        while not stop.is_set():
            raw = transfer(acct, nonce, acct.address, 0)
            nonce += 1
            t0 = time.perf_counter()
            receipt = await rpc(s, url, "eth_sendRawTransactionSync", ["0x" + raw.hex()])
            out.append((time.perf_counter() - t0) * 1000)
            assert receipt["status"] == "0x1"
            await asyncio.sleep(TICK_S)
    return out


async def half_load_phase(
    url: str, raws: list[bytes], rate: int
) -> tuple[float, list[float], dict[str, Any]]:
    stop = asyncio.Event()
    probe = asyncio.create_task(sync_latency(url, DEV_KEYS[1], stop))
    elapsed, sent = await paced_load(url, raws, rate)
    stop.set()
    latencies = await probe
    return sent / elapsed, latencies, await node_status(url)


async def full_load_phase(url: str, raws: list[bytes], rate: int) -> tuple[float, float, int]:
    """Offered and included tx/s: included = all transfers / (last receipt - first send)."""
    t0 = time.perf_counter()
    elapsed, sent = await paced_load(url, raws, rate)
    last = "0x" + keccak(raws[sent - 1]).hex()
    async with aiohttp.ClientSession() as s:
        while await rpc(s, url, "eth_getTransactionReceipt", [last]) is None:
            await asyncio.sleep(0.002)
    return sent / elapsed, sent / (time.perf_counter() - t0), sent


async def blocks_between(url: str, t_start: float, t_end: float) -> list[tuple[float, int]]:
    """(seal time, transaction count) of the EVM blocks sealed in [t_start, t_end] (unix s)."""
    out = []
    async with aiohttp.ClientSession() as s:
        n = int(await rpc(s, url, "eth_blockNumber", []), 16)
        while n > 0:
            block = await rpc(s, url, "eth_getBlockByNumber", [hex(n), False])
            ts = int(block["timestamp"], 16)
            if ts < t_start - 2:
                break
            out.append((ts, len(block["transactions"])))
            n -= 1
    return sorted(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=int, default=2000, help="full load, tx/s (phase 2); half of it in phase 1")
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--senders", type=int, default=200)
    ap.add_argument("--erc20-rate", type=int, default=0, help="phase 3 ERC-20 load, tx/s (0: skip)")
    ap.add_argument(
        "--rpc-frontends", type=int, default=0, metavar="N", help="RPC front-end processes (rpc.frontends)"
    )
    args = ap.parse_args()

    senders = [Account.create() for _ in range(args.senders)]
    keys = [bytes(a.key) for a in senders]
    sink = bytes.fromhex(Account.create().address[2:])
    assert fast_transfer(keys[0], 0, sink) == transfer(senders[0], 0, to_checksum_address(sink))  # same bytes
    half_n = int(args.rate / 2 * args.seconds)
    full_n = int(args.rate * args.seconds)
    t_sign = time.perf_counter()
    raws = [fast_transfer(keys[i % len(keys)], i // len(keys), sink) for i in range(half_n + full_n)]
    print(f"signed {len(raws):,} transfers in {time.perf_counter() - t_sign:.1f} s", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        frontends = ["--rpc-frontends", str(args.rpc_frontends)] if args.rpc_frontends else []
        proc, url = start_daemon(Path(tmp) / "data", *frontends)
        _DAEMON_PID.append(proc.pid)
        try:
            asyncio.run(fund_senders(url, senders))
            half_rate, latencies, half_status = asyncio.run(
                half_load_phase(url, raws[:half_n], args.rate // 2)
            )
            time.sleep(2)  # let the half-load backlog drain
            cpu0 = cpu_seconds(proc.pid)
            wall0 = time.time()
            offered, included, sent = asyncio.run(full_load_phase(url, raws[half_n:], args.rate))
            wall1 = time.time()
            cpu = cpu_seconds(proc.pid) - cpu0
            status = asyncio.run(node_status(url))
            blocks = asyncio.run(blocks_between(url, wall0, wall1))
            erc20 = None
            if args.erc20_rate:
                erc20 = asyncio.run(erc20_phase(url, senders, args.erc20_rate, args.seconds))
        finally:
            proc.terminate()
            proc.wait(30)

    inner = [count for ts, count in blocks if wall0 + 1 <= ts <= wall1 - 2]  # blocks well inside
    print(f"phase 1, half load: offered {half_rate:,.0f} tx/s for {args.seconds:.0f} s")
    print(
        f"  eth_sendRawTransactionSync ({len(latencies)} samples): "
        f"p50 {statistics.median(latencies):.1f} ms, p99 {pct(latencies, 0.99):.1f} ms"
    )
    print(
        f"  mini-block interval p50 {half_status['miniBlockIntervalP50Ms']} ms, "
        f"p99 {half_status['miniBlockIntervalP99Ms']} ms (configured 10 ms)"
    )
    print(f"phase 2, full load: offered {offered:,.0f} tx/s for {sent / offered:.1f} s ({sent:,} transfers)")
    print(
        f"  included {included:,.0f} tx/s (all of them / first send to last receipt); "
        f"daemon CPU {cpu / sent * 1e6:,.0f} us/tx"
    )
    print(
        f"  EVM blocks inside the window: {len(inner)}, transactions min {min(inner, default=0):,}, "
        f"median {statistics.median(inner) if inner else 0:,.0f}"
    )
    print(
        f"  mini-block interval p50 {status['miniBlockIntervalP50Ms']} ms, "
        f"p99 {status['miniBlockIntervalP99Ms']} ms; EVM block seal max {status['evmBlockSealMaxMs']} ms, "
        f"state root max {status['stateRootMaxMs']} ms"
    )
    if erc20 is not None:
        e_offered, e_included, e_sent, e_cpu = erc20
        print(
            f"phase 3, ERC-20 transfers: offered {e_offered:,.0f} tx/s "
            f"for {e_sent / e_offered:.1f} s ({e_sent:,})"
        )
        print(f"  included {e_included:,.0f} tx/s; daemon CPU {e_cpu:,.0f} us/tx")


async def erc20_phase(
    url: str, senders: list[Any], rate: int, seconds: float
) -> tuple[float, float, int, float]:
    """Deploy the test token, give every sender some, then paced ``transfer`` calls:
    (offered tx/s, included tx/s, transactions, daemon CPU us/tx)."""
    from bench.bench_node import erc20_setup, send_all

    deployer = Account.create()
    await fund_senders(url, [deployer])
    setup, token = erc20_setup(deployer, senders)
    await send_all(url, setup)
    async with aiohttp.ClientSession() as s:
        nonces = [
            int(await rpc(s, url, "eth_getTransactionCount", [a.address, "pending"]), 16) for a in senders
        ]
    data = (
        bytes.fromhex("a9059cbb")
        + bytes(12)
        + bytes.fromhex(Account.create().address[2:])
        + (1).to_bytes(32, "big")
    )
    to = bytes.fromhex(token[2:])
    keys = [bytes(a.key) for a in senders]
    raws = []
    for i in range(int(rate * seconds)):
        k = i % len(keys)
        raws.append(fast_transfer(keys[k], nonces[k] + i // len(keys), to, 0, data, 100_000))
    proc_cpu = _daemon_cpu()
    offered, included, sent = await full_load_phase(url, raws, rate)
    return offered, included, sent, (_daemon_cpu() - proc_cpu) / sent * 1e6


_DAEMON_PID: list[int] = []


def _daemon_cpu() -> float:
    return cpu_seconds(_DAEMON_PID[0]) if _DAEMON_PID else 0.0


if __name__ == "__main__":
    main()
