"""The contraindication screening, as data: docs/clinical.md's findings with their flag levels, the
medication classes of its interaction table with their reasons, and the age limits. The flags a
screening raises come from one pure function over this data, `flags_for`; nothing about a
finding is written anywhere else.

Every item is a finding answered yes or no, phrased so that "yes" means the finding is present
(and raises its flag). Source of the list: seed 001, with the flag levels of docs/clinical.md
("Contraindication screening") and the label contraindications of ketamine and esketamine."""

from dataclasses import asdict, dataclass

VERSION = "1"

EXCLUSION = "exclusion"  # blocks the pathway until a prescriber resolves it in writing
REVIEW = "review"  # shown to the prescriber at clearance, acknowledged there

UNDER_AGE = 18
OLDER_AGE = 65


@dataclass(frozen=True)
class Finding:
    key: str
    text: str  # the question, answered yes or no
    label: str  # how the flag reads on the summary
    level: str  # EXCLUSION or REVIEW


@dataclass(frozen=True)
class MedicationClass:
    key: str
    label: str
    reason: str  # why it is flagged for the prescriber; empty: no known interaction


@dataclass(frozen=True)
class Flag:
    key: str  # stable within one screening: a finding's key, "medication-<n>" or "age"
    level: str
    label: str
    reason: str = ""
    kind: str = "finding"  # "finding", "medication" or "age"

    def as_dict(self) -> dict:
        return asdict(self)


FINDINGS: tuple[Finding, ...] = (
    Finding(
        "vascular",
        "Aneurysmal vascular disease (aortic, intracranial or peripheral), an arteriovenous "
        "malformation, or a history of intracerebral haemorrhage?",
        "Aneurysmal vascular disease, AVM or intracerebral haemorrhage (label contraindication)",
        EXCLUSION,
    ),
    Finding(
        "hypersensitivity",
        "Hypersensitivity to ketamine or esketamine?",
        "Hypersensitivity to ketamine",
        EXCLUSION,
    ),
    Finding("pregnancy", "Currently pregnant?", "Pregnancy", EXCLUSION),
    Finding(
        "psychosis",
        "Current psychosis, or a psychotic disorder (such as schizophrenia)?",
        "Current psychosis or a psychotic disorder",
        EXCLUSION,
    ),
    Finding(
        "mania",
        "Current mania or hypomania, or bipolar disorder that is not stable?",
        "Current mania or unstable bipolar disorder",
        EXCLUSION,
    ),
    Finding(
        "substance_use",
        "An active substance use disorder, or any history of ketamine misuse?",
        "Active substance use disorder or history of ketamine misuse",
        EXCLUSION,
    ),
    Finding(
        "hypertension",
        "Uncontrolled high blood pressure?",
        "Uncontrolled hypertension",
        EXCLUSION,
    ),
    Finding(
        "bipolar_stable",
        "Bipolar disorder that is stable on treatment?",
        "Bipolar disorder, stable on treatment",
        REVIEW,
    ),
    Finding("cardiovascular", "Heart or blood-vessel disease?", "Cardiovascular disease", REVIEW),
    Finding("liver", "Severe liver disease?", "Severe liver disease", REVIEW),
    Finding(
        "pressure",
        "Raised pressure inside the head or the eye (for example glaucoma, a head injury)?",
        "Raised intracranial or intraocular pressure",
        REVIEW,
    ),
    Finding("dissociation", "A history of severe dissociation?", "History of severe dissociation", REVIEW),
    Finding(
        "family_psychosis",
        "A parent, sibling or child with psychosis?",
        "First-degree relative with psychosis",
        REVIEW,
    ),
    Finding("breastfeeding", "Currently breastfeeding?", "Breastfeeding", REVIEW),
    Finding("pregnancy_plans", "Planning a pregnancy?", "Plans for pregnancy", REVIEW),
    Finding(
        "bladder",
        "Bladder or urinary symptoms (pain, urgency, frequency, blood in the urine)?",
        "Bladder or urinary symptoms",
        REVIEW,
    ),
    Finding(
        "transport",
        "Unable to follow the transport and safety instructions (no driving until the next day "
        "after sleep; someone to take them home)?",
        "Cannot follow transport or safety instructions",
        REVIEW,
    ),
    Finding(
        "no_support",
        "Without ongoing therapeutic support (a therapist who continues to see them)?",
        "No ongoing therapeutic support",
        REVIEW,
    ),
)

_FINDINGS = {finding.key: finding for finding in FINDINGS}

_CNS = "Sedation and respiratory depression."
_BP = "Blood pressure rise."

MEDICATION_CLASSES: tuple[MedicationClass, ...] = (
    MedicationClass(
        "benzodiazepine",
        "Benzodiazepine",
        "May blunt the response (above about 8 mg diazepam-equivalent a day: Andrashko 2020); more sedation.",
    ),
    MedicationClass(
        "lamotrigine",
        "Lamotrigine",
        "Reduces ketamine's side effects (Anand 2000); effect on the response unknown.",
    ),
    MedicationClass("stimulant", "Stimulant", _BP),
    MedicationClass("maoi", "MAOI", _BP),
    MedicationClass("opioid", "Opioid", _CNS),
    MedicationClass("alcohol", "Alcohol (regular use)", _CNS),
    MedicationClass("sedative_hypnotic", "Sedative-hypnotic", _CNS),
    MedicationClass("cns_depressant", "Other CNS depressant", _CNS),
    MedicationClass("cyp_inducer", "Strong CYP3A4 / CYP2B6 inducer", "Changed ketamine exposure."),
    MedicationClass("cyp_inhibitor", "Strong CYP3A4 / CYP2B6 inhibitor", "Changed ketamine exposure."),
    MedicationClass("other", "Other (no listed interaction)", ""),
)

_CLASSES = {cls.key: cls for cls in MEDICATION_CLASSES}


def finding(key: str) -> Finding:
    return _FINDINGS[key]


def medication_class(key: str) -> MedicationClass | None:
    return _CLASSES.get(key)


def age_flag(age: int) -> Flag | None:
    """docs/clinical.md: under 18 and 65 or over are review flags."""
    if age < UNDER_AGE:
        return Flag(
            "age",
            REVIEW,
            f"Age {age}: under 18",
            "Guardian consent and the client's own assent; disclose off-label use and the limited "
            "evidence in adolescents. Esketamine is not approved under 18.",
            "age",
        )
    if age >= OLDER_AGE:
        return Flag("age", REVIEW, f"Age {age}: 65 or over", "Older adult: review at clearance.", "age")
    return None


class Incomplete(ValueError):
    """Some findings are unanswered; an incomplete screening is never saved."""

    def __init__(self, missing: list[str]):
        self.missing = missing
        super().__init__(f"unanswered findings: {', '.join(missing)}")


def flags_for(*, answers: dict[str, bool], medications: list[dict], age: int) -> list[Flag]:
    """Every flag a screening raises, exclusions first, in the order of docs/clinical.md's table:
    each finding answered yes, each current medication in a class of the interaction table, and
    the age. `medications` is a list of {"name", "class"}. Raises Incomplete naming the
    unanswered findings, and ValueError for an unknown medication class."""
    missing = [f.key for f in FINDINGS if not isinstance(answers.get(f.key), bool)]
    if missing:
        raise Incomplete(missing)
    flags = [Flag(f.key, f.level, f.label) for f in FINDINGS if answers[f.key]]
    for n, medication in enumerate(medications, 1):
        cls = medication_class(medication["class"])
        if cls is None:
            raise ValueError(f"medication {n}: unknown class {medication['class']!r}")
        if cls.reason:
            flags.append(
                Flag(
                    f"medication-{n}", REVIEW, f"{medication['name']} ({cls.label})", cls.reason, "medication"
                )
            )
    age_review = age_flag(age)
    if age_review is not None:
        flags.append(age_review)
    return sorted(flags, key=lambda flag: flag.level != EXCLUSION)
