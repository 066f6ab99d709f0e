"""ethers v6 against the real daemon, as a dApp uses it (tests/js/ethers_client.mjs does the work,
once per module; each test reads one of its checks).

Specified: ``getFeeData()`` prices legacy and EIP-1559 transactions that are included with every
ethers default; a fresh receipt's ``receipt.getBlock()`` (by its placeholder block hash) and
``getBlock(receipt.blockNumber)`` are that block, listing the transaction; a contract deploys,
answers calls and emits logs that ``getLogs`` up to ``"pending"`` and ``queryFilter`` on the
receipt's block find at once; ``estimateGas`` counts an EIP-2930 access list, and a transaction
sent with exactly that estimate succeeds; a custom error is decoded from the revert data; after
the seal the receipt names the block's real hash.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.daemon import Daemon
from tests.support.jssuite import check, run_js_suite
from tests.support.tools import npm_package


@pytest.fixture(scope="module")
def report(daemon_1s: Daemon) -> dict[str, Any]:
    npm_package("ethers")
    return run_js_suite("ethers_client.mjs", daemon_1s)


def test_fee_data_prices_legacy_and_eip1559_transactions_that_are_included(report: dict[str, Any]) -> None:
    result = check(report, "defaults")
    assert int(result["feeData"]["gasPrice"]) > 0
    assert report["ethers"].startswith("6.")


def test_a_fresh_receipts_block_is_served_by_hash_and_number(report: dict[str, Any]) -> None:
    check(report, "receiptGetBlock")


def test_deploy_call_logs_to_pending_and_estimate_with_an_access_list(report: dict[str, Any]) -> None:
    result = check(report, "contract")
    assert int(result["gasUsed"]) <= int(result["estimate"])


def test_an_access_list_transfer_is_estimated_with_its_access_list(report: dict[str, Any]) -> None:
    assert int(check(report, "accessListTransfer")["estimate"]) == 25_300


def test_a_custom_error_is_decoded(report: dict[str, Any]) -> None:
    result = check(report, "customError")
    assert result["staticCall"]["name"] == "Unauthorized" and result["call"]["args"][1] == "7"


def test_after_the_seal_the_receipt_names_the_real_block_hash(report: dict[str, Any]) -> None:
    check(report, "afterSeal")
