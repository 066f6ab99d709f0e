"""A derivation verdict: what L1 says against what the verifier derived, with the L1 evidence.

It names the L1 block and transaction (and the channel and frame, when a batch is at fault; the
log index, when a portal deposit is),
the L2 block, the field, the value L1 claims and the derived one. Logged as ``VERDICT`` with
its keys as fields, like the feed verifier's verdicts, recorded in the checkpoint
(``verifier status``), counted in ``verifier_mismatches_total``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from sequencer.logs import fields

log = logging.getLogger("verifier")


@dataclass(frozen=True, slots=True)
class DerivationVerdict:
    """One failed derivation check."""

    field: str
    claimed: str
    derived: str
    l1_block: int | None
    l1_tx: str | None
    l2_block: int | None
    channel: str | None = None
    frame: int | None = None
    note: str = ""
    detected_at: float = 0.0
    log_index: int | None = None
    """The L1 log at fault (a portal deposit's), with ``l1_tx``."""

    def as_dict(self) -> dict[str, Any]:
        """The JSON object logged and recorded (the fields plus ``"verdict": "mismatch"``)."""
        out = asdict(self)
        out["verdict"] = "mismatch"
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DerivationVerdict:
        """The verdict recorded as ``data``."""
        return cls(
            str(data["field"]),
            str(data["claimed"]),
            str(data["derived"]),
            data.get("l1_block"),
            data.get("l1_tx"),
            data.get("l2_block"),
            data.get("channel"),
            data.get("frame"),
            str(data.get("note", "")),
            float(data.get("detected_at", 0.0)),
            data.get("log_index"),
        )

    @property
    def finding(self) -> tuple[Any, ...]:
        """Everything but the detection time (the same finding found again is the same fault)."""
        d = asdict(self)
        d.pop("detected_at")
        return tuple(sorted(d.items()))


class DerivationMismatch(Exception):
    """A derivation check failed; carries its :class:`DerivationVerdict`."""

    def __init__(self, verdict: DerivationVerdict) -> None:
        super().__init__(f"{verdict.field}: L1 claims {verdict.claimed}, derived {verdict.derived}")
        self.verdict = verdict


def announce(verdict: DerivationVerdict) -> None:
    """Log the verdict (level error, logger ``verifier``): message ``VERDICT``, the verdict's keys
    as the record's fields, as the feed verifier's verdicts are logged."""
    log.error("VERDICT", extra=fields(**verdict.as_dict()))
