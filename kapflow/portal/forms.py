from django import forms
from django.contrib.auth import password_validation

from kapflow.consent.forms import add_release_terms, clean_release_terms
from kapflow.lib.forms import RadioSelect
from kapflow.lib.names import same_name


class NewPasswordForm(forms.Form):
    """Choosing the password of a new portal account (Django's password validators)."""

    password1 = forms.CharField(
        label="Choose a password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password2 = forms.CharField(
        label="Type it again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args, email: str, full_name: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.email, self.full_name = email, full_name
        rules = " ".join(password_validation.password_validators_help_texts())
        self.fields["password1"].help_text = f"{rules} A few unrelated words make a strong password."

    def clean(self):
        cleaned = super().clean()
        first, second = cleaned.get("password1"), cleaned.get("password2")
        if first and second and first != second:
            self.add_error("password2", "The two passwords are not the same. Type the same password twice.")
        elif first:
            # The validators compare the password with the person's email and name too.
            from kapflow.accounts.models import User

            try:
                password_validation.validate_password(first, User(email=self.email, full_name=self.full_name))
            except forms.ValidationError as error:
                self.add_error("password1", error)
        return cleaned


class ExistingPasswordForm(forms.Form):
    """Adding this portal to an account the person already has: its password proves it is theirs."""

    password = forms.CharField(
        label="Your current password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class PortalSignatureForm(forms.Form):
    """A decision on the document shown above the form, made by the signed-in person themselves.
    The page carries the hash of the text it showed, so a version published while it was open is
    caught instead of signed unread."""

    typed_name = forms.CharField(
        label="Type your full name to sign",
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    decision = forms.ChoiceField(
        label="Your decision",
        widget=RadioSelect,
        choices=[("agree", "I agree"), ("refuse", "I do not agree")],
    )
    sha256 = forms.CharField(
        widget=forms.HiddenInput,
        max_length=64,
        error_messages=dict.fromkeys(
            ["required", "max_length", "null_characters_not_allowed"],
            "The page did not arrive whole, so nothing was recorded. Open the document again, read it, "
            "then sign.",
        ),
    )

    def __init__(self, *args, name_on_file: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.name_on_file = name_on_file
        self.fields["typed_name"].help_text = f"As the practice has it: {name_on_file}."

    def clean_typed_name(self):
        typed = self.cleaned_data["typed_name"]
        if not same_name(typed, self.name_on_file):
            raise forms.ValidationError(
                f"“{typed}” is not the name the practice has for you, “{self.name_on_file}”. Type it as "
                "shown; capitals and spaces do not matter. If the practice has your name wrong, tell them."
            )
        return typed


class PortalReleaseForm(PortalSignatureForm):
    """A release of information to one outside provider, signed (or withdrawn) on the portal by
    the signed-in person: the decision, the typed name and the release's terms (what may be
    sent, what for, until when)."""

    def __init__(self, *args, standing: bool, **kwargs):
        super().__init__(*args, **kwargs)
        add_release_terms(self)
        if standing:
            self.fields["decision"].choices = [
                ("agree", "I agree to these terms (they replace the ones I signed before)"),
                ("refuse", "I withdraw this release from now on"),
            ]

    def clean(self):
        cleaned = super().clean()
        clean_release_terms(self, cleaned)
        return cleaned
