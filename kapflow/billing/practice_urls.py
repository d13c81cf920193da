"""The practice's billing page (kapflow.billing.views.overview), at /billing/: what is owed, by
client and by age, what waits to be invoiced, and completed visits not charged (docs/billing.md,
"The billing page")."""

from django.urls import path

from kapflow.billing import views

app_name = "billing"

urlpatterns = [
    path("", views.overview, name="overview"),
]
