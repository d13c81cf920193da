from django.urls import path

from kapflow.documents import views

app_name = "documents"

urlpatterns = [
    path("", views.document_list, name="list"),
    path("new/", views.document_new, name="new"),
    path("<int:document_id>/", views.document_detail, name="detail"),
    path("<int:document_id>/download/", views.document_download, name="download"),
]
