"""Importing a PHQ-9 or GAD-7 answered in another system: a FHIR R4 QuestionnaireResponse, coded
with LOINC, read into a client's measures once a clinician has confirmed it is this client's
(docs/import.md).

`response_parse(raw)` reads the file and judges it, with no database: it answers a
`ParsedResponse` (the instrument, every answer, the total and band, what the file says about
whose answers they are and where they come from) or raises `ImportRefused` with a sentence the
clinician can act on. `response_import(...)` then records it, in one transaction, as an ordinary
measures.Response with its provenance (records.ImportedResponse) and the audit rows."""

import dataclasses
import datetime
import json
import re
from collections.abc import Iterator
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse, QuestionnaireResponseItem
from pydantic import ValidationError

from kapflow.audit.services import audit_record
from kapflow.clients.models import Client
from kapflow.measures import services as measures_services
from kapflow.measures.instruments import GAD7, PHQ9, Band, Instrument
from kapflow.measures.models import Response
from kapflow.measures.scoring import score
from kapflow.records import codes
from kapflow.records.models import ImportedResponse

# The instruments a file may hold: those with a LOINC panel, item and answer codes. The PCL-5
# has no LOINC code kapflow could confirm, so a PCL-5 from elsewhere is entered by hand.
IMPORTABLE = (PHQ9, GAD7)

LOINC_SYSTEM = codes.LOINC

# A LOINC code (digits, a dash, a check digit) at the end of a linkId, definition or canonical:
# "44250-9", "/44250-9", "http://loinc.org/44250-9", "http://loinc.org/q/44249-1|2.68".
_LOINC_AT_END = re.compile(r"(?:^|[^0-9])(\d{1,7}-\d)$")

NOT_IMPORTABLE = (
    "Only a PHQ-9 (LOINC 44249-1) or a GAD-7 (LOINC 69737-5) can be imported. The PCL-5 has no "
    "confirmed LOINC code, so a PCL-5 from another system cannot be recognised: enter it by hand."
)


class ImportRefused(Exception):
    """The file cannot be imported; `message` says why, in words for the clinician."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class AlreadyImported(ImportRefused):
    """The same file (by its SHA-256) was imported before; or a response with the same
    identifier was, into this client's measures (`by_identifier`)."""

    def __init__(self, first: ImportedResponse, *, client: Client, by_identifier: bool = False):
        when = timezone.localtime(first.imported_at)
        on = f"on {when:%b} {when.day}, {when.year} by {first.imported_by.full_name}"
        if by_identifier:
            message = (
                f"A response with the identifier {first.source_identifier} was imported already into "
                f"this client's measures, {on}. It is the same response, exported again: it is "
                "never imported twice."
            )
        else:
            where = (
                "into this client's measures"
                if first.response.client_id == client.pk
                else "into another client's measures"
            )
            message = f"This file was imported already, {where}, {on}. The same file is never imported twice."
        super().__init__(message)
        self.first = first


@dataclasses.dataclass(frozen=True)
class ParsedResponse:
    """A QuestionnaireResponse read and judged: nothing in it is from the database."""

    instrument: Instrument
    answers: dict[str, int]  # by kapflow item key ("1"…"9")
    total: int
    band: Band
    stated_total: int | None
    authored: datetime.datetime
    subject_display: str  # QuestionnaireResponse.subject.display
    patient_name: str  # the bundled Patient's name
    patient_birth_date: datetime.date | None
    source_identifier: str
    source_name: str
    identifier: str = ""  # QuestionnaireResponse.identifier (system|value) alone, "" without one

    @property
    def subject_as_stated(self) -> str:
        """Who the file says the answers are about, in one line, as stored with the import."""
        parts = [self.subject_display]
        if self.patient_name and self.patient_name != self.subject_display:
            parts.append(self.patient_name)
        if self.patient_birth_date is not None:
            parts.append(f"born {self.patient_birth_date:%Y-%m-%d}")
        return ", ".join(part for part in parts if part)

    @property
    def rows(self) -> list[tuple[str, str, int, str]]:
        """Each item as the preview lists it: key, question, score, answer in words."""
        labels = {option.value: option.label for option in self.instrument.options}
        return [
            (item.key, item.text, self.answers[item.key], labels[self.answers[item.key]])
            for item in self.instrument.items
        ]


def response_parse(raw: bytes, *, now: datetime.datetime | None = None) -> ParsedResponse:
    """Read a FHIR R4 QuestionnaireResponse (or a Bundle holding one, and perhaps its Patient)
    and judge it as a PHQ-9 or GAD-7 to import. Raises ImportRefused naming the first thing
    wrong. `now` is when "in the future" starts (the current time by default)."""
    try:
        return _parse(raw, now or timezone.now())
    except RecursionError:
        raise ImportRefused("This file is nested too deeply to be a questionnaire response.") from None


def _parse(raw: bytes, now: datetime.datetime) -> ParsedResponse:
    try:
        # utf-8-sig: a file saved with a byte order mark (as some Windows programs do) reads too.
        data = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        raise ImportRefused("This is not JSON: a FHIR QuestionnaireResponse is a JSON file.") from None
    if not isinstance(data, dict) or "resourceType" not in data:
        raise ImportRefused("This JSON is not a FHIR resource: it has no resourceType.")
    _json_types(data)
    questionnaire_response, patient = _unbundle(data)
    if questionnaire_response.status != "completed":
        raise ImportRefused(
            f"The response's status is {questionnaire_response.status!r}, not 'completed': only a "
            "finished questionnaire can be imported."
        )
    items = list(_answered_items(questionnaire_response.item or []))
    instrument, kapflow_keys = _instrument(questionnaire_response.questionnaire, items)
    answers, stated_total = _answers(instrument, items, kapflow_keys=kapflow_keys)
    result = score(instrument, answers)
    if stated_total is not None and stated_total != result.total:
        raise ImportRefused(
            f"The file states a total of {stated_total}, but its answers add up to {result.total}."
        )
    return ParsedResponse(
        instrument=instrument,
        answers=answers,
        total=result.total,
        band=result.band,
        stated_total=stated_total,
        authored=_authored(questionnaire_response.authored, now),
        subject_display=_plain(
            questionnaire_response.subject.display if questionnaire_response.subject else ""
        ),
        patient_name=_plain(_patient_name(patient)),
        patient_birth_date=_birth_date(patient),
        source_identifier=_plain(_source_identifier(questionnaire_response)),
        source_name=_plain(_source_name(questionnaire_response)),
        identifier=_plain(_identifier(questionnaire_response)),
    )


# FHIR's JSON writes a date as text and a number as a JSON number. The models fhir.resources reads
# with would take the number 2026 for a date (seconds after 1970) and true for the integer 1.
_DATES = {"authored", "birthDate"}
_NUMBERS = {"valueInteger", "valueDecimal", "value"}


def _json_types(node: Any) -> None:
    """Refuse a date that is not text, or a boolean where a number is, anywhere in the file."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _DATES and not isinstance(value, str):
                raise ImportRefused(
                    f"The {key} date {json.dumps(value)[:40]} is not a FHIR date: it must be text."
                )
            if key in _NUMBERS and isinstance(value, bool):
                raise ImportRefused(f"The file gives {key} as {json.dumps(value)}, which is not a number.")
            _json_types(value)
    elif isinstance(node, list):
        for value in node:
            _json_types(value)


def _unbundle(data: dict) -> tuple[QuestionnaireResponse, Patient | None]:
    """The QuestionnaireResponse, validated, and the Patient bundled with it if any."""
    kind = data.get("resourceType")
    if kind == "QuestionnaireResponse":
        return _validated(QuestionnaireResponse, data), None
    if kind != "Bundle":
        raise ImportRefused(f"This is a FHIR {kind}, not a QuestionnaireResponse.")
    bundle = _validated(Bundle, data)
    responses, patients = [], []
    for entry in bundle.entry or []:
        resource = entry.resource
        if resource is None:
            continue
        kind = resource.get_resource_type()
        if kind == "QuestionnaireResponse":
            responses.append(resource)
        elif kind == "Patient":
            patients.append(resource)
        else:
            raise ImportRefused(
                f"The bundle holds a {kind}: only one QuestionnaireResponse, and perhaps its Patient, "
                "can be imported."
            )
    if len(responses) != 1:
        raise ImportRefused(
            f"The bundle holds {len(responses)} QuestionnaireResponses: it must hold exactly one."
        )
    if len(patients) > 1:
        raise ImportRefused(f"The bundle holds {len(patients)} Patients: it may hold one at most.")
    return responses[0], (patients[0] if patients else None)


def _validated(model, data: dict):
    """`model` validated from `data`, or a refusal naming the first bad field."""
    try:
        return model.model_validate(data)
    except (KeyError, TypeError):
        # fhir.resources looks a nested resource's type up by name, and fails so on an unknown one.
        raise ImportRefused(
            f"This is not a valid FHIR {model.__name__}: it holds a resource of a type FHIR R4 does not have."
        ) from None
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the resource"
        what = first["msg"].split("\n")[0]
        raise ImportRefused(f"This is not a valid FHIR {model.__name__}: {where}: {what}.") from None


def _answered_items(items: list[QuestionnaireResponseItem]) -> Iterator[QuestionnaireResponseItem]:
    """Every item with a code or an answer, groups opened (a form may nest its questions)."""
    for item in items:
        if item.item:
            yield from _answered_items(item.item)
            if not item.answer:
                continue
        yield item


def _code(item: QuestionnaireResponseItem) -> str:
    """The LOINC code an item carries, in its linkId or else in its definition; "" if none."""
    for text in (item.linkId, item.definition):
        if text and (match := _LOINC_AT_END.search(text.strip())):
            return match.group(1)
    return ""


def _instrument(canonical: str | None, items: list[QuestionnaireResponseItem]) -> tuple[Instrument, bool]:
    """The instrument named by the questionnaire's canonical, or else by its items' codes; and
    whether the canonical is kapflow's own Questionnaire (another kapflow's export), whose items'
    linkIds are kapflow's item keys."""
    if canonical:
        url = canonical.split("|")[0].strip()
        for instrument in IMPORTABLE:
            if url == codes.questionnaire_url(instrument.key):
                return instrument, True
        if match := _LOINC_AT_END.search(url):
            for instrument in IMPORTABLE:
                if match.group(1) == instrument.loinc_panel:
                    return instrument, False
        if "pcl" in url.lower():
            raise ImportRefused(NOT_IMPORTABLE)
    found = {_code(item) for item in items}
    for instrument in IMPORTABLE:
        if found & {item.loinc for item in instrument.items}:
            return instrument, False
    raise ImportRefused(NOT_IMPORTABLE)


_TOTAL = object()  # what _question answers for the total score item


def _question(instrument: Instrument, item: QuestionnaireResponseItem, *, kapflow_keys: bool):
    """The instrument's Item an answered item is, _TOTAL for the total score, or None."""
    if kapflow_keys:
        if item.linkId == codes.TOTAL:
            return _TOTAL
        if (question := next((q for q in instrument.items if q.key == item.linkId), None)) is not None:
            return question
    code = _code(item)
    if code == instrument.loinc_total:
        return _TOTAL
    return next((question for question in instrument.items if question.loinc == code), None)


def _answers(
    instrument: Instrument, items: list[QuestionnaireResponseItem], *, kapflow_keys: bool
) -> tuple[dict[str, int], int | None]:
    """Every item's answer by kapflow item key, and the total the file states (None if it
    states none)."""
    answers: dict[str, int] = {}
    stated_total = None
    for item in items:
        question = _question(instrument, item, kapflow_keys=kapflow_keys)
        if question is _TOTAL:
            stated_total = _stated_total(item)
            continue
        if question is None:
            label = item.linkId or item.definition or "(no linkId)"
            raise ImportRefused(
                f"The item {label!r} is not a question of the {instrument.name}: its linkId or definition "
                f"must carry one of the {instrument.name}'s LOINC item codes."
            )
        if question.key in answers:
            raise ImportRefused(
                f"Question {question.key} of the {instrument.name} ({question.loinc}) is answered twice."
            )
        answers[question.key] = _answer(instrument, question.key, question.loinc, item)
    missing = [question for question in instrument.items if question.key not in answers]
    if missing:
        names = ", ".join(f"{question.key} ({question.loinc})" for question in missing)
        raise ImportRefused(f"The {instrument.name} is incomplete: no answer to question {names}.")
    return answers, stated_total


def _answer(instrument: Instrument, key: str, code: str, item: QuestionnaireResponseItem) -> int:
    where = f"Question {key} of the {instrument.name} ({code})"
    if not item.answer:
        raise ImportRefused(f"{where} has no answer.")
    if len(item.answer) > 1:
        raise ImportRefused(f"{where} has {len(item.answer)} answers: it takes one.")
    answer = item.answer[0]
    values = {option.value for option in instrument.options}
    if answer.valueCoding is not None:
        coding = answer.valueCoding
        by_code = {option.loinc: option.value for option in instrument.options}
        if coding.system not in (None, LOINC_SYSTEM) or coding.code not in by_code:
            allowed = ", ".join(option.loinc for option in instrument.options)
            raise ImportRefused(
                f"{where} is answered {coding.code or coding.display or 'with no code'!r}, "
                f"which is not one of its LOINC answers ({allowed})."
            )
        return by_code[coding.code]
    if answer.valueInteger is not None:
        if answer.valueInteger not in values:
            raise ImportRefused(
                f"{where} is answered {answer.valueInteger}, outside its range "
                f"{min(values)} to {max(values)}."
            )
        return answer.valueInteger
    raise ImportRefused(
        f"{where} is answered with neither a LOINC answer code (valueCoding) nor a number (valueInteger)."
    )


def _stated_total(item: QuestionnaireResponseItem) -> int | None:
    """The total score item's value (valueInteger, a whole valueDecimal or valueQuantity)."""
    if not item.answer:
        return None
    answer = item.answer[0]
    for value in (
        answer.valueInteger,
        answer.valueDecimal,
        answer.valueQuantity and answer.valueQuantity.value,
    ):
        if value is not None:
            if value != int(value):
                raise ImportRefused(f"The file states a total of {value}, which is not a whole number.")
            return int(value)
    raise ImportRefused("The file's total score item holds no number.")


def _authored(authored: Any, now: datetime.datetime) -> datetime.datetime:
    """When the questionnaire was answered, as an aware datetime. A date alone counts from the
    start of that day in the practice's time zone; a year or a month alone is refused."""
    if authored is None:
        raise ImportRefused(
            "The file does not say when the questionnaire was answered (it has no authored date)."
        )
    if isinstance(authored, datetime.datetime):
        when = authored
    elif isinstance(authored, datetime.date):
        when = timezone.make_aware(datetime.datetime.combine(authored, datetime.time()))
    else:
        raise ImportRefused(
            f"The authored date {authored!s} is not precise enough: at least the day is needed."
        )
    try:
        when.astimezone(datetime.UTC)
    except OverflowError:
        raise ImportRefused(f"The authored date {authored!s} is out of range.") from None
    if when > now:
        local = timezone.localtime(when)
        raise ImportRefused(f"The authored date {local:%Y-%m-%d %H:%M} is in the future.")
    return when


def _plain(text: str | None) -> str:
    """Words from the file as kapflow keeps and shows them: on one line, without NUL characters
    (which PostgreSQL refuses in text)."""
    return " ".join((text or "").replace("\x00", "").split())


def _patient_name(patient: Patient | None) -> str:
    if patient is None or not patient.name:
        return ""
    name = next((name for name in patient.name if name.use == "official"), patient.name[0])
    if name.text:
        return name.text.strip()
    return " ".join([*(name.given or []), name.family or ""]).strip()


def _birth_date(patient: Patient | None) -> datetime.date | None:
    birth = patient.birthDate if patient is not None else None
    return birth if isinstance(birth, datetime.date) else None


def _identifier(questionnaire_response: QuestionnaireResponse) -> str:
    identifier = questionnaire_response.identifier
    if identifier is not None and identifier.value:
        return f"{identifier.system}|{identifier.value}" if identifier.system else identifier.value
    return ""


def _source_identifier(questionnaire_response: QuestionnaireResponse) -> str:
    return _identifier(questionnaire_response) or questionnaire_response.id or ""


def _source_name(questionnaire_response: QuestionnaireResponse) -> str:
    for reference in (questionnaire_response.author, questionnaire_response.source):
        if reference is not None and reference.display:
            return reference.display.strip()
    return ""


def import_of(file_sha256: str) -> ImportedResponse | None:
    """The earlier import of the file with this SHA-256, if there was one (one query)."""
    return (
        ImportedResponse.objects.select_related("imported_by", "response")
        .filter(file_sha256=file_sha256)
        .first()
    )


def already_imported(file_sha256: str, *, client: Client, parsed: ParsedResponse | None = None) -> None:
    """Raise AlreadyImported if the file with this SHA-256 was imported before, or (given
    `parsed`) a response with the same identifier was imported into this client's measures."""
    if (first := import_of(file_sha256)) is not None:
        raise AlreadyImported(first, client=client)
    if parsed is not None and parsed.identifier:
        same = (
            ImportedResponse.objects.select_related("imported_by")
            .filter(response__client=client, source_identifier=parsed.identifier[:300])
            .first()
        )
        if same is not None:
            raise AlreadyImported(same, client=client, by_identifier=True)


def client_check(parsed: ParsedResponse, *, client: Client) -> None:
    """Refuse answers dated before the chart's client was born: they cannot be this client's,
    or the date is wrong."""
    answered = timezone.localdate(parsed.authored)
    if answered < client.date_of_birth:
        raise ImportRefused(
            f"The file says the questionnaire was answered on {answered:%Y-%m-%d}, before this client "
            f"was born ({client.date_of_birth:%Y-%m-%d})."
        )


@transaction.atomic
def response_import(*, request, client: Client, parsed: ParsedResponse, file_sha256: str) -> Response:
    """Record a parsed response in the client's measures, entered by the clinician, dated when it
    was answered, with where it came from (ImportedResponse) and the audit rows, all in one
    transaction. Raises AlreadyImported when the same file (by SHA-256) was imported before,
    also when two imports of it race (the unique hash makes the second wait, then fail).

    It uses measures' own parts rather than response_record: that stamps the answers with the
    time of entry and answers the client's waiting portal form, and neither is right for answers
    given elsewhere, earlier. An alert item above 0 raises the same alert (alert_raise).

    The client's row is locked first, so that two imports for one client are made one after the
    other and the second sees the first's identifier."""
    Client.objects.select_for_update(no_key=True).filter(pk=client.pk).first()
    client_check(parsed, client=client)
    already_imported(file_sha256, client=client, parsed=parsed)
    instrument = parsed.instrument
    result = score(instrument, parsed.answers)
    response = Response(
        client=client,
        instrument=instrument.key,
        version=instrument.version,
        answers={item.key: parsed.answers[item.key] for item in instrument.items},
        total=result.total,
        band=result.band.label,
        context=Response.Context.OTHER,
        completed_at=parsed.authored,
        entered_by=request.user,
    )
    response.full_clean(validate_unique=False)
    response.save()
    provenance = ImportedResponse(
        response=response,
        source_identifier=parsed.source_identifier[:300],
        source_name=parsed.source_name[:200],
        subject_as_stated=parsed.subject_as_stated[:300],
        file_sha256=file_sha256,
        imported_by=request.user,
    )
    provenance.full_clean(validate_unique=False)
    # Saved before any audit row: a second import of the same file waits here (on the unique
    # hash) without holding the audit chain's lock, and fails once the first is committed.
    try:
        with transaction.atomic():
            provenance.save()
    except IntegrityError:
        if (first := import_of(file_sha256)) is not None:
            raise AlreadyImported(first, client=client) from None
        raise
    audit_record(
        request=request,
        action="kapflow.measures.response.recorded",
        client=client,
        obj=response,
        detail={"instrument": instrument.key, "on_behalf": True, "imported": True},
    )
    audit_record(
        request=request,
        action="kapflow.records.response.imported",
        client=client,
        obj=provenance,
        # No words from the file: they are kept on the provenance row, not in the audit log.
        detail={"instrument": instrument.key},
    )
    if result.alerts:
        measures_services.alert_raise(request=request, client=client, response=response)
    return response
