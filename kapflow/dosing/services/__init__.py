"""Writes to the runbook, one module per concern; callers import the module they need:

- runbook: the refusal, opening and locking the record, and what every write shares;
- checkin: the day-of checklist, the medication review, the safety plan, starting the session;
- vitals: readings and the caution acknowledgement;
- administration: doses and boosters, the session's routes, the prescriber on site;
- session: ratings, adverse events, notes, phases, chaperone check-ins;
- discharge: discharge, and the integration session booked or acknowledged;
- signing: signing the record and its addenda;
- reviews: the prescriber's reviews of adverse events and discharge overrides.

In-session alerts are kapflow.dosing.alerts, which these modules call."""
