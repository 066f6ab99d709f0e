"""Specification of sequencer.rpc.filters: geth-style polling filters (eth_newFilter,
eth_newBlockFilter, eth_newPendingTransactionFilter, eth_getFilterChanges, eth_getFilterLogs,
eth_uninstallFilter), fed by producer events, with expiry, caps and strict parameters."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import orjson
import pytest
from eth_hash.auto import keccak

from sequencer.bloom import logs_bloom
from sequencer.errors import FilterNotFound, LimitExceeded
from sequencer.jsonrpc.dispatch import Dispatcher
from sequencer.jsonrpc.errors import InvalidParams
from sequencer.rpc.errors import translate
from sequencer.rpc.filters import FilterManager
from sequencer.rpc.logs import parse_log_filter
from sequencer.types import ZERO_HASH, BlockEnv, EvmBlock, Log, MiniBlock, Receipt, StateDiff

TOKEN = bytes.fromhex("5FbDB2315678afecb367f032d93F642f64180aa3")
OTHER = b"\x11" * 20
TRANSFER = keccak(b"Transfer(address,address,uint256)")
APPROVAL = keccak(b"Approval(address,address,uint256)")
ALICE = b"\x00" * 12 + b"\xaa" * 20
BOB = b"\x00" * 12 + b"\xbb" * 20


def h(b: bytes) -> str:
    return "0x" + b.hex()


def make_receipt(
    block_number: int, mini_number: int, tx_index: int, first_log_index: int, *logs: Log
) -> Receipt:
    return Receipt(
        tx_hash=keccak(b"tx %d %d" % (block_number, tx_index)),
        tx_type=2,
        sender=b"\x01" * 20,
        to=TOKEN,
        status=1,
        gas_used=50_000,
        cumulative_gas_used=50_000 * (tx_index + 1),
        effective_gas_price=10**9,
        logs=logs,
        bloom=logs_bloom(logs),
        contract_address=None,
        block_number=block_number,
        mini_block_number=mini_number,
        tx_index=tx_index,
        first_log_index=first_log_index,
        encoded=b"",
    )


def env(number: int) -> BlockEnv:
    return BlockEnv(
        number, 1_700_000_000 + number, keccak(b"parent"), 10**9, 30_000_000, b"\xc0" * 20, ZERO_HASH
    )


def make_mini(number: int, block_number: int, index: int, receipts: tuple[Receipt, ...]) -> MiniBlock:
    return MiniBlock(
        number=number,
        block_number=block_number,
        index=index,
        timestamp_us=1_700_000_000_000_000 + number,
        parent_hash=keccak(b"mini %d" % (number - 1)),
        hash=keccak(b"mini %d" % number),
        block_env=env(block_number),
        raw_txs=tuple(b"\x02raw" + r.tx_hash for r in receipts),
        tx_hashes=tuple(r.tx_hash for r in receipts),
        receipts=receipts,
        diff=StateDiff(()),
        gas_used=sum(r.gas_used for r in receipts),
    )


def make_block(number: int, minis: list[MiniBlock], first: int) -> EvmBlock:
    tx_hashes = tuple(t for mb in minis for t in mb.tx_hashes)
    bloom = 0
    for mb in minis:
        for r in mb.receipts:
            bloom |= int.from_bytes(r.bloom, "big")
    return EvmBlock(
        number=number,
        hash=keccak(b"block %d" % number),
        parent_hash=keccak(b"block %d" % (number - 1)),
        timestamp=1_700_000_000 + number,
        state_root=keccak(b"state"),
        transactions_root=keccak(b"txs"),
        receipts_root=keccak(b"receipts"),
        logs_bloom=bloom.to_bytes(256, "big"),
        gas_used=sum(mb.gas_used for mb in minis),
        gas_limit=30_000_000,
        base_fee=10**9,
        coinbase=b"\xc0" * 20,
        prev_randao=ZERO_HASH,
        header_rlp=b"",
        tx_hashes=tx_hashes,
        first_mini_block=first,
        last_mini_block=first + len(minis) - 1,
        sealed_at_us=0,
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Harness:
    """A FilterManager and a tiny chain: seal() publishes mini-blocks, then the EVM block."""

    def __init__(self, **kwargs: Any) -> None:
        self.clock = Clock()
        self.receipts_by_block: dict[int, list[tuple[Receipt, bytes]]] = {}
        self.receipt_calls: list[int] = []
        self.get_logs_calls: list[dict[str, Any]] = []
        self.get_logs_result: list[dict[str, Any]] = [{"sentinel": True}]
        self.fm = FilterManager(self.block_receipts, self.get_logs, clock=self.clock, **kwargs)
        self.next_block = 1
        self.next_mini = 1

    def block_receipts(self, block: EvmBlock) -> list[tuple[Receipt, bytes]]:
        self.receipt_calls.append(block.number)
        return self.receipts_by_block[block.number]

    def get_logs(self, flt: dict[str, Any]) -> list[dict[str, Any]]:
        self.get_logs_calls.append(flt)
        return self.get_logs_result

    def build(self, *txs_logs: list[tuple[Log, ...]]) -> tuple[EvmBlock, list[MiniBlock]]:
        """The next EVM block; each argument is a mini-block, a list of transactions' logs."""
        number = self.next_block
        self.next_block += 1
        first = self.next_mini
        minis: list[MiniBlock] = []
        tx_index = log_index = 0
        for index, txs in enumerate(txs_logs):
            receipts = []
            for logs in txs:
                receipts.append(make_receipt(number, self.next_mini, tx_index, log_index, *logs))
                tx_index += 1
                log_index += len(logs)
            minis.append(make_mini(self.next_mini, number, index, tuple(receipts)))
            self.next_mini += 1
        block = make_block(number, minis, first)
        self.receipts_by_block[number] = [
            (r, raw) for mb in minis for r, raw in zip(mb.receipts, mb.raw_txs, strict=True)
        ]
        return block, minis

    def seal(self, *txs_logs: list[tuple[Log, ...]]) -> EvmBlock:
        """Build the next block and seal it."""
        block, _minis = self.build(*txs_logs)
        self.fm.on_block(block)
        return block

    def call(self, method: str, *params: Any) -> Any:
        return self.fm.methods()[method](list(params))

    def changes(self, filter_id: str) -> Any:
        return self.call("eth_getFilterChanges", filter_id)


def transfer(src: bytes = ALICE, dst: bytes = BOB, address: bytes = TOKEN) -> Log:
    return Log(address, (TRANSFER, src, dst), (5).to_bytes(32, "big"))


def approval(address: bytes = TOKEN) -> Log:
    return Log(address, (APPROVAL, ALICE, BOB), b"")


# -- ids and the method table ---------------------------------------------------------------------
def test_methods_and_id_format() -> None:
    t = Harness()
    assert set(t.fm.methods()) == {
        "eth_newFilter",
        "eth_newBlockFilter",
        "eth_newPendingTransactionFilter",
        "eth_getFilterChanges",
        "eth_getFilterLogs",
        "eth_uninstallFilter",
    }
    ids = {t.call("eth_newBlockFilter") for _ in range(20)}
    ids.add(t.call("eth_newPendingTransactionFilter"))
    ids.add(t.call("eth_newFilter", {}))
    assert len(ids) == 22 and t.fm.filter_count() == 22
    # 128 random bits as a hex QUANTITY (the spec's filter id): no leading zero, ever
    assert all(re.fullmatch(r"0x[1-9a-f][0-9a-f]{31}", i) for i in ids)
    many = {t.call("eth_newBlockFilter") for _ in range(300)}  # a leading zero would show up ~19 times
    assert all(re.fullmatch(r"0x[1-9a-f][0-9a-f]{31}", i) for i in many)


# -- block filters --------------------------------------------------------------------------------
def test_block_filter_returns_each_new_hash_once() -> None:
    t = Harness()
    t.seal([(transfer(),)])  # before installation: never reported
    fid = t.call("eth_newBlockFilter")
    assert t.changes(fid) == []
    b2 = t.seal([(transfer(),)])
    assert t.changes(fid) == [h(b2.hash)]
    assert t.changes(fid) == []
    b3, b4 = t.seal(), t.seal([(), ()], [((approval(),))])
    assert t.changes(fid) == [h(b3.hash), h(b4.hash)]
    assert t.changes(fid) == []
    t.fm.on_pending(keccak(b"tx"))
    assert t.changes(fid) == []
    assert t.receipt_calls == []  # no log filter: receipts are never read


def test_block_filters_are_independent() -> None:
    t = Harness()
    a = t.call("eth_newBlockFilter")
    b1 = t.seal()
    b = t.call("eth_newBlockFilter")
    b2 = t.seal()
    assert t.changes(a) == [h(b1.hash), h(b2.hash)]
    assert t.changes(b) == [h(b2.hash)]


# -- pending transaction filters ------------------------------------------------------------------
def test_pending_filter_returns_new_hashes_once() -> None:
    t = Harness()
    t.fm.on_pending(keccak(b"early"))
    fid = t.call("eth_newPendingTransactionFilter")
    block_fid = t.call("eth_newBlockFilter")
    assert t.changes(fid) == []
    t.fm.on_pending(keccak(b"a"))
    t.fm.on_pending(keccak(b"b"))
    assert t.changes(fid) == [h(keccak(b"a")), h(keccak(b"b"))]
    assert t.changes(fid) == []
    t.seal([(transfer(),)])
    assert t.changes(fid) == []
    assert len(t.changes(block_fid)) == 1
    t.fm.on_pending(keccak(b"c"))
    assert t.changes(fid) == [h(keccak(b"c"))]


def test_pending_filter_accepts_false_rejects_true() -> None:
    t = Harness()
    assert t.call("eth_newPendingTransactionFilter", False).startswith("0x")
    with pytest.raises(InvalidParams, match="full transaction objects are not supported"):
        t.call("eth_newPendingTransactionFilter", True)
    with pytest.raises(InvalidParams, match="fullTx"):
        t.call("eth_newPendingTransactionFilter", "yes")
    with pytest.raises(InvalidParams, match="expected 0 to 1 params"):
        t.call("eth_newPendingTransactionFilter", False, False)


# -- log filters ----------------------------------------------------------------------------------
def test_log_filter_delivers_each_log_once_at_seal_with_final_block_hash() -> None:
    t = Harness()
    fid = t.call("eth_newFilter", {})
    block, minis = t.build(
        [(transfer(),), (approval(), transfer(address=OTHER))], [(), (transfer(BOB, ALICE),)]
    )
    del minis  # published, but the block is still open: nothing is delivered yet
    assert t.changes(fid) == []  # blockHash would not be final yet
    t.fm.on_block(block)
    logs = t.changes(fid)
    assert [lg["logIndex"] for lg in logs] == ["0x0", "0x1", "0x2", "0x3"]
    assert [lg["transactionIndex"] for lg in logs] == ["0x0", "0x1", "0x1", "0x3"]
    assert {lg["blockHash"] for lg in logs} == {h(block.hash)}
    assert h(ZERO_HASH) not in {lg["blockHash"] for lg in logs}
    assert {lg["blockNumber"] for lg in logs} == {"0x1"}
    assert logs[1] == {
        "address": h(TOKEN),
        "topics": [h(APPROVAL), h(ALICE), h(BOB)],
        "data": "0x",
        "blockNumber": "0x1",
        "blockHash": h(block.hash),
        "blockTimestamp": hex(block.timestamp),
        "transactionHash": h(keccak(b"tx 1 1")),
        "transactionIndex": "0x1",
        "logIndex": "0x1",
        "removed": False,
    }
    assert logs[2]["address"] == h(OTHER)
    assert t.changes(fid) == []
    t.seal([(transfer(),)])
    assert [lg["blockNumber"] for lg in t.changes(fid)] == ["0x2"]


ALL = ["T-token", "A-token", "T-other", "T-bob", "anon"]


@pytest.mark.parametrize(
    ("criteria", "expected"),
    [
        ({}, ALL),
        ({"address": h(TOKEN)}, ["T-token", "A-token", "T-bob", "anon"]),
        ({"address": [h(OTHER)]}, ["T-other"]),
        ({"address": [h(TOKEN), h(OTHER)]}, ALL),
        ({"address": []}, ALL),  # geth: an empty list means any address
        ({"address": [h(b"\x99" * 20)]}, []),
        ({"topics": []}, ALL),
        ({"topics": [None]}, ["T-token", "A-token", "T-other", "T-bob"]),  # at least one topic
        ({"topics": [h(TRANSFER)]}, ["T-token", "T-other", "T-bob"]),
        ({"topics": [[h(TRANSFER), h(APPROVAL)]]}, ["T-token", "A-token", "T-other", "T-bob"]),
        ({"topics": [None, h(BOB)]}, ["T-bob"]),
        ({"topics": [[], [h(BOB)]]}, ["T-bob"]),
        ({"topics": [h(TRANSFER), None, [h(BOB), h(ALICE)]]}, ["T-token", "T-other", "T-bob"]),
        ({"topics": [h(TRANSFER), h(ALICE)], "address": h(OTHER)}, ["T-other"]),
        ({"topics": [None, None, None, None]}, []),  # the logs have at most 3 topics
        ({"topics": [h(keccak(b"nothing"))]}, []),
    ],
)
def test_log_filter_matching(criteria: dict[str, Any], expected: list[str]) -> None:
    t = Harness()
    fid = t.call("eth_newFilter", criteria)
    t.seal(
        [(transfer(),), (approval(), transfer(address=OTHER))],
        [(transfer(BOB, ALICE),), (Log(TOKEN, (), b"anonymous"),)],
    )
    assert [ALL[int(lg["logIndex"], 16)] for lg in t.changes(fid)] == expected


def _reference_match(log_topics: tuple[bytes, ...], wanted: list[Any]) -> bool:
    """geth's rule, written out independently: position i is null/[] (any), a topic, or a list."""
    if len(wanted) > len(log_topics):
        return False
    for i, entry in enumerate(wanted):
        if entry is None or entry == []:
            continue
        options = entry if isinstance(entry, list) else [entry]
        if log_topics[i] not in options:
            return False
    return True


@pytest.mark.parametrize(
    "topics",
    [
        [],
        [None],
        [[]],
        ["T"],
        [["T", "A"]],
        [None, "B"],
        ["T", None, "B"],
        [None, None, None, None],
        ["A", "A"],
    ],
)
def test_log_matching_follows_geths_topic_rule(topics: list[Any]) -> None:
    """Every log query (eth_getLogs, filters, subscriptions) uses this one filter: it selects what
    geth's rule selects."""
    sym = {"T": TRANSFER, "A": APPROVAL, "B": BOB}

    def conv(x: Any, to_wire: bool) -> Any:
        if isinstance(x, list):
            return [conv(y, to_wire) for y in x]
        if x is None:
            return None
        return h(sym[x]) if to_wire else sym[x]

    flt = parse_log_filter(None, conv(topics, True))
    wanted = conv(topics, False)
    outcomes = []
    for log_topics in [
        (),
        (TRANSFER,),
        (TRANSFER, ALICE, BOB),
        (APPROVAL, APPROVAL),
        (APPROVAL, ALICE, BOB, ALICE),
    ]:
        expected = _reference_match(log_topics, wanted)
        assert flt.matches(TOKEN, log_topics) == expected, log_topics
        outcomes.append(expected)
    if all(entry is None or entry == [] for entry in topics):
        # wildcards only: any log with at least as many topics as positions
        assert outcomes == [
            len(lt) >= len(topics) for lt in [(), (TRANSFER,), (1, 2, 3), (1, 2), (1, 2, 3, 4)]
        ]


def test_an_empty_address_list_matches_every_address() -> None:
    """geth: an absent, null or empty ``address`` matches every address (the subscription used to
    match nothing)."""
    for address in (None, []):  # type: ignore[var-annotated]
        flt = parse_log_filter(address, None)
        assert flt.matches(TOKEN, ()) and flt.matches(OTHER, (TRANSFER,))
    only = parse_log_filter([h(TOKEN)], None)
    assert only.matches(TOKEN, ()) and not only.matches(OTHER, ())


def test_log_filter_respects_from_and_to_block() -> None:
    t = Harness()
    bounded = t.call("eth_newFilter", {"fromBlock": "0x3", "toBlock": "0x4"})
    from_only = t.call("eth_newFilter", {"fromBlock": "0x4"})
    to_only = t.call("eth_newFilter", {"toBlock": "0x2", "fromBlock": "earliest"})
    tags = t.call("eth_newFilter", {"fromBlock": "latest", "toBlock": "pending"})
    by_number = t.call("eth_newFilter", {"fromBlock": {"blockNumber": "0x5"}})
    earliest = t.call("eth_newFilter", {"toBlock": "earliest"})
    for _ in range(6):
        t.seal([(transfer(),)])

    def numbers(fid: str) -> list[int]:
        return [int(lg["blockNumber"], 16) for lg in t.changes(fid)]

    assert numbers(bounded) == [3, 4]
    assert numbers(from_only) == [4, 5, 6]
    assert numbers(to_only) == [1, 2]
    assert numbers(tags) == [1, 2, 3, 4, 5, 6]  # tags leave the range open, as in geth
    assert numbers(by_number) == [5, 6]
    assert numbers(earliest) == []  # earliest is block 0


def test_log_filters_read_a_sealed_blocks_receipts_once() -> None:
    """Receipts come from the chain (one lookup per sealed block, whatever the number of log
    filters); the filter manager keeps no copy of the open block."""
    t = Harness()
    a = t.call("eth_newFilter", {})
    b = t.call("eth_newFilter", {"topics": [h(APPROVAL)]})
    t.seal([(transfer(),)], [(approval(),)])
    assert t.receipt_calls == [1]
    assert [lg["logIndex"] for lg in t.changes(a)] == ["0x0", "0x1"]
    assert [lg["logIndex"] for lg in t.changes(b)] == ["0x1"]


def test_the_logs_bloom_spares_blocks_that_cannot_match() -> None:
    """A block whose logs bloom rules the filter's address out is not read at all."""
    t = Harness()
    other = t.call("eth_newFilter", {"address": h(OTHER)})
    t.seal([(transfer(),)])
    assert t.receipt_calls == [] and t.changes(other) == []
    t.seal([(transfer(address=OTHER),)])
    assert t.receipt_calls == [2]
    assert [lg["address"] for lg in t.changes(other)] == [h(OTHER)]


def test_empty_blocks_and_out_of_range_filters_read_no_receipts() -> None:
    t = Harness()
    t.call("eth_newFilter", {"fromBlock": "0x10"})
    t.seal()
    t.seal([(transfer(),)])
    assert t.receipt_calls == []


def test_receipt_lookup_failure_does_not_break_the_producer(caplog: pytest.LogCaptureFixture) -> None:
    t = Harness()
    logs_fid = t.call("eth_newFilter", {})
    blocks_fid = t.call("eth_newBlockFilter")

    def broken(block: EvmBlock) -> list[tuple[Receipt, bytes]]:
        raise LookupError("mini-block missing")

    t.fm._block_receipts = broken
    with caplog.at_level(logging.ERROR, "sequencer.rpc.filters"):
        block = t.seal([(transfer(),)])
    assert "cannot read the receipts of block 1" in caplog.text
    assert t.changes(blocks_fid) == [h(block.hash)]
    assert t.changes(logs_fid) == []


# -- eth_getFilterLogs ----------------------------------------------------------------------------
def test_get_filter_logs_delegates_to_get_logs() -> None:
    t = Harness()
    criteria = {
        "fromBlock": "0x1",
        "toBlock": "latest",
        "address": [h(TOKEN)],
        "topics": [h(TRANSFER), None],
        "blockHash": None,
        "somethingElse": 1,
    }
    fid = t.call("eth_newFilter", criteria)
    assert t.call("eth_getFilterLogs", fid) is t.get_logs_result
    assert t.get_logs_calls == [
        {"fromBlock": "0x1", "toBlock": "latest", "address": [h(TOKEN)], "topics": [h(TRANSFER), None]}
    ]
    bare = t.call("eth_newFilter", {"address": []})
    t.call("eth_getFilterLogs", bare)
    assert t.get_logs_calls[-1] == {}  # an empty address list means any address, as in geth
    # the buffer of new logs is untouched
    t.seal([(transfer(),)])
    t.call("eth_getFilterLogs", fid)
    assert len(t.changes(fid)) == 1


def test_get_filter_logs_errors_propagate_and_only_log_filters_have_logs() -> None:
    t = Harness()
    fid = t.call("eth_newFilter", {})

    def capped(flt: dict[str, Any]) -> list[dict[str, Any]]:
        raise InvalidParams("eth_getLogs: block range exceeds the cap of 10 blocks")

    t.fm._get_logs = capped
    with pytest.raises(InvalidParams, match="exceeds the cap"):
        t.call("eth_getFilterLogs", fid)
    for other in (t.call("eth_newBlockFilter"), t.call("eth_newPendingTransactionFilter")):
        with pytest.raises(FilterNotFound, match=r"^filter not found$"):
            t.call("eth_getFilterLogs", other)


# -- uninstall, unknown ids -----------------------------------------------------------------------
def test_uninstall_then_unknown() -> None:
    t = Harness()
    fid = t.call("eth_newBlockFilter")
    assert t.call("eth_uninstallFilter", fid) is True
    assert t.call("eth_uninstallFilter", fid) is False
    assert t.fm.filter_count() == 0
    with pytest.raises(FilterNotFound, match=r"^filter not found$"):
        t.changes(fid)
    t.seal()  # an uninstalled filter buffers nothing
    assert t.call("eth_uninstallFilter", "0x" + "00" * 16) is False


def test_unknown_filter_id_error_over_json_rpc() -> None:
    t = Harness()
    dispatcher = Dispatcher(t.fm.methods(), translate=translate)
    for method in ("eth_getFilterChanges", "eth_getFilterLogs"):
        body = orjson.dumps({"jsonrpc": "2.0", "id": 7, "method": method, "params": ["0x" + "ab" * 16]})
        answer = orjson.loads(asyncio.run(dispatcher.handle_body(body)) or b"null")
        assert answer == {
            "jsonrpc": "2.0",
            "id": 7,
            "error": {"code": -32000, "message": "filter not found"},
        }
    body = orjson.dumps({"jsonrpc": "2.0", "id": 8, "method": "eth_newBlockFilter", "params": []})
    answer = orjson.loads(asyncio.run(dispatcher.handle_body(body)) or b"null")
    assert re.fullmatch(r"0x[0-9a-f]{32}", answer["result"])


# -- expiry ---------------------------------------------------------------------------------------
def test_filters_expire_when_not_polled() -> None:
    t = Harness(timeout_s=10)
    polled = t.call("eth_newBlockFilter")
    idle = t.call("eth_newFilter", {})
    t.clock.now += 9
    assert t.changes(polled) == []  # a poll restarts the countdown
    t.call("eth_getFilterLogs", idle)  # as in geth, this is not a poll
    t.clock.now += 1
    with pytest.raises(FilterNotFound):
        t.changes(idle)
    assert t.call("eth_uninstallFilter", idle) is False
    assert t.fm.filter_count() == 1
    t.clock.now += 8.5
    b = t.seal()
    assert t.changes(polled) == [h(b.hash)]
    t.clock.now += 10
    with pytest.raises(FilterNotFound):
        t.changes(polled)


def test_prune_and_expiry_on_producer_events() -> None:
    t = Harness(timeout_s=300)
    a = t.call("eth_newPendingTransactionFilter")
    t.clock.now += 100
    b = t.call("eth_newBlockFilter")
    c = t.call("eth_newFilter", {})
    assert t.fm.prune(t.clock.now + 299) == 1
    assert t.fm.prune() == 0
    t.clock.now += 300
    t.seal([(transfer(),)])  # a producer event expires filters too: nothing is buffered for them
    assert t.fm.filter_count() == 0
    assert t.fm.filter_count("logs") == t.fm.filter_count("blocks") == t.fm.filter_count("pending") == 0
    for fid in (a, b, c):
        with pytest.raises(FilterNotFound):
            t.changes(fid)


# -- caps -----------------------------------------------------------------------------------------
def test_filter_count_cap() -> None:
    t = Harness(max_filters=2, timeout_s=60)
    t.call("eth_newBlockFilter")
    t.clock.now += 30
    p = t.call("eth_newPendingTransactionFilter")
    with pytest.raises(LimitExceeded, match=r"too many filters installed \(max 2\)") as err:
        t.call("eth_newFilter", {})
    answer = translate(err.value)
    assert answer is not None and answer.code == -32005
    assert t.fm.filter_count() == 2
    t.clock.now += 30  # the first filter expires, which makes room
    t.call("eth_newFilter", {})
    with pytest.raises(LimitExceeded):
        t.call("eth_newBlockFilter")
    assert t.call("eth_uninstallFilter", p) is True  # so does uninstalling
    t.call("eth_newBlockFilter")
    assert t.fm.filter_count() == 2


def test_buffer_cap_drops_oldest(caplog: pytest.LogCaptureFixture) -> None:
    t = Harness(buffer_size=3)
    fid = t.call("eth_newPendingTransactionFilter")
    logs_fid = t.call("eth_newFilter", {})
    with caplog.at_level(logging.WARNING, "sequencer.rpc.filters"):
        for i in range(5):
            t.fm.on_pending(keccak(b"%d" % i))
    assert caplog.text.count("dropping its oldest entries") == 1
    assert t.changes(fid) == [h(keccak(b"%d" % i)) for i in (2, 3, 4)]
    t.fm.on_pending(keccak(b"5"))
    assert t.changes(fid) == [h(keccak(b"5"))]
    t.seal([(transfer(), approval())], [(transfer(BOB, ALICE), approval())])
    assert [lg["logIndex"] for lg in t.changes(logs_fid)] == ["0x1", "0x2", "0x3"]


def test_constructor_rejects_bad_limits() -> None:
    with pytest.raises(ValueError):
        Harness(timeout_s=0)
    with pytest.raises(ValueError):
        Harness(max_filters=0)
    with pytest.raises(ValueError):
        Harness(buffer_size=0)


# -- parameters -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("params", "message"),
    [
        ([], "eth_newFilter: expected 1 params, got 0"),
        ([{}, {}], "eth_newFilter: expected 1 params, got 2"),
        (["0x1"], "filter must be an object"),
        ([None], "filter must be an object"),
        ([{"blockHash": h(ZERO_HASH)}], "blockHash is not allowed"),
        ([{"address": "0x1234"}], "invalid address: expected 20 bytes"),
        ([{"address": 5}], "invalid address"),
        ([{"address": [h(TOKEN), "nope"]}], "invalid address"),
        ([{"address": {"a": 1}}], "invalid address"),
        ([{"topics": h(TRANSFER)}], "invalid topics"),
        ([{"topics": 0}], "invalid topics"),
        ([{"topics": [None] * 5}], "invalid topics"),
        ([{"topics": ["0x12"]}], "invalid topic: expected 32 bytes"),
        ([{"topics": [[h(TRANSFER), 7]]}], "invalid topic"),
        ([{"topics": [{"x": 1}]}], "invalid topic"),
        ([{"fromBlock": "0x5", "toBlock": "0x4"}], "fromBlock is after toBlock"),
        ([{"fromBlock": "0x1", "toBlock": "earliest"}], "fromBlock is after toBlock"),
        ([{"fromBlock": "5"}], "invalid fromBlock"),
        ([{"toBlock": 5}], "invalid toBlock"),
        ([{"fromBlock": "newest"}], "invalid fromBlock"),
        ([{"fromBlock": {"blockHash": h(ZERO_HASH)}}], "a block hash is not allowed"),
    ],
)
def test_new_filter_rejects_bad_params(params: list[Any], message: str) -> None:
    t = Harness()
    with pytest.raises(InvalidParams, match=re.escape(message)) as err:
        t.fm.eth_new_filter(params)
    assert err.value.code == -32602
    assert t.fm.filter_count() == 0


@pytest.mark.parametrize(
    ("method", "params", "message"),
    [
        ("eth_newBlockFilter", [None], "eth_newBlockFilter: expected 0 params, got 1"),
        ("eth_getFilterChanges", [], "eth_getFilterChanges: expected 1 params, got 0"),
        ("eth_getFilterChanges", ["0x1", "0x2"], "expected 1 params, got 2"),
        ("eth_getFilterChanges", [1], "eth_getFilterChanges: expected a filter id string, got int"),
        ("eth_getFilterLogs", [None], "eth_getFilterLogs: expected a filter id string, got NoneType"),
        ("eth_uninstallFilter", [["0x1"]], "eth_uninstallFilter: expected a filter id string, got list"),
        ("eth_uninstallFilter", [], "eth_uninstallFilter: expected 1 params, got 0"),
    ],
)
def test_other_methods_reject_bad_params(method: str, params: list[Any], message: str) -> None:
    t = Harness()
    with pytest.raises(InvalidParams, match=re.escape(message)):
        t.call(method, *params)


def test_params_must_be_an_array() -> None:
    t = Harness()
    with pytest.raises(InvalidParams, match="params must be an array"):
        t.fm.eth_get_filter_changes({"id": "0x1"})  # type: ignore[arg-type]
    assert t.fm.eth_new_block_filter(None).startswith("0x")  # type: ignore[arg-type]
