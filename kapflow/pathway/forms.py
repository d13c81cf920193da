from django import forms
from django.core.validators import MinValueValidator

from kapflow.lib.forms import DateInput, RadioSelect
from kapflow.pathway.models import Consultation, CoursePlan, GateOverride, PreparationSession, Topic


class ConsultationForm(forms.ModelForm):
    class Meta:
        model = Consultation
        fields = [
            "held_on",
            "why_kap",
            "history",
            "previous_treatment",
            "supports",
            "expectations",
            "goals",
            "note",
            "decision",
            "decision_reason",
            "referral_note",
        ]
        widgets = {
            "held_on": DateInput(),
            "decision": RadioSelect,
            **{
                name: forms.Textarea(attrs={"rows": 3})
                for name in [
                    "why_kap",
                    "history",
                    "previous_treatment",
                    "supports",
                    "expectations",
                    "goals",
                    "note",
                    "decision_reason",
                    "referral_note",
                ]
            },
        }
        help_texts = {
            "decision_reason": "Needed when the decision is not to go on, or to defer.",
            "referral_note": "Where you suggested they turn instead, if KAP is not a fit.",
        }

    def clean(self):
        cleaned = super().clean()
        decision = cleaned.get("decision")
        if (
            decision in (Consultation.Decision.NOT_A_FIT, Consultation.Decision.DEFER)
            and not cleaned.get("decision_reason", "").strip()
        ):
            self.add_error(
                "decision_reason", "Say why, for the record and for whoever sees this client next."
            )
        return cleaned


class PreparationForm(forms.ModelForm):
    topics = forms.MultipleChoiceField(
        label="Topics covered in this session",
        choices=Topic.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )

    class Meta:
        model = PreparationSession
        fields = ["held_on", "topics", "intentions", "day_of_instructions_given", "note"]
        widgets = {
            "held_on": DateInput(),
            "intentions": forms.Textarea(attrs={"rows": 3}),
            "note": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args, covered=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.covered = set(covered)

    def clean(self):
        cleaned = super().clean()
        if (
            not cleaned.get("topics")
            and not cleaned.get("intentions", "").strip()
            and not cleaned.get("note")
        ):
            raise forms.ValidationError("Tick the topics you covered, or write the intentions or a note.")
        return cleaned


class CoursePlanForm(forms.ModelForm):
    class Meta:
        model = CoursePlan
        fields = [
            "goals",
            "planned_sessions",
            "cadence",
            "cadence_note",
            "modality",
            "integration_after_each",
            "review_after",
        ]
        widgets = {"goals": forms.Textarea(attrs={"rows": 3})}
        error_messages = {"planned_sessions": {"min_value": "Plan at least one medication session."}}

    def __init__(self, *args, count_locked: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        # The table's check (plan_at_least_one_session), said next to the box instead of as a
        # violated constraint.
        sessions = self.fields["planned_sessions"]
        sessions.min_value = sessions.widget.attrs["min"] = 1
        sessions.validators = [
            *(v for v in sessions.validators if not isinstance(v, MinValueValidator)),
            MinValueValidator(1),
        ]
        if count_locked:
            # Sessions of the plan have begun: the count is the course review's to change
            # (kapflow.pathway.services.course_plan_save refuses it too).
            sessions.disabled = True
            sessions.help_text = "Sessions of this plan have begun: the number changes by a course review."

    def clean_review_after(self):
        value = self.cleaned_data["review_after"]
        parts = value.replace(",", " ").split()
        # isdecimal, not isdigit: "²" is a digit that int() refuses.
        if any(not part.isdecimal() or int(part) < 1 for part in parts):
            raise forms.ValidationError("Use session numbers separated by commas, e.g. 3, 6.")
        return ", ".join(str(n) for n in sorted({int(part) for part in parts}))

    def clean(self):
        cleaned = super().clean()
        if (
            cleaned.get("cadence") == CoursePlan.Cadence.CUSTOM
            and not cleaned.get("cadence_note", "").strip()
        ):
            self.add_error(
                "cadence_note", "Describe the custom cadence, e.g. 'weekly for 3 weeks, then monthly'."
            )
        planned = cleaned.get("planned_sessions")
        reviews = CoursePlan(review_after=cleaned.get("review_after", "")).review_points
        if planned and reviews and max(reviews) > planned:
            self.add_error(
                "review_after", f"A review after session {max(reviews)} is beyond the {planned} planned."
            )
        return cleaned


class OverrideForm(forms.ModelForm):
    class Meta:
        model = GateOverride
        fields = ["reason"]
        widgets = {"reason": forms.Textarea(attrs={"rows": 4})}
        labels = {"reason": "Why this may go ahead"}
        help_texts = {"reason": "Your clinical reasoning, as it should read in the record and the audit log."}
