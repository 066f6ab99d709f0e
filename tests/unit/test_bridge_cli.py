"""The withdrawal commands' own rules (``sequencer bridge ...``), without a network.

Amounts are ETH with at most 18 decimals and more than zero; the signing key comes from
``--key``, then ``SEQUENCER_BRIDGE_KEY``, then (on a development chain only) dev account #0; a
portal revert is named in words, ``TooEarly`` with the time it becomes finalizable; a bad
transaction hash is a usage error.
"""

from __future__ import annotations

import json
import time

import click
import pytest
from eth_abi.abi import encode as abi_encode
from eth_hash.auto import keccak
from web3.exceptions import ContractCustomError

from sequencer.cli.bridge_withdrawals import (
    BRIDGE_KEY_ENVVAR,
    parse_amount,
    parse_tx_hash,
    portal_error,
    print_withdrawal_status,
    resolve_bridge_key,
)
from sequencer.errors import ConfigError
from sequencer.settlement.contracts import OPTIMISM_PORTAL, abi
from sequencer.settlement.keys import DEV_KEYS

PORTAL_ABI = abi(OPTIMISM_PORTAL)


def test_amounts_are_eth_with_at_most_eighteen_decimals() -> None:
    assert parse_amount("0.5") == 5 * 10**17
    assert parse_amount("1") == 10**18 and parse_amount("1e-18") == 1
    for bad in ("0", "-1", "1e-19", "abc", "nan", "inf", "0.0000000000000000001"):
        with pytest.raises(click.BadParameter):
            parse_amount(bad)


def test_the_key_comes_from_the_flag_the_environment_or_a_dev_chains_account(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(BRIDGE_KEY_ENVVAR, raising=False)
    assert resolve_bridge_key(None, 1337, "L2") == DEV_KEYS[0]
    with pytest.raises(ConfigError, match="no key: pass --key"):
        resolve_bridge_key(None, 1, "L1")
    monkeypatch.setenv(BRIDGE_KEY_ENVVAR, DEV_KEYS[3][2:])
    assert resolve_bridge_key(None, 1, "L1") == DEV_KEYS[3]
    assert resolve_bridge_key(DEV_KEYS[4], 1, "L1") == DEV_KEYS[4]
    with pytest.raises(ConfigError, match="32-byte hex private key"):
        resolve_bridge_key("0x1234", 1, "L1")


def revert(signature: str, args: bytes = b"") -> ContractCustomError:
    return ContractCustomError("reverted", data="0x" + (keccak(signature.encode())[:4] + args).hex())


def test_portal_refusals_are_named_in_words() -> None:
    assert portal_error(revert("AlreadyFinalized()"), PORTAL_ABI) == (
        "the withdrawal is already finalized (AlreadyFinalized)"
    )
    assert "not proven yet" in str(portal_error(revert("NotProven()"), PORTAL_ABI))
    ready_at = int(time.time()) + 100
    words = portal_error(revert("TooEarly(uint256)", abi_encode(["uint256"], [ready_at])), PORTAL_ABI)
    assert words is not None and words.startswith("too early: finalizable at ")
    assert time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ready_at)) in words
    assert portal_error(revert("SomethingElse()"), PORTAL_ABI) is None
    assert portal_error(ValueError("no data"), PORTAL_ABI) is None


def test_a_transaction_hash_must_be_32_bytes_of_hex() -> None:
    assert parse_tx_hash("0x" + "Ab" * 32) == bytes.fromhex("ab" * 32)
    for bad in ("0x12", "ab" * 32, "0x" + "zz" * 32):
        with pytest.raises(click.BadParameter):
            parse_tx_hash(bad)


@pytest.mark.parametrize(
    ("state", "extra", "shown"),
    [
        ("initiated", {"safeBlock": 9, "latestOutputBlock": 8}, "9: the withdrawal's block is not on L1 yet"),
        (
            "waiting-for-output",
            {"safeBlock": 13, "latestOutputBlock": 8},
            "no output covers the withdrawal yet",
        ),
        ("provable", {"l2OutputIndex": 3, "outputBlock": 16}, "index 3 (L2 block 16)"),
        (
            "proven",
            {"provenAt": 1_767_225_600, "l2OutputIndex": 3, "finalizableAt": 1_767_225_612},
            "2026-01-01 00:00:12 UTC",
        ),
        ("finalized", {}, "finalized"),
    ],
)
def test_status_is_a_table_saying_what_comes_next(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    state: str,
    extra: dict[str, object],
    shown: str,
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # a wide terminal: no cell wraps
    st = {
        "state": state,
        "l2TxHash": "0x" + "11" * 32,
        "l2Block": 13,
        "withdrawalHash": "0x" + "22" * 32,
        "sender": "0x" + "33" * 20,
        "target": "0x" + "44" * 20,
        "value": str(5 * 10**17),
        **extra,
    }
    print_withdrawal_status(st, as_json=False)
    out = capsys.readouterr().out
    assert state in out and "0.5 ETH" in out and shown in out
    print_withdrawal_status(st, as_json=True)
    assert json.loads(capsys.readouterr().out) == st
