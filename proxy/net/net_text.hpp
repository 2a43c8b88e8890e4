// Endpoints as text for logs: "127.0.0.1:802", "[::1]:802".
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <string>

namespace conduit::proxy {

inline std::string endpoint_text(const boost::asio::ip::tcp::endpoint& endpoint) {
  auto address = endpoint.address();
  std::string host = address.to_string();
  return (address.is_v6() ? "[" + host + "]" : host) + ":" + std::to_string(endpoint.port());
}

inline std::string remote_text(const boost::asio::ip::tcp::socket& socket) {
  boost::system::error_code ec;
  auto endpoint = socket.remote_endpoint(ec);
  return ec ? "unknown" : endpoint_text(endpoint);
}

}  // namespace conduit::proxy
