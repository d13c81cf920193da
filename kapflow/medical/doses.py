"""Dose arithmetic, as pure functions: no database, no clock. The prescriber chooses every dose;
kapflow only checks an order against the practice's typical ranges (docs/clinical.md, "Doses") and,
later, an administered dose against the order."""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

SUBLINGUAL = "sublingual"
INTRANASAL = "intranasal"
INTRAMUSCULAR = "intramuscular"
INTRAVENOUS = "intravenous"

MG = "mg"
MG_PER_KG = "mg_per_kg"

# Routes dosed by weight: the order must say the weight it was written for.
WEIGHT_BASED = (INTRAMUSCULAR, INTRAVENOUS)

# Each route as a refusal names it, at the start of a sentence.
ROUTE_NAMES = {
    SUBLINGUAL: "Sublingual ketamine",
    INTRANASAL: "Intranasal esketamine",
    INTRAMUSCULAR: "Intramuscular ketamine",
    INTRAVENOUS: "Intravenous ketamine",
}


@dataclass(frozen=True)
class TypicalRange:
    low: Decimal
    high: Decimal
    unit: str  # MG or MG_PER_KG
    source: str

    def __str__(self) -> str:
        return f"{number(self.low)}–{number(self.high)} {unit_label(self.unit)}"


def unit_label(unit: str) -> str:
    return "mg/kg" if unit == MG_PER_KG else "mg"


def number(value: Decimal) -> str:
    """12.50 -> "12.5", 200.00 -> "200"."""
    text = f"{value.normalize():f}"
    return text


def typical_range(practice, route: str) -> TypicalRange:
    """The practice's typical range for a route (Practice settings, defaults from docs/clinical.md)."""
    if route == SUBLINGUAL:
        return TypicalRange(
            Decimal(practice.typical_sublingual_min_mg),
            Decimal(practice.typical_sublingual_max_mg),
            MG,
            "published KAP lozenge method (Wolfson)",
        )
    if route == INTRANASAL:
        return TypicalRange(
            Decimal(practice.typical_intranasal_min_mg),
            Decimal(practice.typical_intranasal_max_mg),
            MG,
            "Spravato label",
        )
    if route == INTRAMUSCULAR:
        return TypicalRange(
            practice.typical_im_min_mg_per_kg, practice.typical_im_max_mg_per_kg, MG_PER_KG, "Krupitsky 2002"
        )
    if route == INTRAVENOUS:
        return TypicalRange(
            practice.typical_iv_min_mg_per_kg,
            practice.typical_iv_max_mg_per_kg,
            MG_PER_KG,
            "APA consensus 2017",
        )
    raise ValueError(f"unknown route {route!r}")


def range_mg(
    *, unit: str, dose_min: Decimal, dose_max: Decimal, weight_kg: Decimal | None
) -> tuple[Decimal, Decimal]:
    """An order's range in mg: mg/kg times the weight it was written for, to 0.1 mg."""
    if unit == MG:
        return dose_min, dose_max
    if weight_kg is None:
        raise ValueError("a mg/kg dose needs the weight it was written for")
    tenth = Decimal("0.1")
    return (
        (dose_min * weight_kg).quantize(tenth, ROUND_HALF_UP),
        (dose_max * weight_kg).quantize(tenth, ROUND_HALF_UP),
    )


def outside_typical(
    *, practice, route: str, unit: str, dose_min: Decimal, dose_max: Decimal, weight_kg: Decimal | None
) -> str:
    """Why an order's range lies (partly) outside the typical range for its route, in words for
    the prescriber; empty when it lies within."""
    typical = typical_range(practice, route)
    low, high = dose_min, dose_max
    if typical.unit == MG_PER_KG and unit == MG:
        if not weight_kg:
            return ""
        low, high = (low / weight_kg).quantize(Decimal("0.01")), (high / weight_kg).quantize(Decimal("0.01"))
    elif typical.unit == MG and unit == MG_PER_KG:
        if not weight_kg:
            return ""
        low, high = range_mg(unit=unit, dose_min=low, dose_max=high, weight_kg=weight_kg)
    if typical.low <= low and high <= typical.high:
        return ""
    shown = (
        f"{number(low)}–{number(high)} {unit_label(typical.unit)}"
        if low != high
        else (f"{number(low)} {unit_label(typical.unit)}")
    )
    return (
        f"{shown} is outside the typical range for this route, {typical} "
        f"(practice setting; source: {typical.source})."
    )
