from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils import timezone
from django.utils.formats import date_format

from kapflow.course.models import CourseReview
from kapflow.course.reviews import SIGNER_ROLES
from kapflow.lib.forms import DateInput, RadioSelect
from kapflow.visits.models import Visit

# Sanity bounds on what may be typed (the database takes up to 32767): no course or maintenance
# plan comes near them, and a slip of the keyboard is caught next to the box.
MOST_SESSIONS = 99
MOST_WEEKS = 52


def _visit_label(visit: Visit) -> str:
    return f"Progress review of {date_format(timezone.localtime(visit.starts_at), 'D, M j, Y, H:i')}"


class ReviewForm(forms.ModelForm):
    """A course review as its writer enters it. `held`: the sessions held so far (an extension
    must plan more); `client`: whose progress-review visits may be named."""

    class Meta:
        model = CourseReview
        fields = [
            "held_on",
            "visit",
            "summary",
            "decision",
            "extend_to",
            "maintenance_weeks",
            "maintenance_sessions",
        ]
        widgets = {
            "held_on": DateInput(),
            "summary": forms.Textarea(attrs={"rows": 5}),
            "decision": RadioSelect,
        }
        labels = {"visit": "The progress-review visit"}
        help_texts = {
            "summary": "Progress towards the goals, the scores, the sessions and any adverse events, "
            "and why you decide as you do.",
            "extend_to": "For an extension: the course's total, counting the sessions already held.",
            "maintenance_weeks": "For maintenance: usually every 4–8 weeks.",
        }

    def __init__(self, *args, client, held: int, maintenance_weeks: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.held = held
        self.fields["visit"].queryset = Visit.objects.filter(
            client=client, kind=Visit.Kind.PROGRESS_REVIEW
        ).exclude(status__in=(Visit.Status.CANCELLED, Visit.Status.NO_SHOW))
        self.fields["visit"].required = False
        self.fields["visit"].empty_label = "Not held in a booked visit"
        self.fields["visit"].label_from_instance = _visit_label
        for name, most in (
            ("extend_to", MOST_SESSIONS),
            ("maintenance_sessions", MOST_SESSIONS),
            ("maintenance_weeks", MOST_WEEKS),
        ):
            self.fields[name].min_value = 1
            self.fields[name].max_value = most
            self.fields[name].widget.attrs.update(min=1, max=most)
            self.fields[name].validators = [MinValueValidator(1), MaxValueValidator(most)]
        if maintenance_weeks and not self.is_bound:
            self.initial.setdefault("maintenance_weeks", maintenance_weeks)

    def clean(self):
        cleaned = super().clean()
        decision = cleaned.get("decision")
        if decision == CourseReview.Decision.EXTEND:
            extend_to = cleaned.get("extend_to")
            if extend_to is None and "extend_to" not in self.errors:
                self.add_error("extend_to", "Say how many sessions the course has in all once extended.")
            elif extend_to is not None and extend_to <= self.held:
                self.add_error(
                    "extend_to",
                    f"{self.held} sessions have been held: the extended course must have more than that.",
                )
        if decision == CourseReview.Decision.MAINTENANCE:
            for name, message in (
                ("maintenance_weeks", "Say how often a maintenance session is due, in weeks."),
                ("maintenance_sessions", "Say how many maintenance sessions come before the next review."),
            ):
                if cleaned.get(name) is None and name not in self.errors:
                    self.add_error(name, message)
        # What does not belong to the decision is not kept (and not checked).
        if decision != CourseReview.Decision.EXTEND:
            cleaned["extend_to"] = None
            self.errors.pop("extend_to", None)
        if decision != CourseReview.Decision.MAINTENANCE:
            for name in ("maintenance_weeks", "maintenance_sessions"):
                cleaned[name] = None
                self.errors.pop(name, None)
        return cleaned


class SignForm(forms.Form):
    """Which signature the signer gives: asked only of someone who holds both roles."""

    role = forms.ChoiceField(choices=[(role, f"As the {role}") for role in SIGNER_ROLES], widget=RadioSelect)

    def __init__(self, *args, roles: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = [
            (value, label) for value, label in self.fields["role"].choices if value in roles
        ]
        if len(roles) == 1:
            self.fields["role"].initial = roles[0]
