from django.urls import path

from kapflow.visits.views import calendar as views

app_name = "calendar"

urlpatterns = [
    path("", views.week, name="week"),
    path("day/", views.day, name="day"),
    path("month/", views.month, name="month"),
    path("badges/", views.badges, name="badges"),
    path("feed/", views.feed_settings, name="feed_settings"),
    path("feed/new/", views.feed_create, name="feed_create"),
    path("feed/revoke/", views.feed_revoke, name="feed_revoke"),
    path("feed/<str:token>.ics", views.feed, name="feed"),
    path("rooms/", views.rooms, name="rooms"),
    path("rooms/<int:room_id>/toggle/", views.room_toggle, name="room_toggle"),
]
