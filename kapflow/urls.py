from django.urls import include, path

from kapflow import views
from kapflow.audit.views import audit_log
from kapflow.inquiries.views import start, thanks
from kapflow.practice.views import practice_settings

urlpatterns = [
    path("", views.home, name="home"),
    path("start/", start, name="start"),
    path("start/thanks/", thanks, name="start_thanks"),
    path("keepalive/", views.keepalive, name="keepalive"),
    path("accounts/", include("allauth.urls")),
    path("clients/", include("kapflow.clients.urls")),
    path("clients/<int:client_id>/measures/", include("kapflow.measures.urls")),
    path("clients/<int:client_id>/medical/", include("kapflow.medical.urls")),
    path("clients/<int:client_id>/consent/", include("kapflow.consent.urls")),
    path("clients/<int:client_id>/pathway/", include("kapflow.pathway.urls")),
    path("clients/<int:client_id>/visits/<int:visit_id>/runbook/", include("kapflow.dosing.urls")),
    path("clients/<int:client_id>/visits/", include("kapflow.visits.urls")),
    path("clients/<int:client_id>/integration/", include("kapflow.integration.urls")),
    path("clients/<int:client_id>/journal/", include("kapflow.journal.urls")),
    path("clients/<int:client_id>/portal/", include("kapflow.portal.staff_urls")),
    path("portal/", include("kapflow.portal.urls")),
    path("portal/<int:client_id>/measures/", include("kapflow.measures.portal_urls")),
    path("portal/<int:client_id>/journal/", include("kapflow.journal.portal_urls")),
    path("reminders/", include("kapflow.reminders.urls")),
    path("outcomes/", include("kapflow.outcomes.urls")),
    path("calendar/", include("kapflow.visits.calendar_urls")),
    path("consent-documents/", include("kapflow.consent.document_urls")),
    path("inquiries/", include("kapflow.inquiries.urls")),
    path("staff/", include("kapflow.accounts.urls")),
    path("audit/", audit_log, name="audit_log"),
    path("settings/", practice_settings, name="practice_settings"),
]
