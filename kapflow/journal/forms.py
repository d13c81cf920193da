from django import forms

from kapflow.journal.services import MAX_CHARS

# Ids arrive in hidden fields and may have been tampered with: anything outside a database
# integer is refused by the form, never sent to the database.
MAX_ID = 2**31 - 1


class EntryForm(forms.Form):
    """The journal editor: the text, and hidden, the entry being written (once the first draft
    is saved) and the prompt it answers. Used both by Save and by the draft saved as one types;
    whether the text may be empty is the service's to say (a draft may be, a saved entry not)."""

    body = forms.CharField(
        label="Your entry",
        required=False,
        strip=False,
        max_length=MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 14}),
        help_text="Private: only you can read it, unless you choose to share it with your therapist.",
    )
    entry = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID, widget=forms.HiddenInput)
    visit = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID, widget=forms.HiddenInput)
    hours = forms.IntegerField(required=False, min_value=0, max_value=MAX_ID, widget=forms.HiddenInput)
    # The editor page's own key for a new entry (kapflow.journal.models.JournalEntry.key).
    key = forms.UUIDField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["body"].error_messages["max_length"] = (
            f"An entry can hold {MAX_CHARS:,} characters (this one has %(show_value)s). "
            "Split it into two entries."
        )
