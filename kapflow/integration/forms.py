from django import forms

from kapflow.integration.models import ActionItem, IntegrationRecord
from kapflow.notes.intentions import latest_intention
from kapflow.visits.models import Visit

CONTENT = ["themes", "emotions", "images_memories", "parts", "lasting_insight", "passing_intensity", "note"]


class RecordForm(forms.ModelForm):
    CONTENT = CONTENT

    action_items = forms.CharField(
        label="Action items: practical changes to carry forward",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One per line. Their status is reviewed at later sessions.",
    )

    class Meta:
        model = IntegrationRecord
        fields = ["follows", "visit", *CONTENT]
        widgets = {name: forms.Textarea(attrs={"rows": 3}) for name in CONTENT}
        help_texts = {
            "lasting_insight": "What the client wants to keep.",
            "passing_intensity": "What was strong in the moment and can be let go.",
        }

    def __init__(self, *args, client, **kwargs):
        super().__init__(*args, **kwargs)
        visits = client.visits.filter(status=Visit.Status.COMPLETED).order_by("-starts_at")
        self.fields["follows"].queryset = visits.filter(kind=Visit.Kind.MEDICATION)
        self.fields["follows"].empty_label = "None"
        self.fields["visit"].queryset = (
            client.visits.filter(kind=Visit.Kind.INTEGRATION)
            .exclude(status__in=[Visit.Status.CANCELLED, Visit.Status.NO_SHOW])
            .order_by("-starts_at")
        )
        self.fields["visit"].empty_label = "None (written outside a session)"

    def hoped_for(self):
        """(the medication session the record is to follow, the client's intention for it) for
        the top of the form: the session chosen (sent back with an error) or offered first;
        (None, None) for none. Two queries at most (the session, its intention)."""
        field = self.fields["follows"]
        try:
            session = field.clean(self["follows"].value()) if self["follows"].value() else None
        except forms.ValidationError:
            session = None
        if session is None:
            return None, None
        return session, latest_intention(session)

    def clean_action_items(self) -> list[str]:
        lines = [line.strip() for line in self.cleaned_data["action_items"].splitlines()]
        items = [line for line in lines if line]
        max_length = ActionItem._meta.get_field("text").max_length
        if any(len(item) > max_length for item in items):
            raise forms.ValidationError(f"Keep each action item under {max_length} characters.")
        return items

    def clean(self):
        cleaned = super().clean()
        if not any((cleaned.get(name) or "").strip() for name in self.CONTENT) and not cleaned.get(
            "action_items"
        ):
            raise forms.ValidationError("Write at least one part of the record before saving it.")
        return cleaned


class ReviewForm(forms.Form):
    status = forms.ChoiceField(choices=ActionItem.Status.choices)
