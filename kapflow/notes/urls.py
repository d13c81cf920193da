from django.urls import path

from kapflow.notes import views

app_name = "notes"

urlpatterns = [
    path("", views.note_list, name="list"),
    path("visits/<int:visit_id>/", views.note_edit, name="visit"),
    path("visits/<int:visit_id>/draft/", views.note_autosave, name="autosave"),
    path("visits/<int:visit_id>/sign/", views.note_sign, name="sign"),
    path("<int:note_id>/", views.note_detail, name="detail"),
    path("<int:note_id>/addenda/", views.note_addendum, name="addendum"),
]
