"""Tracing: ``debug_traceTransaction``, ``debug_traceCall``, ``debug_traceBlockByNumber`` and
``debug_traceBlockByHash`` with geth's tracers (the struct logger, ``callTracer``,
``prestateTracer``) and options.

Traces are jobs for the call workers (``rpc/calljobs.py``): they never run on the node's thread,
so they never hold up sealing, and they run under the call deadline (``rpc.call_timeout_ms``,
or a shorter ``timeout`` option), the gas cap (``debug_traceCall``) and the answer's byte budget
(``rpc.max_response_bytes``). A transaction of the open block is traced like a sealed one: its
mini-block's pre-state is in the history tables.

On a devnet (``chain.devnet = true``) the ``debug_*`` methods are on the public port; otherwise
only on the admin port or with the admin token (``rpc/admin.py``).
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from sequencer.errors import CallFailed
from sequencer.execution.tracehooks import TraceConfig
from sequencer.execution.tracing import TRACERS, TracedTx
from sequencer.jsonrpc.dispatch import Handler
from sequencer.jsonrpc.encoding import d, params_list, parse_block_ref, parse_hash
from sequencer.jsonrpc.errors import InvalidParams
from sequencer.rpc.blocktags import AnyBlock, block_by_hash, resolve_block, state_view
from sequencer.rpc.calljobs import TraceCallJob, TraceJob, TxSegment
from sequencer.rpc.context import RpcContext
from sequencer.rpc.state import apply_block_overrides, parse_call_request, parse_state_override
from sequencer.storage.history import HistoricalState
from sequencer.types import MiniBlock

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_MS = {"ns": 1e-6, "us": 1e-3, "µs": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
LOGGER_OPTIONS = {"disableStack", "disableStorage", "enableMemory", "enableReturnData", "limit", "debug"}
CONFIG_KEYS = {"tracer", "tracerConfig", "timeout", "reexec", *LOGGER_OPTIONS}
CALL_CONFIG_KEYS = {*CONFIG_KEYS, "stateOverrides", "blockOverrides", "txIndex"}
TRACER_OPTIONS = {
    "callTracer": {"onlyTopCall", "withLog"},
    "prestateTracer": {"diffMode", "disableCode", "disableStorage"},
}


def parse_duration_ms(value: Any) -> int:
    """A Go duration (``"5s"``, ``"300ms"``, ``"1m30s"``) in milliseconds."""
    if not isinstance(value, str) or not value or _DURATION.sub("", value):
        raise InvalidParams(f'invalid timeout {value!r}: expected a duration like "5s" or "300ms"')
    ms = sum(float(n) * _UNIT_MS[unit] for n, unit in _DURATION.findall(value))
    if ms <= 0:
        raise InvalidParams(f"invalid timeout {value!r}: must be positive")
    return max(int(ms), 1)


def _flag(obj: dict[str, Any], key: str) -> bool:
    value = obj.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidParams(f"invalid tracer option {key}: expected true or false")
    return value


def parse_trace_config(
    value: Any, budget: int, keys: set[str] = CONFIG_KEYS
) -> tuple[TraceConfig, int | None]:
    """geth's ``TraceConfig`` object: the tracer and its options, and the timeout (ms) if given."""
    if value is None:
        return TraceConfig(budget=budget), None
    if not isinstance(value, dict):
        raise InvalidParams("invalid trace config: expected an object")
    unknown = set(value) - keys
    if unknown:
        raise InvalidParams(f"invalid trace config: unknown field(s) {', '.join(sorted(unknown))}")
    tracer = value.get("tracer") or None
    if tracer is not None and tracer not in TRACERS:
        raise InvalidParams(
            f"unknown tracer {tracer!r}: this node has {', '.join(TRACERS)} and the struct logger (no tracer)"
        )
    options = value.get("tracerConfig") or {}
    if not isinstance(options, dict):
        raise InvalidParams("invalid tracerConfig: expected an object")
    if options and tracer is None:
        raise InvalidParams("invalid trace config: tracerConfig needs a tracer")
    if tracer is not None:
        unknown = set(options) - TRACER_OPTIONS[tracer]
        if unknown:
            raise InvalidParams(
                f"invalid tracerConfig for {tracer}: unknown field(s) {', '.join(sorted(unknown))}"
            )
    limit = value.get("limit", 0) or 0
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        raise InvalidParams("invalid trace config: limit must be a non-negative integer")
    timeout = parse_duration_ms(value["timeout"]) if value.get("timeout") is not None else None
    config = TraceConfig(
        tracer=tracer,
        disable_stack=_flag(value, "disableStack"),
        disable_storage=_flag(value, "disableStorage") or _flag(options, "disableStorage"),
        enable_memory=_flag(value, "enableMemory"),
        enable_return_data=_flag(value, "enableReturnData"),
        limit=limit,
        only_top_call=_flag(options, "onlyTopCall"),
        with_log=_flag(options, "withLog"),
        diff_mode=_flag(options, "diffMode"),
        disable_code=_flag(options, "disableCode"),
        budget=budget,
    )
    return config, timeout


def _senders(mb: MiniBlock) -> tuple[TracedTx, ...]:
    return tuple(TracedTx(raw, r.sender) for raw, r in zip(mb.raw_txs, mb.receipts, strict=True))


def trace_methods(ctx: RpcContext) -> dict[str, Handler]:
    """The ``debug_trace*`` handlers over ``ctx``."""
    chain = ctx.chain
    budget = ctx.policy.max_response_bytes

    def history(seq: int) -> HistoricalState:
        return HistoricalState(chain.store, seq)

    async def trace_transaction(params: list[Any]) -> Any:
        h, options = params_list(params, "debug_traceTransaction", 1, 2)
        tx_hash = parse_hash(h, "transaction hash")
        config, timeout = parse_trace_config(options, budget)
        view = chain.find_receipt(tx_hash)
        if view is None:
            raise CallFailed(f"transaction {d(tx_hash)} not found (pooled, or unknown)")
        mb = chain.get_mini_block(view.receipt.mini_block_number)
        assert mb is not None
        index = mb.tx_hashes.index(tx_hash)
        segment = TxSegment(mb.number, mb.block_env, _senders(mb)[: index + 1], (index,))
        job = TraceJob((segment,), tuple(chain.recent_hashes(mb.block_number)), chain.chain_id, config)
        (result,) = await ctx.calls.run(job, history, timeout)  # type: ignore[misc]
        return result

    async def trace_block(block: AnyBlock | None, options: Any) -> list[dict[str, Any]]:
        config, timeout = parse_trace_config(options, budget)
        if block is None:
            raise CallFailed("block not found")
        minis = chain.block_mini_blocks(block)
        segments = tuple(
            TxSegment(mb.number, mb.block_env, _senders(mb), tuple(range(len(mb.raw_txs))))
            for mb in minis
            if mb.raw_txs
        )
        hashes = [h for mb in minis for h in mb.tx_hashes]
        if not segments:
            return []
        job = TraceJob(segments, tuple(chain.recent_hashes(block.number)), chain.chain_id, config)
        results = await ctx.calls.run(job, history, timeout)
        assert isinstance(results, list)
        return [{"txHash": d(h), "result": r} for h, r in zip(hashes, results, strict=True)]

    async def trace_block_by_number(params: list[Any]) -> list[dict[str, Any]]:
        ref, options = params_list(params, "debug_traceBlockByNumber", 1, 2)
        block_ref = parse_block_ref(ref, "block")
        if block_ref.hash is not None:
            raise InvalidParams("invalid block: expected a block number or tag")
        return await trace_block(resolve_block(chain, block_ref), options)

    async def trace_block_by_hash(params: list[Any]) -> list[dict[str, Any]]:
        h, options = params_list(params, "debug_traceBlockByHash", 1, 2)
        return await trace_block(block_by_hash(chain, parse_hash(h, "block hash")), options)

    async def trace_call(params: list[Any]) -> Any:
        obj, block, options = params_list(params, "debug_traceCall", 1, 3)
        request = parse_call_request(obj)
        config, timeout = parse_trace_config(options, budget, CALL_CONFIG_KEYS)
        view = state_view(chain, parse_block_ref(block))
        extra = options if isinstance(options, dict) else {}
        view = apply_block_overrides(view, extra.get("blockOverrides"))
        overrides = tuple(parse_state_override(extra.get("stateOverrides")).items())
        env = view.env if request.priced else replace(view.env, base_fee=0)
        request = request.with_gas(min(request.gas or env.gas_limit, ctx.calls.gas_cap))
        job = TraceCallJob(view.seq, env, tuple(view.prev_hashes), chain.chain_id, request, config, overrides)
        return await ctx.calls.run(job, lambda _seq: view.state, timeout)

    return {
        "debug_traceTransaction": trace_transaction,
        "debug_traceBlockByNumber": trace_block_by_number,
        "debug_traceBlockByHash": trace_block_by_hash,
        "debug_traceCall": trace_call,
    }
