"""What a simulated call is, as work that can run anywhere: a :class:`CallJob` names the state by
its history position (``seq``, the store's numbering: ``n + 1`` after mini-block ``n``), so a
worker process with a read-only view of the store runs exactly what the node would run inline.

:func:`run_job` is the one implementation of ``eth_call``, ``eth_estimateGas``,
``eth_createAccessList`` and ``eth_callMany`` over a state, of tracing (:class:`TraceJob`:
``debug_traceTransaction``, ``debug_traceBlockBy*``; :class:`TraceCallJob`:
``debug_traceCall``) and of ``eth_simulateV1`` (:class:`SimulateJob`); it answers a
:class:`JobOutcome` (plain, picklable values) instead of raising, and :meth:`JobOutcome.unwrap`
turns it back into the value or the domain error on the caller's side.

A trace re-executes, on the state before the traced transaction's mini-block, the transactions
of that mini-block before it (a mini-block's pre-state is in the history tables, so a block's
earlier mini-blocks need not run again, and a devnet state edit between them is already part
of that state), then traces it: the same deadline, gas and heap limits as a call, and the
answer's byte budget (``rpc.max_response_bytes``) is enforced while the trace grows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from eth_hash.auto import keccak

from sequencer import fastrlp
from sequencer.errors import CallFailed, ExecutionReverted, LimitExceeded, SimulationRefused
from sequencer.execution.simulate_v1 import SimulatePlan, simulate
from sequencer.execution.simulation import (
    CallRequest,
    CallResult,
    Simulation,
    call,
    create_access_list,
    estimate_gas,
)
from sequencer.execution.tracehooks import TraceConfig, TraceTooLarge
from sequencer.execution.tracing import TracedTx, Tracing
from sequencer.state import AccountOverride, OverlayState, StateReader
from sequencer.storage.history import HistoricalState, state_trie_at, storage_trie_at
from sequencer.types import BlockEnv

JobKind = Literal["call", "estimate", "access_list", "call_many"]


@dataclass(frozen=True, slots=True)
class Bundle:
    """One ``eth_callMany`` bundle: calls run in order, in ``env`` (``None``: the job's env)."""

    requests: tuple[CallRequest, ...]
    env: BlockEnv | None = None


@dataclass(frozen=True, slots=True)
class CallJob:
    """One simulation request.

    ``envs``: the environments to run in; an estimate answers the largest over them (a
    transaction may land in the open block or in the next), the others use the first.
    ``bundles`` hold the requests (one bundle with one request except for ``call_many``).
    ``cap``: the largest gas an estimate may answer.
    """

    kind: JobKind
    seq: int
    envs: tuple[BlockEnv, ...]
    prev_hashes: tuple[bytes, ...]
    chain_id: int
    bundles: tuple[Bundle, ...]
    overrides: tuple[tuple[bytes, AccountOverride], ...] = ()
    cap: int = 0

    @property
    def request(self) -> CallRequest:
        """The single request of a ``call``, ``estimate`` or ``access_list`` job."""
        return self.bundles[0].requests[0]


@dataclass(frozen=True, slots=True)
class TxSegment:
    """The transactions of one mini-block to run on the state before it (history ``seq``, the
    mini-block's number), up to the last one traced; ``traced`` are indexes into ``txs``."""

    seq: int
    env: BlockEnv
    txs: tuple[TracedTx, ...]
    traced: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class TraceJob:
    """Trace included transactions: each segment runs on its own pre-state; the answer lists
    the traced transactions' results in order."""

    segments: tuple[TxSegment, ...]
    prev_hashes: tuple[bytes, ...]
    chain_id: int
    config: TraceConfig

    @property
    def seq(self) -> int:
        """The newest state the job reads."""
        return max(s.seq for s in self.segments)


@dataclass(frozen=True, slots=True)
class TraceCallJob:
    """``debug_traceCall``: one call traced on the state at ``seq`` (with overrides)."""

    seq: int
    env: BlockEnv
    prev_hashes: tuple[bytes, ...]
    chain_id: int
    request: CallRequest
    config: TraceConfig
    overrides: tuple[tuple[bytes, AccountOverride], ...] = ()


@dataclass(frozen=True, slots=True)
class SimulateJob:
    """``eth_simulateV1`` over the state at ``seq``."""

    seq: int
    plan: SimulatePlan


@dataclass(frozen=True, slots=True)
class ProofJob:
    """``eth_getProof`` at a past sealed block: the state trie after history position ``seq``
    is rebuilt from the history tables (the node keeps only its newest state as a trie) and
    checked against the block's ``state_root``."""

    seq: int
    state_root: bytes
    address: bytes
    slots: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class StorageProofJob:
    """One account's storage trie after history position ``seq``, rebuilt from the history
    tables (every slot it ever had: the bridge's message passer), its root and the proofs of
    ``slots`` (``optimism_outputAtBlock``, ``bridge_getWithdrawalProof``)."""

    seq: int
    address: bytes
    slots: tuple[int, ...]


Job = CallJob | TraceJob | TraceCallJob | SimulateJob | ProofJob | StorageProofJob
Value = bytes | int | CallResult | tuple[tuple[CallResult, ...], ...] | list[Any] | dict[str, Any]
StateAt = Callable[[int], StateReader]
"""The state after history position ``seq`` (``n`` is the state before mini-block ``n``)."""


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """A job's answer: a value, or the failure a call raised (as plain data)."""

    value: Value | None = None
    reverted: tuple[str, bytes] | None = None
    failed: str | None = None
    limited: str | None = None
    refused: SimulationRefused | None = None

    def unwrap(self) -> Value:
        """The value, or the domain error (:class:`ExecutionReverted`, :class:`CallFailed`,
        :class:`LimitExceeded`)."""
        if self.reverted is not None:
            raise ExecutionReverted(*self.reverted)
        if self.failed is not None:
            raise CallFailed(self.failed)
        if self.limited is not None:
            raise LimitExceeded(self.limited)
        if self.refused is not None:
            raise self.refused
        assert self.value is not None
        return self.value


def job_state(overrides: tuple[tuple[bytes, AccountOverride], ...], base: StateReader) -> StateReader:
    """``base`` seen through the job's state overrides."""
    return OverlayState(base, dict(overrides)) if overrides else base


def job_seq(job: Job) -> int:
    """The newest history position the job reads (a worker must have indexed it)."""
    return job.seq


def run_job(job: Job, state_at: StateAt) -> JobOutcome:
    """Run ``job`` on the states ``state_at`` gives."""
    try:
        if isinstance(job, TraceJob):
            return JobOutcome(value=_trace(job, state_at))
        if isinstance(job, TraceCallJob):
            tracing = Tracing(
                job_state(job.overrides, state_at(job.seq)), job.env, job.chain_id, job.prev_hashes
            )
            return JobOutcome(value=tracing.trace_call(job.request, job.config))
        if isinstance(job, SimulateJob):
            return JobOutcome(value=simulate(state_at(job.seq), job.plan))
        if isinstance(job, ProofJob):
            return JobOutcome(value=_proof(job, state_at(job.seq)))
        if isinstance(job, StorageProofJob):
            return JobOutcome(value=_storage_proof(job, state_at(job.seq)))
        return JobOutcome(value=_run(job, job_state(job.overrides, state_at(job.seq))))
    except ExecutionReverted as exc:
        return JobOutcome(reverted=(exc.message, exc.output))
    except CallFailed as exc:
        return JobOutcome(failed=exc.message)
    except SimulationRefused as exc:
        return JobOutcome(refused=exc)
    except (TraceTooLarge, LimitExceeded) as exc:
        return JobOutcome(limited=f"response too large: {exc}; trace less (rpc.max_response_bytes)")


def _proof(job: ProofJob, state: StateReader) -> dict[str, Any]:
    if not isinstance(state, HistoricalState):
        raise CallFailed("eth_getProof: past states are read from the history tables only")
    trie = state_trie_at(state.store, job.seq)
    if trie.root() != job.state_root:
        raise CallFailed("eth_getProof: the history tables do not rebuild this block's state root")
    account_proof, storage_root, slot_proofs = trie.proof(job.address, list(job.slots))
    account = state.get_account(job.address)
    return {
        "accountProof": account_proof,
        "storageRoot": storage_root,
        "slotProofs": slot_proofs,
        "nonce": account.nonce if account else 0,
        "balance": account.balance if account else 0,
        "codeHash": account.code_hash if account else None,
        "values": [state.get_storage(job.address, slot) for slot in job.slots],
    }


def _storage_proof(job: StorageProofJob, state: StateReader) -> dict[str, Any]:
    if not isinstance(state, HistoricalState):
        raise CallFailed("storage proofs of past blocks are read from the history tables only")
    trie = storage_trie_at(state.store, job.address, job.seq)
    paths = [keccak(slot.to_bytes(32, "big")) for slot in job.slots]
    leaves = [trie.get(path) for path in paths]
    return {
        "storageRoot": trie.root_hash(),
        "values": [int.from_bytes(fastrlp.decode(leaf), "big") if leaf is not None else 0 for leaf in leaves],
        "slotProofs": [trie.proof(path) for path in paths],
    }


def _trace(job: TraceJob, state_at: StateAt) -> list[Any]:
    out = []
    for segment in job.segments:
        tracing = Tracing(state_at(segment.seq), segment.env, job.chain_id, job.prev_hashes)
        traced = set(segment.traced)
        for i, tx in enumerate(segment.txs[: max(segment.traced) + 1]):
            if i in traced:
                out.append(tracing.trace(tx, job.config))
            else:
                tracing.replay(tx)
    return out


def _run(job: CallJob, state: StateReader) -> Value:
    env, hashes = job.envs[0], job.prev_hashes
    if job.kind == "call":
        return call(state, env, job.chain_id, hashes, job.request)
    if job.kind == "estimate":
        return max(estimate_gas(state, e, job.chain_id, hashes, job.request, job.cap) for e in job.envs)
    if job.kind == "access_list":
        return create_access_list(state, env, job.chain_id, hashes, job.request)
    return _call_many(job, state, env, hashes)


def _call_many(
    job: CallJob, state: StateReader, env: BlockEnv, hashes: Sequence[bytes]
) -> tuple[tuple[CallResult, ...], ...]:
    priced = any(r.priced for b in job.bundles for r in b.requests)
    simulation = Simulation(state, env, job.chain_id, hashes, zero_base_fee=not priced)
    out = []
    for bundle in job.bundles:
        if bundle.env is not None:  # a bundle's block override holds for that bundle on
            simulation.set_env(bundle.env)
        out.append(tuple(simulation.run(request) for request in bundle.requests))
    return tuple(out)
