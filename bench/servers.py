"""Roost and Debian's Dovecot as private listening servers on loopback
ports, with the same users and Maildir homes, and a small timed client.

Both run as `nobody` when started as root (Dovecot refuses root, and one
owner keeps the shared trees writable by both), as the calling user
otherwise. Dovecot gets its own configuration, base_dir, port and
passwd-file: the system service is left alone.
"""
import os
import pathlib
import re
import shutil
import socket
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOBODY = 65534
DEADLINE = 900  # seconds any single command may take
LITERAL = re.compile(rb"\{(\d+)\}\r\n$")


def mail_uid():
    return NOBODY if os.geteuid() == 0 else os.geteuid()


def chown_tree(path, uid=None):
    uid = mail_uid() if uid is None else uid
    if os.geteuid() != 0:
        return
    for dirpath, _, filenames in os.walk(path):
        os.chown(dirpath, uid, uid)
        for f in filenames:
            os.chown(os.path.join(dirpath, f), uid, uid)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, what, log=None, limit=30):
    deadline = time.time() + limit
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    tail = pathlib.Path(log).read_text()[-2000:] if log and pathlib.Path(log).exists() else ""
    sys.exit(f"{what} did not start listening on {port}\n{tail}")


def pss_kib(pid):
    """Proportional set size: shared pages split between the processes
    sharing them, so summing over processes counts libraries once."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_kib(pid):
    """Resident set size as ps shows it (shared pages counted per process)."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    except OSError:
        return 0


def descendants(pid):
    pids, frontier = {pid}, [pid]
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


def password_field(user, stored):
    """The passwd-file password of `user`: `stored`'s entry, else {PLAIN}."""
    return (stored or {}).get(user, f"{{PLAIN}}{user}")


def sha512_crypt(password):
    """`password` as {SHA512-CRYPT}, which both servers verify (the hash
    itself comes from `roost hash`)."""
    p = subprocess.run([str(ROOT / "target/release/roost"), "hash", "--scheme", "SHA512-CRYPT"],
                       input=password + "\n", capture_output=True, text=True, check=True)
    return p.stdout.strip().splitlines()[-1]


class Roost:
    name = "Roost"

    def __init__(self, work, users, stored=None):
        """users: {name: home}; every password is the name, stored as
        {PLAIN} unless `stored` ({name: passwd-file field}) says otherwise."""
        self.work = pathlib.Path(work) / "roost"
        self.work.mkdir(parents=True, exist_ok=True)
        os.chmod(self.work, 0o755)
        # A copy the mail user can execute (the checkout may be private).
        self.binary = self.work / "roost"
        shutil.copy(ROOT / "target/release/roost", self.binary)
        passwd = self.work / "passwd"
        passwd.write_text("".join(f"{u}:{password_field(u, stored)}::::{h}::\n" for u, h in users.items()))
        self.conf = self.work / "roost.conf"
        self.conf.write_text(
            f"listen = 127.0.0.1:0\npasswd_file = {passwd}\nmail_location = %h/Maildir\n"
            "log_level = warn\nmax_connections = 5000\n"
            # Many clients from one address and few users: lift those caps.
            "max_connections_per_ip = 100000\nmax_sessions_per_user = 100000\n"
        )
        for f in (passwd, self.conf):
            os.chmod(f, 0o644)
        self.proc = None
        self.port = None

    def start(self):
        self.stop()
        cmd = [str(self.binary), "serve", "-c", str(self.conf)]
        if os.geteuid() == 0:
            cmd = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"] + cmd
        self.log = open(self.work / "roost.log", "ab")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.log)
        line = self.proc.stdout.readline().decode()
        if "listening on" not in line:
            sys.exit(f"roost did not start: {line!r}; see {self.work / 'roost.log'}")
        self.port = int(line.split()[2].rsplit(":", 1)[1])
        return self

    def reset_caches(self):
        """Cold: a fresh process knows nothing."""
        self.start()

    def pids(self):
        return {self.proc.pid}

    def stop(self):
        if self.proc:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


class Dovecot:
    name = "Dovecot"

    def __init__(self, work, users, stored=None):
        self.work = pathlib.Path(work) / "dovecot"
        self.work.mkdir(parents=True, exist_ok=True)
        os.chmod(self.work, 0o755)
        self.users = users
        self.base = self.work / "run"
        self.port = free_port()
        uid = mail_uid()
        passwd = self.work / "passwd"
        passwd.write_text("".join(
            f"{u}:{password_field(u, stored)}:{uid}:{uid}::{h}::\n" for u, h in users.items()))
        self.conf = self.work / "dovecot.conf"
        self.conf.write_text(f"""
base_dir = {self.base}
state_dir = {self.work}/state
log_path = {self.work}/dovecot.log
listen = 127.0.0.1
protocols = imap
ssl = no
disable_plaintext_auth = no
first_valid_uid = {min(uid, 500)}
mail_location = maildir:~/Maildir
default_process_limit = 5000
default_client_limit = 20000
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
    port = {self.port}
  }}
}}
service imap {{
  process_limit = 5000
}}
service anvil {{
  chroot =
}}
protocol imap {{
  mail_max_userip_connections = 10000
}}
""")
        self.running = False

    def start(self):
        if not self.running:
            subprocess.run(["dovecot", "-c", str(self.conf)], check=True, stderr=subprocess.DEVNULL)
            self.running = True
            wait_port(self.port, "dovecot", self.work / "dovecot.log")
            deadline = time.time() + 30
            while not (self.base / "master.pid").exists() and time.time() < deadline:
                time.sleep(0.05)
        return self

    def reset_caches(self, homes=None):
        """Cold: Dovecot must rescan the Maildir and rebuild its index and
        cache (deleted here while no session is open)."""
        for home in homes or self.users.values():
            maildir = pathlib.Path(home) / "Maildir"
            for f in list(maildir.glob("dovecot.index*")) + list(maildir.glob("dovecot.list.index*")):
                f.unlink()

    def pids(self):
        master = int((self.base / "master.pid").read_text().strip())
        return descendants(master)

    def stop(self):
        if self.running:
            subprocess.run(["dovecot", "-c", str(self.conf), "stop"], check=False, stderr=subprocess.DEVNULL)
            self.running = False


class Client:
    """One IMAP connection; commands must succeed."""

    def __init__(self, port, user=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
        # Buffered reads in C, so the client is not what is measured.
        self.file = self.sock.makefile("rb", buffering=1 << 16)
        self.n = 0
        self.readline()
        if user:
            self.command(f"LOGIN {user} {user}")

    def readline(self):
        line = self.file.readline()
        if not line:
            raise RuntimeError("the server closed the connection")
        return line

    def command(self, text, literal=None, synchronizing=False):
        """Runs one command (with a LITERAL+ literal if given, or a
        synchronizing one that waits for the server's "+"); returns the
        seconds from sending to the tagged OK."""
        self.n += 1
        tag = f"b{self.n}".encode()
        t = time.perf_counter()
        if literal is None:
            data = tag + b" " + text.encode() + b"\r\n"
        elif synchronizing:
            self.sock.sendall(tag + b" " + text.encode() + f" {{{len(literal)}}}\r\n".encode())
            line = self.readline()
            if not line.startswith(b"+"):
                raise RuntimeError(f"{text[:60]!r}: no continuation: {line!r}")
            data = literal + b"\r\n"
        else:
            data = tag + b" " + text.encode() + f" {{{len(literal)}+}}\r\n".encode() + literal + b"\r\n"
        self.sock.sendall(data)
        while True:
            line = self.readline()
            # Skip literals whole: their lines could look like anything.
            m = LITERAL.search(line)
            while m:
                if len(self.file.read(int(m.group(1)))) != int(m.group(1)):
                    raise RuntimeError("the server closed the connection in a literal")
                line = self.readline()
                m = LITERAL.search(line)
            if line.startswith(tag + b" "):
                if line.split()[1] != b"OK":
                    raise RuntimeError(f"{text[:60]!r} failed: {line!r}")
                return time.perf_counter() - t

    def close(self):
        try:
            self.command("LOGOUT")
        except (RuntimeError, OSError):
            pass
        self.file.close()
        self.sock.close()
