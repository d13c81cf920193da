from django.urls import path

from kapflow.portal.views import billing

app_name = "portal_billing"

urlpatterns = [
    path("", billing.statements, name="statements"),
    path("invoices/<int:invoice_id>/", billing.invoice_detail, name="invoice"),
    path("superbills/<str:period>/pdf/", billing.superbill_download, name="superbill"),
]
