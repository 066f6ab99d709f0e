"""The sequencer's domain exceptions: one tree, one class per rule.

These say what went wrong in the chain's terms, never how a transport answers it: the RPC
package maps them to JSON-RPC codes, messages and data in one table (``sequencer/rpc/errors.py``).
An invalid transaction raises (it never enters a block); a reverted one is data in its receipt.

Each :class:`InvalidTransaction` subclass names its rule in ``reason`` (geth's wording, also the
bounded metric label) and may carry a ``detail``; its message is ``reason`` or
``"reason: detail"``.
"""

from __future__ import annotations

from typing import ClassVar


class SequencerError(Exception):
    """Root of every error the sequencer raises on purpose."""


class ConfigError(SequencerError):
    """The configuration is invalid; the message names the key and the problem."""


class StorageError(SequencerError):
    """The data directory cannot be read or written, or its content is inconsistent."""


# -- node availability ------------------------------------------------------------------------
class NodeUnavailable(SequencerError):
    """The node cannot accept work right now."""

    reason: ClassVar[str] = "node unavailable"


class NodeShuttingDown(NodeUnavailable):
    """A graceful stop is under way: nothing new is accepted."""

    reason = "node is shutting down"

    def __init__(self) -> None:
        super().__init__("node is shutting down")


class NodeUnhealthy(NodeUnavailable):
    """Storage writes are failing: sealing is paused and nothing new is accepted."""

    reason = "node is unhealthy"

    def __init__(self) -> None:
        super().__init__("node is unhealthy: storage writes are failing")


class SettlementBacklogFull(NodeUnavailable):
    """Too many L2 blocks are not yet on L1: nothing new is accepted until posting catches up."""

    reason = "settlement backlog full"

    def __init__(self, detail: str) -> None:
        super().__init__(f"transaction not accepted: {detail}")


class JournalUnavailable(NodeUnavailable):
    """A transaction could not be journaled, so it is not accepted."""

    reason = "storage unavailable"

    def __init__(self) -> None:
        super().__init__("transaction not accepted: the node cannot write to disk")


# -- transactions -------------------------------------------------------------------------------
class InvalidTransaction(SequencerError):
    """A transaction that is refused at ingress, admission or execution (never included)."""

    reason: ClassVar[str] = "invalid transaction"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail

    @property
    def message(self) -> str:
        """geth's wording: the rule, then the detail if there is one."""
        return self.reason if self.detail is None else f"{self.reason}: {self.detail}"

    def __str__(self) -> str:
        return self.message


class UndecodableTransaction(InvalidTransaction):
    """The raw bytes are not a well-formed signed transaction."""

    reason = "transaction could not be decoded"


class OversizedTransaction(InvalidTransaction):
    """The raw transaction exceeds the 128 KiB size limit (geth's txMaxSize)."""

    reason = "oversized data"


class UnsupportedTransactionType(InvalidTransaction):
    """An EIP-2718 type this chain does not accept (blob and set-code transactions, unknown types)."""

    reason = "transaction type not supported"


class DepositFromUser(UnsupportedTransactionType):
    """A deposit transaction (type 0x7E) sent over RPC: deposits are made on L1, through the
    portal, and only the sequencer's L1 follower puts them in blocks."""

    reason = "deposit transactions come only from L1"


class UnprotectedTransaction(InvalidTransaction):
    """A pre-EIP-155 signature without a chain id, refused unless the chain allows it."""

    reason = "only replay-protected (EIP-155) transactions allowed over RPC"


class WrongChainId(InvalidTransaction):
    """Signed for another chain."""

    reason = "invalid chain id for signer"


class TipAboveFeeCap(InvalidTransaction):
    """``maxPriorityFeePerGas`` above ``maxFeePerGas``."""

    reason = "max priority fee per gas higher than max fee per gas"


class InvalidSignature(InvalidTransaction):
    """r, s or v out of range, a high-s signature (EIP-2), or a signature that does not recover."""

    reason = "invalid transaction v, r, s values"


class IntrinsicGasTooLow(InvalidTransaction):
    """The gas limit does not cover the intrinsic cost (or the EIP-7623 calldata floor)."""

    reason = "intrinsic gas too low"


class NonceMaxValue(InvalidTransaction):
    """The nonce is 2**64-1, which can never be followed (EIP-2681)."""

    reason = "nonce has max value"


class NonceTooLow(InvalidTransaction):
    """The nonce was used already."""

    reason = "nonce too low"


class NonceTooHigh(InvalidTransaction):
    """The nonce is too far ahead of the sender's next one."""

    reason = "nonce too high"


class InsufficientFunds(InvalidTransaction):
    """The balance does not cover ``gas * maxFeePerGas + value``."""

    reason = "insufficient funds for gas * price + value"


class Overdraft(InvalidTransaction):
    """The sender's pooled transactions together would cost more than its balance (geth's rule)."""

    reason = "transaction would cause overdraft"


class Underpriced(InvalidTransaction):
    """At admission: the fee cap is below the base fee of the block it would join."""

    reason = "transaction underpriced"


class FeeCapBelowBaseFee(InvalidTransaction):
    """At execution: the fee cap is below the block's base fee."""

    reason = "max fee per gas less than block base fee"


class ExceedsBlockGasLimit(InvalidTransaction):
    """The transaction's gas limit does not fit in a block (or in what is left of this one)."""

    reason = "exceeds block gas limit"


class ReplacementUnderpriced(InvalidTransaction):
    """A same-nonce replacement that does not raise both fee caps by 10%, or replaces one being sealed."""

    reason = "replacement transaction underpriced"


class TxPoolFull(InvalidTransaction):
    """The pool is at capacity and the newcomer does not outbid the cheapest evictable one."""

    reason = "txpool is full"


class AccountLimitExceeded(InvalidTransaction):
    """The sender already has the maximum number of pooled transactions."""

    reason = "account limit exceeded"


class RemovedByRevert(InvalidTransaction):
    """A pooled transaction a devnet ``evm_revert`` removed with the pool."""

    reason = "removed by evm_revert"


class TxGasLimitTooHigh(InvalidTransaction):
    """The transaction's gas limit is above the node's per-transaction cap (``execution.max_tx_gas``;
    geth's wording for EIP-7825's cap)."""

    reason = "transaction gas limit too high"


class ExecutionTimeExceeded(InvalidTransaction):
    """Executing the transaction took longer than the per-transaction time budget
    (``execution.tx_time_budget_ms``): it was aborted, its effects discarded, and it is dropped."""

    reason = "execution time budget exceeded"


class SenderThrottled(InvalidTransaction):
    """The sender's last transaction ran past the execution time budget: its new transactions
    are refused for a while (``execution.abort_cooldown_s``), so aborted executions, which cost
    their sender nothing, cannot be repeated back to back."""

    reason = "sender throttled"


class ExecutionAborted(InvalidTransaction):
    """Execution failed inside the engine (a bug, not a rule): the transaction is dropped."""

    reason = "internal error"


# -- calls (eth_call, eth_estimateGas) ------------------------------------------------------------
class CallError(SequencerError):
    """A simulated call that did not succeed."""


class ExecutionReverted(CallError):
    """The call hit REVERT; ``output`` is the revert data (an ABI-encoded error, or empty)."""

    def __init__(self, message: str, output: bytes) -> None:
        super().__init__(message)
        self.message = message
        self.output = output


class CallFailed(CallError):
    """The call failed without revert data: out of gas, an invalid opcode, an invalid request..."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CallTimedOut(CallFailed):
    """The call ran past ``rpc.call_timeout_ms`` and was aborted (geth's wording)."""

    def __init__(self, timeout_ms: int) -> None:
        super().__init__(f"execution aborted (timeout = {timeout_ms / 1000:g}s)")


class CallCapacityExceeded(CallFailed):
    """The call's worker ran out of memory (``rpc.call_memory_mb``) or died: it was aborted."""


class SimulationRefused(CallError):
    """``eth_simulateV1`` refused the request: a call broke a transaction rule under
    ``validation``, or a block or limit rule (execution-apis codes: -38010 nonce too low,
    -38011 nonce too high, -38012 base fee too low, -38013 intrinsic gas too low, -38014
    insufficient funds, -38015 block gas limit reached, -38020/-38021 block number/timestamp
    not increasing, -38026 too many blocks or calls)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return self.message


# -- dev chain (devnet only) ----------------------------------------------------------------------
class DevChainUnavailable(SequencerError):
    """A dev-chain control or dev account method on a chain that is not a devnet."""

    def __init__(self, method: str) -> None:
        super().__init__(
            f"the method {method} is not available: dev-chain controls and dev accounts need a devnet "
            "chain (chain.devnet = true)"
        )


class DevChainRefused(SequencerError):
    """A dev-chain control that cannot be done as asked (a timestamp in the past, an unknown
    account to sign for, ...)."""


# -- lookups and limits ----------------------------------------------------------------------------
class BlockNotFound(SequencerError):
    """A requested block does not exist (yet)."""


class FilterNotFound(SequencerError):
    """An unknown, expired or uninstalled filter id."""

    def __init__(self) -> None:
        super().__init__("filter not found")  # geth's wording


class LimitExceeded(SequencerError):
    """A per-connection or per-node limit was hit (subscriptions, filters...)."""
