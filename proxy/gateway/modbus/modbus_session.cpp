#include "proxy/gateway/modbus/modbus_session.hpp"

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <algorithm>
#include <bitset>
#include <cstring>
#include <string>
#include <vector>

#include "audit/request_log.hpp"
#include "proxy/gateway/modbus/modbus_pool.hpp"
#include "proxy/gateway/session.hpp"
#include "proxy/gateway/week_time.hpp"
#include "proxy/net/relay.hpp"

namespace conduit::proxy {
namespace {

namespace asio = boost::asio;
namespace modbus = protocols::modbus;
using asio::ip::tcp;
constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);

// "malformed request: byte count mismatch": the first structural anomaly, in the codec's
// words. Only on the way out of a session, so a string is fine.
std::string malformed_reason(std::uint32_t anomalies) {
  std::uint32_t structural = anomalies & modbus::kStructuralAnomalies;
  std::string name = modbus::anomaly_name(structural & (~structural + 1));  // lowest set bit
  std::replace(name.begin(), name.end(), '_', ' ');
  return "malformed request: " + name;
}

// What the session keeps of a request while it is outstanding: described once, for the
// recording and the request log.
struct Summary {
  std::array<char, 96> text{};
  std::size_t size = 0;
  std::string_view view() const { return {text.data(), size}; }
};

Summary summarize(const modbus::Request& request) {
  Summary summary;
  summary.size = modbus::describe(request, summary.text);
  return summary;
}

const char* outcome_name(ExchangeOutcome outcome) {
  switch (outcome) {
    case ExchangeOutcome::response: return "response";
    case ExchangeOutcome::timeout: return "timeout";
    case ExchangeOutcome::upstream_failed: return "upstream_failed";
    case ExchangeOutcome::pending: break;
  }
  return "pending";
}

// The client's buffer holds at least two maximal ADUs so one can always be completed.
constexpr std::size_t kInputBuffer = 4 * modbus::kMaxAduSize;

// Enforces per-request policy between a Modbus/TCP Security client (TLS, client
// certificate) and one Modbus asset: every request is decoded, decided, and either
// answered here with an exception or re-encoded from its decoded form and forwarded
// through the asset's pool. See modbus_session.hpp.
class ModbusSession final : public Session, public ModbusExchangeOwner {
 public:
  ModbusSession(Accepted& accepted, std::shared_ptr<ModbusPool> pool, std::shared_ptr<ModbusCounters> counters,
                std::shared_ptr<audit::RequestLog> request_log)
      : Session(accepted),
        pool_(std::move(pool)),
        request_log_(std::move(request_log)),
        counters_(std::move(counters)),
        resume_(client_.get_executor()) {}

  void on_exchange_done(ModbusExchange& exchange) override {
    std::span<const std::uint8_t> answer{exchange.response.data(), exchange.response_size};
    ExceptionAdu failure;
    if (exchange.outcome == ExchangeOutcome::response) {
      counters_->add(ModbusCounter::responses);
      queue_to_client(answer);
      record_response(answer);
    } else {
      counters_->add(exchange.outcome == ExchangeOutcome::timeout ? ModbusCounter::answered_timeout
                                                                 : ModbusCounter::answered_upstream_failed);
      // The answer goes to the client with its own transaction id, which `decoded` (the
      // forwarded copy) also carries.
      failure = answer_exception(exchange.decoded, modbus::ExceptionCode::gateway_target_failed);
      answer = failure.bytes();
    }
    const Outstanding& outstanding = outstanding_[index_of(exchange)];
    log_request(exchange.decoded, outstanding.summary.view(), outstanding.rule, "granted",
                outcome_name(exchange.outcome), {exchange.request.data(), exchange.request_size}, answer);
    exchange.owner = nullptr;
    free_.push_back(&exchange);
    wake_reader();
  }

 private:
  asio::awaitable<void> serve() override {
    const auto& settings = asset_.settings_of<config::ModbusAssetSettings>();
    exchanges_.resize(settings.max_outstanding_per_client);
    outstanding_.resize(settings.max_outstanding_per_client);
    for (ModbusExchange& exchange : exchanges_) free_.push_back(&exchange);
    out_pending_.reserve((settings.max_outstanding_per_client + 4) * modbus::kMaxAduSize);
    out_writing_.reserve(out_pending_.capacity());
    log_open(asset_.address.to_string());

    co_await read_requests();

    for (ModbusExchange& exchange : exchanges_) {
      if (exchange.owner) pool_->cancel(exchange);
    }
    request_log_->flush();
  }

  void close_upstream() override { resume_.cancel(); }

  audit::SessionCounters counters() const override { return {bytes_in_, bytes_out_, requests_, denied_, writes_}; }

  std::size_t close_fields(std::span<LogField> out) const override {
    out[0] = {"requests", requests_};
    out[1] = {"denied", denied_};
    out[2] = {"writes", writes_};
    return 3;
  }

  asio::awaitable<void> read_requests() {
    for (;;) {
      // Requests already buffered come first: a client that pipelined more than it may
      // have outstanding sends nothing more until it is answered.
      if (!handle_buffered()) co_return;
      if (ended()) co_return;
      // Flood protection: with every exchange in use, or responses piling up unread,
      // stop reading; TCP pushes back on the client.
      if (free_.empty() || awaiting_durable_ || out_pending_.size() > out_pending_.capacity() / 2) {
        reader_paused_ = true;
        resume_.expires_at(Clock::time_point::max());
        co_await resume_.async_wait(kUseTuple);
        reader_paused_ = false;
        continue;
      }
      auto [error, n] = co_await client_.async_read_some(
          asio::buffer(input_.data() + input_size_, input_.size() - input_size_), kUseTuple);
      if (error) {
        if (is_stream_close(error)) {
          set_reason("client closed");
        } else if (error != asio::error::operation_aborted) {
          set_reason("client error: " + error.message());
        }
        co_return;
      }
      touch();
      bytes_in_ += n;
      input_size_ += n;
    }
  }

  // Decides every complete request in the input buffer while exchanges are free.
  // Returns false when the session must end.
  bool handle_buffered() {
    std::size_t consumed = 0;
    bool keep_going = true;
    while (!free_.empty() && !awaiting_durable_) {
      auto bytes = std::span<const std::uint8_t>(input_.data() + consumed, input_size_ - consumed);
      modbus::RequestDecode decoded = modbus::decode_request(bytes);
      if (decoded.status == modbus::DecodeStatus::need_more) break;
      if (decoded.status == modbus::DecodeStatus::malformed) {
        counters_->add(ModbusCounter::frames_malformed);
        set_reason(decoded.error == modbus::FramingError::bad_protocol_id ? "malformed frame: protocol id is not 0"
                                                                          : "malformed frame: bad length");
        auto shown = bytes.first(std::min<std::size_t>(bytes.size(), modbus::kMaxAduSize));
        record(audit::Direction::client_to_asset, audit::RecordedDecision::deny, authz::kDefaultDenyRule, reason(), shown);
        log_request(modbus::Request{}, summarize(modbus::Request{}).view(), authz::kDefaultDenyRule, reason(), "malformed",
                    shown, {});
        return false;
      }
      if (!handle(decoded.request, bytes.first(decoded.size))) {
        keep_going = false;
        break;
      }
      consumed += decoded.size;
    }
    // Only now: decoded requests point into the buffer until they are handled.
    std::memmove(input_.data(), input_.data() + consumed, input_size_ - consumed);
    input_size_ -= consumed;
    return keep_going;
  }

  // Returns false when the session must end.
  bool handle(const modbus::Request& request, std::span<const std::uint8_t> raw) {
    ++requests_;
    counters_->add(ModbusCounter::requests);
    Summary summary = summarize(request);
    // Not what a conformant client sends: the session ends (Modbus firewalls' "sanity check").
    if (request.anomalies & modbus::kStructuralAnomalies) {
      counters_->add(ModbusCounter::requests_malformed);
      set_reason(malformed_reason(request.anomalies));
      record_request(summary, audit::RecordedDecision::deny, authz::kDefaultDenyRule, raw);
      log_request(request, summary.view(), authz::kDefaultDenyRule, "malformed request", "malformed", raw, {});
      return false;
    }
    authz::Decision decision = grants_.decide_modbus(request, now());
    if (!decision.allowed()) {
      ++denied_;
      counters_->add(ModbusCounter::requests_denied_policy);
      record_request(summary, audit::RecordedDecision::deny, decision.rule, raw);
      auto answer = answer_exception(request, modbus::ExceptionCode::illegal_function);  // not authorized
      log_request(request, summary.view(), decision.rule, decision.reason, "denied", raw, answer.bytes());
      return true;
    }
    if (!unit_ids_.test(request.mbap.unit_id)) {
      counters_->add(ModbusCounter::requests_denied_unit);
      record_request(summary, audit::RecordedDecision::deny, "unit-not-served", raw);
      auto answer = answer_exception(request, modbus::ExceptionCode::gateway_path_unavailable);
      log_request(request, summary.view(), decision.rule, "unit id not served by this asset", "unknown_unit", raw,
                  answer.bytes());
      return true;
    }
    ModbusExchange& exchange = *free_.back();
    // Forward what the policy evaluated, re-encoded (the one copy of the request's bytes).
    exchange.request_size = modbus::encode_request(request, request.mbap.transaction_id, exchange.request);
    if (exchange.request_size == 0) {
      counters_->add(ModbusCounter::requests_malformed);
      set_reason("malformed request: cannot be re-encoded");
      record_request(summary, audit::RecordedDecision::deny, authz::kDefaultDenyRule, raw);
      log_request(request, summary.view(), authz::kDefaultDenyRule, "cannot be re-encoded", "malformed", raw, {});
      return false;
    }
    free_.pop_back();
    counters_->add(ModbusCounter::requests_allowed);
    // The decoded view used to match the response points into the exchange's own copy.
    exchange.decoded = modbus::rebase(request, {exchange.request.data(), exchange.request_size});
    exchange.client_transaction_id = request.mbap.transaction_id;
    outstanding_[index_of(exchange)] = {decision.rule, summary};
    bool recorded = record_request(summary, audit::RecordedDecision::allow, decision.rule, raw);
    if (request.changes_state()) {
      ++writes_;
      counters_->add(ModbusCounter::writes);
      // No unrecorded write reaches an asset: forward it once its record is durable, and
      // hold the requests behind it so the PLC still sees them in order.
      awaiting_durable_ = &exchange;
      record_durably();
      return true;
    }
    if (!recorded) return refuse_unrecorded(exchange);
    exchange.owner = this;
    pool_->submit(exchange);
    return true;
  }

  void on_recorded_durably(bool ok) override {
    ModbusExchange& exchange = *awaiting_durable_;
    awaiting_durable_ = nullptr;
    if (closing() || !ok) {
      if (!closing()) refuse_unrecorded(exchange);
      else free_.push_back(&exchange);
    } else {
      exchange.owner = this;
      pool_->submit(exchange);
    }
    wake_reader();
  }

  // Recording failed (disk full): the request is answered here and never forwarded.
  bool refuse_unrecorded(ModbusExchange& exchange) {
    counters_->add(ModbusCounter::writes_not_recorded);
    count(GatewayCounter::recording_failed);
    set_reason("recording failed");
    auto answer = answer_exception(exchange.decoded, modbus::ExceptionCode::server_device_failure);
    log_request(exchange.decoded, outstanding_[index_of(exchange)].summary.view(), authz::kDefaultDenyRule,
                "recording unavailable", "not_recorded", {exchange.request.data(), exchange.request_size},
                answer.bytes());
    free_.push_back(&exchange);
    return true;
  }

  bool record_request(const Summary& summary, audit::RecordedDecision decision, std::string_view rule,
                      std::span<const std::uint8_t> raw) {
    return record(audit::Direction::client_to_asset, decision, rule, summary.view(), raw);
  }

  void record_response(std::span<const std::uint8_t> answer) {
    record(audit::Direction::asset_to_client, audit::RecordedDecision::none, {}, {}, answer);
  }

  struct ExceptionAdu {
    std::array<std::uint8_t, 9> adu{};
    std::size_t size = 0;
    std::span<const std::uint8_t> bytes() const { return {adu.data(), size}; }
  };

  // Answers the client with an exception and returns what was sent, for the audit trail.
  ExceptionAdu answer_exception(const modbus::Request& request, modbus::ExceptionCode code) {
    ExceptionAdu answer;
    answer.size = modbus::encode_exception(request.mbap.transaction_id, request.mbap.unit_id, request.function, code,
                                           answer.adu);
    queue_to_client(answer.bytes());
    record_response(answer.bytes());
    return answer;
  }

  void queue_to_client(std::span<const std::uint8_t> adu) {
    out_pending_.insert(out_pending_.end(), adu.begin(), adu.end());
    if (!writing_ && !closing()) write_pending();
  }

  // Responses that arrive while a write is in flight are sent together with the next one.
  // A plain completion handler rather than a coroutine: this runs once per response.
  void write_pending() {
    writing_ = true;
    std::swap(out_pending_, out_writing_);
    auto self = std::static_pointer_cast<ModbusSession>(shared_from_this());
    asio::async_write(client_, asio::buffer(out_writing_),
                      [self](const boost::system::error_code& error, std::size_t written) {
                        self->on_written(error, written);
                      });
  }

  void on_written(const boost::system::error_code& error, std::size_t written) {
    out_writing_.clear();
    writing_ = false;
    if (error) {
      set_reason("client error: " + error.message());
      close_sockets();
      return;
    }
    bytes_out_ += written;
    touch();
    wake_reader();  // it may have paused on a full output buffer
    if (!out_pending_.empty() && !closing()) write_pending();
  }

  void wake_reader() {
    if (reader_paused_) resume_.cancel();
  }

  // Closed by a deadline, a drain or a write error while the reader was paused.
  bool ended() const { return closing() || !client_.next_layer().is_open(); }

  authz::WeekTime now() {
    if (!grants_.any_time_window()) return {};
    auto second = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
    if (second != cached_second_) {
      cached_second_ = second;
      cached_week_ = week_time(second);
    }
    return cached_week_;
  }

  std::size_t index_of(const ModbusExchange& exchange) const {
    return static_cast<std::size_t>(&exchange - exchanges_.data());
  }

  void log_request(const modbus::Request& request, std::string_view summary, std::string_view rule,
                   std::string_view reason, std::string_view outcome, std::span<const std::uint8_t> request_bytes,
                   std::span<const std::uint8_t> response_bytes) {
    std::array<char, 2048> buffer;
    audit::LineWriter line(buffer);
    auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::system_clock::now().time_since_epoch());
    line.raw("{").field("ts_us").number(micros.count());
    line.field("session").string(session_id_).field("user").string(identity_.user);
    line.field("device").string(identity_.device).field("role").string(identity_.role);
    line.field("asset").string(asset_.name).field("unit").number(request.mbap.unit_id);
    line.field("function").number(request.function).field("summary").string(summary);
    line.field("decision").string(outcome == "denied" || outcome == "malformed" ? "deny" : "allow");
    line.field("rule").string(rule).field("reason").string(reason).field("outcome").string(outcome);
    if (response_bytes.size() >= 9 && (response_bytes[7] & modbus::function::kExceptionBit)) {
      line.field("exception").number(response_bytes[8]);
    }
    line.field("request").hex(request_bytes);
    if (!response_bytes.empty()) line.field("response").hex(response_bytes);
    line.raw("}");
    if (!line.truncated()) request_log_->append(line.view(), micros.count());
  }

  // Beside each exchange: the rule that allowed it and its description.
  struct Outstanding {
    std::string_view rule;
    Summary summary;
  };

  std::shared_ptr<ModbusPool> pool_;
  std::shared_ptr<audit::RequestLog> request_log_;  // this I/O thread's
  std::shared_ptr<ModbusCounters> counters_;
  const std::bitset<256>& unit_ids_ = asset_.settings_of<config::ModbusAssetSettings>().unit_ids;
  asio::steady_timer resume_;
  std::vector<ModbusExchange> exchanges_;  // allocated once per session
  std::vector<Outstanding> outstanding_;   // indexed like exchanges_
  std::vector<ModbusExchange*> free_;
  std::array<std::uint8_t, kInputBuffer> input_{};
  std::size_t input_size_ = 0;
  std::vector<std::uint8_t> out_pending_;
  std::vector<std::uint8_t> out_writing_;
  bool writing_ = false;
  bool reader_paused_ = false;
  ModbusExchange* awaiting_durable_ = nullptr;  // a write waiting for its record to be on disk
  std::uint64_t requests_ = 0;
  std::uint64_t denied_ = 0;
  std::uint64_t writes_ = 0;
  std::chrono::sys_seconds cached_second_{};
  authz::WeekTime cached_week_{};
};

class ModbusHandler final : public ProtocolHandler {
 public:
  authz::ProtocolId protocol() const override { return authz::protocol_of<authz::ModbusRules>(); }
  // An asset's pool and every session that uses it live on one I/O thread (no locks, no
  // cross-thread hop per request; one PLC is far slower than one core).
  Placement placement() const override { return Placement::asset_thread; }
  std::unique_ptr<WorkerState> make_worker_state(asio::any_io_executor, GatewayState& state) const override {
    return std::make_unique<ModbusPools>(*state.request_log);
  }
  void start_session(Accepted accepted) const override {
    const config::Config& config = accepted.snapshot->config;
    const config::Asset& asset = *config.find_asset(config.listeners.at(accepted.listener_index).asset);
    auto& pools = static_cast<ModbusPools&>(*accepted.worker);
    auto pool = pools.get(accepted.socket.get_executor(), asset);
    std::make_shared<ModbusSession>(accepted, std::move(pool), pools.counters(), pools.request_log())->start();
  }
};

}  // namespace

std::unique_ptr<ProtocolHandler> make_modbus_handler() { return std::make_unique<ModbusHandler>(); }

}  // namespace conduit::proxy
