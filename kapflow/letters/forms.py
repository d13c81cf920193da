from django import forms

from kapflow.clients.models import OutsideProvider
from kapflow.consent.categories import Category
from kapflow.dosing.models import Runbook
from kapflow.letters import compose
from kapflow.lib.dates import long_date
from kapflow.lib.forms import RadioSelect

BODY_MAX = 20000


def _category_choices(kind: str) -> list[tuple[str, str]]:
    labels = dict(Category.choices)
    return [(category, labels[category]) for category in compose.spec(kind).categories]


class LetterContentForm(forms.Form):
    """What a letter of one kind carries and the author's words: the parts of the record
    (all of the kind's ticked to start with; untick to send less) and the free text."""

    categories = forms.MultipleChoiceField(
        label="What the letter carries",
        widget=forms.CheckboxSelectMultiple,
        help_text="Untick what this provider does not need: send the least that serves the purpose.",
        error_messages={"required": "Choose at least one part of the record for the letter to carry."},
    )
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 8}), required=False, max_length=BODY_MAX)
    recommendations = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5}), required=False, max_length=BODY_MAX
    )

    def __init__(self, *args, kind: str, **kwargs):
        super().__init__(*args, **kwargs)
        spec = compose.spec(kind)
        self.fields["categories"].choices = _category_choices(kind)
        self.fields["body"].label = spec.body_label
        self.fields["body"].help_text = spec.body_help
        if not spec.has_recommendations:
            del self.fields["recommendations"]


class NewLetterForm(LetterContentForm):
    """A new letter of one kind: to whom (one of the client's outside providers), about which
    signed session (for a post-session summary), and its content."""

    provider = forms.ModelChoiceField(
        queryset=OutsideProvider.objects.none(),
        label="To",
        widget=RadioSelect,
        empty_label=None,
        error_messages={
            "required": "Choose who the letter is to.",
            "invalid_choice": "Choose one of the client's providers.",
        },
    )
    runbook = forms.ModelChoiceField(
        queryset=Runbook.objects.none(),
        label="Session",
        widget=RadioSelect,
        empty_label=None,
        error_messages={
            "required": "Choose the session the summary is about.",
            "invalid_choice": "Choose one of the signed sessions listed.",
        },
    )

    field_order = ["provider", "runbook", "categories", "body", "recommendations"]

    def __init__(self, *args, kind: str, providers, sessions, **kwargs):
        kwargs.setdefault("initial", {}).setdefault("categories", compose.spec(kind).categories)
        super().__init__(*args, kind=kind, **kwargs)
        self.fields["provider"].queryset = providers
        self.fields["provider"].label_from_instance = _provider_label
        if compose.spec(kind).about_a_session:
            self.fields["runbook"].queryset = sessions
            self.fields["runbook"].label_from_instance = _session_label
        else:
            del self.fields["runbook"]
        self.order_fields(self.field_order)


def _provider_label(provider) -> str:
    label = f"{provider.name} ({provider.get_kind_display()}"
    return label + (f", {provider.organisation})" if provider.organisation else ")")


def _session_label(runbook) -> str:
    return f"Medication session of {long_date(runbook.visit.starts_at)}"
