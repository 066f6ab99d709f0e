"""The settlement file (TOML): where a chain settles on L1, and how its sequencer posts there.

``sequencer l1 deploy`` writes it; ``sequencer run --l1`` and ``verifier run --derive --l1`` read
it. The tables ``[l1]``, ``[l2]``, ``[contracts]``, ``[roles]`` and ``[derivation]`` describe the
chain: every sequencer and verifier of it must agree on them (only ``l1.rpc``, the endpoint, is
each operator's own). ``[batcher]`` and ``[proposer]`` are the sequencer's own settings, with
defaults; ``[keys]`` may hold the batcher's and the proposer's private keys (flags and environment
variables are the alternatives, see :mod:`sequencer.settlement.keys`). docs/settlement.md lists
every key.

A bad file raises :class:`~sequencer.errors.ConfigError` naming the file, the key and the problem.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sequencer.errors import ConfigError

_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_HASH = re.compile(r"0x[0-9a-fA-F]{64}")
_KEY = re.compile(r"(0x)?[0-9a-fA-F]{64}")


@dataclass(frozen=True, slots=True)
class L1Settings:
    """The L1: its endpoint, its chain id and the block settlement starts at."""

    rpc: str
    chain_id: int
    start_block: int
    """The L1 block derivation reads from (the SystemConfig's deployment block)."""
    start_block_hash: bytes


@dataclass(frozen=True, slots=True)
class ContractAddresses:
    """Where the contracts are, and the batch inbox (an address, not a contract)."""

    system_config: bytes
    l2_output_oracle: bytes
    batch_inbox: bytes
    portal: bytes | None = None
    """The OptimismPortal (deposits and withdrawals); ``None``: the chain has no bridge."""


@dataclass(frozen=True, slots=True)
class Roles:
    """Who posts batches, proposes outputs and may delete them (as deployed)."""

    batcher: bytes
    proposer: bytes
    challenger: bytes


@dataclass(frozen=True, slots=True)
class DerivationSettings:
    """Rules every node and verifier of the chain applies when reading L1."""

    output_interval_blocks: int
    """L2 blocks between two output roots (the L2OutputOracle's submission interval)."""
    channel_timeout_l1_blocks: int = 50
    """A channel not complete this many L1 blocks after its first frame is dropped."""
    deposit_window_l1_blocks: int = 10
    """A deposit emitted in L1 block N must be in an L2 block whose L1 origin is at most N + this."""


@dataclass(frozen=True, slots=True)
class BatcherSettings:
    """How the sequencer's batcher posts (its own business: not part of the chain's rules)."""

    max_delay_ms: int = 2000
    """Post a channel at the latest this long after its first L2 block was sealed."""
    max_frame_bytes: int = 120_000
    """Frame data per L1 transaction (under the usual 128 KiB transaction size limit)."""
    origin_depth: int = 2
    """L1 blocks behind the L1 head that an L2 block's L1 origin is taken from."""
    max_backlog_blocks: int = 600
    """L2 blocks not yet on L1 (after the safe head) beyond which transactions are refused."""
    resubmit_after_s: float = 12.0
    """Re-send a batch transaction with bumped fees when it is not included this long."""
    min_balance_wei: int = 10**16
    """Below this balance the batcher raises its alarm (health red)."""
    poll_interval_ms: int = 250
    max_pending_txs: int = 16
    """Batch transactions sent but not yet included, at most."""


@dataclass(frozen=True, slots=True)
class ProposerSettings:
    """How the sequencer's proposer posts output roots."""

    poll_interval_ms: int = 500


@dataclass(frozen=True, slots=True)
class KeySettings:
    """Private keys given in the file (flags and environment variables win over these)."""

    batcher: str | None = field(default=None, repr=False)
    proposer: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Settlement:
    """A whole settlement file, validated."""

    l1: L1Settings
    l2_chain_id: int
    l2_genesis_hash: bytes
    l2_genesis_timestamp: int
    """Block 0's timestamp (a config that leaves ``chain.genesis_timestamp`` unset takes it)."""
    contracts: ContractAddresses
    roles: Roles
    derivation: DerivationSettings
    batcher: BatcherSettings = field(default_factory=BatcherSettings)
    proposer: ProposerSettings = field(default_factory=ProposerSettings)
    keys: KeySettings = field(default_factory=KeySettings)

    def with_l1_rpc(self, rpc: str) -> Settlement:
        """The same settlement read through another L1 endpoint (``--l1-rpc``)."""
        return replace(self, l1=replace(self.l1, rpc=_rpc(rpc, "--l1-rpc")))


def inbox_address(l2_chain_id: int) -> bytes:
    """The OP stack's convention for a batch inbox: ``0xff00...00`` ending in the chain id's digits."""
    digits = str(l2_chain_id)
    if len(digits) > 38:
        raise ValueError("chain id too long for an inbox address")
    return bytes.fromhex("ff" + digits.rjust(38, "0"))


# -- reading ---------------------------------------------------------------------------------------
_TABLES: dict[str, set[str]] = {
    "l1": {"rpc", "chain_id", "start_block", "start_block_hash"},
    "l2": {"chain_id", "genesis_hash", "genesis_timestamp"},
    "contracts": {"system_config", "l2_output_oracle", "batch_inbox", "portal"},
    "roles": {"batcher", "proposer", "challenger"},
    "derivation": {"output_interval_blocks", "channel_timeout_l1_blocks", "deposit_window_l1_blocks"},
    "batcher": {
        "max_delay_ms",
        "max_frame_bytes",
        "origin_depth",
        "max_backlog_blocks",
        "resubmit_after_s",
        "min_balance_wei",
        "poll_interval_ms",
        "max_pending_txs",
    },
    "proposer": {"poll_interval_ms"},
    "keys": {"batcher", "proposer"},
}
_REQUIRED = ("l1", "l2", "contracts", "roles", "derivation")


def _table(data: dict[str, Any], name: str) -> dict[str, Any]:
    table = data.get(name, {})
    if not isinstance(table, dict):
        raise ConfigError(f"{name}: expected a table")
    unknown = set(table) - _TABLES[name]
    if unknown:
        raise ConfigError(f"{name}: unknown key(s) {', '.join(sorted(unknown))}")
    return table


def _need(table: dict[str, Any], table_name: str, key: str) -> Any:
    if key not in table:
        raise ConfigError(f"{table_name}.{key}: missing required key")
    return table[key]


def _int(value: Any, where: str, lo: int = 0, hi: int = 2**63 - 1) -> int:
    if isinstance(value, str) and re.fullmatch(r"0x[0-9a-fA-F]+|[0-9]+", value):
        value = int(value, 0)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if not lo <= value <= hi:
        raise ConfigError(f"{where}: must be between {lo} and {hi}, got {value}")
    return value


def _float(value: Any, where: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if not lo <= value <= hi:
        raise ConfigError(f"{where}: must be between {lo:g} and {hi:g}, got {value:g}")
    return float(value)


def _address(value: Any, where: str) -> bytes:
    if not isinstance(value, str) or not _ADDRESS.fullmatch(value):
        raise ConfigError(f"{where}: expected a 0x-prefixed 20-byte hex address, got {value!r}")
    return bytes.fromhex(value[2:])


def _hash(value: Any, where: str) -> bytes:
    if not isinstance(value, str) or not _HASH.fullmatch(value):
        raise ConfigError(f"{where}: expected a 0x-prefixed 32-byte hex hash, got {value!r}")
    return bytes.fromhex(value[2:])


def _rpc(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise ConfigError(f"{where}: expected an http:// or https:// URL, got {value!r}")
    return value


def parse_key(value: Any, where: str) -> str:
    """A private key as 0x-prefixed hex (32 bytes), or a :class:`ConfigError` (never showing it)."""
    if not isinstance(value, str) or not _KEY.fullmatch(value.strip()):
        raise ConfigError(f"{where}: expected a 32-byte hex private key")
    text = value.strip()
    return text if text.startswith("0x") else "0x" + text


def parse_settlement(data: dict[str, Any]) -> Settlement:
    """Validate a decoded settlement file."""
    unknown = set(data) - set(_TABLES)
    if unknown:
        raise ConfigError(f"<root>: unknown table(s) {', '.join(sorted(unknown))}")
    for name in _REQUIRED:
        if name not in data:
            raise ConfigError(f"[{name}]: missing required table")
    l1, l2, contracts, roles = (_table(data, n) for n in ("l1", "l2", "contracts", "roles"))
    derivation, batcher, proposer, keys = (
        _table(data, n) for n in ("derivation", "batcher", "proposer", "keys")
    )
    defaults = BatcherSettings()
    return Settlement(
        l1=L1Settings(
            rpc=_rpc(_need(l1, "l1", "rpc"), "l1.rpc"),
            chain_id=_int(_need(l1, "l1", "chain_id"), "l1.chain_id", 1),
            start_block=_int(_need(l1, "l1", "start_block"), "l1.start_block"),
            start_block_hash=_hash(_need(l1, "l1", "start_block_hash"), "l1.start_block_hash"),
        ),
        l2_chain_id=_int(_need(l2, "l2", "chain_id"), "l2.chain_id", 1),
        l2_genesis_hash=_hash(_need(l2, "l2", "genesis_hash"), "l2.genesis_hash"),
        l2_genesis_timestamp=_int(_need(l2, "l2", "genesis_timestamp"), "l2.genesis_timestamp"),
        contracts=ContractAddresses(
            system_config=_address(_need(contracts, "contracts", "system_config"), "contracts.system_config"),
            l2_output_oracle=_address(
                _need(contracts, "contracts", "l2_output_oracle"), "contracts.l2_output_oracle"
            ),
            batch_inbox=_address(_need(contracts, "contracts", "batch_inbox"), "contracts.batch_inbox"),
            portal=_address(contracts["portal"], "contracts.portal") if "portal" in contracts else None,
        ),
        roles=Roles(
            batcher=_address(_need(roles, "roles", "batcher"), "roles.batcher"),
            proposer=_address(_need(roles, "roles", "proposer"), "roles.proposer"),
            challenger=_address(_need(roles, "roles", "challenger"), "roles.challenger"),
        ),
        derivation=DerivationSettings(
            output_interval_blocks=_int(
                _need(derivation, "derivation", "output_interval_blocks"),
                "derivation.output_interval_blocks",
                1,
                10**9,
            ),
            channel_timeout_l1_blocks=_int(
                derivation.get("channel_timeout_l1_blocks", 50),
                "derivation.channel_timeout_l1_blocks",
                1,
                10**6,
            ),
            deposit_window_l1_blocks=_int(
                derivation.get("deposit_window_l1_blocks", 10),
                "derivation.deposit_window_l1_blocks",
                1,
                10**6,
            ),
        ),
        batcher=BatcherSettings(
            max_delay_ms=_int(
                batcher.get("max_delay_ms", defaults.max_delay_ms), "batcher.max_delay_ms", 0, 3_600_000
            ),
            max_frame_bytes=_int(
                batcher.get("max_frame_bytes", defaults.max_frame_bytes),
                "batcher.max_frame_bytes",
                1_000,
                1_000_000,
            ),
            origin_depth=_int(
                batcher.get("origin_depth", defaults.origin_depth), "batcher.origin_depth", 0, 10_000
            ),
            max_backlog_blocks=_int(
                batcher.get("max_backlog_blocks", defaults.max_backlog_blocks),
                "batcher.max_backlog_blocks",
                1,
            ),
            resubmit_after_s=_float(
                batcher.get("resubmit_after_s", defaults.resubmit_after_s),
                "batcher.resubmit_after_s",
                0.1,
                86_400,
            ),
            min_balance_wei=_int(
                batcher.get("min_balance_wei", defaults.min_balance_wei), "batcher.min_balance_wei", 0, 2**255
            ),
            poll_interval_ms=_int(
                batcher.get("poll_interval_ms", defaults.poll_interval_ms),
                "batcher.poll_interval_ms",
                10,
                60_000,
            ),
            max_pending_txs=_int(
                batcher.get("max_pending_txs", defaults.max_pending_txs), "batcher.max_pending_txs", 1, 1_000
            ),
        ),
        proposer=ProposerSettings(
            poll_interval_ms=_int(
                proposer.get("poll_interval_ms", 500), "proposer.poll_interval_ms", 10, 60_000
            )
        ),
        keys=KeySettings(
            batcher=parse_key(keys["batcher"], "keys.batcher") if "batcher" in keys else None,
            proposer=parse_key(keys["proposer"], "keys.proposer") if "proposer" in keys else None,
        ),
    )


def load_settlement(path: str | Path) -> Settlement:
    """Read and validate a settlement file; errors name the file."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"settlement file not found: {p}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read settlement file {p}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: invalid TOML: {exc}") from None
    try:
        return parse_settlement(data)
    except ConfigError as exc:
        raise ConfigError(f"{p}: {exc}") from None


# -- writing ---------------------------------------------------------------------------------------
def _hex(b: bytes) -> str:
    return "0x" + b.hex()


def _checksum(address: bytes) -> str:
    from eth_utils.address import to_checksum_address

    return str(to_checksum_address(address))


def _portal_line(portal: bytes | None) -> str:
    if portal is None:
        return '# portal = "0x..."          # the OptimismPortal (bridge); none on this chain\n'
    return f'portal = "{_checksum(portal)}"  # the OptimismPortal (deposits and withdrawals)\n'


def render_settlement(s: Settlement) -> str:
    """The settlement file's text (keys are never written: give them by flag or environment)."""
    b, p = s.batcher, s.proposer
    return f"""\
# Settlement file: where this L2 settles on L1 (written by `sequencer l1 deploy`; docs/settlement.md).
# [l1], [l2], [contracts], [roles] and [derivation] describe the chain: every sequencer and
# verifier of it must agree on them (l1.rpc, the endpoint, is each operator's own).

[l1]
rpc = "{s.l1.rpc}"
chain_id = {s.l1.chain_id}
start_block = {s.l1.start_block}          # derivation reads L1 from here (the SystemConfig's deployment)
start_block_hash = "{_hex(s.l1.start_block_hash)}"

[l2]
chain_id = {s.l2_chain_id}
genesis_hash = "{_hex(s.l2_genesis_hash)}"
genesis_timestamp = {s.l2_genesis_timestamp}    # block 0's (unix seconds); a config without one takes it

[contracts]
system_config = "{_checksum(s.contracts.system_config)}"
l2_output_oracle = "{_checksum(s.contracts.l2_output_oracle)}"
batch_inbox = "{_checksum(s.contracts.batch_inbox)}"  # an address, not a contract
{_portal_line(s.contracts.portal)}
[roles]                          # as deployed; the SystemConfig's owner can change them on L1
batcher = "{_checksum(s.roles.batcher)}"
proposer = "{_checksum(s.roles.proposer)}"
challenger = "{_checksum(s.roles.challenger)}"

[derivation]
output_interval_blocks = {s.derivation.output_interval_blocks}     # L2 blocks between output roots
channel_timeout_l1_blocks = {s.derivation.channel_timeout_l1_blocks}  # L1 blocks an incomplete channel waits
deposit_window_l1_blocks = {s.derivation.deposit_window_l1_blocks}  # L1 blocks a deposit may wait

# The sequencer's own settings (not part of the chain's rules).
[batcher]
max_delay_ms = {b.max_delay_ms}             # post a channel at the latest this long after its first L2 block
max_frame_bytes = {b.max_frame_bytes}       # frame data per L1 transaction
origin_depth = {b.origin_depth}               # an L2 block's L1 origin: this many blocks behind the L1 head
max_backlog_blocks = {b.max_backlog_blocks}       # unsafe L2 blocks beyond which transactions are refused
resubmit_after_s = {b.resubmit_after_s:g}         # re-send with bumped fees when not included this long
min_balance_wei = "{b.min_balance_wei}"  # the batcher's alarm threshold
poll_interval_ms = {b.poll_interval_ms}
max_pending_txs = {b.max_pending_txs}

[proposer]
poll_interval_ms = {p.poll_interval_ms}

# [keys]                # or --batcher-key/--proposer-key, or SEQUENCER_BATCHER_KEY/SEQUENCER_PROPOSER_KEY
# batcher = "0x..."
# proposer = "0x..."
"""
