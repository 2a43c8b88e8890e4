// base64url without padding (RFC 4648 §5), as WebAuthn and our auth API use it for
// challenges, credential ids and signatures. Decoding is strict: any character outside
// the alphabet, padding, or an impossible length gives nullopt. (Hex is common/hex.hpp.)
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace conduit::mfa {

std::string base64url_encode(std::string_view bytes);
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace conduit::mfa
