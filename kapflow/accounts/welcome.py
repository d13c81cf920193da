"""The staff invitation's page: choose a password and set up the authenticator in one step.

The emailed link (services.set_password_link) carries allauth's password-reset key, which stops
working as soon as a password is set. Nothing is saved until both the password and a code from
the new authenticator are right, so there is never an account with a password and no second
factor, and never a session on the password alone."""

import base64

from allauth.account.forms import default_token_generator
from allauth.account.utils import url_str_to_user_pk
from allauth.mfa.adapter import get_adapter as get_mfa_adapter
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret, validate_totp_code
from django import forms
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters

from kapflow.accounts import services
from kapflow.accounts.models import User
from kapflow.accounts.throttle import second_factor_throttle

# The secret shown on the page, kept in the (anonymous) session so that a reload or a wrong code
# shows the same QR code the person may already have scanned.
_SECRET_KEY = "kapflow.welcome_totp"


class WelcomeForm(forms.Form):
    password1 = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )
    password2 = forms.CharField(
        label="Password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    code = forms.CharField(
        label="Authenticator code",
        max_length=16,
        help_text="The six digits your authenticator app shows for this account once you have added it.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )

    def __init__(self, *args, user: User, secret: str | None, **kwargs) -> None:
        self.user = user
        # None: the person already has an authenticator and proves it with its code.
        self.secret = secret
        super().__init__(*args, **kwargs)

    def clean_password2(self) -> str:
        first, second = self.cleaned_data.get("password1"), self.cleaned_data["password2"]
        if first and first != second:
            raise ValidationError("The two passwords differ: type the same password twice.")
        password_validation.validate_password(second, self.user)
        return second

    def clean_code(self) -> str:
        code = self.cleaned_data["code"].strip().replace(" ", "")
        # The throttle on second-factor guesses for this account (not for the address).
        clear = second_factor_throttle(self.user, error_key="rate_limited")
        if self.secret is not None:
            right = validate_totp_code(self.secret, code)
        else:
            existing = Authenticator.objects.filter(user=self.user, type=Authenticator.Type.TOTP).first()
            right = existing is not None and TOTP(existing).validate_code(code)
        if not right:
            raise ValidationError(
                "That code is not right. Type the six digits your authenticator app shows now."
            )
        clear()
        return code


def _invited(uidb36: str, key: str) -> User | None:
    """The staff member this link was made for, while it is still unused."""
    try:
        pk = url_str_to_user_pk(uidb36)
    except (ValueError, ValidationError):
        return None
    user = User.objects.filter(pk=pk, is_active=True).first()
    if user is None or not user.is_staff_member or not default_token_generator.check_token(user, key):
        return None
    return user


def _secret_for(request: HttpRequest, user: User) -> str:
    kept = request.session.get(_SECRET_KEY)
    if isinstance(kept, dict) and kept.get("user") == user.pk and kept.get("secret"):
        return kept["secret"]
    secret = generate_totp_secret()
    request.session[_SECRET_KEY] = {"user": user.pk, "secret": secret}
    return secret


@never_cache
@sensitive_post_parameters("password1", "password2", "code")
def staff_welcome(request: HttpRequest, uidb36: str, key: str) -> HttpResponse:
    user = _invited(uidb36, key)
    if user is None:
        return render(request, "accounts/welcome_invalid.html")
    has_totp = Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()
    secret = None if has_totp else _secret_for(request, user)
    form = WelcomeForm(request.POST or None, user=user, secret=secret)
    if request.method == "POST" and form.is_valid():
        try:
            services.staff_welcome_accept(
                request=request, user=user, password=form.cleaned_data["password2"], totp_secret=secret
            )
        except services.InvitationUsed:
            return render(request, "accounts/welcome_invalid.html")
        request.session.pop(_SECRET_KEY, None)
        codes = RecoveryCodes(
            Authenticator.objects.get(user=user, type=Authenticator.Type.RECOVERY_CODES)
        ).get_unused_codes()
        return render(request, "accounts/welcome_done.html", {"codes": codes})
    context = {"form": form, "invited": user, "secret": secret}
    if secret is not None:
        adapter = get_mfa_adapter()
        svg = adapter.build_totp_svg(adapter.build_totp_url(user, secret))
        context["qr_data_uri"] = "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()
    return render(request, "accounts/welcome.html", context)
