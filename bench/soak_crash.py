"""Crash soak (not part of CI): load with a kill -9 every few seconds, checking after every
restart that everything the node acknowledged is in the chain.

Each round: start the daemon on the same data dir, run several senders (half using
eth_sendRawTransactionSync, half eth_sendRawTransaction) for a random 1-3 s, SIGKILL the
daemon, restart it, and wait until every acknowledged transaction has its receipt (served
receipts must be identical in every field final when served). Ends with `sequencer db check`.

Usage:
  .venv/bin/python -m bench.soak_crash --crashes 50
  .venv/bin/python -m bench.soak_crash --minutes 10
"""

from __future__ import annotations

import argparse
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from web3 import Web3

from tests.support.accounts import DEV_KEYS
from tests.support.daemon import ROOT, start_daemon
from tests.support.loadgen import Load, comparable, wait_for_receipts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--crashes", type=int, default=50, help="stop after this many kill -9 (default 50)")
    ap.add_argument("--minutes", type=float, default=None, help="or stop after this long")
    ap.add_argument("--senders", type=int, default=6)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    served: dict[str, dict[str, Any]] = {}
    acked: set[str] = set()
    lost = mismatched = crashes = 0
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        while crashes < args.crashes and (
            args.minutes is None or time.monotonic() - started < args.minutes * 60
        ):
            d = start_daemon(data, "--evm-block-ms", "500")
            load = Load(d.url, DEV_KEYS[: args.senders])
            load.start()
            time.sleep(rng.uniform(1.0, 3.0))
            d.proc.send_signal(signal.SIGKILL)
            d.proc.wait(10)
            d.kill()
            load.stop()
            crashes += 1
            served.update(load.receipts)
            acked |= load.acked
            # this round's acknowledgements in full, plus a sample of every earlier round's
            earlier = sorted((set(served) | acked) - set(load.receipts) - load.acked)
            probe = set(load.receipts) | load.acked | set(rng.sample(earlier, min(500, len(earlier))))
            check = start_daemon(data, "--evm-block-ms", "500")
            w3 = Web3(Web3.HTTPProvider(check.url))
            try:
                found = wait_for_receipts(w3, probe, timeout=30)
            except AssertionError as exc:
                lost += 1
                print(f"round {crashes}: {exc}")
                found = {}
            mismatched += sum(
                1 for h in probe & set(served) if h in found and comparable(found[h]) != comparable(served[h])
            )
            print(
                f"crash {crashes:3d}: acknowledged so far {len(served) + len(acked):6d} "
                f"(this round {len(load.receipts) + len(load.acked)}), checked {len(probe)}, "
                f"found {len(found)}, head block {w3.eth.block_number}",
                flush=True,
            )
            if crashes >= args.crashes or (
                args.minutes is not None and time.monotonic() - started >= args.minutes * 60
            ):
                everything = set(served) | acked
                try:
                    final = wait_for_receipts(w3, everything, timeout=60)
                    mismatched += sum(1 for h in served if comparable(final[h]) != comparable(served[h]))
                    print(f"final check: all {len(final)} acknowledged transactions are in the chain")
                except AssertionError as exc:
                    lost += 1
                    print(f"final check: {exc}")
            check.stop()
        elapsed = time.monotonic() - started
        result = subprocess.run(
            [sys.executable, "-m", "sequencer.cli", "db", "check", "--data-dir", str(data)],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
    print(f"db check: {result.stdout.strip().splitlines()[-1] if result.stdout else result.stderr.strip()}")
    print(
        f"SUMMARY crashes survived {crashes}, acknowledged {len(served) + len(acked)}, "
        f"lost {lost}, receipts changed {mismatched}, {elapsed / 60:.1f} min"
    )
    sys.exit(0 if lost == 0 and mismatched == 0 and result.returncode == 0 else 1)


if __name__ == "__main__":
    main()
