from django.urls import path

from kapflow.billing import superbill_views

app_name = "superbills"

urlpatterns = [
    path("", superbill_views.superbill_list, name="list"),
    path("<str:period>/pdf/", superbill_views.superbill_download, name="download"),
]
