"""The client's medicine page: pharmacy fills of the client's sublingual prescriptions
(kapflow.controlled.fill_views), at /clients/<client_id>/medicine/."""

from django.urls import path

from kapflow.controlled import fill_views

app_name = "fills"

urlpatterns = [
    path("", fill_views.fill_list, name="list"),
    path("fills/", fill_views.fill_new, name="new"),
    path("fills/<int:fill_id>/entered-in-error/", fill_views.fill_void, name="void"),
]
