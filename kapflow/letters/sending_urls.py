from django.urls import path

from kapflow.letters import sending_views

app_name = "letter_sending"

urlpatterns = [
    path("", sending_views.send_page, name="page"),
    path("link/", sending_views.send_link, name="link"),
    path("download/<slug:method>/", sending_views.download, name="download"),
]
