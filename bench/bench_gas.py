"""How much gas py-evm executes per second here, by kind of work (not part of CI).

The figures behind ``execution.tx_time_budget_ms``, ``execution.max_tx_gas`` and
``chain.block_gas_limit`` (docs/benchmarks.md, "Gas per second"): transactions run through the
sequencer's own execution path (``BlockExecutor.apply`` over the flat state, no time budget), in
this process, one kind at a time:

  * cheap-opcode loops: ``JUMPDEST PUSH1 0 JUMP`` (12 gas per 3 opcodes) and a JUMPDEST sled
    (1 gas per opcode, the slowest gas there is), each transaction running out of gas;
  * a storage loop: SSTORE to a new slot every iteration;
  * plain transfers (21,000 gas each);
  * ERC-20 ``transfer`` calls (``tests/fixtures/contracts/TestToken.json``);
  * deployments of 24,000-byte contracts (mostly code-deposit gas, which is cheap to run).

Usage:
  .venv/bin/python -m bench.bench_gas [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from eth_abi.abi import encode as abi_encode
from eth_hash.auto import keccak

from bench.bench_sustained import fast_transfer
from sequencer.execution.engine import BlockExecutor
from sequencer.execution.transactions import decode_transaction
from sequencer.state import WorldState
from sequencer.types import AccountDiff, BlockEnv, SignedTx, StateDiff
from tests.support.contracts import load_artifact

CHAIN_ID = 1337
GAS_LIMIT = 10**12
ENV = BlockEnv(1, 1, b"\x00" * 32, 10**9, GAS_LIMIT, b"\x00" * 20, b"\x00" * 32)
EMPTY = keccak(b"")

LOOP = bytes.fromhex("5b600056")  # JUMPDEST PUSH1 0 JUMP
SLED = b"\x5b" * 24_000 + bytes.fromhex("600056")  # 24,000 JUMPDESTs, then back to 0
# JUMPDEST, GAS, GAS, SSTORE (a new slot every time: slot = remaining gas), PUSH1 0, JUMP
SSTORE_LOOP = bytes.fromhex("5b5a5a55600056")
LOOP_AT, SLED_AT, SSTORE_AT = (bytes([0xC0 + i]) * 20 for i in range(3))


def key(i: int) -> bytes:
    return keccak(b"bench-gas/" + i.to_bytes(4, "big"))


def address(k: bytes) -> bytes:
    import coincurve

    return keccak(coincurve.PrivateKey(k).public_key.format(compressed=False)[1:])[12:]


def fresh_world(senders: list[bytes]) -> WorldState:
    world = WorldState()
    accounts = [AccountDiff(address(k), 0, 10**30, EMPTY, None, (), False) for k in senders]
    for at, code in ((LOOP_AT, LOOP), (SLED_AT, SLED), (SSTORE_AT, SSTORE_LOOP)):
        accounts.append(AccountDiff(at, 1, 0, keccak(code), code, (), False))
    world.apply_diff(StateDiff(tuple(sorted(accounts, key=lambda a: a.address))))
    return world


def decode(raw: bytes) -> SignedTx:
    return decode_transaction(raw, CHAIN_ID, False)


def run(world: WorldState, txs: list[SignedTx]) -> tuple[int, float]:
    """Execute ``txs`` in one block; returns (gas used, seconds)."""
    executor = BlockExecutor(world, ENV, CHAIN_ID, [])
    started = time.perf_counter()
    for tx in txs:
        executor.apply(tx)
    seconds = time.perf_counter() - started
    world.apply_diff(executor.take_diff())
    return executor.gas_used, seconds


def measure(name: str, make: Callable[[WorldState, list[bytes]], list[SignedTx]], repeat: int) -> None:
    rates, per_tx = [], []
    for _ in range(repeat):
        senders = [key(i) for i in range(200)]
        world = fresh_world(senders)
        txs = make(world, senders)
        gas, seconds = run(world, txs)
        rates.append(gas / seconds)
        per_tx.append(seconds / len(txs))
    print(
        f"{name:<34} {statistics.median(rates) / 1e6:8.1f} M gas/s "
        f"(runs {min(rates) / 1e6:.1f}-{max(rates) / 1e6:.1f}); "
        f"{statistics.median(per_tx) * 1000:8.3f} ms per tx"
    )


def loop_calls(target: bytes, gas: int, count: int) -> Callable[[WorldState, list[bytes]], list[SignedTx]]:
    def make(_world: WorldState, senders: list[bytes]) -> list[SignedTx]:
        return [decode(fast_transfer(senders[i], 0, target, 0, b"", gas)) for i in range(count)]

    return make


def transfers(_world: WorldState, senders: list[bytes]) -> list[SignedTx]:
    return [decode(fast_transfer(k, n, b"\x77" * 20)) for n in range(10) for k in senders]


def deployments(_world: WorldState, senders: list[bytes]) -> list[SignedTx]:
    # PUSH2 24000 PUSH1 0 RETURN: deploys 24,000 zero bytes (code-deposit gas 200 per byte)
    initcode = bytes.fromhex("615dc06000f3")
    return [decode(fast_transfer(senders[i], 0, b"", 0, initcode, 5_000_000)) for i in range(50)]


def erc20(world: WorldState, senders: list[bytes]) -> list[SignedTx]:
    artifact = load_artifact("TestToken")
    deployer = senders[0]
    creation = bytes.fromhex(artifact["bytecode"].removeprefix("0x")) + abi_encode(["uint256"], [10**30])
    deploy = decode(fast_transfer(deployer, 0, b"", 0, creation, 3_000_000))
    executor = BlockExecutor(world, ENV, CHAIN_ID, [])
    outcome = executor.apply(deploy)
    assert outcome.status == 1 and outcome.contract_address is not None
    world.apply_diff(executor.take_diff())
    token = outcome.contract_address
    selector = keccak(b"transfer(address,uint256)")[:4]
    txs = []
    for n in range(1, 2001):
        data = selector + abi_encode(["address", "uint256"], [bytes([n % 250 + 1]) * 20, 1])
        txs.append(decode(fast_transfer(deployer, n, token, 0, data, 100_000)))
    return txs


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print("py-evm gas per second through BlockExecutor.apply (one process, no time budget)")
    measure("loop JUMPDEST PUSH1 0 JUMP (2M gas)", loop_calls(LOOP_AT, 2_000_000, 4), args.repeat)
    measure("JUMPDEST sled (2M gas)", loop_calls(SLED_AT, 2_000_000, 4), args.repeat)
    measure("SSTORE to new slots (2M gas)", loop_calls(SSTORE_AT, 2_000_000, 4), args.repeat)
    measure("plain transfers (2,000)", transfers, args.repeat)
    measure("ERC-20 transfers (2,000)", erc20, args.repeat)
    measure("24,000-byte deployments (50)", deployments, args.repeat)


if __name__ == "__main__":
    main()
