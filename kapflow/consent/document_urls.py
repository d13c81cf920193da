from django.urls import path

from kapflow.consent import views

app_name = "consent_documents"

urlpatterns = [
    path("", views.document_list, name="list"),
    path("<int:document_id>/", views.document_detail, name="detail"),
    path("<int:document_id>/publish/", views.document_publish, name="publish"),
    path("<slug:kind>/new/", views.document_new, name="new"),
]
