"""Verdicts: what a failed check names, and the one machine-readable line that announces it.

A verdict names the feed position, the EVM block, the mini-block, the transaction index (when
one is at fault), the field, the claimed and the recomputed value, and when it was detected.
It is logged as one line (message ``VERDICT``, the verdict's keys as its fields), recorded in
the checkpoint (``verifier status``) and counted in ``verifier_mismatches_total``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from sequencer.logs import fields

log = logging.getLogger("verifier")


@dataclass(frozen=True, slots=True)
class Verdict:
    """One failed check."""

    seq: int
    evm_block: int | None
    mini_block: int | None
    tx_index: int | None
    field: str
    claimed: str
    recomputed: str
    detected_at: float

    def as_dict(self) -> dict[str, Any]:
        """The JSON object logged and recorded (the fields plus ``"verdict": "mismatch"``)."""
        out = asdict(self)
        out["verdict"] = "mismatch"
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Verdict:
        """The verdict recorded as ``data`` (by :meth:`as_dict`)."""
        return cls(
            int(data["seq"]),
            _optional_int(data.get("evm_block")),
            _optional_int(data.get("mini_block")),
            _optional_int(data.get("tx_index")),
            str(data["field"]),
            str(data["claimed"]),
            str(data["recomputed"]),
            float(data.get("detected_at", 0.0)),
        )

    @property
    def finding(self) -> tuple[int, int | None, int | None, int | None, str, str, str]:
        """Everything but the detection time: the same finding, found again, is the same fault."""
        return (
            self.seq,
            self.evm_block,
            self.mini_block,
            self.tx_index,
            self.field,
            self.claimed,
            self.recomputed,
        )


class Mismatch(Exception):
    """A check failed; carries its :class:`Verdict` and, on a signed chain, the signed mini-block
    headers the finding contradicts (``evidence``: what the sequencer signed, as MegaETH writes
    a mini-block header)."""

    def __init__(self, verdict: Verdict, evidence: tuple[dict[str, Any], ...] = ()) -> None:
        super().__init__(f"{verdict.field}: claimed {verdict.claimed}, recomputed {verdict.recomputed}")
        self.verdict = verdict
        self.evidence = evidence


def announce(verdict: Verdict) -> None:
    """Log the verdict (level error, logger ``verifier``): message ``VERDICT``, the verdict's
    keys as the record's fields (``evm_block=3 ... field=balance claimed=..`` in ``kv`` lines,
    typed values in ``json`` lines)."""
    log.error("VERDICT", extra=fields(**verdict.as_dict()))


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)
