from django import forms

from kapflow.accounts.models import STAFF_ROLES, User


class StaffForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ["full_name", "email", "credentials", *[role.flag for role in STAFF_ROLES]]

    def clean_email(self):
        email = self.cleaned_data["email"].lower()
        clash = User.objects.filter(email=email).exclude(pk=self.instance.pk)
        if clash.exists():
            raise forms.ValidationError("Someone already has an account with this email address.")
        return email

    def clean(self):
        cleaned = super().clean()
        if not any(cleaned.get(role.flag) for role in STAFF_ROLES):
            raise forms.ValidationError("Choose at least one role.")
        return cleaned
