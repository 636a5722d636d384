"""The admin user `up` makes on every site, with one generated password kept in the state folder."""

import re
import stat
import subprocess

import pytest
import requests

from tests.stack import MANAGE_ALL, SITES, STATE, manage_all, process_env, url


def admin_login(site: str, password: str) -> requests.Response:
    session = requests.Session()
    form = session.get(url(site, "/admin/login/"), timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
    # a login hashes the password (on purpose slow): allow for a loaded machine
    return session.post(url(site, "/admin/login/?next=/admin/"), timeout=60, headers={"Referer": form.url},
                        data={"csrfmiddlewaretoken": token, "username": "admin", "password": password})


def logged_in(answer: requests.Response) -> bool:
    return answer.status_code == 200 and "Log out" in answer.text and "Site administration" in answer.text


@pytest.fixture(scope="module")
def password() -> str:
    printed = manage_all("admin-password").stdout.strip()
    assert printed and stat.S_IMODE((STATE / "admin-password").stat().st_mode) == 0o600
    return printed


@pytest.mark.parametrize("site", SITES)
def test_every_site_admin_takes_the_printed_password(site, password):
    assert logged_in(admin_login(site, password))


def test_a_wrong_password_is_refused(password):
    answer = admin_login("order", password + "x")
    assert not logged_in(answer) and "correct username and password" in answer.text


def test_a_second_up_prints_the_same_password(password):
    up = manage_all("up")
    assert f"user admin, password {password}   (./manage_all.sh admin-password)" in up.stdout, up.stdout
    assert manage_all("admin-password").stdout.strip() == password


def test_a_password_changed_in_a_site_is_set_back_to_the_kept_one(password):
    manage_all("manage", "order", "shell", "-c",
               "from django.contrib.auth.models import User; u = User.objects.get(username='admin'); "
               "u.set_password('changed-by-hand'); u.save()")
    try:
        assert logged_in(admin_login("order", "changed-by-hand"))
    finally:  # what `up` runs for every site after its migrations (and what leaves the stack as it was)
        subprocess.run([str(MANAGE_ALL), "manage", "order", "ensure_admin"], env=process_env(
            DJANGO_SUPERUSER_PASSWORD=password), check=True, capture_output=True, timeout=300)
    assert logged_in(admin_login("order", password))
    assert not logged_in(admin_login("order", "changed-by-hand"))
