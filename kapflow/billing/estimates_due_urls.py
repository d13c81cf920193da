from django.urls import path

from kapflow.billing import estimates_due_views as views

app_name = "estimates_due"

urlpatterns = [path("", views.due_list, name="list")]
