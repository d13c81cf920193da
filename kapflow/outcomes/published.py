"""Published figures from KAP practice data that a practice's own report can be set beside, as
data with their sources (docs/clinical.md, "Published figures a practice report can be compared
with"). Each says how it differs from the practice's figures: a different instrument, a different
population, or a definition that may not match ours."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Published:
    source: str
    citation: str
    population: str
    n: int
    # kapflow's instrument key whose row this figure is shown beside.
    beside: str
    # The instrument the study used; differs from `beside` when it is not directly comparable.
    instrument: str
    # Figures by the report's column key: "mean_change" in points; percentages as numbers.
    figures: dict[str, float] = field(default_factory=dict)
    caveat: str = ""

    @property
    def same_instrument(self) -> bool:
        return self.instrument.replace("-", "").lower() == self.beside

    @property
    def label(self) -> str:
        return f"{self.source}: {self.population}, n = {self.n:,}"


DORE_2019 = (
    "Dore J, et al. Ketamine assisted psychotherapy (KAP): patient "
    "demographics, clinical data and outcomes in three large practices administering ketamine with "
    "psychotherapy. J Psychoactive Drugs 2019;51(2):189–198."
)
HULL_2022 = (
    "Hull TD, et al. At-home, sublingual ketamine telehealth is a safe "
    "and effective treatment for moderate to severe anxiety and depression: findings from a large, "
    "prospective, open-label effectiveness trial. J Affect Disord 2022;314:59–67."
)

FIGURES = (
    Published(
        source="Hull et al. 2022",
        citation=HULL_2022,
        population="at-home sublingual ketamine, 4 sessions",
        n=1247,
        beside="phq9",
        instrument="PHQ-9",
        figures={"response": 62.8, "remission": 32.6, "deterioration": 0.9},
        caveat="A different population and course; its deterioration may not be defined as our "
        "reliable deterioration.",
    ),
    Published(
        source="Hull et al. 2022",
        citation=HULL_2022,
        population="at-home sublingual ketamine, 4 sessions",
        n=1247,
        beside="gad7",
        instrument="GAD-7",
        figures={"response": 62.9, "remission": 31.3, "deterioration": 0.6},
        caveat="A different population and course; its deterioration may not be defined as our "
        "reliable deterioration.",
    ),
    Published(
        source="Dore et al. 2019",
        citation=DORE_2019,
        population="three KAP practices",
        n=235,
        beside="phq9",
        instrument="BDI",
        figures={"mean_change": -11.2},
        caveat="Measured with the BDI (0–63), not the PHQ-9 (0–27): a different instrument and scale, "
        "not directly comparable.",
    ),
    Published(
        source="Dore et al. 2019",
        citation=DORE_2019,
        population="three KAP practices",
        n=235,
        beside="gad7",
        instrument="HAM-A",
        figures={"mean_change": -5.5},
        caveat="Measured with the HAM-A (clinician-rated, 0–56), not the GAD-7 (0–21): a different "
        "instrument and scale, not directly comparable.",
    ),
)


def beside(instrument_key: str) -> list[Published]:
    return [figure for figure in FIGURES if figure.beside == instrument_key]
