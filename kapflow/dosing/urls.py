from django.urls import path

from kapflow.dosing import alert_views, views

app_name = "dosing"

urlpatterns = [
    path("", views.runbook, name="runbook"),
    path("live/", views.live, name="live"),
    path("check-in/", views.check_in, name="check_in"),
    path("start/", views.start, name="start"),
    path("checklist/", views.checklist_add, name="checklist"),
    path("checklist/review/", views.medications_review, name="medications_review"),
    path("safety-plan/", views.safety_plan_add, name="safety_plan"),
    path("phases/", views.phase, name="phase"),
    path("chaperone/", views.chaperone, name="chaperone"),
    path("integration/", views.integration_book, name="integration"),
    path("integration/acknowledge/", views.integration_ack, name="integration_ack"),
    path("adverse-events/<int:event_id>/review/", views.adverse_event_review, name="adverse_event_review"),
    path("discharge/review/", views.discharge_override_review, name="discharge_review"),
    path("vitals/", views.vitals_add, name="vitals"),
    path("acknowledge/", views.caution_ack, name="acknowledge"),
    path("doses/", views.dose_add, name="dose"),
    path("prescriber-on-site/", views.prescriber_on_site, name="prescriber_on_site"),
    path("ratings/", views.rating_add, name="rating"),
    path("adverse-events/", views.adverse_event_add, name="adverse_event"),
    path("notes/", views.note_add, name="note"),
    path("discharge/", views.discharge, name="discharge"),
    path("sign/", views.sign, name="sign"),
    path("addenda/", views.addendum, name="addendum"),
    path("emergency/", alert_views.emergency_call, name="emergency"),
]
