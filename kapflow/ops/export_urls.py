from django.urls import path

from kapflow.ops import export_views

app_name = "ops_export"

urlpatterns = [
    path("", export_views.export_page, name="page"),
    path("download/", export_views.export_download, name="practice_export_download"),
]
