"""Issue 13, defect 7: alert emails were sent twice. A PHQ-9 entered on the client's behalf with
an answer above 0 to item 9 raises an urgent alert and emails the therapist; the staff form
carried no key of its own, so the same form sent twice (a double click, a connection that
dropped after the save and was sent again) saved two responses, opened two alerts and sent two
emails. The form now carries its key, and the response, its alert and its email are saved and
sent once however often it comes."""

import re
import uuid

from django.core import mail
from django.urls import reverse

from kapflow.measures import instruments, services
from kapflow.measures.models import Alert, Response
from kapflow.reminders.models import Reminder

ANSWERS = {f"item_{n}": "1" for n in range(1, 10)}


def form_key(html: str) -> str:
    return re.search(r'name="entry_key" value="([0-9a-f-]+)"', html).group(1)


def test_a_phq9_form_sent_twice_is_one_response_one_alert_one_email(
    avery, tess, login, django_capture_on_commit_callbacks
):
    http = login(tess)
    url = reverse("measures:new", args=[avery.pk, "phq9"])
    key = form_key(http.get(url).content.decode())
    data = {**ANSWERS, "context": "weekly", "entry_key": key}

    with django_capture_on_commit_callbacks(execute=True):
        first = http.post(url, data)
        again = http.post(url, data)

    assert first.status_code == again.status_code == 302
    assert first["Location"] == again["Location"]  # both lead to the one response
    assert Response.objects.filter(client=avery).count() == 1
    assert Alert.objects.filter(client=avery).count() == 1
    assert Reminder.objects.filter(kind=Reminder.Kind.URGENT).count() == 1
    assert [email.to for email in mail.outbox] == [[tess.email]]


def test_each_new_form_is_its_own_response(avery, tess, login):
    http = login(tess)
    url = reverse("measures:new", args=[avery.pk, "phq9"])
    for _ in range(2):
        key = form_key(http.get(url).content.decode())
        http.post(url, {**ANSWERS, "context": "weekly", "entry_key": key})
    assert Response.objects.filter(client=avery).count() == 2


def test_a_form_with_errors_keeps_its_key(avery, tess, login):
    http = login(tess)
    url = reverse("measures:new", args=[avery.pk, "phq9"])
    key = str(uuid.uuid4())
    response = http.post(url, {"item_1": "1", "context": "weekly", "entry_key": key})
    assert response.status_code == 200
    assert form_key(response.content.decode()) == key


def test_the_service_saves_a_key_once_even_when_called_twice(avery, tess, rf):
    request = rf.post("/")
    request.user = tess
    key = uuid.uuid4()
    answers = {item.key: 1 for item in instruments.INSTRUMENTS["phq9"].items}
    kwargs = {
        "request": request,
        "client": avery,
        "instrument": instruments.INSTRUMENTS["phq9"],
        "answers": answers,
        "context": "weekly",
        "entered_by": tess,
        "entry_key": key,
    }
    assert services.response_record(**kwargs) == services.response_record(**kwargs)
    assert Alert.objects.filter(client=avery).count() == 1
