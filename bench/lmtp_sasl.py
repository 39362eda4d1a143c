#!/usr/bin/env python3
"""What Postfix asks of its delivery and auth server, Roost beside Debian's
Dovecot in one run:

  LMTP          deliveries per second over the Unix socket Postfix would
                use, 1 and 10 connections in parallel, 4 KiB and 100 KiB
                messages, one recipient per transaction and connections
                kept open (as Postfix's lmtp client does); every message
                fsynced, as both servers do by default.
  Sieve         the same LMTP deliveries to users with a 50-rule Sieve
                script (Roost's interpreter; Dovecot with Pigeonhole's
                sieve plugin, dovecot-sieve), which the mail matches none
                of, so every rule runs.
  SASL          PLAIN authentications per second through the auth socket
                (Dovecot's auth client protocol, as Postfix's smtpd uses
                it), 1 and 10 connections.

Both servers get private configurations, sockets and Maildirs in a temp
directory (Dovecot: its own base_dir, dovecot-lmtpd's lmtp service and its
auth service; passwd-file users with {PLAIN} passwords for both). Needs
root (both then act as nobody), cargo, Debian's dovecot-core and
dovecot-lmtpd. Prints a table and, with --write, appends it to
bench/RESULTS.md.

Usage: bench/lmtp_sasl.py [--seconds 5] [--write] [--keep]
"""
import argparse
import base64
import datetime
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from servers import ROOT, NOBODY, chown_tree, mail_uid  # noqa: E402

USERS = [f"user{i}" for i in range(10)]
# Users with a 50-rule Sieve script (Pigeonhole's layout for both servers).
SIEVE_USERS = [f"sieve{i}" for i in range(10)]


def sieve_script():
    """50 rules of the kinds users write; the benchmark mail matches none,
    so every rule is evaluated and the message is kept."""
    rules = ['require ["fileinto", "imap4flags", "envelope", "relational", "comparator-i;ascii-numeric"];']
    for i in range(50):
        kind = i % 5
        if kind == 0:
            rules.append(f'if header :contains "subject" "project-{i}" {{ fileinto "P{i}"; stop; }}')
        elif kind == 1:
            rules.append(f'if address :domain :is "from" "list{i}.example.net" {{ fileinto "L{i}"; stop; }}')
        elif kind == 2:
            rules.append(f'if header :matches "x-mailing-list" "*list-{i}*" {{ addflag "$List{i}"; }}')
        elif kind == 3:
            rules.append(f'if envelope :is "from" "sender{i}@example.org" {{ fileinto "S{i}"; stop; }}')
        else:
            rules.append(f'if allof (exists "x-spam-score", header :value "gt" :comparator "i;ascii-numeric" "x-spam-score" "{i}") {{ fileinto "Junk"; stop; }}')
    return "\n".join(rules) + "\n"


def install_sieve(home):
    (home / "sieve").mkdir(parents=True, exist_ok=True)
    (home / "sieve" / "rules.sieve").write_text(sieve_script())
    link = home / ".dovecot.sieve"
    if not link.exists():
        link.symlink_to("sieve/rules.sieve")
DEADLINE = 60  # seconds any single reply may take


def message(size):
    head = b"From: bench@example.org\r\nTo: user@example.org\r\nSubject: bench\r\n\r\n"
    line = b"x" * 76 + b"\r\n"
    body = line * ((size - len(head)) // len(line) + 1)
    return (head + body)[:size - 2] + b"\r\n"


def wait_socket(path, what, log, limit=30):
    deadline = time.time() + limit
    while time.time() < deadline:
        try:
            s = socket.socket(socket.AF_UNIX)
            s.connect(str(path))
            s.close()
            return
        except OSError:
            time.sleep(0.05)
    tail = pathlib.Path(log).read_text()[-2000:] if pathlib.Path(log).exists() else ""
    sys.exit(f"{what} never listened on {path}\n{tail}")


class RoostSide:
    name = "Roost"

    def __init__(self, work, homes):
        self.work = work / "roost"
        self.work.mkdir(exist_ok=True)
        os.chmod(self.work, 0o755)
        self.binary = self.work / "roost"
        shutil.copy(ROOT / "target/release/roost", self.binary)
        passwd = self.work / "passwd"
        passwd.write_text("".join(f"{u}:{{PLAIN}}{u}::::{h}::\n" for u, h in homes.items()))
        self.lmtp = self.work / "lmtp"
        self.auth = self.work / "auth"
        self.conf = self.work / "roost.conf"
        self.conf.write_text(
            f"listen = 127.0.0.1:0\npasswd_file = {passwd}\nmail_location = %h/Maildir\n"
            f"log_level = warn\nlmtp_listen = unix:{self.lmtp}\nauth_listen = unix:{self.auth}\n"
            "unix_socket_mode = 0666\nmax_connections = 1000\n")
        chown_tree(self.work)
        self.proc = None

    def start(self):
        cmd = [str(self.binary), "serve", "-c", str(self.conf)]
        if os.geteuid() == 0:
            cmd = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"] + cmd
        self.log = self.work / "roost.log"
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(self.log, "ab"))
        wait_socket(self.lmtp, "roost", self.log)
        wait_socket(self.auth, "roost", self.log)

    def stop(self):
        if self.proc:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


class DovecotSide:
    name = "Dovecot"

    def __init__(self, work, homes):
        self.work = work / "dovecot"
        self.work.mkdir(exist_ok=True)
        os.chmod(self.work, 0o755)
        uid = mail_uid()
        passwd = self.work / "passwd"
        passwd.write_text("".join(f"{u}:{{PLAIN}}{u}:{uid}:{uid}::{h}::\n" for u, h in homes.items()))
        self.lmtp = self.work / "lmtp"
        self.auth = self.work / "auth"
        self.conf = self.work / "dovecot.conf"
        self.conf.write_text(f"""
base_dir = {self.work}/run
state_dir = {self.work}/state
log_path = {self.work}/dovecot.log
protocols = lmtp
ssl = no
disable_plaintext_auth = no
first_valid_uid = {min(uid, 500)}
mail_location = maildir:~/Maildir
passdb {{
  driver = passwd-file
  args = username_format=%n {passwd}
}}
userdb {{
  driver = passwd-file
  args = username_format=%n {passwd}
}}
protocol lmtp {{
  mail_plugins = sieve
}}
plugin {{
  sieve = file:~/sieve;active=~/.dovecot.sieve
}}
service lmtp {{
  unix_listener {self.lmtp} {{
    mode = 0666
  }}
}}
service auth {{
  unix_listener {self.auth} {{
    mode = 0666
  }}
}}
service anvil {{
  chroot =
}}
""")

    def start(self):
        subprocess.run(["dovecot", "-c", str(self.conf)], check=True,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_socket(self.lmtp, "dovecot", self.work / "dovecot.log")
        wait_socket(self.auth, "dovecot", self.work / "dovecot.log")

    def stop(self):
        subprocess.run(["dovecot", "-c", str(self.conf), "stop"], check=False,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class Lines:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(DEADLINE)
        self.sock.connect(str(path))
        self.file = self.sock.makefile("rb", buffering=1 << 16)

    def line(self):
        line = self.file.readline()
        if not line:
            raise RuntimeError("the server closed the connection")
        return line

    def close(self):
        self.file.close()
        self.sock.close()


def lmtp_worker(path, user, data, stop, counts, slot):
    c = Lines(path)

    def reply():
        while True:
            line = c.line()
            if line[3:4] != b"-":
                return line

    reply()
    c.sock.sendall(b"LHLO bench.example.org\r\n")
    reply()
    txn = (b"MAIL FROM:<bench@example.org>\r\nRCPT TO:<" + user.encode()
           + b"@example.org>\r\nDATA\r\n")
    while not stop.is_set():
        c.sock.sendall(txn)
        for want in (b"250", b"250", b"354"):
            got = reply()
            if not got.startswith(want):
                raise RuntimeError(f"LMTP: {got!r}")
        c.sock.sendall(data + b".\r\n")
        got = reply()
        if not got.startswith(b"250"):
            raise RuntimeError(f"LMTP: {got!r}")
        counts[slot] += 1
    c.sock.sendall(b"QUIT\r\n")
    c.close()


def sasl_worker(path, user, _data, stop, counts, slot):
    c = Lines(path)
    c.sock.sendall(f"VERSION\t1\t2\nCPID\t{os.getpid() * 100 + slot}\n".encode())
    while not c.line().startswith(b"DONE"):
        pass
    resp = base64.b64encode(f"\0{user}\0{user}".encode()).decode()
    n = 0
    while not stop.is_set():
        n += 1
        c.sock.sendall(f"AUTH\t{n}\tPLAIN\tservice=smtp\trip=127.0.0.1\tsecured\tresp={resp}\n".encode())
        got = c.line()
        if not got.startswith(f"OK\t{n}\t".encode()):
            raise RuntimeError(f"SASL: {got!r}")
        counts[slot] += 1
    c.close()


def rate(worker, path, conns, data, seconds, users=USERS):
    """Operations per second over `seconds` with `conns` connections."""
    stop = threading.Event()
    counts = [0] * conns
    errors = []

    def run(slot):
        try:
            worker(path, users[slot % len(users)], data, stop, counts, slot)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)
            stop.set()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(conns)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join(DEADLINE)
    elapsed = time.perf_counter() - t0
    if errors:
        sys.exit(f"{worker.__name__}: {errors[0]}")
    return sum(counts) / elapsed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: Dovecot's master must start as root (both servers then act as nobody)")
    for tool in ("cargo", "dovecot"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing")
    if not pathlib.Path("/usr/lib/dovecot/lmtp").exists():
        sys.exit("/usr/lib/dovecot/lmtp is missing: install Debian's dovecot-lmtpd")
    subprocess.run(["cargo", "build", "--release", "--bin", "roost"], cwd=ROOT, check=True)
    load_before = os.getloadavg()
    work = pathlib.Path(tempfile.mkdtemp(prefix="roost-bench-lmtp-"))
    os.chmod(work, 0o755)
    sides = []
    try:
        for cls in (RoostSide, DovecotSide):
            homes = {u: work / cls.name.lower() / "home" / u for u in USERS + SIEVE_USERS}
            for h in homes.values():
                h.mkdir(parents=True)
            for u in SIEVE_USERS:
                install_sieve(homes[u])
            side = cls(work, homes)
            chown_tree(work / cls.name.lower() / "home")
            side.start()
            sides.append(side)
        rows = []
        for label, worker, path_of, conns, size, users in [
            ("LMTP 4 KiB, 1 connection (msg/s)", lmtp_worker, "lmtp", 1, 4096, USERS),
            ("LMTP 4 KiB, 10 connections (msg/s)", lmtp_worker, "lmtp", 10, 4096, USERS),
            ("LMTP 100 KiB, 1 connection (msg/s)", lmtp_worker, "lmtp", 1, 102400, USERS),
            ("LMTP 100 KiB, 10 connections (msg/s)", lmtp_worker, "lmtp", 10, 102400, USERS),
            ("LMTP 4 KiB, 50-rule Sieve, 1 conn (msg/s)", lmtp_worker, "lmtp", 1, 4096, SIEVE_USERS),
            ("LMTP 4 KiB, 50-rule Sieve, 10 conns (msg/s)", lmtp_worker, "lmtp", 10, 4096, SIEVE_USERS),
            ("SASL PLAIN, 1 connection (auth/s)", sasl_worker, "auth", 1, 0, USERS),
            ("SASL PLAIN, 10 connections (auth/s)", sasl_worker, "auth", 10, 0, USERS),
        ]:
            data = message(size) if size else b""
            got = [rate(worker, getattr(s, path_of), conns, data, args.seconds, users) for s in sides]
            rows.append((label, got[0], got[1]))
            print(f"{label:40} Roost {got[0]:9.0f}  Dovecot {got[1]:9.0f}  ratio {got[0] / got[1]:5.2f}",
                  flush=True)
    finally:
        for s in sides:
            s.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    load_after = os.getloadavg()
    table = report(rows, args.seconds, load_before, load_after)
    print(table)
    if args.write:
        with open(ROOT / "bench/RESULTS.md", "a") as f:
            f.write("\n" + table)


def report(rows, seconds, before, after):
    dovecot = subprocess.run(["dovecot", "--version"], capture_output=True, text=True).stdout.strip()
    out = [
        "## LMTP and SASL (Postfix's side)",
        "",
        f"Produced by `bench/lmtp_sasl.py` on {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC, "
        f"Dovecot {dovecot}, nproc {os.cpu_count()}, {seconds:g} s per figure, load average "
        f"before / after: {' '.join(f'{x:.2f}' for x in before)} / {' '.join(f'{x:.2f}' for x in after)}.",
        "Unix sockets, one recipient per transaction, connections kept open; every",
        "message fsynced by both. The ratio is Roost/Dovecot: above 1, Roost is ahead.",
        "",
        "| measurement                              |   Roost | Dovecot | ratio |",
        "|------------------------------------------|--------:|--------:|------:|",
    ]
    for label, r, d in rows:
        out.append(f"| {label:40} | {r:7.0f} | {d:7.0f} | {r / d:5.2f} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
