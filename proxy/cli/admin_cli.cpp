#include "proxy/cli/admin_cli.hpp"

#include <openssl/rand.h>
#include <openssl/sha.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/exit_codes.hpp"
#include "common/hex.hpp"
#include "common/openssl.hpp"
#include "common/private_file.hpp"
#include "common/unix_time.hpp"
#include "config/load.hpp"
#include "mfa/base64url.hpp"
#include "mfa/client_data.hpp"
#include "mfa/credential_store.hpp"
#include "mfa/fido_verify.hpp"
#include "mfa/key_request.hpp"
#include "mfa/site_ca.hpp"
#include "proxy/client/client_tls.hpp"

namespace conduit::proxy {
namespace {

namespace fs = std::filesystem;
using common::hex_encode;
using common::unix_now;
using nlohmann::json;

struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

mfa::CredentialStore open_store(const AdminOptions& options) {
  std::string message;
  auto store = mfa::CredentialStore::open(options.data_dir / "credentials.db", &message);
  if (!store) throw Failure(message.empty() ? store.error().message() : message);
  return std::move(*store);
}

template <typename T>
T checked(mfa::StoreResult<T> result, mfa::CredentialStore& store, const std::string& what) {
  if (!result) {
    std::string detail = result.error() == mfa::StoreErrc::sqlite_error ? ": " + store.last_error_message() : "";
    throw Failure(what + ": " + result.error().message() + detail);
  }
  if constexpr (!std::is_void_v<T>) return std::move(*result);
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Failure("cannot read " + path.string() + ": " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Never over an existing file or through a symlink, with exactly `mode`; a file that
// cannot be finished is removed.
void write_new(const fs::path& path, const std::string& contents, mode_t mode) {
  auto written = common::write_new_file(path, contents, mode);
  if (written) return;
  if (written.error().step == common::FileStep::create) throw Failure(written.error().message());
  throw Failure("cannot write " + path.string());
}

std::string certificate_fingerprint(const std::string& pem) {
  common::X509Ptr certificate = common::certificate_from_pem(pem);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  unsigned int length = 0;
  X509_digest(certificate.get(), EVP_sha256(), digest, &length);
  return hex_encode(std::string_view(reinterpret_cast<const char*>(digest), length));
}

std::string certificate_serial(const std::string& pem) {
  common::X509Ptr certificate = common::certificate_from_pem(pem);
  const ASN1_INTEGER* serial = X509_get0_serialNumber(certificate.get());
  std::string bytes(reinterpret_cast<const char*>(ASN1_STRING_get0_data(serial)), ASN1_STRING_length(serial));
  while (!bytes.empty() && bytes.front() == '\0') bytes.erase(0, 1);
  return hex_encode(bytes);
}

// One request line to the running gateway, one reply line back.
json ask_gateway(const AdminOptions& options, const json& request) {
  fs::path path = options.socket.empty() ? options.data_dir / "admin.sock" : options.socket;
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (fd < 0 || path.string().size() >= sizeof address.sun_path) throw Failure("bad admin socket path " + path.string());
  std::strcpy(address.sun_path, path.c_str());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    int err = errno;
    ::close(fd);
    throw Failure("cannot reach the gateway's admin socket " + path.string() + ": " + std::strerror(err) +
                  " (is `conduit serve` running? this needs root)");
  }
  // A gateway that accepts and never answers must not hang an admin's shell.
  timeval timeout{30, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  std::string line = request.dump() + "\n";
  bool sent = ::send(fd, line.data(), line.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(line.size());
  std::string reply;
  char buffer[4096];
  for (ssize_t n; sent && (n = ::read(fd, buffer, sizeof buffer)) > 0;) reply.append(buffer, static_cast<std::size_t>(n));
  ::close(fd);
  json parsed = json::parse(reply, nullptr, false);
  if (!parsed.is_object()) throw Failure("the gateway refused the admin connection (root only)");
  if (!parsed.value("ok", false)) throw Failure("refused by the gateway: " + parsed.value("error", std::string("unknown error")));
  return parsed;
}

template <typename Function>
int guarded(Function function) {
  try {
    return function();
  } catch (const config::ConfigError& e) {
    std::cerr << e.what() << "\n";
    return common::kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return common::kExitFailure;
  }
}

}  // namespace

int user_add(const AdminOptions& options) {
  return guarded([&] {
    auto store = open_store(options);
    checked(store.add_user({options.name, options.roles, false, unix_now()}), store, "cannot add user " + options.name);
    std::cout << "user " << options.name << " added";
    if (!options.roles.empty()) std::cout << " with roles " << json(options.roles).dump();
    std::cout << "\n";
    return common::kExitOk;
  });
}

int user_list(const AdminOptions& options) {
  return guarded([&] {
    auto store = open_store(options);
    for (const auto& user : checked(store.users(), store, "cannot list users")) {
      auto keys = checked(store.credentials_of(user.name), store, "cannot list keys");
      std::cout << user.name << (user.disabled ? " (revoked)" : "") << " roles=" << json(user.roles).dump()
                << " keys=" << keys.size() << "\n";
    }
    return common::kExitOk;
  });
}

int device_request(const AdminOptions& options) {
  return guarded([&] {
    fs::path dir = options.out.empty() ? default_client_file("") : options.out;
    fs::create_directories(dir);
    mfa::KeyRequest made = mfa::make_key_request(options.name);
    write_new(dir / "device.key", made.private_key_pem, 0600);
    write_new(dir / "device.csr", made.csr_pem, 0644);
    std::cout << "device key: " << (dir / "device.key").string() << " (stays on this machine)\n"
              << "request:    " << (dir / "device.csr").string() << " (give it to the plant admin)\n";
    return common::kExitOk;
  });
}

int device_enroll(const AdminOptions& options) {
  return guarded([&] {
    auto ca = mfa::SiteCa::open(options.data_dir);
    auto store = open_store(options);
    std::string pem = ca.issue_device_from_request(options.name, read_file(options.csr),
                                                   std::chrono::days(options.days ? options.days : 365));
    mfa::StoredDevice device{options.name, certificate_serial(pem), certificate_fingerprint(pem), options.users,
                             unix_now(), false};
    auto existing = store.find_device(options.name);
    if (existing) {
      checked(store.set_device_certificate(options.name, device.certificate_serial, device.certificate_sha256), store,
              "cannot update device " + options.name);
      for (const std::string& user : options.users) checked(store.bind_user(options.name, user), store, "cannot bind " + user);
    } else {
      checked(store.add_device(device), store, "cannot enroll device " + options.name);
    }
    fs::path out = options.out.empty() ? fs::path(options.name + ".crt") : options.out;
    write_new(out, pem, 0644);
    std::cout << "device " << options.name << " enrolled; users " << json(options.users).dump() << "\ncertificate: "
              << out.string() << " (copy it to the device as device.crt, with " << ca.certificate_path().string()
              << " as ca.crt)\n";
    return common::kExitOk;
  });
}

int key_enroll(const AdminOptions& options) {
  return guarded([&] {
    config::Config config = config::load_file(options.config_file, options.data_dir.empty() ? std::nullopt
                                                                                            : std::optional(options.data_dir));
    if (!config.auth.enabled) throw Failure(options.config_file.string() + " has no \"auth\" section");
    AdminOptions local = options;
    local.data_dir = config.gateway.data_dir;
    auto store = open_store(local);
    auto user = checked(store.find_user(options.name), store, "no user " + options.name);
    std::vector<std::string> existing;
    for (const auto& key : checked(store.credentials_of(user.name), store, "cannot list keys")) existing.push_back(key.id);
    unsigned char random[32];
    RAND_bytes(random, sizeof random);
    std::string challenge = mfa::base64url_encode(std::string_view(reinterpret_cast<const char*>(random), sizeof random));
    std::string client_data = mfa::client_data_json({std::string(mfa::kEnrollType), challenge, config.auth.rp_id, "", ""});
    mfa::KeyOptions key = options.key;
    key.user_verification = config.auth.require_user_verification;
    std::cerr << "Touch the security key to enroll it for " << user.name << "...\n";
    mfa::Attestation attestation = mfa::make_credential(key, config.auth.rp_id, user.name, client_data, existing);
    std::string roots = config.auth.attestation_roots.empty() ? "" : read_file(config.auth.attestation_roots);
    auto verified = mfa::verify_attestation(
        attestation, {config.auth.rp_id, config.auth.require_user_verification, config.auth.aaguids, roots});
    if (!verified) throw Failure("key refused: " + verified.error().message());
    checked(store.add_credential({verified->id, user.name, verified->cose_alg, verified->public_key,
                                  verified->sign_count, verified->aaguid, unix_now(), 0, false}),
            store, "cannot store the key");
    std::cout << "key " << hex_encode(verified->id) << " enrolled for " << user.name << " (AAGUID "
              << hex_encode(verified->aaguid) << ")\n";
    return common::kExitOk;
  });
}

int key_code(const AdminOptions& options) {
  return guarded([&] {
    auto store = open_store(options);
    unsigned char random[8];
    if (RAND_bytes(random, sizeof random) != 1) throw Failure("no randomness");
    std::string hex = hex_encode(std::string_view(reinterpret_cast<const char*>(random), sizeof random));
    std::string code = hex.substr(0, 4) + "-" + hex.substr(4, 4) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4);
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(code.data()), code.size(), digest);
    std::int64_t expires = unix_now() + std::int64_t{options.hours} * 3600;
    checked(store.add_enrollment_code(std::string_view(reinterpret_cast<const char*>(digest), sizeof digest), options.name,
                                      expires),
            store, "cannot store the code");
    std::cout << code << "\n";
    std::cerr << "one-time enrollment code for " << options.name << ", valid " << options.hours
              << " h; on an enrolled device: conduit login --enroll CODE --gateway HOST:PORT\n";
    return common::kExitOk;
  });
}

int key_list(const AdminOptions& options) {
  return guarded([&] {
    auto store = open_store(options);
    for (const auto& key : checked(store.credentials_of(options.name), store, "cannot list keys")) {
      std::cout << hex_encode(key.id) << " aaguid=" << hex_encode(key.aaguid) << " counter=" << key.sign_count
                << (key.revoked ? " (revoked)" : "") << "\n";
    }
    return common::kExitOk;
  });
}

int revoke(const AdminOptions& options) {
  return guarded([&] {
    json reply = ask_gateway(options, {{"command", "revoke"}, {"kind", options.kind}, {"id", options.name},
                                       {"reason", options.reason}});
    std::cout << options.kind << " " << options.name << " revoked; live sessions closed: " << reply["sessions_closed"]
              << "\n";
    return common::kExitOk;
  });
}

int lockdown(const AdminOptions& options) {
  return guarded([&] {
    json reply = ask_gateway(options, {{"command", "lockdown"}, {"role", options.role}, {"asset", options.asset},
                                       {"reason", options.reason}});
    std::cout << "lockdown " << reply["lockdown"] << " in force (role " << (options.role.empty() ? "*" : options.role)
              << ", assets " << (options.asset.empty() ? "*" : options.asset)
              << "); live sessions closed: " << reply["sessions_closed"] << "\n";
    return common::kExitOk;
  });
}

int lockdown_lift(const AdminOptions& options) {
  return guarded([&] {
    json reply = ask_gateway(options, {{"command", "lockdown_lift"}});
    std::cout << "lockdowns lifted: " << reply["lifted"] << "\n";
    return common::kExitOk;
  });
}

int admin_stats(const AdminOptions& options) {
  return guarded([&] {
    json reply = ask_gateway(options, {{"command", "stats"}});
    const json& counters = reply.at("counters");
    if (options.json) {
      std::cout << counters.dump(2) << "\n";
      return common::kExitOk;
    }
    std::size_t width = 0;
    for (const auto& [name, value] : counters.items()) width = std::max(width, name.size());
    for (const auto& [name, value] : counters.items()) {  // nlohmann keeps keys sorted
      std::cout << name << std::string(width + 2 - name.size(), ' ') << value.get<std::uint64_t>() << "\n";
    }
    return common::kExitOk;
  });
}

int admin_status(const AdminOptions& options) {
  return guarded([&] {
    json reply = ask_gateway(options, {{"command", "status"}});
    std::cout << reply.dump(2) << "\n";
    return common::kExitOk;
  });
}

}  // namespace conduit::proxy
