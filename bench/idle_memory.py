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

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOBODY = 65534
CLK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def plain_rss_kib(pid):
    """Resident set size as ps shows it (shared pages counted per process)."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE // 1024
    except OSError:
        return 0


def rss_kib(pid):
    """Proportional set size: shared pages split between the processes
    sharing them, so summing over Dovecot's processes does not count its
    libraries once per process (plain RSS would)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid):
    """utime + stime of a process (all its threads), in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK
    except OSError:
        return 0.0


def dovecot_pids(base_dir):
    """The master process and all its descendants."""
    master = int((base_dir / "master.pid").read_text().strip())
    pids, frontier = {master}, [master]
    while frontier:
        parent = frontier.pop()
        try:
            kids = pathlib.Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        except OSError:
            kids = []
        for k in map(int, kids):
            if k not in pids:
                pids.add(k)
                frontier.append(k)
    return pids


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


class Roost:
    name = "Roost"

    def __init__(self, work, home):
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
        passwd = work / "passwd"
        passwd.write_text(f"bench:{{PLAIN}}bench::::{home}::\n")
        conf = work / "roost.conf"
        conf.write_text(
            f"listen = 127.0.0.1:0\npasswd_file = {passwd}\nmail_location = %h/Maildir\n"
            "log_level = warn\nmax_connections = 5000\n"
            "max_connections_per_ip = 100000\nmax_sessions_per_user = 100000\n"
            # Benchmarks may run as root; this private instance may too.
            "allow_root = yes\n"
        )
        self.proc = subprocess.Popen(
            [str(ROOT / "target/release/roost"), "serve", "-c", str(conf)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.port = int(self.proc.stdout.readline().decode().split()[2].rsplit(":", 1)[1])

    def rss(self):
        return rss_kib(self.proc.pid)

    def plain_rss(self):
        return plain_rss_kib(self.proc.pid)

    def cpu(self):
        return cpu_seconds(self.proc.pid)

    def stop(self):
        self.proc.kill()
        self.proc.wait()


class Dovecot:
    name = "Dovecot"

    def __init__(self, work, home):
        self.base = work / "dovecot-run"
        port = free_port()
        passwd = work / "dovecot-passwd"
        uid = NOBODY if os.geteuid() == 0 else os.geteuid()
        passwd.write_text(f"bench:{{PLAIN}}bench:{uid}:{uid}::{home}::\n")
        conf = work / "dovecot.conf"
        conf.write_text(f"""
base_dir = {self.base}
state_dir = {work}/dovecot-state
log_path = {work}/dovecot.log
listen = 127.0.0.1
protocols = imap
ssl = no
disable_plaintext_auth = no
first_valid_uid = {min(uid, 500)}
mail_location = maildir:~/Maildir
default_process_limit = 5000
default_client_limit = 10000
passdb {{
  driver = passwd-file
  args = {passwd}
}}
userdb {{
  driver = passwd-file
  args = {passwd}
}}
service imap-login {{
  inet_listener imap {{
    port = {port}
  }}
}}
service anvil {{
  chroot =
}}
protocol imap {{
  mail_max_userip_connections = 10000
}}
""")
        subprocess.run(["dovecot", "-c", str(conf)], check=True)
        self.conf = conf
        self.port = port
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                if (self.base / "master.pid").exists():
                    return
            except OSError:
                pass
            time.sleep(0.1)
        log = (work / "dovecot.log").read_text() if (work / "dovecot.log").exists() else ""
        sys.exit(f"dovecot did not start:\n{log[-2000:]}")

    def rss(self):
        return sum(rss_kib(p) for p in dovecot_pids(self.base))

    def plain_rss(self):
        return sum(plain_rss_kib(p) for p in dovecot_pids(self.base))

    def cpu(self):
        return sum(cpu_seconds(p) for p in dovecot_pids(self.base))

    def stop(self):
        subprocess.run(["dovecot", "-c", str(self.conf), "stop"], check=False)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


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
        if os.geteuid() == 0:
            for dirpath, _, files in os.walk(home):
                os.chown(dirpath, NOBODY, NOBODY)
                for f in files:
                    os.chown(os.path.join(dirpath, f), NOBODY, NOBODY)
        # Dovecot first: it creates the uidlist as the mail user, which
        # Roost (as root here) can read; the other way round it could not.
        for cls in (Dovecot, Roost):
            server = cls(work, home)
            try:
                print(f"measuring {cls.name} ...", file=sys.stderr)
                results[cls.name] = measure(server, counts, args.idle)
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
