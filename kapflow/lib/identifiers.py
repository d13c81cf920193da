"""Identifiers that kapflow checks as they are typed: the DEA registration number
(docs/controlled-substances.md), the NPI (docs/outside-prescriber.md, docs/billing.md), the
employer identification number and the ICD-10-CM code's shape (docs/billing.md)."""

import re


def dea_number_valid(number: str) -> bool:
    """A DEA registration number: two letters and seven digits, the seventh a check digit. The
    sum of the 1st, 3rd and 5th digits plus twice the sum of the 2nd, 4th and 6th ends in the
    check digit (AB1234563: 1 + 3 + 5 + 2 × (2 + 4 + 6) = 33)."""
    number = number.strip().upper()
    if len(number) != 9 or not number[:2].isalpha() or not number[:2].isascii() or not number[2:].isdigit():
        return False
    d = [int(c) for c in number[2:]]
    return (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10 == d[6]


DEA_NUMBER_PROBLEM = (
    "A DEA registration number is two letters and seven digits whose last digit is its check "
    "digit (for example AB1234563): check it against the registration certificate."
)


# The National Provider Identifier's check digit is the Luhn digit of the nine leading digits
# prefixed with 80840 (the card issuer prefix of US health identifiers, ISO 7812): CMS,
# "Requirements for the NPI check digit".
NPI_PREFIX = "80840"


def luhn_valid(digits: str) -> bool:
    """The Luhn check: doubling every second digit from the right, the sum is a multiple of 10."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        if position % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def npi_problem(npi: str) -> str:
    """Why `npi` is not a valid NPI ("" when it is): ten digits whose last is the Luhn check digit
    of the first nine prefixed with 80840."""
    if len(npi) != 10 or not npi.isascii() or not npi.isdigit():
        return "An NPI is 10 digits."
    if not luhn_valid(NPI_PREFIX + npi):
        return "This NPI's check digit does not match: check each digit against the document."
    return ""


_EIN = re.compile(r"\d{2}-\d{7}")


def ein_problem(ein: str) -> str:
    """Why `ein` is not written as an employer identification number ("" when it is): nine digits
    as NN-NNNNNNN. Only the shape is checked (its prefix is not)."""
    if not _EIN.fullmatch(ein):
        return "An employer identification number is nine digits written NN-NNNNNNN, for example 12-3456789."
    return ""


# A NUCC health care provider taxonomy code: ten characters, the last an X (1041C0700X, a clinical
# social worker, clinical; 2084P0800X, psychiatry; 363LP0808X, a psychiatric nurse practitioner).
_TAXONOMY = re.compile(r"\d{3}[0-9A-Z]{6}X")


def taxonomy_problem(code: str) -> str:
    """Why `code` is not written as a NUCC taxonomy code ("" when it is). Only the shape is checked,
    not that the code is in the current NUCC list."""
    if not _TAXONOMY.fullmatch(code):
        return (
            "A taxonomy code is ten characters ending in X, as the NUCC list gives it, for example "
            "1041C0700X."
        )
    return ""
