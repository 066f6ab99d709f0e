"""A wall-clock budget for one transaction's execution.

py-evm's interpreter is a Python loop that holds the GIL, so nothing on another thread can stop
it. An interval timer can: :func:`time_limit` arms ``ITIMER_REAL`` for the budget, and the
``SIGALRM`` handler raises :class:`DeadlineExceeded` on the main thread, at the next bytecode
boundary, wherever py-evm is (its opcode loop, a precompile's Python code, ...). The handler
raises only while a limit is armed, so a late signal is harmless; the timer is disarmed when
the block exits, whatever happened inside it.

:class:`DeadlineExceeded` is a ``BaseException`` so that no ``except Exception`` on the way
(py-evm has a few) can swallow it; the caller catches it around the whole ``with`` block and
undoes what the execution did.

Signals are delivered to the main thread only: on any other thread (or with no budget) the limit
is a no-op. Threads that must not see ``SIGALRM`` at all can call :func:`block_alarm_signal`
(the node's writer thread does, so its fsyncs are never interrupted).
"""

from __future__ import annotations

import gc
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class DeadlineExceeded(BaseException):
    """The armed time budget ran out (raised from the ``SIGALRM`` handler)."""


_armed = False


def _on_alarm(_signum: int, _frame: FrameType | None) -> None:
    if _armed:
        raise DeadlineExceeded()


def block_alarm_signal() -> None:
    """Block ``SIGALRM`` in the calling thread (a thread initializer): the budget's signal then
    always goes to the main thread, and never interrupts this thread's system calls."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise :class:`DeadlineExceeded` inside the block once it has run ``seconds`` of wall-clock
    time (``None``: no limit; off the main thread: no limit).

    Whoever used ``SIGALRM`` before (a test runner's timeout, say) gets it back afterwards: the
    previous handler is restored and its timer re-armed with what was left of it.
    """
    global _armed
    if seconds is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGALRM)
    # a Python handler someone else installed is put back afterwards; the default one is not
    # (ours stays: it does nothing unless a limit is armed)
    restore = callable(previous) and previous is not _on_alarm
    if previous is not _on_alarm:
        signal.signal(signal.SIGALRM, _on_alarm)
    started = time.monotonic()
    outer_left, outer_interval = signal.getitimer(signal.ITIMER_REAL)
    # a cyclic garbage collection of a large heap can pause the interpreter longer than the
    # budget: it waits until the block is over (the node's collections run between transactions)
    collecting = gc.isenabled()
    try:
        _armed = True
        gc.disable()
        signal.setitimer(signal.ITIMER_REAL, seconds)
        yield
    finally:
        _armed = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        if collecting:
            gc.enable()
        if restore:
            signal.signal(signal.SIGALRM, previous)
        if outer_left:
            left = max(outer_left - (time.monotonic() - started), 1e-6)
            signal.setitimer(signal.ITIMER_REAL, left, outer_interval)
