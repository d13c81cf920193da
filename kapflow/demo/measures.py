"""The demo practice's measure schedules: for each demo client in a course, the PHQ-9 and GAD-7
they completed on the portal before each past medication session (following the course the
pathway story recorded, with the ups and downs of real scores), one client whose scores stay
near baseline (not responding), a progress review tomorrow for the portal's demo client, and
then the schedule run once so that forms are waiting: that review's forms, PCL-5 baselines for
the clients still preparing, discharge forms, the forms for upcoming sessions. Fictional
throughout."""

import datetime
import random

from django.utils import timezone

PORTAL_LEAD = datetime.timedelta(hours=18)  # demo only: when before a session the client answered


def _expected(series: list[tuple[datetime.datetime, int]], when: datetime.datetime) -> float:
    """The score the client's recorded course suggests at `when`: read off the line through the
    responses already recorded, continuing its last slope (gently) beyond the last one."""
    before = [point for point in series if point[0] <= when]
    after = [point for point in series if point[0] > when]
    if before and after:
        (t0, v0), (t1, v1) = before[-1], after[0]
        return v0 + (v1 - v0) * ((when - t0) / (t1 - t0))
    if len(before) >= 2:
        (t0, v0), (t1, v1) = before[-2], before[-1]
        weeks = (when - t1) / datetime.timedelta(days=7)
        slope = (v1 - v0) / max((t1 - t0) / datetime.timedelta(days=7), 1)
        return max(v1 + slope * min(weeks, 2), v1 * 0.5)
    return series[0][1] if series else 0


def _total(rng: random.Random, expected: float, top: int) -> int:
    """A plausible total near `expected`: real scores move a point or two from week to week."""
    return max(0, min(top, round(expected + rng.choice((-2, -1, -1, 0, 0, 1, 1, 2)))))


def add_measures_story(staff, schedule) -> None:
    """Added once: nothing happens when any measure task exists already. The visit it adds is
    booked through the demo's diary (kapflow.demo.schedule)."""
    from kapflow.clients.models import Client
    from kapflow.demo.pathway import _respond, answered_before_session
    from kapflow.demo.portal import portal_client as demo_portal_client
    from kapflow.measures.instruments import GAD7, PHQ9
    from kapflow.measures.models import MeasureTask, Response
    from kapflow.measures.schedule import schedule_measures
    from kapflow.practice.models import Practice
    from kapflow.visits.models import DEFAULT_MINUTES, Visit

    if MeasureTask.objects.exists():
        return
    lead_hours = Practice.load().appointment_reminder_hours
    rng = random.Random(5)  # noqa: S311  (made-up demo data, not secrets)
    in_course = list(Client.objects.filter(stage=Client.Stage.COURSE).order_by("pk")[:20])
    weekly_counts = {
        client.pk: client.responses.filter(context=Response.Context.WEEKLY).count() for client in in_course
    }
    # The client with the least history so far is the one whose scores do not move.
    not_responding = min(in_course, key=lambda c: (weekly_counts[c.pk], -c.pk), default=None)
    for client in in_course:
        baselines = {
            r.instrument: r
            for r in client.responses.filter(context=Response.Context.BASELINE).order_by("completed_at")
        }
        if PHQ9.key not in baselines:
            continue
        began = baselines[PHQ9.key].completed_at
        sessions = Visit.objects.filter(
            client=client,
            kind=Visit.Kind.MEDICATION,
            status=Visit.Status.COMPLETED,
            starts_at__gt=began + PORTAL_LEAD,
        ).order_by("starts_at")
        series = {
            instrument.key: [
                (r.completed_at, r.total)
                for r in client.responses.filter(instrument=instrument.key).order_by("completed_at")
            ]
            for instrument in (PHQ9, GAD7)
        }
        for session in sessions:
            when = session.starts_at - PORTAL_LEAD
            for instrument in (PHQ9, GAD7):
                if instrument.key not in baselines:
                    continue
                if client == not_responding:
                    expected = baselines[instrument.key].total - 1
                else:
                    expected = _expected(series[instrument.key], when)
                total = _total(rng, expected, instrument.max_total)
                response = _respond(client, instrument, total, when, Response.Context.PRE_SESSION, None)
                answered_before_session(session, response, lead_hours=lead_hours)
    # The portal's demo client has a progress review on the next working day (around 10:00, the
    # practice's time): its forms are waiting for her.
    portal_client = demo_portal_client()
    if portal_client is not None:
        therapist = portal_client.care_team.filter(role="primary_therapist").select_related("user").first()
        clinician = therapist.user if therapist else staff["owner"]
        booking = schedule.book(
            client=portal_client,
            clinician=clinician,
            around=schedule.at(schedule.today + datetime.timedelta(days=1), 10 * 60),
            minutes=DEFAULT_MINUTES[Visit.Kind.PROGRESS_REVIEW],
            direction=1,
        )
        if booking is not None:
            Visit.objects.create(
                client=portal_client,
                kind=Visit.Kind.PROGRESS_REVIEW,
                starts_at=booking.starts_at,
                ends_at=booking.ends_at,
                modality=Visit.Modality.VIRTUAL,
                video_link="https://video.demo.kapflow.test/review",
                clinician=clinician,
                created_by=staff["coordinator"],
            )
    # What the sweep would have asked by now: this week's forms, baselines, upcoming sessions
    # (the review above included: the sweep runs after it was booked).
    schedule_measures(timezone.now())
