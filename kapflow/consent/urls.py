from django.urls import path

from kapflow.consent.views import signing

app_name = "consent"

urlpatterns = [
    path("", signing.consent_page, name="status"),
    path("release/<int:provider_id>/", signing.present, name="present_release"),
    path("signatures/<int:signature_id>/", signing.signature_detail, name="signature"),
    path("<slug:kind>/", signing.present, name="present"),
]
