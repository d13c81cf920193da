"""How many examples a property-based test runs: a share of the loaded Hypothesis profile's
(tests/conftest.py registers "quick", the default, and "ci"), never a number of its own."""

from hypothesis import settings


def examples(share: float = 1.0) -> int:
    """`share` of the profile's max_examples, at least one: for tests whose every example is many
    requests (the runbook's buttons are 21 posts an example), so they grow and shrink with it."""
    return max(1, round(settings.default.max_examples * share))
