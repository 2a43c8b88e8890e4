#include "audit/export_jsonl.hpp"

#include <nlohmann/json.hpp>

#include "common/hex.hpp"

namespace conduit::audit {

namespace {

// ordered_json keeps keys in insertion order: index and type first reads better than
// nlohmann's default alphabetical order.
using Json = nlohmann::ordered_json;

const char* direction_name(Direction d) { return d == Direction::client_to_asset ? "client_to_asset" : "asset_to_client"; }

const char* decision_name(RecordedDecision d) {
  switch (d) {
    case RecordedDecision::allow:
      return "allow";
    case RecordedDecision::deny:
      return "deny";
    case RecordedDecision::none:
      break;
  }
  return "none";
}

Json to_json(const Record& record) {
  Json j;
  j["index"] = record.index;
  j["offset"] = record.offset;
  if (const auto* h = std::get_if<Header>(&record.body)) {
    j["type"] = "header";
    j["session_id"] = h->session_id;
    j["gateway_id"] = h->gateway_id;
    j["user"] = h->user;
    j["device"] = h->device;
    j["role"] = h->role;
    j["asset"] = h->asset;
    j["protocol"] = h->protocol;
    j["listener"] = h->listener;
    j["client_address"] = h->client_address;
    j["asset_address"] = h->asset_address;
    j["start_wall_us"] = h->start_wall_us;
    j["policy_version"] = h->policy_version;
  } else if (const auto* d = std::get_if<DataRecord>(&record.body)) {
    j["type"] = "data";
    j["wall_us"] = d->wall_us;
    j["monotonic_us"] = d->monotonic_us;
    j["direction"] = direction_name(d->direction);
    j["decision"] = decision_name(d->decision);
    j["rule"] = d->rule;
    j["summary"] = d->summary;
    j["payload"] = common::hex_encode(d->payload);
  } else if (const auto* e = std::get_if<EventRecord>(&record.body)) {
    j["type"] = "event";
    j["wall_us"] = e->wall_us;
    j["monotonic_us"] = e->monotonic_us;
    j["kind"] = e->kind == EventKind::close ? "close" : "note";
    j["text"] = e->text;
  } else {
    const auto& s = std::get<SealRecord>(record.body);
    j["type"] = "seal";
    j["covered_index"] = s.covered_index;
    j["head"] = common::hex_encode(s.head);
    j["signature"] = common::hex_encode(s.signature);
  }
  return j;
}

void append_line(std::string& out, const Json& j) {
  // replace: a text that is not UTF-8 must not make the export throw (see the header).
  out += j.dump(-1, ' ', false, Json::error_handler_t::replace);
  out += '\n';
}

}  // namespace

ExportResult<std::string> export_jsonl(std::span<const std::uint8_t> recording) {
  RecordingReader reader(recording);
  Record record;
  std::string out;
  ReadResult r = reader.next(record);
  if (r.status != ReadStatus::ok) return export_error(r);
  for (; r.status == ReadStatus::ok; r = reader.next(record)) append_line(out, to_json(record));
  if (r.status == ReadStatus::torn) {
    Json torn;
    torn["type"] = "torn_tail";
    torn["offset"] = r.offset;
    torn["message"] = r.message;
    append_line(out, torn);
  } else if (r.status != ReadStatus::end) {
    return export_error(r);
  }
  return out;
}

}  // namespace conduit::audit
