"""What a simulated call is, as work that can run anywhere: a :class:`CallJob` names the state by
its history position (``seq``, the store's numbering: ``n + 1`` after mini-block ``n``), so a
worker process with a read-only view of the store runs exactly what the node would run inline.

:func:`run_job` is the one implementation of ``eth_call``, ``eth_estimateGas``,
``eth_createAccessList`` and ``eth_callMany`` over a state; it answers a :class:`JobOutcome`
(plain, picklable values) instead of raising, and :meth:`JobOutcome.unwrap` turns it back into
the value or the domain error on the caller's side.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sequencer.errors import CallFailed, ExecutionReverted
from sequencer.execution.simulation import (
    CallRequest,
    CallResult,
    Simulation,
    call,
    create_access_list,
    estimate_gas,
)
from sequencer.state import AccountOverride, OverlayState, StateReader
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


Value = bytes | int | CallResult | tuple[tuple[CallResult, ...], ...]


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """A job's answer: a value, or the failure a call raised (as plain data)."""

    value: Value | None = None
    reverted: tuple[str, bytes] | None = None
    failed: str | None = None

    def unwrap(self) -> Value:
        """The value, or the domain error (:class:`ExecutionReverted`, :class:`CallFailed`)."""
        if self.reverted is not None:
            raise ExecutionReverted(*self.reverted)
        if self.failed is not None:
            raise CallFailed(self.failed)
        assert self.value is not None
        return self.value


def job_state(job: CallJob, base: StateReader) -> StateReader:
    """``base`` seen through the job's state overrides."""
    return OverlayState(base, dict(job.overrides)) if job.overrides else base


def run_job(job: CallJob, base: StateReader) -> JobOutcome:
    """Run ``job`` on ``base`` (the state at ``job.seq``)."""
    state = job_state(job, base)
    try:
        return JobOutcome(value=_run(job, state))
    except ExecutionReverted as exc:
        return JobOutcome(reverted=(exc.message, exc.output))
    except CallFailed as exc:
        return JobOutcome(failed=exc.message)


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
