"""A client's Spravato REMS enrolment (docs/spravato-rems.md)."""

from django.urls import path

from kapflow.controlled import enrolment_views

app_name = "rems_enrolment"

urlpatterns = [
    path("", enrolment_views.enrolment, name="enrolment"),
]
