from django.urls import path

from kapflow.journal import portal_views

app_name = "portal_journal"

urlpatterns = [
    path("", portal_views.journal_list, name="list"),
    path("new/", portal_views.entry_new, name="new"),
    path("draft/", portal_views.draft, name="draft"),
    path("<int:entry_id>/", portal_views.entry_detail, name="entry"),
    path("<int:entry_id>/share/", portal_views.entry_share, name="share"),
    path("<int:entry_id>/unshare/", portal_views.entry_unshare, name="unshare"),
    path("<int:entry_id>/discard/", portal_views.draft_discard, name="discard"),
]
