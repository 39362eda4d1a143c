#!/usr/bin/env python3
"""Memory and CPU of idle IMAP connections: Roost beside Debian's Dovecot.

Opens 1, 100 and 1,000 connections (override with --counts) that log in,
SELECT INBOX and sit in IDLE, then reports each server's memory
(proportional set size, PSS: Roost's one process; Dovecot: all its
processes, shared pages counted once) and the CPU time the
server used while the connections idled for --idle seconds (default 60).
Loopback only; Dovecot runs as a private instance (own config and port,
not the system service), as root with mail access as `nobody`.

Needs: cargo, python3, Debian's dovecot-imapd. Usage:
    bench/idle_memory.py [--counts 1,100,1000] [--idle 60]
"""
import argparse
import os
import pathlib
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import servers  # noqa: E402  (the private Roost and Dovecot instances)

ROOT = servers.ROOT
CLK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """utime + stime of a process (all its threads), in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK
    except OSError:
        return 0.0


def idle_client(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    f = s.makefile("rwb")
    f.readline()
    for tag, cmd in ((b"a", b"LOGIN bench bench"), (b"b", b"SELECT INBOX")):
        f.write(tag + b" " + cmd + b"\r\n")
        f.flush()
        while True:
            line = f.readline()
            if not line:
                raise RuntimeError(f"server closed the connection during {cmd!r}")
            if line.startswith(tag + b" "):
                if not line.startswith(tag + b" OK"):
                    raise RuntimeError(f"{cmd!r} failed: {line!r}")
                break
    f.write(b"c IDLE\r\n")
    f.flush()
    assert f.readline().startswith(b"+"), "no IDLE continuation"
    return s, f


class Measured:
    """A server from bench/servers.py, summed over its processes."""

    def __init__(self, server):
        self.server = server.start()
        self.name = server.name
        self.port = server.port

    def rss(self):
        return sum(servers.pss_kib(p) for p in self.server.pids())

    def plain_rss(self):
        return sum(servers.rss_kib(p) for p in self.server.pids())

    def cpu(self):
        return sum(cpu_seconds(p) for p in self.server.pids())

    def stop(self):
        self.server.stop()


def measure(server, counts, idle_secs):
    rows = []
    clients = []
    base_rss = server.rss()
    base_plain = server.plain_rss()
    for n in counts:
        while len(clients) < n:
            clients.append(idle_client(server.port))
        time.sleep(2)  # let logins settle
        rss = server.rss()
        plain = server.plain_rss()
        cpu0 = server.cpu()
        time.sleep(idle_secs)
        cpu = server.cpu() - cpu0
        rows.append((n, rss, (rss - base_rss) / n, cpu, (plain - base_plain) / n))
    for s, f in clients:
        s.close()
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--counts", default="1,100,1000")
    ap.add_argument("--idle", type=float, default=60)
    args = ap.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    work = pathlib.Path(tempfile.mkdtemp(prefix="roost-idle-"))
    os.chmod(work, 0o755)
    results = {}
    try:
        home = work / "home"
        for sub in ("cur", "new", "tmp"):
            (home / "Maildir" / sub).mkdir(parents=True)
        (home / "Maildir/cur/1700000000.M1P1.bench,S=20,W=21:2,S").write_bytes(b"Subject: x\n\nhello!!\n")
        servers.chown_tree(home)
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
        for cls in (servers.Dovecot, servers.Roost):
            server = Measured(cls(work, {"bench": home}))
            try:
                print(f"measuring {server.name} ...", file=sys.stderr)
                results[server.name] = measure(server, counts, args.idle)
            finally:
                server.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n{'idle conns':>10}  {'server':<8} {'PSS MiB':>8} {'PSS KiB/conn':>13} {'RSS KiB/conn':>13} {'CPU s idle':>11}")
    for i, n in enumerate(counts):
        for name in ("Roost", "Dovecot"):
            _, rss, per, cpu, plain = results[name][i]
            print(f"{n:>10}  {name:<8} {rss / 1024:>8.1f} {per:>13.0f} {plain:>13.0f} {cpu:>11.2f}")
        r, d = results["Roost"][i][2], results["Dovecot"][i][2]
        if d > 0:
            print(f"{'':>10}  {'ratio':<8} {'':>8} {r / d:>13.2f}")


if __name__ == "__main__":
    main()
