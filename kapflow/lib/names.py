"""Names as people type them."""

import re


def same_name(typed: str, on_file: str) -> bool:
    """Whether a typed name is the name on file, whatever its capitals and spaces ("dr anil
    raman" and "Dr Anil  Raman"): a signer's typed name, the prescriber named on a call."""

    def squeeze(text: str) -> str:
        return re.sub(r"\s+", "", text).casefold()

    return squeeze(typed) == squeeze(on_file)
