from django.urls import path

from kapflow.integration import views

app_name = "integration"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("records/new/", views.record_new, name="record_new"),
    path("records/<int:record_id>/", views.record_detail, name="record_detail"),
    path("actions/<int:item_id>/review/", views.action_item_review, name="action_item_review"),
]
