#include "proxy/control/auth_server.hpp"

// GCC 12 reports a false -Wmismatched-new-delete on the coroutine frame of
// serve_auth_connection (Asio's frame operator new/delete are a matched pair).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

#include <openssl/ssl.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>
#include <memory>

#include "common/unix_time.hpp"
#include "mfa/auth_messages.hpp"
#include "mfa/certificate_identity.hpp"
#include "proxy/net/event_log.hpp"
#include "proxy/net/net_text.hpp"

namespace conduit::proxy {
namespace {

namespace asio = boost::asio;
using common::unix_now;
namespace http = boost::beast::http;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;
constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
// A person touches a key between two requests, not during one: each request is quick.
constexpr auto kRequestTimeout = std::chrono::seconds(10);
constexpr std::size_t kBodyLimit = 64 * 1024;

struct Outcome {
  http::status status = http::status::ok;
  std::string body;
};

Outcome refused(mfa::AuthError error) {
  auto code = make_error_code(error);
  return {http::status::forbidden, mfa::encode_error(mfa::auth_error_name(error), code.message())};
}

Outcome malformed() {
  return {http::status::bad_request, mfa::encode_error("request_invalid", "malformed request")};
}

struct Context {
  ControlState& state;
  mfa::Peer peer;
  std::string peer_address;
};

void log_refusal(const Context& context, std::string_view what, std::string_view user, mfa::AuthError error) {
  log_event(LogLevel::warn, "auth_refused",
            {{"request", what}, {"device", context.peer.device}, {"user", user}, {"peer", context.peer_address},
             {"error", mfa::auth_error_name(error)}, {"reason", make_error_code(error).message()}});
  if (error == mfa::AuthError::counter_regression) {
    log_event(LogLevel::error, "fido_clone_suspected",
              {{"device", context.peer.device}, {"user", user}, {"peer", context.peer_address},
               {"hint", "two copies of this key exist; revoke it: conduit revoke key ID"}});
  }
}

Outcome challenge(Context& context, std::string_view body) {
  auto request = mfa::decode_challenge_request(body);
  if (!request) return malformed();
  if (request->purpose == mfa::Purpose::session &&
      !context.state.gateway.snapshot.load()->config.find_asset(request->asset)) {
    log_refusal(context, "challenge", request->user, mfa::AuthError::asset_unknown);
    return refused(mfa::AuthError::asset_unknown);
  }
  auto reply = context.state.auth->challenge(context.peer, *request, std::chrono::steady_clock::now(), unix_now());
  if (!reply) {
    auto error = static_cast<mfa::AuthError>(reply.error().value());
    log_refusal(context, "challenge", request->user, error);
    return refused(error);
  }
  log_event(LogLevel::info, "auth_challenge",
            {{"purpose", mfa::to_string(request->purpose)}, {"device", context.peer.device},
             {"user", reply->user}, {"asset", request->asset}, {"peer", context.peer_address}});
  return {http::status::ok, mfa::encode(*reply)};
}

Outcome certificate(Context& context, std::string_view body, mfa::Purpose purpose) {
  auto request = mfa::decode_certificate_request(body);
  if (!request) return malformed();
  auto issued = context.state.auth->certificate(context.peer, *request, purpose, std::chrono::steady_clock::now(),
                                                unix_now());
  std::string_view what = purpose == mfa::Purpose::session ? "session" : "login";
  if (!issued) {
    auto error = static_cast<mfa::AuthError>(issued.error().value());
    log_refusal(context, what, "", error);
    return refused(error);
  }
  log_event(LogLevel::info, purpose == mfa::Purpose::session ? "auth_session_granted" : "auth_login",
            {{"device", context.peer.device}, {"user", issued->user}, {"key", issued->key_id},
             {"assertion", issued->assertion_id}, {"not_after", issued->not_after}, {"peer", context.peer_address}});
  return {http::status::ok, mfa::encode(*issued, context.state.ca->certificate_pem())};
}

Outcome enroll(Context& context, std::string_view body) {
  auto request = mfa::decode_enroll_request(body);
  if (!request) return malformed();
  auto enrolled = context.state.auth->enroll(context.peer, *request, std::chrono::steady_clock::now(), unix_now());
  if (!enrolled) {
    auto error = static_cast<mfa::AuthError>(enrolled.error().value());
    log_refusal(context, "enroll", "", error);
    return refused(error);
  }
  log_event(LogLevel::info, "auth_key_enrolled",
            {{"device", context.peer.device}, {"user", enrolled->user}, {"key", enrolled->key_id},
             {"aaguid", enrolled->aaguid}, {"peer", context.peer_address}});
  return {http::status::ok, mfa::encode(*enrolled)};
}

Outcome route(Context& context, const Request& request) {
  if (request.method() != http::verb::post) {
    return {http::status::method_not_allowed, mfa::encode_error("request_invalid", "POST only")};
  }
  std::string_view target = request.target();
  std::string_view body = request.body();
  if (target == "/v1/challenge") return challenge(context, body);
  if (target == "/v1/login") return certificate(context, body, mfa::Purpose::login);
  if (target == "/v1/session") return certificate(context, body, mfa::Purpose::session);
  if (target == "/v1/enroll") return enroll(context, body);
  return {http::status::not_found, mfa::encode_error("request_invalid", "no such endpoint")};
}

}  // namespace

asio::awaitable<void> serve_auth_connection(asio::ip::tcp::socket socket, asio::ssl::context& tls,
                                            ControlState& state) {
  Context context{state, {}, remote_text(socket)};
  asio::ssl::stream<asio::ip::tcp::socket> stream(std::move(socket), tls);
  // One deadline for the whole exchange; closing the socket aborts whatever is pending.
  // `live` guards against a deadline that fired just as the exchange ended: its handler
  // may still be queued after this frame is gone (one thread, so a plain flag suffices).
  auto live = std::make_shared<bool>(true);
  asio::steady_timer deadline(stream.get_executor());
  deadline.expires_after(kRequestTimeout);
  deadline.async_wait([&stream, live](boost::system::error_code ec) {
    if (!ec && *live) stream.next_layer().close(ec);
  });
  struct EndOfExchange {
    std::shared_ptr<bool> live;
    asio::steady_timer& deadline;
    ~EndOfExchange() {
      *live = false;
      deadline.cancel();
    }
  } end_of_exchange{live, deadline};

  auto [handshake_error] = co_await stream.async_handshake(asio::ssl::stream_base::server, kUseTuple);
  if (handshake_error) {
    log_event(LogLevel::warn, "auth_tls_failed", {{"peer", context.peer_address}, {"reason", handshake_error.message()}});
    co_return;
  }
  auto identity = mfa::identity_from_certificate(SSL_get0_peer_certificate(stream.native_handle()));
  context.peer = {identity.device, identity.serial};

  boost::beast::flat_buffer buffer(8 * 1024);
  http::request_parser<http::string_body> parser;
  parser.body_limit(kBodyLimit);
  parser.header_limit(8 * 1024);
  auto [read_error, read] = co_await http::async_read(stream, buffer, parser, kUseTuple);
  (void)read;
  Outcome outcome = read_error ? Outcome{http::status::bad_request, mfa::encode_error("request_invalid", "unreadable request")}
                               : route(context, parser.get());
  Response response(outcome.status, 11);
  response.set(http::field::content_type, "application/json");
  response.set(http::field::connection, "close");
  response.body() = std::move(outcome.body);
  response.prepare_payload();
  auto [write_error, written] = co_await http::async_write(stream, response, kUseTuple);
  (void)written;
  if (!write_error) co_await stream.async_shutdown(kUseTuple);
}

}  // namespace conduit::proxy
