#include "proxy/client/login.hpp"

#include <sys/types.h>

#include <ctime>
#include <iostream>
#include <stdexcept>

#include "common/exit_codes.hpp"
#include "common/private_file.hpp"
#include "mfa/auth_messages.hpp"
#include "mfa/client_data.hpp"
#include "mfa/key_request.hpp"
#include "proxy/client/auth_client.hpp"

namespace conduit::proxy {
namespace {

namespace fs = std::filesystem;

// Replaces `path` atomically (a tunnel reading it sees the old or the new file, never
// half of one); the new file has exactly `mode` from its first byte. The message names the
// temporary file if that could not be created, else `path`.
void replace_file(const fs::path& path, const std::string& contents, mode_t mode) {
  auto replaced = common::replace_file(path, contents, mode);
  if (replaced) return;
  const common::FileError& error = replaced.error();
  const fs::path& named = error.step == common::FileStep::create ? error.path : path;
  throw std::runtime_error("cannot write " + named.string() + ": " + error.code.message());
}

struct Client {
  GatewayAddress gateway;
  fs::path dir;
  std::shared_ptr<boost::asio::ssl::context> tls;
};

Client device_client(const LoginOptions& options) {
  auto gateway = parse_gateway(options.gateway);
  if (!gateway) throw std::invalid_argument("--gateway \"" + options.gateway + "\" is not host:port");
  fs::path dir = options.dir.empty() ? default_client_file("") : options.dir;
  if (dir.empty()) throw std::invalid_argument("no --dir given, and neither XDG_CONFIG_HOME nor HOME is set");
  LoadedContext loaded = load_client_context({dir / "device.crt", dir / "device.key", dir / "ca.crt", options.dir.empty()});
  if (!loaded.context) throw std::invalid_argument(loaded.error + " (enroll this device first: conduit device request)");
  return {*gateway, dir, loaded.context};
}

mfa::ChallengeReply ask_challenge(Client& client, const mfa::ChallengeRequest& request) {
  auto reply = mfa::decode_challenge_reply(post_json_ok(client.gateway, *client.tls, "/v1/challenge", mfa::encode(request)));
  if (!reply) throw std::runtime_error("the gateway's challenge reply is malformed");
  return *reply;
}

// Touch, then exchange the assertion for a certificate of a fresh key.
mfa::CertificateReply touch_for_certificate(const GatewayAddress& gateway, boost::asio::ssl::context& tls,
                                            const mfa::ChallengeReply& challenge, std::string_view type,
                                            const std::string& asset, const mfa::KeyOptions& key,
                                            mfa::KeyRequest& made) {
  made = mfa::make_key_request("conduit-login");
  std::string client_data = mfa::client_data_json(
      {std::string(type), challenge.challenge, challenge.rp_id, mfa::csr_key_digest(made.csr_pem), asset});
  mfa::KeyOptions options = key;
  options.user_verification = challenge.user_verification;
  std::cerr << "Touch your security key" << (asset.empty() ? "" : " to open " + asset) << "...\n";
  mfa::SignedAssertion signed_assertion = mfa::get_assertion(options, challenge.rp_id, client_data, challenge.credential_ids);
  mfa::CertificateRequest request{challenge.challenge, signed_assertion.credential_id, signed_assertion.assertion,
                                  made.csr_pem};
  std::string_view target = type == mfa::kSessionType ? "/v1/session" : "/v1/login";
  auto reply = mfa::decode_certificate_reply(post_json_ok(gateway, tls, target, mfa::encode(request)));
  if (!reply) throw std::runtime_error("the gateway's certificate reply is malformed");
  return *reply;
}

std::string local_time(std::int64_t unix_seconds) {
  std::time_t time = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  localtime_r(&time, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M %Z", &tm);
  return text;
}

int login(const LoginOptions& options) {
  if (options.user.empty()) throw std::invalid_argument("--user is required to log in");
  Client client = device_client(options);
  mfa::ChallengeReply challenge = ask_challenge(client, {mfa::Purpose::login, options.user, "", ""});
  mfa::KeyRequest made;
  mfa::CertificateReply reply =
      touch_for_certificate(client.gateway, *client.tls, challenge, mfa::kLoginType, "", options.key, made);
  replace_file(client.dir / "client.key", made.private_key_pem, 0600);
  replace_file(client.dir / "client.crt", reply.issued.certificate_pem, 0644);
  std::cout << "logged in as " << reply.issued.user << " until " << local_time(reply.issued.not_after)
            << "\ncertificate: " << (client.dir / "client.crt").string() << "\n";
  return common::kExitOk;
}

int enroll(const LoginOptions& options) {
  Client client = device_client(options);
  mfa::ChallengeReply challenge = ask_challenge(client, {mfa::Purpose::enroll, "", "", options.enrollment_code});
  std::string client_data = mfa::client_data_json({std::string(mfa::kEnrollType), challenge.challenge, challenge.rp_id, "", ""});
  mfa::KeyOptions key = options.key;
  key.user_verification = challenge.user_verification;
  std::cerr << "Touch your new security key to enroll it for " << challenge.user << "...\n";
  mfa::Attestation attestation =
      mfa::make_credential(key, challenge.rp_id, challenge.user, client_data, challenge.credential_ids);
  auto enrolled = mfa::decode_enrolled_key(
      post_json_ok(client.gateway, *client.tls, "/v1/enroll", mfa::encode(mfa::EnrollRequest{challenge.challenge, attestation})));
  if (!enrolled) throw std::runtime_error("the gateway's enrollment reply is malformed");
  std::cout << "key " << enrolled->key_id << " enrolled for " << enrolled->user << " (AAGUID " << enrolled->aaguid
            << "); now run: conduit login --gateway " << options.gateway << " --user " << enrolled->user << "\n";
  return common::kExitOk;
}

}  // namespace

int run_login(const LoginOptions& options) {
  try {
    return options.enrollment_code.empty() ? login(options) : enroll(options);
  } catch (const std::invalid_argument& e) {
    std::cerr << "error: " << e.what() << "\n";
    return common::kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return common::kExitFailure;
  }
}

SessionCertificate request_session_certificate(const GatewayAddress& auth, boost::asio::ssl::context& tls,
                                               const std::string& user, const std::string& asset,
                                               const mfa::KeyOptions& key) {
  auto challenge = mfa::decode_challenge_reply(
      post_json_ok(auth, tls, "/v1/challenge", mfa::encode(mfa::ChallengeRequest{mfa::Purpose::session, user, asset, ""})));
  if (!challenge) throw std::runtime_error("the gateway's challenge reply is malformed");
  mfa::KeyRequest made;
  mfa::CertificateReply reply = touch_for_certificate(auth, tls, *challenge, mfa::kSessionType, asset, key, made);
  return {reply.issued.certificate_pem, made.private_key_pem};
}

}  // namespace conduit::proxy
