from django.urls import path

from kapflow.letters import sending_views

app_name = "disclosures"

urlpatterns = [
    path("", sending_views.disclosure_list, name="list"),
    path("new/", sending_views.disclosure_new, name="new"),
    path("accounting.csv", sending_views.disclosure_export, name="export"),
]
