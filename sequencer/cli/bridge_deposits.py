"""The deposit half of ``sequencer bridge``: ``bridge deposit`` and ``bridge status`` of an L1 tx.

``bridge deposit`` sends ETH (and optionally a call) from an L1 account to the L2 through the
portal's ``depositTransaction``, prints where its ``TransactionDeposited`` log is and the L2
transaction hash it becomes (``keccak256`` of the 0x7E transaction), and with ``--rpc`` waits
until the L2 includes it. ``bridge status`` of an L1 transaction hash lists the deposits that
transaction made and, with ``--rpc``, whether each is on L2 yet (:func:`deposit_status`, the
deposit half of ``bridge status`` in :mod:`sequencer.cli.bridge_commands`). Over web3.py; a
refusal is one ``error:`` line and exit code 1 (also a deposit not on L2 within ``--timeout``);
a bad argument exits 2.
"""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import click
from eth_utils.address import to_checksum_address

from sequencer.bridge.deposits import (
    TRANSACTION_DEPOSITED_TOPIC,
    DepositEvent,
    MalformedDeposit,
    decode_deposit_log,
    deposit_tx,
)
from sequencer.cli.bridge_withdrawals import parse_amount, resolve_bridge_key
from sequencer.cli.render import Row, emit
from sequencer.cli.rpc_client import RpcCallError, call
from sequencer.errors import ConfigError
from sequencer.settlement.contracts import OPTIMISM_PORTAL, abi
from sequencer.settlement.settings import Settlement, load_settlement

DEPOSITOR_KEY_ENVVAR = "SEQUENCER_BRIDGE_KEY"
"""The same variable as the withdrawal commands' key."""
DEFAULT_GAS_LIMIT = 100_000
"""The L2 gas of a deposit unless ``--gas-limit`` says otherwise (the portal's ``receive`` gas)."""
WEI_PER_ETH = 10**18


class BridgeError(Exception):
    """A bridge command cannot go on (the message is one line for the user)."""


class BadArgument(BridgeError):
    """An option's value is not usable (exit code 2)."""


def _settlement_with_portal(path: Path) -> Settlement:
    settlement = load_settlement(path)
    if settlement.contracts.portal is None:
        raise BridgeError(
            f"{path} names no portal ([contracts] portal): this chain has no bridge (deploy it with "
            "`sequencer l1 deploy`)"
        )
    return settlement


def _hex(b: bytes) -> str:
    return "0x" + b.hex()


def _web3(url: str) -> Any:
    from web3 import Web3

    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 10}))
    try:
        _ = w3.eth.chain_id
    except Exception as exc:  # requests' connection errors and bad answers alike
        raise BridgeError(f"cannot reach the L1 at {url}: {exc}") from None
    return w3


def _custom_error(exc: Exception) -> str | None:
    """The portal's custom error a revert carries (``SmallGasLimit``...), by its selector."""
    from eth_utils.abi import function_signature_to_4byte_selector

    data = getattr(exc, "data", None)
    if not isinstance(data, str) or not data.startswith("0x") or len(data) < 10:
        return None
    for item in abi(OPTIMISM_PORTAL):
        if item.get("type") == "error":
            signature = f"{item['name']}({','.join(i['type'] for i in item.get('inputs', []))})"
            if _hex(function_signature_to_4byte_selector(signature)) == data[:10].lower():
                return str(item["name"])
    return None


ERROR_HINTS = {
    "SmallGasLimit": (
        "the L2 gas limit is below the portal's minimum (21000 + 40 per calldata byte): raise --gas-limit"
    ),
    "LargeGasLimit": "the L2 gas limit is above the portal's maximum per deposit: lower --gas-limit",
    "LargeCalldata": "the calldata is above the portal's maximum (120000 bytes)",
    "BadTarget": "a contract creation must not name a target",
}


def deposits_of_receipt(receipt: Any, portal: bytes) -> list[DepositEvent]:
    """The portal deposits an L1 receipt's logs hold, in log order."""
    out: list[DepositEvent] = []
    for lg in receipt["logs"]:
        if bytes.fromhex(str(lg["address"])[2:]).lower() != portal.lower():
            continue
        topics = [bytes(t) for t in lg["topics"]]
        if not topics or topics[0] != TRANSACTION_DEPOSITED_TOPIC:
            continue
        try:
            out.append(
                decode_deposit_log(
                    topics,
                    bytes(lg["data"]),
                    l1_block_number=int(lg["blockNumber"]),
                    l1_block_hash=bytes(lg["blockHash"]),
                    l1_tx_hash=bytes(lg["transactionHash"]),
                    log_index=int(lg["logIndex"]),
                )
            )
        except MalformedDeposit:
            continue
    return out


def l2_state(rpc: str | None, l2_tx: bytes) -> dict[str, Any] | None:
    """Where a deposit stands on L2: ``included`` (block, status) or ``pending`` (``None``: no ``--rpc``)."""
    if rpc is None:
        return None
    receipt = call(rpc, "eth_getTransactionReceipt", [_hex(l2_tx)])
    if not receipt:
        return {"status": "pending"}
    return {
        "status": "included",
        "blockNumber": int(receipt["blockNumber"], 16),
        "blockHash": receipt.get("blockHash"),
        "receiptStatus": int(receipt.get("status", "0x1"), 16),
        "type": receipt.get("type"),
    }


def deposit_json(event: DepositEvent, l2: dict[str, Any] | None) -> dict[str, Any]:
    """One deposit as ``--json`` prints it."""
    tx = deposit_tx(event)
    return {
        "l1Block": event.l1_block_number,
        "l1Tx": _hex(event.l1_tx_hash),
        "logIndex": event.log_index,
        "from": to_checksum_address(event.sender),
        "to": to_checksum_address(event.to) if event.to is not None else None,
        "mint": str(event.mint),
        "value": str(event.value),
        "gasLimit": event.gas,
        "data": _hex(event.data),
        "sourceHash": _hex(event.source_hash),
        "l2Tx": _hex(tx.hash),
        "l2": l2,
    }


def deposit_rows(d: dict[str, Any], prefix: str = "") -> list[Row]:
    """One deposit as table rows."""
    l2 = d["l2"]
    if l2 is None:
        where = "unknown (give --rpc L2URL)"
    elif l2["status"] == "included":
        where = f"included in L2 block {l2['blockNumber']} (status {l2['receiptStatus']})"
    else:
        where = "pending (not on L2 yet)"
    eth = Decimal(int(d["mint"])) / WEI_PER_ETH
    return [
        (f"{prefix}log index", d["logIndex"]),
        (f"{prefix}from (L2)", d["from"]),
        (f"{prefix}to (L2)", d["to"] or "(contract creation)"),
        (f"{prefix}mint", f"{d['mint']} wei ({eth.normalize():f} ETH)"),
        (f"{prefix}value", f"{d['value']} wei"),
        (f"{prefix}gas limit", d["gasLimit"]),
        (f"{prefix}source hash", d["sourceHash"]),
        (f"{prefix}L2 tx", d["l2Tx"]),
        (f"{prefix}on L2", where),
    ]


def _fail(exc: Exception, code: int = 1) -> None:
    click.echo(f"error: {exc}", err=True)
    raise SystemExit(code)


@click.command("deposit")
@click.option(
    "--l1",
    "l1_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The settlement file (`sequencer l1 deploy --out`); its portal takes the deposit.",
)
@click.option(
    "--amount",
    required=True,
    metavar="ETH",
    help="ETH to deposit (minted to the L2 recipient), e.g. 1 or 0.25.",
)
@click.option(
    "--to", "to", default=None, metavar="ADDR", help="The L2 recipient [default: the depositing account]."
)
@click.option(
    "--key",
    default=None,
    metavar="HEX",
    envvar=DEPOSITOR_KEY_ENVVAR,
    help=f"The L1 account's private key (or set {DEPOSITOR_KEY_ENVVAR}) [default on a development L1: "
    "the standard development account #0].",
)
@click.option(
    "--l1-rpc", default=None, metavar="URL", help="Read the L1 through this URL instead of the file's l1.rpc."
)
@click.option(
    "--gas-limit",
    default=DEFAULT_GAS_LIMIT,
    show_default=True,
    type=click.IntRange(0, 2**64 - 1),
    help="The deposit's L2 gas limit (at least 21000 + 40 per calldata byte).",
)
@click.option(
    "--data", "data_hex", default="0x", metavar="HEX", help="Calldata of the L2 call (hex) [default: none]."
)
@click.option(
    "--rpc",
    default=None,
    metavar="URL",
    help="The L2's JSON-RPC URL: wait until the deposit is included there.",
)
@click.option(
    "--timeout",
    default=120.0,
    show_default=True,
    type=click.FloatRange(1, 3600),
    help="Seconds to wait for the L1 receipt, and with --rpc for the L2 inclusion.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as one line of JSON.")
def deposit_command(
    l1_path: Path,
    amount: str,
    to: str | None,
    key: str | None,
    l1_rpc: str | None,
    gas_limit: int,
    data_hex: str,
    rpc: str | None,
    timeout: float,
    as_json: bool,
) -> None:
    """Deposit ETH from an L1 account to the L2 through the portal.

    Prints the L1 transaction, the portal's log and the L2 transaction hash the deposit becomes;
    with --rpc, waits until the sequencer includes it (a few L1 blocks).

    \b
    Example:
      sequencer bridge deposit --l1 l1.toml --amount 1 --rpc http://127.0.0.1:8545
    """
    try:
        wei = parse_amount(amount, allow_zero=True)
        result = _deposit(l1_path, wei, to, key, l1_rpc, gas_limit, data_hex, rpc, timeout)
    except click.BadParameter as exc:
        _fail(ConfigError(f"--amount: {exc.message}"), 2)
        return
    except BadArgument as exc:
        _fail(exc, 2)
        return
    except (BridgeError, ConfigError, RpcCallError) as exc:
        _fail(exc)
        return
    deposits = result["deposits"]
    rows: list[Row] = [
        ("L1 tx", result["l1Tx"]),
        ("L1 block", result["l1Block"]),
        ("depositor (L1)", result["depositor"]),
        ("portal", result["portal"]),
    ]
    for d in deposits:
        rows.extend(deposit_rows(d))
    emit(as_json, result, "deposit", rows)
    if rpc is not None and any(d["l2"] is None or d["l2"]["status"] != "included" for d in deposits):
        click.echo(f"error: the deposit is not on L2 after {timeout:g}s", err=True)
        raise SystemExit(1)


def _deposit(
    l1_path: Path,
    wei: int,
    to: str | None,
    key: str | None,
    l1_rpc: str | None,
    gas_limit: int,
    data_hex: str,
    rpc: str | None,
    timeout: float,
) -> dict[str, Any]:
    from eth_account import Account
    from web3.exceptions import ContractCustomError, ContractLogicError, TimeExhausted

    settlement = _settlement_with_portal(l1_path)
    if l1_rpc is not None:
        settlement = settlement.with_l1_rpc(l1_rpc)
    portal = settlement.contracts.portal
    assert portal is not None
    try:
        data = bytes.fromhex(data_hex[2:] if data_hex.startswith("0x") else data_hex)
    except ValueError:
        raise BadArgument(f"--data: expected hex calldata, got {data_hex!r}") from None
    try:
        account = Account.from_key(resolve_bridge_key(key, settlement.l1.chain_id, "L1"))
    except ConfigError as exc:
        raise BadArgument(str(exc)) from None
    recipient = account.address
    if to is not None:
        text = to.strip()
        if not (text.startswith("0x") and len(text) == 42):
            raise BadArgument(f"--to: expected a 0x-prefixed 20-byte address, got {to!r}")
        try:
            recipient = to_checksum_address(text)
        except ValueError:
            raise BadArgument(f"--to: expected a 0x-prefixed 20-byte address, got {to!r}") from None
    w3 = _web3(settlement.l1.rpc)
    chain_id = int(w3.eth.chain_id)
    if chain_id != settlement.l1.chain_id:
        raise BridgeError(
            f"the L1 at {settlement.l1.rpc} is chain {chain_id}, "
            f"the settlement file says {settlement.l1.chain_id}"
        )
    contract = w3.eth.contract(address=to_checksum_address(portal), abi=abi(OPTIMISM_PORTAL))
    call_ = contract.functions.depositTransaction(recipient, wei, gas_limit, False, data)
    balance = int(w3.eth.get_balance(account.address))
    try:
        gas = int(call_.estimate_gas({"from": account.address, "value": wei}))
    except (ContractCustomError, ContractLogicError) as exc:
        name = _custom_error(exc)
        if name is not None:
            raise BridgeError(
                f"the portal refuses the deposit: {name}: {ERROR_HINTS.get(name, '')}"
            ) from None
        raise BridgeError(f"the portal refuses the deposit: {exc}") from None
    except ValueError as exc:  # e.g. insufficient funds
        raise BridgeError(f"the L1 refuses the deposit: {exc}") from None
    tx = call_.build_transaction(
        {
            "from": account.address,
            "value": wei,
            "gas": gas + gas // 5,
            "nonce": w3.eth.get_transaction_count(account.address, "pending"),
            "chainId": chain_id,
        }
    )
    fee = int(tx.get("maxFeePerGas", tx.get("gasPrice", 0)))
    if balance < wei + (gas + gas // 5) * fee:
        raise BridgeError(
            f"{account.address} has {balance} wei on L1: not enough for {wei} wei and the L1 gas"
        )
    signed = account.sign_transaction(tx)
    try:
        tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    except ValueError as exc:
        raise BridgeError(f"the L1 refused the transaction: {exc}") from None
    try:
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout, poll_latency=0.2)
    except TimeExhausted:
        raise BridgeError(
            f"L1 transaction {_hex(bytes(tx_hash))} not included within {timeout:g}s "
            "(`sequencer bridge status` tells where it stands)"
        ) from None
    if int(receipt["status"]) != 1:
        raise BridgeError(f"L1 transaction {_hex(bytes(tx_hash))} reverted")
    events = deposits_of_receipt(receipt, portal)
    if not events:
        raise BridgeError(f"L1 transaction {_hex(bytes(tx_hash))} emitted no TransactionDeposited log")
    states: list[dict[str, Any] | None] = [None for _ in events]
    if rpc is not None:
        deadline = time.monotonic() + timeout
        while True:
            states = [l2_state(rpc, deposit_tx(e).hash) for e in events]
            if (
                all(s is not None and s["status"] == "included" for s in states)
                or time.monotonic() > deadline
            ):
                break
            time.sleep(0.25)
    return {
        "l1Tx": _hex(bytes(tx_hash)),
        "l1Block": int(receipt["blockNumber"]),
        "depositor": account.address,
        "portal": to_checksum_address(portal),
        "deposits": [deposit_json(e, s) for e, s in zip(events, states, strict=True)],
    }


def print_deposit_status(result: dict[str, Any], as_json: bool) -> None:
    """Print :func:`deposit_status`'s answer (a table, or JSON)."""
    rows: list[Row] = [("L1 tx", result["l1Tx"]), ("L1 block", result["l1Block"])]
    for i, d in enumerate(result["deposits"]):
        rows.extend(deposit_rows(d, f"#{i} " if len(result["deposits"]) > 1 else ""))
    emit(as_json, result, "deposit status", rows)


def deposit_status(
    tx_hash: bytes, l1_path: Path, rpc: str | None, l1_rpc: str | None = None
) -> dict[str, Any] | None:
    """The deposit half of ``bridge status``: the deposits L1 transaction ``tx_hash`` made and
    where each stands on L2, or ``None`` when it is no L1 transaction that made one."""
    from web3.exceptions import TransactionNotFound

    text = _hex(tx_hash)
    settlement = _settlement_with_portal(l1_path)
    if l1_rpc is not None:
        settlement = settlement.with_l1_rpc(l1_rpc)
    portal = settlement.contracts.portal
    assert portal is not None
    w3 = _web3(settlement.l1.rpc)
    try:
        receipt = w3.eth.get_transaction_receipt(text)
    except TransactionNotFound:
        return None
    events = deposits_of_receipt(receipt, portal)
    if not events:
        return None
    return {
        "l1Tx": text.lower(),
        "l1Block": int(receipt["blockNumber"]),
        "deposits": [deposit_json(e, l2_state(rpc, deposit_tx(e).hash)) for e in events],
    }
