"""The fictional demo practice, at two sizes: the quick one `make run` loads (kapflow.demo.quick)
and a group practice of two years (kapflow.demo.group). The top layer of the house: it may import
every app, and no app imports it."""
