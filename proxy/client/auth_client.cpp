#include "proxy/client/auth_client.hpp"

#include <openssl/ssl.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <stdexcept>

#include "mfa/auth_messages.hpp"

// GCC 12 reports a false -Wmismatched-new-delete on Asio coroutine frames here.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace conduit::proxy {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using asio::ip::tcp;
constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);

struct Exchange {
  ApiReply reply;
  std::string error;  // empty on success
};

asio::awaitable<void> exchange(const GatewayAddress& gateway, asio::ssl::context& tls, std::string_view target,
                               const std::string& body, Exchange& out) {
  auto executor = co_await asio::this_coro::executor;
  tcp::resolver resolver(executor);
  auto [resolve_error, endpoints] = co_await resolver.async_resolve(gateway.host, std::to_string(gateway.port), kUseTuple);
  if (resolve_error) {
    out.error = "cannot resolve " + gateway.host + ": " + resolve_error.message();
    co_return;
  }
  asio::ssl::stream<tcp::socket> stream(executor, tls);
  auto [connect_error, connected] = co_await asio::async_connect(stream.next_layer(), endpoints, kUseTuple);
  (void)connected;
  if (connect_error) {
    out.error = "cannot connect: " + connect_error.message();
    co_return;
  }
  if (!expect_gateway_identity(stream.native_handle(), gateway)) {
    out.error = "cannot set the expected gateway name";
    co_return;
  }
  auto [handshake_error] = co_await stream.async_handshake(asio::ssl::stream_base::client, kUseTuple);
  if (handshake_error) {
    long verify = SSL_get_verify_result(stream.native_handle());
    out.error = verify != X509_V_OK ? std::string("gateway certificate rejected: ") + X509_verify_cert_error_string(verify)
                                    : "TLS handshake failed (is this device's certificate from the site CA, and not revoked?): " +
                                          handshake_error.message();
    co_return;
  }
  http::request<http::string_body> request(http::verb::post, target, 11);
  request.set(http::field::host, gateway.host);
  request.set(http::field::content_type, "application/json");
  request.body() = body;
  request.prepare_payload();
  auto [write_error, written] = co_await http::async_write(stream, request, kUseTuple);
  (void)written;
  if (write_error) {
    out.error = "cannot send the request: " + write_error.message();
    co_return;
  }
  boost::beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(256 * 1024);
  auto [read_error, read] = co_await http::async_read(stream, buffer, parser, kUseTuple);
  (void)read;
  if (read_error) {
    out.error = "no answer: " + read_error.message();
    co_return;
  }
  // The gateway closes after one reply; nothing more to wait for.
  out.reply = {parser.get().result_int(), parser.get().body()};
}

}  // namespace

ApiReply post_json(const GatewayAddress& gateway, asio::ssl::context& tls, std::string_view target,
                   const std::string& body, std::chrono::seconds timeout) {
  asio::io_context context(1);
  Exchange result;
  bool finished = false;
  asio::co_spawn(context, exchange(gateway, tls, target, body, result), [&finished](std::exception_ptr) {
    finished = true;
  });
  context.run_for(timeout);
  if (!finished) throw std::runtime_error("auth API at " + gateway.text() + ": no answer within " +
                                          std::to_string(timeout.count()) + " s");
  if (!result.error.empty()) throw std::runtime_error("auth API at " + gateway.text() + ": " + result.error);
  return result.reply;
}

std::string post_json_ok(const GatewayAddress& gateway, asio::ssl::context& tls, std::string_view target,
                         const std::string& body) {
  ApiReply reply = post_json(gateway, tls, target, body);
  if (reply.status != 200) throw std::runtime_error("refused by the gateway: " + mfa::error_message(reply.body));
  return reply.body;
}

}  // namespace conduit::proxy
