"""The channel bank: frames in, complete channels out (the OP derivation spec's Channel Bank).

A channel opens with its first frame seen and is tagged with that L1 block. It is complete once
its closing frame (``is_last``) and every frame before it are in; then its data (the frames'
data in order) is handed out and the channel leaves the bank. Duplicate frames, frames after
the closing one and frames of a timed-out channel are dropped; a channel still incomplete more
than ``timeout`` L1 blocks after it opened is dropped. Frames remember which L1 transaction
brought them (for verdicts).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from sequencer.settlement.channels import Frame


@dataclass(frozen=True, slots=True)
class BankedFrame:
    """A frame with the L1 transaction and block it came in."""

    number: int
    data: bytes
    is_last: bool
    l1_tx: bytes
    l1_block: int


@dataclass(frozen=True, slots=True)
class OpenChannel:
    """A channel whose frames are arriving."""

    channel_id: bytes
    opened_at: int
    frames: tuple[BankedFrame, ...] = ()

    @property
    def closing(self) -> int | None:
        """The number of its closing frame, once seen."""
        return next((f.number for f in self.frames if f.is_last), None)

    def ready(self) -> bool:
        """Closed, with every frame up to the closing one."""
        last = self.closing
        return last is not None and {f.number for f in self.frames} >= set(range(last + 1))


@dataclass(frozen=True, slots=True)
class CompleteChannel:
    """A channel ready to decode: its data and the frames it came in."""

    channel_id: bytes
    data: bytes
    frames: tuple[BankedFrame, ...]

    @property
    def last_tx(self) -> bytes:
        """The L1 transaction that completed it."""
        return max(self.frames, key=lambda f: (f.l1_block, f.number)).l1_tx


@dataclass(frozen=True, slots=True)
class ChannelBank:
    """Channels being assembled, oldest first (immutable: each operation returns a new bank)."""

    timeout: int
    channels: tuple[OpenChannel, ...] = field(default_factory=tuple)

    def add(
        self, frame: Frame, l1_tx: bytes, l1_block: int
    ) -> tuple[ChannelBank, CompleteChannel | None, str | None]:
        """The bank with ``frame`` in; the channel it completed, if any; why it was dropped, if it was."""
        index = next((i for i, c in enumerate(self.channels) if c.channel_id == frame.channel_id), None)
        channel = self.channels[index] if index is not None else OpenChannel(frame.channel_id, l1_block)
        if l1_block > channel.opened_at + self.timeout:
            return self, None, "its channel timed out"
        if any(f.number == frame.number for f in channel.frames):
            return self, None, "duplicate frame"
        closing = channel.closing
        if closing is not None and (frame.number > closing or frame.is_last):
            return self, None, "frame after the channel's closing frame"
        banked = BankedFrame(frame.number, frame.data, frame.is_last, l1_tx, l1_block)
        kept = tuple(f for f in channel.frames if not (frame.is_last and f.number > frame.number))
        channel = replace(channel, frames=(*kept, banked))
        others = tuple(c for c in self.channels if c.channel_id != frame.channel_id)
        if channel.ready():
            ordered = tuple(sorted(channel.frames, key=lambda f: f.number))
            done = CompleteChannel(channel.channel_id, b"".join(f.data for f in ordered), ordered)
            return replace(self, channels=others), done, None
        if index is None:
            channels = (*self.channels, channel)
        else:
            channels = tuple(channel if i == index else c for i, c in enumerate(self.channels))
        return replace(self, channels=channels), None, None

    def expire(self, l1_block: int) -> tuple[ChannelBank, list[OpenChannel]]:
        """The bank without the channels timed out at ``l1_block``; those channels."""
        expired = [c for c in self.channels if l1_block > c.opened_at + self.timeout]
        if not expired:
            return self, []
        return replace(self, channels=tuple(c for c in self.channels if c not in expired)), expired
