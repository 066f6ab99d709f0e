"""End-to-end benchmark of the sequencer daemon through JSON-RPC (not part of CI).

Starts the real daemon on a temporary data dir and measures:
  1. send -> receipt latency at a paced rate on an otherwise idle node: polling after
     eth_sendRawTransaction, and one eth_sendRawTransactionSync round trip;
  2. throughput: N pre-signed plain transfers and N ERC-20 transfers from K senders (signed
     outside the timed window), sent as JSON-RPC batches with configurable concurrency, and
     plain transfers once more as single (unbatched) requests;
     accepted and included tx/s, daemon CPU per transaction;
  3. the naive ceiling: the same transactions through py-evm's plain chain API in this process
     (MiningChain.mine_all, one block per 1,000 transactions), and the ratio.

Usage:
  .venv/bin/python -m bench.bench_node [--txs 3000] [--senders 20] [--latency-samples 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from eth_account import Account

from tests.support.accounts import DEV_KEYS
from tests.support.daemon import ROOT

JSON_HEADERS = {"Content-Type": "application/json"}
"""The node answers 415 to a POST that is not JSON (issue #12, item 8)."""

CHAIN_ID = 1337
GWEI = 10**9


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def start_daemon(data_dir: Path, *extra: str) -> tuple[subprocess.Popen[bytes], str]:
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
            "--log-level",
            "warning",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    m = re.search(r"rpc=(\S+)", line)
    if not m:
        proc.kill()
        raise SystemExit(f"daemon did not start: {line!r}")
    return proc, m.group(1)


async def rpc(session: aiohttp.ClientSession, url: str, method: str, params: list[Any]) -> Any:
    async with session.post(
        url,
        data=orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}),
        headers=JSON_HEADERS,
    ) as r:
        body = orjson.loads(await r.read())
    if "error" in body:
        raise RuntimeError(f"{method}: {body['error']}")
    return body["result"]


async def rpc_batch(
    session: aiohttp.ClientSession, url: str, calls: list[tuple[str, list[Any]]]
) -> list[Any]:
    payload = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
    async with session.post(url, data=orjson.dumps(payload), headers=JSON_HEADERS) as r:
        body = orjson.loads(await r.read())
    return sorted(body, key=lambda x: x["id"])


def transfer(acct: Any, nonce: int, to: str, value: int = 1) -> bytes:
    return bytes(
        acct.sign_transaction(
            {
                "chainId": CHAIN_ID,
                "nonce": nonce,
                "to": to,
                "value": value,
                "gas": 21_000,
                "maxFeePerGas": 10 * GWEI,
                "maxPriorityFeePerGas": 0,
                "type": 2,
            }
        ).raw_transaction
    )


async def measure_latency(url: str, samples: int, sync: bool = False, key: str = DEV_KEYS[0]) -> list[float]:
    """Round trips at a paced rate on an idle node: eth_sendRawTransaction then polling for the
    receipt, or one eth_sendRawTransactionSync call (``sync``)."""
    acct = Account.from_key(key)
    async with aiohttp.ClientSession() as s:
        nonce = int(await rpc(s, url, "eth_getTransactionCount", [acct.address, "pending"]), 16)
        raws = [transfer(acct, nonce + i, acct.address, 0) for i in range(samples)]
        out = []
        for raw in raws:
            t0 = time.perf_counter()
            if sync:
                receipt = await rpc(s, url, "eth_sendRawTransactionSync", ["0x" + raw.hex()])
                assert receipt["status"] == "0x1"
            else:
                h = await rpc(s, url, "eth_sendRawTransaction", ["0x" + raw.hex()])
                while await rpc(s, url, "eth_getTransactionReceipt", [h]) is None:
                    pass
            out.append((time.perf_counter() - t0) * 1000)
            await asyncio.sleep(0.02)
        return out


async def fund_senders(url: str, senders: list[Any]) -> None:
    async with aiohttp.ClientSession() as s:
        funders = [Account.from_key(k) for k in DEV_KEYS]
        calls = []
        for i, acct in enumerate(senders):
            funder = funders[i % len(funders)]
            nonce = int(
                await rpc(s, url, "eth_getTransactionCount", [funder.address, "pending"]), 16
            ) + i // len(funders)
            calls.append(
                ("eth_sendRawTransaction", ["0x" + transfer(funder, nonce, acct.address, 10**20).hex()])
            )
        for r in await rpc_batch(s, url, calls):
            assert "result" in r, r
        last = calls[-1][1][0]
        from eth_hash.auto import keccak

        h = "0x" + keccak(bytes.fromhex(last[2:])).hex()
        while await rpc(s, url, "eth_getTransactionReceipt", [h]) is None:
            await asyncio.sleep(0.01)


async def measure_throughput(
    url: str, raws: list[bytes], batch: int, concurrency: int
) -> tuple[float, float]:
    from eth_hash.auto import keccak

    chunks = [raws[i : i + batch] for i in range(0, len(raws), batch)]
    async with aiohttp.ClientSession() as s:
        sem = asyncio.Semaphore(concurrency)
        t0 = time.perf_counter()

        async def send(chunk: list[bytes]) -> None:
            async with sem:
                if batch == 1:  # single requests: one JSON-RPC object per HTTP request, no batch
                    await rpc(s, url, "eth_sendRawTransaction", ["0x" + chunk[0].hex()])
                    return
                res = await rpc_batch(s, url, [("eth_sendRawTransaction", ["0x" + r.hex()]) for r in chunk])
                bad = [r for r in res if "error" in r]
                assert not bad, bad[:3]

        await asyncio.gather(*(send(c) for c in chunks))
        accepted = time.perf_counter() - t0
        last_hashes = ["0x" + keccak(r).hex() for r in raws[-concurrency * batch :]]
        for h in last_hashes:
            while await rpc(s, url, "eth_getTransactionReceipt", [h]) is None:
                await asyncio.sleep(0.005)
        included = time.perf_counter() - t0
    return len(raws) / accepted, len(raws) / included


def naive_ceiling(
    setup: list[bytes], raws: list[bytes], funded: list[Any], nonces: dict[str, int] | None = None
) -> float:
    """The same transactions through py-evm's plain chain API in one process.

    ``MiningChain.mine_all`` applies a batch with ``apply_all_transactions`` and mines it (state
    root, tx/receipt tries, persist): one block per 1,000 transactions. (Calling
    ``apply_transaction`` per transaction instead rebuilds the tries each time: quadratic.)
    ``setup`` transactions (e.g. a token deployment) run first, untimed.
    """
    from eth.chains.base import MiningChain
    from eth.consensus.noproof import NoProofConsensus
    from eth.db.atomic import AtomicDB
    from eth.vm.forks.prague import PragueVM

    vm = PragueVM.configure(consensus_class=NoProofConsensus)
    chain_class = MiningChain.configure(__name__="Naive", vm_configuration=((0, vm),), chain_id=CHAIN_ID)
    nonces = nonces or {}
    state: Any = {
        bytes.fromhex(a.address[2:]): {
            "balance": 10**21,
            "nonce": nonces.get(a.address, 0),
            "code": b"",
            "storage": {},
        }
        for a in funded
    }
    params: Any = {"difficulty": 0, "gas_limit": 10**9, "timestamp": 1, "base_fee_per_gas": GWEI}
    chain: Any = chain_class.from_genesis(AtomicDB(), params, state)
    builder = PragueVM.get_transaction_builder()
    timestamp = 2
    for i in range(0, len(setup), 1000):
        chain.mine_all([builder.decode(r) for r in setup[i : i + 1000]], timestamp=timestamp)
        timestamp += 1
    txs = [builder.decode(r) for r in raws]
    for tx in txs:
        _ = tx.sender  # sender recovery is not what we compare
    t0 = time.perf_counter()
    for i in range(0, len(txs), 1000):
        chain.mine_all(txs[i : i + 1000], timestamp=timestamp)
        timestamp += 1
    return len(txs) / (time.perf_counter() - t0)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def erc20_setup(deployer: Any, senders: list[Any]) -> tuple[list[bytes], str]:
    """Deploy TestToken and give every sender tokens: the raw transactions, and the token address."""
    import json

    from eth_utils.address import to_checksum_address
    from web3 import Web3

    art = json.loads((ROOT / "tests/fixtures/contracts/TestToken.json").read_text())
    token = Web3().eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    deploy = bytes(
        deployer.sign_transaction(
            {
                "chainId": CHAIN_ID,
                "nonce": 0,
                "data": token.constructor(10**30).data_in_transaction,
                "value": 0,
                "gas": 2_000_000,
                "maxFeePerGas": 10 * GWEI,
                "maxPriorityFeePerGas": 0,
                "type": 2,
            }
        ).raw_transaction
    )
    from eth._utils.address import generate_contract_address
    from eth_typing import Address

    address = to_checksum_address(generate_contract_address(Address(bytes.fromhex(deployer.address[2:])), 0))
    bound = Web3().eth.contract(address=address, abi=art["abi"])
    setup = [deploy]
    for i, acct in enumerate(senders):
        setup.append(
            bytes(
                deployer.sign_transaction(
                    {
                        "chainId": CHAIN_ID,
                        "nonce": i + 1,
                        "to": address,
                        "value": 0,
                        "gas": 100_000,
                        "data": bound.encode_abi("transfer", [acct.address, 10**24]),
                        "maxFeePerGas": 10 * GWEI,
                        "maxPriorityFeePerGas": 0,
                        "type": 2,
                    }
                ).raw_transaction
            )
        )
    return setup, address


def erc20_transfers(senders: list[Any], token: str, first_nonce: int, count: int, sink: str) -> list[bytes]:
    from web3 import Web3

    data = (
        Web3()
        .eth.contract(
            abi=[
                {
                    "type": "function",
                    "name": "transfer",
                    "stateMutability": "nonpayable",
                    "inputs": [{"name": "to", "type": "address"}, {"name": "v", "type": "uint256"}],
                    "outputs": [{"name": "", "type": "bool"}],
                }
            ]
        )
        .encode_abi("transfer", [sink, 1])
    )
    out = []
    for i in range(count):
        acct = senders[i % len(senders)]
        out.append(
            bytes(
                acct.sign_transaction(
                    {
                        "chainId": CHAIN_ID,
                        "nonce": first_nonce + i // len(senders),
                        "to": token,
                        "value": 0,
                        "gas": 100_000,
                        "data": data,
                        "maxFeePerGas": 10 * GWEI,
                        "maxPriorityFeePerGas": 0,
                        "type": 2,
                    }
                ).raw_transaction
            )
        )
    return out


async def send_all(url: str, raws: list[bytes], wait_last: bool = True) -> None:
    """Untimed setup: send in batches and wait for the last receipt."""
    from eth_hash.auto import keccak

    async with aiohttp.ClientSession() as s:
        for i in range(0, len(raws), 100):
            res = await rpc_batch(
                s, url, [("eth_sendRawTransaction", ["0x" + r.hex()]) for r in raws[i : i + 100]]
            )
            assert all("result" in r for r in res), res[:2]
        if wait_last:
            h = "0x" + keccak(raws[-1]).hex()
            while await rpc(s, url, "eth_getTransactionReceipt", [h]) is None:
                await asyncio.sleep(0.01)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--txs", type=int, default=3000)
    ap.add_argument("--senders", type=int, default=20)
    ap.add_argument("--latency-samples", type=int, default=200)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument(
        "--single-concurrency", type=int, default=32, help="requests in flight for single (unbatched) sends"
    )
    ap.add_argument("--naive-txs", type=int, default=2000, help="transactions for the naive py-evm run")
    args = ap.parse_args()

    senders = [Account.create() for _ in range(args.senders)]
    deployer = Account.create()
    per_sender = args.txs // args.senders
    sink = Account.create().address
    raws = [
        transfer(senders[i % len(senders)], i // len(senders), sink) for i in range(per_sender * len(senders))
    ]

    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_daemon(Path(tmp) / "data")
        try:
            lat = asyncio.run(measure_latency(url, args.latency_samples))
            sync_lat = asyncio.run(measure_latency(url, args.latency_samples, sync=True, key=DEV_KEYS[1]))
            asyncio.run(fund_senders(url, [*senders, deployer]))
            cpu0 = cpu_seconds(proc.pid)
            accepted, included = asyncio.run(measure_throughput(url, raws, args.batch, args.concurrency))
            cpu_per_tx = (cpu_seconds(proc.pid) - cpu0) / len(raws)
            status = asyncio.run(node_status(url))
            setup, token = erc20_setup(deployer, senders)
            asyncio.run(send_all(url, setup))
            erc20 = erc20_transfers(senders, token, per_sender, per_sender * len(senders), sink)
            cpu0 = cpu_seconds(proc.pid)
            erc_accepted, erc_included = asyncio.run(
                measure_throughput(url, erc20, args.batch, args.concurrency)
            )
            erc_cpu_per_tx = (cpu_seconds(proc.pid) - cpu0) / len(erc20)
            singles = [
                transfer(senders[i % len(senders)], 2 * per_sender + i // len(senders), sink)
                for i in range(per_sender * len(senders))
            ]
            cpu0 = cpu_seconds(proc.pid)
            single_accepted, single_included = asyncio.run(
                measure_throughput(url, singles, 1, args.single_concurrency)
            )
            single_cpu_per_tx = (cpu_seconds(proc.pid) - cpu0) / len(singles)
        finally:
            proc.terminate()
            proc.wait(30)
        child = resource.getrusage(resource.RUSAGE_CHILDREN)
    naive = naive_ceiling([], raws[: args.naive_txs], senders)
    used = {a.address: per_sender for a in senders}  # the plain transfers came first
    erc_naive = naive_ceiling(setup, erc20[: args.naive_txs], [*senders, deployer], used)

    print(
        f"send->receipt latency (idle, {len(lat)} samples, 10 ms mini-blocks): "
        f"p50 {statistics.median(lat):.1f} ms, p99 {pct(lat, 0.99):.1f} ms"
    )
    print(
        f"eth_sendRawTransactionSync latency (idle, {len(sync_lat)} samples): "
        f"p50 {statistics.median(sync_lat):.1f} ms, p99 {pct(sync_lat, 0.99):.1f} ms"
    )
    print(
        f"transfers: {len(raws)} from {len(senders)} senders, "
        f"batches of {args.batch}, concurrency {args.concurrency}"
    )
    print(
        f"  accepted {accepted:,.0f} tx/s, included {included:,.0f} tx/s, "
        f"daemon CPU {cpu_per_tx * 1e6:,.0f} us/tx"
    )
    print(
        f"  mini-block interval p50 {status['miniBlockIntervalP50Ms']} ms, "
        f"p99 {status['miniBlockIntervalP99Ms']} ms; "
        f"EVM block seal p50 {status['evmBlockSealP50Ms']} ms, state root p50 {status['stateRootP50Ms']} ms"
    )
    print(
        f"  daemon peak RSS {child.ru_maxrss / 1024:.0f} MiB, "
        f"CPU {child.ru_utime + child.ru_stime:.1f} s total"
    )
    print(
        f"transfers as single requests (no batches), {args.single_concurrency} in flight: "
        f"accepted {single_accepted:,.0f} tx/s, included {single_included:,.0f} tx/s, "
        f"daemon CPU {single_cpu_per_tx * 1e6:,.0f} us/tx"
    )
    print(f"naive py-evm chain API (same transfers, one process): {naive:,.0f} tx/s")
    print(f"end-to-end included / naive ratio: {included / naive:.2f}x")
    print(f"ERC-20 transfers: {len(erc20)} from {len(senders)} senders")
    print(
        f"  accepted {erc_accepted:,.0f} tx/s, included {erc_included:,.0f} tx/s, "
        f"daemon CPU {erc_cpu_per_tx * 1e6:,.0f} us/tx"
    )
    print(
        f"  naive py-evm chain API: {erc_naive:,.0f} tx/s; "
        f"end-to-end / naive ratio {erc_included / erc_naive:.2f}x"
    )


async def node_status(url: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as s:
        result: dict[str, Any] = await rpc(s, url, "sequencer_status", [])
        return result


if __name__ == "__main__":
    main()
