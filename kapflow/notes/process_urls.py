from django.urls import path

from kapflow.notes import process_views

# Mounted at clients/<int:client_id>/process-notes/ (kapflow/urls.py).
app_name = "process_notes"

urlpatterns = [
    path("", process_views.process_note_list, name="list"),
    path("new/", process_views.process_note_new, name="new"),
    path("<int:note_id>/", process_views.process_note_detail, name="detail"),
]
