"""Specification of sequencer.config: the devnet config loads; every bad input is a ConfigError
whose message names the key path and the problem."""

from __future__ import annotations

import copy
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from sequencer.config import NodeConfig, load_config, parse_config
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


def expect_error(doc: dict[str, Any], *fragments: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(doc)
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
        assert cfg.chain.block_gas_limit == 1_000_000_000
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


def test_overrides_replace_fields() -> None:
    cfg = parse_config(minimal(), {"rpc_port": 0, "evm_block_interval_ms": 250.0})
    assert cfg.rpc_port == 0
    assert cfg.evm_block_interval_ms == 250.0


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
