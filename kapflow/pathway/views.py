from django.contrib import messages
from django.db.models import Prefetch, prefetch_related_objects
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from kapflow.accounts.access import staff_view
from kapflow.accounts.models import Role
from kapflow.clients.access import clinical_banner_for
from kapflow.pathway import services
from kapflow.pathway.forms import ConsultationForm, CoursePlanForm, OverrideForm, PreparationForm
from kapflow.pathway.models import CoursePlan, GateOverride, PreparationSession, Topic
from kapflow.pathway.readiness import readiness, readiness_context
from kapflow.practice.models import practice_for

clinician_view = staff_view(Role.THERAPIST, Role.PRESCRIBER)


def _plan(client) -> CoursePlan | None:
    return CoursePlan.objects.current().filter(client=client).first()


@staff_view()
def overview(request, client_id):
    """The way to the first medication session: what is ready, what is missing and who can
    resolve it, with the consultations, preparation sessions and course plan behind it."""
    client = clinical_banner_for(request, client_id, action="kapflow.pathway.overview.viewed")
    # Read once for the page and its readiness panel: the preparation sessions (prefetched, so
    # the preparation gate's client.preparation_sessions.all() finds them), the guardians (the
    # consent gate and the consent status each read them; the banner's queryset reads a
    # minor's only), the consultations and the course plan (whose modality is the panel's
    # `virtual`).
    prefetch_related_objects(
        [client],
        Prefetch("preparation_sessions", queryset=PreparationSession.objects.select_related("clinician")),
        "guardians",
    )
    sessions = list(client.preparation_sessions.all())
    consultations = list(client.consultations.select_related("clinician"))
    plan = _plan(client)
    covered = {topic for session in sessions for topic in session.topics}
    return render(
        request,
        "pathway/overview.html",
        {
            "client": client,
            **readiness_context(
                request,
                client,
                clinical=True,
                virtual=bool(plan and plan.has_virtual_sessions),
                consultations=consultations,
                plan=plan,
            ),
            "consultations": consultations,
            "sessions": sessions,
            "topics": [(topic, topic.value in covered) for topic in Topic],
            "plan": plan,
        },
    )


@clinician_view
def consultation_new(request, client_id):
    client = clinical_banner_for(request, client_id, action="kapflow.pathway.consultation.opened")
    form = ConsultationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        consultation = services.consultation_record(request=request, client=client, form=form)
        messages.success(request, f"Consultation saved: {consultation.get_decision_display().lower()}.")
        return redirect("pathway:overview", client.pk)
    return render(request, "pathway/consultation_form.html", {"client": client, "form": form})


@staff_view()
def consultation_detail(request, client_id, consultation_id):
    client = clinical_banner_for(request, client_id, action="kapflow.pathway.consultation.viewed")
    consultation = get_object_or_404(client.consultations.select_related("clinician"), pk=consultation_id)
    return render(
        request, "pathway/consultation_detail.html", {"client": client, "consultation": consultation}
    )


@clinician_view
def preparation_new(request, client_id):
    client = clinical_banner_for(request, client_id, action="kapflow.pathway.preparation.opened")
    covered = {topic for session in client.preparation_sessions.all() for topic in session.topics}
    form = PreparationForm(request.POST or None, covered=covered)
    if request.method == "POST" and form.is_valid():
        services.preparation_record(request=request, client=client, form=form)
        messages.success(request, "Preparation session saved.")
        return redirect("pathway:overview", client.pk)
    return render(
        request, "pathway/preparation_form.html", {"client": client, "form": form, "covered": covered}
    )


@staff_view()
def preparation_detail(request, client_id, session_id):
    client = clinical_banner_for(request, client_id, action="kapflow.pathway.preparation.viewed")
    session = get_object_or_404(client.preparation_sessions.select_related("clinician"), pk=session_id)
    topics = [(topic, topic.value in session.topics) for topic in Topic]
    return render(
        request, "pathway/preparation_detail.html", {"client": client, "session": session, "topics": topics}
    )


@clinician_view
def plan_edit(request, client_id):
    """Write the course plan or change the one in force; after a discharge, plan a new course
    (kapflow.pathway.services.course_plan_save; docs/course.md, "Plan versions")."""
    client = clinical_banner_for(request, client_id, action="kapflow.pathway.course_plan.opened")
    plan = _plan(client)
    ended = plan if plan is not None and plan.ended_at is not None else None
    if ended is not None:
        # A new course, starting from what the last one said.
        initial = {
            name: getattr(ended, name)
            for name in (
                "goals",
                "cadence",
                "cadence_note",
                "modality",
                "integration_after_each",
                "review_after",
            )
        }
        initial["planned_sessions"] = practice_for(request).default_planned_sessions
        instance = None
    elif plan is None:
        initial = {"planned_sessions": practice_for(request).default_planned_sessions, "review_after": "3, 6"}
        instance = None
    else:
        initial, instance = {}, plan
    count_locked = instance is not None and services.count_locked(client, instance)
    form = CoursePlanForm(request.POST or None, instance=instance, initial=initial, count_locked=count_locked)
    if request.method == "POST" and form.is_valid():
        if instance is None or form.has_changed():
            try:
                services.course_plan_save(request=request, client=client, form=form)
            except services.PlanRefused as refusal:
                form.add_error(None, str(refusal))
            else:
                messages.success(
                    request, "The new course is planned." if ended else "The course plan was saved."
                )
                return redirect("pathway:overview", client.pk)
        else:
            return redirect("pathway:overview", client.pk)
    return render(
        request,
        "pathway/plan_form.html",
        {"client": client, "form": form, "plan": instance, "ended": ended, "count_locked": count_locked},
    )


@staff_view(Role.PRESCRIBER)
def override_new(request, client_id, gate):
    if gate not in GateOverride.Gate.values:
        raise Http404("Only a medical gate can be overridden.")
    client = clinical_banner_for(request, client_id, action="kapflow.pathway.override.opened")
    # The consent gate reads the guardians for each consent it checks: once, here (the banner's
    # queryset reads a minor's only).
    prefetch_related_objects([client], "guardians")
    current = next(g for g in readiness(client) if g.result.key == gate)
    if current.passed:
        messages.info(request, f"{current.result.label} already passes; there is nothing to override.")
        return redirect("pathway:overview", client.pk)
    form = OverrideForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.gate_override(request=request, client=client, gate=gate, reason=form.cleaned_data["reason"])
        messages.success(request, f"{current.result.label}: your override is recorded.")
        return redirect("pathway:overview", client.pk)
    return render(request, "pathway/override_form.html", {"client": client, "form": form, "gate": current})


@require_POST
@staff_view(Role.PRESCRIBER)
def override_withdraw(request, client_id, override_id):
    client = clinical_banner_for(request, client_id, action="kapflow.pathway.override.opened")
    override = get_object_or_404(client.gate_overrides.filter(withdrawn_at__isnull=True), pk=override_id)
    services.gate_override_withdraw(request=request, override=override)
    messages.success(request, f"The override of {override.get_gate_display().lower()} was withdrawn.")
    return redirect("pathway:overview", client.pk)
