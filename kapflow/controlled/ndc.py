"""National Drug Codes (docs/controlled-substances.md): ten digits in three segments, labeler,
product and package, arranged 4-4-2, 5-3-2 or 5-4-1, written with hyphens. Billing's eleven-digit
form (5-4-2) pads the short segment with a zero."""

import re

_SHAPE = re.compile(r"^(\d{4}-\d{4}-\d{2}|\d{5}-\d{3}-\d{2}|\d{5}-\d{4}-\d{1})$")


def ndc_problem(text: str) -> str:
    """Why `text` is not an NDC as printed on a package; empty when it is one."""
    if _SHAPE.match(text.strip()):
        return ""
    return (
        "Give the NDC as printed on the package: ten digits in three groups with hyphens, "
        "4-4-2, 5-3-2 or 5-4-1 (for example 50458-028-02)."
    )


def ndc_11(text: str) -> str:
    """The eleven-digit 5-4-2 form of a valid NDC, without hyphens."""
    labeler, product, package = text.strip().split("-")
    return labeler.zfill(5) + product.zfill(4) + package.zfill(2)
