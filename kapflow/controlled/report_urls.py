"""The controlled-substance reports, under /controlled/reports/ (docs/controlled-reports.md)."""

from django.urls import path

from kapflow.controlled import report_views

app_name = "controlled_reports"

urlpatterns = [
    path("", report_views.ledger, name="ledger"),
    path("ledger.csv", report_views.ledger_csv, name="ledger_csv"),
    path("ledger.pdf", report_views.ledger_pdf, name="ledger_pdf"),
    path("dispensing/", report_views.dispensing, name="dispensing"),
    path("dispensing.csv", report_views.dispensing_csv, name="dispensing_csv"),
    path("dispensing.pdf", report_views.dispensing_pdf, name="dispensing_pdf"),
]
