from django.urls import path

from kapflow.billing import estimate_views as views

app_name = "estimates"

urlpatterns = [
    path("", views.estimate_list, name="list"),
    path("new/", views.estimate_new, name="new"),
    path("<int:estimate_id>/", views.estimate_detail, name="detail"),
    path("<int:estimate_id>/pdf/", views.estimate_pdf, name="pdf"),
]
