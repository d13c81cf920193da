from django.urls import path

from kapflow.controlled import inventory_views as views

app_name = "inventory"

urlpatterns = [
    path("", views.inventory_list, name="list"),
    path("initial/", views.inventory_initial, name="initial"),
    path("new/", views.inventory_new, name="new"),
    path("<int:inventory_id>/", views.inventory_detail, name="detail"),
    path("discrepancies/<int:discrepancy_id>/", views.discrepancy_explain, name="discrepancy"),
    path("losses/", views.loss_list, name="losses"),
    path("losses/new/", views.loss_new, name="loss_new"),
    path("losses/<int:report_id>/", views.loss_detail, name="loss_detail"),
    path("losses/<int:report_id>/steps/", views.loss_step, name="loss_step"),
]
