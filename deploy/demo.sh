#!/usr/bin/env bash
# The README's demo command: installs everything, builds, creates a site CA in a demo data
# directory, enrolls a technician and a supplier (users, devices, FIDO2 keys with one-time
# codes), starts a simulated PLC on 127.0.0.1:15020 and the gateway on 127.0.0.1:802
# (Modbus/TCP Security) in front of it, logs both in with a key touch, then shows them
# reading and writing through `conduit tunnel` with mbpoll, the writes the policy refuses,
# a revocation that takes effect at once, and the audit trail. The gateway then keeps
# running in the foreground (Ctrl-C drains and stops it).
#
# There is no USB key on a build machine: each person's key is the test suite's software
# authenticator (tests/support/soft_fido2), which `conduit login` reaches through libfido2
# exactly as it would a real key (--key-device unix:...).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
demo=${CONDUIT_DEMO_DIR:-/tmp/conduit-demo}
conduit="$root/build/proxy/conduit"
plc_sim="$root/build/tests/support/plc_sim"
soft_key="$root/build/tests/support/soft_fido2/soft_fido2"

"$root/deploy/build.sh" -DCONDUIT_TESTS=OFF

echo "== site PKI in $demo"
rm -rf "$demo"
mkdir -p "$demo"
chmod 0755 "$demo"
"$conduit" ca init --data-dir "$demo/data" --name "Demo Plant CA"
"$conduit" ca issue server --data-dir "$demo/data" --name gateway --dns localhost --ip 127.0.0.1
echo "== users, devices (key made on the device, signed by the site CA) and enrollment codes"
"$conduit" user add alice --role Operator --data-dir "$demo/data"
"$conduit" user add acme-eng --role Supplier --data-dir "$demo/data"
enroll_device() {  # who device user
  "$conduit" device request --id "$2" --dir "$demo/$1"
  "$conduit" device enroll --id "$2" --csr "$demo/$1/device.csr" --user "$3" --out "$demo/$1/device.crt" \
    --data-dir "$demo/data"
  cp "$demo/data/pki/ca.crt" "$demo/$1/ca.crt"
}
enroll_device alice laptop-7 alice
enroll_device acme acme-laptop-3 acme-eng
"$conduit" key code alice --data-dir "$demo/data" > "$demo/alice/code"
"$conduit" key code acme-eng --data-dir "$demo/data" > "$demo/acme/code"

config="$demo/gateway.json"
cp "$root/deploy/demo/gateway.json" "$config"
if [ "$(id -u)" -eq 0 ]; then
  # As a package would: an unprivileged system user owns the gateway's state.
  id conduit >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin conduit
  chown -R conduit: "$demo/data"
else
  # Port 802 needs root; without it the demo listens on 8802.
  sed -i 's/127.0.0.1:802"/127.0.0.1:8802"/' "$config"
fi
gateway_port=$(grep -o '"bind": "127.0.0.1:[0-9]*' "$config" | grep -o '[0-9]*$')
"$conduit" check-config "$config" --data-dir "$demo/data"

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT
wait_for() {  # file pattern: bounded wait for a process to report readiness
  for _ in $(seq 1 100); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "demo: timed out waiting for '$2' in $1" >&2; exit 1
}

for who in alice acme; do  # each person's security key
  "$soft_key" --socket "$demo/$who/key.sock" --state "$demo/$who/key.json" > "$demo/$who/key.out" 2>&1 &
  pids+=($!)
  wait_for "$demo/$who/key.out" ready
done
"$plc_sim" --port 15020 --unit-ids 1 --max-connections 4 --log "$demo/plc.log" > "$demo/plc.out" 2>&1 &
pids+=($!)
wait_for "$demo/plc.out" listening
"$conduit" serve --config "$config" --data-dir "$demo/data" 2> >(tee "$demo/gateway.log" >&2) &
gateway_pid=$!
pids+=($gateway_pid)
wait_for "$demo/gateway.log" gateway_started

log_in() {  # who user [more conduit login flags]
  local who=$1 user=$2
  shift 2
  echo "\$ conduit login --gateway 127.0.0.1:8443 --user $user $*"
  "$conduit" login --gateway 127.0.0.1:8443 --user "$user" --dir "$demo/$who" --key-device "unix:$demo/$who/key.sock" "$@"
}
echo
echo "== each person enrolls their key with the one-time code, then logs in with a touch"
for who in alice acme; do
  "$conduit" login --enroll "$(cat "$demo/$who/code")" --gateway 127.0.0.1:8443 --dir "$demo/$who" \
    --key-device "unix:$demo/$who/key.sock"
done
log_in alice alice
log_in acme acme-eng

tunnel() {  # who local-port
  "$conduit" tunnel press-1 --gateway "127.0.0.1:$gateway_port" --listen "127.0.0.1:$2" \
    --cert "$demo/$1/client.crt" --key "$demo/$1/client.key" --ca "$demo/$1/ca.crt" 2> "$demo/tunnel-$1.log" &
  pids+=($!)
  wait_for "$demo/tunnel-$1.log" tunnel_ready
}
tunnel alice 5020
tunnel acme 5021

# Runs an mbpoll command and keeps only its results (values, written, or the failure).
show() { echo; echo "\$ $*"; "$@" 2>&1 | grep -E '^\[|[Ww]ritten|failed|[Ee]rror' || true; }
echo
echo "== alice (technician, laptop-7) through her tunnel on 127.0.0.1:5020"
show mbpoll -m tcp -a 1 -0 -r 0 -c 5 -t 4 -1 -p 5020 127.0.0.1          # read holding 0..4
show mbpoll -m tcp -a 1 -0 -r 100 -t 4 -1 -p 5020 127.0.0.1 1200         # setpoint 100 := 1200 (granted)
show mbpoll -m tcp -a 1 -0 -r 100 -t 4 -1 -p 5020 127.0.0.1 1600         # above the 0..1500 bound: refused
show mbpoll -m tcp -a 1 -0 -r 5 -t 4 -1 -p 5020 127.0.0.1 7              # register 5 is not writable: refused
echo
echo "== acme-eng (supplier, acme-laptop-3, read-only) through 127.0.0.1:5021"
show mbpoll -m tcp -a 1 -0 -r 0 -c 5 -t 3 -1 -p 5021 127.0.0.1          # read input registers 0..4
show mbpoll -m tcp -a 1 -0 -r 100 -t 4 -1 -p 5021 127.0.0.1 0            # any write: refused
echo
echo "== the plant revokes the supplier: the next request fails, and so does a new login"
echo "\$ conduit revoke user acme-eng --reason 'contract ended'"
"$conduit" revoke user acme-eng --reason "contract ended" --data-dir "$demo/data"
show mbpoll -m tcp -a 1 -0 -r 0 -c 5 -t 3 -1 -p 5021 127.0.0.1
log_in acme acme-eng || true
echo
echo "== what the PLC received (the refused writes never reached it):"
grep -v '"event"' "$demo/plc.log" || true
cat <<MSG

== The gateway runs on 127.0.0.1:$gateway_port (Modbus/TCP Security) in front of the simulated PLC on
   127.0.0.1:15020, with alice's tunnel on 127.0.0.1:5020 (her login certificate lasts 8 hours).
   Try it from another terminal:

     mbpoll -m tcp -a 1 -0 -r 0 -c 10 -t 4 -1 -p 5020 127.0.0.1

   Every request is in the audit trail: $demo/data/audit/modbus.jsonl
   Press Ctrl-C here to drain and stop the gateway.
MSG
wait "$gateway_pid"
