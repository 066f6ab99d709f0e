"""``sequencer bridge deposit``'s amount: decimal ETH to exact wei, anything else refused clearly."""

from __future__ import annotations

import click
import pytest

from sequencer.cli.bridge_withdrawals import parse_amount


@pytest.mark.parametrize(
    ("text", "wei"),
    [("1", 10**18), ("0.25", 25 * 10**16), ("0", 0), (" 2.5 ", 25 * 10**17), ("0.000000000000000001", 1)],
)
def test_amounts_of_eth_become_exact_wei(text: str, wei: int) -> None:
    assert parse_amount(text, allow_zero=True) == wei


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("lots", "expected an amount of ETH"),
        ("-1", "non-negative"),
        ("inf", "non-negative"),
        ("0.0000000000000000001", "at most 18 decimals"),
    ],
)
def test_other_amounts_are_refused_saying_why(text: str, why: str) -> None:
    with pytest.raises(click.BadParameter, match=why):
        parse_amount(text, allow_zero=True)
