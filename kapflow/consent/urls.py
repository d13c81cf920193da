from django.urls import path

from kapflow.consent import views

app_name = "consent"

urlpatterns = [
    path("", views.consent_page, name="status"),
    path("release/<int:provider_id>/", views.present, name="present_release"),
    path("signatures/<int:signature_id>/", views.signature_detail, name="signature"),
    path("<slug:kind>/", views.present, name="present"),
]
