from django.urls import path

from kapflow.letters import sending_views

app_name = "letter_links"

urlpatterns = [
    path("<str:token>/", sending_views.link_page, name="download"),
]
