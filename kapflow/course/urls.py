from django.urls import path

from kapflow.course import discharge_views, review_views

app_name = "course"

urlpatterns = [
    path("reviews/new/", review_views.review_new, name="review_new"),
    path("reviews/<int:review_id>/", review_views.review_detail, name="review_detail"),
    path("reviews/<int:review_id>/sign/", review_views.review_sign, name="review_sign"),
    path("discharge/", discharge_views.discharge_list, name="discharge_list"),
    path("discharge/new/", discharge_views.discharge_new, name="discharge_new"),
    path("discharge/<int:discharge_id>/", discharge_views.discharge_detail, name="discharge_detail"),
    path("discharge/<int:discharge_id>/sign/", discharge_views.discharge_sign, name="discharge_sign"),
]
