"""Batching cost at the sequencer's peak rate: L1 calldata and the batcher's CPU per L2 transaction
(not part of CI).

A real L1 (anvil, 1 s blocks), the contracts deployed as ``sequencer l1 deploy`` does, the daemon
run with ``--l1`` (default batcher settings: a channel at least every 2 s or when a frame's worth
of blocks waits). Two phases of paced, open-loop load (``bench_sustained``'s, 200 senders):
plain transfers at ``--rate``, then ERC-20 ``transfer`` calls at ``--erc20-rate``. After each
phase it waits until every block is safe (its batches included on L1) and reads the deltas of
the daemon's settlement metrics over the phase:

* calldata bytes per L2 transaction (``settlement_batch_calldata_bytes_total`` /
  ``settlement_batched_l2_txs_total``), against the transactions' own size (the compression);
* L1 gas per L2 transaction (``settlement_batch_l1_gas_total``: calldata pricing with the
  EIP-7623 floor);
* batcher CPU per L2 transaction (``settlement_batcher_cpu_seconds_total``: the thread CPU of the
  batcher's synchronous work, reading blocks, encoding, compressing and signing), and the
  daemon's whole CPU per transaction for scale.

``--without-l1`` runs the same phases on a daemon without ``--l1`` (no anvil), for the
throughput and daemon CPU that settlement costs, measured back to back on the same machine.

Usage:
  .venv/bin/python -m bench.bench_settlement [--rate 2000] [--erc20-rate 1000] [--seconds 20] [--without-l1]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from eth_account import Account
from eth_hash.auto import keccak
from prometheus_client.parser import text_string_to_metric_families

from bench.bench_node import cpu_seconds, erc20_setup, fund_senders, rpc, send_all
from bench.bench_sustained import fast_transfer, full_load_phase
from sequencer.settlement.deploy import DeployRequest, deploy, genesis_hash
from sequencer.settlement.keys import DEV_KEYS, DEV_ROLES, address_of
from sequencer.settlement.settings import inbox_address, render_settlement
from tests.support.anvil import Anvil, anvil_binary, start_anvil
from tests.support.daemon import ROOT

COUNTERS = (
    "settlement_batch_calldata_bytes_total",
    "settlement_batched_l2_txs_total",
    "settlement_batch_l1_gas_total",
    "settlement_batcher_cpu_seconds_total",
    "settlement_batch_txs_total",
    "settlement_batched_blocks_total",
)


def settle(anvil: Anvil, out: Path) -> Path:
    from sequencer.config import load_config

    chain = load_config(ROOT / "configs/devnet.toml").chain
    if chain.genesis_timestamp is None:  # the devnet's launch time: now, as `sequencer l1 deploy` does
        chain = dataclasses.replace(chain, genesis_timestamp=int(time.time()))
    assert chain.genesis_timestamp is not None
    settlement = deploy(
        DeployRequest(
            l1_rpc=anvil.url,
            deployer_key=DEV_KEYS[0],
            l2_chain_id=chain.chain_id,
            l2_genesis_hash=genesis_hash(chain),
            l2_genesis_timestamp=chain.genesis_timestamp,
            batcher=address_of(DEV_KEYS[DEV_ROLES["batcher"]]),
            proposer=address_of(DEV_KEYS[DEV_ROLES["proposer"]]),
            challenger=address_of(DEV_KEYS[DEV_ROLES["challenger"]]),
            challenge_period_s=60,
            output_interval_blocks=10,
            batch_inbox=inbox_address(chain.chain_id),
        )
    )
    out.write_text(render_settlement(settlement))
    return out


def start_settling_daemon(
    data_dir: Path, settlement: Path | None
) -> tuple[subprocess.Popen[bytes], str, str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sequencer.cli",
            "run",
            "--config",
            str(ROOT / "configs/devnet.toml"),
            "--data-dir",
            str(data_dir),
            "--rpc-port",
            "0",
            "--feed-port",
            "0",
            "--metrics-port",
            "0",
            "--log-level",
            "warning",
            *(["--l1", str(settlement)] if settlement is not None else []),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    lines = [proc.stdout.readline().decode() for _ in range(3)]
    text = "".join(lines)
    rpc_url = re.search(r"rpc=(\S+)", text)
    metrics = re.search(r"metrics=(\S+)", text)
    if not rpc_url or not metrics:
        proc.kill()
        raise SystemExit(f"daemon did not start: {text!r}")
    return proc, rpc_url.group(1), metrics.group(1)


async def counters(metrics_url: str) -> dict[str, float]:
    async with aiohttp.ClientSession() as s, s.get(metrics_url + "/metrics") as resp:
        text = await resp.text()
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in COUNTERS:
                out[sample.name] = sample.value
    return out


async def wait_safe(url: str, last_tx: bytes) -> None:
    """Until the block of ``last_tx`` is safe, and a few seconds more for the empty blocks after it."""
    async with aiohttp.ClientSession() as s:
        h = "0x" + keccak(last_tx).hex()
        while (receipt := await rpc(s, url, "eth_getTransactionReceipt", [h])) is None:
            await asyncio.sleep(0.05)
        block = int(receipt["blockNumber"], 16)
        while (await rpc(s, url, "sequencer_status", []))["settlement"]["safeBlock"] < block:
            await asyncio.sleep(0.2)


async def phase(
    url: str, metrics_url: str, pid: int, raws: list[bytes], rate: int, settling: bool = True
) -> dict[str, float]:
    before, cpu0 = await counters(metrics_url), cpu_seconds(pid)
    offered, included, sent = await full_load_phase(url, raws, rate)
    cpu_sent = cpu_seconds(pid)
    if not settling:
        return {"offered": offered, "included": included, "daemon_us_per_tx": (cpu_sent - cpu0) / sent * 1e6}
    await wait_safe(url, raws[-1])
    after = await counters(metrics_url)
    d = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in COUNTERS}
    txs = d["settlement_batched_l2_txs_total"]
    return {
        "offered": offered,
        "included": included,
        "txs": txs,
        "blocks": d["settlement_batched_blocks_total"],
        "l1_txs": d["settlement_batch_txs_total"],
        "raw_bytes_per_tx": sum(len(r) for r in raws) / len(raws),
        "calldata_per_tx": d["settlement_batch_calldata_bytes_total"] / txs,
        "gas_per_tx": d["settlement_batch_l1_gas_total"] / txs,
        "batcher_us_per_tx": d["settlement_batcher_cpu_seconds_total"] / txs * 1e6,
        "daemon_us_per_tx": (cpu_sent - cpu0) / sent * 1e6,
    }


async def next_nonces(url: str, senders: list[Any]) -> list[int]:
    async with aiohttp.ClientSession() as s:
        return [
            int(await rpc(s, url, "eth_getTransactionCount", [a.address, "pending"]), 16) for a in senders
        ]


def report(name: str, r: dict[str, float]) -> None:
    print(f"{name}: offered {r['offered']:,.0f} tx/s, included {r['included']:,.0f} tx/s")
    if "txs" not in r:
        print(f"  (without L1) the whole daemon: {r['daemon_us_per_tx']:,.0f} us CPU per tx")
        return
    print(
        f"  batched {r['txs']:,.0f} L2 txs in {r['blocks']:,.0f} L2 blocks, "
        f"{r['l1_txs']:,.0f} L1 transactions"
    )
    print(
        f"  L1 calldata {r['calldata_per_tx']:.1f} bytes per L2 tx (the transactions themselves: "
        f"{r['raw_bytes_per_tx']:.1f} bytes, ratio {r['calldata_per_tx'] / r['raw_bytes_per_tx']:.2f}); "
        f"L1 gas {r['gas_per_tx']:,.0f} per L2 tx"
    )
    print(
        f"  batcher CPU {r['batcher_us_per_tx']:.1f} us per L2 tx "
        f"(the whole daemon: {r['daemon_us_per_tx']:,.0f} us per tx)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=int, default=2000, help="transfers, tx/s")
    ap.add_argument("--erc20-rate", type=int, default=1000, help="ERC-20 transfer calls, tx/s (0: skip)")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--senders", type=int, default=200)
    ap.add_argument("--without-l1", action="store_true", help="the same load on a daemon without --l1")
    args = ap.parse_args()
    if anvil_binary() is None and not args.without_l1:
        raise SystemExit("anvil not found: run `cd tests/js && npm ci` (or set ANVIL)")

    senders = [Account.create() for _ in range(args.senders)]
    keys = [bytes(a.key) for a in senders]
    sink = bytes.fromhex(Account.create().address[2:])
    transfers = [
        fast_transfer(keys[i % len(keys)], i // len(keys), sink) for i in range(int(args.rate * args.seconds))
    ]

    with tempfile.TemporaryDirectory() as tmp:
        anvil = None if args.without_l1 else start_anvil(Path(tmp), block_time=1, slots_in_an_epoch=4)
        settling = anvil is not None
        try:
            path = settle(anvil, Path(tmp) / "l1.toml") if anvil is not None else None
            proc, url, metrics_url = start_settling_daemon(Path(tmp) / "data", path)
            try:
                asyncio.run(fund_senders(url, senders))
                time.sleep(3)  # the funding blocks settle before the window
                results = [
                    (
                        "transfers",
                        asyncio.run(phase(url, metrics_url, proc.pid, transfers, args.rate, settling)),
                    )
                ]
                if args.erc20_rate:
                    deployer = Account.create()
                    asyncio.run(fund_senders(url, [deployer]))
                    setup, token = erc20_setup(deployer, senders)
                    asyncio.run(send_all(url, setup))
                    data = bytes.fromhex("a9059cbb") + bytes(12) + sink + (1).to_bytes(32, "big")
                    to = bytes.fromhex(token[2:])
                    nonces = asyncio.run(next_nonces(url, senders))
                    calls = [
                        fast_transfer(
                            keys[i % len(keys)], nonces[i % len(keys)] + i // len(keys), to, 0, data, 100_000
                        )
                        for i in range(int(args.erc20_rate * args.seconds))
                    ]
                    time.sleep(3)
                    results.append(
                        (
                            "ERC-20 transfers",
                            asyncio.run(phase(url, metrics_url, proc.pid, calls, args.erc20_rate, settling)),
                        )
                    )
            finally:
                proc.terminate()
                proc.wait(30)
        finally:
            if anvil is not None:
                anvil.stop()
    for name, r in results:
        report(name, r)


if __name__ == "__main__":
    main()
