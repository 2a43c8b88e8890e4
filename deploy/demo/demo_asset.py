#!/usr/bin/python3
"""A stand-in OT asset for the demo: a plain TCP service on loopback that answers every
line it receives, so a user can see their bytes arrive through the gateway. (The Modbus
issue replaces it with a simulated PLC.)"""
import socketserver
import sys


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        peer = "%s:%d" % self.client_address
        print(f"demo asset: connection from {peer} (the gateway)", flush=True)
        for line in self.rfile:
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            self.wfile.write(f"press-1 received: {text}\n".encode())
        print(f"demo asset: {peer} closed", flush=True)


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 15020
    with Server(("127.0.0.1", port), Handler) as server:
        print(f"demo asset: listening on 127.0.0.1:{port}", flush=True)
        server.serve_forever()
