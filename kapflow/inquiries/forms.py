from django import forms

from kapflow.inquiries.models import Inquiry


class InquiryForm(forms.ModelForm):
    # A field people never see (hidden by the stylesheet, skipped by keyboard and screen
    # readers); form-filling robots fill it in, and their message is quietly dropped.
    website = forms.CharField(
        required=False,
        label="Leave this empty",
        widget=forms.TextInput(attrs={"tabindex": "-1", "autocomplete": "off"}),
    )

    class Meta:
        model = Inquiry
        fields = [
            "first_name",
            "last_name",
            "email",
            "phone",
            "preferred_contact",
            "preferred_time",
            "message",
            "source",
        ]
        widgets = {"message": forms.Textarea(attrs={"rows": 6})}
        error_messages = {
            "first_name": {"required": "Tell us your first name."},
            "last_name": {"required": "Tell us your last name."},
            "message": {"required": "Tell us a little about what brings you here."},
            "email": {"invalid": "This email address looks incomplete. Check it, e.g. name@example.com."},
        }
        help_texts = {
            "phone": "Needed if you would like a call or a text.",
            "email": "Needed if you would like us to write.",
            "message": (
                "A few sentences is plenty. Please leave out anything you would not want in an email."
            ),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["source"].choices = [("", "Prefer not to say"), *Inquiry.Source.choices]
        self.fields["email"].widget.attrs["autocomplete"] = "email"
        self.fields["phone"].widget.attrs.update(autocomplete="tel", type="tel")
        self.fields["first_name"].widget.attrs["autocomplete"] = "given-name"
        self.fields["last_name"].widget.attrs["autocomplete"] = "family-name"

    def clean(self):
        cleaned = super().clean()
        method = cleaned.get("preferred_contact")
        if method == "email" and not cleaned.get("email"):
            self.add_error("email", "Add your email address so we can write back, or choose a phone call.")
        if method in ("phone", "text") and not cleaned.get("phone"):
            self.add_error("phone", "Add your phone number so we can reach you, or choose email.")
        return cleaned

    @property
    def is_robot(self) -> bool:
        return bool(self.cleaned_data.get("website"))


class TriageForm(forms.ModelForm):
    class Meta:
        model = Inquiry
        fields = ["status", "triage_note"]
        widgets = {"triage_note": forms.Textarea(attrs={"rows": 4})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["status"].choices = [
            (Inquiry.Status.NEW, Inquiry.Status.NEW.label),
            (Inquiry.Status.CONTACTED, Inquiry.Status.CONTACTED.label),
        ]


class DeclineForm(forms.Form):
    reason = forms.CharField(
        label="Reason for declining",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="For the practice's record, e.g. 'Looking for couples therapy; referred to …'.",
    )
