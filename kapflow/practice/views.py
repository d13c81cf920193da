from django.contrib import messages
from django.db import transaction
from django.shortcuts import redirect, render

from kapflow.accounts.access import staff_view
from kapflow.accounts.models import Role, User
from kapflow.audit.services import audit_record, changed_fields
from kapflow.practice.forms import PracticeForm
from kapflow.practice.models import Practice, practice_for


@staff_view(Role.PRACTICE_ADMIN)
def practice_settings(request):
    form = PracticeForm(request.POST or None, instance=practice_for(request))
    if request.method == "POST" and form.is_valid():
        if form.has_changed():
            with transaction.atomic():
                # The practice's row first, as a staff change that makes a prescriber outside
                # takes it (kapflow.accounts.services.staff_update): the on-call choice is
                # checked again under the lock, so it cannot land on someone made outside meanwhile.
                Practice.objects.select_for_update(no_key=True).filter(pk=form.instance.pk).first()
                chosen = form.cleaned_data.get("on_call_prescriber")
                if chosen is not None and not User.objects.on_call_candidates().filter(pk=chosen.pk).exists():
                    form.add_error(
                        "on_call_prescriber",
                        f"{chosen.display_name} can no longer be on call (their account changed while "
                        "this page was open). Choose another prescriber.",
                    )
                    return render(request, "practice/settings.html", {"form": form})
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
