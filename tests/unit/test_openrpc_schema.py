"""The spec validator used by the integration tests can fail: it catches wrong shapes."""

from __future__ import annotations

import pytest

from tests import openrpc_schema


def test_quantities_must_be_minimal_hex() -> None:
    openrpc_schema.validate_result("eth_chainId", "0x539")
    with pytest.raises(AssertionError, match="does not match"):
        openrpc_schema.validate_result("eth_chainId", "1337")
    with pytest.raises(AssertionError):
        openrpc_schema.validate_result("eth_blockNumber", "0x01")


def test_receipts_need_their_required_fields() -> None:
    receipt = {
        "blockHash": "0x" + "11" * 32,
        "blockNumber": "0x1",
        "from": "0x" + "22" * 20,
        "to": "0x" + "33" * 20,
        "cumulativeGasUsed": "0x5208",
        "gasUsed": "0x5208",
        "contractAddress": None,
        "logs": [],
        "logsBloom": "0x" + "00" * 256,
        "transactionHash": "0x" + "44" * 32,
        "transactionIndex": "0x0",
        "effectiveGasPrice": "0x1",
        "status": "0x1",
        "type": "0x2",
    }
    openrpc_schema.validate_result("eth_getTransactionReceipt", receipt)
    openrpc_schema.validate_result("eth_getTransactionReceipt", None)
    broken = {k: v for k, v in receipt.items() if k != "cumulativeGasUsed"}
    with pytest.raises(AssertionError, match="cumulativeGasUsed"):
        openrpc_schema.validate_result("eth_getTransactionReceipt", broken)


def test_unknown_methods_are_reported() -> None:
    with pytest.raises(KeyError):
        openrpc_schema.validate_result("eth_nope", None)
