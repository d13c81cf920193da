from django.conf import settings
from django.utils.functional import SimpleLazyObject

from kapflow.practice.models import practice_for


def practice(request):
    return {
        "practice": SimpleLazyObject(lambda: practice_for(request)),
        "MFA_REQUIRED": settings.MFA_REQUIRED,
        "IDLE_MINUTES": settings.IDLE_MINUTES,
    }
