"""Cookies and sessions: Secure under HTTPS (direct or via a trusted proxy), an absolute lifetime, sign-out everywhere.

Before: cookies were Secure only when aiohttp itself served TLS, so behind a TLS-terminating proxy
they travelled in clear; an active session never ended; there was no way to sign out elsewhere.
"""

from __future__ import annotations

import datetime as dt
import ssl
from http.cookies import SimpleCookie
from pathlib import Path

import aiohttp
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from alerts.web.app import make_app
from tests.security.conftest import browser, try_login
from tests.web.conftest import Served, csrf_of, free_port, login
from tests.workflow.support import PASSWORDS

WANG = "wang.approver"


def set_cookies(response: aiohttp.ClientResponse) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for header in response.headers.getall("Set-Cookie", []):
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        for name, morsel in jar.items():
            found[name] = {k: str(v) for k, v in morsel.items() if v} | {"value": morsel.value}
    return found


async def test_cookies_are_secure_behind_a_trusted_https_proxy(proxied: Served) -> None:
    https = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7"}
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{proxied.base}/login", headers=https) as r:
            page = await r.text()
            login_cookie = set_cookies(r)["alerts_login_csrf"]
        assert login_cookie["secure"] and login_cookie["httponly"] and login_cookie["samesite"] == "Strict"
        async with http.post(f"{proxied.base}/login", headers={**https, "Cookie": f"alerts_login_csrf={login_cookie['value']}"},
                             data={"csrf": csrf_of(page), "name": WANG, "password": PASSWORDS[WANG]},
                             allow_redirects=False) as r:
            assert r.status == 303
            cookies = set_cookies(r)
    for name in ("alerts_session", "alerts_device"):
        assert cookies[name]["secure"] and cookies[name]["httponly"] and cookies[name]["samesite"] == "Strict", name


async def test_forwarded_proto_from_a_client_that_is_no_trusted_proxy_is_ignored(served: Served) -> None:
    https = {"X-Forwarded-Proto": "https"}
    async with aiohttp.ClientSession() as http, http.get(f"{served.base}/login", headers=https) as r:
        cookie = set_cookies(r)["alerts_login_csrf"]
    assert "secure" not in cookie and cookie["httponly"]


def self_signed(tmp: Path) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(hours=1)).sign(key, hashes.SHA256()))
    (tmp / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp / "cert.pem", tmp / "key.pem")
    return context


async def test_cookies_are_secure_when_served_over_https_directly(served: Served, tmp_path: Path) -> None:
    runner = web.AppRunner(make_app(served.world.service))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=self_signed(tmp_path)).start()
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False)) as http, \
                http.get(f"https://127.0.0.1:{port}/login") as r:
            cookie = set_cookies(r)["alerts_login_csrf"]
        assert cookie["secure"] and cookie["httponly"]
    finally:
        await runner.cleanup()


async def test_a_session_ends_after_its_absolute_lifetime_however_active(served: Served) -> None:
    http = await login(served.base, WANG)
    try:
        minutes = 0
        while minutes < 13 * 60:  # active every 20 minutes: the idle timeout (30 min) never fires
            served.world.clock.advance(minutes=20)
            minutes += 20
            async with http.get(f"{served.base}/", allow_redirects=False) as r:
                if r.status != 200:
                    break
        assert r.status == 303 and r.headers["Location"] == "/login"
        assert 12 * 60 < minutes <= 12 * 60 + 20, "signed out once 12 hours have passed since sign-in"
    finally:
        await http.close()


async def test_sign_out_everywhere_ends_every_session_of_the_person(served: Served) -> None:
    phone, desk = await login(served.base, WANG), await login(served.base, WANG)
    other = await login(served.base, "zhao.approver")
    try:
        async with phone.get(f"{served.base}/account") as r:
            page = await r.text()
        assert r.status == 200 and "在所有设备上退出登录" in page
        async with phone.post(f"{served.base}/account/signout-all", data={"csrf": csrf_of(page)},
                              allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"] == "/login"
        for http in (phone, desk):
            async with http.get(f"{served.base}/", allow_redirects=False) as r:
                assert r.status == 303, "signed out on every device"
        async with other.get(f"{served.base}/", allow_redirects=False) as r:
            assert r.status == 200, "other people stay signed in"
    finally:
        for http in (phone, desk, other):
            await http.close()


async def test_a_new_password_signs_the_other_devices_out(served: Served) -> None:
    phone, desk = await login(served.base, WANG), await login(served.base, WANG)
    try:
        async with desk.get(f"{served.base}/account") as r:
            page = await r.text()
        new = "a-new-long-password-9"
        async with desk.post(f"{served.base}/account/password", data={
                "csrf": csrf_of(page), "current": PASSWORDS[WANG], "password": new, "password2": new}) as r:
            assert r.status == 200 and "密码已修改" in await r.text()
        async with phone.get(f"{served.base}/", allow_redirects=False) as r:
            assert r.status == 303
        async with desk.get(f"{served.base}/", allow_redirects=False) as r:
            assert r.status == 200
        async with browser() as fresh:
            assert (await try_login(fresh, served.base, WANG, new)).status == 303
    finally:
        await phone.close()
        await desk.close()
