#include "mfa/client_data.hpp"

#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <nlohmann/json.hpp>

#include "common/openssl.hpp"
#include "mfa/base64url.hpp"

namespace conduit::mfa {

using common::BioPtr;
using common::EvpPkeyPtr;
using common::OpensslBytesFree;
using common::OpensslFree;


std::string client_data_json(const ClientData& data) {
  nlohmann::json json = {{"type", data.type}, {"challenge", data.challenge}, {"rp_id", data.rp_id}};
  if (!data.key.empty()) json["key"] = data.key;
  if (!data.asset.empty()) json["asset"] = data.asset;
  return json.dump();
}

std::optional<ClientData> parse_client_data(std::string_view text) {
  nlohmann::json json = nlohmann::json::parse(text, nullptr, false);
  if (!json.is_object()) return std::nullopt;
  ClientData data;
  auto field = [&json](const char* key, std::string& out, bool required) {
    auto it = json.find(key);
    if (it == json.end()) return !required;
    if (!it->is_string()) return false;
    out = it->get<std::string>();
    return true;
  };
  if (!field("type", data.type, true) || !field("challenge", data.challenge, true) ||
      !field("rp_id", data.rp_id, true) || !field("key", data.key, false) || !field("asset", data.asset, false)) {
    return std::nullopt;
  }
  return data;
}

std::string csr_key_digest(std::string_view csr_pem) {
  BioPtr bio(BIO_new_mem_buf(csr_pem.data(), static_cast<int>(csr_pem.size())));
  std::unique_ptr<X509_REQ, OpensslFree<X509_REQ_free>> request(
      bio ? PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!request) return {};
  EvpPkeyPtr key(X509_REQ_get_pubkey(request.get()));
  unsigned char* der = nullptr;
  int length = key ? i2d_PUBKEY(key.get(), &der) : 0;
  std::unique_ptr<unsigned char, OpensslBytesFree> owned(der);
  if (length <= 0) return {};
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(der, static_cast<std::size_t>(length), digest);
  return base64url_encode(std::string_view(reinterpret_cast<const char*>(digest), sizeof digest));
}

}  // namespace conduit::mfa
