"""The runbook's rules as pure functions: no database, no clock of their own. Every threshold
comes from the practice's settings (kapflow.practice.models.Practice), passed in as `practice`."""

import datetime
from dataclasses import dataclass

from django.utils import timezone


@dataclass(frozen=True)
class Reading:
    taken_at: datetime.datetime
    systolic: int
    diastolic: int
    heart_rate: int
    spo2: int | None = None


def _hm(moment: datetime.datetime) -> str:
    return f"{timezone.localtime(moment):%H:%M}"


def reading_alerts(reading: Reading, *, baseline: Reading | None, practice) -> list[str]:
    """Why this reading is alarming, in words; empty when it is not. Blood pressure at or above
    the alert levels, a rise from the pre-dose `baseline` of at least the alert rise, heart rate
    outside the alert range, SpO2 below the alert level (docs/clinical.md, "During and after dosing")."""
    alerts = []
    bp = f"{reading.systolic}/{reading.diastolic}"
    if reading.systolic >= practice.alert_systolic or reading.diastolic >= practice.alert_diastolic:
        alerts.append(
            f"Blood pressure {bp} is at or above the alert level "
            f"({practice.alert_systolic}/{practice.alert_diastolic})."
        )
    if baseline is not None:
        rise_s = reading.systolic - baseline.systolic
        rise_d = reading.diastolic - baseline.diastolic
        if rise_s >= practice.alert_rise_systolic:
            alerts.append(
                f"Systolic rose {rise_s} mmHg from the pre-dose {baseline.systolic} "
                f"(alert at a rise of {practice.alert_rise_systolic})."
            )
        if rise_d >= practice.alert_rise_diastolic:
            alerts.append(
                f"Diastolic rose {rise_d} mmHg from the pre-dose {baseline.diastolic} "
                f"(alert at a rise of {practice.alert_rise_diastolic})."
            )
    if reading.heart_rate > practice.alert_hr_above:
        alerts.append(f"Heart rate {reading.heart_rate} is above {practice.alert_hr_above}.")
    elif reading.heart_rate < practice.alert_hr_below:
        alerts.append(f"Heart rate {reading.heart_rate} is below {practice.alert_hr_below}.")
    if reading.spo2 is not None and reading.spo2 < practice.spo2_alert_below:
        alerts.append(f"SpO2 {reading.spo2}% is below {practice.spo2_alert_below}%.")
    return alerts


@dataclass(frozen=True)
class Clock:
    minutes_since_first_dose: int | None  # None: no dose yet
    vitals_due_at: datetime.datetime | None
    overdue: bool
    minutes_until_due: int | None  # negative when overdue

    @property
    def running(self) -> bool:
        return self.minutes_since_first_dose is not None

    @property
    def overdue_minutes(self) -> int:
        return -self.minutes_until_due if self.overdue and self.minutes_until_due else 0


def session_clock(
    *,
    first_dose_at: datetime.datetime | None,
    vitals_since_dose: list[datetime.datetime],
    now: datetime.datetime,
    practice,
    last_dose_at: datetime.datetime | None = None,
) -> Clock:
    """Minutes since the first dose and when the next vitals are due: `first_vitals_minutes`
    after the first dose, then `vitals_interval_minutes` after the latest reading taken since
    it. A booster (`last_dose_at`) brings its own peak: the vitals are due `first_vitals_minutes`
    after it too, unless taken since, whichever comes first. Overdue once that moment has
    passed."""
    if first_dose_at is None:
        return Clock(None, None, False, None)
    since = int((now - first_dose_at).total_seconds() // 60)
    taken = [moment for moment in vitals_since_dose if moment >= first_dose_at]
    if taken:
        due = max(taken) + datetime.timedelta(minutes=practice.vitals_interval_minutes)
    else:
        due = first_dose_at + datetime.timedelta(minutes=practice.first_vitals_minutes)
    if (
        last_dose_at is not None
        and last_dose_at > first_dose_at
        and not any(t >= last_dose_at for t in taken)
    ):
        due = min(due, last_dose_at + datetime.timedelta(minutes=practice.first_vitals_minutes))
    until = (due - now).total_seconds() / 60
    return Clock(since, due, now > due, int(until // 1) if until >= 0 else -int(-until // 1))


@dataclass(frozen=True)
class DischargeState:
    last_dose_at: datetime.datetime | None
    latest_vitals: Reading | None  # the latest reading of the session, pre-dose or not
    baseline: Reading | None  # the latest pre-dose reading
    latest_sedation: int | None = None
    latest_dissociation: int | None = None
    latest_rating_at: datetime.datetime | None = None
    alert_and_oriented: bool = False
    steady_on_feet: bool = False
    escort_present: bool = False


def discharge_unmet(state: DischargeState, *, now: datetime.datetime, practice) -> list[str]:
    """The discharge criteria not yet met, each as a plain reason; empty when the client may
    go. Minimum monitoring after the LAST dose; vitals taken since that dose, recently (within
    the practice's vitals interval: the reading before discharge) and under every alert
    threshold; sedation and dissociation rated since that dose and resolved (0) on the latest
    rating; alert and oriented, steady on feet; escort or transport present."""
    unmet = []
    if state.last_dose_at is not None:
        minimum = datetime.timedelta(minutes=practice.min_monitoring_minutes)
        watched = now - state.last_dose_at
        if watched < minimum:
            unmet.append(
                f"Monitored {int(watched.total_seconds() // 60)} min since the last dose at "
                f"{_hm(state.last_dose_at)}; at least {practice.min_monitoring_minutes} min "
                f"(until {_hm(state.last_dose_at + minimum)})."
            )
        if state.latest_vitals is None or state.latest_vitals.taken_at < state.last_dose_at:
            unmet.append("No vitals taken since the last dose.")
        elif now - state.latest_vitals.taken_at > datetime.timedelta(
            minutes=practice.vitals_interval_minutes
        ):
            unmet.append(
                f"The latest vitals were taken at {_hm(state.latest_vitals.taken_at)}: take them again "
                f"before discharge (at most {practice.vitals_interval_minutes} min old)."
            )
        if state.latest_rating_at is None or state.latest_rating_at < state.last_dose_at:
            unmet.append("Sedation and dissociation not rated since the last dose.")
    if state.latest_vitals is None and state.last_dose_at is None:
        unmet.append("No vitals recorded.")
    elif state.latest_vitals is not None:
        alerts = reading_alerts(state.latest_vitals, baseline=state.baseline, practice=practice)
        if alerts:
            when = _hm(state.latest_vitals.taken_at)
            unmet.append(
                f"The latest vitals ({when}) are not under the alert thresholds: " + " ".join(alerts)
            )
    if state.latest_sedation:
        unmet.append(f"Sedation not resolved (UMSS {state.latest_sedation} on the latest rating).")
    if state.latest_dissociation:
        unmet.append(f"Dissociation not resolved ({state.latest_dissociation} of 4 on the latest rating).")
    if not state.alert_and_oriented:
        unmet.append("Not recorded as alert and oriented.")
    if not state.steady_on_feet:
        unmet.append("Not recorded as steady on feet.")
    if not state.escort_present:
        unmet.append("No escort or transport recorded as present.")
    return unmet


@dataclass(frozen=True)
class PhaseTime:
    """One phase of the session: when it began, how long it ran (or has run so far) against the
    planned minutes."""

    key: str
    label: str
    planned_minutes: int
    started_at: datetime.datetime | None
    ended_at: datetime.datetime | None
    elapsed_minutes: int | None  # None: not begun
    current: bool

    @property
    def overrun_minutes(self) -> int:
        if self.elapsed_minutes is None:
            return 0
        return max(0, self.elapsed_minutes - self.planned_minutes)


def phase_times(
    *,
    marks: dict[str, datetime.datetime],
    order: list[tuple[str, str, int]],
    now: datetime.datetime,
    ended_at: datetime.datetime | None,
) -> list[PhaseTime]:
    """Each phase in `order` ((key, label, planned minutes), in the session's order) with its
    elapsed minutes: from its mark to the next phase's mark, or to `ended_at` (the discharge),
    or to `now` for the phase still running."""
    started = sorted((moment, key) for key, moment in marks.items())
    answers = []
    for key, label, planned in order:
        begin = marks.get(key)
        if begin is None:
            answers.append(PhaseTime(key, label, planned, None, None, None, False))
            continue
        later = [moment for moment, _ in started if moment > begin]
        end = min(later) if later else ended_at
        current = end is None
        until = now if current else end
        elapsed = max(0, int((until - begin).total_seconds() // 60))
        answers.append(PhaseTime(key, label, planned, begin, end, elapsed, current))
    return answers


@dataclass(frozen=True)
class ChaperoneClock:
    due_at: datetime.datetime | None  # None: none due (in person, no dose yet, or discharged)
    overdue: bool
    minutes_until_due: int | None  # negative when overdue
    missed: int  # whole intervals gone by without a check-in

    @property
    def overdue_minutes(self) -> int:
        return -self.minutes_until_due if self.overdue and self.minutes_until_due else 0


def _minutes_until(due: datetime.datetime, now: datetime.datetime) -> int:
    until = (due - now).total_seconds() / 60
    return int(until // 1) if until >= 0 else -int(-until // 1)


def chaperone_clock(
    *,
    virtual: bool,
    first_dose_at: datetime.datetime | None,
    checkins: list[datetime.datetime],
    now: datetime.datetime,
    practice,
    discharged: bool = False,
) -> ChaperoneClock:
    """(Virtual sessions.) The next chaperone check-in is due `chaperone_checkin_minutes` after
    the latest check-in since the first dose, or after the first dose itself. Overdue once that
    moment has passed; `missed` counts the whole intervals gone by since."""
    if not virtual or first_dose_at is None or discharged:
        return ChaperoneClock(None, False, None, 0)
    interval = datetime.timedelta(minutes=practice.chaperone_checkin_minutes)
    since = [moment for moment in checkins if moment >= first_dose_at]
    due = (max(since) if since else first_dose_at) + interval
    overdue = now > due
    missed = int((now - due) / interval) + 1 if overdue else 0
    return ChaperoneClock(due, overdue, _minutes_until(due, now), missed)
