from django.urls import path

from kapflow.portal.views import estimates as views

app_name = "portal_estimates"

urlpatterns = [
    path("", views.estimate_list, name="list"),
    path("<int:estimate_id>/", views.estimate_detail, name="detail"),
    path("<int:estimate_id>/pdf/", views.estimate_pdf, name="pdf"),
]
