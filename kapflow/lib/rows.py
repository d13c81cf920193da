"""One row read by its primary key with its SELECT compiled once: for a row read on every request.

Django builds and compiles a query's SQL afresh each time it runs it, and for a wide row that
costs more than reading it: the practice's settings row has 88 columns, and Practice.load spent
three quarters of its 0.75 ms compiling (measured at group size, where a bare request takes
1.5–2.5 ms: about a third of one on every page). Here the text of the query and the converters
of its columns are kept, once per database connection (they depend only on the model and the
database), and the row itself is read afresh every time: nothing is cached but how to ask."""

from django.db import connections, router


def read_by_pk(model, pk):
    """The instance of `model` with primary key `pk`, or None: what model._base_manager.filter(
    pk=pk).first() gives, with the same values (the same converters from the database's types)."""
    alias = router.db_for_read(model)
    connection = connections[alias]
    # A connection belongs to one thread; so does what is kept on it.
    kept = connection.__dict__.setdefault("_kapflow_read_by_pk", {})
    plan = kept.get(model)
    if plan is None:
        compiler = model._base_manager.filter(pk=pk).query.get_compiler(alias)
        sql, params = compiler.as_sql()
        if list(params) != [pk]:
            # Not a plain "WHERE pk = %s" (a primary key the database stores transformed): the
            # ORM's own way, every time.
            return model._base_manager.filter(pk=pk).first()
        expressions = [expression for expression, _sql, _alias in compiler.select]
        names = [expression.target.attname for expression in expressions]
        plan = kept[model] = (sql, names, compiler.get_converters(expressions))
    sql, names, converters = plan
    with connection.cursor() as cursor:
        cursor.execute(sql, [pk])
        row = cursor.fetchone()
    if row is None:
        return None
    values = list(row)
    for index, (steps, expression) in converters.items():
        for step in steps:
            values[index] = step(values[index], expression, connection)
    return model.from_db(alias, names, values)
