from django.urls import path

from kapflow.medical import views

app_name = "medical"

urlpatterns = [
    path("", views.summary, name="summary"),
    path("screening/new/", views.screening_new, name="screening_new"),
    path("screening/<int:screening_id>/", views.screening_detail, name="screening_detail"),
    path("clearance/new/", views.clearance_new, name="clearance_new"),
    path("clearance/outside/", views.clearance_transcribe, name="clearance_transcribe"),
    path("clearance/<int:clearance_id>/", views.clearance_detail, name="clearance_detail"),
    path("clearance/<int:clearance_id>/revoke/", views.clearance_revoke, name="clearance_revoke"),
    path("orders/new/", views.order_new, name="order_new"),
    path("orders/outside/", views.order_transcribe, name="order_transcribe"),
    path("orders/<int:order_id>/", views.order_detail, name="order_detail"),
    path("orders/<int:order_id>/discontinue/", views.order_discontinue, name="order_discontinue"),
]
