"""The two steps of importing a questionnaire response (docs/import.md): the file (uploaded or
pasted), then the clinician's confirmation that the answers are this client's."""

import base64
import binascii
import hashlib

from django import forms

# The largest file or pasted text read, in bytes. A PHQ-9 QuestionnaireResponse is a few
# kilobytes, a bundle with its Patient rarely more than ten; 256 KiB leaves room for a verbose
# system's extensions and narrative, and stays well inside Django's request body limit
# (DATA_UPLOAD_MAX_MEMORY_SIZE, 2.5 MB) once the preview carries the file back in base64.
IMPORT_MAX_BYTES = 256 * 1024


class ImportFileForm(forms.Form):
    """Step 1: the JSON, as a .json file or pasted."""

    file = forms.FileField(
        label="A .json file",
        required=False,
        allow_empty_file=True,
        help_text=(
            f"A FHIR R4 QuestionnaireResponse, or a Bundle holding one, up to {IMPORT_MAX_BYTES // 1024} KB."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".json,application/json,application/fhir+json"}),
    )
    text = forms.CharField(
        label="Or paste the JSON",
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 12, "spellcheck": "false"}),
    )

    def clean_file(self):
        upload = self.cleaned_data.get("file")
        if upload and upload.size > IMPORT_MAX_BYTES:
            raise forms.ValidationError(
                f"This file is {upload.size // 1024} KB; the largest accepted is "
                f"{IMPORT_MAX_BYTES // 1024} KB."
            )
        return upload

    def clean_text(self):
        text = self.cleaned_data.get("text", "")
        if len(text.encode()) > IMPORT_MAX_BYTES:
            raise forms.ValidationError(
                f"The pasted text is longer than the {IMPORT_MAX_BYTES // 1024} KB accepted."
            )
        return text

    def clean(self):
        cleaned = super().clean()
        upload, text = cleaned.get("file"), cleaned.get("text", "")
        if self.errors:
            return cleaned
        if upload and text.strip():
            raise forms.ValidationError("Give either a file or pasted JSON, not both.")
        if not upload and not text.strip():
            raise forms.ValidationError("Choose a .json file or paste the JSON.")
        cleaned["raw"] = upload.read() if upload else text.encode()
        return cleaned


class ImportConfirmForm(forms.Form):
    """Step 2: the file again (as the preview carried it) and the clinician's confirmation."""

    payload = forms.CharField(widget=forms.HiddenInput)
    # The preview's seal on the file, the client and the clinician (import_views.seal_of): a
    # confirmation counts only for the file previewed, beside this client's chart, by this person.
    seal = forms.CharField(widget=forms.HiddenInput, required=False)
    confirmed = forms.BooleanField(
        required=True,
        error_messages={
            "required": "Tick this box once you have checked that the file is about this client."
        },
    )

    def __init__(self, *args, client, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["confirmed"].label = f"These are {client.display_name}'s answers"

    @staticmethod
    def encode(raw: bytes) -> str:
        """The file's exact bytes, for the preview's hidden field: base64, so that no line ending
        is changed on the way and the hash is the file's own."""
        return base64.b64encode(raw).decode()

    def clean_payload(self):
        try:
            raw = base64.b64decode(self.cleaned_data["payload"], validate=True)
        except (binascii.Error, ValueError):
            raise forms.ValidationError("The file was lost on the way: start the import again.") from None
        if len(raw) > IMPORT_MAX_BYTES:
            raise forms.ValidationError("The file is too large: start the import again.")
        return raw

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.cleaned_data["payload"]).hexdigest()
