"""Micro-benchmark: sequencer.trie.MerklePatriciaTrie vs py-trie's HexaryTrie.

Not a test.  Run with ``python -m bench.bench_trie [--keys N] [--updates M]``.

* MerklePatriciaTrie: build a trie of N (default 100k) random 32-byte keys with
  70-byte values, hash it, then time M (default 2,000) updates of existing keys
  followed by one root_hash(); also M inserts of new keys + root_hash().
* HexaryTrie (dict db): the same kind of M updates on a smaller trie (default
  10k keys, py-trie is too slow to build 100k quickly), plain ``set`` calls and
  inside ``squash_changes()``, then reading the root.
"""

from __future__ import annotations

import argparse
import random
import time

from trie.hexary import HexaryTrie

from sequencer.trie import MerklePatriciaTrie

VALUE_SIZE = 70


def _items(rnd: random.Random, n: int) -> list[tuple[bytes, bytes]]:
    return [(rnd.randbytes(32), rnd.randbytes(VALUE_SIZE)) for _ in range(n)]


def bench_mpt(n_keys: int, n_updates: int, rnd: random.Random) -> None:
    items = _items(rnd, n_keys)
    t = MerklePatriciaTrie()
    start = time.perf_counter()
    for k, v in items:
        t.set(k, v)
    t.root_hash()
    build = time.perf_counter() - start
    print(
        f"MerklePatriciaTrie: built {n_keys:,} keys + root in {build:.2f} s "
        f"({build / n_keys * 1e6:.1f} us/key)"
    )

    updates = [(k, rnd.randbytes(VALUE_SIZE)) for k, _ in rnd.sample(items, n_updates)]
    start = time.perf_counter()
    for k, v in updates:
        t.set(k, v)
    t.root_hash()
    elapsed = time.perf_counter() - start
    print(
        f"MerklePatriciaTrie: {n_updates:,} updates + root_hash() on {n_keys:,} keys: "
        f"{elapsed * 1e3:.1f} ms = {elapsed / n_updates * 1e6:.1f} us/key"
    )

    inserts = _items(rnd, n_updates)
    start = time.perf_counter()
    for k, v in inserts:
        t.set(k, v)
    t.root_hash()
    elapsed = time.perf_counter() - start
    print(
        f"MerklePatriciaTrie: {n_updates:,} inserts + root_hash() on {n_keys:,} keys: "
        f"{elapsed * 1e3:.1f} ms = {elapsed / n_updates * 1e6:.1f} us/key"
    )


def bench_py_trie(n_keys: int, n_updates: int, rnd: random.Random) -> None:
    items = _items(rnd, n_keys)
    h = HexaryTrie({})
    start = time.perf_counter()
    with h.squash_changes() as batch:
        for k, v in items:
            batch.set(k, v)
    build = time.perf_counter() - start
    print(f"HexaryTrie: built {n_keys:,} keys in {build:.2f} s")

    updates = [(k, rnd.randbytes(VALUE_SIZE)) for k, _ in rnd.sample(items, n_updates)]
    start = time.perf_counter()
    for k, v in updates:
        h.set(k, v)
    _ = h.root_hash
    elapsed = time.perf_counter() - start
    print(
        f"HexaryTrie: {n_updates:,} updates (set) on {n_keys:,} keys: "
        f"{elapsed * 1e3:.1f} ms = {elapsed / n_updates * 1e6:.1f} us/key"
    )

    updates = [(k, rnd.randbytes(VALUE_SIZE)) for k, _ in rnd.sample(items, n_updates)]
    start = time.perf_counter()
    with h.squash_changes() as batch:
        for k, v in updates:
            batch.set(k, v)
    _ = h.root_hash
    elapsed = time.perf_counter() - start
    print(
        f"HexaryTrie: {n_updates:,} updates (squash_changes) on {n_keys:,} keys: "
        f"{elapsed * 1e3:.1f} ms = {elapsed / n_updates * 1e6:.1f} us/key"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--keys", type=int, default=100_000, help="MerklePatriciaTrie size")
    parser.add_argument("--py-trie-keys", type=int, default=10_000, help="HexaryTrie size")
    parser.add_argument("--updates", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rnd = random.Random(args.seed)
    bench_mpt(args.keys, args.updates, rnd)
    bench_py_trie(args.py_trie_keys, args.updates, rnd)


if __name__ == "__main__":
    main()
