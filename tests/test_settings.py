import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import override_settings

from kapflow.lib.checks import check_consistent_settings, check_production_settings

ROOT = Path(__file__).resolve().parent.parent


def run_check(**env):
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )


def test_production_refuses_to_start_with_two_factor_off():
    result = run_check(KAPFLOW_DEBUG="0", KAPFLOW_MFA_REQUIRED="0")
    assert result.returncode != 0
    assert "KAPFLOW_MFA_REQUIRED=0 is only allowed with KAPFLOW_DEBUG=1" in result.stderr


def test_a_malformed_variable_is_named_in_the_error():
    result = run_check(KAPFLOW_IDLE_MINUTES="half an hour")
    assert result.returncode != 0 and "KAPFLOW_IDLE_MINUTES must be a whole number" in result.stderr


@override_settings(DEBUG=False, SECRET_KEY="insecure-development-key-never-use-with-real-data")
def test_an_authenticator_code_is_taken_at_most_two_windows_either_side():
    result = run_check(KAPFLOW_TOTP_TOLERANCE="3")
    assert result.returncode != 0 and "KAPFLOW_TOTP_TOLERANCE must be at most 2" in result.stderr


def test_it_refuses_the_development_secret_key_in_production():
    assert [error.id for error in check_production_settings(None)] == ["kapflow.E001"]


@override_settings(
    SITE_URL="https://kapflow.example.org", ALLOWED_HOSTS=["localhost"], SECURE=True, DATABASE_URL=""
)
def test_it_refuses_a_site_url_the_allowed_hosts_do_not_allow():
    assert [error.id for error in check_consistent_settings(None)] == ["kapflow.E002"]


@override_settings(SITE_URL="http://localhost", ALLOWED_HOSTS=["localhost"], SECURE=True, DATABASE_URL="")
def test_it_refuses_secure_cookies_on_a_plain_http_site():
    assert [error.id for error in check_consistent_settings(None)] == ["kapflow.E003"]


@override_settings(DATABASE_URL="postgres://db/kapflow", REDIS_URL="")
def test_it_warns_that_postgresql_without_redis_keeps_throttles_per_process():
    assert [error.id for error in check_consistent_settings(None)] == ["kapflow.W001"]


def test_a_whole_number_setting_refuses_a_value_past_its_bounds(monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    from kapflow.lib.env import env_int

    monkeypatch.setenv("KAPFLOW_UPLOAD_MAX_MB", "2048")
    with pytest.raises(ImproperlyConfigured, match="at most 1024, not 2048"):
        env_int("KAPFLOW_UPLOAD_MAX_MB", 20, minimum=1, maximum=1024)
    monkeypatch.setenv("KAPFLOW_UPLOAD_MAX_MB", "1024")
    assert env_int("KAPFLOW_UPLOAD_MAX_MB", 20, minimum=1, maximum=1024) == 1024
