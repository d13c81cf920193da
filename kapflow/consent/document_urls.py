from django.urls import path

from kapflow.consent.views import documents

app_name = "consent_documents"

urlpatterns = [
    path("", documents.document_list, name="list"),
    path("<int:document_id>/", documents.document_detail, name="detail"),
    path("<int:document_id>/publish/", documents.document_publish, name="publish"),
    path("<slug:kind>/new/", documents.document_new, name="new"),
]
