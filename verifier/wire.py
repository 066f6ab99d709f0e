"""Feed messages, version 2 (docs/feed.md), decoded once at the edge into frozen typed values.

:func:`decode_message` takes a message's JSON text and gives a :class:`GenesisMessage`,
:class:`MiniBlockMessage` or :class:`BlockMessage`, or raises :class:`Malformed` naming the
field and what is wrong with it. It is strict: every field docs/feed.md lists must be there
with its type, hex quantities are canonical (``0x0``, no leading zeros) and below their bound,
byte strings are lowercase and of their length, lists are lists and no longer than
:data:`MAX_ITEMS`. Nothing after this module looks at JSON: the checks work on these values.
Fields the document does not list are ignored (the versioning policy: new optional fields do not
change the version; anything else does).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, NoReturn

import orjson

WIRE_VERSION = 2
MAX_ITEMS = 1_000_000
"""The most items any list of a message may hold (the message size limit bounds them too)."""
MAX_TOPICS = 4
U64 = 2**64
U256 = 2**256

_QUANTITY = re.compile(r"0x(?:0|[1-9a-f][0-9a-f]{0,63})")
_DATA = re.compile(r"0x(?:[0-9a-f]{2})*")


class Malformed(Exception):
    """A message that is not what docs/feed.md says: ``where`` names the field."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = where
        self.problem = problem


@dataclass(frozen=True, slots=True)
class Signature:
    """A secp256k1 signature ``{r, s, yParity}``."""

    r: int
    s: int
    y_parity: int


@dataclass(frozen=True, slots=True)
class Env:
    """An EVM block's environment (``miniBlock.env``)."""

    number: int
    timestamp: int
    parent_hash: bytes
    base_fee: int
    gas_limit: int
    coinbase: bytes
    prev_randao: bytes


@dataclass(frozen=True, slots=True)
class LogEntry:
    """An event log as the feed sends it."""

    address: bytes
    topics: tuple[bytes, ...]
    data: bytes


@dataclass(frozen=True, slots=True)
class ClaimedReceipt:
    """A receipt as the stream claims it."""

    tx_hash: bytes
    tx_type: int
    status: int
    gas_used: int
    cumulative_gas_used: int
    effective_gas_price: int
    contract_address: bytes | None
    tx_index: int
    first_log_index: int
    logs: tuple[LogEntry, ...]
    deposit_nonce: int | None = None
    """A deposit's ``depositNonce`` (type 0x7E only; ``None`` for any other receipt)."""


@dataclass(frozen=True, slots=True)
class AccountChange:
    """One ``stateDiff`` entry: an account's post-state (``code`` only when its hash changed)."""

    address: bytes
    nonce: int
    balance: int
    code_hash: bytes
    code: bytes | None
    storage: tuple[tuple[int, int], ...]
    deleted: bool


DEV_EDIT_KINDS = ("balance", "nonce", "code", "storage", "impersonated")
"""The kinds of a ``devEdits`` entry (docs/feed.md, "Devnet events")."""
STATE_EDIT_KINDS = ("balance", "nonce", "code", "storage")


@dataclass(frozen=True, slots=True)
class DevEditClaim:
    """One ``devEdits`` entry of a devnet mini-block: a state edit (``balance``, ``nonce``,
    ``code``, ``storage`` at ``slot``: ``value`` the new value) or the sender of an impersonated
    transaction (``impersonated``: ``value`` the transaction's hash)."""

    kind: str
    address: bytes
    value: int | bytes
    slot: int | None


@dataclass(frozen=True, slots=True)
class GenesisMessage:
    """``genesis``: the stream's genesis block (its allocation is not trusted, not kept)."""

    seq: int
    hash: bytes
    header: bytes


@dataclass(frozen=True, slots=True)
class MiniBlockMessage:
    """``miniBlock``."""

    seq: int
    number: int
    block_number: int
    index: int
    timestamp_us: int
    hash: bytes
    parent_hash: bytes
    env: Env
    gas_used: int
    transactions: tuple[bytes, ...]
    receipts: tuple[ClaimedReceipt, ...]
    state_diff: tuple[AccountChange, ...]
    signature: Signature | None
    dev_edits: tuple[DevEditClaim, ...] = ()
    """A devnet's state edits or impersonated senders (empty on every ordinary mini-block)."""


@dataclass(frozen=True, slots=True)
class ReorgMessage:
    """A devnet feed's ``reorg``: the chain was rolled back (``evm_revert``) past the follower's
    tip (docs/feed.md, "Devnet events"); the follower re-syncs."""

    seq: int
    to_block: int | None
    rollbacks: int


@dataclass(frozen=True, slots=True)
class BlockMessage:
    """``block``: a sealed EVM block."""

    seq: int
    number: int
    hash: bytes
    header: bytes
    first_mini_block: int
    mini_block_count: int
    transactions: tuple[bytes, ...]
    signature: Signature | None


Message = GenesisMessage | MiniBlockMessage | BlockMessage


# -- field readers ----------------------------------------------------------------------------
def _bad(where: str, problem: str) -> NoReturn:
    raise Malformed(where, problem)


def _field(obj: dict[str, Any], key: str, where: str) -> Any:
    try:
        return obj[key]
    except KeyError:
        _bad(f"{where}.{key}", "missing")


def _obj(value: Any, where: str) -> dict[str, Any]:
    if type(value) is not dict:
        _bad(where, f"expected an object, got {type(value).__name__}")
    return value


def _list(value: Any, where: str, limit: int = MAX_ITEMS) -> list[Any]:
    if type(value) is not list:
        _bad(where, f"expected a list, got {type(value).__name__}")
    if len(value) > limit:
        _bad(where, f"{len(value)} items, more than {limit}")
    return value


def _quantity(value: Any, where: str, bound: int = U256) -> int:
    if type(value) is not str or _QUANTITY.fullmatch(value) is None:
        _bad(where, f"expected a hex quantity, got {_show(value)}")
    number = int(value, 16)
    if number >= bound:
        _bad(where, f"{value} is not below {hex(bound)}")
    return number


def _data(value: Any, where: str, size: int | None = None) -> bytes:
    if type(value) is not str or _DATA.fullmatch(value) is None:
        _bad(where, f"expected 0x-prefixed lowercase hex bytes, got {_show(value)}")
    raw = bytes.fromhex(value[2:])
    if size is not None and len(raw) != size:
        _bad(where, f"expected {size} bytes, got {len(raw)}")
    return raw


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _q(obj: dict[str, Any], key: str, where: str, bound: int = U256) -> int:
    return _quantity(_field(obj, key, where), f"{where}.{key}", bound)


def _d(obj: dict[str, Any], key: str, where: str, size: int | None = None) -> bytes:
    return _data(_field(obj, key, where), f"{where}.{key}", size)


def _signature(obj: dict[str, Any], where: str) -> Signature | None:
    if "signature" not in obj or obj["signature"] is None:
        return None
    sig = _obj(obj["signature"], f"{where}.signature")
    y_parity = _q(sig, "yParity", f"{where}.signature", 2)
    return Signature(_q(sig, "r", f"{where}.signature"), _q(sig, "s", f"{where}.signature"), y_parity)


# -- messages -----------------------------------------------------------------------------------
def decode_message(text: str | bytes) -> Message:
    """Decode one feed message (see the module docstring); raises :class:`Malformed`."""
    message = decode_stream_message(text)
    if isinstance(message, ReorgMessage):
        _bad("message.type", "a reorg is a stream event, not a chain message")
    return message


def decode_stream_message(text: str | bytes) -> Message | ReorgMessage:
    """Like :func:`decode_message`, also taking a devnet feed's ``reorg``."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        _bad("message", f"not JSON: {str(exc)[:100]}")
    message = _obj(value, "message")
    version = message.get("version")
    if version != WIRE_VERSION:
        _bad("version", f"unsupported feed version {_show(version)} (this verifier speaks {WIRE_VERSION})")
    seq = _field(message, "seq", "message")
    if type(seq) is not int or not 0 <= seq < U64:
        _bad("message.seq", f"expected a non-negative integer, got {_show(seq)}")
    kind = _field(message, "type", "message")
    if kind == "miniBlock":
        return _mini_block(seq, _obj(_field(message, "miniBlock", "message"), "miniBlock"))
    if kind == "block":
        return _block(seq, _obj(_field(message, "block", "message"), "block"))
    if kind == "reorg":
        body = _obj(_field(message, "reorg", "message"), "reorg")
        to_block = _q(body, "toBlock", "reorg", U64) if "toBlock" in body else None
        return ReorgMessage(seq, to_block, _q(body, "rollbacks", "reorg", U64))
    if kind == "genesis":
        body = _obj(_field(message, "genesis", "message"), "genesis")
        return GenesisMessage(seq, _d(body, "hash", "genesis", 32), _d(body, "header", "genesis"))
    _bad("message.type", f"expected genesis, miniBlock or block, got {_show(kind)}")


def _env(value: Any) -> Env:
    env = _obj(value, "miniBlock.env")
    w = "miniBlock.env"
    return Env(
        _q(env, "number", w, U64),
        _q(env, "timestamp", w, U64),
        _d(env, "parentHash", w, 32),
        _q(env, "baseFee", w),
        _q(env, "gasLimit", w, U64),
        _d(env, "coinbase", w, 20),
        _d(env, "prevRandao", w, 32),
    )


def _receipt(value: Any, i: int) -> ClaimedReceipt:
    w = f"miniBlock.receipts[{i}]"
    r = _obj(value, w)
    logs = []
    for j, item in enumerate(_list(_field(r, "logs", w), f"{w}.logs")):
        lw = f"{w}.logs[{j}]"
        entry = _obj(item, lw)
        topics = _list(_field(entry, "topics", lw), f"{lw}.topics", MAX_TOPICS)
        logs.append(
            LogEntry(
                _d(entry, "address", lw, 20),
                tuple(_data(t, f"{lw}.topics[{k}]", 32) for k, t in enumerate(topics)),
                _d(entry, "data", lw),
            )
        )
    contract = _field(r, "contractAddress", w)
    deposit_nonce = _q(r, "depositNonce", w, U64) if "depositNonce" in r else None
    return ClaimedReceipt(
        tx_hash=_d(r, "transactionHash", w, 32),
        tx_type=_q(r, "type", w, 0x80),
        status=_q(r, "status", w, 2),
        gas_used=_q(r, "gasUsed", w, U64),
        cumulative_gas_used=_q(r, "cumulativeGasUsed", w, U64),
        effective_gas_price=_q(r, "effectiveGasPrice", w),
        contract_address=None if contract is None else _data(contract, f"{w}.contractAddress", 20),
        tx_index=_q(r, "transactionIndex", w, U64),
        first_log_index=_q(r, "firstLogIndex", w, U64),
        logs=tuple(logs),
        deposit_nonce=deposit_nonce,
    )


def _account(value: Any, i: int) -> AccountChange:
    w = f"miniBlock.stateDiff[{i}]"
    a = _obj(value, w)
    storage = []
    for j, pair in enumerate(_list(_field(a, "storage", w), f"{w}.storage")):
        pw = f"{w}.storage[{j}]"
        items = _list(pair, pw)
        if len(items) != 2:
            _bad(pw, f"expected [slot, value], got {len(items)} items")
        storage.append((_quantity(items[0], f"{pw}[0]"), _quantity(items[1], f"{pw}[1]")))
    code = _field(a, "code", w)
    deleted = _field(a, "deleted", w)
    if type(deleted) is not bool:
        _bad(f"{w}.deleted", f"expected true or false, got {_show(deleted)}")
    return AccountChange(
        address=_d(a, "address", w, 20),
        nonce=_q(a, "nonce", w, U64),
        balance=_q(a, "balance", w),
        code_hash=_d(a, "codeHash", w, 32),
        code=None if code is None else _data(code, f"{w}.code"),
        storage=tuple(storage),
        deleted=deleted,
    )


def _mini_block(seq: int, mb: dict[str, Any]) -> MiniBlockMessage:
    w = "miniBlock"
    return MiniBlockMessage(
        seq=seq,
        number=_q(mb, "number", w, U64),
        block_number=_q(mb, "blockNumber", w, U64),
        index=_q(mb, "index", w, U64),
        timestamp_us=_q(mb, "timestampUs", w, U64),
        hash=_d(mb, "hash", w, 32),
        parent_hash=_d(mb, "parentHash", w, 32),
        env=_env(_field(mb, "env", w)),
        gas_used=_q(mb, "gasUsed", w, U64),
        transactions=tuple(
            _data(t, f"{w}.transactions[{i}]") for i, t in enumerate(_list(_field(mb, "transactions", w), w))
        ),
        receipts=tuple(_receipt(r, i) for i, r in enumerate(_list(_field(mb, "receipts", w), w))),
        state_diff=tuple(_account(a, i) for i, a in enumerate(_list(_field(mb, "stateDiff", w), w))),
        signature=_signature(mb, w),
        dev_edits=_dev_edits(mb["devEdits"]) if "devEdits" in mb else (),
    )


def _dev_edits(value: Any) -> tuple[DevEditClaim, ...]:
    w = "miniBlock.devEdits"
    items = _list(value, w)
    if not items:
        _bad(w, "an empty list (the field is absent when a mini-block has no dev edits)")
    out = []
    for i, item in enumerate(items):
        ew = f"{w}[{i}]"
        edit = _obj(item, ew)
        kind = _field(edit, "kind", ew)
        if kind not in DEV_EDIT_KINDS:
            _bad(f"{ew}.kind", f"expected one of {', '.join(DEV_EDIT_KINDS)}, got {_show(kind)}")
        typed: int | bytes
        if kind == "code":
            typed = _d(edit, "value", ew)
        elif kind == "impersonated":
            typed = _d(edit, "value", ew, 32)
        else:
            typed = _q(edit, "value", ew, U64 if kind == "nonce" else U256)
        slot = _field(edit, "slot", ew)
        if kind == "storage":
            slot_number: int | None = _quantity(slot, f"{ew}.slot")
        elif slot is not None:
            _bad(f"{ew}.slot", f"expected null for a {kind} edit, got {_show(slot)}")
        else:
            slot_number = None
        out.append(DevEditClaim(kind, _d(edit, "address", ew, 20), typed, slot_number))
    return tuple(out)


def impersonated_senders(mb: MiniBlockMessage) -> dict[bytes, bytes]:
    """A devnet mini-block's impersonated senders, by transaction hash (checked against its
    transactions before it is re-executed)."""
    return {
        e.value: e.address for e in mb.dev_edits if e.kind == "impersonated" and isinstance(e.value, bytes)
    }


def _block(seq: int, b: dict[str, Any]) -> BlockMessage:
    w = "block"
    return BlockMessage(
        seq=seq,
        number=_q(b, "number", w, U64),
        hash=_d(b, "hash", w, 32),
        header=_d(b, "header", w),
        first_mini_block=_q(b, "firstMiniBlock", w, U64),
        mini_block_count=_q(b, "miniBlockCount", w, U64),
        transactions=tuple(
            _data(t, f"{w}.transactions[{i}]", 32)
            for i, t in enumerate(_list(_field(b, "transactions", w), f"{w}.transactions"))
        ),
        signature=_signature(b, w),
    )


def decode_state_diff(text: str | bytes) -> tuple[int, tuple[AccountChange, ...]]:
    """A ``miniBlock`` message's gas used and state diff only (for a worker process applying a
    mini-block it does not re-execute; the main process decoded the whole message already)."""
    mb = _obj(_field(_obj(orjson.loads(text), "message"), "miniBlock", "message"), "miniBlock")
    diff = _list(_field(mb, "stateDiff", "miniBlock"), "miniBlock")
    return _q(mb, "gasUsed", "miniBlock", U64), tuple(_account(a, i) for i, a in enumerate(diff))
