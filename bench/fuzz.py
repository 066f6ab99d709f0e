"""Fuzzing the real daemon's JSON-RPC at length (not part of CI).

Starts a fresh daemon on a temporary data dir and sends it N generated requests: the generators
and the invariants of ``tests/adversarial/test_fuzz_rpc.py`` (``tests/support/fuzz.py``):
requests from the execution-apis OpenRPC schemas and their mutations, raw transactions of
random bytes, random batches, bodies that are not JSON-RPC, content types and sizes, over HTTP;
a share of them over WebSocket, and fuzzed ``eth_subscribe`` calls. Every answer is checked
(a JSON-RPC response with its id echoed exactly and a documented error code, never -32603, the
right HTTP status); after the run, the daemon's log (no traceback, no error line), its process,
its sealing and a transfer's receipt.

Prints the requests sent by method, the answers by error code, the failures with the first few
reproducers, the elapsed time and the mini-blocks and EVM blocks sealed during the run. Exits 1
when anything failed.

Usage:
  .venv/bin/python -m bench.fuzz [--examples 10000] [--ws-share 0.1] [--subscribe-share 0.02] [--seed N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from tests.support.daemon import start_daemon
from tests.support.fuzz import (
    UNSERVED,
    FuzzClient,
    Generators,
    Probe,
    Stats,
    describe_failures,
    node_problems,
    prepare_chain,
    production,
)
from tests.support.openrpc import load_spec


def run(
    strategy: st.SearchStrategy[Probe], send: Callable[[Probe], list[str]], examples: int, at: int | None
) -> list[tuple[Probe, list[str]]]:
    """Draw ``examples`` probes and send each one; the answers' failures are recorded in the
    client's stats, never raised; returned: the probes the client itself failed to send."""
    send_failed: list[tuple[Probe, list[str]]] = []
    if examples <= 0:
        return send_failed

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(probe=strategy)
    def each(probe: Probe) -> None:
        try:
            send(probe)
        except Exception as exc:  # a transport failure is a finding too; go on
            send_failed.append((probe, [f"the client failed: {exc!r}"]))

    (seed(at)(each) if at is not None else each)()
    return send_failed


def table(title: str, counts: Counter[str] | Counter[int], limit: int = 80) -> None:
    print(f"\n{title}:")
    total = sum(counts.values())
    for key, n in counts.most_common(limit):
        print(f"  {key!s:<40} {n:>8,}  {100 * n / max(total, 1):5.1f}%")
    if len(counts) > limit:
        rest = sum(n for _, n in counts.most_common()[limit:])
        print(f"  {'(' + str(len(counts) - limit) + ' more)':<40} {rest:>8,}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--examples", type=int, default=10_000, help="probes in all (default 10,000)")
    ap.add_argument("--ws-share", type=float, default=0.1, help="share sent over WebSocket (default 0.1)")
    ap.add_argument(
        "--subscribe-share",
        type=float,
        default=0.02,
        help="share of fuzzed eth_subscribe calls (default 0.02)",
    )
    ap.add_argument("--seed", type=int, default=None, help="hypothesis seed (default: a random one)")
    ap.add_argument(
        "--evm-block-ms", type=int, default=250, help="the daemon's EVM block interval (default 250)"
    )
    ap.add_argument(
        "--fuzz-accounts",
        type=int,
        default=1000,
        help="funded accounts that sign transactions (default 1000)",
    )
    args = ap.parse_args()

    n_ws = int(args.examples * args.ws_share)
    n_sub = int(args.examples * args.subscribe_share)
    n_http = args.examples - n_ws - n_sub
    spec = load_spec()
    with tempfile.TemporaryDirectory(prefix="megapy-fuzz-") as tmp:
        set_hypothesis_home_dir(Path(tmp) / "hypothesis")  # its caches stay out of the repository
        daemon = start_daemon(Path(tmp) / "data", "--evm-block-ms", str(args.evm_block_ms))
        stats = Stats()
        client = FuzzClient(daemon.url, spec, stats)
        try:
            known = prepare_chain(client, args.fuzz_accounts)
            generators = Generators(spec, known)
            mini_before, txs_before = production(client)
            block_before = int(client.call("eth_blockNumber"), 16)
            print(
                f"daemon {daemon.url}; sending {n_http:,} probes over HTTP, {n_ws:,} over WebSocket,"
                f" {n_sub:,} eth_subscribe"
            )
            started = time.monotonic()
            unsent = run(generators.http_probes(), client.send, n_http, args.seed)
            http_s = time.monotonic() - started
            unsent += run(generators.ws_probes(), client.send_ws, n_ws, args.seed)
            client.close_ws()
            unsent += run(generators.subscribe_probes(), client.send_ws, n_sub, args.seed)
            client.close_ws()
            elapsed = time.monotonic() - started
            mini_after, txs_after = production(client)
            block_after = int(client.call("eth_blockNumber"), 16)
            after = node_problems(client, daemon.log(), daemon.proc.poll() is None, block_before)
        finally:
            client.close()
            code = daemon.stop() if daemon.proc.poll() is None else daemon.proc.returncode
    failures = stats.failures + unsent

    requests = sum(stats.requests.values())
    names = {*generators.methods, *UNSERVED, "<not a request>", "<not a string>"}
    by_method = Counter[str]()
    for method, n in stats.requests.items():
        by_method[method if method in names else "<other method names>"] += n
    table("probes by generator", stats.probes)
    table("requests by method", by_method, limit=100)
    table("HTTP statuses", stats.statuses)
    table("answers by error code ('result': no error)", stats.answers)
    print(f"\nprobes sent:            {stats.sent:,} ({requests:,} requests, batches counted by item)")
    print(
        f"elapsed:                {elapsed:.1f} s (HTTP {http_s:.1f} s), {stats.sent / elapsed:,.0f} probes/s"
    )
    print(
        f"during the run:         {mini_after - mini_before:,} mini-blocks,"
        f" {block_after - block_before:,} EVM blocks, {txs_after - txs_before:,} transactions included"
    )
    print(f"daemon exit code:       {code}")
    print(f"failures:               {len(failures):,}")
    if failures:
        print(describe_failures(failures, first=8))
    verdict = "; ".join(after) if after else "log clean, alive, sealing, a transfer included"
    print(f"after the run:          {verdict}")
    sys.exit(1 if failures or after or code != 0 else 0)


if __name__ == "__main__":
    main()
