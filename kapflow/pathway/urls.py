from django.urls import path

from kapflow.pathway import views

app_name = "pathway"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("consultations/new/", views.consultation_new, name="consultation_new"),
    path("consultations/<int:consultation_id>/", views.consultation_detail, name="consultation_detail"),
    path("preparation/new/", views.preparation_new, name="preparation_new"),
    path("preparation/<int:session_id>/", views.preparation_detail, name="preparation_detail"),
    path("plan/", views.plan_edit, name="plan"),
    path("overrides/<slug:gate>/new/", views.override_new, name="override_new"),
    path("overrides/<int:override_id>/withdraw/", views.override_withdraw, name="override_withdraw"),
]
