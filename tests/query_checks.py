"""What the tests that count a page's queries check the same way."""


def asked_twice(queries) -> list[str]:
    """The queries (a CaptureQueriesContext) that ran more than once with the same values: a
    value read again where the first read could have been passed along."""
    asked = [query["sql"] for query in queries]
    return [sql for sql in set(asked) if asked.count(sql) > 1]
