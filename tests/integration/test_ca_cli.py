"""`conduit ca` writes a private CA and the certificates the gateway and devices use."""

import datetime
import stat

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import conduit_harness as h


def load(path):
    return x509.load_pem_x509_certificate(path.read_bytes())


def assert_signed_by(cert, ca):
    key = ca.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(cert.signature, cert.tbs_certificate_bytes,
                   ec.ECDSA(cert.signature_hash_algorithm))
    elif isinstance(key, rsa.RSAPublicKey):
        key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(),
                   cert.signature_hash_algorithm)
    else:
        key.verify(cert.signature, cert.tbs_certificate_bytes)
    assert cert.issuer == ca.subject


def assert_private(path):
    assert path.exists(), path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600, oct(path.stat().st_mode)


def eku(cert):
    return list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


def san(cert):
    return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value


def test_ca_init_writes_a_private_key_and_a_ca_certificate(tmp_path):
    h.run_cli_ok("ca", "init", "--data-dir", tmp_path, "--name", "Plant A CA")
    assert_private(tmp_path / "pki" / "ca.key")
    ca = load(tmp_path / "pki" / "ca.crt")
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Plant A CA"
    assert_signed_by(ca, ca)


def test_a_server_certificate_names_its_hosts_and_is_for_server_auth(tmp_path):
    h.run_cli_ok("ca", "init", "--data-dir", tmp_path)
    h.run_cli_ok("ca", "issue", "server", "--data-dir", tmp_path, "--name", "gateway",
                 "--dns", "localhost", "--dns", "gw.plant-a.example", "--ip", "127.0.0.1",
                 "--out", tmp_path / "out")
    assert_private(tmp_path / "out" / "gateway.key")
    cert = load(tmp_path / "out" / "gateway.crt")
    assert_signed_by(cert, load(tmp_path / "pki" / "ca.crt"))
    names = san(cert)
    assert set(names.get_values_for_type(x509.DNSName)) == {"localhost", "gw.plant-a.example"}
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert ExtendedKeyUsageOID.SERVER_AUTH in eku(cert)


def test_a_device_certificate_carries_device_user_and_lifetime(tmp_path):
    h.run_cli_ok("ca", "init", "--data-dir", tmp_path)
    crt, key = h.issue_device_cert(tmp_path, "laptop-7", tmp_path / "out", user="alice", days=7)
    assert_private(key)
    cert = load(crt)
    assert_signed_by(cert, load(tmp_path / "pki" / "ca.crt"))
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "laptop-7"
    assert san(cert).get_values_for_type(x509.UniformResourceIdentifier) \
        == ["conduit:user/alice"]
    assert ExtendedKeyUsageOID.CLIENT_AUTH in eku(cert)
    left = cert.not_valid_after - datetime.datetime.utcnow()
    assert datetime.timedelta(days=6) < left <= datetime.timedelta(days=7, minutes=5)


def test_a_device_certificate_without_user_binds_no_user(tmp_path):
    h.run_cli_ok("ca", "init", "--data-dir", tmp_path)
    crt, _ = h.issue_device_cert(tmp_path, "kiosk-1", tmp_path / "out")
    cert = load(crt)
    try:
        uris = san(cert).get_values_for_type(x509.UniformResourceIdentifier)
    except x509.ExtensionNotFound:
        uris = []
    assert not [u for u in uris if u.startswith("conduit:user/")]
