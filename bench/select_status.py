#!/usr/bin/env python3
"""SELECT and STATUS on large INBOX trees: Roost beside Debian's Dovecot.

Builds Maildir trees of 10,000 and 100,000 messages (override with
--sizes), lets Dovecot number them once (so both servers find the same
dovecot-uidlist, as on a migrated tree), then times on the same tree:

  cold SELECT  Roost: first SELECT of a freshly started server (nothing in
               memory). Dovecot: first SELECT after its index files are
               deleted (it must scan the Maildir and rebuild them).
  warm SELECT  a new connection selecting again (Roost: shared in-memory
               state; Dovecot: its index).
  STATUS       STATUS INBOX (MESSAGES UNSEEN UIDNEXT) from a second
               connection, warm.

Each figure is the median of --rounds runs, in milliseconds. Loopback only.
Dovecot runs as its real imap binary, pre-authenticated over a pipe (the
same process an IMAP login ends up in), as `nobody` when run as root.

Needs: cargo, python3, Debian's dovecot-imapd. Usage:
    bench/select_status.py [--sizes 10000,100000] [--rounds 5]
"""
import argparse
import os
import pathlib
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOVECOT_IMAP = "/usr/lib/dovecot/imap"
NOBODY = 65534
DEADLINE = 600  # seconds any single step may take


def build_roost():
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    return ROOT / "target/release/roost"


def make_tree(maildir, count):
    """A realistic-looking INBOX: Dovecot-style names with sizes, 70% seen."""
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    body = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 30 + "\n") * 2
    start = 1_600_000_000
    for i in range(count):
        msg = (
            f"From: Sender {i % 97} <s{i % 97}@example.org>\n"
            f"To: bench@example.org\nSubject: Message number {i}\n"
            f"Date: Mon, 1 Jan 2024 00:00:00 +0000\nMessage-ID: <{i}@bench>\n\n{body}"
        ).encode()
        vsize = len(msg) + msg.count(b"\n")
        flags = "S" if i % 10 < 7 else ""
        name = f"{start + i}.M{i % 1000000}P4242.bench,S={len(msg)},W={vsize}:2,{flags}"
        (maildir / "cur" / name).write_bytes(msg)


def chown_tree(path, uid):
    for dirpath, dirnames, filenames in os.walk(path):
        os.chown(dirpath, uid, uid)
        for f in filenames:
            os.chown(os.path.join(dirpath, f), uid, uid)


class Dovecot:
    def __init__(self, work, home):
        uid = NOBODY if os.geteuid() == 0 else os.geteuid()
        self.conf = work / "dovecot.conf"
        self.conf.write_text(
            "log_path = /dev/null\nmail_location = maildir:~/Maildir\n"
            f"mail_uid = {uid}\nmail_gid = {uid}\nfirst_valid_uid = {uid}\nfirst_valid_gid = 0\n"
        )
        self.home = home

    def session(self):
        p = subprocess.Popen(
            [DOVECOT_IMAP, "-c", str(self.conf)],
            env={"USER": "bench", "HOME": str(self.home), "PATH": "/usr/bin:/bin"},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        line = p.stdout.readline()
        assert line.startswith(b"* PREAUTH"), line
        return PipeClient(p)

    def drop_index(self):
        for f in (self.home / "Maildir").glob("dovecot.index*"):
            f.unlink()


class PipeClient:
    def __init__(self, proc):
        self.proc = proc
        self.n = 0

    def command(self, text):
        self.n += 1
        tag = f"b{self.n}".encode()
        self.proc.stdin.write(tag + b" " + text.encode() + b"\r\n")
        self.proc.stdin.flush()
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("dovecot closed the session")
            if line.startswith(tag + b" "):
                assert line.split()[1] == b"OK", line
                return

    def close(self):
        self.command("LOGOUT")
        self.proc.wait(timeout=DEADLINE)


class SocketClient:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
        # Buffered reads in C, as the pipe to Dovecot gets: the client must
        # not be what is measured.
        self.file = self.sock.makefile("rb", buffering=1 << 16)
        self.n = 0
        self.readline()

    def readline(self):
        line = self.file.readline()
        if not line:
            raise RuntimeError("roost closed the connection")
        return line

    def command(self, text):
        self.n += 1
        tag = f"b{self.n}".encode()
        self.sock.sendall(tag + b" " + text.encode() + b"\r\n")
        while True:
            line = self.readline()
            if line.startswith(tag + b" "):
                assert line.split()[1] == b"OK", line
                return

    def close(self):
        self.command("LOGOUT")
        self.file.close()
        self.sock.close()


class Roost:
    def __init__(self, binary, work, home):
        self.binary = binary
        passwd = work / "passwd"
        passwd.write_text(f"bench:{{PLAIN}}bench::::{home}::\n")
        self.conf = work / "roost.conf"
        self.conf.write_text(
            f"listen = 127.0.0.1:0\npasswd_file = {passwd}\nmail_location = %h/Maildir\nlog_level = warn\n"
            "allow_root = yes\n"
        )
        self.proc = None

    def start(self):
        self.stop()
        self.proc = subprocess.Popen(
            [str(self.binary), "serve", "-c", str(self.conf)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        line = self.proc.stdout.readline().decode()
        self.port = int(line.split()[2].rsplit(":", 1)[1])

    def session(self):
        c = SocketClient(self.port)
        c.command("LOGIN bench bench")
        return c

    def stop(self):
        if self.proc:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


def timed(client, command):
    t = time.perf_counter()
    client.command(command)
    return (time.perf_counter() - t) * 1000


def measure(server, rounds, cold_reset):
    cold, warm, status = [], [], []
    for _ in range(rounds):
        cold_reset()
        c = server.session()
        cold.append(timed(c, "SELECT INBOX"))
        c.close()
        c = server.session()
        warm.append(timed(c, "SELECT INBOX"))
        c.close()
        c = server.session()
        status.append(timed(c, "STATUS INBOX (MESSAGES UNSEEN UIDNEXT)"))
        c.close()
    return [statistics.median(x) for x in (cold, warm, status)]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    if not os.path.exists(DOVECOT_IMAP):
        sys.exit(f"{DOVECOT_IMAP} missing: apt-get install dovecot-imapd")
    roost_bin = build_roost()
    rows = []
    for count in [int(s) for s in args.sizes.split(",")]:
        work = pathlib.Path(tempfile.mkdtemp(prefix="roost-bench-"))
        os.chmod(work, 0o755)
        try:
            home = work / "home"
            print(f"building a {count}-message tree in {work} ...", file=sys.stderr)
            make_tree(home / "Maildir", count)
            if os.geteuid() == 0:
                chown_tree(home, NOBODY)
            dovecot = Dovecot(work, home)
            first = dovecot.session()  # numbers the tree: writes dovecot-uidlist
            first.command("SELECT INBOX")
            first.close()
            # A directory changed within the last second may hide a second
            # change with the same mtime, so both servers rescan it until it
            # is older; let that window pass, as on a tree not being written.
            time.sleep(2)
            roost = Roost(roost_bin, work, home)
            r = measure(roost, args.rounds, roost.start)
            roost.stop()
            d = measure(dovecot, args.rounds, dovecot.drop_index)
            for label, rv, dv in zip(("cold SELECT", "warm SELECT", "STATUS"), r, d):
                rows.append((f"{count:,}", label, rv, dv))
        finally:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\n{'messages':>9}  {'operation':<12} {'Roost ms':>9} {'Dovecot ms':>11} {'Roost/Dovecot':>14}")
    for count, label, rv, dv in rows:
        print(f"{count:>9}  {label:<12} {rv:>9.2f} {dv:>11.2f} {rv / dv if dv else float('nan'):>14.2f}")


if __name__ == "__main__":
    main()
