"""The runbook's views, one module per concern, as kapflow/dosing/urls.py routes them: the page
(page) and its live panel (live); check-in and start (checkin); vitals; doses (administration);
what is recorded while the session runs (session); discharge; signing; the prescriber's reviews
(reviews); the emergency call (emergency). What they share is in base."""
