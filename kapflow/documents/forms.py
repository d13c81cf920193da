from django import forms
from django.utils import timezone

from kapflow.documents import files
from kapflow.documents.models import ChartDocument
from kapflow.lib.forms import DateInput, RadioSelect


class ProviderChoice(forms.ModelChoiceField):
    def label_from_instance(self, provider) -> str:
        return f"{provider.name} ({provider.get_kind_display().lower()})"


class UploadForm(forms.Form):
    """Filing a document on a client's chart. The file is judged by its content
    (kapflow.documents.files.inspect); the outside providers offered are this client's only."""

    kind = forms.ChoiceField(label="What it is", choices=ChartDocument.Kind.choices, widget=RadioSelect)
    title = forms.CharField(
        max_length=150,
        help_text="As the chart should list it: “Metabolic panel, March”, “Letter from Dr. Okafor”.",
    )
    provider = ProviderChoice(
        label="Outside provider who sent it",
        queryset=None,
        required=False,
        empty_label="Not one of this client's outside providers",
    )
    received_from = forms.CharField(
        label="From",
        max_length=150,
        required=False,
        help_text="Who sent it, when it is not one of the providers above (a lab, a hospital).",
    )
    dated = forms.DateField(label="Date on the document", required=False, widget=DateInput())
    file = forms.FileField(
        # Empty files get our own message (files.inspect), not Django's.
        allow_empty_file=True,
        help_text="A PDF, PNG, JPEG or TIFF file, up to {} MB.",
    )

    def __init__(self, *args, client, too_large: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["provider"].queryset = client.outside_providers.order_by("name", "pk")
        self.fields["file"].help_text = self.fields["file"].help_text.format(
            files.max_bytes() // files.MEGABYTE
        )
        # SizeLimit threw the file away before the form saw it (kapflow.documents.files).
        self.too_large = too_large
        self.inspected: files.Inspected | None = None

    def clean_dated(self):
        dated = self.cleaned_data["dated"]
        if dated and dated > timezone.localdate():
            raise forms.ValidationError("This date is in the future. Give the date written on the document.")
        return dated

    def clean_file(self):
        upload = self.cleaned_data.get("file")
        if upload is None:
            if self.too_large:
                raise forms.ValidationError(files.too_large_message())
            return upload
        self.inspected = files.inspect(upload)
        return upload

    def full_clean(self):
        if self.is_bound and self.too_large:
            # The file field is empty because the file was too large, not because none was
            # chosen: say that, instead of "This field is required".
            self.fields["file"].required = False
        super().full_clean()
