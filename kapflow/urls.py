from django.urls import include, path

from kapflow import views
from kapflow.audit.views import audit_log
from kapflow.inquiries.views import start, thanks
from kapflow.ops.views import healthz
from kapflow.practice.views import practice_settings

urlpatterns = [
    path("", views.home, name="home"),
    path("start/", start, name="start"),
    path("start/thanks/", thanks, name="start_thanks"),
    path("keepalive/", views.keepalive, name="keepalive"),
    # For the load balancer: no session, no sign-in, nothing of any client (docs/health.md).
    path("healthz", healthz, name="healthz"),
    # The dashboard's lists, whole and paged ("Show all").
    path("today/alerts/", views.queue_alerts, name="queue_alerts"),
    path("today/integrations/", views.queue_integrations, name="queue_integrations"),
    path("today/action-items/", views.queue_action_items, name="queue_action_items"),
    path("today/notes/", views.queue_notes, name="queue_notes"),
    path("today/course-reviews/", views.queue_reviews, name="queue_reviews"),
    path("today/maintenance/", views.queue_maintenance, name="queue_maintenance"),
    path("today/session-alerts/", views.queue_session_alerts, name="queue_session_alerts"),
    path("today/clearances/", views.queue_clearances, name="queue_clearances"),
    path("today/orders/", views.queue_orders, name="queue_orders"),
    path("today/adverse-events/", views.queue_events, name="queue_events"),
    path("today/discharge-overrides/", views.queue_overrides, name="queue_overrides"),
    path("today/arrivals/", views.queue_arrivals, name="queue_arrivals"),
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
    path("clients/<int:client_id>/documents/", include("kapflow.documents.urls")),
    path("clients/<int:client_id>/letters/", include("kapflow.letters.urls")),
    path("clients/<int:client_id>/letters/<int:letter_id>/send/", include("kapflow.letters.sending_urls")),
    path("clients/<int:client_id>/disclosures/", include("kapflow.letters.disclosure_urls")),
    path("clients/<int:client_id>/records/copy/", include("kapflow.records.access_urls")),
    path("clients/<int:client_id>/notes/", include("kapflow.notes.urls")),
    path("clients/<int:client_id>/process-notes/", include("kapflow.notes.process_urls")),
    path("clients/<int:client_id>/course/", include("kapflow.course.urls")),
    path("clients/<int:client_id>/records/import/", include("kapflow.records.import_urls")),
    path("clients/<int:client_id>/medicine/", include("kapflow.controlled.fill_urls")),
    path("clients/<int:client_id>/rems/", include("kapflow.controlled.enrolment_urls")),
    # Money (docs/billing.md): the client's account, estimates, superbills, and the diagnoses
    # a superbill carries.
    path("clients/<int:client_id>/billing/", include("kapflow.billing.urls")),
    path("clients/<int:client_id>/billing/estimates/", include("kapflow.billing.estimate_urls")),
    path("clients/<int:client_id>/billing/superbills/", include("kapflow.billing.superbill_urls")),
    path("clients/<int:client_id>/diagnoses/", include("kapflow.billing.diagnosis_urls")),
    # A provider's one-time download of a letter sent to them: no account, the link is the key.
    path("shared/", include("kapflow.letters.link_urls")),
    path("portal/", include("kapflow.portal.urls")),
    path("portal/<int:client_id>/measures/", include("kapflow.portal.measures_urls")),
    path("portal/<int:client_id>/journal/", include("kapflow.portal.journal_urls")),
    path("portal/<int:client_id>/billing/", include("kapflow.portal.billing_urls")),
    path("portal/<int:client_id>/estimates/", include("kapflow.portal.estimate_urls")),
    path("reminders/", include("kapflow.reminders.urls")),
    path("outcomes/", include("kapflow.outcomes.urls")),
    path("outcomes/income/", include("kapflow.outcomes.income_urls")),
    path("calendar/", include("kapflow.visits.calendar_urls")),
    path("consent-documents/", include("kapflow.consent.document_urls")),
    path("inquiries/", include("kapflow.inquiries.urls")),
    path("staff/", include("kapflow.accounts.urls")),
    path("audit/", audit_log, name="audit_log"),
    path("settings/", practice_settings, name="practice_settings"),
    path("settings/export/", include("kapflow.ops.export_urls")),
    # The controlled-substance record (docs/controlled-substances.md).
    path("controlled/", include("kapflow.controlled.urls")),
    path("controlled/inventories/", include("kapflow.controlled.inventory_urls")),
    path("controlled/reports/", include("kapflow.controlled.report_urls")),
    path("rems/", include("kapflow.dosing.rems_urls")),
    path("billing/estimates/", include("kapflow.billing.estimates_due_urls")),
    path("billing/", include("kapflow.billing.practice_urls")),
    path("billing/fees/", include("kapflow.billing.fee_urls")),
]
