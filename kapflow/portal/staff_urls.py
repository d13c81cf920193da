from django.urls import path

from kapflow.portal.views import staff

app_name = "portal_staff"

urlpatterns = [
    path("invite/", staff.invite, name="invite"),
    path("progress/", staff.progress_toggle, name="progress"),
    path("end-access/", staff.end_access, name="end_access"),
]
