#include "tests/support/soft_fido2/state.hpp"

#include <stdlib.h>  // mkstemp
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>

#include <nlohmann/json.hpp>

namespace conduit::soft_fido2 {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr std::string_view kBase64Url =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

[[noreturn]] void fail(const fs::path& path, const std::string& what) {
  throw StateError("state file " + path.string() + ": " + what);
}

Bytes decode_field(const fs::path& path, const json& item, const char* name) {
  auto bytes = base64url_decode(item.at(name).get<std::string>());
  if (!bytes) fail(path, std::string("\"") + name + "\" is not base64url");
  return *bytes;
}

State from_json(const fs::path& path, const json& document) {
  State state;
  const auto aaguid = aaguid_from_hex(document.at("aaguid").get<std::string>());
  if (!aaguid) fail(path, "\"aaguid\" must be 32 hex digits");
  state.aaguid = *aaguid;
  state.attestation_key_pem = document.value("attestation_key_pem", "");
  state.attestation_cert_pem = document.value("attestation_cert_pem", "");
  for (const json& item : document.value("credentials", json::array())) {
    Credential credential;
    credential.id = decode_field(path, item, "id");
    credential.rp_id = item.at("rp_id").get<std::string>();
    credential.user_id = decode_field(path, item, "user_id");
    credential.alg = item.at("alg").get<int>();
    credential.private_key_pem = item.at("private_key_pem").get<std::string>();
    // Read wide and range-check: a test typing -1 must get an error, not 4294967295.
    const auto count = item.at("sign_count").get<std::int64_t>();
    if (count < 0 || count > std::numeric_limits<std::uint32_t>::max()) {
      fail(path, "\"sign_count\" must fit 32 bits unsigned");
    }
    credential.sign_count = static_cast<std::uint32_t>(count);
    state.credentials.push_back(std::move(credential));
  }
  return state;
}

json to_json(const State& state) {
  json credentials = json::array();
  for (const Credential& credential : state.credentials) {
    credentials.push_back({{"id", base64url_encode(credential.id)},
                           {"rp_id", credential.rp_id},
                           {"user_id", base64url_encode(credential.user_id)},
                           {"alg", credential.alg},
                           {"private_key_pem", credential.private_key_pem},
                           {"sign_count", credential.sign_count}});
  }
  return {{"aaguid", hex_encode(state.aaguid)},
          {"attestation_key_pem", state.attestation_key_pem},
          {"attestation_cert_pem", state.attestation_cert_pem},
          {"credentials", std::move(credentials)}};
}

void write_fully(int fd, const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw StateError(std::strerror(errno));
    done += static_cast<std::size_t>(n);
  }
}

void issue_attestation(State& state) {
  const common::EvpPkeyPtr key = generate_key(kCoseEs256);
  const common::X509Ptr certificate = make_attestation_certificate(key.get(), state.aaguid);
  state.attestation_key_pem = common::private_key_to_pem(key.get());
  state.attestation_cert_pem = common::certificate_to_pem(certificate.get());
  if (state.attestation_key_pem.empty() || state.attestation_cert_pem.empty()) {
    throw CryptoError("cannot encode the attestation key or certificate as PEM");
  }
}

}  // namespace

State load_state(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, "cannot open for reading");
  try {
    return from_json(path, json::parse(in));
  } catch (const json::exception& e) {
    fail(path, e.what());
  }
}

void save_state(const fs::path& path, const State& state) {
  const std::string text = to_json(state).dump(2) + "\n";
  std::string temp = (path.parent_path() / (path.filename().string() + ".XXXXXX")).string();
  // mkstemp creates the file with mode 0600, so the keys are never readable by others.
  const int fd = ::mkstemp(temp.data());
  if (fd < 0) fail(path, std::string("cannot create a temporary file: ") + std::strerror(errno));
  try {
    write_fully(fd, text);
    if (::fsync(fd) != 0) throw StateError(std::strerror(errno));
  } catch (const StateError& e) {
    ::close(fd);
    ::unlink(temp.c_str());
    fail(path, std::string("cannot write: ") + e.what());
  }
  ::close(fd);
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(temp.c_str());
    fail(path, std::string("cannot replace: ") + std::strerror(err));
  }
}

State prepare_state(const fs::path& path, const std::optional<Aaguid>& aaguid,
                    const Aaguid& fallback) {
  std::error_code error;
  const bool exists = fs::exists(path, error);
  State state;
  if (exists) {
    state = load_state(path);
  } else {
    state.aaguid = aaguid.value_or(fallback);
  }
  bool changed = !exists;
  if (aaguid && *aaguid != state.aaguid) {
    state.aaguid = *aaguid;
    state.attestation_key_pem.clear();
    changed = true;
  }
  if (state.attestation_key_pem.empty() || state.attestation_cert_pem.empty()) {
    issue_attestation(state);
    changed = true;
  }
  if (changed) save_state(path, state);
  return state;
}

std::string base64url_encode(std::span<const std::uint8_t> bytes) {
  std::string out;
  std::uint32_t buffer = 0;
  int bits = 0;
  for (const std::uint8_t byte : bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kBase64Url[(buffer >> bits) & 0x3f]);
    }
  }
  if (bits > 0) out.push_back(kBase64Url[(buffer << (6 - bits)) & 0x3f]);
  return out;
}

std::optional<Bytes> base64url_decode(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;  // no whole byte ends there
  Bytes out;
  std::uint32_t buffer = 0;
  int bits = 0;
  for (const char c : text) {
    const std::size_t value = kBase64Url.find(c);
    if (value == std::string_view::npos) return std::nullopt;
    buffer = (buffer << 6) | static_cast<std::uint32_t>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>(buffer >> bits));
    }
  }
  return out;
}

std::string hex_encode(std::span<const std::uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (const std::uint8_t byte : bytes) {
    out.push_back(kDigits[byte >> 4]);
    out.push_back(kDigits[byte & 0x0f]);
  }
  return out;
}

std::optional<Aaguid> aaguid_from_hex(std::string_view text) {
  Aaguid out{};
  if (text.size() != 2 * out.size()) return std::nullopt;
  auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int high = digit(text[2 * i]);
    const int low = digit(text[2 * i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    out[i] = static_cast<std::uint8_t>(high << 4 | low);
  }
  return out;
}

}  // namespace conduit::soft_fido2
