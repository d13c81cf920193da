"""A client's account (kapflow.billing.views), at /clients/<client_id>/billing/: its invoices, what
waits to be invoiced, completed visits not charged, the billing profile, and each invoice with
its payments, refunds and write-offs (docs/billing.md, "The client's account", "An invoice")."""

from django.urls import path

from kapflow.billing import views

app_name = "client_billing"

urlpatterns = [
    path("", views.account, name="account"),
    path("invoices/issue/", views.invoice_issue, name="issue"),
    path("visits/<int:visit_id>/charge/", views.visit_charge, name="charge_visit"),
    path("profile/", views.profile_change, name="profile"),
    path("invoices/<int:invoice_id>/", views.invoice_detail, name="invoice"),
    path("invoices/<int:invoice_id>/payments/", views.payment_record, name="payment"),
    path("invoices/<int:invoice_id>/refunds/", views.refund_record, name="refund"),
    path("invoices/<int:invoice_id>/write-offs/", views.write_off_record, name="write_off"),
]
