from django.urls import path

from kapflow.journal import views

app_name = "journal"

urlpatterns = [
    path("", views.shared_list, name="list"),
]
