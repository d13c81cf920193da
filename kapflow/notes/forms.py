"""The note editor's form, built for the note's format and its visit's kind, and the addendum's."""

from django import forms

from kapflow.notes.models import SECTIONS, NoteFormat
from kapflow.notes.services import TEXT_MAX, kind_parts
from kapflow.pathway.models import Topic


def _text(label: str, *, help_text: str = "", rows: int = 4, max_length: int = TEXT_MAX) -> forms.CharField:
    # strip=False: a draft is kept exactly as typed (the autosave sends it mid-sentence).
    return forms.CharField(
        label=label,
        help_text=help_text,
        required=False,
        strip=False,
        max_length=max_length,
        widget=forms.Textarea(attrs={"rows": rows}) if rows else forms.TextInput(),
    )


class NoteForm(forms.Form):
    """A progress note's draft: the format's sections, who was present, the risk assessment,
    progress toward the goals, and the KAP parts its kind of visit has. Every field is optional
    while it is a draft; signing asks for the plan and one more section (note_sign)."""

    format = forms.ChoiceField(choices=NoteFormat.choices, required=False, widget=forms.HiddenInput)

    def __init__(self, *args, note_format: str, kind: str, has_draft: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.note_format = note_format
        self.has_draft = has_draft
        self.section_keys = [key for key, _heading, _hint in SECTIONS[note_format]]
        for key, heading, hint in SECTIONS[note_format]:
            self.fields[key] = _text(heading, help_text=hint, rows=5)
        self.fields["present"] = _text(
            "Who was present", help_text="Anyone besides the client and you.", rows=0, max_length=300
        )
        self.fields["risk"] = _text(
            "Risk assessment", help_text="Suicidal or self-harm thoughts, safety, and what was done.", rows=3
        )
        self.fields["progress"] = _text("Progress toward the goals", rows=3)
        parts = kind_parts(kind)
        if "topics" in parts:
            self.fields["topics"] = forms.MultipleChoiceField(
                label="Preparation topics covered in this session",
                choices=Topic.choices,
                widget=forms.CheckboxSelectMultiple,
                required=False,
            )
        if "intentions" in parts:
            self.fields["intentions"] = _text(
                "Intentions, in the client's own words",
                help_text="Recorded on the pathway when the note is signed.",
                rows=3,
            )
        if "themes" in parts:
            self.fields["themes"] = _text("Integration themes", rows=3)

    def clean(self):
        data = super().clean()
        # The editor always sends every section, empty or not. A body holding none of them (an
        # empty request, JSON, a form cut off) is not the editor's: saving it over a draft would
        # empty the draft. (Before the first save there is nothing to lose.)
        if self.is_bound and self.has_draft and not any(key in self.data for key in self.section_keys):
            raise forms.ValidationError(
                "None of the note's sections came with the request: nothing was saved, and the draft "
                "is as it was."
            )
        return data

    def section_fields(self):
        return [self[key] for key in self.section_keys]

    def other_fields(self):
        return [self[name] for name in ("present", "risk", "progress")]

    def kap_fields(self):
        return [self[name] for name in ("topics", "intentions", "themes") if name in self.fields]

    def draft(self) -> dict:
        """The cleaned values as note_save_draft takes them."""
        data = self.cleaned_data
        return {
            "format": data.get("format") or "",
            "sections": {key: data.get(key, "") for key in self.section_keys},
            "present": data.get("present", ""),
            "risk": data.get("risk", ""),
            "progress": data.get("progress", ""),
            "topics": data.get("topics", []),
            "intentions": data.get("intentions", ""),
            "themes": data.get("themes", ""),
        }


def note_initial(note) -> dict:
    """A saved draft as the form's initial values."""
    return {
        "format": note.format,
        **{key: note.sections.get(key, "") for key, _heading, _hint in SECTIONS[note.format]},
        "present": note.present,
        "risk": note.risk,
        "progress": note.progress,
        "topics": note.topics,
        "intentions": note.intentions,
        "themes": note.themes,
    }


class AddendumForm(forms.Form):
    reason = forms.CharField(
        label="Reason",
        max_length=200,
        help_text="Why it is added: a correction, something learned later, a late detail.",
    )
    text = forms.CharField(label="Addendum", max_length=TEXT_MAX, widget=forms.Textarea(attrs={"rows": 4}))
