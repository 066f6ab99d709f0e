"""Large-state benchmark (not part of CI): a genesis of N generated accounts (``--accounts``).

Measures, on a fresh data dir:
  1. ``sequencer init --accounts N``: wall time and peak RSS (building and writing the genesis);
  2. ``sequencer run --accounts N`` on that data dir: start-up time and RSS once serving;
  3. one EVM block of ``--txs`` transfers to distinct generated accounts (so every transaction
     touches the big trie): the block's transaction count and its state-root time (the
     daemon's own ``stateRootMaxMs``, all other blocks being empty), and the RSS after it.

Usage:
  .venv/bin/python -m bench.bench_state [--accounts 1000000] [--txs 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from eth_account import Account
from eth_utils.address import to_checksum_address

from bench.bench_node import fund_senders, rpc, send_all, transfer
from sequencer.genesis import generated_address
from tests.support.daemon import ROOT


def rss_mib(pid: int) -> tuple[float, float]:
    """(current, peak) resident set size of a process in MiB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
    )
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--accounts", type=int, default=1_000_000)
    ap.add_argument("--txs", type=int, default=2000)
    ap.add_argument("--senders", type=int, default=20)
    args = ap.parse_args()

    senders = [Account.create() for _ in range(args.senders)]
    targets = random.Random(7).sample(range(args.accounts), args.txs)
    raws = [
        transfer(senders[i % len(senders)], i // len(senders), to_checksum_address(generated_address(t)))
        for i, t in enumerate(targets)
    ]
    base = [sys.executable, "-m", "sequencer.cli"]
    config = ["--config", str(ROOT / "configs/devnet.toml")]
    with tempfile.TemporaryDirectory() as tmp:
        data = str(Path(tmp) / "data")
        t0 = time.perf_counter()
        subprocess.run(
            [*base, "init", *config, "--data-dir", data, "--accounts", str(args.accounts)],
            check=True,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )
        init_s = time.perf_counter() - t0
        init_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [
                *base,
                "run",
                *config,
                "--data-dir",
                data,
                "--accounts",
                str(args.accounts),
                "--rpc-port",
                "0",
                "--feed-port",
                "0",
                "--evm-block-ms",
                "5000",
                "--log-level",
                "warning",
            ],
            stdout=subprocess.PIPE,
            cwd=ROOT,
        )
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline().decode()
            m = re.search(r"rpc=(\S+)", line)
            if not m:
                raise SystemExit(f"daemon did not start: {line!r}")
            url = m.group(1)
            start_s = time.perf_counter() - t0
            serving_rss, _ = rss_mib(proc.pid)
            asyncio.run(fund_senders(url, senders))
            asyncio.run(send_all(url, raws))
            status, block = asyncio.run(_after_block(url, raws[-1]))
            rss, peak = rss_mib(proc.pid)
        finally:
            proc.terminate()
            proc.wait(60)

    print(f"genesis: {args.accounts:,} generated accounts")
    print(f"  sequencer init: {init_s:.1f} s, peak RSS {init_peak:,.0f} MiB")
    print(f"  sequencer run start-up (load state, rebuild trie): {start_s:.1f} s, RSS {serving_rss:,.0f} MiB")
    print(
        f"block {block['number']}: {block['txs']:,} transfers to distinct generated accounts; "
        f"state root {status['stateRootMaxMs']:.1f} ms (EVM block seal {status['evmBlockSealMaxMs']:.1f} ms)"
    )
    print(f"  daemon RSS after it {rss:,.0f} MiB, peak {peak:,.0f} MiB")


async def _after_block(url: str, last_raw: bytes) -> tuple[dict[str, Any], dict[str, int]]:
    """Wait until the block with the last transfer is sealed: the status and that block's size."""
    from eth_hash.auto import keccak

    h = "0x" + keccak(last_raw).hex()
    async with aiohttp.ClientSession() as s:
        receipt = await rpc(s, url, "eth_getTransactionReceipt", [h])
        number = int(receipt["blockNumber"], 16)
        while (block := await rpc(s, url, "eth_getBlockByNumber", [hex(number), False])) is None:
            await asyncio.sleep(0.05)
        status: dict[str, Any] = await rpc(s, url, "sequencer_status", [])
    return status, {"number": number, "txs": len(block["transactions"])}


if __name__ == "__main__":
    main()
