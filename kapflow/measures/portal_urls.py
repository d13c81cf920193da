from django.urls import path

from kapflow.measures import portal_views

app_name = "portal_measures"

urlpatterns = [
    path("", portal_views.task_list, name="list"),
    path("<int:task_id>/", portal_views.task_answer, name="task"),
    path("<int:task_id>/thanks/", portal_views.task_thanks, name="thanks"),
]
