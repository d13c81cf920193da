from django.urls import path

from kapflow.outcomes import income_views

app_name = "income"

urlpatterns = [
    path("", income_views.income, name="income"),
    path("income.csv", income_views.income_csv, name="income_csv"),
]
