"""Summarise a py-spy raw profile (``py-spy record --format raw --threads --idle``) of one thread.

Each line of the raw format is one stack, ``thread (TID);frame;frame;... COUNT``, outermost
frame first, a frame being ``function (file:line)``. For the thread ``--tid`` (default: the
main thread, else the busiest one) it prints the share of samples in the event
loop below any Python frame (idle, or uvloop's and aiohttp's own C work: py-spy cannot tell them
apart without native stacks), then the inclusive share of the
top functions and of the project's modules (a sample counts once for each function or module on
its stack).

Usage:
  .venv/bin/python -m bench.spy_summary FILE [--tid TID] [--top 30]
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^():]*)(?::(?P<line>\d+))?\)$")
IDLE = ("selectors.py", "select", "epoll")


def parse(path: Path) -> dict[str, list[tuple[list[str], int]]]:
    """Stacks by thread: each a list of frames (outermost first) and its sample count."""
    threads: dict[str, list[tuple[list[str], int]]] = {}
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        thread, *frames = stack.split(";")
        threads.setdefault(thread, []).append((frames, int(count)))
    return threads


def idle_samples(stacks: list[tuple[list[str], int]]) -> int:
    """Samples waiting in the event loop: the innermost frame is the selector, or the loop's own
    ``run`` (uvloop waits, and does its C work, below any Python frame)."""
    return sum(c for frames, c in stacks if frames and is_idle(frames))


def is_idle(frames: list[str]) -> bool:
    inner = frames[-1]
    return any(k in inner for k in IDLE) or inner.startswith(("run (asyncio/runners.py", "run (uvloop/"))


def module_of(frame: str) -> str | None:
    """``sequencer/builder/producer.py`` for a frame of the project, else ``None``."""
    m = FRAME.match(frame)
    if m is None:
        return None
    file = m.group("file")
    for root in ("sequencer/", "verifier/"):
        i = file.find(root)
        if i >= 0:
            return file[i:]
    return None


def function_of(frame: str) -> str:
    m = FRAME.match(frame)
    if m is None:
        return frame
    file = m.group("file")
    short = "/".join(file.split("/")[-2:])
    return f"{m.group('func')} ({short})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file", type=Path)
    ap.add_argument("--tid", help="the thread id to summarise (default: the one with most samples)")
    ap.add_argument("--top", type=int, default=30)
    args = ap.parse_args()

    threads = parse(args.file)
    if not threads:
        raise SystemExit(f"{args.file}: no samples")
    totals = {t: sum(c for _, c in stacks) for t, stacks in threads.items()}
    busy = {t: totals[t] - idle_samples(stacks) for t, stacks in threads.items()}
    named = [
        t for t in threads if (args.tid and args.tid in t) or (not args.tid and t.endswith("MainThread"))
    ]
    thread = named[0] if named else max(busy, key=busy.__getitem__)
    stacks = threads[thread]
    total = totals[thread]
    idle = idle_samples(stacks)
    functions: Counter[str] = Counter()
    modules: Counter[str] = Counter()
    for frames, count in stacks:
        for name in {function_of(f) for f in frames}:
            functions[name] += count
        for name in {m for m in (module_of(f) for f in frames) if m is not None}:
            modules[name] += count
    print(f"{args.file}: {thread}, {total:,} samples; idle {100 * idle / total:.1f}%")
    print(f"top {args.top} functions (inclusive share of all samples):")
    for name, count in functions.most_common(args.top):
        print(f"  {100 * count / total:5.1f}%  {name}")
    print(f"the project's modules (inclusive share), top {args.top}:")
    for name, count in modules.most_common(args.top):
        print(f"  {100 * count / total:5.1f}%  {name}")


if __name__ == "__main__":
    main()
