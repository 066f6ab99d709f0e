"""Frozen, typed values that cross module boundaries (execution -> builder -> storage -> RPC)."""

from __future__ import annotations

from dataclasses import dataclass, field

ZERO_HASH = b"\x00" * 32
PENDING_HASH = b"\xff" * 32
"""The block hash that transactions, receipts and logs of the still-open EVM block carry until it
is sealed (MegaETH's placeholder: it cannot be mistaken for a real hash or for "no hash")."""


AccessList = tuple[tuple[bytes, tuple[int, ...]], ...]


@dataclass(frozen=True, slots=True)
class SignedTx:
    """A decoded, signature-checked transaction: the one transaction type of the node.

    Legacy and EIP-2930 transactions have one ``gas_price``: it is both ``max_fee_per_gas`` and
    ``max_priority_fee_per_gas`` here. ``v`` is the legacy ``v`` or a typed transaction's
    ``yParity``; ``chain_id`` is ``None`` for a pre-EIP-155 legacy transaction. ``engine_tx`` is
    the execution engine's own decoded form, cached for execution (``None`` when the transaction
    was read back from the chain for display).
    """

    hash: bytes
    raw: bytes
    sender: bytes
    type: int
    chain_id: int | None
    nonce: int
    gas: int
    to: bytes | None
    value: int
    data: bytes
    max_fee_per_gas: int
    max_priority_fee_per_gas: int
    access_list: AccessList
    v: int
    r: int
    s: int
    engine_tx: object | None = field(default=None, compare=False, repr=False)
    source_hash: bytes | None = None
    """A deposit's (type 0x7E) source hash; ``None`` for every signed transaction."""
    mint: int = 0
    """Wei a deposit mints to its sender on L2 (locked in the L1 portal); 0 otherwise."""
    is_system_tx: bool = False
    """A deposit's ``isSystemTx`` flag (always false for user deposits)."""

    @property
    def is_deposit(self) -> bool:
        """Whether this is an L1 deposit (type 0x7E: no signature, no fee, no nonce check)."""
        return self.source_hash is not None

    @property
    def gas_price(self) -> int | None:
        """The gas price of a legacy or EIP-2930 transaction (``None`` for EIP-1559)."""
        return self.max_fee_per_gas if self.type in (0, 1) else None

    def effective_gas_price(self, base_fee: int) -> int:
        """What the sender pays per gas in a block with this base fee."""
        return min(self.max_fee_per_gas, self.max_priority_fee_per_gas + base_fee)

    def max_cost(self) -> int:
        """The most the transaction can cost its sender: ``gas * maxFeePerGas + value``."""
        return self.gas * self.max_fee_per_gas + self.value


@dataclass(frozen=True, slots=True)
class UnsignedTx:
    """A transaction's fields before a signature (a dev account's ``eth_sendTransaction``):
    ``type`` 0 (legacy, ``max_fee_per_gas`` is the gas price), 1 or 2."""

    type: int
    chain_id: int
    nonce: int
    gas: int
    to: bytes | None
    value: int
    data: bytes
    max_fee_per_gas: int
    max_priority_fee_per_gas: int
    access_list: AccessList = ()


@dataclass(frozen=True, slots=True)
class Log:
    """An event log: emitting contract, up to four topics, data."""

    address: bytes
    topics: tuple[bytes, ...]
    data: bytes


@dataclass(frozen=True, slots=True)
class Receipt:
    """A transaction's receipt; every field is final once its mini-block is sealed."""

    tx_hash: bytes
    tx_type: int
    sender: bytes
    to: bytes | None
    status: int
    gas_used: int
    cumulative_gas_used: int
    effective_gas_price: int
    logs: tuple[Log, ...]
    bloom: bytes
    contract_address: bytes | None
    block_number: int
    mini_block_number: int
    tx_index: int
    first_log_index: int
    encoded: bytes
    """The consensus encoding of the receipt (type byte + RLP), as it goes in the receipts trie."""
    deposit_nonce: int | None = None
    """A deposit's (type 0x7E) sender nonce before it ran, as OP nodes report it; ``None`` otherwise."""


@dataclass(frozen=True, slots=True)
class AccountDiff:
    """The post-state of one account that a mini-block changed.

    ``code`` is the full code when the code hash changed (e.g. creation), else ``None``.
    ``storage`` lists the changed slots with their new values (0 = cleared), ascending by slot.
    ``deleted`` means the account (and all its storage) no longer exists.
    """

    address: bytes
    nonce: int
    balance: int
    code_hash: bytes
    code: bytes | None
    storage: tuple[tuple[int, int], ...]
    deleted: bool


@dataclass(frozen=True, slots=True)
class StateDiff:
    """Every account a mini-block changed, ascending by address (the canonical order)."""

    accounts: tuple[AccountDiff, ...]


@dataclass(frozen=True, slots=True)
class BlockEnv:
    """The execution context of an EVM block; fixed when the block opens."""

    number: int
    timestamp: int
    parent_hash: bytes
    base_fee: int
    gas_limit: int
    coinbase: bytes
    prev_randao: bytes


@dataclass(frozen=True, slots=True)
class DevEdit:
    """A devnet state edit carried by a mini-block (``anvil_setBalance`` and friends), or an
    impersonated transaction's sender (``anvil_impersonateAccount``): a chain event that no
    transaction explains, so only a devnet has them.

    ``kind``: ``balance``, ``nonce``, ``code``, ``storage`` (``slot`` set) or ``impersonated``
    (``value`` is the transaction hash); ``value`` is the new value (an int, or bytes for code
    and transaction hashes).
    """

    kind: str
    address: bytes
    value: int | bytes
    slot: int | None = None


@dataclass(frozen=True, slots=True)
class MiniBlock:
    """A sealed mini-block: its header fields, transactions, receipts and state diff.

    ``dev_edits`` (devnet only) say which of its state changes are state edits and which of its
    transactions were sent for an impersonated account; empty for every ordinary mini-block.
    """

    number: int
    block_number: int
    index: int
    timestamp_us: int
    parent_hash: bytes
    hash: bytes
    block_env: BlockEnv
    raw_txs: tuple[bytes, ...]
    tx_hashes: tuple[bytes, ...]
    receipts: tuple[Receipt, ...]
    diff: StateDiff
    gas_used: int
    """Gas used by this mini-block's transactions."""
    dev_edits: tuple[DevEdit, ...] = ()


@dataclass(frozen=True, slots=True)
class EvmBlock:
    """A sealed EVM block: its standard header's fields and the mini-blocks it spans."""

    number: int
    hash: bytes
    parent_hash: bytes
    timestamp: int
    state_root: bytes
    transactions_root: bytes
    receipts_root: bytes
    logs_bloom: bytes
    gas_used: int
    gas_limit: int
    base_fee: int
    coinbase: bytes
    prev_randao: bytes
    header_rlp: bytes
    tx_hashes: tuple[bytes, ...]
    first_mini_block: int
    """First mini-block number of this block; ``last_mini_block < first_mini_block`` when empty."""
    last_mini_block: int
    sealed_at_us: int


@dataclass(frozen=True, slots=True)
class PendingBlock:
    """The open EVM block as it stands after its newest mini-block: the ``pending`` block.

    Its transactions and receipts roots and its bloom cover what has been sealed into it so far;
    it has no hash and no state root until it is sealed.
    """

    env: BlockEnv
    first_mini_block: int
    mini_block_count: int
    tx_hashes: tuple[bytes, ...]
    gas_used: int
    logs_bloom: bytes
    transactions_root: bytes
    receipts_root: bytes
    state_root: bytes
    """The state root after its newest mini-block (computed incrementally, as at the seal)."""

    @property
    def number(self) -> int:
        """The block number."""
        return self.env.number

    @property
    def hash(self) -> bytes:
        """The placeholder its transactions, receipts and logs carry (it has no hash yet)."""
        return PENDING_HASH

    @property
    def timestamp(self) -> int:
        """Its timestamp (fixed when it opened)."""
        return self.env.timestamp

    @property
    def base_fee(self) -> int:
        """Its base fee (fixed when it opened)."""
        return self.env.base_fee

    @property
    def last_mini_block(self) -> int:
        """Its newest mini-block's number (``first_mini_block - 1`` when none yet)."""
        return self.first_mini_block + self.mini_block_count - 1


@dataclass(frozen=True, slots=True)
class TxLocation:
    """Where an included transaction is: block, mini-block and its indexes in both."""

    block_number: int
    mini_block_number: int
    index_in_block: int
    index_in_mini_block: int
