from django import forms
from django.utils import timezone

from kapflow.clients.forms import DateInput
from kapflow.consent.categories import AT_THE_CLIENTS_REQUEST, Category
from kapflow.consent.models import ConsentDocument, Kind
from kapflow.consent.selectors import SignerOption
from kapflow.lib.forms import RadioSelect
from kapflow.lib.names import same_name


def add_release_terms(form: forms.Form) -> None:
    """The release's own terms, asked of whoever signs one (in the office or on the portal): what
    may be sent, why, and until when (45 CFR 164.508(c)(1)); the provider is named by the page."""
    form.fields["categories"] = forms.MultipleChoiceField(
        label="What may be sent",
        choices=Category.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="Tick each part of the record this release lets the practice send. Notes of what was "
        "said in sessions and the journal are never sent.",
    )
    form.fields["purpose"] = forms.CharField(
        label="What for",
        max_length=200,
        required=False,
        help_text=f"Leave empty for “{AT_THE_CLIENTS_REQUEST}”.",
    )
    form.fields["release_expires_on"] = forms.DateField(
        label="This release ends on",
        required=False,
        widget=DateInput(),
        help_text="Leave empty if it lasts until withdrawn.",
    )


def release_terms_initial(requirement) -> dict:
    """The terms of the agreement that stands, to start a change from them."""
    latest = requirement.latest if requirement is not None else None
    if latest is None or not latest.agreed:
        return {}
    return {
        "categories": latest.categories,
        "purpose": latest.purpose,
        "release_expires_on": latest.release_expires_on,
    }


def clean_release_terms(form: forms.Form, cleaned: dict) -> None:
    """The terms of an agreement; a refusal or a withdrawal carries none."""
    day = cleaned.get("release_expires_on")
    if cleaned.get("decision") != "agree":
        if day:
            form.add_error("release_expires_on", "Only an agreed release has an end date. Clear the date.")
        cleaned["categories"], cleaned["purpose"] = [], ""
        return
    if day is not None and day <= timezone.localdate():
        form.add_error("release_expires_on", "The end date has to be after today. Check the date.")
    if "categories" in form.fields and not cleaned.get("categories") and "categories" not in form.errors:
        # A release that names nothing lets nothing be sent: say so instead of recording one.
        form.add_error("categories", "Tick at least one kind of information this release lets us send.")
    cleaned["purpose"] = (cleaned.get("purpose") or "").strip() or AT_THE_CLIENTS_REQUEST


class SignatureForm(forms.Form):
    """A decision on the document shown above the form, made by the person signing in the
    office. The page carries the hash of the text it showed, so a version published while the
    page was open is caught instead of signed unread."""

    signer = forms.ChoiceField(label="Who is signing", widget=RadioSelect)
    typed_name = forms.CharField(
        label="Full name, typed by the person signing",
        max_length=150,
        help_text="As it is on file. Capitals and spaces do not matter.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    decision = forms.ChoiceField(
        label="Decision",
        widget=RadioSelect,
        choices=[("agree", "I agree"), ("refuse", "I do not agree")],
    )
    # Nobody types the hash: a missing or mangled one is a page that did not arrive whole.
    sha256 = forms.CharField(
        widget=forms.HiddenInput,
        max_length=64,
        error_messages=dict.fromkeys(
            ["required", "max_length", "null_characters_not_allowed"],
            "The page did not send back the document it showed, so nothing was recorded. "
            "Open the document again, read it with the person signing, then sign.",
        ),
    )

    def __init__(self, *args, signers: list[SignerOption], kind: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.signers = {option.key: option for option in signers}
        self.fields["signer"].choices = [(option.key, option.label) for option in signers]
        if len(signers) == 1:
            self.fields["signer"].initial = signers[0].key
        self.is_release = kind == Kind.RELEASE
        if self.is_release:
            add_release_terms(self)

    def clean(self):
        cleaned = super().clean()
        option = self.signers.get(cleaned.get("signer"))
        typed = cleaned.get("typed_name")
        if option and typed and not same_name(typed, option.name):
            self.add_error(
                "typed_name",
                f"“{typed}” does not match the name on file, “{option.name}”. Type the full name "
                "as it is on file, or correct the name on the chart first if it is wrong there.",
            )
        if self.is_release:
            clean_release_terms(self, cleaned)
        self.signer_option = option
        return cleaned


class DocumentForm(forms.ModelForm):
    """A new version of a consent document, written from the current text."""

    class Meta:
        model = ConsentDocument
        fields = ["title", "body", "requires_reconsent"]
        widgets = {"body": forms.Textarea(attrs={"rows": 28})}
        help_texts = {
            "body": "Plain text. A blank line starts a new paragraph, a line starting with “## ” is a "
            "heading, and lines starting with “- ” show as a list.",
            "requires_reconsent": "Tick this when the change matters to what people agreed to. Once this "
            "version is published, signatures on earlier versions no longer count and every client "
            "has to sign again before their next medication session.",
        }

    def __init__(self, *args, current: ConsentDocument | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.current = current

    def clean(self):
        cleaned = super().clean()
        current = self.current
        if (
            current is not None
            and cleaned.get("title") == current.title
            and (cleaned.get("body") or "").replace("\r\n", "\n") == current.body
        ):
            raise forms.ValidationError(
                f"Nothing has changed from version {current.version}. Edit the text, or cancel."
            )
        return cleaned

    def clean_body(self):
        # Browsers send CRLF; the hash is of the text as shown, so store one kind of line end.
        return self.cleaned_data["body"].replace("\r\n", "\n").strip()
