"""Every code system and code the FHIR export (kapflow.records.fhir) writes, in one place, with
what each means (docs/fhir.md lists them all). The PHQ-9 and GAD-7 item, answer, panel and total
LOINC codes live with the instruments (kapflow.measures.instruments) and are read from there;
the PCL-5 has no confirmed LOINC code, so its items and answers get kapflow's own code system.

Where kapflow's own words have no standard code (a visit's kind, a care-team role, a kind of
chart document), the code is kapflow's own value in a local URN system: `urn:kapflow:<name>`.
An importer reads those codes' display text; a system that knows kapflow may read the codes."""

import uuid

from django.conf import settings

from kapflow.measures.instruments import Instrument, Item, Option

# Standard code systems (their canonical URIs, as FHIR R4 names them).
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
NPI = "http://hl7.org/fhir/sid/us-npi"
NDC = "http://hl7.org/fhir/sid/ndc"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
CONTACT_ROLE = "http://terminology.hl7.org/CodeSystem/v2-0131"
PARTICIPATION_TYPE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
DOCUMENT_CATEGORY = "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category"
DATA_ABSENT_REASON = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
ORDINAL_VALUE = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
# HL7's core extension for a person's pronouns (the Gender Harmony work); its "value" part is a
# CodeableConcept, here the client's own words as text. US Core defines no pronouns extension.
PRONOUNS = "http://hl7.org/fhir/StructureDefinition/individual-pronouns"
ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
ALLERGY_VERIFICATION = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
ADVERSE_EVENT_SEVERITY = "http://terminology.hl7.org/CodeSystem/adverse-event-severity"
ICD_10_CM = "http://hl7.org/fhir/sid/icd-10-cm"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
# HL7's core extension for the day a condition was first asserted (US Core's problem-list
# profile asks for it): the day the clinician made the diagnosis.
ASSERTED_DATE = "http://hl7.org/fhir/StructureDefinition/condition-assertedDate"


def local(name: str) -> str:
    """kapflow's own code system (or identifier system) called `name`."""
    return f"urn:kapflow:{name}"


# Identifier systems for kapflow's own record numbers.
CLIENT_ID = local("client-id")
STAFF_ID = local("staff-id")

# Local code systems.
VISIT_KIND = local("visit-kind")
CARE_TEAM_ROLE = local("care-team-role")
OUTSIDE_PROVIDER_KIND = local("outside-provider-kind")
CONSENT_KIND = local("consent-kind")
RELEASE_CATEGORY = local("release-category")
CHART_DOCUMENT_KIND = local("chart-document-kind")
ADVERSE_EVENT_KIND = local("adverse-event-kind")
COURSE_PLAN_KIND = local("course-plan-kind")
PLAN_ACTIVITY = local("plan-activity")
# An instrument without LOINC codes (the PCL-5) gets two systems of its own:
# urn:kapflow:<key>-item (item keys "1"…, and TOTAL for the total score) and
# urn:kapflow:<key>-answer (each option's value, "0"…).
TOTAL = "total"


def questionnaire_url(instrument_key: str) -> str:
    """The canonical URL of kapflow's Questionnaire for an instrument (its version follows a |)."""
    return local(f"questionnaire:{instrument_key}")


def namespace() -> uuid.UUID:
    """The namespace every resource id is made in: one per installation (its KAPFLOW_SITE_URL), so
    that two practices' exports never share an id while one practice's ids never change."""
    return uuid.uuid5(uuid.NAMESPACE_URL, settings.SITE_URL)


def coding(system: str, code: str, display: str = "") -> dict:
    found = {"system": system, "code": code}
    if display:
        found["display"] = display
    return found


def concept(system: str, code: str, display: str = "", text: str = "") -> dict:
    """A CodeableConcept of one coding."""
    found = {"coding": [coding(system, code, display)]}
    if text:
        found["text"] = text
    return found


# LOINC: observations and panels.
SURVEY = coding(OBSERVATION_CATEGORY, "survey", "Survey")
VITAL_SIGNS = coding(OBSERVATION_CATEGORY, "vital-signs", "Vital Signs")
BP_PANEL = coding(LOINC, "85354-9", "Blood pressure panel with all children optional")
SYSTOLIC = coding(LOINC, "8480-6", "Systolic blood pressure")
DIASTOLIC = coding(LOINC, "8462-4", "Diastolic blood pressure")
HEART_RATE = coding(LOINC, "8867-4", "Heart rate")
# Oxygen saturation: 2708-6 (in arterial blood) is what the FHIR vital-signs profile asks for,
# 59408-5 says how it was measured (by pulse oximetry): both, as the profile recommends.
SPO2 = coding(LOINC, "2708-6", "Oxygen saturation in Arterial blood")
SPO2_PULSE_OXIMETRY = coding(LOINC, "59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry")

# UCUM units: (code, the unit as shown).
MM_HG = ("mm[Hg]", "mmHg")
PER_MINUTE = ("/min", "beats/minute")
PERCENT = ("%", "%")
MG = ("mg", "mg")
MG_PER_KG = ("mg/kg", "mg/kg")

# RxNorm. Ketamine is the ingredient (IN); esketamine is marketed only as the Spravato nasal
# spray, coded as its clinical drug form (SCDF).
KETAMINE = coding(RXNORM, "6130", "ketamine")
ESKETAMINE = coding(RXNORM, "2201623", "esketamine Nasal Spray")
DRUGS = {"ketamine": KETAMINE, "esketamine": ESKETAMINE}

# SNOMED CT routes of administration, by kapflow.medical.doses route.
ROUTES = {
    "sublingual": coding(SNOMED, "37839007", "Sublingual route"),
    "intranasal": coding(SNOMED, "46713006", "Nasal route"),
    "intramuscular": coding(SNOMED, "78421000", "Intramuscular route"),
    "intravenous": coding(SNOMED, "47625008", "Intravenous route"),
}

# Consent (FHIR R4 consent scope and category value sets).
SCOPE_TREATMENT = coding(CONSENT_SCOPE, "treatment", "Treatment")
SCOPE_PRIVACY = coding(CONSENT_SCOPE, "patient-privacy", "Privacy Consent")
CONSENT_DOCUMENT = coding(LOINC, "59284-0", "Patient Consent")
RELEASE_OF_INFORMATION = coding(LOINC, "64292-6", "Release of information consent")
INFORMATION_RECIPIENT = coding(PARTICIPATION_TYPE, "IRCP", "information recipient")

# People around the client.
GUARDIAN = coding(ROLE_CODE, "GUARD", "guardian")
EMERGENCY_CONTACT = coding(CONTACT_ROLE, "C", "Emergency Contact")

# How a visit is held (v3 ActCode encounter classes).
IN_PERSON = coding(ACT_CODE, "AMB", "ambulatory")
VIRTUAL = coding(ACT_CODE, "VR", "virtual")

# Kapflow's visit status -> FHIR R4 Appointment.status.
APPOINTMENT_STATUS = {
    "scheduled": "booked",
    "checked_in": "checked-in",
    "in_progress": "arrived",
    "completed": "fulfilled",
    "cancelled": "cancelled",
    "no_show": "noshow",
}

# Documents (LOINC document types).
CLINICAL_NOTE = coding(DOCUMENT_CATEGORY, "clinical-note", "Clinical Note")
PROGRESS_NOTE = coding(LOINC, "11506-3", "Progress note")
CONSULT_NOTE = coding(LOINC, "11488-4", "Consult note")
HISTORY_AND_PHYSICAL = coding(LOINC, "34117-2", "History and physical note")
PROCEDURE_NOTE = coding(LOINC, "28570-0", "Procedure note")
PLAN_OF_CARE_NOTE = coding(LOINC, "18776-5", "Plan of care note")
DISCHARGE_SUMMARY = coding(LOINC, "18842-5", "Discharge summary")
REFERRAL_NOTE = coding(LOINC, "57133-1", "Referral note")
NOTE = coding(LOINC, "34109-9", "Note")
# The contraindication screening, the medical clearance, the consultation, a preparation session,
# a gate override and an integration record (each a DocumentReference; docs/fhir.md).
SCREENING = NOTE
CLEARANCE = HISTORY_AND_PHYSICAL
CONSULTATION = CONSULT_NOTE
PREPARATION = PROGRESS_NOTE
GATE_OVERRIDE = NOTE
INTEGRATION = PROGRESS_NOTE

# The screening's "hypersensitivity to ketamine or esketamine" answered yes: an allergy the
# client reported, active and not confirmed by a test.
ALLERGY_ACTIVE = coding(ALLERGY_CLINICAL, "active", "Active")
ALLERGY_UNCONFIRMED = coding(ALLERGY_VERIFICATION, "unconfirmed", "Unconfirmed")
# Coded as ketamine (esketamine is one of its two enantiomers), the question's words as text.
HYPERSENSITIVITY = {"coding": [KETAMINE], "text": "Ketamine or esketamine"}
# Adverse-event severity by kapflow.dosing.models.AdverseEvent.Severity (the same three words).
ADVERSE_EVENT_SEVERITIES = {
    value: coding(ADVERSE_EVENT_SEVERITY, value, value.capitalize())
    for value in ("mild", "moderate", "severe")
}

# A diagnosis on the chart (kapflow.billing.models.Diagnosis) as a Condition: an item of the
# client's problem list, not of one visit. Current: active. No longer current: inactive, the
# parent of "resolved" and "remission", since kapflow does not say which (an end may be a
# remission, a resolution or a new code replacing it). Entered in error: no clinical status.
PROBLEM_LIST_ITEM = coding(CONDITION_CATEGORY, "problem-list-item", "Problem List Item")
CONDITION_ACTIVE = coding(CONDITION_CLINICAL, "active", "Active")
CONDITION_ENDED = coding(CONDITION_CLINICAL, "inactive", "Inactive")
CONDITION_CONFIRMED = coding(CONDITION_VERIFICATION, "confirmed", "Confirmed")
CONDITION_IN_ERROR = coding(CONDITION_VERIFICATION, "entered-in-error", "Entered in Error")

# A progress note's type by the kind of its visit; any other kind is a progress note.
NOTE_TYPES = {"consultation": CONSULT_NOTE, "medical_evaluation": HISTORY_AND_PHYSICAL}
# A letter's type by its kind (kapflow.letters.models.Letter.Kind); any other kind is a note.
LETTER_TYPES = {"referral": REFERRAL_NOTE, "discharge": DISCHARGE_SUMMARY}


# The instruments' codes: LOINC where the instrument has them (PHQ-9, GAD-7: read from
# kapflow.measures.instruments), kapflow's PCL-5 systems otherwise.
def instrument_panel(instrument: Instrument) -> dict | None:
    """The code of the instrument as a whole (its LOINC panel), or None (PCL-5)."""
    if instrument.loinc_panel:
        return coding(LOINC, instrument.loinc_panel, instrument.name)
    return None


def instrument_item(instrument: Instrument, item: Item) -> dict:
    if item.loinc:
        return coding(LOINC, item.loinc, item.text)
    return coding(local(f"{instrument.key}-item"), item.key, item.text)


def instrument_answer(instrument: Instrument, option: Option) -> dict:
    if option.loinc:
        return coding(LOINC, option.loinc, option.label)
    return coding(local(f"{instrument.key}-answer"), str(option.value), option.label)


def instrument_total(instrument: Instrument) -> dict:
    display = f"{instrument.name} total score"
    if instrument.loinc_total:
        return coding(LOINC, instrument.loinc_total, display)
    return coding(local(f"{instrument.key}-item"), TOTAL, display)
