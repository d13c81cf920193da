from django.urls import path

from kapflow.records import import_views

app_name = "records_import"

urlpatterns = [
    path("", import_views.import_start, name="start"),
    path("confirm/", import_views.import_confirm, name="confirm"),
]
