"""The verifier's py-evm adapter: the only verifier module that imports py-evm (``eth*`` packages).

Re-execution runs py-evm's Prague state machine (the reference EVM) over the verifier's own
flat state (``verifier/state.py``) through :class:`OverlayAccountDB`, a journaled overlay
implementing py-evm's ``AccountDatabaseAPI``: reads fall through to the flat state, writes stay
in the overlay, and at the end of a mini-block the overlay is drained as the canonical state
diff that execution produced (:meth:`MiniBlockExecutor.run`). The flat state is never written
here: the caller compares the executed diff with the claimed one and applies the claim.

Nothing else in the verifier sees py-evm: results are plain values (:class:`ExecutedTx`,
:class:`ExecutedMiniBlock`, ``AccountChange``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from coincurve import PublicKey
from eth._utils.address import generate_contract_address
from eth.abc import AccountDatabaseAPI, MetaWitnessAPI
from eth.constants import BLANK_ROOT_HASH
from eth.db.journal import get_next_checkpoint
from eth.exceptions import UnrecognizedTransactionType
from eth.typing import JournalDBCheckpoint
from eth.vm.execution_context import ExecutionContext
from eth.vm.forks.london.transactions import DynamicFeeTransaction
from eth.vm.forks.prague import PragueVM
from eth.vm.forks.prague.state import PragueState
from eth.vm.forks.prague.transactions import PragueTypedTransaction
from eth_keys.exceptions import BadSignature
from eth_typing import Address, BlockNumber, Hash32
from eth_utils.exceptions import ValidationError
from eth_utils.logging import get_extended_debug_logger
from rlp.exceptions import RLPException

from sequencer import fastrlp
from verifier.commitments import keccak
from verifier.state import EMPTY_CODE_HASH, Account, FlatState
from verifier.wire import AccountChange, Env, LogEntry

_BUILDER = PragueVM.get_transaction_builder()
MAX_TX_SIZE = 128 * 1024
SUPPORTED_TYPES = (0, 1, 2)
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
UINT256 = 2**256
TX_DATA_FLOOR_PER_TOKEN = 10  # EIP-7623
TX_BASE_GAS = 21_000
INVALID_TRANSACTION: tuple[type[Exception], ...] = (
    ValidationError,  # py-evm's rules: nonce, balance, fee cap, intrinsic gas, signature, ...
    BadSignature,
    RLPException,  # not a decodable transaction
    UnrecognizedTransactionType,
    ValueError,
    TypeError,
    IndexError,
)
"""What makes a transaction invalid (never included). Anything else is the verifier's own
failure (a missing code in its own state, say) and stops it rather than passing a verdict."""
_MISSING: Any = object()
_EMPTY = Account(0, 0, EMPTY_CODE_HASH)
UINT256_CEILING = 2**256


class InvalidTransaction(ValidationError):
    """A transaction the chain's rules do not let a sequencer include."""


def _signing_payload(fields: list[Any], tx_type: int, chain_id: int | None) -> bytes:
    """What the sender signed: ``type || rlp(fields but yParity, r, s)``; legacy (EIP-155):
    ``rlp(first six fields + [chainId, 0, 0])``, or the six alone when unprotected."""
    if tx_type:
        return bytes((tx_type,)) + fastrlp.encode(fields[:-3])
    if chain_id is None:
        return fastrlp.encode(fields[:6])
    return fastrlp.encode([*fields[:6], chain_id, b"", b""])


def _int(b: bytes) -> int:
    if b[:1] == b"\x00":
        raise InvalidTransaction("a transaction field is not a canonical integer")
    return int.from_bytes(b, "big")


def _fast_dynamic_fee(fields: Any) -> Any:
    """py-evm's EIP-1559 transaction built from already decoded fields (a third of the cost of
    py-evm's own decoding); ``None`` for anything but the plain shape (an access list, say),
    which py-evm's decoder then takes."""
    if type(fields) is not list or len(fields) != 12 or fields[8] != []:
        return None
    if any(type(f) is not bytes for i, f in enumerate(fields) if i != 8):
        return None
    cid, nonce, tip, cap, gas, to, value, data, _access, y_parity, r, s = fields
    inner = DynamicFeeTransaction(
        _int(cid),
        _int(nonce),
        _int(tip),
        _int(cap),
        _int(gas),
        to,
        _int(value),
        data,
        [],
        _int(y_parity),
        _int(r),
        _int(s),
    )
    return PragueTypedTransaction(2, inner)


def prepare_transaction(raw: bytes, chain_id: int, allow_unprotected: bool) -> Any:
    """Decode a raw transaction and check the stateless rules a sequencer admits it by (size,
    type, chain id, signature in range and low-s, tip within the fee cap, intrinsic and EIP-7623
    floor gas, nonce); recover its sender from the raw bytes (libsecp256k1) and cache it on
    py-evm's transaction, so execution never recovers it again. Raises
    :class:`InvalidTransaction`."""
    if len(raw) > MAX_TX_SIZE:
        raise InvalidTransaction(f"larger than {MAX_TX_SIZE} bytes")
    if not raw:
        raise InvalidTransaction("empty")
    tx_type = raw[0] if raw[0] < 0x7F else 0
    if tx_type not in SUPPORTED_TYPES:
        raise InvalidTransaction(f"unsupported transaction type {tx_type}")
    try:
        fields = fastrlp.decode(raw[1:] if tx_type else raw)
    except (fastrlp.DecodingError, RecursionError) as exc:
        raise InvalidTransaction(f"not RLP: {exc}") from None
    tx: Any = _fast_dynamic_fee(fields) if tx_type == 2 else None
    if tx is None:
        tx = _BUILDER.decode(raw)
    if tx_type == 0:
        v = tx.v
        if v in (27, 28):
            if not allow_unprotected:
                raise InvalidTransaction("unprotected (no chain id, EIP-155) transactions are not allowed")
            tx_chain_id, y_parity = None, v - 27
        else:
            tx_chain_id = (v - 35) // 2 if v >= 35 else -1
            y_parity = v - 35 - 2 * tx_chain_id
        max_fee = tip = tx.gas_price
    else:
        tx_chain_id, y_parity = tx.chain_id, tx.y_parity
        if tx_type == 1:
            max_fee = tip = tx.gas_price
        else:
            max_fee, tip = tx.max_fee_per_gas, tx.max_priority_fee_per_gas
    if tx_chain_id != chain_id:
        raise InvalidTransaction(f"chain id {tx_chain_id}, not this chain's {chain_id}")
    if tip > max_fee:
        raise InvalidTransaction("max priority fee per gas above max fee per gas")
    if not (max_fee < UINT256 and tx.value < UINT256 and tx.gas < UINT256 and tx.nonce < 2**64 - 1):
        raise InvalidTransaction("a transaction field is out of range")
    if tx.to and len(tx.to) != 20:
        raise InvalidTransaction("to is not an address")
    r, s = tx.r, tx.s
    if not (0 < r < SECP256K1_N and 0 < s <= SECP256K1_N // 2 and y_parity in (0, 1)):
        raise InvalidTransaction("invalid signature values (EIP-2: s in the lower half)")
    if tx.gas < tx.intrinsic_gas:
        raise InvalidTransaction("intrinsic gas too low")
    data = tx.data
    zeros = data.count(0)
    if tx.gas < TX_BASE_GAS + TX_DATA_FLOOR_PER_TOKEN * (zeros + 4 * (len(data) - zeros)):
        raise InvalidTransaction("insufficient gas for floor data gas cost (EIP-7623)")
    digest = keccak(_signing_payload(fields, tx_type, tx_chain_id))
    try:
        public = PublicKey.from_signature_and_message(
            r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes((y_parity,)), digest, hasher=None
        )
    except ValueError:
        raise InvalidTransaction("the signature does not recover") from None
    tx.__dict__["sender"] = keccak(public.format(compressed=False)[1:])[12:]
    if tx_type:
        tx.__dict__["hash"] = keccak(raw)
    return tx


class OverlayAccountDB(AccountDatabaseAPI):
    """py-evm's account database over a :class:`FlatState`, with a journaled overlay.

    ``record``/``discard``/``commit`` checkpoints are transaction-local (``lock_changes``, called
    by py-evm as each transaction starts, forgets them, the warm sets, and the transaction's
    original slot values that EIP-2200 charges by).
    """

    def __init__(self, db: Any, state_root: Hash32 = BLANK_ROOT_HASH) -> None:
        if not isinstance(db, FlatState):
            raise TypeError("OverlayAccountDB runs over the verifier's FlatState")
        self._base: FlatState = db
        self._accounts: dict[bytes, Account | None] = {}
        self._storage: dict[bytes, dict[int, int]] = {}
        self._wiped: set[bytes] = set()
        self._code: dict[bytes, bytes] = {}
        self._journal: list[tuple[Any, ...]] = []
        self._checkpoints: dict[int, int] = {}
        self._warm: set[Any] = set()
        self._tx_original: dict[tuple[bytes, int], int] = {}
        self._tx_pre_wipe: dict[bytes, tuple[dict[int, int] | None, bool]] = {}

    # -- the state root is the flat state's business ------------------------------------------
    @property
    def state_root(self) -> Hash32:
        """A constant (py-evm's snapshots read it and reverts write it back)."""
        return BLANK_ROOT_HASH

    @state_root.setter
    def state_root(self, value: Hash32) -> None:
        """Ignored (see the getter)."""

    def has_root(self, state_root: bytes) -> bool:
        """No trie here."""
        return False

    def make_state_root(self) -> Hash32:
        """Not computed here: the flat state's trie does (``verifier/state.py``)."""
        raise NotImplementedError("state roots come from the verifier's FlatState")

    def persist(self) -> MetaWitnessAPI:
        """Not used: the overlay is drained with :meth:`take_diff`."""
        raise NotImplementedError("the overlay is drained with take_diff()")

    # -- accounts ---------------------------------------------------------------------------------
    def _get(self, address: bytes) -> Account:
        account = self._accounts.get(address, _MISSING)
        if account is _MISSING:
            account = self._base.accounts.get(address)
        return account if account is not None else _EMPTY

    def _set(self, address: bytes, account: Account | None) -> None:
        self._journal.append(("acct", address, self._accounts.get(address, _MISSING)))
        self._accounts[address] = account

    def account_exists(self, address: Address) -> bool:
        """Whether the account exists."""
        account = self._accounts.get(address, _MISSING)
        if account is _MISSING:
            return address in self._base.accounts
        return account is not None

    def get_balance(self, address: Address) -> int:
        """The balance."""
        return self._get(address).balance

    def set_balance(self, address: Address, balance: int) -> None:
        """Set the balance."""
        if not 0 <= balance < UINT256_CEILING:
            raise ValidationError(f"balance out of range: {balance}")
        a = self._get(address)
        self._set(address, Account(a.nonce, balance, a.code_hash))

    def get_nonce(self, address: Address) -> int:
        """The nonce."""
        return self._get(address).nonce

    def set_nonce(self, address: Address, nonce: int) -> None:
        """Set the nonce."""
        a = self._get(address)
        self._set(address, Account(nonce, a.balance, a.code_hash))

    def increment_nonce(self, address: Address) -> None:
        """Add one to the nonce."""
        self.set_nonce(address, self.get_nonce(address) + 1)

    def get_code_hash(self, address: Address) -> Hash32:
        """The code hash."""
        return Hash32(self._get(address).code_hash)

    def get_code(self, address: Address) -> bytes:
        """The code."""
        code_hash = self._get(address).code_hash
        if code_hash == EMPTY_CODE_HASH:
            return b""
        code = self._code.get(code_hash)
        return code if code is not None else self._base.get_code_by_hash(code_hash)

    def set_code(self, address: Address, code: bytes) -> None:
        """Set the code (content-addressed, so only the account's hash is journaled)."""
        code_hash = keccak(code)
        self._code[code_hash] = code
        a = self._get(address)
        self._set(address, Account(a.nonce, a.balance, code_hash))

    def delete_code(self, address: Address) -> None:
        """Drop the code."""
        a = self._get(address)
        self._set(address, Account(a.nonce, a.balance, EMPTY_CODE_HASH))

    def account_has_code_or_nonce(self, address: Address) -> bool:
        """EIP-7610's collision rule."""
        a = self._get(address)
        return a.nonce != 0 or a.code_hash != EMPTY_CODE_HASH

    def account_is_empty(self, address: Address) -> bool:
        """EIP-161: no code, nonce 0, balance 0."""
        a = self._get(address)
        return a.nonce == 0 and a.balance == 0 and a.code_hash == EMPTY_CODE_HASH

    def touch_account(self, address: Address) -> None:
        """The account is touched (it exists from now on)."""
        self._set(address, self._get(address))

    def delete_account(self, address: Address) -> None:
        """Delete the account and its storage."""
        self._wipe(address)
        self._set(address, None)

    # -- storage ------------------------------------------------------------------------------------
    def _slot(self, address: bytes, slot: int) -> int:
        slots = self._storage.get(address)
        if slots is not None:
            value = slots.get(slot, _MISSING)
            if value is not _MISSING:
                return cast(int, value)
        if address in self._wiped:
            return 0
        return self._base.get_storage(address, slot)

    def get_storage(self, address: Address, slot: int, from_journal: bool = True) -> int:
        """A slot's value; ``from_journal=False``: its value when the transaction started."""
        if from_journal:
            return self._slot(address, slot)
        original = self._tx_original.get((address, slot), _MISSING)
        if original is not _MISSING:
            return cast(int, original)
        pre_wipe = self._tx_pre_wipe.get(address)
        if pre_wipe is not None:
            slots, was_wiped = pre_wipe
            if slots is not None and slot in slots:
                return slots[slot]
            return 0 if was_wiped else self._base.get_storage(address, slot)
        return self._slot(address, slot)

    def set_storage(self, address: Address, slot: int, value: int) -> None:
        """Write a slot."""
        if not 0 <= value < UINT256_CEILING:
            raise ValidationError(f"storage value out of range: {value}")
        key = (address, slot)
        if key not in self._tx_original:
            self._tx_original[key] = self.get_storage(address, slot, from_journal=False)
        slots = self._storage.get(address)
        if slots is None:
            slots = self._storage[address] = {}
            self._journal.append(("slots", address))
        self._journal.append(("slot", address, slot, slots.get(slot, _MISSING)))
        slots[slot] = value

    def delete_storage(self, address: Address) -> None:
        """Clear all the account's storage."""
        self._wipe(address)

    def _wipe(self, address: bytes) -> None:
        previous = self._storage.get(address)
        was_wiped = address in self._wiped
        if address not in self._tx_pre_wipe:
            self._tx_pre_wipe[address] = (dict(previous) if previous else previous, was_wiped)
        self._journal.append(("wipe", address, previous, was_wiped))
        self._storage[address] = {}
        self._wiped.add(address)

    # -- EIP-2929 ---------------------------------------------------------------------------------
    def is_address_warm(self, address: Address) -> bool:
        """Whether the address was accessed in this transaction."""
        return address in self._warm

    def mark_address_warm(self, address: Address) -> None:
        """The address is accessed."""
        if address not in self._warm:
            self._warm.add(address)
            self._journal.append(("warm", address))

    def is_storage_warm(self, address: Address, slot: int) -> bool:
        """Whether the slot was accessed in this transaction."""
        return (address, slot) in self._warm

    def mark_storage_warm(self, address: Address, slot: int) -> None:
        """The slot is accessed."""
        key = (address, slot)
        if key not in self._warm:
            self._warm.add(key)
            self._journal.append(("warm", key))

    # -- the journal ------------------------------------------------------------------------------
    def record(self) -> JournalDBCheckpoint:
        """A checkpoint (from py-evm's shared counter, so it never collides with its journals)."""
        checkpoint = get_next_checkpoint()
        self._checkpoints[checkpoint] = len(self._journal)
        return checkpoint

    def commit(self, checkpoint: JournalDBCheckpoint) -> None:
        """Keep what was written since ``checkpoint``."""
        self._checkpoints.pop(checkpoint, None)

    def discard(self, checkpoint: JournalDBCheckpoint) -> None:
        """Undo what was written since ``checkpoint``."""
        target = self._checkpoints.pop(checkpoint)
        journal = self._journal
        while len(journal) > target:
            entry = journal.pop()
            kind = entry[0]
            if kind == "acct":
                if entry[2] is _MISSING:
                    del self._accounts[entry[1]]
                else:
                    self._accounts[entry[1]] = entry[2]
            elif kind == "slot":
                _, address, slot, previous = entry
                if previous is _MISSING:
                    del self._storage[address][slot]
                else:
                    self._storage[address][slot] = previous
            elif kind == "slots":
                del self._storage[entry[1]]
            elif kind == "wipe":
                _, address, previous, was_wiped = entry
                if previous is None:
                    del self._storage[address]
                else:
                    self._storage[address] = previous
                if not was_wiped:
                    self._wiped.discard(address)
            else:
                self._warm.discard(entry[1])
        for cp in [cp for cp, at in self._checkpoints.items() if at > target]:
            del self._checkpoints[cp]

    def lock_changes(self) -> None:
        """A transaction starts."""
        self._journal.clear()
        self._checkpoints.clear()
        self._warm.clear()
        self._tx_original.clear()
        self._tx_pre_wipe.clear()

    # -- draining ---------------------------------------------------------------------------------
    def take_diff(self) -> tuple[AccountChange, ...]:
        """The canonical diff of the overlay against the flat state (docs/feed.md): an account
        is listed iff its post-state differs (existence, nonce, balance, code, a slot), a slot
        iff its value changed; the overlay is emptied."""
        base = self._base
        out: list[AccountChange] = []
        for address in sorted(self._accounts.keys() | self._storage.keys()):
            pre = base.accounts.get(address)
            post = self._accounts.get(address, pre)
            if post is None:
                if pre is not None:
                    out.append(AccountChange(address, 0, 0, EMPTY_CODE_HASH, None, (), True))
                continue
            base_slots = base.storage.get(address, {})
            written: dict[int, int] = dict.fromkeys(base_slots, 0) if address in self._wiped else {}
            written.update(self._storage.get(address, {}))
            storage = tuple(sorted((s, v) for s, v in written.items() if base_slots.get(s, 0) != v))
            if pre is not None and not storage and pre == post:
                continue
            code = None
            if (pre is None or pre.code_hash != post.code_hash) and post.code_hash != EMPTY_CODE_HASH:
                code = self._code.get(post.code_hash) or base.code[post.code_hash]
            out.append(AccountChange(address, post.nonce, post.balance, post.code_hash, code, storage, False))
        self._accounts.clear()
        self._storage.clear()
        self._wiped.clear()
        self._code.clear()
        self.lock_changes()
        return tuple(out)


class VerifierState(PragueState):
    """py-evm's Prague state over the overlay."""

    account_db_class = OverlayAccountDB
    logger = get_extended_debug_logger("eth.vm.state.VerifierState")


@dataclass(frozen=True, slots=True)
class ExecutedTx:
    """What re-executing one transaction gave (``valid`` false: it cannot be included)."""

    tx_hash: bytes
    valid: bool
    error: str | None
    tx_type: int = 0
    status: int = 0
    gas_used: int = 0
    cumulative_gas_used: int = 0
    effective_gas_price: int = 0
    logs: tuple[LogEntry, ...] = ()
    contract_address: bytes | None = None


@dataclass(frozen=True, slots=True)
class ExecutedMiniBlock:
    """A mini-block's re-execution: its transactions' results and the state diff it made."""

    txs: tuple[ExecutedTx, ...]
    diff: tuple[AccountChange, ...]


class MiniBlockExecutor:
    """Re-executes the mini-blocks of one EVM block, in turn, on the flat state."""

    def __init__(
        self,
        state: FlatState,
        chain_id: int,
        env: Env,
        prev_hashes: Sequence[bytes],
        *,
        allow_unprotected: bool = False,
    ) -> None:
        self.env = env
        self.chain_id = chain_id
        self.allow_unprotected = allow_unprotected
        context = ExecutionContext(
            coinbase=Address(env.coinbase),
            timestamp=env.timestamp,
            block_number=BlockNumber(env.number),
            difficulty=0,
            mix_hash=Hash32(env.prev_randao),
            gas_limit=env.gas_limit,
            prev_hashes=tuple(Hash32(h) for h in prev_hashes),
            chain_id=chain_id,
            base_fee_per_gas=env.base_fee,
            excess_blob_gas=0,
        )
        self._state = VerifierState(state, context, BLANK_ROOT_HASH)  # type: ignore[arg-type]
        self._db = cast(OverlayAccountDB, self._state._account_db)

    def run(self, raw_txs: Sequence[bytes], gas_before: int) -> ExecutedMiniBlock:
        """Execute the transactions in order after ``gas_before`` gas of the block; drain the
        overlay as the mini-block's diff (the flat state itself is left as it was)."""
        state, db, env = self._state, self._db, self.env
        out: list[ExecutedTx] = []
        cumulative = gas_before
        for raw in raw_txs:
            tx_hash = keccak(raw)
            try:
                tx = prepare_transaction(raw, self.chain_id, self.allow_unprotected)
                if cumulative + tx.gas > env.gas_limit:
                    raise ValidationError("transaction gas exceeds what is left of the block gas limit")
                state.lock_changes()
                checkpoint = db.record()
                try:
                    computation = state.apply_transaction(tx)
                except Exception:
                    db.discard(checkpoint)
                    raise
                db.commit(checkpoint)
            except INVALID_TRANSACTION as exc:
                out.append(ExecutedTx(tx_hash, False, f"{type(exc).__name__}: {exc}"[:300]))
                continue
            gas_used = PragueVM.finalize_gas_used(tx, computation)
            cumulative += gas_used
            logs = tuple(
                LogEntry(bytes(a), tuple(t.to_bytes(32, "big") for t in topics), bytes(data))
                for a, topics, data in computation.get_log_entries()
            )
            contract = bytes(generate_contract_address(Address(tx.sender), tx.nonce)) if not tx.to else None
            tx_type = raw[0] if raw[0] < 0x7F else 0
            price = min(tx.max_fee_per_gas, tx.max_priority_fee_per_gas + env.base_fee)
            out.append(
                ExecutedTx(
                    tx_hash,
                    True,
                    None,
                    tx_type,
                    0 if computation.is_error else 1,
                    gas_used,
                    cumulative,
                    price,
                    logs,
                    contract,
                )
            )
        return ExecutedMiniBlock(tuple(out), db.take_diff())
