#!/usr/bin/env bash
# The README's demo command: installs everything, builds, creates a site CA and
# certificates in a demo data directory, starts a stand-in asset on 127.0.0.1:15020 and
# the gateway on 127.0.0.1:8502 in front of it, proves one connection end to end, and then
# keeps the gateway running in the foreground (Ctrl-C drains and stops it).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
demo=${CONDUIT_DEMO_DIR:-/tmp/conduit-demo}
conduit="$root/build/proxy/conduit"

"$root/deploy/build.sh" -DCONDUIT_TESTS=OFF

echo "== site PKI in $demo"
rm -rf "$demo"
mkdir -p "$demo"
chmod 0755 "$demo"
"$conduit" ca init --data-dir "$demo/data" --name "Demo Plant CA"
"$conduit" ca issue server --data-dir "$demo/data" --name gateway --dns localhost --ip 127.0.0.1
"$conduit" ca issue device --data-dir "$demo/data" --device laptop-7 --user alice --out "$demo/alice"
cp "$demo/data/pki/ca.crt" "$demo/alice/ca.crt"
"$conduit" ca issue device --data-dir "$demo/data" --device laptop-9 --user mallory --out "$demo/mallory"

config="$demo/gateway.json"
cp "$root/deploy/demo/gateway.json" "$config"
if [ "$(id -u)" -eq 0 ]; then
  # As a package would: an unprivileged system user owns the gateway's state.
  id conduit >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin conduit
  chown -R conduit: "$demo/data"
fi  # not root: run_as does not apply, the gateway keeps the starting user
"$conduit" check-config "$config" --data-dir "$demo/data"

cleanup() { kill "${asset_pid:-}" "${gateway_pid:-}" 2>/dev/null || true; }
trap cleanup EXIT

/usr/bin/python3 "$root/deploy/demo/demo_asset.py" 15020 &
asset_pid=$!
"$conduit" serve --config "$config" --data-dir "$demo/data" 2> >(tee "$demo/gateway.log" >&2) &
gateway_pid=$!
for _ in $(seq 1 100); do grep -q gateway_started "$demo/gateway.log" 2>/dev/null && break; sleep 0.1; done

connect=(openssl s_client -quiet -connect 127.0.0.1:8502 -servername localhost
         -CAfile "$demo/alice/ca.crt" -cert "$demo/alice/laptop-7.crt" -key "$demo/alice/laptop-7.key")
say_hello() {  # device-dir device-id: one line through the gateway, print the answer
  /usr/bin/python3 - "$demo" "$1" "$2" <<'PY'
import socket, ssl, sys
demo, who, device = sys.argv[1:]
ctx = ssl.create_default_context(cafile=f"{demo}/alice/ca.crt")
ctx.load_cert_chain(f"{demo}/{who}/{device}.crt", f"{demo}/{who}/{device}.key")
with socket.create_connection(("127.0.0.1", 8502), timeout=10) as raw:
    try:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(f"hello from {who}\n".encode())
            answer = tls.recv(4096).decode().strip()
            print("   asset answered:", answer or "(nothing: connection closed by the gateway)")
    except (ssl.SSLError, OSError) as e:
        print("   refused:", e)
PY
}
echo
echo "== alice on laptop-7 (granted) sends one line through the gateway:"
say_hello alice laptop-7
echo "== mallory on laptop-9 (valid certificate, no grant) is refused (the gateway logs session_denied):"
say_hello mallory laptop-9
cat <<MSG

== The gateway is running on 127.0.0.1:8502 in front of the demo asset on 127.0.0.1:15020.
   Connect as alice from another terminal and type lines (the asset answers each one):

     ${connect[*]}

   Press Ctrl-C here to drain and stop the gateway.
MSG
wait "$gateway_pid"
