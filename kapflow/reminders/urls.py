from django.urls import path

from kapflow.reminders import views

app_name = "reminders"

urlpatterns = [
    path("", views.reminder_list, name="list"),
    path("<int:reminder_id>/send-again/", views.reminder_send_again, name="send_again"),
]
