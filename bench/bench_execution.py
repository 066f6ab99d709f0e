"""Per-transaction overhead of the sequencer's execution adapter against py-evm's own (#15, item 3).

The same pre-signed EIP-1559 transfers (senders recovered before the timed window) are executed
three ways in this process, one after the other, on a state where every sender is funded (and
then, with ``--erc20``, the same for ERC-20 ``transfer`` calls to the project's TestToken,
deployed and handed out to the senders before the timed window):

  1. **py-evm alone**: ``PragueVM`` state over an ``AtomicDB``, ``state.apply_transaction`` for
     each transaction and nothing else (no receipts, no tries, no state root): the
     execution-only ceiling the issue names;
  2. **the sequencer's adapter**: ``BlockExecutor.apply`` on a ``WorldState``: its explicit
     validity checks, the execution time budget, the flat state's checkpoint, the receipt (logs,
     bloom, encoding), and a mini-block's diff taken and applied every ``--mini-block`` transactions
     (what the producer does, short of durability and the tries);
  3. the same with ``--profile``: cProfile of (2), the top functions by own time.

Prints tx/s of each and the adapter's ratio to py-evm alone, medians of ``--runs``.

Usage:
  .venv/bin/python -m bench.bench_execution [--txs 6000] [--erc20 3000] [--senders 200] [--runs 3]
      [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import time
from collections.abc import Sequence
from typing import Any

from eth_hash.auto import keccak

from bench.bench_sustained import fast_transfer
from sequencer.execution.engine import BlockExecutor
from sequencer.execution.transactions import decode_transaction
from sequencer.state import WorldState
from sequencer.types import AccountDiff, BlockEnv, SignedTx, StateDiff

CHAIN_ID = 1337
GWEI = 10**9
BALANCE = 10**24
ENV = BlockEnv(1, 2, b"\x00" * 32, GWEI, 10**12, b"\x00" * 20, b"\x00" * 32)


def keys(n: int) -> list[bytes]:
    return [keccak(b"bench/execution/" + i.to_bytes(4, "big")) for i in range(n)]


def address(key: bytes) -> bytes:
    import coincurve

    return keccak(coincurve.PrivateKey(key).public_key.format(compressed=False)[1:])[12:]


def transfers(senders: list[bytes], count: int) -> list[SignedTx]:
    """``count`` transfers, round robin over the senders, to fresh recipients."""
    out = []
    for i in range(count):
        key = senders[i % len(senders)]
        to = keccak(i.to_bytes(8, "big"))[:20]
        out.append(decode_transaction(fast_transfer(key, i // len(senders), to), CHAIN_ID, False))
    return out


def world(addresses: list[bytes]) -> WorldState:
    w = WorldState()
    diffs = [AccountDiff(a, 0, BALANCE, keccak(b""), None, (), False) for a in sorted(addresses)]
    w.apply_diff(StateDiff(tuple(diffs)))
    return w


def adapter_run(
    addresses: list[bytes],
    txs: list[SignedTx],
    mini_block: int,
    setup: Sequence[SignedTx] = (),
) -> float:
    w = world(addresses)
    executor = BlockExecutor(w, ENV, CHAIN_ID, [])
    for tx in setup:
        assert executor.apply(tx).status == 1
    w.apply_diff(executor.take_diff())
    executor.commit_mini_block()
    t0 = time.perf_counter()
    for i, tx in enumerate(txs, 1):
        executor.apply(tx)
        if i % mini_block == 0:
            w.apply_diff(executor.take_diff())
            executor.commit_mini_block()
    w.apply_diff(executor.take_diff())
    executor.commit_mini_block()
    return len(txs) / (time.perf_counter() - t0)


def pyevm_run(addresses: list[bytes], txs: list[SignedTx], setup: Sequence[SignedTx] = ()) -> float:
    from eth.chains.base import MiningChain
    from eth.consensus.noproof import NoProofConsensus
    from eth.db.atomic import AtomicDB
    from eth.vm.forks.prague import PragueVM

    vm_class = PragueVM.configure(consensus_class=NoProofConsensus)
    chain_class = MiningChain.configure(__name__="Bare", vm_configuration=((0, vm_class),), chain_id=CHAIN_ID)
    genesis: Any = {a: {"balance": BALANCE, "nonce": 0, "code": b"", "storage": {}} for a in addresses}
    params: Any = {"difficulty": 0, "gas_limit": 10**12, "timestamp": 1, "base_fee_per_gas": GWEI}
    chain: Any = chain_class.from_genesis(AtomicDB(), params, genesis)
    state = chain.get_vm().state
    builder = PragueVM.get_transaction_builder()
    for prepared in setup:
        state.apply_transaction(builder.decode(prepared.raw))
    engine_txs = [builder.decode(tx.raw) for tx in txs]
    for engine_tx in engine_txs:
        _ = engine_tx.sender  # recovered before the timed window, as in the adapter's run
    t0 = time.perf_counter()
    for engine_tx in engine_txs:
        state.apply_transaction(engine_tx)
    return len(txs) / (time.perf_counter() - t0)


def compare(
    label: str,
    runs: int,
    addresses: list[bytes],
    txs: list[SignedTx],
    mini_block: int,
    setup: Sequence[SignedTx],
) -> None:
    base, ours = [], []
    for _ in range(runs):  # alternating, so drift in the machine's speed hits both
        base.append(pyevm_run(addresses, txs, setup))
        ours.append(adapter_run(addresses, txs, mini_block, setup))
    b, o = statistics.median(base), statistics.median(ours)
    print(f"{len(txs):,} {label}, medians of {runs} runs")
    print(f"  py-evm alone (state.apply_transaction): {b:,.0f} tx/s = {1e6 / b:,.0f} us/tx")
    print(f"  the sequencer's adapter (BlockExecutor): {o:,.0f} tx/s = {1e6 / o:,.0f} us/tx")
    print(f"  adapter / py-evm alone: {o / b:.2f}x ({1e6 / o - 1e6 / b:+,.0f} us/tx)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--txs", type=int, default=6000)
    ap.add_argument("--erc20", type=int, default=3000, help="ERC-20 transfers (0: skip)")
    ap.add_argument("--senders", type=int, default=200)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--mini-block", type=int, default=40, help="transactions per mini-block diff")
    ap.add_argument(
        "--profile", action="store_true", help="cProfile one adapter run of each (top 25, own time)"
    )
    args = ap.parse_args()

    from eth_account import Account

    from bench.bench_node import erc20_setup, erc20_transfers

    senders = keys(args.senders)
    deployer = keccak(b"bench/execution/deployer")
    addresses = [address(k) for k in [*senders, deployer]]
    txs = transfers(senders, args.txs)
    compare("transfers", args.runs, addresses, txs, args.mini_block, [])
    erc20: list[SignedTx] = []
    setup: list[SignedTx] = []
    if args.erc20:
        accounts = [Account.from_key(k) for k in senders]
        raws, token = erc20_setup(Account.from_key(deployer), accounts)
        setup = [decode_transaction(r, CHAIN_ID, False) for r in raws]
        sink = "0x" + "55" * 20
        erc20 = [
            decode_transaction(r, CHAIN_ID, False)
            for r in erc20_transfers(accounts, token, 0, args.erc20, sink)
        ]
        compare("ERC-20 transfers", args.runs, addresses, erc20, args.mini_block, setup)
    if args.profile:
        for label, work, before in (("transfers", txs, []), ("ERC-20 transfers", erc20, setup)):
            if not work:
                continue
            profiler = cProfile.Profile()
            profiler.enable()
            adapter_run(addresses, work, args.mini_block, before)
            profiler.disable()
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
            print(f"profile of the adapter, {label} (setup included):")
            print(out.getvalue())


if __name__ == "__main__":
    main()
