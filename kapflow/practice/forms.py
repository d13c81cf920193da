from django import forms

from kapflow.practice.models import Practice


class PracticeForm(forms.ModelForm):
    class Meta:
        model = Practice
        fields = ["name", "phone", "email", "address", "inquiry_intro", "open_caseload"]
        widgets = {"inquiry_intro": forms.Textarea(attrs={"rows": 4})}
