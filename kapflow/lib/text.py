"""Words from one place set inside a sentence written in another."""


def mid_sentence(label: str) -> str:
    """A label that starts a line ("Provisional PTSD (33 or above)", "Moderate") as it reads
    after a comma or in brackets: its first letter small, the rest as written, so that an
    acronym keeps its capitals ("provisional PTSD", never "provisional ptsd")."""
    return label[:1].lower() + label[1:]
