#!/usr/bin/env python3
"""FETCH and SEARCH on a large INBOX: Roost beside Debian's Dovecot.

Builds a 10,000-message INBOX (override with --count) of realistic mail:
plain, multipart/alternative and multipart/mixed with an attachment,
quoted-printable and base64 parts, encoded-word subjects, threads. Dovecot
numbers it once; then on the same tree, median of --rounds runs, in ms:

  cold  first pass: Roost freshly started (nothing in memory); Dovecot with
        its index and cache files deleted.
  warm  the same command again in a new session.

Rows: FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE BODYSTRUCTURE); Thunderbird's
header fetch UID FETCH 1:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS
(...)]); SEARCH TEXT and SEARCH FROM (warm). Also prints how long a plain
read of every message file takes (the floor for SEARCH TEXT).

Usage: bench/fetch_search.py [--count 10000] [--rounds 3]
"""
import argparse
import base64
import os
import pathlib
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import select_status as common  # noqa: E402

THUNDERBIRD = (
    "UID FETCH 1:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date "
    "Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To)])"
)
STRUCTURE = "FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE BODYSTRUCTURE)"
SEARCH_TEXT = 'SEARCH TEXT "quarterly"'
SEARCH_FROM = 'SEARCH FROM "sender7"'


def message(i):
    who = f"Sender {i % 50} <sender{i % 50}@example.org>"
    subject = f"=?UTF-8?Q?R=C3=A9sum=C3=A9_{i}?=" if i % 7 == 0 else f"Project update {i}"
    refs = f"References: <{i - 1}@bench.example>\nIn-Reply-To: <{i - 1}@bench.example>\n" if i % 3 else ""
    head = (
        f"From: {who}\nTo: Bench <bench@example.org>\nSubject: {subject}\n"
        f"Date: Tue, {1 + i % 28} Mar 2024 09:{i % 60:02d}:00 +0100\nMessage-ID: <{i}@bench.example>\n{refs}"
        "MIME-Version: 1.0\n"
    )
    text = ("We reviewed the plan and the numbers look fine. " * 12 + "\n") * (2 + i % 8)
    if i % 100 == 42:
        text += "The quarterly report is attached.\n"
    kind = i % 4
    if kind == 0:
        return (head + "Content-Type: text/plain; charset=us-ascii\n\n" + text).encode()
    if kind == 1:
        qp = text.replace("=", "=3D")
        return (
            head + 'Content-Type: multipart/alternative; boundary="alt"\n\n--alt\n'
            "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n"
            + qp + "\n--alt\nContent-Type: text/html; charset=utf-8\n\n<p>" + text + "</p>\n--alt--\n"
        ).encode()
    attachment = base64.encodebytes(bytes(range(256)) * (4 + i % 40)).decode()
    return (
        head + 'Content-Type: multipart/mixed; boundary="mix"\n\n--mix\nContent-Type: text/plain\n\n'
        + text + '\n--mix\nContent-Type: application/pdf; name="report.pdf"\n'
        'Content-Disposition: attachment; filename="report.pdf"\nContent-Transfer-Encoding: base64\n\n'
        + attachment + "--mix--\n"
    ).encode()


def make_tree(maildir, count):
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    for i in range(count):
        msg = message(i)
        vsize = len(msg) + msg.count(b"\n")
        flags = "S" if i % 10 < 7 else ""
        (maildir / "cur" / f"{1_700_000_000 + i}.M{i}P7.bench,S={len(msg)},W={vsize}:2,{flags}").write_bytes(msg)


def drop_dovecot_index(home):
    for f in (home / "Maildir").glob("dovecot.index*"):
        f.unlink()


def timed_session(server, command):
    c = server.session()
    c.command("SELECT INBOX")
    ms = common.timed(c, command)
    c.close()
    return ms


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    roost_bin = common.build_roost()
    work = pathlib.Path(tempfile.mkdtemp(prefix="roost-fetch-"))
    os.chmod(work, 0o755)
    rows = []
    try:
        home = work / "home"
        print(f"building a {args.count}-message tree in {work} ...", file=sys.stderr)
        make_tree(home / "Maildir", args.count)
        if os.geteuid() == 0:
            common.chown_tree(home, common.NOBODY)
        dovecot = common.Dovecot(work, home)
        first = dovecot.session()
        first.command("SELECT INBOX")
        first.close()
        time.sleep(2)
        t = time.perf_counter()
        total = 0
        for f in (home / "Maildir/cur").iterdir():
            total += len(f.read_bytes())
        read_ms = (time.perf_counter() - t) * 1000
        roost = common.Roost(roost_bin, work, home)
        results = {}
        for name, server, reset in (
            ("Roost", roost, roost.start),
            ("Dovecot", dovecot, lambda: drop_dovecot_index(home)),
        ):
            r = {}
            for label, cmd in (("FETCH ENVELOPE+BODYSTRUCTURE", STRUCTURE), ("Thunderbird header FETCH", THUNDERBIRD)):
                cold, warm = [], []
                for _ in range(args.rounds):
                    reset()
                    cold.append(timed_session(server, cmd))
                    warm.append(timed_session(server, cmd))
                r[label + " cold"] = statistics.median(cold)
                r[label + " warm"] = statistics.median(warm)
            for label, cmd in (("SEARCH TEXT", SEARCH_TEXT), ("SEARCH FROM", SEARCH_FROM)):
                r[label + " warm"] = statistics.median(timed_session(server, cmd) for _ in range(args.rounds))
            results[name] = r
        roost.stop()
        for key in results["Roost"]:
            rows.append((key, results["Roost"][key], results["Dovecot"][key]))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n{args.count:,} messages, {total / 1e6:.0f} MB; reading every file once takes {read_ms:.0f} ms")
    print(f"{'operation':<36} {'Roost ms':>9} {'Dovecot ms':>11} {'Roost/Dovecot':>14}")
    for key, rv, dv in rows:
        print(f"{key:<36} {rv:>9.1f} {dv:>11.1f} {rv / dv if dv else float('nan'):>14.2f}")


if __name__ == "__main__":
    main()
