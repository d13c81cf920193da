"""The discharge form (docs/course.md, "Discharge"): why the course ends, when, the client's
condition and risk, the aftercare recommendations and the referrals."""

import datetime

from django import forms
from django.core.validators import MaxLengthValidator

from kapflow.course.discharge import date_problem
from kapflow.course.models import Discharge
from kapflow.lib.forms import DateInput, RadioSelect

TEXT_MAX = 20000


class DischargeForm(forms.ModelForm):
    class Meta:
        model = Discharge
        fields = ["reason", "reason_detail", "discharged_on", "condition", "recommendations", "referrals"]
        widgets = {
            "reason": RadioSelect,
            "discharged_on": DateInput(),
            "reason_detail": forms.Textarea(attrs={"rows": 3}),
            "condition": forms.Textarea(attrs={"rows": 5}),
            "recommendations": forms.Textarea(attrs={"rows": 5}),
            "referrals": forms.Textarea(attrs={"rows": 3}),
        }
        labels = {"reason": "Why the course ends"}
        help_texts = {
            "reason_detail": "Optional: what led to it, in a sentence or two.",
            "discharged_on": (
                "The day the client was discharged: not in the future, not before they were first seen."
            ),
            "condition": (
                "How the client is at discharge, and the risk as you assess it (including suicide risk)."
            ),
            "recommendations": (
                "The aftercare plan: what you recommend the client does next, and when to come back."
            ),
        }
        error_messages = {
            "reason": {
                "required": "Choose why the course ends.",
                "invalid_choice": "Choose one of the reasons offered.",
            },
            "discharged_on": {
                "required": "Give the day the client was discharged.",
                "invalid": "Give the date as year, month and day.",
            },
            "condition": {"required": "Write the client's condition and risk at discharge."},
            "recommendations": {"required": "Write the aftercare recommendations."},
        }

    def __init__(self, *args, first_visit: datetime.date | None, providers=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.first_visit = first_visit
        for name in ("reason_detail", "condition", "recommendations", "referrals"):
            self.fields[name].validators.append(MaxLengthValidator(TEXT_MAX))
            self.fields[name].widget.attrs["maxlength"] = str(TEXT_MAX)
        names = [
            f"{p.name} ({p.get_kind_display().lower()}{', ' + p.organisation if p.organisation else ''})"
            for p in providers
        ]
        self.fields["referrals"].help_text = (
            "To whom the client is referred, and for what. The client's outside providers: "
            + "; ".join(names)
            + "."
            if names
            else "To whom the client is referred, and for what. No outside provider is on the chart."
        )

    def clean_discharged_on(self) -> datetime.date:
        value = self.cleaned_data["discharged_on"]
        problem = date_problem(value, first_visit=self.first_visit)
        if problem:
            raise forms.ValidationError(problem)
        return value

    def _words(self, name: str, message: str) -> str:
        value = self.cleaned_data[name].strip()
        if not value:
            raise forms.ValidationError(message)
        return value

    def clean_condition(self) -> str:
        return self._words("condition", "Write the client's condition and risk at discharge.")

    def clean_recommendations(self) -> str:
        return self._words("recommendations", "Write the aftercare recommendations.")
