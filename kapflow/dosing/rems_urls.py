"""The practice's Spravato REMS monitoring forms still to submit (docs/spravato-rems.md)."""

from django.urls import path

from kapflow.dosing.views import rems

app_name = "rems"

urlpatterns = [
    path("", rems.to_submit, name="list"),
    path("<int:report_id>/submitted/", rems.submit, name="submit"),
]
