from django.urls import path

from kapflow.portal.views import account, consents, ended, intentions, pages, record

app_name = "portal"

urlpatterns = [
    path("", pages.home, name="home"),
    path("welcome/<str:token>/", account.accept, name="accept"),
    path("access-ended/", ended.access_ended, name="access_ended"),
    path("<int:client_id>/", pages.client_home, name="client_home"),
    path("<int:client_id>/to-do/", pages.todo, name="todo"),
    path("<int:client_id>/appointments/<int:visit_id>/calendar.ics", pages.visit_ics, name="visit_ics"),
    path("<int:client_id>/appointments/<int:visit_id>/intention/", intentions.intention, name="intention"),
    path("<int:client_id>/preparation/", pages.preparation, name="preparation"),
    path("<int:client_id>/preparation/day-of/", pages.day_of, name="day_of"),
    path("<int:client_id>/preparation/<slug:topic>/", pages.guide, name="guide"),
    path("<int:client_id>/consents/", consents.consent_list, name="consents"),
    path("<int:client_id>/consents/<slug:kind>/", consents.consent_sign, name="consent_sign"),
    path("<int:client_id>/releases/<int:provider_id>/", consents.release_sign, name="release_sign"),
    path("<int:client_id>/progress/", pages.progress, name="progress"),
    path("<int:client_id>/record/", record.record, name="record"),
]
