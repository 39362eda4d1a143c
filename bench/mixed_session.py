#!/usr/bin/env python3
"""A realistic client session, Roost beside Debian's Dovecot: the shape a
desktop client produces over a few minutes of reading mail.

100 commands on one connection, in this order, repeated in rounds of ten
after the opening SELECT: a flag resync of the newest 500 UIDs, a header
fetch of the newest 50 (Thunderbird's field list), a BODYSTRUCTURE and a
body of one message, a STORE of \\Flagged, SEARCH UNSEEN, LIST,
STATUS of INBOX, NOOP — every later command runs right after the
session's own flag change, which is what used to make Roost reread the
whole folder each time.

`session(port, user, count)` is used by bench/compare for its
"mixed client session" row; run alone it builds a tree of --messages
(default 10,000) and prints the median of --rounds sessions for both:

    bench/mixed_session.py [--messages 10000] [--rounds 5]

Loopback only; needs cargo, python3 and Debian's dovecot-imapd.
"""
import argparse
import os
import pathlib
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import corpus  # noqa: E402
import servers  # noqa: E402
from servers import Client  # noqa: E402

HEADERS = (
    "BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date Message-ID Priority X-Priority "
    "References Newsgroups In-Reply-To Content-Type Reply-To)]"
)


def commands(count, phase=0, rounds=11):
    """The session's commands after SELECT, 99 in all. Sessions of even
    `phase` set \\Flagged, odd ones clear it, so every STORE changes a
    file however many sessions run."""
    out = []
    op = "+" if phase % 2 == 0 else "-"
    for r in range(rounds):
        newest = max(1, count - 50 * r)
        one = max(1, count - 7 * r - 3)
        flag = "\\Flagged"
        out += [
            f"UID FETCH {max(1, newest - 499)}:* (UID FLAGS)",
            f"FETCH {max(1, newest - 49)}:{newest} (UID RFC822.SIZE FLAGS {HEADERS})",
            f"FETCH {one} (BODYSTRUCTURE)",
            f"FETCH {one} (BODY.PEEK[1])",
            f"STORE {one} {op}FLAGS.SILENT ({flag})",
            "SEARCH UNSEEN",
            'LIST "" "*"',
            "STATUS INBOX (MESSAGES UNSEEN UIDNEXT)",
            "NOOP",
        ]
    return out[:99]


def session(port, user, count, phase=0):
    """Seconds one whole session takes (login and logout excluded)."""
    c = Client(port, user)
    t = time.perf_counter()
    c.command("SELECT INBOX")
    for cmd in commands(count, phase):
        c.command(cmd)
    elapsed = time.perf_counter() - t
    c.close()
    return elapsed


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    if not shutil.which("dovecot"):
        sys.exit("dovecot is missing: apt-get install dovecot-imapd")
    import subprocess
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=servers.ROOT, check=True)
    work = pathlib.Path(tempfile.mkdtemp(prefix="roost-mixed-"))
    os.chmod(work, 0o755)
    roost = dovecot = None
    try:
        home = work / "trees" / "mixed"
        corpus.make_tree(home / "Maildir", args.messages)
        servers.chown_tree(work)
        users = {"mixed": home}
        dovecot = servers.Dovecot(work, users).start()
        roost = servers.Roost(work, users).start()
        # Dovecot numbers the tree first (both then share its uidlist), and
        # the directories' mtimes age past both servers' one-second window.
        Client(dovecot.port, "mixed").close()
        time.sleep(2)
        got = {}
        for server in (roost, dovecot):
            session(server.port, "mixed", args.messages, 0)  # warm-up
            got[server.name] = statistics.median(
                session(server.port, "mixed", args.messages, i + 1) for i in range(args.rounds)
            ) * 1000
        print(f"mixed client session, {args.messages:,} msgs (100 commands), ms: "
              f"Roost {got['Roost']:.1f}  Dovecot {got['Dovecot']:.1f}  "
              f"ratio {got['Dovecot'] / got['Roost']:.2f}")
    finally:
        for s in (roost, dovecot):
            if s:
                s.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
