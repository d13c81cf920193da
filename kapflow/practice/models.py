from django.db import models


class Practice(models.Model):
    """The practice's own details and the settings its admin decides. There is one row."""

    name = models.CharField(max_length=120, default="Our practice")
    phone = models.CharField(max_length=40, blank=True)
    email = models.EmailField(blank=True)
    address = models.CharField(max_length=250, blank=True)
    inquiry_intro = models.TextField(
        "words above the inquiry form",
        blank=True,
        default=(
            "You do not need to decide anything before reaching out. Tell us a little about "
            "what brings you here and how you would like us to contact you, and we will be in "
            "touch to arrange a conversation."
        ),
    )
    open_caseload = models.BooleanField(
        "every clinician sees every client",
        default=False,
        help_text=(
            "Off: therapists and prescribers see only the clients on whose care team they are. "
            "On: every therapist and prescriber in the practice sees every client."
        ),
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="practice_single_row")]

    def __str__(self) -> str:
        return self.name

    @classmethod
    def load(cls) -> "Practice":
        """The practice's settings row (one query), created with its defaults on first use."""
        practice, _ = cls.objects.get_or_create(pk=1)
        return practice


def practice_for(request) -> Practice:
    """The practice settings, read once per request."""
    if not hasattr(request, "_kapflow_practice"):
        request._kapflow_practice = Practice.load()
    return request._kapflow_practice
