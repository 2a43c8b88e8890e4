#include "tests/support/soft_fido2/ctap2.hpp"

#include <algorithm>
#include <array>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <cbor.h>

#include "tests/support/soft_fido2/cbor_check.hpp"
#include "tests/support/soft_fido2/cbor_writer.hpp"
#include "tests/support/soft_fido2/state.hpp"

namespace conduit::soft_fido2 {
namespace {

enum Command : std::uint8_t { kMakeCredential = 0x01, kGetAssertion = 0x02, kGetInfo = 0x04 };
enum Flag : std::uint8_t { kFlagUp = 0x01, kFlagUv = 0x04, kFlagAt = 0x40 };
constexpr std::size_t kMaxUserId = 64;  // CTAP 2.1 §6.1: user.id is at most 64 bytes

// Thrown only inside this file and caught in handle_ctap2: it keeps the parameter checks
// linear ("require X or fail with status S") instead of threading a status through each.
struct Failure {
  std::uint8_t status;
};

struct CborFree {
  void operator()(cbor_item_t* item) const noexcept { cbor_decref(&item); }
};
using CborPtr = std::unique_ptr<cbor_item_t, CborFree>;

bool text_equals(const cbor_item_t* item, std::string_view text) {
  return cbor_isa_string(item) && cbor_string_is_definite(item) &&
         std::string_view(reinterpret_cast<const char*>(cbor_string_handle(item)),
                          cbor_string_length(item)) == text;
}

// Map lookups; the first matching key wins. Null when absent.
const cbor_item_t* find(const cbor_item_t* map, std::uint64_t key) {
  const cbor_pair* pairs = cbor_map_handle(map);
  for (std::size_t i = 0; i < cbor_map_size(map); ++i) {
    if (cbor_isa_uint(pairs[i].key) && cbor_get_int(pairs[i].key) == key) return pairs[i].value;
  }
  return nullptr;
}
const cbor_item_t* find(const cbor_item_t* map, std::string_view key) {
  const cbor_pair* pairs = cbor_map_handle(map);
  for (std::size_t i = 0; i < cbor_map_size(map); ++i) {
    if (text_equals(pairs[i].key, key)) return pairs[i].value;
  }
  return nullptr;
}

template <typename Key>
const cbor_item_t* require(const cbor_item_t* map, Key key) {
  const cbor_item_t* value = find(map, key);
  if (value == nullptr) throw Failure{kCtapMissingParameter};
  return value;
}

const cbor_item_t* as_map(const cbor_item_t* item) {
  if (!cbor_isa_map(item)) throw Failure{kCtapCborUnexpectedType};
  return item;
}

Bytes as_bytes(const cbor_item_t* item) {
  if (!cbor_isa_bytestring(item) || !cbor_bytestring_is_definite(item)) {
    throw Failure{kCtapCborUnexpectedType};
  }
  const unsigned char* data = cbor_bytestring_handle(item);
  return Bytes(data, data + cbor_bytestring_length(item));
}

std::string as_text(const cbor_item_t* item) {
  if (!cbor_isa_string(item) || !cbor_string_is_definite(item)) {
    throw Failure{kCtapCborUnexpectedType};
  }
  return std::string(reinterpret_cast<const char*>(cbor_string_handle(item)),
                     cbor_string_length(item));
}

std::int64_t as_int(const cbor_item_t* item) {
  if (!cbor_is_int(item)) throw Failure{kCtapCborUnexpectedType};
  const std::uint64_t magnitude = cbor_get_int(item);
  if (magnitude > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    throw Failure{kCtapInvalidParameter};
  }
  const auto value = static_cast<std::int64_t>(magnitude);
  return cbor_isa_uint(item) ? value : -1 - value;
}

bool as_bool(const cbor_item_t* item) {
  if (!cbor_is_bool(item)) throw Failure{kCtapCborUnexpectedType};
  return cbor_get_bool(item);
}

Bytes client_data_hash(const cbor_item_t* params, std::uint64_t key) {
  Bytes hash = as_bytes(require(params, key));
  if (hash.size() != 32) throw Failure{kCtapInvalidLength};
  return hash;
}

// Ids of the "public-key" entries of an allowList / excludeList; other types are skipped
// (CTAP 2.1 §6.1.2 step 11: unknown credential types are ignored).
std::vector<Bytes> credential_ids(const cbor_item_t* list) {
  if (!cbor_isa_array(list)) throw Failure{kCtapCborUnexpectedType};
  std::vector<Bytes> ids;
  cbor_item_t** items = cbor_array_handle(list);
  for (std::size_t i = 0; i < cbor_array_size(list); ++i) {
    const cbor_item_t* descriptor = as_map(items[i]);
    const std::string type = as_text(require(descriptor, std::string_view("type")));
    Bytes id = as_bytes(require(descriptor, std::string_view("id")));
    if (type == "public-key") ids.push_back(std::move(id));
  }
  return ids;
}

struct Options {
  std::optional<bool> rk, up, uv;
};

Options read_options(const cbor_item_t* params, std::uint64_t key) {
  Options options;
  const cbor_item_t* map = find(params, key);
  if (map == nullptr) return options;
  as_map(map);
  if (const auto* v = find(map, std::string_view("rk"))) options.rk = as_bool(v);
  if (const auto* v = find(map, std::string_view("up"))) options.up = as_bool(v);
  if (const auto* v = find(map, std::string_view("uv"))) options.uv = as_bool(v);
  return options;
}

// We implement no PIN/UV auth protocol (getInfo lists none), CTAP 2.1 §6.1.2 steps 1-2.
void refuse_pin_uv_auth(const cbor_item_t* params, std::uint64_t param_key) {
  const cbor_item_t* param = find(params, param_key);
  if (param == nullptr) return;
  if (cbor_isa_bytestring(param) && cbor_bytestring_length(param) == 0) {
    throw Failure{kCtapPinNotSet};
  }
  if (find(params, param_key + 1) == nullptr) throw Failure{kCtapMissingParameter};
  throw Failure{kCtapInvalidParameter};
}

void append_be(Bytes& out, std::uint64_t value, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<std::uint8_t>(value >> (8 * i)));
}

Bytes auth_data_head(const std::string& rp_id, std::uint8_t flags, std::uint32_t sign_count) {
  const auto rp_id_hash =
      sha256({reinterpret_cast<const std::uint8_t*>(rp_id.data()), rp_id.size()});
  Bytes out(rp_id_hash.begin(), rp_id_hash.end());
  out.push_back(flags);
  append_be(out, sign_count, 4);
  return out;
}

Bytes concat(const Bytes& a, const Bytes& b) {
  Bytes out = a;
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

common::EvpPkeyPtr load_key(const std::string& pem) {
  common::EvpPkeyPtr key = common::private_key_from_pem(pem);
  if (!key) throw CryptoError("cannot read a private key from the state file");
  return key;
}

Bytes get_info(const Ctap2Config& config) {
  const State state = load_state(config.state_path);
  CborWriter out;
  out.map(6);
  out.integer(1).array(1).text("FIDO_2_0");
  out.integer(2).array(0);
  out.integer(3).bytes(state.aaguid);
  out.integer(4).map(4);  // canonical order: shorter keys first, then bytewise
  out.text("rk").boolean(false).text("up").boolean(true);
  out.text("uv").boolean(config.user_verification).text("plat").boolean(false);
  out.integer(5).integer(kMaxCtapMessage);
  out.integer(10).array(2);
  out.map(2).text("alg").integer(kCoseEs256).text("type").text("public-key");
  out.map(2).text("alg").integer(kCoseEdDsa).text("type").text("public-key");
  return out.take();
}

int pick_algorithm(const cbor_item_t* params_list) {
  if (!cbor_isa_array(params_list)) throw Failure{kCtapCborUnexpectedType};
  cbor_item_t** items = cbor_array_handle(params_list);
  for (std::size_t i = 0; i < cbor_array_size(params_list); ++i) {
    const cbor_item_t* param = as_map(items[i]);
    const std::int64_t alg = as_int(require(param, std::string_view("alg")));
    const std::string type = as_text(require(param, std::string_view("type")));
    if (type == "public-key" && (alg == kCoseEs256 || alg == kCoseEdDsa)) {
      return static_cast<int>(alg);
    }
  }
  throw Failure{kCtapUnsupportedAlgorithm};
}

// Checks shared by makeCredential and getAssertion: options we cannot honour.
bool user_verified(const Options& options, const Ctap2Config& config) {
  if (options.rk.value_or(false)) throw Failure{kCtapUnsupportedOption};
  const bool uv = options.uv.value_or(false);
  if (uv && !config.user_verification) throw Failure{kCtapUnsupportedOption};
  return uv;
}

Bytes make_credential(const cbor_item_t* params, const Ctap2Config& config) {
  const Bytes cdh = client_data_hash(params, 1u);
  const std::string rp_id = as_text(require(as_map(require(params, 2u)), std::string_view("id")));
  const Bytes user_id = as_bytes(require(as_map(require(params, 3u)), std::string_view("id")));
  if (user_id.size() > kMaxUserId) throw Failure{kCtapInvalidLength};
  const int alg = pick_algorithm(require(params, 4u));
  const std::vector<Bytes> excluded =
      find(params, 5u) != nullptr ? credential_ids(find(params, 5u)) : std::vector<Bytes>{};
  if (const auto* extensions = find(params, 6u)) as_map(extensions);  // none supported
  const Options options = read_options(params, 7u);
  if (options.up.has_value() && !*options.up) throw Failure{kCtapInvalidOption};
  const bool uv = user_verified(options, config);
  refuse_pin_uv_auth(params, 8u);

  State state = load_state(config.state_path);
  for (const Credential& credential : state.credentials) {
    if (credential.rp_id == rp_id &&
        std::find(excluded.begin(), excluded.end(), credential.id) != excluded.end()) {
      throw Failure{kCtapCredentialExcluded};
    }
  }

  const common::EvpPkeyPtr key = generate_key(alg);
  Credential credential{random_bytes(32), rp_id, user_id, alg,
                        common::private_key_to_pem(key.get()), 0};
  if (credential.private_key_pem.empty()) throw CryptoError("cannot encode a credential key");

  Bytes auth_data = auth_data_head(rp_id, kFlagUp | kFlagAt | (uv ? kFlagUv : 0), 0);
  auth_data.insert(auth_data.end(), state.aaguid.begin(), state.aaguid.end());
  append_be(auth_data, credential.id.size(), 2);
  auth_data.insert(auth_data.end(), credential.id.begin(), credential.id.end());
  const Bytes cose = cose_public_key(key.get(), alg);
  auth_data.insert(auth_data.end(), cose.begin(), cose.end());
  const Bytes signed_data = concat(auth_data, cdh);

  CborWriter statement;
  if (config.self_attestation) {
    statement.map(2).text("alg").integer(alg).text("sig").bytes(sign(key.get(), alg, signed_data));
  } else {
    const common::EvpPkeyPtr attestation_key = load_key(state.attestation_key_pem);
    const common::X509Ptr certificate = common::certificate_from_pem(state.attestation_cert_pem);
    if (!certificate) throw CryptoError("cannot read the attestation certificate");
    statement.map(3).text("alg").integer(kCoseEs256);
    statement.text("sig").bytes(sign(attestation_key.get(), kCoseEs256, signed_data));
    statement.text("x5c").array(1).bytes(certificate_der(certificate.get()));
  }

  // Persist before answering: a credential the client holds must exist in the file.
  state.credentials.push_back(std::move(credential));
  save_state(config.state_path, state);

  CborWriter out;
  out.map(3).integer(1).text("packed").integer(2).bytes(auth_data);
  out.integer(3).encoded(statement.data());
  return out.take();
}

Bytes get_assertion(const cbor_item_t* params, const Ctap2Config& config) {
  const std::string rp_id = as_text(require(params, 1u));
  const Bytes cdh = client_data_hash(params, 2u);
  const std::vector<Bytes> allowed =
      find(params, 3u) != nullptr ? credential_ids(find(params, 3u)) : std::vector<Bytes>{};
  if (const auto* extensions = find(params, 4u)) as_map(extensions);
  const Options options = read_options(params, 5u);
  const bool uv = user_verified(options, config);
  refuse_pin_uv_auth(params, 6u);

  State state = load_state(config.state_path);
  auto match = std::find_if(state.credentials.begin(), state.credentials.end(),
                            [&](const Credential& credential) {
                              return credential.rp_id == rp_id &&
                                     std::find(allowed.begin(), allowed.end(), credential.id) !=
                                         allowed.end();
                            });
  if (match == state.credentials.end()) throw Failure{kCtapNoCredentials};

  // Presence is automatic, but a client that asks for no presence check gets UP clear.
  const bool up = options.up.value_or(true);
  if (match->sign_count < std::numeric_limits<std::uint32_t>::max()) ++match->sign_count;
  const Bytes auth_data =
      auth_data_head(rp_id, (up ? kFlagUp : 0) | (uv ? kFlagUv : 0), match->sign_count);
  const common::EvpPkeyPtr key = load_key(match->private_key_pem);
  const Bytes signature = sign(key.get(), match->alg, concat(auth_data, cdh));
  const Bytes id = match->id;
  save_state(config.state_path, state);

  CborWriter out;
  out.map(3).integer(1).map(2).text("id").bytes(id).text("type").text("public-key");
  out.integer(2).bytes(auth_data).integer(3).bytes(signature);
  return out.take();
}

Bytes dispatch(std::span<const std::uint8_t> request, const Ctap2Config& config) {
  const std::uint8_t command = request[0];
  if (command == kGetInfo) return get_info(config);
  if (command != kMakeCredential && command != kGetAssertion) throw Failure{kCtapInvalidCommand};

  if (request.size() == 1) throw Failure{kCtapMissingParameter};
  if (!is_well_formed_cbor(request.subspan(1))) throw Failure{kCtapInvalidCbor};
  cbor_load_result result{};
  const CborPtr params(cbor_load(request.data() + 1, request.size() - 1, &result));
  if (!params || result.error.code != CBOR_ERR_NONE || result.read != request.size() - 1) {
    throw Failure{kCtapInvalidCbor};
  }
  as_map(params.get());
  return command == kMakeCredential ? make_credential(params.get(), config)
                                    : get_assertion(params.get(), config);
}

}  // namespace

Bytes handle_ctap2(std::span<const std::uint8_t> request, const Ctap2Config& config) noexcept {
  try {
    if (request.empty() || request.size() > kMaxCtapMessage) return {kCtapInvalidLength};
    Bytes body = dispatch(request, config);
    body.insert(body.begin(), kCtapOk);
    return body;
  } catch (const Failure& failure) {
    return {failure.status};
  } catch (...) {
    // State file unreadable, OpenSSL failure, out of memory: the authenticator survives
    // and says "other", as a real one does on an internal error.
    return {kCtapOther};
  }
}

}  // namespace conduit::soft_fido2
