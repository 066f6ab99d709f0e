"""Verifier throughput (not part of CI): one verifier, then two shards, against the sequencer.

Loads the sequencer with N plain transfers (pre-signed, sent in batches) and measures its
included tx/s; then verifies the same chain from genesis with one verifier process and with
two shard processes (0/2 and 1/2) in parallel, and prints verified tx/s and the ratios.

Usage:
  .venv/bin/python -m bench.bench_verifier [--txs 2000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from eth_account import Account
from web3 import Web3

from tests.support.accounts import DEV_KEYS
from tests.support.daemon import start_daemon
from tests.support.rpc import batch
from tests.support.verifier import start_verifier

CHAIN_ID = 1337
GWEI = 10**9


def transfer(acct: object, nonce: int, to: str) -> str:
    tx = {
        "chainId": CHAIN_ID,
        "nonce": nonce,
        "to": to,
        "value": 1,
        "gas": 21_000,
        "maxFeePerGas": 10 * GWEI,
        "maxPriorityFeePerGas": 0,
        "type": 2,
    }
    return "0x" + bytes(acct.sign_transaction(tx).raw_transaction).hex()  # type: ignore[attr-defined]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--txs", type=int, default=2000)
    args = ap.parse_args()
    senders = [Account.from_key(k) for k in DEV_KEYS]
    sink = Account.create().address
    per = args.txs // len(senders)
    raws = [transfer(senders[i % len(senders)], i // len(senders), sink) for i in range(per * len(senders))]
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        d = start_daemon(base / "seq", "--log-level", "warning")
        try:
            w3 = Web3(Web3.HTTPProvider(d.url, request_kwargs={"timeout": 60}))
            t0 = time.perf_counter()
            for i in range(0, len(raws), 200):
                answers = batch(w3, [("eth_sendRawTransaction", [r]) for r in raws[i : i + 200]])
                assert all("result" in a for a in answers), answers[:2]
            last = answers[-1]["result"]
            w3.eth.wait_for_transaction_receipt(last, timeout=120, poll_latency=0.01)
            seq_rate = len(raws) / (time.perf_counter() - t0)
            time.sleep(1.2)  # the last block is sealed
            head = w3.eth.block_number

            def verify(shards: list[str]) -> float:
                procs = [
                    start_verifier(d.feed_url, base / f"v-{len(shards)}-{i}", "--shard", s)
                    for i, s in enumerate(shards)
                ]
                started = time.perf_counter()
                try:
                    while not all(p.status()["height"] >= head for p in procs):
                        time.sleep(0.05)
                    elapsed = time.perf_counter() - started
                    assert all(p.status()["verdict"] == "ok" for p in procs)
                finally:
                    for p in procs:
                        p.stop()
                return len(raws) / elapsed

            one = verify(["0/1"])
            two = verify(["0/2", "1/2"])
        finally:
            d.stop()
    print(f"sequencer: {len(raws)} transfers included at {seq_rate:,.0f} tx/s (end to end through JSON-RPC)")
    print(
        f"one verifier (catch-up from genesis): {one:,.0f} tx/s verified "
        f"= {one / seq_rate:.2f}x the sequencer"
    )
    print(
        f"two shards in parallel:               {two:,.0f} tx/s verified "
        f"= {two / seq_rate:.2f}x the sequencer "
        f"({two / one:.2f}x one verifier)"
    )


if __name__ == "__main__":
    main()
