from django.urls import path

from kapflow.portal.views import measures

app_name = "portal_measures"

urlpatterns = [
    path("", measures.task_list, name="list"),
    path("<int:task_id>/", measures.task_answer, name="task"),
    path("<int:task_id>/thanks/", measures.task_thanks, name="thanks"),
]
