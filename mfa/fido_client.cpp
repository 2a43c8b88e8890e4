#include "mfa/fido_client.hpp"

#include <fido.h>

#include <memory>

#include "mfa/fido_unix_transport.hpp"

namespace conduit::mfa {
namespace {

struct DevFree {
  void operator()(fido_dev_t* dev) const noexcept {
    fido_dev_close(dev);
    fido_dev_free(&dev);
  }
};
struct CredFree {
  void operator()(fido_cred_t* cred) const noexcept { fido_cred_free(&cred); }
};
struct AssertFree {
  void operator()(fido_assert_t* assertion) const noexcept { fido_assert_free(&assertion); }
};
struct InfoFree {
  std::size_t count = 0;
  void operator()(fido_dev_info_t* info) const noexcept { fido_dev_info_free(&info, count); }
};
using DevPtr = std::unique_ptr<fido_dev_t, DevFree>;

// Long enough for a person to find the key and touch it.
constexpr int kKeyTimeoutMs = 60'000;

const unsigned char* bytes(const std::string& text) { return reinterpret_cast<const unsigned char*>(text.data()); }

void check(int result, const std::string& what) {
  if (result != FIDO_OK) throw FidoClientError(what + ": " + fido_strerr(result));
}

std::string first_usb_key() {
  constexpr std::size_t kMax = 16;
  std::unique_ptr<fido_dev_info_t, InfoFree> list(fido_dev_info_new(kMax), InfoFree{kMax});
  std::size_t found = 0;
  if (!list || fido_dev_info_manifest(list.get(), kMax, &found) != FIDO_OK || found == 0) {
    throw FidoClientError("no FIDO2 security key found: plug one in, or name it with --key-device");
  }
  return fido_dev_info_path(fido_dev_info_ptr(list.get(), 0));
}

DevPtr open_key(const KeyOptions& options) {
  static const bool initialised = [] {
    fido_init(0);
    return true;
  }();
  (void)initialised;
  std::string path = options.device_path.empty() ? first_usb_key() : options.device_path;
  DevPtr dev(fido_dev_new());
  if (!dev) throw FidoClientError("out of memory");
  // libfido2 waits forever by default; a key that never answers must not hang a login.
  fido_dev_set_timeout(dev.get(), kKeyTimeoutMs);
  if (is_unix_device_path(path)) check(use_unix_transport(dev.get()), "cannot use " + path);
  check(fido_dev_open(dev.get(), path.c_str()), "cannot open the security key " + path);
  if (!fido_dev_is_fido2(dev.get())) throw FidoClientError(path + " is a U2F-only key; Conduit needs FIDO2");
  return dev;
}

// libfido2 1.12 returns an assertion's authenticator data only CBOR-wrapped (a byte
// string); the gateway verifies the raw bytes.
std::string unwrap_cbor_bytes(const unsigned char* data, std::size_t size) {
  if (data == nullptr || size == 0 || (data[0] >> 5) != 2) throw FidoClientError("malformed authenticator data");
  std::size_t info = data[0] & 0x1f;
  std::size_t header = 1;
  std::size_t length = info;
  if (info == 24 && size >= 2) {
    length = data[1];
    header = 2;
  } else if (info == 25 && size >= 3) {
    length = std::size_t{data[1]} << 8 | data[2];
    header = 3;
  } else if (info >= 24) {
    throw FidoClientError("malformed authenticator data");
  }
  if (header + length != size) throw FidoClientError("malformed authenticator data");
  return std::string(reinterpret_cast<const char*>(data + header), length);
}

const char* pin_of(const KeyOptions& options) { return options.pin.empty() ? nullptr : options.pin.c_str(); }

}  // namespace

Attestation make_credential(const KeyOptions& options, const std::string& rp_id, const std::string& user,
                            const std::string& client_data_json, const std::vector<std::string>& exclude) {
  DevPtr dev = open_key(options);
  std::unique_ptr<fido_cred_t, CredFree> cred(fido_cred_new());
  if (!cred) throw FidoClientError("out of memory");
  check(fido_cred_set_type(cred.get(), COSE_ES256), "credential type");
  check(fido_cred_set_clientdata(cred.get(), bytes(client_data_json), client_data_json.size()), "client data");
  check(fido_cred_set_rp(cred.get(), rp_id.c_str(), "Conduit"), "relying party");
  check(fido_cred_set_user(cred.get(), bytes(user), user.size(), user.c_str(), user.c_str(), nullptr), "user");
  for (const std::string& id : exclude) check(fido_cred_exclude(cred.get(), bytes(id), id.size()), "exclude list");
  if (options.user_verification && options.pin.empty()) check(fido_cred_set_uv(cred.get(), FIDO_OPT_TRUE), "uv");
  int made = fido_dev_make_cred(dev.get(), cred.get(), pin_of(options));
  if (made == FIDO_ERR_CREDENTIAL_EXCLUDED) throw FidoClientError("this key is already enrolled for " + user);
  check(made, "the key did not make a credential");

  Attestation attestation;
  attestation.client_data_json = client_data_json;
  attestation.authenticator_data.assign(reinterpret_cast<const char*>(fido_cred_authdata_raw_ptr(cred.get())),
                                        fido_cred_authdata_raw_len(cred.get()));
  attestation.format = fido_cred_fmt(cred.get()) ? fido_cred_fmt(cred.get()) : "";
  attestation.signature.assign(reinterpret_cast<const char*>(fido_cred_sig_ptr(cred.get())),
                               fido_cred_sig_len(cred.get()));
  if (fido_cred_x5c_len(cred.get()) > 0) {
    attestation.x5c.emplace_back(reinterpret_cast<const char*>(fido_cred_x5c_ptr(cred.get())),
                                 fido_cred_x5c_len(cred.get()));
  }
  attestation.credential_alg = fido_cred_type(cred.get());
  return attestation;
}

SignedAssertion get_assertion(const KeyOptions& options, const std::string& rp_id,
                              const std::string& client_data_json, const std::vector<std::string>& allow) {
  DevPtr dev = open_key(options);
  std::unique_ptr<fido_assert_t, AssertFree> assertion(fido_assert_new());
  if (!assertion) throw FidoClientError("out of memory");
  check(fido_assert_set_clientdata(assertion.get(), bytes(client_data_json), client_data_json.size()), "client data");
  check(fido_assert_set_rp(assertion.get(), rp_id.c_str()), "relying party");
  for (const std::string& id : allow) check(fido_assert_allow_cred(assertion.get(), bytes(id), id.size()), "allow list");
  check(fido_assert_set_up(assertion.get(), FIDO_OPT_TRUE), "user presence");
  if (options.user_verification && options.pin.empty()) check(fido_assert_set_uv(assertion.get(), FIDO_OPT_TRUE), "uv");
  int got = fido_dev_get_assert(dev.get(), assertion.get(), pin_of(options));
  if (got == FIDO_ERR_NO_CREDENTIALS) throw FidoClientError("this key holds none of your enrolled credentials");
  check(got, "the key did not sign");
  if (fido_assert_count(assertion.get()) < 1) throw FidoClientError("the key returned no assertion");

  SignedAssertion signed_assertion;
  signed_assertion.credential_id.assign(reinterpret_cast<const char*>(fido_assert_id_ptr(assertion.get(), 0)),
                                        fido_assert_id_len(assertion.get(), 0));
  signed_assertion.assertion.client_data_json = client_data_json;
  signed_assertion.assertion.authenticator_data =
      unwrap_cbor_bytes(fido_assert_authdata_ptr(assertion.get(), 0), fido_assert_authdata_len(assertion.get(), 0));
  signed_assertion.assertion.signature.assign(reinterpret_cast<const char*>(fido_assert_sig_ptr(assertion.get(), 0)),
                                              fido_assert_sig_len(assertion.get(), 0));
  return signed_assertion;
}

}  // namespace conduit::mfa
