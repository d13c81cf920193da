from django.urls import path

from kapflow.outcomes import views

app_name = "outcomes"

urlpatterns = [
    path("", views.report, name="report"),
    path("report.csv", views.report_csv, name="report_csv"),
]
