#!/usr/bin/env python3
"""A worker in Python (standard library only) using `tapnet serve`.

It asks the daemon for a network over its unix socket, has the VM's metadata requests forwarded
to a small HTTP server of its own (so it hands the VM its job and receives the result), boots
the VM and releases the network.

    python3 examples/daemon-client.py KERNEL INITRD [SOCKET]   (a member of the socket's group)
"""
import http.client
import http.server
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading


class UnixConnection(http.client.HTTPConnection):
    """HTTP/1.1 to the daemon's unix socket."""

    def __init__(self, path):
        super().__init__("tapnet")
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def api(sock, method, path, body=None):
    conn = UnixConnection(sock)
    headers = {"content-type": "application/json"} if body is not None else {}
    conn.request(method, path, json.dumps(body) if body is not None else None, headers)
    res = conn.getresponse()
    answer = json.loads(res.read() or b"null")
    conn.close()
    if res.status >= 300:
        raise RuntimeError(f"{method} {path}: {res.status} {answer['code']}: {answer['message']}")
    return answer


def main():
    kernel, initrd = sys.argv[1], sys.argv[2]
    sock = sys.argv[3] if len(sys.argv) > 3 else "/run/tapnet/api.sock"
    result = {}
    done = threading.Event()

    class Metadata(http.server.BaseHTTPRequestHandler):
        """Answers the VM: the daemon forwards its requests here (X-Tapnet-Network says which)."""

        def reply(self, status, text):
            body = text.encode()
            self.send_response(status)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path == "/scenario":
                self.reply(200, 'echo "python worker\'s VM on $TAPNET_IP"\nwget -qO- http://taskcluster/secret\n')
            elif self.path == "/secret":
                self.reply(200, "secret-for-the-python-job")
            else:
                self.reply(404, "not found\n")

        def do_POST(self):
            if self.path != "/result":
                return self.reply(404, "not found\n")
            result["output"] = self.rfile.read(int(self.headers["content-length"] or 0)).decode()
            done.set()  # before the answer: the guest powers off once it has it
            self.reply(200, "thanks\n")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Metadata)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    # Tied to this process (pid + start time) and to a TTL: if the worker dies, the network is
    # released; if it hangs, the TTL ends it.
    net = api(sock, "POST", "/v1/networks", {
        "handler": f"http://127.0.0.1:{server.server_port}",
        "holder": {"pid": os.getpid(), "ttl": 600},
        "wait": 60,
    })
    try:
        with tempfile.NamedTemporaryFile(suffix=".log") as log:
            qemu = subprocess.run(
                ["timeout", "240", "qemu-system-x86_64", "-nodefaults", "-display", "none", "-no-reboot",
                 "-accel", "tcg", "-m", "256", "-serial", f"file:{log.name}",
                 "-kernel", kernel, "-initrd", initrd,
                 # no_timer_check: a TCG guest on a busy host can miss the IO-APIC timer check and panic.
                 "-append", "console=ttyS0 quiet panic=-1 no_timer_check tapnet.net=dhcp", *net["qemuArgs"]],
                check=False,
            )
            if not done.is_set():
                console = open(log.name, errors="replace").read()[-2000:]
                raise RuntimeError(f"the VM posted no result (QEMU exit {qemu.returncode}); console:\n{console}")
        print(f"{net['name']}: " + result["output"].strip().replace("\n", " | "))
    finally:
        api(sock, "DELETE", f"/v1/networks/{net['name']}?id={net['id']}")
        server.shutdown()


if __name__ == "__main__":
    main()
