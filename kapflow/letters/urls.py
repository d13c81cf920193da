from django.urls import path

from kapflow.letters import views

app_name = "letters"

urlpatterns = [
    path("", views.letter_list, name="list"),
    path("card/", views.letter_card, name="card"),
    path("new/", views.letter_new, name="new"),
    path("<int:letter_id>/", views.letter_detail, name="detail"),
    path("<int:letter_id>/pdf/", views.letter_pdf, name="pdf"),
    path("<int:letter_id>/sign/", views.letter_sign, name="sign"),
]
