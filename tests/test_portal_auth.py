"""Portal credentials, the error check, TLS, and the small pure helpers of the portal backend."""

from __future__ import annotations

import json
import re

import pytest

from certs import make_cert
from emulators.portal import API_KEY, PASSWORD, USER, PortalEmulator
from portal_support import assert_no_secrets, run_cli, user_env
from xpgeo_core.backends.portal import api
from xpgeo_core.backends.portal.auth import ApiKeyAuth, ProSignInAuth, UserPasswordAuth, epoch_seconds, make_auth
from xpgeo_core.backends.names import clean_service_name, timestamped
from xpgeo_core.backends.portal.backend import PortalBackend, epoch_ms, where_in
from xpgeo_core.backends.portal.rest import PortalClient, TokenRejected, check_for_errors, encode_params
from xpgeo_core.errors import AuthError, ConfigError, ServerError, ValidationError
from xpgeo_core.http import make_session
from xpgeo_core.settings import load_settings

REFERER = "https://pro.example.com/arcgis"


@pytest.fixture
def portal():
    with PortalEmulator() as p:
        yield p


def settings_for(portal, **env):
    base = {"XPGEO_PORTAL_URL": portal.portal_url, "XPGEO_RETRY_BACKOFF": "0"}
    base.update(env)
    return load_settings(environ=base)


def client_with(portal, auth):
    return PortalClient(make_session(settings_for(portal)), auth)


# -- credentials ------------------------------------------------------------------------
def test_token_is_refreshed_ahead_of_expiry(portal):
    portal.state.token_lifetime = 600
    import time as _time

    now = [_time.time()]
    root = api.sharing_root(portal.portal_url)
    auth = UserPasswordAuth(root, USER, PASSWORD, referer=REFERER, minutes=10, clock=lambda: now[0])
    client = client_with(portal, auth)
    assert api.community_self(client, root)["username"] == USER
    start = now[0]
    now[0] = start + 530  # still more than a tenth of the lifetime (60 s) left: cached
    api.community_self(client, root)
    assert len(portal.requests_to("generateToken")) == 1
    now[0] = start + 545  # inside the last minute: a new token before the old one runs out
    api.community_self(client, root)
    assert len(portal.requests_to("generateToken")) == 2
    assert all(r.headers.get("Referer") == REFERER for r in portal.state.requests)
    assert PASSWORD not in repr(auth)
    assert set(auth.secrets()) == set(portal.state.issued_tokens)  # old tokens stay redacted too


def test_pro_sign_in_provider_is_asked_again_after_a_rejection(portal):
    root = api.sharing_root(portal.portal_url)
    handed = []

    def provider():
        token, expires = portal.issue_token(USER, REFERER, 60)
        handed.append(token)
        return {"token": token, "referer": REFERER, "expires": expires}

    auth = ProSignInAuth(provider)
    client = client_with(portal, auth)
    portal.state.faults = {"self": {2: "expire_token"}}
    api.community_self(client, root)
    api.community_self(client, root)  # 498, provider asked again, replayed once
    assert len(handed) == 2
    tokens = [r.headers["X-Esri-Authorization"] for r in portal.requests_to("self")]
    assert tokens == ["Bearer " + handed[0]] * 2 + ["Bearer " + handed[1]]
    assert all(r.headers.get("Referer") == REFERER for r in portal.state.requests)


def test_pro_sign_in_that_cannot_renew_is_an_auth_error_not_a_loop(portal):
    token, expires = portal.issue_token(USER, REFERER, 60)
    auth = ProSignInAuth(lambda: {"token": token, "referer": REFERER, "expires": expires // 1000})
    client = client_with(portal, auth)
    portal.state.faults = {"self": {1: "expire_token"}}
    with pytest.raises(AuthError, match="Invalid token"):
        api.community_self(client, api.sharing_root(portal.portal_url))
    assert len(portal.requests_to("self")) == 1


def test_pro_not_signed_in(portal):
    auth = ProSignInAuth(lambda: None)
    with pytest.raises(AuthError, match="not signed in"):
        api.community_self(client_with(portal, auth), api.sharing_root(portal.portal_url))


def test_expires_in_seconds_or_milliseconds():
    assert epoch_seconds(1767225600000) == 1767225600.0
    assert epoch_seconds("1767225600000") == 1767225600.0
    assert epoch_seconds(1767225600) == 1767225600.0
    assert epoch_seconds(None) is None and epoch_seconds("soon") is None


def test_credential_precedence(portal):
    root = api.sharing_root(portal.portal_url)
    both = settings_for(portal, XPGEO_API_KEY=API_KEY, XPGEO_USERNAME=USER, XPGEO_PASSWORD=PASSWORD)
    assert isinstance(make_auth(both, root, portal.portal_url, lambda: None), ApiKeyAuth)
    account = settings_for(portal, XPGEO_USERNAME=USER, XPGEO_PASSWORD=PASSWORD)
    chosen = make_auth(account, root, portal.portal_url, lambda: None)
    assert isinstance(chosen, UserPasswordAuth) and chosen.referer == portal.portal_url
    assert isinstance(make_auth(settings_for(portal), root, portal.portal_url, lambda: None), ProSignInAuth)
    with pytest.raises(ConfigError, match="PASSWORD is not set"):
        make_auth(settings_for(portal, XPGEO_USERNAME=USER), root, portal.portal_url)
    with pytest.raises(ConfigError, match="No portal credentials"):
        make_auth(settings_for(portal), root, portal.portal_url)
    with pytest.raises(ConfigError, match="portal URL is not set"):
        PortalBackend(load_settings(environ={"XPGEO_API_KEY": API_KEY}))


def test_referer_setting_binds_the_token(portal):
    code, out, err = run_cli(["health-check"], user_env(portal, XPGEO_REFERER="https://gis.example.com/app"))
    assert code == 0, err
    assert portal.requests_to("generateToken")[0].params["referer"] == "https://gis.example.com/app"
    assert {r.headers.get("Referer") for r in portal.state.requests} == {"https://gis.example.com/app"}


# -- the one error check ------------------------------------------------------------------
@pytest.mark.parametrize("status,body,kind,needle", [
    (200, {"error": {"code": 498, "message": "Invalid token.", "details": []}}, TokenRejected, "Invalid token"),
    (200, {"error": {"code": 499, "message": "Token Required", "messageCode": "GWM_0003"}}, TokenRejected, "499"),
    (200, {"error": {"code": 403, "message": "You do not have permissions"}}, AuthError, "permissions"),
    (200, {"error": {"code": 400, "message": "Unable to add feature service definition.",
                     "details": ["Object reference not set"]}}, ServerError, "Object reference not set"),
    (200, {"success": False, "error": {"message": "Create Service error: exists"}}, ServerError, "Create Service"),
    (200, {"status": "failed", "statusMessage": "job broke"}, ServerError, "job broke"),
    (500, "<html>oops</html>", ServerError, "HTTP 500 (an HTML page)"),
    (401, {"error": {"code": 401, "message": "Unauthorized"}}, AuthError, "Unauthorized"),
    (200, "not json", ServerError, "not ArcGIS JSON"),
])
def test_check_for_errors(status, body, kind, needle):
    text = body if isinstance(body, str) else json.dumps(body)
    with pytest.raises(kind) as info:
        check_for_errors(status, text, "createService")
    assert needle in str(info.value) and "createService" in str(info.value)
    if kind is ServerError:
        assert not isinstance(info.value, AuthError)


def test_check_for_errors_passes_good_answers_and_redacts():
    assert check_for_errors(200, '{"success": true, "id": "x"}', "update") == {"success": True, "id": "x"}
    with pytest.raises(ServerError) as info:
        check_for_errors(200, '{"error": {"code": 400, "message": "bad token s3cr3t-tok"}}', "q", ["s3cr3t-tok"])
    assert "s3cr3t-tok" not in str(info.value)


def test_encode_params_follows_arcgis_conventions():
    out = encode_params({"a": {"x": 1}, "b": [{"y": 2}], "c": ["k1", "k2"], "d": True, "e": None, "g": 3})
    assert out == {"a": '{"x":1}', "b": '[{"y":2}]', "c": "k1,k2", "d": "true", "g": "3", "f": "json"}


# -- helpers ------------------------------------------------------------------------------
def test_service_names_and_timestamps():
    assert clean_service_name("survey_2026") == "survey_2026"
    assert clean_service_name(" my site-2026! ") == "my_site_2026"
    assert clean_service_name("Straße.v2") == "Stra_e_v2"
    with pytest.raises(ValidationError):
        clean_service_name("---")
    assert re.fullmatch(r"x_\d{8}_\d{6}", timestamped("x"))
    assert timestamped("x", 0) == "x_19700101_000000"


def test_dates_and_where_clauses():
    assert epoch_ms("2026-03-01T18:00:00Z") == 1772388000000
    assert epoch_ms("2026-03-01T10:00:00-08:00") == 1772388000000
    assert epoch_ms("2026-03-01T18:00:00.5") == 1772388000500
    assert epoch_ms(None) is None and epoch_ms("yesterday") is None
    assert where_in("ImagePath", ["a", "o'b"]) == "ImagePath IN ('a','o''b')"


def test_urls():
    assert api.sharing_root("https://gis.example.com/portal/") == "https://gis.example.com/portal/sharing/rest"
    assert api.sharing_root("https://www.arcgis.com/sharing/rest") == "https://www.arcgis.com/sharing/rest"
    assert api.sharing_root("https://org.maps.arcgis.com/home") == "https://org.maps.arcgis.com/sharing/rest"
    assert (api.admin_url("https://services7.arcgis.com/o/arcgis/rest/services/n/FeatureServer")
            == "https://services7.arcgis.com/o/arcgis/rest/admin/services/n/FeatureServer")


# -- TLS ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_cert(tmp_path_factory.mktemp("portal-tls"))


def test_tls_verified_by_default_ca_bundle_and_insecure_switch(certs, monkeypatch):
    ca, cert, key = certs
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    with PortalEmulator(tls=(str(cert), str(key))) as portal:
        assert portal.portal_url.startswith("https://127.0.0.1:")
        env = user_env(portal, XPGEO_RETRIES="0")
        code, out, err = run_cli(["health-check"], env)
        assert code == 4 and "could not be verified" in err and "CA_BUNDLE" in err
        assert not portal.state.requests  # nothing was sent over an unverified connection

        code, out, err = run_cli(["health-check"], dict(env, XPGEO_CA_BUNDLE=str(ca)))
        assert code == 0, err
        assert "TLS certificate verification is OFF" not in err

        code, out, err = run_cli(["--disable-ssl-verification", "health-check"], env)
        assert code == 0, err
        assert "TLS certificate verification is OFF" in err
        assert_no_secrets(portal, out, err)
