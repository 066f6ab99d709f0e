"""Specification of sequencer.config: the devnet config loads; every bad input is a ConfigError
whose message names the key path and the problem."""

from __future__ import annotations

import copy
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from sequencer.config import NodeConfig, Override, load_config, load_preset, parse_config
from sequencer.devfault import DevFault
from sequencer.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
DEVNET = ROOT / "configs" / "devnet.toml"
ETH = 10**18
ADDR = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def minimal() -> dict[str, Any]:
    """The smallest valid document: only the required keys."""
    return {
        "chain": {
            "chain_id": 1337,
            "fork": "prague",
            "block_gas_limit": 30_000_000,
            "genesis": {ADDR: {"balance": "1000"}},
        }
    }


def devnet_doc() -> dict[str, Any]:
    return tomllib.loads(DEVNET.read_text())


def expect_error(doc: dict[str, Any], *fragments: str, overrides: tuple[Override, ...] = ()) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(doc, overrides=overrides)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


# -- the shipped devnet config -------------------------------------------------------------


@pytest.fixture(scope="module")
def cfg() -> NodeConfig:
    return load_config(DEVNET)


class TestDevnetConfig:
    def test_chain_parameters(self, cfg: NodeConfig) -> None:
        assert cfg.chain.chain_id == 1337
        assert cfg.chain.fork == "prague"
        assert cfg.chain.block_gas_limit == 100_000_000
        assert cfg.chain.coinbase == b"\x00" * 20
        assert cfg.chain.devnet is True
        assert cfg.chain.allow_unprotected_txs is False
        assert cfg.chain.initial_base_fee == 1_000_000_000
        assert cfg.chain.base_fee_floor == 1_000_000

    def test_ten_prefunded_accounts_with_10000_eth(self, cfg: NodeConfig) -> None:
        genesis = cfg.chain.genesis
        assert len(genesis) == 10
        assert all(a.balance == 10_000 * ETH for a in genesis)
        assert all(a.nonce == 0 and a.code == b"" and a.storage == () for a in genesis)
        assert bytes.fromhex("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266") in {a.address for a in genesis}

    def test_genesis_is_sorted_by_address(self, cfg: NodeConfig) -> None:
        addresses = [a.address for a in cfg.chain.genesis]
        assert addresses == sorted(addresses)
        assert all(len(a) == 20 for a in addresses)

    def test_block_intervals(self, cfg: NodeConfig) -> None:
        assert cfg.mini_block_interval_ms == 10
        assert cfg.evm_block_interval_ms == 1000
        assert cfg.max_txs_per_mini_block == 2000

    def test_rpc(self, cfg: NodeConfig) -> None:
        assert (cfg.rpc_host, cfg.rpc_port) == ("127.0.0.1", 8545)

    def test_parse_config_of_the_decoded_document_is_the_same(self, cfg: NodeConfig) -> None:
        assert parse_config(devnet_doc()) == cfg


# -- defaults and accepted forms -----------------------------------------------------------


def test_minimal_document_takes_defaults() -> None:
    cfg = parse_config(minimal())
    assert cfg.mini_block_interval_ms == 10
    assert cfg.evm_block_interval_ms == 1000
    assert cfg.max_txs_per_mini_block == 2000
    assert (cfg.rpc_host, cfg.rpc_port) == ("127.0.0.1", 8545)
    assert cfg.chain.initial_base_fee == 1_000_000_000
    assert cfg.chain.base_fee_floor == 0
    assert cfg.chain.devnet is False
    assert cfg.chain.allow_unprotected_txs is False


def test_genesis_entry_accepts_hex_and_int_values_code_and_storage() -> None:
    doc = minimal()
    doc["chain"]["genesis"] = {
        ADDR: {"balance": "0x10", "nonce": 3, "code": "0x6000", "storage": {"0x1": "0x2a", "7": 9}},
    }
    (account,) = parse_config(doc).chain.genesis
    assert account.balance == 16
    assert account.nonce == 3
    assert account.code == b"\x60\x00"
    assert account.storage == ((1, 42), (7, 9))


def test_fractional_intervals_are_accepted() -> None:
    doc = minimal()
    doc["blocks"] = {"mini_block_interval_ms": 2.5, "evm_block_interval_ms": 250}
    cfg = parse_config(doc)
    assert cfg.mini_block_interval_ms == 2.5
    assert cfg.evm_block_interval_ms == 250.0


# -- overrides (command-line flags): merged into the document, checked by the same rules --------


def test_overrides_replace_fields() -> None:
    overrides = [Override("rpc.port", 0), Override("blocks.evm_block_interval_ms", 250.0)]
    cfg = parse_config(minimal(), overrides=overrides)
    assert cfg.rpc_port == 0
    assert cfg.evm_block_interval_ms == 250.0


def test_overrides_win_over_the_file_and_leave_the_rest_of_it() -> None:
    cfg = parse_config(
        devnet_doc(),
        overrides=[
            Override("rpc.port", 0, "--rpc-port"),
            Override("rpc.host", "0.0.0.0", "--rpc-host"),
            Override("blocks.mini_block_interval_ms", 5.0, "--mini-block-ms"),
            Override("blocks.evm_block_interval_ms", 200.0, "--evm-block-ms"),
            Override("chain.generated_accounts", 7, "--accounts"),
        ],
    )
    assert (cfg.rpc_host, cfg.rpc_port) == ("0.0.0.0", 0)
    assert (cfg.mini_block_interval_ms, cfg.evm_block_interval_ms) == (5.0, 200.0)
    assert cfg.chain.generated_accounts == 7
    assert cfg.max_txs_per_mini_block == 2000 and len(cfg.chain.genesis) == 10  # the file's values


def test_overrides_create_missing_sections() -> None:
    cfg = parse_config(minimal(), overrides=[Override("admin.port", 0), Override("metrics.port", 9100)])
    assert (cfg.admin_port, cfg.metrics_port) == (0, 9100)


def test_the_last_override_of_a_key_wins() -> None:
    cfg = parse_config(minimal(), overrides=[Override("rpc.port", 1), Override("rpc.port", 2)])
    assert cfg.rpc_port == 2


def test_overrides_leave_the_callers_document_unchanged() -> None:
    doc = devnet_doc()
    before = copy.deepcopy(doc)
    parse_config(doc, overrides=[Override("rpc.port", 0), Override("chain.generated_accounts", 3)])
    assert doc == before


def test_an_override_without_a_source_gets_exactly_the_files_error() -> None:
    doc = minimal()
    doc["rpc"] = {"port": 70000}
    from_file = expect_error(doc, "rpc.port")
    from_override = expect_error(minimal(), overrides=(Override("rpc.port", 70000),))
    assert from_override == from_file == "rpc.port: must be between 0 and 65535, got 70000"


def test_an_override_out_of_range_is_refused_naming_the_key_and_the_flag() -> None:
    message = expect_error(minimal(), overrides=(Override("rpc.port", 70000, "--rpc-port"),))
    assert message == "rpc.port: must be between 0 and 65535, got 70000 (set by --rpc-port)"


def test_an_override_of_the_wrong_type_is_refused_like_the_file() -> None:
    message = expect_error(minimal(), overrides=(Override("blocks.mini_block_interval_ms", "5", "--x"),))
    assert message == "blocks.mini_block_interval_ms: expected int or float, got str (set by --x)"


def test_evm_block_override_below_the_files_mini_block_interval_is_refused() -> None:
    doc = minimal()
    doc["blocks"] = {"mini_block_interval_ms": 100}
    message = expect_error(doc, overrides=(Override("blocks.evm_block_interval_ms", 50.0, "--evm-block-ms"),))
    assert message == (
        "blocks.evm_block_interval_ms: must not be shorter than blocks.mini_block_interval_ms "
        "(set by --evm-block-ms)"
    )


def test_mini_block_override_above_the_files_evm_interval_names_the_mini_block_flag() -> None:
    message = expect_error(
        devnet_doc(), overrides=(Override("blocks.mini_block_interval_ms", 5000.0, "--mini-block-ms"),)
    )
    assert message == (
        "blocks.evm_block_interval_ms: must not be shorter than blocks.mini_block_interval_ms "
        "(blocks.mini_block_interval_ms set by --mini-block-ms)"
    )


def test_both_intervals_overridden_inconsistently_names_both_flags() -> None:
    message = expect_error(
        devnet_doc(),
        overrides=(
            Override("blocks.mini_block_interval_ms", 500.0, "--mini-block-ms"),
            Override("blocks.evm_block_interval_ms", 100.0, "--evm-block-ms"),
        ),
    )
    assert message == (
        "blocks.evm_block_interval_ms: must not be shorter than blocks.mini_block_interval_ms "
        "(blocks.evm_block_interval_ms set by --evm-block-ms, "
        "blocks.mini_block_interval_ms set by --mini-block-ms)"
    )


def test_consistent_interval_overrides_are_accepted_against_a_conflicting_file() -> None:
    doc = minimal()
    doc["blocks"] = {"mini_block_interval_ms": 100, "evm_block_interval_ms": 200}
    overrides = [
        Override("blocks.mini_block_interval_ms", 500.0),
        Override("blocks.evm_block_interval_ms", 500.0),
    ]
    cfg = parse_config(doc, overrides=overrides)
    assert (cfg.mini_block_interval_ms, cfg.evm_block_interval_ms) == (500.0, 500.0)


def test_a_too_short_admin_token_override_is_refused_without_echoing_it() -> None:
    message = expect_error(minimal(), overrides=(Override("admin.token", "short-secret", "--admin-token"),))
    assert message == "admin.token: must be at least 16 characters (set by --admin-token)"
    assert "short-secret" not in message
    token = "x" * 16
    assert parse_config(minimal(), overrides=[Override("admin.token", token)]).admin_token == token


def test_a_too_short_admin_token_in_the_file_is_refused_by_the_same_rule() -> None:
    doc = minimal()
    doc["admin"] = {"token": "short"}
    assert expect_error(doc) == "admin.token: must be at least 16 characters"


def test_generated_accounts_override_is_range_checked() -> None:
    message = expect_error(minimal(), overrides=(Override("chain.generated_accounts", -1, "--accounts"),))
    assert message.startswith("chain.generated_accounts: must be between 0 and 100000000, got -1")
    assert message.endswith("(set by --accounts)")


def test_an_override_of_an_unknown_key_is_refused() -> None:
    message = expect_error(minimal(), overrides=(Override("rpc.prot", 1, "--x"),))
    assert message == "rpc: unknown key(s) prot"


def test_an_override_below_a_scalar_is_refused() -> None:
    doc = minimal()
    doc["rpc"] = {"port": 1}
    message = expect_error(doc, overrides=(Override("rpc.port.x", 1, "--x"),))
    assert message == "rpc.port.x: cannot be set, rpc.port is not a table (set by --x)"


def test_an_error_not_about_an_overridden_key_says_nothing_about_overrides() -> None:
    doc = minimal()
    doc["chain"]["chain_id"] = 0
    message = expect_error(doc, overrides=(Override("rpc.port", 0, "--rpc-port"),))
    assert message == "chain.chain_id: must be between 1 and 9223372036854775807, got 0"


def test_an_override_key_must_be_a_dotted_path() -> None:
    with pytest.raises(ValueError, match="not a dotted TOML key path"):
        Override("rpc..port", 1)


# -- the dev fault: validated against chain.devnet ---------------------------------------------


def test_no_dev_fault_by_default() -> None:
    assert parse_config(devnet_doc()).dev_fault is None


def test_a_dev_fault_is_part_of_a_devnet_config() -> None:
    assert parse_config(devnet_doc(), dev_fault=DevFault("balance", 3)).dev_fault == DevFault("balance", 3)


def test_a_dev_fault_is_refused_unless_the_chain_is_a_devnet() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(minimal(), dev_fault=DevFault("balance"))
    assert (
        str(info.value) == "--dev-fault is refused: the chain config is not a devnet (chain.devnet = false)"
    )
    doc = devnet_doc()
    doc["chain"]["devnet"] = False
    with pytest.raises(ConfigError, match="--dev-fault is refused"):
        parse_config(doc, dev_fault=DevFault("state-root", 1))


def test_load_config_takes_overrides_and_a_dev_fault() -> None:
    cfg = load_config(DEVNET, overrides=[Override("feed.port", 0)], dev_fault=DevFault("skip-seq"))
    assert cfg.feed_port == 0
    assert cfg.dev_fault == DevFault("skip-seq", 0)


# -- rejections: each names the key path and the problem ------------------------------------


def test_missing_chain_id() -> None:
    doc = minimal()
    del doc["chain"]["chain_id"]
    expect_error(doc, "chain.chain_id", "missing")


def test_missing_chain_table() -> None:
    expect_error({}, "chain", "missing")


def test_chain_id_as_string() -> None:
    doc = minimal()
    doc["chain"]["chain_id"] = "1337"
    expect_error(doc, "chain.chain_id", "expected int", "str")


def test_boolean_where_int_expected() -> None:
    doc = minimal()
    doc["chain"]["chain_id"] = True
    expect_error(doc, "chain.chain_id", "boolean")


def test_boolean_where_int_expected_in_blocks() -> None:
    doc = minimal()
    doc["blocks"] = {"max_txs_per_mini_block": False}
    expect_error(doc, "blocks.max_txs_per_mini_block", "boolean")


def test_boolean_balance() -> None:
    doc = minimal()
    doc["chain"]["genesis"] = {ADDR: {"balance": True}}
    expect_error(doc, f"chain.genesis.{ADDR}.balance", "boolean")


def test_chain_id_zero_is_out_of_range() -> None:
    doc = minimal()
    doc["chain"]["chain_id"] = 0
    expect_error(doc, "chain.chain_id", "must be between")


def test_unsupported_fork() -> None:
    doc = minimal()
    doc["chain"]["fork"] = "cancun"
    expect_error(doc, "chain.fork", "unsupported fork", "cancun", "prague")


def test_mini_block_interval_zero() -> None:
    doc = minimal()
    doc["blocks"] = {"mini_block_interval_ms": 0}
    message = expect_error(doc, "blocks.mini_block_interval_ms")
    assert message == "blocks.mini_block_interval_ms: must be between 1 and 60000, got 0"


def test_mini_block_interval_below_one_millisecond() -> None:
    doc = minimal()
    doc["blocks"] = {"mini_block_interval_ms": 0.5}
    expect_error(doc, "blocks.mini_block_interval_ms", "must be between 1 and 60000", "got 0.5")


def test_mini_block_interval_as_string() -> None:
    doc = minimal()
    doc["blocks"] = {"mini_block_interval_ms": "10"}
    expect_error(doc, "blocks.mini_block_interval_ms", "expected int or float", "str")


def test_evm_interval_shorter_than_mini_interval() -> None:
    doc = minimal()
    doc["blocks"] = {"mini_block_interval_ms": 100, "evm_block_interval_ms": 50}
    expect_error(
        doc, "blocks.evm_block_interval_ms", "must not be shorter than blocks.mini_block_interval_ms"
    )


def test_evm_interval_equal_to_mini_interval_is_allowed() -> None:
    doc = minimal()
    doc["blocks"] = {"mini_block_interval_ms": 100, "evm_block_interval_ms": 100}
    assert parse_config(doc).evm_block_interval_ms == 100


@pytest.mark.parametrize(
    "address",
    [
        "0x1234",  # too short
        "70997970C51812dc3A010C7d01b50e0d17dc79C8aa",  # no 0x prefix
        "0x" + "zz" * 20,  # not hex
        "0x" + "00" * 21,  # too long
    ],
)
def test_bad_genesis_address(address: str) -> None:
    doc = minimal()
    doc["chain"]["genesis"] = {address: {"balance": "1"}}
    expect_error(doc, f"chain.genesis.{address}", address)


def test_genesis_address_with_whitespace_is_rejected() -> None:
    address = "0x" + "00" * 19 + "  "  # 42 characters, only 19 bytes of hex
    doc = minimal()
    doc["chain"]["genesis"] = {address: {"balance": "1"}}
    with pytest.raises(ConfigError, match=r"chain\.genesis"):
        parse_config(doc)


def test_duplicate_genesis_address_in_different_case() -> None:
    doc = minimal()
    doc["chain"]["genesis"] = {ADDR: {"balance": "1"}, ADDR.lower(): {"balance": "2"}}
    expect_error(doc, "chain.genesis.", "duplicate address")


def test_negative_balance() -> None:
    doc = minimal()
    doc["chain"]["genesis"] = {ADDR: {"balance": -1}}
    expect_error(doc, f"chain.genesis.{ADDR}.balance", "must not be negative", "-1")


def test_negative_balance_as_string() -> None:
    doc = minimal()
    doc["chain"]["genesis"] = {ADDR: {"balance": "-5"}}
    expect_error(doc, f"chain.genesis.{ADDR}.balance", "must not be negative")


@pytest.mark.parametrize("balance", ["ten ether", "1e18", "0xg1", "1.5"])
def test_balance_not_an_integer_string(balance: str) -> None:
    doc = minimal()
    doc["chain"]["genesis"] = {ADDR: {"balance": balance}}
    expect_error(doc, f"chain.genesis.{ADDR}.balance", "not an integer", repr(balance))


def test_balance_as_float() -> None:
    doc = minimal()
    doc["chain"]["genesis"] = {ADDR: {"balance": 1.5}}
    expect_error(doc, f"chain.genesis.{ADDR}.balance", "expected an integer or a string", "float")


def test_balance_beyond_256_bits() -> None:
    doc = minimal()
    doc["chain"]["genesis"] = {ADDR: {"balance": str(2**256)}}
    expect_error(doc, f"chain.genesis.{ADDR}.balance", "256 bits")


def test_unknown_key_in_genesis_entry() -> None:
    doc = minimal()
    doc["chain"]["genesis"] = {ADDR: {"balance": "1", "balanse": "2"}}
    expect_error(doc, f"chain.genesis.{ADDR}", "unknown key", "balanse")


def test_genesis_entry_not_a_table() -> None:
    doc = minimal()
    doc["chain"]["genesis"] = {ADDR: "1000"}
    expect_error(doc, f"chain.genesis.{ADDR}", "expected a table")


def test_genesis_code_not_hex() -> None:
    doc = minimal()
    doc["chain"]["genesis"] = {ADDR: {"balance": "1", "code": "6000"}}
    expect_error(doc, f"chain.genesis.{ADDR}.code", "0x-prefixed hex")


def test_base_fee_initial_below_floor() -> None:
    doc = minimal()
    doc["chain"]["base_fee"] = {"initial": 5, "floor": 10}
    expect_error(doc, "chain.base_fee.initial", "chain.base_fee.floor")


def test_unknown_section() -> None:
    doc = minimal()
    doc["metric"] = {"port": 9100}  # a typo of [metrics]
    expect_error(doc, "<root>", "unknown section", "metric")


@pytest.mark.parametrize(
    ("table", "key"),
    [("chain", "chainid"), ("blocks", "mini_block_interval"), ("rpc", "hots"), ("chain.base_fee", "flor")],
)
def test_unknown_key_in_a_section(table: str, key: str) -> None:
    doc = minimal()
    section = doc
    for part in table.split("."):
        section = section.setdefault(part, {})
    section[key] = 1
    message = expect_error(doc, key)
    assert message == f"{table}: unknown key(s) {key}"


def test_rpc_port_out_of_range() -> None:
    doc = minimal()
    doc["rpc"] = {"port": 70000}
    expect_error(doc, "rpc.port", "must be between 0 and 65535")


def test_every_devnet_key_removal_or_corruption_is_caught() -> None:
    """Corrupting any scalar of the devnet file with a wrong type names exactly that key."""
    doc = devnet_doc()
    for table in ("chain", "blocks", "rpc"):
        for key, value in doc[table].items():
            if isinstance(value, dict):
                continue
            bad = copy.deepcopy(doc)
            bad[table][key] = [value]  # an array is never a valid scalar
            message = expect_error(bad, f"{table}.{key}")
            assert re.match(rf"^{re.escape(table)}\.{re.escape(key)}: ", message), message


# -- load_config: files ------------------------------------------------------------------------


def test_load_config_from_file(tmp_path: Path) -> None:
    path = tmp_path / "node.toml"
    path.write_text(
        '[chain]\nchain_id = 7\nfork = "Prague"\nblock_gas_limit = 30000000\n'
        f'[chain.genesis]\n"{ADDR}" = {{ balance = "0x64" }}\n'
    )
    cfg = load_config(path)
    assert cfg.chain.chain_id == 7
    assert cfg.chain.fork == "prague"
    assert cfg.chain.genesis[0].balance == 100


def test_invalid_toml(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[chain\nchain_id = 1337\n")
    with pytest.raises(ConfigError, match="invalid TOML") as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(ConfigError, match="config file not found") as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path)


def test_file_errors_propagate_validation_messages(tmp_path: Path) -> None:
    path = tmp_path / "zero.toml"
    path.write_text(DEVNET.read_text().replace("mini_block_interval_ms = 10", "mini_block_interval_ms = 0"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == "blocks.mini_block_interval_ms: must be between 1 and 60000, got 0"


def test_generated_accounts_default_to_zero_and_are_range_checked() -> None:
    assert parse_config(minimal()).chain.generated_accounts == 0
    doc = minimal()
    doc["chain"]["generated_accounts"] = 1_000_000
    assert parse_config(doc).chain.generated_accounts == 1_000_000
    doc["chain"]["generated_accounts"] = -1
    expect_error(doc, "chain.generated_accounts", "between 0 and")


def test_ingress_workers_default_to_one_and_are_range_checked() -> None:
    assert parse_config(minimal()).rpc_ingress_workers == 1
    doc = minimal()
    doc["rpc"] = {"ingress_workers": 0}
    assert parse_config(doc).rpc_ingress_workers == 0
    doc["rpc"] = {"ingress_workers": 65}
    expect_error(doc, "rpc.ingress_workers", "between 0 and 64")


def test_rpc_frontends_default_to_none_and_are_range_checked() -> None:
    assert parse_config(minimal()).rpc_frontends == 0
    doc = minimal()
    doc["rpc"] = {"frontends": 4}
    assert parse_config(doc).rpc_frontends == 4
    for bad in (-1, 65):
        doc["rpc"] = {"frontends": bad}
        expect_error(doc, "rpc.frontends", "between 0 and 64")
    doc["rpc"] = {"frontends": "two"}
    expect_error(doc, "rpc.frontends")


def test_execution_limits_default_and_are_range_checked() -> None:
    cfg = parse_config(minimal())
    assert (cfg.tx_time_budget_ms, cfg.max_tx_gas) == (150.0, 16_777_216)
    doc = minimal()
    doc["execution"] = {"tx_time_budget_ms": 20, "max_tx_gas": 1_000_000}
    cfg = parse_config(doc)
    assert (cfg.tx_time_budget_ms, cfg.max_tx_gas) == (20.0, 1_000_000)
    doc["execution"] = {"tx_time_budget_ms": 0}
    expect_error(doc, "execution.tx_time_budget_ms", "between 1 and 60000")
    doc["execution"] = {"max_tx_gas": 20_999}
    expect_error(doc, "execution.max_tx_gas", "between 21000 and")
    doc["execution"] = {"gas_cap": 1}
    expect_error(doc, "execution", "unknown key", "gas_cap")


def test_mempool_limits_default_and_are_range_checked() -> None:
    cfg = parse_config(minimal()).mempool
    assert (cfg.capacity, cfg.max_queued, cfg.account_cap, cfg.max_nonce_gap) == (100_000, 10_000, 500, 64)
    assert (cfg.queued_lifetime_s, cfg.max_bytes) == (10_800.0, 256 * 1024 * 1024)
    doc = minimal()
    doc["mempool"] = {"capacity": 10, "max_queued": 11}
    expect_error(doc, "mempool.max_queued", "between 0 and 10, got 11")
    doc["mempool"] = {"queued_lifetime_s": 0}
    expect_error(doc, "mempool.queued_lifetime_s", "between 1 and")
    doc["mempool"] = {"journal_compact_bytes": 1024}
    expect_error(doc, "mempool.journal_compact_bytes", "between 65536 and")
    doc["mempool"] = {"capacity": 2000, "max_queued": 2000, "queued_lifetime_s": 2.5}
    cfg = parse_config(doc).mempool
    assert (cfg.capacity, cfg.max_queued, cfg.queued_lifetime_s) == (2000, 2000, 2.5)


def test_the_log_segment_size_defaults_to_256_mib_and_is_range_checked() -> None:
    assert parse_config(minimal()).storage_segment_bytes == 256 * 1024 * 1024
    doc = minimal()
    doc["storage"] = {"segment_bytes": 65536}
    assert parse_config(doc).storage_segment_bytes == 65536
    doc["storage"] = {"segment_bytes": 100}
    expect_error(doc, "storage.segment_bytes", "between 4096 and")


# -- the shipped presets (sequencer run --dev) ---------------------------------------------


def test_the_devnet_preset_is_the_repositorys_devnet_config() -> None:
    assert load_preset("devnet") == load_config(DEVNET)


def test_the_production_preset_is_the_repositorys_production_template() -> None:
    assert load_preset("production") == load_config(ROOT / "configs" / "production.toml")


def test_an_unknown_preset_is_refused_naming_the_presets() -> None:
    with pytest.raises(ValueError, match="devnet, production"):
        load_preset("mainnet")


def test_browsers_may_call_the_devnet_but_not_the_production_template() -> None:
    assert load_preset("devnet").rpc_policy.cors_origins == ("*",)
    assert load_preset("production").rpc_policy.cors_origins == ()


# -- call limits (rpc.gas_cap, rpc.call_*) ---------------------------------------------------


def test_call_limits_default_to_gethlike_values() -> None:
    limits = parse_config(minimal()).rpc_calls
    assert (limits.gas_cap, limits.timeout_ms, limits.workers, limits.memory_mb) == (
        50_000_000,
        5_000,
        2,
        1024,
    )


@pytest.mark.parametrize(
    ("key", "value"),
    [("gas_cap", 20_999), ("call_timeout_ms", 0), ("call_workers", 65), ("call_memory_mb", 255)],
)
def test_call_limits_out_of_range_are_refused_naming_the_key(key: str, value: int) -> None:
    doc = minimal()
    doc["rpc"] = {key: value}
    expect_error(doc, f"rpc.{key}")
