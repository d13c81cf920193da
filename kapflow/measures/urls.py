from django.urls import path

from kapflow.measures import views

app_name = "measures"

urlpatterns = [
    path("", views.response_list, name="list"),
    path("progress/", views.progress, name="progress"),
    path("<slug:instrument>/new/", views.response_new, name="new"),
    path("<int:response_id>/", views.response_detail, name="detail"),
    path("alerts/<int:alert_id>/", views.alert_close, name="alert_close"),
]
