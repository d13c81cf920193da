from django import forms

from kapflow.accounts.models import User
from kapflow.lib.forms import cleaned_npi, cleaned_taxonomy
from kapflow.lib.identifiers import (
    DEA_NUMBER_PROBLEM,
    dea_number_valid,
    ein_problem,
)
from kapflow.practice.models import Practice

# The settings page in sections, in the order a session happens.
SECTIONS = [
    ("The practice", ["name", "outward_name", "phone", "email", "address", "inquiry_intro"]),
    ("Who sees which clients", ["open_caseload"]),
    ("Sign-in", ["portal_mfa_required"]),
    (
        "Before dosing",
        [
            "bp_caution_systolic",
            "bp_caution_diastolic",
            "bp_hold_systolic",
            "bp_hold_diastolic",
            "hr_hold_above",
            "hr_hold_below",
            "predose_vitals_minutes",
            "fasting_food_hours",
            "fasting_liquid_minutes",
            "avoid_substances",
        ],
    ),
    (
        "During and after dosing",
        [
            "first_vitals_minutes",
            "vitals_interval_minutes",
            "alert_systolic",
            "alert_diastolic",
            "alert_rise_systolic",
            "alert_rise_diastolic",
            "alert_hr_above",
            "alert_hr_below",
            "spo2_alert_below",
            "min_monitoring_minutes",
            "chaperone_checkin_minutes",
            "deep_sedation_level",
            "on_call_prescriber",
            "opening_reflection_minutes",
            "medicine_minutes",
            "integration_processing_minutes",
        ],
    ),
    (
        "The pathway",
        [
            "screening_valid_days",
            "clearance_valid_months",
            "integration_window_hours",
            "integration_expected_hours",
            "default_planned_sessions",
            "maintenance_every_weeks",
            "note_format",
            "note_due_hours",
        ],
    ),
    (
        "The client portal, measures and reminders",
        [
            "portal_invitation_hours",
            "journal_prompt_hours",
            "measures_weekly_days",
            "appointment_reminder_hours",
            "dayof_reminder_hour",
            "clearance_warning_days",
            "crisis_resources",
        ],
    ),
    (
        "Typical doses (outside them the prescriber confirms; the order's own range is what binds)",
        [
            "typical_sublingual_min_mg",
            "typical_sublingual_max_mg",
            "typical_intranasal_min_mg",
            "typical_intranasal_max_mg",
            "typical_im_min_mg_per_kg",
            "typical_im_max_mg_per_kg",
            "typical_iv_min_mg_per_kg",
            "typical_iv_max_mg_per_kg",
        ],
    ),
    (
        "Routes, settings and who may receive them (esketamine: only in a room marked REMS-certified, "
        "adults only, a prescriber on site)",
        [
            "virtual_sublingual_allowed",
            "virtual_intramuscular_allowed",
            "virtual_intravenous_allowed",
            "minors_injected_allowed",
            "spo2_required_sublingual",
            "spo2_required_intramuscular",
            "spo2_required_intravenous",
            "spo2_required_intranasal",
        ],
    ),
    (
        "Controlled substances (the stock ledger, inventories, loss reports and the Spravato REMS)",
        [
            "dea_registrant",
            "dea_registration_number",
            "dea_registration_expires_on",
            "controlled_retention_years",
            "inventory_reminder_days",
            "loss_notice_business_days",
            "loss_form_days",
            "rems_form_days",
        ],
    ),
    (
        "Billing (the fees are on the fee schedule page; the identifiers print on superbills and estimates)",
        [
            "tax_id",
            "npi",
            "taxonomy_code",
            "invoice_each_visit",
            "payment_due_days",
            "place_of_service_in_person",
            "place_of_service_virtual",
            "virtual_modifier",
            "estimate_dispute_threshold",
            "estimate_dispute_days",
            "estimate_months",
            "estimate_preparation_sessions",
            "estimate_keep_years",
        ],
    ),
]

# (lower, higher, message): pairs that must stay in order, said the way an admin would fix them.
ORDERED = [
    ("bp_caution_systolic", "bp_hold_systolic", "The caution level must be below the hold level."),
    ("bp_caution_diastolic", "bp_hold_diastolic", "The caution level must be below the hold level."),
    ("hr_hold_below", "hr_hold_above", "The lower heart-rate limit must be below the upper one."),
    ("alert_hr_below", "alert_hr_above", "The lower heart-rate alert must be below the upper one."),
    (
        "typical_sublingual_min_mg",
        "typical_sublingual_max_mg",
        "The lowest typical dose must not exceed the highest.",
    ),
    (
        "typical_intranasal_min_mg",
        "typical_intranasal_max_mg",
        "The lowest typical dose must not exceed the highest.",
    ),
    (
        "typical_im_min_mg_per_kg",
        "typical_im_max_mg_per_kg",
        "The lowest typical dose must not exceed the highest.",
    ),
    (
        "typical_iv_min_mg_per_kg",
        "typical_iv_max_mg_per_kg",
        "The lowest typical dose must not exceed the highest.",
    ),
]
STRICT = {"bp_caution_systolic", "bp_caution_diastolic", "hr_hold_below"}


class PracticeForm(forms.ModelForm):
    class Meta:
        model = Practice
        fields = [name for _title, names in SECTIONS for name in names]
        widgets = {
            "inquiry_intro": forms.Textarea(attrs={"rows": 4}),
            "crisis_resources": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Only someone who can act on an in-session alert may be on call: an active prescriber of
        # the practice (never an invited outside prescriber).
        self.fields["on_call_prescriber"].queryset = User.objects.on_call_candidates()
        self.fields["on_call_prescriber"].empty_label = "None"
        # The registrant holds a DEA registration: an active prescriber of the practice.
        self.fields["dea_registrant"].queryset = User.objects.on_call_candidates()
        self.fields["dea_registrant"].empty_label = "None named yet"

    def clean_dea_registration_number(self):
        number = self.cleaned_data["dea_registration_number"].strip().upper()
        if number and not dea_number_valid(number):
            raise forms.ValidationError(DEA_NUMBER_PROBLEM)
        return number

    # Billing identifiers (docs/billing.md, "Identifiers"): each optional until a superbill or an
    # estimate needs it, and checked as typed.
    def clean_tax_id(self):
        ein = self.cleaned_data["tax_id"].strip()
        if len(ein) == 9 and ein.isdigit():
            ein = f"{ein[:2]}-{ein[2:]}"
        if ein and ein_problem(ein):
            raise forms.ValidationError(ein_problem(ein))
        return ein

    def clean_npi(self):
        return cleaned_npi(self.cleaned_data["npi"])

    def clean_taxonomy_code(self):
        return cleaned_taxonomy(self.cleaned_data["taxonomy_code"])

    def _place_of_service(self, name):
        code = self.cleaned_data[name].strip()
        if not (len(code) == 2 and code.isascii() and code.isdigit()):
            raise forms.ValidationError(
                "A place of service is two digits from the CMS list, for example 11 (an office) or 10 "
                "(telehealth, the client at home)."
            )
        return code

    def clean_place_of_service_in_person(self):
        return self._place_of_service("place_of_service_in_person")

    def clean_place_of_service_virtual(self):
        return self._place_of_service("place_of_service_virtual")

    def clean_virtual_modifier(self):
        modifier = self.cleaned_data["virtual_modifier"].strip().upper()
        if modifier and not (len(modifier) == 2 and modifier.isascii() and modifier.isalnum()):
            raise forms.ValidationError(
                "A modifier is two letters or digits, for example 95, or empty for none."
            )
        return modifier

    def sections(self):
        return [(title, [self[name] for name in names]) for title, names in SECTIONS]

    def clean(self):
        cleaned = super().clean()
        for low, high, message in ORDERED:
            a, b = cleaned.get(low), cleaned.get(high)
            if a is not None and b is not None and (a >= b if low in STRICT else a > b):
                self.add_error(low, message)
        return cleaned
