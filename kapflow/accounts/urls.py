from django.urls import path

from kapflow.accounts import views, welcome

app_name = "accounts"

urlpatterns = [
    path("", views.staff_list, name="staff"),
    path("invite/", views.staff_invite, name="staff_invite"),
    path("<int:user_id>/", views.staff_edit, name="staff_edit"),
    path("<int:user_id>/deactivate/", views.staff_deactivate, name="staff_deactivate"),
    path("<int:user_id>/reactivate/", views.staff_reactivate, name="staff_reactivate"),
    path("welcome/<str:uidb36>/<str:key>/", welcome.staff_welcome, name="staff_welcome"),
]
