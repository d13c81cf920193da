"""The standardised instruments, as data: items, answer options and their values, how they are
scored, the severity bands and their codes. Scoring (kapflow.measures.scoring) is a pure function
over this data; nothing about a particular instrument is written anywhere else.

PHQ-9 and GAD-7 are free to use (Pfizer). PCL-5 is in the public domain (US National Center for
PTSD). Codes are LOINC; docs/clinical.md names them and their sources."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Option:
    value: int
    label: str
    # The LOINC answer code (LA…), where the instrument's answer list has one.
    loinc: str = ""


@dataclass(frozen=True)
class Item:
    key: str
    text: str
    loinc: str = ""


@dataclass(frozen=True)
class Band:
    low: int
    high: int
    label: str
    level: str  # "ok", "warn" or "danger": how loudly to show it


@dataclass(frozen=True)
class Instrument:
    key: str
    name: str
    version: str
    stem: str
    items: tuple[Item, ...]
    options: tuple[Option, ...]
    bands: tuple[Band, ...]
    loinc_panel: str = ""
    loinc_total: str = ""
    remission_below: int | None = None  # a total below this is remission (docs/clinical.md)
    reliable_change: int | None = None  # a change of at least this many points is reliable
    # Items whose any answer above 0 raises an urgent alert (PHQ-9 item 9).
    alert_items: tuple[str, ...] = field(default=())

    @property
    def max_total(self) -> int:
        return len(self.items) * max(option.value for option in self.options)

    def item(self, key: str) -> Item:
        return next(item for item in self.items if item.key == key)

    def band_for(self, total: int) -> Band:
        return next(band for band in self.bands if band.low <= total <= band.high)


# LOINC answer list LL358-3, shared by the PHQ-9 and the GAD-7.
_FREQUENCY = (
    Option(0, "Not at all", "LA6568-5"),
    Option(1, "Several days", "LA6569-3"),
    Option(2, "More than half the days", "LA6570-1"),
    Option(3, "Nearly every day", "LA6571-9"),
)

PHQ9 = Instrument(
    key="phq9",
    name="PHQ-9",
    version="1",
    stem="Over the last 2 weeks, how often have you been bothered by any of the following problems?",
    items=(
        Item("1", "Little interest or pleasure in doing things", "44250-9"),
        Item("2", "Feeling down, depressed, or hopeless", "44255-8"),
        Item("3", "Trouble falling or staying asleep, or sleeping too much", "44259-0"),
        Item("4", "Feeling tired or having little energy", "44254-1"),
        Item("5", "Poor appetite or overeating", "44251-7"),
        Item(
            "6",
            "Feeling bad about yourself — or that you are a failure or have let yourself or your family down",
            "44258-2",
        ),
        Item(
            "7",
            "Trouble concentrating on things, such as reading the newspaper or watching television",
            "44252-5",
        ),
        Item(
            "8",
            "Moving or speaking so slowly that other people could have noticed? Or the opposite — "
            "being so fidgety or restless that you have been moving around a lot more than usual",
            "44253-3",
        ),
        Item("9", "Thoughts that you would be better off dead or of hurting yourself in some way", "44260-8"),
    ),
    options=_FREQUENCY,
    bands=(
        Band(0, 4, "Minimal", "ok"),
        Band(5, 9, "Mild", "ok"),
        Band(10, 14, "Moderate", "warn"),
        Band(15, 19, "Moderately severe", "danger"),
        Band(20, 27, "Severe", "danger"),
    ),
    loinc_panel="44249-1",
    loinc_total="44261-6",
    remission_below=5,
    reliable_change=6,
    alert_items=("9",),
)

GAD7 = Instrument(
    key="gad7",
    name="GAD-7",
    version="1",
    stem="Over the last 2 weeks, how often have you been bothered by the following problems?",
    items=(
        Item("1", "Feeling nervous, anxious, or on edge", "69725-0"),
        Item("2", "Not being able to stop or control worrying", "68509-9"),
        Item("3", "Worrying too much about different things", "69733-4"),
        Item("4", "Trouble relaxing", "69734-2"),
        Item("5", "Being so restless that it is hard to sit still", "69735-9"),
        Item("6", "Becoming easily annoyed or irritable", "69689-8"),
        Item("7", "Feeling afraid, as if something awful might happen", "69736-7"),
    ),
    options=_FREQUENCY,
    bands=(
        Band(0, 4, "Minimal", "ok"),
        Band(5, 9, "Mild", "ok"),
        Band(10, 14, "Moderate", "warn"),
        Band(15, 21, "Severe", "danger"),
    ),
    loinc_panel="69737-5",
    loinc_total="70274-6",
    remission_below=5,
    reliable_change=4,
)

PCL5 = Instrument(
    key="pcl5",
    name="PCL-5",
    version="1",
    stem=(
        "Keeping your worst event in mind, in the past month, how much were you bothered by the "
        "following problems?"
    ),
    items=tuple(
        Item(str(n), text)
        for n, text in enumerate(
            (
                "Repeated, disturbing, and unwanted memories of the stressful experience",
                "Repeated, disturbing dreams of the stressful experience",
                "Suddenly feeling or acting as if the stressful experience were actually happening again "
                "(as if you were actually back there reliving it)",
                "Feeling very upset when something reminded you of the stressful experience",
                "Having strong physical reactions when something reminded you of the stressful experience "
                "(for example, heart pounding, trouble breathing, sweating)",
                "Avoiding memories, thoughts, or feelings related to the stressful experience",
                "Avoiding external reminders of the stressful experience (for example, people, places, "
                "conversations, activities, objects, or situations)",
                "Trouble remembering important parts of the stressful experience",
                "Having strong negative beliefs about yourself, other people, or the world (for example, "
                "having thoughts such as: I am bad, there is something seriously wrong with me, no one can "
                "be trusted, the world is completely dangerous)",
                "Blaming yourself or someone else for the stressful experience or what happened after it",
                "Having strong negative feelings such as fear, horror, anger, guilt, or shame",
                "Loss of interest in activities that you used to enjoy",
                "Feeling distant or cut off from other people",
                "Trouble experiencing positive feelings (for example, being unable to feel happiness or "
                "have loving feelings for people close to you)",
                "Irritable behavior, angry outbursts, or acting aggressively",
                "Taking too many risks or doing things that could cause you harm",
                'Being "superalert" or watchful or on guard',
                "Feeling jumpy or easily startled",
                "Having difficulty concentrating",
                "Trouble falling or staying asleep",
            ),
            start=1,
        )
    ),
    options=(
        Option(0, "Not at all"),
        Option(1, "A little bit"),
        Option(2, "Moderately"),
        Option(3, "Quite a bit"),
        Option(4, "Extremely"),
    ),
    # The published cut-off for a provisional PTSD diagnosis is 31–33; kapflow uses 33.
    bands=(
        Band(0, 32, "Below the provisional PTSD cut-off", "ok"),
        Band(33, 80, "Provisional PTSD (33 or above)", "danger"),
    ),
)

INSTRUMENTS = {instrument.key: instrument for instrument in (PHQ9, GAD7, PCL5)}


def get(key: str) -> Instrument | None:
    return INSTRUMENTS.get(key)
