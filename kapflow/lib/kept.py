"""Columns the database keeps up to date itself, from triggers on other tables (an invoice's
amount owed, a charge once invoiced, a visit once charged: kapflow.billing.db).

A model saved whole writes every column from what it read, so an instance read before the
trigger fired would write the old value back. `KeptByDatabase` leaves the kept columns out of
every UPDATE that `save()` makes; an INSERT writes their defaults and the triggers take over.
"""

from django.db import models


class KeptByDatabase(models.Model):
    # The names of the fields only the database's triggers change.
    kept_by_database: tuple[str, ...] = ()

    class Meta:
        abstract = True

    def save(self, *args, update_fields=None, **kwargs):
        if update_fields is not None:
            update_fields = [name for name in update_fields if name not in self.kept_by_database]
        elif not self._state.adding and self.pk is not None and not kwargs.get("force_insert"):
            # A row read from the database and saved again: every column but the kept ones.
            update_fields = [
                field.name
                for field in self._meta.concrete_fields
                if not field.primary_key and field.name not in self.kept_by_database
            ]
        super().save(*args, update_fields=update_fields, **kwargs)
