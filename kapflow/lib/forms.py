import uuid

from django import forms


class DateInput(forms.DateInput):
    """The browser's own date picker, with the value in the format it expects."""

    input_type = "date"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%d", **kwargs)


class SentOnce(forms.Form):
    """A form whose entry is saved once however often it is sent (a connection that dropped
    after the save, a double click): it carries its own key, new for each blank form and kept
    through a form that comes back with errors. The service saving the entry looks the key up
    first and a unique constraint on it settles a race."""

    entry_key = forms.UUIDField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("initial", {}).setdefault("entry_key", uuid.uuid4())
        super().__init__(*args, **kwargs)
