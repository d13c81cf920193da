from django.urls import path

from kapflow.inquiries import views

app_name = "inquiries"

urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("<int:inquiry_id>/", views.detail, name="detail"),
    path("<int:inquiry_id>/convert/", views.convert, name="convert"),
    path("<int:inquiry_id>/decline/", views.decline, name="decline"),
]
