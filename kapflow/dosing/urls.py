from django.urls import path

from kapflow.dosing.views import (
    administration,
    checkin,
    discharge,
    emergency,
    intention,
    live,
    page,
    rems,
    reviews,
    session,
    signing,
    supply,
    vitals,
    waste,
)

app_name = "dosing"

urlpatterns = [
    path("", page.runbook, name="runbook"),
    path("live/", live.live, name="live"),
    path("check-in/", checkin.check_in, name="check_in"),
    path("start/", checkin.start, name="start"),
    path("checklist/", checkin.checklist_add, name="checklist"),
    path("checklist/review/", checkin.medications_review, name="medications_review"),
    path("safety-plan/", checkin.safety_plan_add, name="safety_plan"),
    path("phases/", session.phase, name="phase"),
    path("chaperone/", session.chaperone, name="chaperone"),
    path("integration/", discharge.integration_book, name="integration"),
    path("integration/acknowledge/", discharge.integration_ack, name="integration_ack"),
    path("adverse-events/<int:event_id>/review/", reviews.adverse_event_review, name="adverse_event_review"),
    path("discharge/review/", reviews.discharge_override_review, name="discharge_review"),
    path("vitals/", vitals.vitals_add, name="vitals"),
    path("supply-count/", supply.supply_count, name="supply_count"),
    path("acknowledge/", vitals.caution_ack, name="acknowledge"),
    path("acknowledge/phone/", vitals.caution_phone, name="acknowledge_phone"),
    path("doses/", administration.dose_add, name="dose"),
    path("prescriber-on-site/", administration.prescriber_on_site, name="prescriber_on_site"),
    path("waste/", waste.waste_add, name="waste"),
    path("ratings/", session.rating_add, name="rating"),
    path("adverse-events/", session.adverse_event_add, name="adverse_event"),
    path("notes/", session.note_add, name="note"),
    path("intention/", intention.intention, name="intention"),
    path("discharge/", discharge.discharge, name="discharge"),
    path("sign/", signing.sign, name="sign"),
    path("addenda/", signing.addendum, name="addendum"),
    path("emergency/", emergency.emergency_call, name="emergency"),
    # The Spravato REMS monitoring form (docs/spravato-rems.md).
    path("rems/", rems.answers, name="rems"),
    path("rems/form.pdf", rems.pdf, name="rems_pdf"),
]
