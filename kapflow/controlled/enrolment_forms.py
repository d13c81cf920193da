from django import forms

from kapflow.clients.selectors import prescribers_for
from kapflow.documents.models import ChartDocument
from kapflow.lib.forms import DateInput


class EnrolmentForm(forms.Form):
    """The Spravato REMS patient enrolment form, as the client and the prescriber signed it."""

    prescriber = forms.ModelChoiceField(
        queryset=None,
        label="Prescriber who signed the enrolment with the client",
        empty_label="Choose the prescriber",
    )
    enrolled_on = forms.DateField(
        label="Enrolled on", widget=DateInput(), help_text="The day the form was signed."
    )
    patient_rems_id = forms.CharField(
        label="Patient's REMS ID", max_length=40, help_text="As the REMS gave it on enrolment."
    )
    document = forms.ModelChoiceField(
        queryset=None,
        label="The signed form, filed on the chart (optional)",
        required=False,
        empty_label="Not filed in kapflow",
        help_text="File it first under Documents, then choose it here.",
    )

    def __init__(self, *args, client, **kwargs):
        kwargs.setdefault("auto_id", "enrol_%s")
        super().__init__(*args, **kwargs)
        self.fields["prescriber"].queryset = prescribers_for(client.pk)
        self.fields["prescriber"].label_from_instance = lambda user: user.full_name
        self.fields["document"].queryset = ChartDocument.objects.filter(client=client).order_by("-pk")
        self.fields["document"].label_from_instance = lambda doc: doc.title
