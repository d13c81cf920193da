from django.contrib import messages
from django.db import transaction
from django.shortcuts import redirect, render

from kapflow.accounts.access import staff_view
from kapflow.accounts.models import Role
from kapflow.audit.services import audit_record, changed_fields
from kapflow.practice.forms import PracticeForm
from kapflow.practice.models import practice_for


@staff_view(Role.PRACTICE_ADMIN)
def practice_settings(request):
    form = PracticeForm(request.POST or None, instance=practice_for(request))
    if request.method == "POST" and form.is_valid():
        if form.has_changed():
            with transaction.atomic():
                practice = form.save()
                audit_record(
                    request=request,
                    action="kapflow.practice.settings.updated",
                    obj=practice,
                    detail=changed_fields(form),
                )
            messages.success(request, "The practice settings were saved and apply from now on.")
        return redirect("practice_settings")
    return render(request, "practice/settings.html", {"form": form})
