from django.urls import path

from kapflow.records import access_views

app_name = "records_copy"

urlpatterns = [
    path("", access_views.page, name="page"),
]
