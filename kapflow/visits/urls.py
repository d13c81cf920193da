from django.urls import path

from kapflow.visits.views import visits as views

app_name = "visits"

urlpatterns = [
    path("", views.visit_list, name="list"),
    path("new/", views.visit_new, name="new"),
    path("series/", views.series, name="series"),
    path("<int:visit_id>/", views.visit_detail, name="detail"),
    path("<int:visit_id>/reschedule/", views.visit_reschedule, name="reschedule"),
    path("<int:visit_id>/check-in/", views.visit_check_in, name="check_in"),
    path("<int:visit_id>/start/", views.visit_start, name="start"),
    path("<int:visit_id>/complete/", views.visit_complete, name="complete"),
    path("<int:visit_id>/no-show/", views.visit_no_show, name="no_show"),
    path("<int:visit_id>/cancel/", views.visit_cancel, name="cancel"),
]
