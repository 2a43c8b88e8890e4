"""FIDO2 login (issue 4): a technician enrolls a key with a one-time code, logs in with a
touch (the software authenticator, driven by the real libfido2 client inside `conduit
login`), and reaches an asset with the short-lived certificate; per-session MFA; and every
refusal the issue lists, each against the real gateway with a clear message and an event."""

import datetime
import json
import os
import socket
import stat
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import conduit_harness as h
import fido_helpers as f
from conduit_harness import ASSET, LISTENER

SESSION_ASSET = "echo-safety"
SESSION_LISTENER = "echo-safety-tunnel"
ROLE_OID = x509.ObjectIdentifier("1.3.6.1.4.1.50316.802.1")


def login_config(echo, auth=None):
    """alice may use `echo` after a login, and `echo-safety` only with a touch per session."""
    return dict(
        listeners=[{"name": LISTENER, "bind": "127.0.0.1:0", "asset": ASSET},
                   {"name": SESSION_LISTENER, "bind": "127.0.0.1:0", "asset": SESSION_ASSET}],
        assets=[{"name": ASSET, "address": echo.address_str}, {"name": SESSION_ASSET, "address": echo.address_str}],
        grants=[{"id": "alice-echo", "users": ["alice"], "devices": ["laptop-7"], "assets": [ASSET]},
                {"id": "alice-safety", "users": ["alice"], "devices": ["laptop-7"], "assets": [SESSION_ASSET],
                 "mfa": "per_session"}],
        auth=f.auth_section(**(auth or {})))


@pytest.fixture
def key(tmp_path):
    soft = f.SoftKey(tmp_path / "softkey")
    yield soft
    soft.close()


@pytest.fixture
def site(new_gateway, echo, key):
    """Gateway with the auth API; alice (Operator) with an enrolled key on laptop-7."""
    gw = new_gateway(**login_config(echo))
    s = f.Site(gw, key)
    s.enroll_key()
    return s


def new_site(new_gateway, echo, key, **auth):
    gw = new_gateway(**login_config(echo, auth))
    s = f.Site(gw, key)
    s.enroll_key()
    return s


def refused(status_body, error):
    status, body = status_body
    assert status == 403, body
    assert body["error"] == error, body
    assert body["message"], body
    return body


# --- the flow ------------------------------------------------------------------------

def test_a_technician_enrolls_with_a_code_logs_in_with_a_touch_and_reaches_the_asset(site, echo):
    gw = site.gw
    enrolled = gw.wait_for("auth_key_enrolled", user="alice", device="laptop-7")
    assert enrolled["aaguid"] == site.key.state()["aaguid"]
    cert, key = site.login_ok()
    login = gw.wait_for("auth_login", user="alice", device="laptop-7")
    assert login["key"] == site.key_id
    assert site.key.credential()["sign_count"] == 1  # exactly one touch

    tls = h.tls_connect(gw.address(LISTENER), gw.client_context(cert, key))
    h.roundtrip(tls, b"setpoint?")
    h.close_tls(tls)
    opened = gw.wait_for("session_open", user="alice", asset=ASSET)
    assert opened["key"] == site.key_id

    # The device certificate alone is no login.
    device = h.tls_connect(gw.address(LISTENER),
                           gw.client_context(site.device_dir / "device.crt", site.device_dir / "device.key"))
    h.expect_closed(device)
    denied = gw.wait_for("session_denied", device="laptop-7", user="")
    assert denied["rule"] == "default-deny"


def test_the_login_certificate_is_short_lived_and_names_user_device_roles_and_key(
        new_gateway, echo, key):
    site = new_site(new_gateway, echo, key, certificate_ttl_s=3600)
    cert_path, key_path = site.login_ok()
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    assert cert.not_valid_after - cert.not_valid_before == datetime.timedelta(seconds=3600 + 60)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "laptop-7"
    uris = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.UniformResourceIdentifier)
    assert sorted(uris) == sorted(["conduit:user/alice", "conduit:role/Operator", f"conduit:key/{site.key_id}"])
    role = cert.extensions.get_extension_for_oid(ROLE_OID).value.value
    assert role == b"\x0c\x08Operator"  # UTF8String, Modbus/TCP Security R-21
    # The certificate's key was made on the device and never travelled.
    public = serialization.load_pem_private_key(key_path.read_bytes(), None).public_key()
    assert public.public_numbers() == cert.public_key().public_numbers()


def test_a_tunnel_with_per_session_mfa_touches_the_key_for_every_connection(site, echo):
    gw = site.gw
    cert, key = site.login_ok()
    before = site.key.credential()["sign_count"]
    tunnel = h.TunnelProcess(gw, cert, key, asset=SESSION_ASSET, listener=SESSION_LISTENER,
                             extra_args=["--per-session-mfa", "--auth", site.auth, "--user", "alice",
                                         "--key-device", site.key.device])
    try:
        for n in (1, 2):
            with socket.create_connection(tunnel.address, timeout=h.TIMEOUT) as plain:
                h.roundtrip(plain, b"open valve %d" % n)
            gw.wait_for_n("session_close", n, asset=SESSION_ASSET)
        granted = gw.events("auth_session_granted", user="alice")
        opened = gw.events("session_open", asset=SESSION_ASSET)
        assert len(granted) == 2
        # Each session names the touch that authorized it.
        assert [o["mfa_assertion"] for o in opened] == [g["assertion"] for g in granted]
        assert site.key.credential()["sign_count"] == before + 2
    finally:
        tunnel.close()


# --- refusals: every case of issue 4 point 7 ------------------------------------------

def test_per_session_mfa_missing_is_refused(site):
    gw = site.gw
    cert, key = site.login_ok()
    tls = h.tls_connect(gw.address(SESSION_LISTENER), gw.client_context(cert, key))
    h.expect_closed(tls)
    denied = gw.wait_for("session_denied", asset=SESSION_ASSET, user="alice")
    assert denied["reason"] == "grant requires a key touch for this session (per-session MFA)"


def test_a_per_session_certificate_opens_one_session_only(site):
    gw = site.gw
    api = site.api()
    credential_key = site.key.private_key()
    pair, digest = f.new_csr_with_key()
    challenge = api.challenge("alice", purpose="session", asset=SESSION_ASSET)
    request = f.signed_login(challenge, credential_key, f.unb64url(site.key.credential()["id"]),
                             purpose="session", asset=SESSION_ASSET, csr=(pair.pem, digest))
    status, body = api.post("/v1/session", request)
    assert status == 200, body
    cert_file, key_file = pair.write(site.device_dir, "session", body["certificate"])
    first = h.tls_connect(gw.address(SESSION_LISTENER), gw.client_context(cert_file, key_file))
    h.roundtrip(first, b"one")
    second = h.tls_connect(gw.address(SESSION_LISTENER), gw.client_context(cert_file, key_file))
    h.expect_closed(second)
    denied = gw.wait_for("session_denied", asset=SESSION_ASSET)
    assert denied["reason"] == "per-session certificate already used"
    h.close_tls(first)


def test_a_signature_for_another_relying_party_is_refused(site):
    api = site.api()
    request = f.signed_login(api.challenge("alice"), site.key.private_key(),
                             f.unb64url(site.key.credential()["id"]), rp_id="evil.example", counter=50)
    refused(api.post("/v1/login", request), "rp_id_mismatch")
    site.gw.wait_for("auth_refused", error="rp_id_mismatch", device="laptop-7")


def test_a_replayed_challenge_is_refused(site):
    api = site.api()
    request = f.signed_login(api.challenge("alice"), site.key.private_key(),
                             f.unb64url(site.key.credential()["id"]), counter=50)
    status, body = api.post("/v1/login", request)
    assert status == 200, body
    refused(api.post("/v1/login", request), "challenge_unknown")
    site.gw.wait_for("auth_refused", error="challenge_unknown")


def test_an_expired_challenge_is_refused(new_gateway, echo, key):
    site = new_site(new_gateway, echo, key, challenge_ttl_s=1)
    api = site.api()
    challenge = api.challenge("alice")
    # Not synchronisation: the challenge's one-second lifetime has to run out.
    time.sleep(1.2)
    request = f.signed_login(challenge, site.key.private_key(), f.unb64url(site.key.credential()["id"]), counter=50)
    refused(api.post("/v1/login", request), "challenge_expired")
    site.gw.wait_for("auth_refused", error="challenge_expired")


def test_a_bad_signature_is_refused(site):
    api = site.api()
    request = f.signed_login(api.challenge("alice"), site.key.private_key(),
                             f.unb64url(site.key.credential()["id"]), counter=50)
    signature = bytearray(f.unb64url(request["signature"]))
    signature[-1] ^= 0x01
    request["signature"] = f.b64url(bytes(signature))
    refused(api.post("/v1/login", request), "signature_invalid")
    site.gw.wait_for("auth_refused", error="signature_invalid")


def test_a_sign_counter_that_goes_back_is_refused_as_a_cloned_key(site):
    site.login_ok()
    site.login_ok()  # stored counter is now 2
    site.key.set_sign_count(0)  # a copy of the key that has signed less
    proc = site.login()
    assert proc.returncode == 1
    assert "cloned key" in proc.stderr, proc.stderr
    site.gw.wait_for("auth_refused", error="counter_regression")
    site.gw.wait_for("fido_clone_suspected", user="")


def test_an_unknown_credential_is_refused(site):
    api = site.api()
    other = ec.generate_private_key(ec.SECP256R1())
    request = f.signed_login(api.challenge("alice"), other, os.urandom(32))
    refused(api.post("/v1/login", request), "credential_unknown")
    site.gw.wait_for("auth_refused", error="credential_unknown")


def test_a_revoked_key_can_no_longer_log_in(site):
    cert, key = site.login_ok()
    revoked = h.run_cli_ok("revoke", "key", site.key_id, "--reason", "lost", "--data-dir", site.gw.data_dir)
    assert "revoked" in revoked.stdout
    site.gw.wait_for("admin_revoked", kind="key", id=site.key_id)
    proc = site.login()
    assert proc.returncode == 1
    assert "the key is revoked" in proc.stderr, proc.stderr
    # And the certificate it issued before stops working at once.
    tls = h.tls_connect(site.gw.address(LISTENER), site.gw.client_context(cert, key))
    h.expect_closed(tls)
    assert site.gw.wait_for("session_denied", user="alice")["reason"] == "key revoked"


def test_a_revoked_device_can_no_longer_log_in(site):
    h.run_cli_ok("revoke", "device", "laptop-7", "--data-dir", site.gw.data_dir)
    proc = site.login()
    assert proc.returncode == 1
    assert "device is revoked" in proc.stderr, proc.stderr
    site.gw.wait_for("auth_refused", error="device_revoked")


def test_a_user_not_bound_to_the_device_is_refused(site):
    f.add_user(site.gw, "bob")
    proc = site.login(user="bob")
    assert proc.returncode == 1
    assert "not bound to this device" in proc.stderr, proc.stderr
    site.gw.wait_for("auth_refused", error="user_not_bound_to_device", user="bob")


def test_a_login_certificate_past_its_expiry_is_refused(site):
    gw = site.gw
    cert, key = f.expired_login_certificate(gw, site.device_dir, "laptop-7", "alice", site.key_id)
    h.expect_tls_refused(gw.address(LISTENER), gw.client_context(cert, key))
    failed = gw.wait_for("tls_handshake_failed", listener=LISTENER)
    assert "certificate has expired" in failed["reason"]


def test_an_enrollment_code_works_once(site):
    code = h.run_cli_ok("key", "code", "alice", "--data-dir", site.gw.data_dir).stdout.strip()
    api = site.api()
    status, _ = api.post("/v1/challenge", {"purpose": "enroll", "enrollment_code": code})
    assert status == 200
    refused(api.post("/v1/challenge", {"purpose": "enroll", "enrollment_code": code}), "enrollment_code_invalid")


# --- revocation and lockdown of live sessions ------------------------------------------

def test_revoking_a_user_ends_their_live_session_and_refuses_new_ones(site):
    gw = site.gw
    cert, key = site.login_ok()
    live = h.tls_connect(gw.address(LISTENER), gw.client_context(cert, key))
    h.roundtrip(live, b"before")
    proc = h.run_cli_ok("revoke", "user", "alice", "--reason", "left the company", "--data-dir", gw.data_dir)
    assert "live sessions closed: 1" in proc.stdout, proc.stdout
    h.expect_closed(live)
    closed = gw.wait_for("session_close", user="alice")
    assert closed["reason"] == "user revoked"
    event = gw.wait_for("admin_revoked", kind="user", id="alice")
    assert event["reason"] == "left the company"
    fresh = h.tls_connect(gw.address(LISTENER), gw.client_context(cert, key))
    h.expect_closed(fresh)
    assert gw.wait_for("session_denied", user="alice")["rule"] == "revocation"


def test_a_lockdown_ends_matching_sessions_survives_a_restart_and_lifts(site):
    gw = site.gw
    cert, key = site.login_ok()
    live = h.tls_connect(gw.address(LISTENER), gw.client_context(cert, key))
    h.roundtrip(live, b"x")
    proc = h.run_cli_ok("lockdown", "--asset", "echo*", "--reason", "incident 42", "--data-dir", gw.data_dir)
    assert "live sessions closed: 1" in proc.stdout, proc.stdout
    h.expect_closed(live)
    assert gw.wait_for("session_close", user="alice")["reason"] == "lockdown"
    gw.wait_for("admin_lockdown", asset="echo*")

    gw.stop()
    gw.start()
    fresh = h.tls_connect(gw.address(LISTENER), gw.client_context(cert, key))
    h.expect_closed(fresh)
    assert gw.wait_for("session_denied", user="alice")["reason"] == "lockdown"

    mark = gw.mark()
    assert "lifted: 1" in h.run_cli_ok("lockdown", "lift", "--data-dir", gw.data_dir).stdout
    gw.wait_for("admin_lockdown_lifted", since=mark)
    again = h.tls_connect(gw.address(LISTENER), gw.client_context(cert, key))
    h.roundtrip(again, b"y")
    h.close_tls(again)


def test_the_admin_socket_is_for_root_only(site):
    gw = site.gw
    socket_path = gw.data_dir / "admin.sock"
    assert stat.S_IMODE(os.stat(socket_path).st_mode) == 0o600
    assert '"ok": true' in h.run_cli_ok("status", "--data-dir", gw.data_dir).stdout
    request = {"command": "lockdown", "reason": "not yours"}
    assert f.admin_request_as_nobody(socket_path, request).startswith("refused: PermissionError")
    # Even with the file opened up, the gateway checks who is calling (SO_PEERCRED).
    gw.data_dir.chmod(0o711)
    socket_path.chmod(0o666)
    assert f.admin_request_as_nobody(socket_path, request) == ""
    assert gw.wait_for("admin_refused")["uid"] == 65534
    assert not gw.events("admin_lockdown")


# --- enrollment policy -----------------------------------------------------------------

def test_a_key_enrolled_at_the_gateway_host_can_log_in(new_gateway, echo, key):
    gw = new_gateway(**login_config(echo))
    site = f.Site(gw, key)
    proc = h.run_cli("key", "enroll", "alice", "--config", gw.config_path, "--data-dir", gw.data_dir,
                     "--key-device", key.device)
    assert proc.returncode == 0, proc.stderr
    listed = h.run_cli_ok("key", "list", "alice", "--data-dir", gw.data_dir).stdout
    assert key.state()["aaguid"] in listed
    site.login_ok()


def test_only_allowed_key_models_can_enroll(new_gateway, echo, key):
    gw = new_gateway(**login_config(echo, {"aaguids": ["cb69481e8ff7403993ec0a2729a154a8"]}))
    site = f.Site(gw, key)
    code = h.run_cli_ok("key", "code", "alice", "--data-dir", gw.data_dir).stdout.strip()
    proc = site.login("--enroll", code, user=None)
    assert proc.returncode == 1
    assert "not on the allow-list" in proc.stderr, proc.stderr
    gw.wait_for("auth_refused", error="aaguid_not_allowed")


def test_a_self_attested_key_cannot_claim_an_allowed_model(new_gateway, echo, tmp_path):
    soft = f.SoftKey(tmp_path / "selfkey", "--self-attestation")
    try:
        gw = new_gateway(**login_config(echo, {"aaguids": ["c0de7e5750f74f1d8002000000000001"]}))
        site = f.Site(gw, soft)
        code = h.run_cli_ok("key", "code", "alice", "--data-dir", gw.data_dir).stdout.strip()
        proc = site.login("--enroll", code, user=None)
        assert proc.returncode == 1
        gw.wait_for("auth_refused", error="attestation_untrusted")
    finally:
        soft.close()


def test_attestation_must_chain_to_a_configured_root(new_gateway, echo, key):
    # The soft key's attestation certificate is self-signed: it is its own root.
    roots = key.state_file.parent / "roots.pem"
    roots.write_text(key.state()["attestation_cert_pem"])
    site = new_site(new_gateway, echo, key, attestation_roots=str(roots))
    site.login_ok()


def test_attestation_from_another_maker_is_refused(new_gateway, echo, key, tmp_path):
    other = f.SoftKey(tmp_path / "otherkey")
    try:
        roots = tmp_path / "roots.pem"
        roots.write_text(other.state()["attestation_cert_pem"])
        gw = new_gateway(**login_config(echo, {"attestation_roots": str(roots)}))
        site = f.Site(gw, key)
        code = h.run_cli_ok("key", "code", "alice", "--data-dir", gw.data_dir).stdout.strip()
        assert site.login("--enroll", code, user=None).returncode == 1
        gw.wait_for("auth_refused", error="attestation_untrusted")
    finally:
        other.close()


def test_user_verification_is_required_when_configured(new_gateway, echo, tmp_path):
    with_uv = f.SoftKey(tmp_path / "uvkey", "--uv")
    try:
        site = new_site(new_gateway, echo, with_uv, require_user_verification=True)
        site.login_ok()  # the key verified the user (UV flag set)
        api = site.api()
        touch_only = f.signed_login(api.challenge("alice"), with_uv.private_key(),
                                    f.unb64url(with_uv.credential()["id"]), counter=50, flags=0x01)
        refused(api.post("/v1/login", touch_only), "user_verification_missing")
        site.gw.wait_for("auth_refused", error="user_verification_missing")
    finally:
        with_uv.close()


def test_a_reload_that_changes_the_auth_section_is_rejected(site):
    gw = site.gw
    config = json.loads(gw.config_path.read_text())
    config["auth"]["rp_id"] = "other.test"
    gw.write_config_text(json.dumps(config))
    mark = gw.mark()
    gw.reload()
    assert "restart" in gw.wait_for("config_reload_rejected", since=mark)["error"]
    site.login_ok()  # still the old rp id
