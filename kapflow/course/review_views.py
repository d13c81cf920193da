"""Course reviews (docs/course.md, "Reviews"): write one, read it, sign it."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from kapflow.accounts.access import staff_view
from kapflow.accounts.models import Role
from kapflow.clients.access import clinical_banner_for
from kapflow.course import reviews
from kapflow.course.facts import review_facts
from kapflow.course.models import CourseReview
from kapflow.course.review_forms import ReviewForm, SignForm
from kapflow.pathway.course import position
from kapflow.practice.models import practice_for
from kapflow.visits.models import Visit

clinician_view = staff_view(Role.THERAPIST, Role.PRESCRIBER)


@clinician_view
def review_new(request, client_id):
    """Write a course review of the plan in force, with the facts it will freeze shown beside the
    form as they stand now."""
    client = clinical_banner_for(request, client_id, action="kapflow.course.review.opened")
    waiting = reviews.open_review(client)
    if waiting is not None:
        messages.info(request, "A course review is waiting for its signatures: here it is.")
        return redirect("course:review_detail", client.pk, waiting.pk)
    current = position(client)
    if current is None:
        messages.info(
            request, "Write the course plan first: a review looks at how the course went against it."
        )
        return redirect("pathway:plan", client.pk)
    latest_visit = (
        Visit.objects.filter(client=client, kind=Visit.Kind.PROGRESS_REVIEW)
        .exclude(status__in=(Visit.Status.CANCELLED, Visit.Status.NO_SHOW))
        .order_by("-starts_at", "-pk")
        .first()
    )
    form = ReviewForm(
        request.POST or None,
        client=client,
        held=current.held,
        maintenance_weeks=practice_for(request).maintenance_every_weeks,
        initial={"visit": latest_visit.pk if latest_visit else None},
    )
    if request.method == "POST" and form.is_valid():
        try:
            review = reviews.review_write(request=request, client=client, review=form.instance)
        except reviews.ReviewRefused as refusal:
            form.add_error(None, str(refusal))
        else:
            messages.success(
                request, "The course review is written: the therapist and the prescriber sign it next."
            )
            return redirect("course:review_detail", client.pk, review.pk)
    return render(
        request,
        "course/review_form.html",
        {"client": client, "form": form, "position": current, "facts": review_facts(client, current)},
    )


@staff_view()
def review_detail(request, client_id, review_id):
    """A review with the facts its writer saw, its decision, who signed and when, and the
    signature the reader may give."""
    client = clinical_banner_for(request, client_id, action="kapflow.course.review.viewed")
    review = reviews.review_in_scope(client, review_id)
    if review is None:
        raise Http404("No such review.")
    roles = reviews.roles_to_sign(request, review)
    return render(
        request,
        "course/review_detail.html",
        {
            "client": client,
            "review": review,
            "facts": review.facts,
            "sign_form": SignForm(roles=roles) if roles else None,
            "waiting_for": _waiting_for(review),
        },
    )


def _waiting_for(review: CourseReview) -> str:
    """ "the prescriber’s signature", "the therapist’s and the prescriber’s signatures", or ""."""
    if review.is_decided:
        return ""
    roles = [
        f"the {role}’s"
        for role, signed in (
            (reviews.THERAPIST, review.therapist_signed_at),
            (reviews.PRESCRIBER, review.prescriber_signed_at),
        )
        if signed is None
    ]
    return f"{' and '.join(roles)} signature{'s' if len(roles) > 1 else ''}"


@require_POST
@clinician_view
def review_sign(request, client_id, review_id):
    client = clinical_banner_for(request, client_id, action="kapflow.course.review.opened")
    review = reviews.review_in_scope(client, review_id)
    if review is None:
        raise Http404("No such review.")
    roles = reviews.roles_to_sign(request, review)
    form = SignForm(request.POST, roles=roles)
    if form.is_valid():
        role = form.cleaned_data["role"]
    else:
        # Without a choice, the one signature the signer may give; a choice that is not theirs
        # to give is refused, never taken for the other.
        role = roles[0] if len(roles) == 1 and not request.POST.get("role") else None
    if role is None:
        messages.error(
            request,
            "Say whether you sign as the therapist or as the prescriber."
            if roles
            else "There is no signature on this review that you can give.",
        )
        return redirect("course:review_detail", client.pk, review.pk)
    try:
        review = reviews.review_sign(request=request, review=review, role=role)
    except reviews.ReviewRefused as refusal:
        messages.error(request, str(refusal))
        return redirect("course:review_detail", client.pk, review.pk)
    if review.is_decided:
        messages.success(request, _decided_message(review))
    else:
        messages.success(request, f"Signed as the {role}. The review waits for the other signature.")
    return redirect("course:review_detail", client.pk, review.pk)


def _decided_message(review: CourseReview) -> str:
    decision = CourseReview.Decision
    return {
        decision.CONTINUE: "Both have signed: the course continues as planned.",
        decision.EXTEND: f"Both have signed: the course is extended to {review.extend_to} sessions.",
        decision.MAINTENANCE: (
            "Both have signed: the client moves to maintenance, "
            f"a session every {review.maintenance_weeks} weeks."
        ),
        decision.END: "Both have signed: the course ends. Write the discharge next.",
    }[review.decision]
