"""Clinicians working a day, for locust (run by bench/load.py, which says how).

Each simulated clinician signs in through the real sign-in form (password, then the code from
their authenticator, computed here from the secret bench/load.py enrolled), then works: the
dashboard, their calendar's week and day, the caseload and a search, their clients' charts and
the pages behind them (pathway, measures, integration notes), a signed runbook, and a session's
runbook left open with its live panel refreshing every 30 seconds as the page does (marked with
`X-Kapflow-Poll: 1`). What a page fetches as it loads (its readiness badges, the chart's Letters
card) is fetched after it, as a browser would. Everything they open is theirs: the clients on
their care team.

bench/load.py passes the accounts and what each may open in the file named by BENCH_ACCOUNTS.
"""

import base64
import hashlib
import hmac
import json
import os
import random
import re
import struct
import time

import gevent
from fragments import fragments_on_load  # bench/fragments.py: locust puts this folder on the path
from locust import FastHttpUser, between, events, task
from locust.exception import StopUser

ACCOUNTS = json.loads(open(os.environ["BENCH_ACCOUNTS"]).read())  # noqa: SIM115
THINK = tuple(float(part) for part in os.environ.get("BENCH_THINK", "5-15").split("-"))
POLL = {"HX-Request": "true", "X-Kapflow-Poll": "1"}
FRAGMENT = {"HX-Request": "true"}
# A fragment's path named without the numbers in it (/clients/12/letters/card/ as clients/letters/card).
_FRAGMENT_NAME = re.compile(r"/\d+")
_next_account = iter(range(len(ACCOUNTS)))
CODE_URL = "/accounts/2fa/authenticate/"
STEP = {"allow_redirects": False, "catch_response": True}
_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def totp(secret: str, at: float | None = None) -> str:
    """RFC 6238 with allauth's defaults: SHA-1, 30-second steps, six digits."""
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    counter = int((at or time.time()) // 30)
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


class Clinician(FastHttpUser):
    wait_time = between(*THINK)

    def on_start(self):
        self.me = ACCOUNTS[next(_next_account) % len(ACCOUNTS)]
        self.open_runbook = None
        self.poller = None
        if not self.sign_in():
            # Signed out, every page would answer with the sign-in page: this clinician goes home.
            raise StopUser()
        self.poller = gevent.spawn(self.poll)

    def on_stop(self):
        if self.poller is not None:
            self.poller.kill()

    def poll(self):
        """The open runbook's live panel refreshes every 30 s, whatever the clinician is doing."""
        while True:
            gevent.sleep(30)
            if self.open_runbook:
                self.page(self.open_runbook + "live/", "runbook: live refresh (poll)", headers=POLL)

    def _csrf(self, response) -> str:
        match = _CSRF.search(response.text or "")
        return match.group(1) if match else ""

    def sign_in(self) -> bool:
        with self.client.get("/accounts/login/", name="sign in: form", catch_response=True) as response:
            token = self._csrf(response)
            if response.status_code != 200 or not token:
                response.failure(f"sign-in form answered {response.status_code}")
                return False
        data = {"csrfmiddlewaretoken": token, "login": self.me["email"], "password": self.me["password"]}
        with self.client.post("/accounts/login/", data=data, name="sign in: password", **STEP) as response:
            if response.status_code != 302 or "/2fa/" not in response.headers.get("Location", ""):
                response.failure(f"password step answered {response.status_code}")
                return False
        with self.client.get(CODE_URL, name="sign in: code form", catch_response=True) as response:
            token = self._csrf(response)
            if response.status_code != 200 or not token:
                response.failure(f"code form answered {response.status_code}")
                return False
        # A code that arrives after its 30 seconds are over is refused, as a person's would be;
        # like a person, type the new one (twice at most). Each refusal counts as an error.
        for _attempt in range(3):
            data = {"csrfmiddlewaretoken": token, "code": totp(self.me["secret"])}
            with self.client.post(CODE_URL, data=data, name="sign in: code", **STEP) as response:
                if response.status_code == 302:
                    return True
                response.failure(f"code step answered {response.status_code}")
                token = self._csrf(response) or token
        return False

    def page(self, url, name, headers=None):
        """The page, then what it fetches as it loads (its readiness badges, the chart's Letters
        card), as a browser would: each fragment is timed as "<page>: <its path>"."""
        with self.client.get(url, name=name, headers=headers, **STEP) as response:
            if response.status_code != 200:
                # A redirect here is to the sign-in page: the session was lost.
                response.failure(f"{response.status_code} {response.headers.get('Location', '')}")
                return
            html = (response.headers.get("Content-Type") or "").startswith("text/html")
            loads = fragments_on_load(response.text or "") if html and headers is None else []
        for fragment in loads:
            label = f"{name}: {_FRAGMENT_NAME.sub('', fragment.split('?')[0]).strip('/') or fragment}"
            with self.client.get(fragment, name=label, headers=FRAGMENT, **STEP) as response:
                if response.status_code != 200:
                    response.failure(f"{response.status_code} {response.headers.get('Location', '')}")

    @task(4)
    def dashboard(self):
        self.page("/", "dashboard")

    @task(3)
    def calendar(self):
        self.page(f"/calendar/?who={self.me['calendar_of']}", "calendar: week")
        if random.random() < 0.3:  # noqa: S311
            self.page(f"/calendar/day/?who={self.me['calendar_of']}", "calendar: day")

    @task(2)
    def caseload(self):
        self.page("/clients/", "caseload")
        if self.me["search"] and random.random() < 0.5:  # noqa: S311
            self.page(f"/clients/?q={random.choice(self.me['search'])}", "caseload: search")  # noqa: S311

    @task(6)
    def chart(self):
        if not self.me["clients"]:
            return
        client = random.choice(self.me["clients"])  # noqa: S311
        self.page(f"/clients/{client}/", "chart")
        section = random.choice(["pathway", "measures", "integration", "visits"])  # noqa: S311
        self.page(f"/clients/{client}/{section}/", f"chart: {section}")

    @task(2)
    def notes(self):
        if self.me["records"]:
            self.page(random.choice(self.me["records"]), "integration note")  # noqa: S311

    @task(2)
    def signed_runbook(self):
        if self.me["signed"]:
            self.page(random.choice(self.me["signed"]), "runbook: signed")  # noqa: S311

    @task(1)
    def run_a_session(self):
        """Open a session's runbook and leave it open: its live panel refreshes from now on."""
        if self.me["live"]:
            self.open_runbook = random.choice(self.me["live"])  # noqa: S311
            self.page(self.open_runbook, "runbook: session")


# Every request's own time, for bench/load.py's percentiles (locust's own are rounded).
SAMPLES: list = []


@events.request.add_listener
def _record(name, response_time, exception, start_time=None, **_kwargs):
    error = str(exception)[:200] if exception is not None else ""
    SAMPLES.append((name, round(response_time, 2), error, round(start_time or time.time(), 3)))


@events.quitting.add_listener
def _write(environment, **_kwargs):
    if os.environ.get("BENCH_SAMPLES"):
        with open(os.environ["BENCH_SAMPLES"], "w") as out:
            json.dump(SAMPLES, out)
    environment.process_exit_code = 0  # bench/load.py judges the run from the figures
