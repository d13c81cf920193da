from django import forms


class WitnessFields(forms.Form):
    """The witness's own sign-in, typed by the witness on the screen of the person they witness
    (kapflow.accounts.witness). Mixed into the forms of a waste and of a destruction on site.
    The password is never sent back into the page, even when the form returns with errors."""

    witness_email = forms.EmailField(label="Witness's email")
    witness_password = forms.CharField(
        label="Witness's password", strip=False, widget=forms.PasswordInput(render_value=False)
    )
    witness_code = forms.CharField(
        label="Witness's authenticator code",
        required=False,
        max_length=12,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
        help_text="The code the witness's authenticator app shows, if their account has one.",
    )
