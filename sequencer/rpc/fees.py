"""Fee suggestions and history: ``eth_gasPrice``, ``eth_maxPriorityFeePerGas``, ``eth_feeHistory``.

Ordering is first-come-first-served, so a tip buys no priority: the suggested tip is 0. The
suggested gas price stays includable across the next block boundary: never below the newest
sealed block's, the open block's or the next block's base fee, with headroom for one block's
largest rise (EIP-1559: 12.5%).
"""

from __future__ import annotations

from typing import Any

from sequencer.chain import Chain
from sequencer.jsonrpc.dispatch import Handler
from sequencer.jsonrpc.encoding import params_list, parse_quantity, q
from sequencer.jsonrpc.errors import InvalidParams
from sequencer.rpc.blocktags import block_number_param
from sequencer.rpc.context import RpcContext
from sequencer.rules import next_base_fee
from sequencer.types import EvmBlock

SUGGESTED_PRIORITY_FEE = 0  # first-come-first-served ordering: a tip buys no priority
MAX_RISE_NUMERATOR, MAX_RISE_DENOMINATOR = 9, 8  # a full block raises the base fee by 1/8
MAX_FEE_HISTORY_BLOCKS = 1024


def _parse_percentiles(value: Any) -> list[float]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(
        isinstance(p, int | float) and not isinstance(p, bool) and 0 <= p <= 100 for p in value
    ):
        raise InvalidParams("invalid rewardPercentiles: expected numbers between 0 and 100")
    if value != sorted(value):
        raise InvalidParams("invalid rewardPercentiles: must be in ascending order")
    return [float(p) for p in value]


def block_rewards(chain: Chain, block: EvmBlock, percentiles: list[float]) -> list[str]:
    """The tips paid at each gas-weighted percentile of a block's transactions."""
    items = sorted(
        (r.effective_gas_price - block.base_fee, r.gas_used) for r, _ in chain.block_receipts(block)
    )
    if not items:
        return ["0x0"] * len(percentiles)
    total = sum(g for _, g in items)
    out = []
    for p in percentiles:
        threshold = total * p / 100
        acc = 0
        reward = items[-1][0]
        for tip, gas in items:
            acc += gas
            if acc >= threshold:
                reward = tip
                break
        out.append(q(max(reward, 0)))
    return out


def suggested_gas_price(chain: Chain) -> int:
    """The highest of the base fees a transaction sent now can meet, plus one block's rise."""
    base = max(chain.head.base_fee, chain.pending_base_fee(), chain.following_env().base_fee)
    return -(-base * MAX_RISE_NUMERATOR // MAX_RISE_DENOMINATOR) + SUGGESTED_PRIORITY_FEE


def fee_methods(ctx: RpcContext) -> dict[str, Handler]:
    """The fee handlers over ``ctx``."""
    chain = ctx.chain

    def eth_gas_price(params: list[Any]) -> str:
        params_list(params, "eth_gasPrice", 0, 0)
        return q(suggested_gas_price(chain))

    def eth_max_priority_fee_per_gas(params: list[Any]) -> str:
        params_list(params, "eth_maxPriorityFeePerGas", 0, 0)
        return q(SUGGESTED_PRIORITY_FEE)

    def eth_fee_history(params: list[Any]) -> dict[str, Any]:
        count_raw, newest_raw, percentiles_raw = params_list(params, "eth_feeHistory", 2, 3)
        if isinstance(count_raw, int) and not isinstance(count_raw, bool):
            count = count_raw
        else:
            count = parse_quantity(count_raw, "blockCount", 64)
        if count < 1:
            raise InvalidParams("invalid blockCount: must be at least 1")
        count = min(count, MAX_FEE_HISTORY_BLOCKS)
        newest = min(block_number_param(chain, newest_raw, "newestBlock"), chain.head.number)
        percentiles = _parse_percentiles(percentiles_raw)
        oldest = max(0, newest - count + 1)
        base_fees: list[str] = []
        ratios: list[float] = []
        rewards: list[list[str]] = []
        last: EvmBlock | None = None
        for n in range(oldest, newest + 1):
            block = chain.get_block(n)
            if block is None:
                break
            last = block
            base_fees.append(q(block.base_fee))
            ratios.append(block.gas_used / block.gas_limit if block.gas_limit else 0.0)
            if percentiles:
                rewards.append(block_rewards(chain, block, percentiles))
        if last is not None:
            floor = chain.config.base_fee_floor
            base_fees.append(q(next_base_fee(last.base_fee, last.gas_used, last.gas_limit, floor)))
        result: dict[str, Any] = {
            "oldestBlock": q(oldest),
            "baseFeePerGas": base_fees,
            "gasUsedRatio": ratios,
        }
        if percentiles:
            result["reward"] = rewards
        return result

    return {
        "eth_gasPrice": eth_gas_price,
        "eth_maxPriorityFeePerGas": eth_max_priority_fee_per_gas,
        "eth_feeHistory": eth_fee_history,
    }
