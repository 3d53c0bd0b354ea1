#!/usr/bin/env python3
"""Capture what rsyslog and syslog-ng forward, and how they parse it themselves.

Not run by the tests: it made the `relays` lines of tests/data/syslog_corpus (rsyslog 8.2302
and syslog-ng 3.38 from Debian 12). Each relay runs from a private config on loopback:
real senders (util-linux `logger`, Python's SysLogHandler) send to it, it forwards to a
listener here, and the forwarded lines are sent once more to both relays, whose own parse
(program name, host, message) is written beside them.

rsyslog and syslog-ng conflict as Debian packages; rsyslog is used from its unpacked .deb
(`apt-get download rsyslog; dpkg -x rsyslog_*.deb DIR`), syslog-ng from its package.
Usage: scripts/capture_relays.py RSYSLOG_ROOT OUT_DIR
"""
import json
import logging
import logging.handlers
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

RS_ROOT, OUT = sys.argv[1], sys.argv[2]
RSYSLOGD = os.path.join(RS_ROOT, "usr/sbin/rsyslogd")
RS_MODULES = os.path.join(RS_ROOT, "usr/lib/x86_64-linux-gnu/rsyslog")
WORK = tempfile.mkdtemp(prefix="relays-")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Capture:
    """A TCP listener collecting LF-framed lines (what the relays forward)."""

    def __init__(self):
        self.port = free_port()
        self.lines = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(16)
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            conn, _ = self.sock.accept()
            threading.Thread(target=self.read, args=(conn,), daemon=True).start()

    def read(self, conn):
        buf = b""
        while True:
            data = conn.recv(65536)
            if not data:
                return
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                self.lines.append(line)


def rsyslog(name, listen, template, forward_to):
    """Start rsyslogd relaying to `forward_to` with `template`; its parse goes to a file."""
    d = os.path.join(WORK, name)
    os.makedirs(d)
    parsed = os.path.join(d, "parsed.txt")
    conf = f"""
global(workDirectory="{d}")
module(load="imtcp") module(load="imudp")
template(name="parsed" type="string" string="%programname%|%hostname%|%msg%\\n")
input(type="imtcp" port="{listen}" address="127.0.0.1" ruleset="r")
input(type="imudp" port="{listen}" address="127.0.0.1" ruleset="r")
ruleset(name="r") {{
  action(type="omfile" file="{parsed}" template="parsed")
  action(type="omfwd" target="127.0.0.1" port="{forward_to}" protocol="tcp" template="{template}")
}}
"""
    path = os.path.join(d, "rsyslog.conf")
    open(path, "w").write(conf)
    p = subprocess.Popen([RSYSLOGD, "-n", "-f", path, "-i", os.path.join(d, "pid"), "-M", RS_MODULES])
    return p, parsed


def syslog_ng(name, listen, forward_to):
    d = os.path.join(WORK, name)
    os.makedirs(d)
    parsed = os.path.join(d, "parsed.txt")
    conf = f"""@version: 3.38
options {{ keep-hostname(yes); chain-hostnames(no); }};
source s {{ network(ip("127.0.0.1") port({listen}) transport("tcp")); network(ip("127.0.0.1") port({listen}) transport("udp")); }};
destination parsed {{ file("{parsed}" template("${{PROGRAM}}|${{HOST}}|${{MSG}}\\n")); }};
destination fwd {{ network("127.0.0.1" port({forward_to}) transport("tcp")); }};
log {{ source(s); destination(parsed); destination(fwd); }};
"""
    path = os.path.join(d, "syslog-ng.conf")
    open(path, "w").write(conf)
    p = subprocess.Popen(["syslog-ng", "-F", "-f", path, "-R", os.path.join(d, "persist"),
                          "-p", os.path.join(d, "pid"), "-c", os.path.join(d, "ctl")])
    return p, parsed


def send_all(port):
    """The real senders: logger (RFC 3164 and 5424, TCP and UDP) and Python's handler."""
    def logger(*args):
        subprocess.run(["logger", "-n", "127.0.0.1", "-P", str(port), *args], check=True)
    logger("-T", "--rfc3164", "-t", "my-app.v2_x", "Grüße aus Köln: rsyslog forwards this tag")
    logger("-T", "--rfc3164", "-t", "CRON", "--id=1234", "(root) CMD (run-parts /etc/cron.hourly)")
    logger("-d", "--rfc3164", "-t", "backup-job", "nightly run finished")
    logger("-T", "-t", "my-app.v2_x", "Grüße aus Köln: rsyslog forwards this tag without its colon")
    logger("-T", "-t", "CRON", "(root) CMD (run-parts /etc/cron.daily)")
    for st in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        h = logging.handlers.SysLogHandler(address=("127.0.0.1", port), socktype=st)
        h.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        log = logging.getLogger("pyapp")
        log.handlers = [h]
        log.warning("python handler over %s", "udp" if st == socket.SOCK_DGRAM else "tcp")
        h.close()


def wait_lines(cap, n):
    for _ in range(100):
        if len(cap.lines) >= n:
            return
        time.sleep(0.1)


def main():
    os.makedirs(OUT, exist_ok=True)
    relays = {}
    procs = []
    for name, start in [
        ("rsyslog_forward", lambda l, f: rsyslog("rsyslog_forward", l, "RSYSLOG_ForwardFormat", f)),
        ("rsyslog_traditional", lambda l, f: rsyslog("rsyslog_traditional", l, "RSYSLOG_TraditionalForwardFormat", f)),
        ("syslog_ng", lambda l, f: syslog_ng("syslog_ng", l, f)),
    ]:
        cap = Capture()
        listen = free_port()
        p, parsed = start(listen, cap.port)
        procs.append(p)
        relays[name] = (listen, cap, parsed)
    time.sleep(2)
    for name, (listen, cap, _) in relays.items():
        send_all(listen)
    for name, (_, cap, _) in relays.items():
        wait_lines(cap, 6)
    for p in procs:
        p.terminate()
        p.wait()
    # The relays' own parse of what they forwarded: each distinct forwarded line is sent to
    # fresh relays one at a time, and each relay's parse of it read back.
    forwarded = {name: list(cap.lines) for name, (_, cap, _) in relays.items()}
    lines = []
    for name, ls in forwarded.items():
        for l in ls:
            if l not in lines:
                lines.append(l)
    parsers = {}
    for name, start in [
        ("rsyslog", lambda l, f: rsyslog("rsyslog_parse", l, "RSYSLOG_ForwardFormat", f)),
        ("syslog_ng", lambda l, f: syslog_ng("syslog_ng_parse", l, f)),
    ]:
        cap = Capture()
        listen = free_port()
        p, parsed = start(listen, cap.port)
        procs.append(p)
        parsers[name] = (listen, p, parsed)
    time.sleep(2)
    parsed_lines = {name: [] for name in parsers}
    for line in lines:
        for name, (listen, _, parsed) in parsers.items():
            before = len(parsed_lines[name])
            with socket.create_connection(("127.0.0.1", listen)) as s:
                s.sendall(line + b"\n")
            for _ in range(100):
                got = open(parsed, "rb").read().splitlines() if os.path.exists(parsed) else []
                if len(got) > before:
                    break
                time.sleep(0.05)
            parsed_lines[name] = got
    for name, (_, p, _) in parsers.items():
        p.terminate()
        p.wait()
    out = []
    for k, line in enumerate(lines):
        rs = parsed_lines["rsyslog"][k].decode("utf-8", "replace").split("|", 2)
        ng = parsed_lines["syslog_ng"][k].decode("utf-8", "replace").split("|", 2)
        relay = [n for n, ls in forwarded.items() if line in ls]
        out.append({"line": line.decode("utf-8", "replace"), "forwarded_by": relay,
                    "rsyslog": {"programname": rs[0], "hostname": rs[1], "msg": rs[2]},
                    "syslog_ng": {"PROGRAM": ng[0], "HOST": ng[1], "MSG": ng[2]}})
    with open(os.path.join(OUT, "relays.log"), "wb") as f:
        f.write(b"".join(l + b"\n" for l in lines))
    with open(os.path.join(OUT, "relays.parsed.json"), "w") as f:
        for o in out:
            f.write(json.dumps(o, ensure_ascii=False) + "\n")
    print(open(os.path.join(OUT, "relays.parsed.json")).read())


main()
