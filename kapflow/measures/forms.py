from django import forms

from kapflow.lib.forms import RadioSelect, SentOnce
from kapflow.measures.instruments import Instrument
from kapflow.measures.models import Alert, Response


class AnswersForm(forms.Form):
    """Every item of an instrument as a row of radio buttons. Items are not required one by one:
    a missing answer is reported once, naming every unanswered item. The client's own form on
    the portal."""

    def __init__(self, *args, instrument: Instrument, **kwargs):
        super().__init__(*args, **kwargs)
        self.instrument = instrument
        for item in instrument.items:
            self.fields[f"item_{item.key}"] = forms.TypedChoiceField(
                label=item.text,
                choices=[(option.value, option.label) for option in instrument.options],
                coerce=int,
                empty_value=None,
                widget=RadioSelect,
                required=False,
            )

    def item_fields(self):
        return [(item, self[f"item_{item.key}"]) for item in self.instrument.items]

    def clean(self):
        cleaned = super().clean()
        missing = [item.key for item in self.instrument.items if cleaned.get(f"item_{item.key}") is None]
        if missing:
            numbers = ", ".join(missing[:-1]) + (" and " if len(missing) > 1 else "") + missing[-1]
            raise forms.ValidationError(
                f"Answer every question before saving: question{'s' if len(missing) > 1 else ''} "
                f"{numbers} {'are' if len(missing) > 1 else 'is'} not answered yet."
            )
        self.answers = {item.key: cleaned[f"item_{item.key}"] for item in self.instrument.items}
        return cleaned


class ResponseForm(SentOnce, AnswersForm):
    """The staff side's form: the answers, and what the measure was given as. Saved once however
    often it is sent (a double click would otherwise open two urgent alerts and send two emails)."""

    context = forms.ChoiceField(label="Given as", choices=Response.Context.choices)


class AlertCloseForm(forms.ModelForm):
    class Meta:
        model = Alert
        fields = ["follow_up"]
        widgets = {"follow_up": forms.Textarea(attrs={"rows": 5})}
        labels = {"follow_up": "Follow-up"}
        help_texts = {
            "follow_up": "What you did: who spoke with the client, when, the risk assessment and the plan.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["follow_up"].required = True
