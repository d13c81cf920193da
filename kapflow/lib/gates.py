"""What a readiness gate answers. Gates are plain functions over the database, one per row of
docs/clinical.md's readiness table, each returning a GateResult; the readiness panel, the runbook, the
calendar badge and the tests all call the same functions (kapflow.pathway.readiness)."""

import enum
from dataclasses import dataclass

# What a gate (or the readiness panel) is given in place of a row its caller has read already,
# when None is an answer of its own (no screening yet, no plan written): not given, it reads it.
UNREAD = object()


class Status(enum.Enum):
    PASS = "pass"
    FAIL = "fail"  # blocks
    ACKNOWLEDGE = "acknowledge"  # a soft gate: needs a documented acknowledgement


@dataclass(frozen=True)
class GateResult:
    key: str  # e.g. "clearance"
    label: str  # e.g. "Medical clearance"
    status: Status
    reason: str  # read by a tired clinician: "Medical clearance expired on May 3, 2026."
    resolver: str  # who can resolve it: "prescriber", "therapist", "client", "guardian", "admin"
    url: str = ""  # where it is resolved

    @property
    def passed(self) -> bool:
        return self.status is Status.PASS
