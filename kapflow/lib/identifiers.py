"""Identifiers with a check digit that kapflow checks as they are typed (docs/controlled-substances.md)."""


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
