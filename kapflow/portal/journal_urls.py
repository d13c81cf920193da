from django.urls import path

from kapflow.portal.views import journal

app_name = "portal_journal"

urlpatterns = [
    path("", journal.journal_list, name="list"),
    path("new/", journal.entry_new, name="new"),
    path("draft/", journal.draft, name="draft"),
    path("<int:entry_id>/", journal.entry_detail, name="entry"),
    path("<int:entry_id>/share/", journal.entry_share, name="share"),
    path("<int:entry_id>/unshare/", journal.entry_unshare, name="unshare"),
    path("<int:entry_id>/discard/", journal.draft_discard, name="discard"),
]
