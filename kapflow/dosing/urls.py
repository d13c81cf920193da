from django.urls import path

from kapflow.dosing import views

app_name = "dosing"

urlpatterns = [
    path("", views.runbook, name="runbook"),
    path("vitals/", views.vitals_add, name="vitals"),
    path("acknowledge/", views.caution_ack, name="acknowledge"),
    path("doses/", views.dose_add, name="dose"),
    path("ratings/", views.rating_add, name="rating"),
    path("adverse-events/", views.adverse_event_add, name="adverse_event"),
    path("notes/", views.note_add, name="note"),
    path("discharge/", views.discharge, name="discharge"),
    path("sign/", views.sign, name="sign"),
    path("addenda/", views.addendum, name="addendum"),
]
