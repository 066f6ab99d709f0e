"""Chain and node configuration: parsed from TOML, validated, frozen.

A bad config raises :class:`~sequencer.errors.ConfigError` naming the key and the problem,
e.g. ``blocks.mini_block_interval_ms: must be between 1 and 60000, got 0``.

Settings given beside the file (command-line flags) are :class:`Override` values at TOML key
paths, merged into the decoded document *before* validation: every rule lives once, here, and
checks a flag exactly as it checks the file. An error about an overridden key also says where
the value came from, e.g. ``admin.token: must be at least 16 characters (set by --admin-token)``.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sequencer.devfault import DevFault
from sequencer.errors import ConfigError
from sequencer.presets import preset_text

SUPPORTED_FORKS = ("prague",)
PORT_RANGE = (0, 65535)
MINI_BLOCK_INTERVAL_MS_RANGE = (1, 60_000)
EVM_BLOCK_INTERVAL_MS_RANGE = (1, 3_600_000)
MAX_GENERATED_ACCOUNTS = 100_000_000
ADMIN_TOKEN_MIN_LENGTH = 16
TX_TIME_BUDGET_MS_RANGE = (1, 60_000)
MAX_DASHBOARD_VERIFIERS = 64
FEED_TOKEN_MIN_LENGTH = 16
FEED_MAX_MESSAGE_BYTES_RANGE = (1024 * 1024, 1024**3)
DEFAULT_FEED_MAX_MESSAGE_BYTES = 64 * 1024 * 1024
DEFAULT_FEED_MAX_FOLLOWERS = 32
DEFAULT_FEED_HISTORY_RATE = 20_000
SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_HEX = re.compile(r"0x(?:[0-9a-fA-F]{2})*")


@dataclass(frozen=True, slots=True)
class GenesisAccount:
    """One prefunded account (or predeployed contract) of the genesis allocation."""

    address: bytes
    balance: int
    nonce: int = 0
    code: bytes = b""
    storage: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True, slots=True)
class SignerPeriod:
    """One entry of the sequencer's signing schedule: from EVM block ``from_block`` on (until
    the next entry's), every mini-block and EVM block is signed by the key of ``address``."""

    from_block: int
    address: bytes


@dataclass(frozen=True, slots=True)
class ChainConfig:
    """Consensus-relevant parameters: every node of one chain must agree on all of them."""

    chain_id: int
    fork: str
    block_gas_limit: int
    initial_base_fee: int
    base_fee_floor: int
    coinbase: bytes
    genesis_timestamp: int | None
    """Unix seconds of block 0; ``None`` (the key left out): the time the data dir is created,
    which the data dir then keeps (:func:`sequencer.builder.startup.open_chain` resolves it)."""
    genesis: tuple[GenesisAccount, ...]
    devnet: bool
    allow_unprotected_txs: bool
    generated_accounts: int = 0
    """Extra genesis accounts funded with ``GENERATED_BALANCE`` each, at addresses derived from
    their index (``--accounts``; for state-size and load tests: nobody holds their keys)."""
    sequencer_signers: tuple[SignerPeriod, ...] = ()
    """The signing schedule, ascending by ``from_block`` (``chain.sequencer_signers``): a key
    rotation is a new entry, effective at an EVM block boundary. Empty: the chain is unsigned."""

    def signer_at(self, block_number: int) -> bytes | None:
        """The address whose key signs EVM block ``block_number`` and its mini-blocks (``None``:
        unsigned, before the schedule's first entry)."""
        signer = None
        for period in self.sequencer_signers:
            if period.from_block > block_number:
                break
            signer = period.address
        return signer


@dataclass(frozen=True, slots=True)
class MempoolConfig:
    """The transaction pool's limits (``[mempool]``) and its journal's compaction threshold."""

    capacity: int = 100_000
    """Pooled transactions in all (ready and queued)."""
    max_queued: int = 10_000
    """Queued (future-nonce) transactions in all, a share of ``capacity`` they cannot exceed."""
    account_cap: int = 500
    """Pooled transactions per sender."""
    max_nonce_gap: int = 64
    """How far ahead of a sender's next nonce a queued transaction may be."""
    queued_lifetime_s: float = 10_800.0
    """A queued transaction older than this is dropped (geth: 3 h)."""
    max_bytes: int = 256 * 1024 * 1024
    """Raw bytes of all pooled transactions together (memory, and the journal's live size)."""
    journal_compact_bytes: int = 64 * 1024 * 1024
    """The journal file is rewritten with the pooled transactions alone once it exceeds this
    and twice their size."""


@dataclass(frozen=True, slots=True)
class RpcPolicy:
    """What the JSON-RPC port allows browsers and real-time clients (the ``[rpc]`` table)."""

    cors_origins: tuple[str, ...] = ()
    """Origins browsers may call the RPC from (``"*"``: any); none: no CORS headers."""
    ws_origins: tuple[str, ...] | None = None
    """Origins a WebSocket upgrade may come from (``None``: the CORS origins). A request without
    an ``Origin`` header (not a browser) is always allowed."""
    realtime_timeout_ms: int = 5_000
    """``realtime_sendRawTransaction``'s default wait (MegaETH's node default)."""
    realtime_max_timeout_ms: int = 10_000
    """The longest wait a ``realtime_sendRawTransaction`` caller may ask for."""
    max_logs_per_response: int = 10_000
    """``eth_getLogs`` answers at most this many logs (geth's 10,000); ``eth_getLogsWithCursor``
    pages at it."""
    max_response_bytes: int = 25 * 1024 * 1024
    """The largest answer, and the largest batch of answers (geth's 25 MB): beyond it ``-32005``;
    ``eth_getLogs`` refuses, and ``eth_getLogsWithCursor`` pages, at about this size."""

    def allows_ws_origin(self, origin: str | None) -> bool:
        """Whether a WebSocket upgrade with this ``Origin`` header is accepted."""
        if origin is None:
            return True
        allowed = self.cors_origins if self.ws_origins is None else self.ws_origins
        return "*" in allowed or origin in allowed


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """How many connections every port accepts, and how long it waits for them (``[rpc]``)."""

    max_connections: int = 2_000
    """Open connections per port; beyond it a new one is answered 503 and closed. Clipped at
    start-up to what the process's file-descriptor limit allows."""
    max_per_ip: int = 500
    """Open connections per client address, per port."""
    idle_timeout_s: float = 30.0
    """A connection that has not sent a complete request's headers (slowloris), or sits idle
    between requests, for this long is closed (geth's read-header timeout is 30 s)."""
    body_timeout_s: float = 30.0
    """The longest a request body may take to arrive (HTTP 408 after)."""


@dataclass(frozen=True, slots=True)
class CallLimits:
    """How simulated calls (``eth_call``, ``eth_estimateGas``, ...) are bounded (``[rpc]``)."""

    gas_cap: int = 50_000_000
    """The most gas one call may use (geth's ``RPCGasCap``); larger or missing ``gas`` is capped."""
    timeout_ms: int = 5_000
    """Wall-clock deadline per call (geth's ``RPCEVMTimeout``): beyond it the call is aborted."""
    workers: int = 2
    """Worker processes running calls off the event loop (0: inline, no deadline)."""
    memory_mb: int = 1024
    """Heap cap of each call worker (``RLIMIT_DATA``)."""


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """Operational parameters of one sequencer process."""

    chain: ChainConfig
    mini_block_interval_ms: float
    evm_block_interval_ms: float
    max_txs_per_mini_block: int
    rpc_host: str
    rpc_port: int
    rpc_max_body_bytes: int = 5 * 1024 * 1024
    rpc_max_batch: int = 1000
    rpc_ingress_workers: int = 1
    """Worker processes decoding batched transactions (0: decode everything inline)."""
    rpc_frontends: int = 0
    """Front-end processes owning the RPC port (``SO_REUSEPORT``) and the accept path; 0: the
    executor serves the port itself (``frontend/``)."""
    rpc_max_ws_subscriptions: int = 100
    rpc_max_ws_subscriptions_per_ip: int = 1_000
    """Subscriptions one client address may hold over all its WebSocket connections."""
    rpc_max_filters: int = 10_000
    rpc_max_filters_per_ip: int = 1_000
    """Polling filters one client address may have installed."""
    rpc_max_logs_block_range: int = 10_000
    rpc_policy: RpcPolicy = RpcPolicy()
    rpc_calls: CallLimits = CallLimits()
    connections: ConnectionLimits = ConnectionLimits()
    feed_host: str = "127.0.0.1"
    feed_port: int = 8546
    feed_token: str | None = field(default=None, repr=False)  # a secret: never in a repr or a log
    """Followers must send ``Authorization: Bearer TOKEN`` (``feed.token``); ``None``: open."""
    feed_tls_cert: str | None = None
    feed_tls_key: str | None = None
    """Serve the feed as ``wss://`` with this certificate chain and key (PEM paths)."""
    feed_max_followers: int = DEFAULT_FEED_MAX_FOLLOWERS
    feed_max_message_bytes: int = DEFAULT_FEED_MAX_MESSAGE_BYTES
    """The largest feed message the node sends; followers set their own limit to it."""
    feed_history_rate: int = DEFAULT_FEED_HISTORY_RATE
    """Messages per second one follower is served from disk (0: unlimited)."""
    signing_keys: tuple[bytes, ...] = field(default=(), repr=False)  # secrets
    """Inline sequencer signing keys (``signing.keys``, devnet only)."""
    signing_key_files: tuple[str, ...] = ()
    """Files holding a sequencer signing key each, ``0x``-hex (``signing.key_files``)."""
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = None
    admin_host: str = "127.0.0.1"
    admin_port: int | None = None
    admin_token: str | None = field(default=None, repr=False)  # a secret: never in a repr or a log
    admin_allowed_hosts: tuple[str, ...] = ("localhost", "127.0.0.1", "::1")
    """``Host`` header names the admin port answers (geth's ``--authrpc.vhosts``): a page that
    reaches it by DNS rebinding sends its own name and is refused; ``"*"`` allows any."""
    dev_fault: DevFault | None = None
    """The feed fire drill to arm (``--dev-fault``); only ever set on a devnet."""
    tx_time_budget_ms: float = 150.0
    """A transaction whose execution runs longer is aborted and dropped (``[execution]``)."""
    max_tx_gas: int = 16_777_216
    """The largest gas limit a transaction may carry (EIP-7825's cap; ``[execution]``)."""
    abort_cooldown_s: float = 60.0
    """A sender whose transaction was aborted for its time budget is refused this long."""
    mempool: MempoolConfig = field(default_factory=MempoolConfig)
    storage_segment_bytes: int = 256 * 1024 * 1024
    """The block log starts a new segment file beyond this size (``[storage]``)."""
    dashboard_enabled: bool = False
    """Serve the read-only live dashboard (``/dashboard/``)."""
    dashboard_host: str = "127.0.0.1"
    dashboard_port: int | None = None
    """Its own port; ``None``: the dashboard is served on the JSON-RPC port."""
    dashboard_verifiers: tuple[str, ...] = ()
    """Verifier status URLs (``http://HOST:PORT`` of ``verifier run --status-port``) the
    dashboard polls for their height, lag and verdict."""


@dataclass(frozen=True, slots=True)
class Override:
    """One setting given beside the config file, e.g. by a command-line flag.

    It is set at ``key`` in the decoded document before validation, so the file's rules check
    it; an error naming ``key`` also names ``source``.
    """

    key: str
    """Dotted TOML key path, e.g. ``"rpc.port"`` or ``"blocks.evm_block_interval_ms"``."""
    value: Any
    source: str | None = None
    """Where the value came from, named in errors (e.g. ``"--rpc-port"``); None names nothing."""

    def __post_init__(self) -> None:
        if "" in self.key.split("."):
            raise ValueError(f"not a dotted TOML key path: {self.key!r}")


def _merge_overrides(data: dict[str, Any], overrides: Iterable[Override]) -> dict[str, Any]:
    """``data`` with each override's value set at its key path, later ones winning.

    Tables on the way are created when missing and copied, never changed: ``data`` itself is
    left as it was.
    """
    merged = dict(data)
    for override in overrides:
        *tables, leaf = override.key.split(".")
        table = merged
        for depth, name in enumerate(tables, 1):
            inner = table.get(name, {})
            if not isinstance(inner, dict):
                raise ConfigError(f"{override.key}: cannot be set, {'.'.join(tables[:depth])} is not a table")
            copied = dict(inner)
            table[name] = copied
            table = copied
        table[leaf] = override.value
    return merged


def _blame(error: ConfigError, overrides: Sequence[Override]) -> ConfigError:
    """``error`` saying which of the keys it names were overridden, and from where."""
    message = str(error)
    sources = {o.key: o.source for o in overrides}  # the last override of a key is the one in effect
    mentions: list[tuple[int, str, str]] = []
    for key, source in sources.items():
        found = re.search(rf"(?<![\w.]){re.escape(key)}(?!\.?\w)", message)
        if source and found:
            mentions.append((found.start(), key, source))
    if not mentions:
        return error
    named = {key: source for _, key, source in sorted(mentions)}
    subject = message.partition(":")[0]
    if list(named) == [subject]:
        note = f"set by {named[subject]}"
    else:
        note = ", ".join(f"{key} set by {source}" for key, source in named.items())
    return ConfigError(f"{message} ({note})")


def _get(table: dict[str, Any], key: str, path: str, kind: type | tuple[type, ...]) -> Any:
    if key not in table:
        raise ConfigError(f"{path}.{key}: missing required key")
    value = table[key]
    if (
        isinstance(value, bool)
        and kind is not bool
        and bool not in (kind if isinstance(kind, tuple) else (kind,))
    ):
        raise ConfigError(f"{path}.{key}: expected {_kind_name(kind)}, got a boolean")
    if not isinstance(value, kind):
        raise ConfigError(f"{path}.{key}: expected {_kind_name(kind)}, got {type(value).__name__}")
    return value


def _opt(table: dict[str, Any], key: str, path: str, kind: type | tuple[type, ...], default: Any) -> Any:
    if key not in table:
        return default
    return _get(table, key, path, kind)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    if isinstance(kind, tuple):
        return " or ".join(k.__name__ for k in kind)
    return kind.__name__


def _int_value(raw: Any, where: str) -> int:
    """Accept TOML integers and decimal or 0x-hex strings (balances exceed TOML's int64)."""
    if isinstance(raw, bool):
        raise ConfigError(f"{where}: expected an integer, got a boolean")
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, str):
        try:
            value = int(raw, 16) if raw.lower().startswith("0x") else int(raw, 10)
        except ValueError:
            raise ConfigError(f"{where}: not an integer: {raw!r}") from None
    else:
        raise ConfigError(f"{where}: expected an integer or a string, got {type(raw).__name__}")
    if value < 0:
        raise ConfigError(f"{where}: must not be negative, got {value}")
    if value >= 2**256:
        raise ConfigError(f"{where}: does not fit in 256 bits")
    return value


def _address(raw: Any, where: str) -> bytes:
    if not isinstance(raw, str) or not _ADDRESS.fullmatch(raw):
        raise ConfigError(f"{where}: expected a 0x-prefixed 20-byte hex address, got {raw!r}")
    return bytes.fromhex(raw[2:])


def _hex_bytes(raw: Any, where: str) -> bytes:
    if not isinstance(raw, str) or not _HEX.fullmatch(raw):
        raise ConfigError(f"{where}: expected 0x-prefixed hex bytes, got {raw!r}")
    return bytes.fromhex(raw[2:])


def _in_range(value: float, lo: float, hi: float, where: str) -> None:
    if not lo <= value <= hi:
        raise ConfigError(f"{where}: must be between {_num(lo)} and {_num(hi)}, got {_num(value)}")


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _parse_genesis(chain: dict[str, Any]) -> tuple[GenesisAccount, ...]:
    alloc = _get(chain, "genesis", "chain", dict)
    accounts: list[GenesisAccount] = []
    seen: set[bytes] = set()
    for key, entry in alloc.items():
        where = f"chain.genesis.{key!s}"
        address = _address(key, where)
        if address in seen:
            raise ConfigError(f"{where}: duplicate address")
        seen.add(address)
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: expected a table with a balance, got {type(entry).__name__}")
        unknown = set(entry) - {"balance", "nonce", "code", "storage"}
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        balance = _int_value(entry.get("balance", 0), f"{where}.balance")
        nonce = _int_value(entry.get("nonce", 0), f"{where}.nonce")
        if nonce >= 2**64 - 1:
            raise ConfigError(f"{where}.nonce: must be below 2**64-1")
        code = _hex_bytes(entry["code"], f"{where}.code") if "code" in entry else b""
        storage_raw = entry.get("storage", {})
        if not isinstance(storage_raw, dict):
            raise ConfigError(f"{where}.storage: expected a table of slot = value")
        storage = tuple(
            sorted(
                (_int_value(k, f"{where}.storage.{k}"), _int_value(v, f"{where}.storage.{k}"))
                for k, v in storage_raw.items()
            )
        )
        accounts.append(GenesisAccount(address, balance, nonce, code, storage))
    accounts.sort(key=lambda a: a.address)
    return tuple(accounts)


RPC_POLICY_KEYS = (
    "cors_origins",
    "ws_origins",
    "realtime_timeout_ms",
    "realtime_max_timeout_ms",
    "max_logs_per_response",
    "max_response_bytes",
)
CONNECTION_LIMIT_KEYS = ("max_connections", "max_connections_per_ip", "idle_timeout_s", "body_timeout_s")
CALL_LIMIT_KEYS = ("gas_cap", "call_timeout_ms", "call_workers", "call_memory_mb")
_KNOWN_KEYS = {
    "chain": {
        "chain_id",
        "fork",
        "block_gas_limit",
        "base_fee",
        "coinbase",
        "genesis_timestamp",
        "genesis",
        "devnet",
        "allow_unprotected_txs",
        "generated_accounts",
        "sequencer_signers",
    },
    "chain.base_fee": {"initial", "floor"},
    "blocks": {"mini_block_interval_ms", "evm_block_interval_ms", "max_txs_per_mini_block"},
    "rpc": {
        "host",
        "port",
        "max_body_bytes",
        "max_batch",
        "max_ws_subscriptions",
        "max_logs_block_range",
        "ingress_workers",
        "frontends",
        "max_ws_subscriptions_per_ip",
        "max_filters",
        "max_filters_per_ip",
        *RPC_POLICY_KEYS,
        *CALL_LIMIT_KEYS,
        *CONNECTION_LIMIT_KEYS,
    },
    "execution": {"tx_time_budget_ms", "max_tx_gas", "abort_cooldown_s"},
    "storage": {"segment_bytes"},
    "mempool": {
        "capacity",
        "max_queued",
        "account_cap",
        "max_nonce_gap",
        "queued_lifetime_s",
        "max_bytes",
        "journal_compact_bytes",
    },
    "feed": {
        "host",
        "port",
        "token",
        "tls_cert",
        "tls_key",
        "max_followers",
        "max_message_bytes",
        "history_rate",
    },
    "signing": {"keys", "key_files"},
    "metrics": {"host", "port"},
    "admin": {"host", "port", "token", "allowed_hosts"},
    "dashboard": {"enabled", "host", "port", "verifiers"},
}


def _origins(rpc: dict[str, Any], key: str) -> tuple[str, ...] | None:
    raw = _opt(rpc, key, "rpc", list, None)
    if raw is None:
        return None
    if not all(isinstance(o, str) and o for o in raw):
        raise ConfigError(f'rpc.{key}: expected a list of origins like "https://app.example" or "*"')
    return tuple(raw)


def _parse_rpc_policy(rpc: dict[str, Any]) -> RpcPolicy:
    realtime = _opt(rpc, "realtime_timeout_ms", "rpc", int, 5_000)
    _in_range(realtime, 1, 600_000, "rpc.realtime_timeout_ms")
    realtime_max = _opt(rpc, "realtime_max_timeout_ms", "rpc", int, 10_000)
    _in_range(realtime_max, 1, 600_000, "rpc.realtime_max_timeout_ms")
    if realtime > realtime_max:
        raise ConfigError("rpc.realtime_timeout_ms: must not be above rpc.realtime_max_timeout_ms")
    max_logs = _opt(rpc, "max_logs_per_response", "rpc", int, 10_000)
    _in_range(max_logs, 1, 1_000_000, "rpc.max_logs_per_response")
    max_bytes = _opt(rpc, "max_response_bytes", "rpc", int, 25 * 1024 * 1024)
    _in_range(max_bytes, 64 * 1024, 2**31, "rpc.max_response_bytes")
    return RpcPolicy(
        max_logs_per_response=max_logs,
        max_response_bytes=max_bytes,
        cors_origins=_origins(rpc, "cors_origins") or (),
        ws_origins=_origins(rpc, "ws_origins"),
        realtime_timeout_ms=realtime,
        realtime_max_timeout_ms=realtime_max,
    )


def _parse_call_limits(rpc: dict[str, Any]) -> CallLimits:
    gas_cap = _opt(rpc, "gas_cap", "rpc", int, 50_000_000)
    _in_range(gas_cap, 21_000, 10**12, "rpc.gas_cap")
    timeout = _opt(rpc, "call_timeout_ms", "rpc", int, 5_000)
    _in_range(timeout, 1, 600_000, "rpc.call_timeout_ms")
    workers = _opt(rpc, "call_workers", "rpc", int, 2)
    _in_range(workers, 0, 64, "rpc.call_workers")
    memory = _opt(rpc, "call_memory_mb", "rpc", int, 1024)
    _in_range(memory, 256, 1_048_576, "rpc.call_memory_mb")
    return CallLimits(gas_cap=gas_cap, timeout_ms=timeout, workers=workers, memory_mb=memory)


def _parse_connection_limits(rpc: dict[str, Any]) -> ConnectionLimits:
    total = _opt(rpc, "max_connections", "rpc", int, 2_000)
    _in_range(total, 1, 1_000_000, "rpc.max_connections")
    per_ip = _opt(rpc, "max_connections_per_ip", "rpc", int, 500)
    _in_range(per_ip, 1, 1_000_000, "rpc.max_connections_per_ip")
    idle = float(_opt(rpc, "idle_timeout_s", "rpc", (int, float), 30))
    _in_range(idle, 0.1, 86_400, "rpc.idle_timeout_s")
    body = float(_opt(rpc, "body_timeout_s", "rpc", (int, float), 30))
    _in_range(body, 0.1, 86_400, "rpc.body_timeout_s")
    return ConnectionLimits(
        max_connections=total, max_per_ip=per_ip, idle_timeout_s=idle, body_timeout_s=body
    )


def _check_known_keys(data: dict[str, Any]) -> None:
    for path, known in _KNOWN_KEYS.items():
        table: Any = data
        for part in path.split("."):
            table = table.get(part, {}) if isinstance(table, dict) else {}
        if isinstance(table, dict):
            unknown = set(table) - known
            if unknown:
                raise ConfigError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}")


def _parse_signers(chain: dict[str, Any]) -> tuple[SignerPeriod, ...]:
    """``chain.sequencer_signers = [{address = "0x...", from_block = N}, ...]``, ascending."""
    entries = _opt(chain, "sequencer_signers", "chain", list, [])
    periods: list[SignerPeriod] = []
    for i, entry in enumerate(entries):
        where = f"chain.sequencer_signers: entry {i}"
        if not isinstance(entry, dict):
            raise ConfigError(
                f"{where}: expected a table {{address, from_block}}, got {type(entry).__name__}"
            )
        unknown = set(entry) - {"address", "from_block"}
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        if "address" not in entry:
            raise ConfigError(f"{where}: address: missing required key")
        address = _address(entry["address"], f"{where}: address")
        from_block = _int_value(entry.get("from_block", 0), f"{where}: from_block")
        if periods and from_block <= periods[-1].from_block:
            previous = periods[-1].from_block
            raise ConfigError(f"{where}: from_block must be above the previous entry's ({previous})")
        periods.append(SignerPeriod(from_block, address))
    return tuple(periods)


def _parse_signing(data: dict[str, Any], devnet: bool) -> tuple[tuple[bytes, ...], tuple[str, ...]]:
    """``[signing] keys = ["0x..."]`` (devnet only) and ``key_files = ["path", ...]``; the
    files are read by the node at start, not here (a verifier reads the same config)."""
    signing = _opt(data, "signing", "<root>", dict, {})
    raw_keys = _opt(signing, "keys", "signing", list, [])
    if raw_keys and not devnet:
        raise ConfigError(
            "signing.keys: inline keys are refused unless chain.devnet = true; use signing.key_files"
        )
    keys = []
    for i, raw in enumerate(raw_keys):
        key = _hex_bytes(raw, f"signing.keys: entry {i}")
        if len(key) != 32 or not 0 < int.from_bytes(key, "big") < SECP256K1_ORDER:
            raise ConfigError(
                f"signing.keys: entry {i}: not a secp256k1 private key (32 bytes, below the group order)"
            )
        keys.append(key)
    files = _opt(signing, "key_files", "signing", list, [])
    for i, path in enumerate(files):
        if not isinstance(path, str) or not path:
            raise ConfigError(f"signing.key_files: entry {i}: expected a file path")
    return tuple(keys), tuple(files)


def _generated_accounts(count: int) -> int:
    _in_range(count, 0, MAX_GENERATED_ACCOUNTS, "chain.generated_accounts")
    return count


def parse_config(
    data: dict[str, Any], *, overrides: Iterable[Override] = (), dev_fault: DevFault | None = None
) -> NodeConfig:
    """Validate a decoded TOML document, with ``overrides`` merged in, and build a :class:`NodeConfig`.

    ``dev_fault`` is refused unless the chain is a devnet. ``data`` is not changed.
    """
    given = tuple(overrides)
    try:
        return _validate(_merge_overrides(data, given), dev_fault)
    except ConfigError as exc:
        blamed = _blame(exc, given)
        if blamed is exc:
            raise
        raise blamed from None


def _validate(data: dict[str, Any], dev_fault: DevFault | None) -> NodeConfig:
    sections = {
        "chain",
        "blocks",
        "rpc",
        "feed",
        "execution",
        "mempool",
        "storage",
        "metrics",
        "admin",
        "dashboard",
        "signing",
    }
    unknown = set(data) - sections
    if unknown:
        raise ConfigError(f"<root>: unknown section(s) {', '.join(sorted(unknown))}")
    _check_known_keys(data)
    chain = _get(data, "chain", "<root>", dict)
    fork = _get(chain, "fork", "chain", str).lower()
    if fork not in SUPPORTED_FORKS:
        raise ConfigError(f"chain.fork: unsupported fork {fork!r}; supported: {', '.join(SUPPORTED_FORKS)}")
    chain_id = _get(chain, "chain_id", "chain", int)
    _in_range(chain_id, 1, 2**63 - 1, "chain.chain_id")
    gas_limit = _get(chain, "block_gas_limit", "chain", int)
    _in_range(gas_limit, 5000, 2**63 - 1, "chain.block_gas_limit")
    fees = _opt(chain, "base_fee", "chain", dict, {})
    initial_base_fee = _int_value(fees.get("initial", 1_000_000_000), "chain.base_fee.initial")
    floor = _int_value(fees.get("floor", 0), "chain.base_fee.floor")
    if initial_base_fee < floor:
        raise ConfigError("chain.base_fee.initial: must not be below chain.base_fee.floor")
    coinbase = _address(_opt(chain, "coinbase", "chain", str, "0x" + "00" * 20), "chain.coinbase")
    raw_timestamp = _opt(chain, "genesis_timestamp", "chain", int, None)
    genesis_timestamp = (
        None if raw_timestamp is None else _int_value(raw_timestamp, "chain.genesis_timestamp")
    )
    chain_cfg = ChainConfig(
        chain_id=chain_id,
        fork=fork,
        block_gas_limit=gas_limit,
        initial_base_fee=initial_base_fee,
        base_fee_floor=floor,
        coinbase=coinbase,
        genesis_timestamp=genesis_timestamp,
        genesis=_parse_genesis(chain),
        devnet=_opt(chain, "devnet", "chain", bool, False),
        allow_unprotected_txs=_opt(chain, "allow_unprotected_txs", "chain", bool, False),
        generated_accounts=_generated_accounts(_opt(chain, "generated_accounts", "chain", int, 0)),
        sequencer_signers=_parse_signers(chain),
    )

    blocks = _opt(data, "blocks", "<root>", dict, {})
    mini_ms = float(_opt(blocks, "mini_block_interval_ms", "blocks", (int, float), 10))
    _in_range(mini_ms, *MINI_BLOCK_INTERVAL_MS_RANGE, "blocks.mini_block_interval_ms")
    evm_ms = float(_opt(blocks, "evm_block_interval_ms", "blocks", (int, float), 1000))
    _in_range(evm_ms, *EVM_BLOCK_INTERVAL_MS_RANGE, "blocks.evm_block_interval_ms")
    if evm_ms < mini_ms:
        raise ConfigError(
            "blocks.evm_block_interval_ms: must not be shorter than blocks.mini_block_interval_ms"
        )
    max_txs = _opt(blocks, "max_txs_per_mini_block", "blocks", int, 2000)
    _in_range(max_txs, 1, 1_000_000, "blocks.max_txs_per_mini_block")

    rpc = _opt(data, "rpc", "<root>", dict, {})
    host = _opt(rpc, "host", "rpc", str, "127.0.0.1")
    port = _opt(rpc, "port", "rpc", int, 8545)
    _in_range(port, *PORT_RANGE, "rpc.port")
    max_body = _opt(rpc, "max_body_bytes", "rpc", int, 5 * 1024 * 1024)
    _in_range(max_body, 1024, 1024**3, "rpc.max_body_bytes")
    max_batch = _opt(rpc, "max_batch", "rpc", int, 1000)
    _in_range(max_batch, 1, 100_000, "rpc.max_batch")
    ingress_workers = _opt(rpc, "ingress_workers", "rpc", int, 1)
    _in_range(ingress_workers, 0, 64, "rpc.ingress_workers")
    frontends = _opt(rpc, "frontends", "rpc", int, 0)
    _in_range(frontends, 0, 64, "rpc.frontends")
    max_subs = _opt(rpc, "max_ws_subscriptions", "rpc", int, 100)
    _in_range(max_subs, 1, 100_000, "rpc.max_ws_subscriptions")
    subs_per_ip = _opt(rpc, "max_ws_subscriptions_per_ip", "rpc", int, 1_000)
    _in_range(subs_per_ip, 1, 10_000_000, "rpc.max_ws_subscriptions_per_ip")
    max_filters = _opt(rpc, "max_filters", "rpc", int, 10_000)
    _in_range(max_filters, 1, 10_000_000, "rpc.max_filters")
    filters_per_ip = _opt(rpc, "max_filters_per_ip", "rpc", int, 1_000)
    _in_range(filters_per_ip, 1, 10_000_000, "rpc.max_filters_per_ip")
    max_range = _opt(rpc, "max_logs_block_range", "rpc", int, 10_000)
    _in_range(max_range, 1, 10_000_000, "rpc.max_logs_block_range")

    feed = _opt(data, "feed", "<root>", dict, {})
    feed_host = _opt(feed, "host", "feed", str, "127.0.0.1")
    feed_port = _opt(feed, "port", "feed", int, 8546)
    _in_range(feed_port, *PORT_RANGE, "feed.port")
    feed_token = _opt(feed, "token", "feed", str, None)
    if feed_token is not None and len(feed_token) < FEED_TOKEN_MIN_LENGTH:
        raise ConfigError(f"feed.token: must be at least {FEED_TOKEN_MIN_LENGTH} characters")
    feed_tls_cert = _opt(feed, "tls_cert", "feed", str, None)
    feed_tls_key = _opt(feed, "tls_key", "feed", str, None)
    if (feed_tls_cert is None) != (feed_tls_key is None):
        raise ConfigError("feed.tls_cert: feed.tls_cert and feed.tls_key go together (both or neither)")
    feed_max_followers = _opt(feed, "max_followers", "feed", int, DEFAULT_FEED_MAX_FOLLOWERS)
    _in_range(feed_max_followers, 1, 10_000, "feed.max_followers")
    feed_max_message = _opt(feed, "max_message_bytes", "feed", int, DEFAULT_FEED_MAX_MESSAGE_BYTES)
    _in_range(feed_max_message, *FEED_MAX_MESSAGE_BYTES_RANGE, "feed.max_message_bytes")
    feed_history_rate = _opt(feed, "history_rate", "feed", int, DEFAULT_FEED_HISTORY_RATE)
    _in_range(feed_history_rate, 0, 10_000_000, "feed.history_rate")

    execution = _opt(data, "execution", "<root>", dict, {})
    budget_ms = float(_opt(execution, "tx_time_budget_ms", "execution", (int, float), 150))
    _in_range(budget_ms, *TX_TIME_BUDGET_MS_RANGE, "execution.tx_time_budget_ms")
    max_tx_gas = _opt(execution, "max_tx_gas", "execution", int, 16_777_216)
    _in_range(max_tx_gas, 21_000, 2**63 - 1, "execution.max_tx_gas")
    cooldown = float(_opt(execution, "abort_cooldown_s", "execution", (int, float), 60))
    _in_range(cooldown, 0, 86_400, "execution.abort_cooldown_s")
    mempool_cfg = _mempool(_opt(data, "mempool", "<root>", dict, {}))
    storage = _opt(data, "storage", "<root>", dict, {})
    segment_bytes = _opt(storage, "segment_bytes", "storage", int, 256 * 1024 * 1024)
    _in_range(segment_bytes, 4096, 4 * 1024**3, "storage.segment_bytes")

    metrics = _opt(data, "metrics", "<root>", dict, {})
    metrics_host = _opt(metrics, "host", "metrics", str, "127.0.0.1")
    metrics_port = _opt(metrics, "port", "metrics", int, None)
    if metrics_port is not None:
        _in_range(metrics_port, *PORT_RANGE, "metrics.port")
    admin = _opt(data, "admin", "<root>", dict, {})
    admin_host = _opt(admin, "host", "admin", str, "127.0.0.1")
    admin_port = _opt(admin, "port", "admin", int, None)
    if admin_port is not None:
        _in_range(admin_port, *PORT_RANGE, "admin.port")
    allowed_hosts = _opt(admin, "allowed_hosts", "admin", list, ["localhost", "127.0.0.1", "::1"])
    if not all(isinstance(h, str) and h for h in allowed_hosts):
        raise ConfigError('admin.allowed_hosts: expected a list of host names like "localhost" or "*"')
    admin_token = _opt(admin, "token", "admin", str, None)
    if admin_token is not None and len(admin_token) < ADMIN_TOKEN_MIN_LENGTH:
        raise ConfigError(f"admin.token: must be at least {ADMIN_TOKEN_MIN_LENGTH} characters")
    if dev_fault is not None and not chain_cfg.devnet:
        raise ConfigError("--dev-fault is refused: the chain config is not a devnet (chain.devnet = false)")
    dashboard = _opt(data, "dashboard", "<root>", dict, {})
    dashboard_port = _opt(dashboard, "port", "dashboard", int, None)
    if dashboard_port is not None:
        _in_range(dashboard_port, *PORT_RANGE, "dashboard.port")
    signing_keys, signing_key_files = _parse_signing(data, chain_cfg.devnet)

    return NodeConfig(
        chain=chain_cfg,
        mini_block_interval_ms=mini_ms,
        evm_block_interval_ms=evm_ms,
        max_txs_per_mini_block=max_txs,
        rpc_host=host,
        rpc_port=port,
        rpc_max_body_bytes=max_body,
        rpc_max_batch=max_batch,
        rpc_ingress_workers=ingress_workers,
        rpc_frontends=frontends,
        rpc_max_ws_subscriptions=max_subs,
        rpc_max_ws_subscriptions_per_ip=subs_per_ip,
        rpc_max_filters=max_filters,
        rpc_max_filters_per_ip=filters_per_ip,
        rpc_max_logs_block_range=max_range,
        rpc_policy=_parse_rpc_policy(rpc),
        rpc_calls=_parse_call_limits(rpc),
        connections=_parse_connection_limits(rpc),
        feed_host=feed_host,
        feed_port=feed_port,
        feed_token=feed_token,
        feed_tls_cert=feed_tls_cert,
        feed_tls_key=feed_tls_key,
        feed_max_followers=feed_max_followers,
        feed_max_message_bytes=feed_max_message,
        feed_history_rate=feed_history_rate,
        signing_keys=signing_keys,
        signing_key_files=signing_key_files,
        metrics_host=metrics_host,
        metrics_port=metrics_port,
        admin_host=admin_host,
        admin_port=admin_port,
        admin_token=admin_token,
        admin_allowed_hosts=tuple(h.lower() for h in allowed_hosts),
        dev_fault=dev_fault,
        tx_time_budget_ms=budget_ms,
        max_tx_gas=max_tx_gas,
        abort_cooldown_s=cooldown,
        mempool=mempool_cfg,
        storage_segment_bytes=segment_bytes,
        dashboard_enabled=_opt(dashboard, "enabled", "dashboard", bool, False),
        dashboard_host=_opt(dashboard, "host", "dashboard", str, "127.0.0.1"),
        dashboard_port=dashboard_port,
        dashboard_verifiers=_dashboard_verifiers(_opt(dashboard, "verifiers", "dashboard", list, [])),
    )


def _mempool(table: dict[str, Any]) -> MempoolConfig:
    """The ``[mempool]`` section."""
    default = MempoolConfig()
    capacity = _opt(table, "capacity", "mempool", int, default.capacity)
    _in_range(capacity, 1, 10_000_000, "mempool.capacity")
    max_queued = _opt(table, "max_queued", "mempool", int, default.max_queued)
    _in_range(max_queued, 0, capacity, "mempool.max_queued")
    account_cap = _opt(table, "account_cap", "mempool", int, default.account_cap)
    _in_range(account_cap, 1, capacity, "mempool.account_cap")
    gap = _opt(table, "max_nonce_gap", "mempool", int, default.max_nonce_gap)
    _in_range(gap, 0, 100_000, "mempool.max_nonce_gap")
    lifetime = float(_opt(table, "queued_lifetime_s", "mempool", (int, float), default.queued_lifetime_s))
    _in_range(lifetime, 1, 30 * 86_400, "mempool.queued_lifetime_s")
    max_bytes = _opt(table, "max_bytes", "mempool", int, default.max_bytes)
    _in_range(max_bytes, 1024 * 1024, 64 * 1024**3, "mempool.max_bytes")
    compact = _opt(table, "journal_compact_bytes", "mempool", int, default.journal_compact_bytes)
    _in_range(compact, 64 * 1024, 64 * 1024**3, "mempool.journal_compact_bytes")
    return MempoolConfig(capacity, max_queued, account_cap, gap, lifetime, max_bytes, compact)


def _dashboard_verifiers(urls: list[Any]) -> tuple[str, ...]:
    if len(urls) > MAX_DASHBOARD_VERIFIERS:
        raise ConfigError(f"dashboard.verifiers: at most {MAX_DASHBOARD_VERIFIERS} URLs, got {len(urls)}")
    for i, url in enumerate(urls):
        if not isinstance(url, str) or not re.fullmatch(r"https?://[^\s/]+(/\S*)?", url):
            raise ConfigError(
                f"dashboard.verifiers[{i}]: expected a verifier status URL like http://HOST:PORT, got {url!r}"
            )
    return tuple(url.rstrip("/") for url in urls)


def load_config(
    path: str | Path, *, overrides: Iterable[Override] = (), dev_fault: DevFault | None = None
) -> NodeConfig:
    """Read and validate a TOML config file (``overrides`` and ``dev_fault`` as for :func:`parse_config`)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {p}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {p}: {exc.strerror}") from None
    return loads_config(text, str(p), overrides=overrides, dev_fault=dev_fault)


def load_preset(
    name: str, *, overrides: Iterable[Override] = (), dev_fault: DevFault | None = None
) -> NodeConfig:
    """Validate the shipped config ``name`` (:mod:`sequencer.presets`), e.g. ``devnet`` for ``--dev``."""
    text = preset_text(name)
    return loads_config(text, f"built-in {name} config", overrides=overrides, dev_fault=dev_fault)


def loads_config(
    text: str, source: str, *, overrides: Iterable[Override] = (), dev_fault: DevFault | None = None
) -> NodeConfig:
    """Validate TOML ``text`` read from ``source`` (named in a syntax error)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: invalid TOML: {exc}") from None
    return parse_config(data, overrides=overrides, dev_fault=dev_fault)
