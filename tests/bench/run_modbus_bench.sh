#!/usr/bin/env bash
# Modbus/TCP benchmark: modbus_bench (closed loop, one request outstanding per connection)
# against plc_sim, for each workload
#   read  FC 3, read 10 holding registers (the default, and the only one unless --workloads)
#   fc6   FC 6, write single register
#   fc16  FC 16, write 10 registers
# Conduit forwards a write only once its record is on disk (one fdatasync per group commit),
# so with recording on writes cost more than reads: the write/read ratios show how much.
# Targets:
#   direct   plain TCP straight to plc_sim
#   haproxy  HAProxy 2.6, mode tcp, TLS 1.3 terminated with client certificates (verify required)
#   nginx    nginx 1.22 stream {}, TLS 1.3, ssl_verify_client on
#   conduit  build/proxy/conduit, Modbus listener, TLS 1.3 with a device certificate,
#            every session recorded (audit/recorder.hpp)
#   conduit-norec  the same with recordings.enabled false: the cost of recording, same run
# at 1 and 64 connections, then prints a table and the ratios. Everything runs on
# 127.0.0.1 on free ports; every process started here is stopped on exit. Figures are printed,
# never asserted (see tests/bench/README.md).
#
# usage: tests/bench/run_modbus_bench.sh [--quick] [--build-dir DIR] [--duration S] [--warmup S]
#                                        [--connections "1 64"] [--targets "direct haproxy nginx conduit conduit-norec"]
#                                        [--workloads "read fc6 fc16"] [--client-threads N] [--proxy-threads N]
#                                        [--repeat N] [--keep]
# --repeat N runs every (workload, connections, target) N times, round-robin, and reports medians.
# With a write workload, Conduit's grant also allows writing holding registers 0-9999.
# environment:
#   PLC_SIM, MODBUS_BENCH, CONDUIT   binaries (default: BUILD/tests/support/plc_sim,
#                                    BUILD/tests/bench/modbus_bench, BUILD/proxy/conduit)
#   CONDUIT_BENCH_EXTRA_CONFIG       JSON object deep-merged into Conduit's config (objects merge,
#                                    everything else replaces), e.g. '{"assets":[...]}'
#   CONDUIT_BENCH_EXTRA_ARGS         extra arguments for `conduit serve`
#   CONDUIT_BENCH_LABEL              name of the Conduit row (default "conduit")
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
build_dir="$repo/build"
duration=5
warmup=1
connections_list="1 64"
targets="direct haproxy nginx conduit conduit-norec"
workloads="read"
client_threads=1
proxy_threads=2
keep=0
repeat=1
max_requests=20000000   # safety bound per run, far above what 5 s can reach on loopback

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) duration=1; warmup=0.2 ;;
    --build-dir) build_dir=$2; shift ;;
    --duration) duration=$2; shift ;;
    --warmup) warmup=$2; shift ;;
    --connections) connections_list=$2; shift ;;
    --targets) targets=$2; shift ;;
    --workloads) workloads=$2; shift ;;
    --client-threads) client_threads=$2; shift ;;
    --proxy-threads) proxy_threads=$2; shift ;;
    --repeat) repeat=$2; shift ;;
    --keep) keep=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run_modbus_bench: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

[[ $repeat =~ ^[1-9][0-9]?$ ]] || { echo "run_modbus_bench: --repeat must be 1..99" >&2; exit 2; }
[[ -n ${workloads// /} ]] || { echo "run_modbus_bench: --workloads is empty" >&2; exit 2; }
writes=0   # 1: some workload writes, so Conduit's grant must allow it
for workload in $workloads; do
  case "$workload" in
    read) ;;
    fc6|fc16) writes=1 ;;
    *) echo "run_modbus_bench: unknown workload $workload (read, fc6, fc16)" >&2; exit 2 ;;
  esac
done

plc_sim=${PLC_SIM:-$build_dir/tests/support/plc_sim}
bench=${MODBUS_BENCH:-$build_dir/tests/bench/modbus_bench}
conduit=${CONDUIT:-$build_dir/proxy/conduit}
conduit_label=${CONDUIT_BENCH_LABEL:-conduit}
python=/usr/bin/python3   # Debian's interpreter, whatever else is on PATH

"$repo/deploy/install-deps.sh" "$repo/third_party/debian-packages.txt" "$repo/third_party/debian-packages-bench.txt"

for tool in "$plc_sim" "$bench"; do
  [[ -x $tool ]] || { echo "run_modbus_bench: $tool not found (build the plc_sim and modbus_bench targets)" >&2; exit 2; }
done
[[ $EUID -eq 0 ]] || echo "run_modbus_bench: note: not running as root; nginx will warn about its worker user" >&2

work=$(mktemp -d /tmp/conduit-modbus-bench.XXXXXX)
pids=()
bench_pid=""

# Stops every process started here: SIGTERM, up to 5 s of grace each, then SIGKILL.
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  local pid i n
  [[ -n ${bench_pid:-} ]] && kill -TERM "$bench_pid" 2>/dev/null
  # Newest first: the proxies go before plc_sim, so none of them logs its upstream vanishing.
  for ((n = ${#pids[@]} - 1; n >= 0; n--)); do
    pid=${pids[n]}
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [[ $keep -eq 1 || $status -ne 0 ]]; then
    echo "run_modbus_bench: logs and configs kept in $work" >&2
  else
    rm -rf "$work"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "run_modbus_bench: $*" >&2; }

# A port that was free a moment ago (the kernel picks it; the race is acceptable here).
free_port() {
  "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Waits (bounded: 10 s) until 127.0.0.1:PORT accepts a TCP connection, while PID lives.
wait_listening() {
  local port=$1 pid=$2 i
  for ((i = 0; i < 200; i++)); do
    kill -0 "$pid" 2>/dev/null || return 1
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  return 1
}

# Waits (bounded: 10 s) for FILE to appear, while PID lives.
wait_file() {
  local file=$1 pid=$2 i
  for ((i = 0; i < 200; i++)); do
    [[ -s $file ]] && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

# ---------------------------------------------------------------- plc_sim
"$plc_sim" --port 0 --host 127.0.0.1 --max-connections 128 --port-file "$work/plc.port" \
  >"$work/plc_sim.out" 2>&1 &
pids+=($!)
wait_file "$work/plc.port" "${pids[-1]}" || { log "plc_sim did not start:"; cat "$work/plc_sim.out" >&2; exit 1; }
plc_port=$(<"$work/plc.port")
log "plc_sim on 127.0.0.1:$plc_port"

# ---------------------------------------------------------------- PKI
# Conduit's own CA for every TLS target, so all three terminate TLS with the same key type and
# verify the same client certificate.
data="$work/conduit"
pki_ok=0
if [[ -x $conduit ]] &&
   "$conduit" ca init --data-dir "$data" >"$work/pki.log" 2>&1 &&
   "$conduit" ca issue server --data-dir "$data" --name gateway --ip 127.0.0.1 --dns localhost >>"$work/pki.log" 2>&1 &&
   "$conduit" ca issue device --data-dir "$data" --device bench-1 --user bench --out "$data/client" >>"$work/pki.log" 2>&1; then
  pki_ok=1
else
  log "cannot create the PKI with '$conduit ca' (see $work/pki.log); TLS targets are skipped"
fi
ca="$data/pki/ca.crt"
server_crt="$data/pki/gateway.crt"
server_key="$data/pki/gateway.key"
client_crt="$data/client/bench-1.crt"
client_key="$data/client/bench-1.key"
tls_args=(--tls --cert "$client_crt" --key "$client_key" --ca "$ca" --servername 127.0.0.1)

declare -A port_of=([direct]=$plc_port)
declare -A tls_of=([direct]=0)
declare -A skipped=()

# ---------------------------------------------------------------- HAProxy
start_haproxy() {
  local port dir="$work/haproxy"
  mkdir -p "$dir"
  cat "$server_crt" "$server_key" >"$dir/gateway.pem"   # haproxy wants cert and key in one PEM
  chmod 600 "$dir/gateway.pem"
  port=$(free_port)
  cat >"$dir/haproxy.cfg" <<EOF
global
  nbthread $proxy_threads
  maxconn 4096

defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s

frontend modbus_tls
  bind 127.0.0.1:$port ssl crt $dir/gateway.pem ca-file $ca verify required ssl-min-ver TLSv1.3
  default_backend plc

backend plc
  server plc_sim 127.0.0.1:$plc_port
EOF
  haproxy -c -q -f "$dir/haproxy.cfg" >"$dir/check.log" 2>&1 || { cat "$dir/check.log" >&2; return 1; }
  haproxy -db -f "$dir/haproxy.cfg" >"$dir/haproxy.log" 2>&1 &
  pids+=($!)
  wait_listening "$port" "${pids[-1]}" || { cat "$dir/haproxy.log" >&2; return 1; }
  port_of[haproxy]=$port
  tls_of[haproxy]=1
  log "haproxy $(haproxy -v | sed -n '1s/^HAProxy version \([^ ]*\).*/\1/p') on 127.0.0.1:$port"
}

# ---------------------------------------------------------------- nginx
start_nginx() {
  local port dir="$work/nginx"
  mkdir -p "$dir"
  port=$(free_port)
  cat >"$dir/nginx.conf" <<EOF
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
worker_processes $proxy_threads;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
stream {
  server {
    listen 127.0.0.1:$port ssl;
    ssl_protocols TLSv1.3;
    ssl_certificate $server_crt;
    ssl_certificate_key $server_key;
    ssl_client_certificate $ca;
    ssl_verify_client on;
    proxy_connect_timeout 5s;
    proxy_timeout 60s;
    proxy_pass 127.0.0.1:$plc_port;
  }
}
EOF
  nginx -t -q -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" >"$dir/check.log" 2>&1 ||
    { cat "$dir/check.log" >&2; return 1; }
  nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" >"$dir/nginx.out" 2>&1 &
  pids+=($!)
  wait_listening "$port" "${pids[-1]}" || { cat "$dir/nginx.out" "$dir/error.log" >&2; return 1; }
  port_of[nginx]=$port
  tls_of[nginx]=1
  log "nginx $(nginx -v 2>&1 | sed 's/.*nginx\///') on 127.0.0.1:$port"
}

# ---------------------------------------------------------------- Conduit
# start_conduit LABEL [EXTRA_CONFIG_JSON]
start_conduit() {
  local label=$1 more=${2:-}
  local config="$work/$label.json" errlog="$work/$label.log" data="$work/$label-data" pid i port=""
  mkdir -p "$data"
  cp -r "$work/conduit/pki" "$data/"
  "$python" - "$config" "$plc_port" "$writes" "$more" <<'EOF' || return 1
import json, os, sys
path, plc_port, writes, more = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4]
# Read-only runs keep the read-only grant, so their figures compare with earlier runs.
modbus_grant = {"read": {"holding_registers": ["0-9999"]}}
if writes:
    modbus_grant["write"] = {"holding_registers": ["0-9999"]}
config = {
    "gateway": {"id": "bench"},
    "limits": {"max_sessions": 4096, "max_unauthenticated": 256},
    "listeners": [{"name": "plc", "bind": "127.0.0.1:0", "asset": "plc", "protocol": "modbus"}],
    "assets": [{"name": "plc", "kind": "modbus", "address": f"127.0.0.1:{plc_port}",
                "modbus": {"max_connections": 8, "max_in_flight": 16, "request_timeout_ms": 2000}}],
    "grants": [{"id": "bench", "users": ["bench"], "devices": ["bench-1"], "assets": ["plc"], "mfa": "none",
                "modbus": modbus_grant}],
}
def merge(base, extra):
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = value
extra = os.environ.get("CONDUIT_BENCH_EXTRA_CONFIG", "").strip()
if extra:
    merge(config, json.loads(extra))
if more:
    merge(config, json.loads(more))
with open(path, "w") as f:
    json.dump(config, f, indent=2)
EOF
  local -a extra_args=()
  [[ -n ${CONDUIT_BENCH_EXTRA_ARGS:-} ]] && read -r -a extra_args <<<"$CONDUIT_BENCH_EXTRA_ARGS"
  "$conduit" serve --config "$config" --data-dir "$data" --log-format json --threads "$proxy_threads" \
    "${extra_args[@]}" 2>"$errlog" >/dev/null &
  pid=$!
  pids+=("$pid")
  # The port comes from the listener_ready event (bounded: 10 s).
  for ((i = 0; i < 200; i++)); do
    port=$(grep '"listener_ready"' "$errlog" 2>/dev/null | grep '"listener":"plc"' |
           sed -n 's/.*"address":"127\.0\.0\.1:\([0-9]*\)".*/\1/p' | head -n1) || true
    [[ -n $port ]] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  if [[ -z $port ]]; then
    log "conduit did not report listener_ready for 'plc'; its log:"
    tail -n 20 "$errlog" >&2
    return 1
  fi
  # One short run per workload proves the Modbus path (and the grant) works end to end
  # before it is measured.
  local workload
  for workload in $workloads; do
    if ! timeout 20 "$bench" --name conduit-probe --workload "$workload" --port "$port" --connections 1 \
         --warmup 0 --duration 0.3 "${tls_args[@]}" >"$work/conduit-probe.out" 2>&1; then
      log "conduit accepted but the Modbus probe ($workload) failed:"
      cat "$work/conduit-probe.out" >&2
      tail -n 20 "$errlog" >&2
      return 1
    fi
  done
  port_of[$label]=$port
  tls_of[$label]=1
  log "$label on 127.0.0.1:$port"
}

run_targets=()
for target in $targets; do
  case "$target" in
    direct) run_targets+=(direct) ;;
    conduit-norec)
      if [[ $pki_ok -ne 1 ]]; then skipped[$target]="no PKI"; continue; fi
      if start_conduit conduit-norec '{"recordings": {"enabled": false}}'; then run_targets+=(conduit-norec)
      else skipped[$target]="Modbus listener not working"; fi ;;
    haproxy|nginx|conduit)
      if [[ $pki_ok -ne 1 ]]; then skipped[$target]="no PKI"; continue; fi
      if [[ $target == conduit ]]; then
        if start_conduit "$conduit_label"; then run_targets+=("$conduit_label"); else skipped[$conduit_label]="Modbus listener not working"; fi
      elif "start_$target"; then
        run_targets+=("$target")
      else
        skipped[$target]="failed to start"
      fi ;;
    *) log "unknown target $target"; exit 2 ;;
  esac
done
for target in "${!skipped[@]}"; do log "SKIPPED $target: ${skipped[$target]}"; done

# ---------------------------------------------------------------- runs
# Figures per "target,workload,connections"; while running, the rounds' values space-separated.
declare -A rps=() p50=() p99=() errors=() samples=()
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$line"; }
median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }
run_limit=$("$python" -c "import math; print(math.ceil($warmup + $duration) + 60)")

# run_one TARGET WORKLOAD CONNECTIONS ROUND: one modbus_bench run, its line echoed and kept.
run_one() {
  local target=$1 workload=$2 conns=$3 round=$4 out key line
  local -a args=(--name "$target" --workload "$workload" --port "${port_of[$target]}" --connections "$conns"
                 --threads "$client_threads" --warmup "$warmup" --duration "$duration" --max-requests "$max_requests")
  [[ ${tls_of[$target]} -eq 1 ]] && args+=("${tls_args[@]}")
  out="$work/run-$target-$workload-$conns-$round"
  # In the background so that a signal to this script is handled at once, not after the run.
  timeout "$run_limit" "$bench" "${args[@]}" >"$out.out" 2>"$out.err" &
  bench_pid=$!
  wait "$bench_pid" || true
  bench_pid=""
  line=$(grep '^modbus_bench ' "$out.out" || true)
  if [[ -z $line ]]; then
    log "$target $workload @ $conns connections: no result"; cat "$out.err" >&2
    return
  fi
  echo "$line"
  [[ -s $out.err ]] && sed 's/^/  /' "$out.err" | grep -v ': TLSv1.3 ' >&2 || true
  key="$target,$workload,$conns"
  rps[$key]="${rps[$key]:-} $(field rps)"
  p50[$key]="${p50[$key]:-} $(field p50_us)"
  p99[$key]="${p99[$key]:-} $(field p99_us)"
  errors[$key]=$(( ${errors[$key]:-0} + $(field errors) ))
  samples[$key]=$(( ${samples[$key]:-0} + 1 ))
}

# fdatasync_latency: "P50 P99" in microseconds of 200 small appends + fdatasync in $work, the
# file system Conduit records to. A recorded write waits for such syncs, so this is the
# floor under its latency (and it varies with whatever else writes to the disk).
fdatasync_latency() {
  "$python" - "$work/fdatasync-probe" <<'EOF' || true   # no figure rather than no report
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
times = []
for _ in range(200):
    os.write(fd, b"x" * 140)  # about one FC 6 record
    start = time.perf_counter()
    os.fdatasync(fd)
    times.append(time.perf_counter() - start)
os.close(fd)
os.unlink(sys.argv[1])
times.sort()
print(round(times[len(times) // 2] * 1e6), round(times[int(len(times) * 0.99)] * 1e6))
EOF
}
sync_before=""
[[ $writes -eq 1 ]] && sync_before=$(fdatasync_latency)

# Rounds go round-robin over targets, so a burst of load from elsewhere on the machine is
# spread over all of them rather than landing on one. Each round runs every workload, so
# a write figure and the read figure it is divided by come from the same stretch of time.
for ((round = 1; round <= repeat; round++)); do
  for workload in $workloads; do
    for conns in $connections_list; do
      for target in "${run_targets[@]}"; do run_one "$target" "$workload" "$conns" "$round"; done
    done
  done
done
sync_after=""
[[ $writes -eq 1 ]] && sync_after=$(fdatasync_latency)
# From here on each figure is the median over the rounds (each metric on its own).
for key in "${!samples[@]}"; do
  rps[$key]=$(median <<<"${rps[$key]}")
  p50[$key]=$(median <<<"${p50[$key]}")
  p99[$key]=$(median <<<"${p99[$key]}")
done

# ---------------------------------------------------------------- report
declare -A workload_text=([read]="read = FC 3 of 10 registers" [fc6]="fc6 = FC 6 (1 register)"
                          [fc16]="fc16 = FC 16 of 10 registers")
described=""
for workload in $workloads; do described+="${described:+, }${workload_text[$workload]}"; done
echo
echo "Modbus closed loop ($described);"
echo "warm-up ${warmup} s, ${duration} s per run, median of $repeat round(s);"
echo "client threads $client_threads, proxy threads $proxy_threads; errors summed over rounds"
if [[ -n $sync_before && -n $sync_after ]]; then
  read -r before_p50 before_p99 <<<"$sync_before"
  read -r after_p50 after_p99 <<<"$sync_after"
  echo "fdatasync of a small append in $(dirname "$work"): p50/p99 ${before_p50}/${before_p99} us before the runs," \
       "${after_p50}/${after_p99} us after"
fi
printf '%-14s %-8s %6s %12s %9s %9s %7s\n' target workload conns "req/s" p50_us p99_us errors
for workload in $workloads; do
  for conns in $connections_list; do
    for target in "${run_targets[@]}"; do
      key="$target,$workload,$conns"
      [[ -n ${rps[$key]:-} ]] || continue
      printf '%-14s %-8s %6s %12s %9s %9s %7s\n' "$target" "$workload" "$conns" "${rps[$key]}" \
        "${p50[$key]}" "${p99[$key]}" "${errors[$key]}"
    done
  done
done

# ratio NAME A B: A/B when both are known and B is not zero. Below 0.1 (recorded writes next
# to reads) two significant digits, so that 0.016 and 0.004 do not both print as 0.01.
ratio() {
  local name=$1 a=${2:-} b=${3:-}
  if [[ -z $a || -z $b ]]; then printf '  %-48s n/a\n' "$name"; return; fi
  awk -v n="$name" -v a="$a" -v b="$b" 'BEGIN {
    if (b + 0 == 0) { printf "  %-48s n/a\n", n; exit }
    r = a / b
    printf (r < 0.1 ? "  %-48s %.2g\n" : "  %-48s %.2f\n"), n, r
  }'
}
c=$conduit_label
for w in $workloads; do
  echo
  echo "ratios, $w"
  ratio "$c/haproxy throughput @64" "${rps[$c,$w,64]:-}" "${rps[haproxy,$w,64]:-}"
  ratio "$c/nginx throughput @64" "${rps[$c,$w,64]:-}" "${rps[nginx,$w,64]:-}"
  ratio "$c/nginx p50 latency @1" "${p50[$c,$w,1]:-}" "${p50[nginx,$w,1]:-}"
  ratio "$c/direct throughput @1" "${rps[$c,$w,1]:-}" "${rps[direct,$w,1]:-}"
  ratio "$c/direct throughput @64" "${rps[$c,$w,64]:-}" "${rps[direct,$w,64]:-}"
  ratio "$c/direct p50 latency @1" "${p50[$c,$w,1]:-}" "${p50[direct,$w,1]:-}"
  ratio "$c/conduit-norec throughput @1 (recording)" "${rps[$c,$w,1]:-}" "${rps[conduit-norec,$w,1]:-}"
  ratio "$c/conduit-norec throughput @64 (recording)" "${rps[$c,$w,64]:-}" "${rps[conduit-norec,$w,64]:-}"
done
# What a write costs next to a read on the same path: for Conduit with recording, the wait
# for the write's record to be on disk before it is forwarded.
if [[ " $workloads " == *" read "* && $writes -eq 1 ]]; then
  echo
  echo "write/read throughput, same run"
  for target in "${run_targets[@]}"; do
    for w in $workloads; do
      [[ $w == read ]] && continue
      for conns in 1 64; do
        ratio "$target $w/read @$conns" "${rps[$target,$w,$conns]:-}" "${rps[$target,read,$conns]:-}"
      done
    done
  done
fi
for target in "${!skipped[@]}"; do echo "SKIPPED $target: ${skipped[$target]}"; done
