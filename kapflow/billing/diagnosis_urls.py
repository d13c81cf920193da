from django.urls import path

from kapflow.billing import diagnosis_views as views

app_name = "diagnoses"

urlpatterns = [
    path("", views.diagnosis_list, name="list"),
    path("new/", views.diagnosis_new, name="new"),
    path("<int:diagnosis_id>/end/", views.diagnosis_end, name="end"),
]
