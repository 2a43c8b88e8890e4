#include "audit/export_error.hpp"

#include <stdexcept>

namespace conduit::audit {

void throw_exception_from_error(const ExportError& error, const boost::source_location&) {
  throw std::runtime_error(error.message);
}

ExportError export_error(const ReadResult& stop) {
  return ExportError{stop.status, stop.record_index, stop.offset, stop.message};
}

}  // namespace conduit::audit
