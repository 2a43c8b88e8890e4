// Replays the Modbus request fuzz corpus through the fuzzer's own check, so that every
// CI run re-verifies what the fuzzer once found (see tests/fuzz/README.md).
#include <catch2/catch.hpp>

#include "../../fuzz/modbus_request_check.hpp"
#include "tests/unit/corpus.hpp"

namespace {

namespace corpus = conduit::test::corpus;

}  // namespace

TEST_CASE("every file of the modbus request corpus passes the fuzzer's check", "[modbus][fuzz]") {
  CHECK(corpus::replay(corpus::dir("modbus_request"), conduit::fuzz::check_modbus_request_stream) >= 20);
}
