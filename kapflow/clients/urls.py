from django.urls import path, register_converter

from kapflow.clients import views


class ContactKind:
    """Only the kinds of contact the views know, so /clients/1/measures/… is not taken for one."""

    regex = "|".join(views.CONTACT_KINDS)

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(ContactKind, "contact_kind")

app_name = "clients"

urlpatterns = [
    path("", views.caseload, name="caseload"),
    path("new/", views.client_new, name="new"),
    path("<int:client_id>/", views.chart, name="chart"),
    path("<int:client_id>/edit/", views.client_edit, name="edit"),
    path("<int:client_id>/stage/", views.stage_change, name="stage"),
    path("<int:client_id>/care-team/", views.care_team, name="care_team"),
    path(
        "<int:client_id>/care-team/<int:member_id>/remove/", views.care_team_remove, name="care_team_remove"
    ),
    path("<int:client_id>/<contact_kind:kind>/new/", views.contact_edit, name="contact_new"),
    path("<int:client_id>/<contact_kind:kind>/<int:contact_id>/", views.contact_edit, name="contact_edit"),
    path(
        "<int:client_id>/<contact_kind:kind>/<int:contact_id>/remove/",
        views.contact_remove,
        name="contact_remove",
    ),
]
