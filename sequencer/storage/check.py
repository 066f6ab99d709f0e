"""``sequencer db check``: verify a data directory end to end without changing it.

Checks every log record's frame and CRC, mini-block numbering, parent links and hashes, every
EVM block's header hash, parent link, transactions root, receipts root, gas used and (by
replaying the state diffs into a fresh state trie) its state root, that the index store
agrees with the log, and the pool journal's frames. A devnet rollback record (``evm_revert``)
takes the replay back to its EVM block: the mini-blocks after it are undone, and what follows
must continue from there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import rlp
from eth_hash.auto import keccak

from sequencer.codec import decode_evm_block, decode_mini_block, mini_block_hash
from sequencer.errors import StorageError
from sequencer.state import WorldState
from sequencer.storage.durable import POOL_DIR, decode_genesis, decode_rollback
from sequencer.storage.log import (
    KIND_EVM_BLOCK,
    KIND_GENESIS,
    KIND_MINI_BLOCK,
    KIND_POOL_ADD,
    KIND_POOL_REMOVE,
    KIND_ROLLBACK,
    KINDS,
    BlockLog,
    TornTail,
)
from sequencer.storage.store import ChainStore
from sequencer.trie.mpt import compute_root
from sequencer.trie.state import StateTrie
from sequencer.types import MiniBlock, StateDiff


@dataclass
class CheckReport:
    """What ``sequencer db check`` found: counts, a torn tail, and every problem named."""

    records: int = 0
    mini_blocks: int = 0
    blocks: int = 0
    pool_records: int = 0
    rollbacks: int = 0
    torn_tail: TornTail | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether nothing is damaged."""
        return not self.problems


class _Kept:
    """The last mini-block kept by a rollback: what the next one must follow."""

    def __init__(self, number: int, hash: bytes) -> None:
        self.number = number
        self.hash = hash


def _index_rollbacks(data: Path) -> int:
    if not (data / "chain.lmdb").exists():
        return 0
    index = ChainStore(data)
    try:
        return index.rollbacks()
    except Exception:
        return 0
    finally:
        index.close()


def check_data_dir(data_dir: str | Path, progress: Callable[[int, int], None] | None = None) -> CheckReport:
    """Verify a data dir end to end without changing it (see the module docstring)."""
    data = Path(data_dir)
    report = CheckReport()
    if not (data / "log").is_dir():
        report.problems.append(f"{data}: no log/ directory: not a sequencer data dir")
        return report
    blog = BlockLog(data / "log")

    def torn(t: TornTail) -> None:
        report.torn_tail = t

    trie = StateTrie()
    # a devnet that was rolled back (the index counts its rollbacks): the flat state beside the
    # trie, and each mini-block's undo, so a rollback record can be replayed
    world = WorldState() if _index_rollbacks(data) else None
    undo: list[tuple[int, bytes, StateDiff]] = []
    prev_mini: MiniBlock | _Kept | None = None
    pending: list[MiniBlock] = []
    last_block_hash: bytes | None = None
    last_block_number = -1
    block_hashes: dict[int, bytes] = {}
    try:
        for rec in blog.scan(repair=False, on_torn=torn, progress=progress):
            report.records += 1
            if rec.kind == KIND_GENESIS:
                _chain_id, genesis, diff = decode_genesis(rec.payload)
                trie.apply_diff(diff)
                if world is not None:
                    world.apply_diff(diff)
                if trie.root() != genesis.state_root:
                    report.problems.append("genesis: state root does not match its allocation")
                last_block_hash, last_block_number = genesis.hash, 0
                block_hashes[0] = genesis.hash
            elif rec.kind == KIND_MINI_BLOCK:
                mb = decode_mini_block(rec.payload)
                report.mini_blocks += 1
                expected_parent = prev_mini.hash if prev_mini is not None else last_block_hash
                if prev_mini is not None and mb.number != prev_mini.number + 1:
                    report.problems.append(
                        f"mini-block {mb.number} at {rec.position} follows {prev_mini.number}"
                    )
                if mb.parent_hash != expected_parent:
                    report.problems.append(f"mini-block {mb.number}: parent hash does not link")
                recomputed = mini_block_hash(mb)
                if recomputed != mb.hash:
                    report.problems.append(f"mini-block {mb.number}: hash does not match its content")
                trie.apply_diff(mb.diff)
                if world is not None:
                    undo.append((mb.number, mb.hash, world.undo_of(mb.diff)))
                    world.apply_diff(mb.diff)
                pending.append(mb)
                prev_mini = mb
            elif rec.kind == KIND_ROLLBACK:
                report.rollbacks += 1
                to_block, to_hash, to_mini = decode_rollback(rec.payload)
                if world is None:
                    report.problems.append(
                        f"rollback at {rec.position}: the index store does not count it (it is rebuilt "
                        "at the next start; check again after one)"
                    )
                    break
                if block_hashes.get(to_block) != to_hash:
                    report.problems.append(
                        f"rollback at {rec.position}: block {to_block} is not in the chain"
                    )
                while undo and undo[-1][0] > to_mini:
                    _number, _hash, back = undo.pop()
                    trie.apply_diff(back)
                    world.apply_diff(back)
                prev_mini = _Kept(undo[-1][0], undo[-1][1]) if undo else None
                pending = [mb for mb in pending if mb.number <= to_mini]
                for number in [n for n in block_hashes if n > to_block]:
                    del block_hashes[number]
                last_block_hash, last_block_number = to_hash, to_block
            elif rec.kind == KIND_EVM_BLOCK:
                block = decode_evm_block(rec.payload)
                report.blocks += 1
                where = f"block {block.number}"
                if block.number != last_block_number + 1:
                    report.problems.append(f"{where} at {rec.position} follows block {last_block_number}")
                if keccak(block.header_rlp) != block.hash:
                    report.problems.append(f"{where}: hash does not match its header")
                if block.parent_hash != last_block_hash:
                    report.problems.append(f"{where}: parent hash does not link")
                minis = [mb for mb in pending if mb.block_number == block.number]
                pending = [mb for mb in pending if mb.block_number != block.number]
                raws = [raw for mb in minis for raw in mb.raw_txs]
                receipts = [r for mb in minis for r in mb.receipts]
                if (
                    compute_root((rlp.encode(i), raw) for i, raw in enumerate(raws))
                    != block.transactions_root
                ):
                    report.problems.append(f"{where}: transactions root does not match")
                if (
                    compute_root((rlp.encode(i), r.encoded) for i, r in enumerate(receipts))
                    != block.receipts_root
                ):
                    report.problems.append(f"{where}: receipts root does not match")
                if sum(mb.gas_used for mb in minis) != block.gas_used:
                    report.problems.append(f"{where}: gas used does not match its mini-blocks")
                if trie.root() != block.state_root:
                    report.problems.append(f"{where}: state root does not match the replayed state diffs")
                last_block_hash, last_block_number = block.hash, block.number
                block_hashes[block.number] = block.hash
            elif rec.kind == KIND_POOL_ADD:  # journaled in the block log before the pool journal
                report.pool_records += 1
    except StorageError as exc:
        report.problems.append(str(exc))
        return report
    except Exception as exc:  # an undecodable payload behind a valid CRC
        report.problems.append(f"undecodable record: {type(exc).__name__}: {exc}")
        return report
    finally:
        blog.close()

    pool_dir = data / POOL_DIR
    if pool_dir.is_dir():  # a torn tail there is a write cut short, repaired at the next start
        journal = BlockLog(pool_dir)
        try:
            for rec in journal.scan(repair=False):
                if rec.kind in (KIND_POOL_ADD, KIND_POOL_REMOVE):
                    report.pool_records += 1
                else:
                    report.problems.append(f"pool journal: a {KINDS[rec.kind]} record at {rec.position}")
        except StorageError as exc:
            report.problems.append(f"pool journal: {exc}")
        finally:
            journal.close()

    if (data / "chain.lmdb").exists():
        index = ChainStore(data)
        try:
            head = index.head_block_number()
            if head is not None and head > last_block_number:
                report.problems.append(
                    f"index store is ahead of the log (block {head} > {last_block_number})"
                )
            for number, block_hash in block_hashes.items():
                stored = index.get_block_hash(number)
                if stored is not None and stored != block_hash:
                    report.problems.append(f"index store: block {number} hash differs from the log")
        finally:
            index.close()
    return report
