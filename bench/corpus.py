"""Realistic Maildir trees for the benchmarks.

Mail as it piles up in a real INBOX: sizes mostly 2-50 KB (log-uniform),
some 50-500 KB attachments and a few multi-megabyte ones; plain text,
quoted-printable, multipart/alternative, multipart/mixed with attachments,
nested multiparts, forwarded messages; encoded-word subjects; threads
linked by In-Reply-To and References; Received and list headers; 70% of
the messages seen, some answered or flagged. Deterministic for a given
count. File names in Dovecot's style with S= and W= sizes.

Words that the benchmarks search for: "quarterly" is in about 1% of the
bodies; the sender "sender7" wrote about 1% of the messages.
"""
import base64
import os
import random

WORDS = (
    "the plan review budget report meeting agenda invoice roadmap release draft numbers team "
    "schedule please thanks update server mailbox summary notes project deadline customer weekly "
    "figures contract proposal travel office lunch question answer approval design launch"
).split()

DOMAINS = ["example.org", "example.net", "example.com", "mail.example.org", "lists.example.net"]
TYPES = [
    ("application/pdf", "report.pdf"),
    ("image/png", "photo.png"),
    ("application/zip", "archive.zip"),
    ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "notes.docx"),
]


class Corpus:
    def __init__(self, seed=1):
        rng = random.Random(seed)
        self.rng = rng
        lines = []
        for _ in range(40000):
            n = rng.randint(6, 13)
            lines.append(" ".join(rng.choice(WORDS) for _ in range(n)))
        self.text = "\n".join(lines) + "\n"
        # 6 MB of base64 for attachments, in 76-column lines.
        raw = rng.randbytes(4_500_000)
        self.b64 = base64.encodebytes(raw).decode()

    def _text(self, size):
        start = self.rng.randrange(0, len(self.text) - size - 1) if size < len(self.text) else 0
        start = self.text.find("\n", start) + 1
        return self.text[start:start + size]

    def _b64(self, size):
        size = min(size, len(self.b64) - 1)
        start = self.rng.randrange(0, len(self.b64) - size) // 77 * 77
        chunk = self.b64[start:start + size]
        return chunk[: chunk.rfind("\n") + 1]

    def message(self, i):
        """Message number i as bytes (LF line ends, as Maildir stores them)."""
        rng = self.rng
        sender = i * 7919 % 700
        name = f"Sender {sender}"
        frm = f"{name} <sender{sender}@{DOMAINS[sender % len(DOMAINS)]}>"
        subject_words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 7)))
        if i % 11 == 0:
            subject = "=?UTF-8?Q?R=C3=A9sum=C3=A9_" + subject_words.replace(" ", "_") + "?="
        else:
            subject = subject_words.capitalize()
        head = [
            f"Return-Path: <sender{sender}@example.org>",
            f"Received: from mx{i % 5}.example.net (mx{i % 5}.example.net [192.0.2.{i % 250}])\n"
            f"\tby mail.example.org with ESMTPS id {i:08x}; Tue, {1 + i % 28} Mar 2024 09:{i % 60:02d}:00 +0100",
            f"From: {frm}",
            "To: Bench <bench@example.org>",
        ]
        if i % 4 == 0:
            head.append(f"Cc: Team <team@example.org>, Sender {(sender + 1) % 700} <sender{(sender + 1) % 700}@example.net>")
        # Threads: about a third of the mail replies to an earlier message.
        if i % 3 == 1 and i > 10:
            parent = i - rng.randint(1, 10)
            refs = " ".join(f"<{p}@bench.example>" for p in range(max(0, parent - 4), parent + 1))
            head.append(f"In-Reply-To: <{parent}@bench.example>")
            head.append(f"References: {refs}")
            subject = "Re: " + subject
        head += [
            f"Subject: {subject}",
            f"Date: Tue, {1 + i % 28} Mar 2024 09:{i % 60:02d}:{i % 59:02d} +0100",
            f"Message-ID: <{i}@bench.example>",
            "MIME-Version: 1.0",
        ]
        if i % 9 == 0:
            head.append("List-Id: Announcements <announce.lists.example.net>")
        if i % 5 == 0:
            head.append("X-Mailer: Bench Mail 2.1")
        # Size: log-uniform 2-50 KB, 2.5% 50-500 KB, 0.2% 1-4 MB.
        r = rng.random()
        if r < 0.002:
            size = rng.randint(1_000_000, 4_000_000)
        elif r < 0.027:
            size = int(50_000 * 10 ** rng.random())
        else:
            size = int(2_000 * 25 ** rng.random())
        shape = i % 20
        attached = size > 30_000 or shape in (5, 6, 7, 8)
        # Text and HTML copies share the size in alternatives.
        two_copies = shape in (1, 2, 3, 4, 6, 7, 9, 10)
        text_size = 1_500 if attached else size // (2 if two_copies else 1)
        text = self._text(max(200, text_size - 400))
        if i % 100 == 42:
            text += "The quarterly report is attached.\n"
        h = "\n".join(head) + "\n"
        if attached:
            # multipart/mixed with an attachment filling the size.
            ctype, fname = TYPES[i % len(TYPES)]
            att = self._b64(max(1000, size - len(text) - 600))
            inner = f"Content-Type: text/plain; charset=utf-8\n\n{text}"
            if shape in (6, 7):
                inner = (
                    f'Content-Type: multipart/alternative; boundary="alt-{i}"\n\n'
                    f"--alt-{i}\nContent-Type: text/plain; charset=utf-8\n\n{text}\n"
                    f"--alt-{i}\nContent-Type: text/html; charset=utf-8\n\n<html><body><p>{text}</p></body></html>\n"
                    f"--alt-{i}--\n"
                )
            body = (
                f'Content-Type: multipart/mixed; boundary="mix-{i}"\n\nThis is a multi-part message in MIME format.\n'
                f"--mix-{i}\n{inner}\n--mix-{i}\n"
                f'Content-Type: {ctype}; name="{fname}"\nContent-Disposition: attachment; filename="{fname}"\n'
                f"Content-Transfer-Encoding: base64\n\n{att}--mix-{i}--\n"
            )
        elif shape in (1, 2, 3, 4, 9, 10):
            qp = text.replace("=", "=3D")
            body = (
                f'Content-Type: multipart/alternative; boundary="alt-{i}"\n\n'
                f"--alt-{i}\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n{qp}\n"
                f"--alt-{i}\nContent-Type: text/html; charset=utf-8\n\n<html><body><p>{text}</p></body></html>\n"
                f"--alt-{i}--\n"
            )
        elif shape == 11:
            body = (
                f'Content-Type: multipart/mixed; boundary="fwd-{i}"\n\n--fwd-{i}\n'
                f"Content-Type: text/plain\n\nForwarded message below.\n\n--fwd-{i}\n"
                f"Content-Type: message/rfc822\n\nFrom: Old <old@example.com>\nSubject: original\n"
                f"Date: Mon, 1 Jan 2024 10:00:00 +0000\n\n{text}\n--fwd-{i}--\n"
            )
        elif shape == 12:
            body = (
                "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n"
                + text.replace("=", "=3D").replace("the ", "th=C3=A9 ")
            )
        else:
            body = "Content-Type: text/plain; charset=us-ascii\n\n" + text
        return (h + body).encode()


def make_tree(maildir, count, seed=1, progress=None):
    """Writes `count` messages into maildir/cur (plus empty new/, tmp/);
    returns the total size in bytes."""
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(maildir, sub), exist_ok=True)
    corpus = Corpus(seed)
    total = 0
    cur = os.path.join(maildir, "cur")
    for i in range(count):
        msg = corpus.message(i)
        vsize = len(msg) + msg.count(b"\n")
        flags = ""
        if i % 17 == 0:
            flags += "F"
        if i % 13 == 0:
            flags += "R"
        if i % 10 < 7:
            flags += "S"
        name = f"{1_700_000_000 + i}.M{i}P7.bench,S={len(msg)},W={vsize}:2,{flags}"
        with open(os.path.join(cur, name), "wb") as f:
            f.write(msg)
        mtime = 1_700_000_000 + i * 60
        os.utime(os.path.join(cur, name), (mtime, mtime))
        total += len(msg)
        if progress and i and i % 20000 == 0:
            progress(i)
    return total
