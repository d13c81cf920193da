"""The fee schedule pages (docs/billing.md, "The fee schedule page"), mounted at /billing/fees/."""

from django.urls import path

from kapflow.billing import fee_views

app_name = "fees"

urlpatterns = [
    path("", fee_views.fee_schedule_page, name="schedule"),
    path("new/", fee_views.fee_new, name="new"),
    path("<int:fee_id>/", fee_views.fee_line, name="line"),
    path("<int:fee_id>/change/", fee_views.fee_change, name="change"),
    path("<int:fee_id>/withdraw/", fee_views.fee_withdraw, name="withdraw"),
]
