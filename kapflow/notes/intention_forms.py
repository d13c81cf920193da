"""The one field of an intention's form, on the portal and in the runbook's opening phase."""

from django import forms

from kapflow.notes.intentions import MAX_LENGTH

# The runbook's words (the portal speaks to the client: its label names their session).
STAFF_LABEL = "The client's intention, in their words"
STAFF_HELP = "Saved as a new entry: an earlier intention is kept."


class IntentionForm(forms.Form):
    # Its own prefix: the runbook has other forms with a "text" field (a note), and two fields
    # with one id on a page break its labels.
    prefix = "intention"

    text = forms.CharField(
        label="Your intention",
        max_length=MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={
            "required": "Write the intention before saving it.",
            "max_length": f"Keep the intention under {MAX_LENGTH} characters: a few sentences are enough.",
        },
    )

    def __init__(self, *args, label: str | None = None, help_text: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        if label:
            self.fields["text"].label = label
        self.fields["text"].help_text = help_text
