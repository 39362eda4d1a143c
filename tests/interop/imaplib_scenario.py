"""One long session of Python's imaplib against Roost, touching every command
Roost supports. Run by tests/interop/imaplib.rs as
    python3 imaplib_scenario.py PORT TLS_PORT CA_FILE
on a fresh server with user alice / secret and an empty mailbox.
Prints "scenario ok" at the end; any failed check raises."""

import imaplib
import re
import socket
import ssl
import sys

PORT, TLS_PORT, CA = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
HOST = "localhost"
CTX = ssl.create_default_context(cafile=CA)


def ok(result, what=""):
    typ, data = result
    assert typ == "OK", (what, typ, data)
    return data


def untagged(m, name):
    return m.untagged_responses.pop(name, [])


def message(n, subject, body="", extra_headers=""):
    return (
        f"From: Sender {n} <sender{n}@example.org>\r\n"
        f"To: Alice <alice@example.org>\r\n"
        f"Subject: {subject}\r\n"
        f"Date: Mon, {n + 1} Jan 2024 10:00:00 +0000\r\n"
        f"Message-ID: <py{n}@example.org>\r\n"
        f"{extra_headers}\r\n"
        f"Body of message {n}.\r\n{body}"
    ).encode()


# --- Not authenticated: CAPABILITY, NOOP, ID, STARTTLS, LOGIN -------------
m = imaplib.IMAP4(HOST, PORT)
m.sock.settimeout(20)
assert "STARTTLS" in m.capabilities and "AUTH=PLAIN" in m.capabilities, m.capabilities
ok(m.noop())
caps = ok(m.capability())[0].split()
assert b"IMAP4rev1" in caps and b"ID" in caps, caps
ok(m.starttls(ssl_context=CTX))
assert "STARTTLS" not in m.capabilities
ok(m.xatom("ID", '("name" "imaplib" "version" "3")'))
ids = untagged(m, "ID")
assert ids and b'"name" "Roost"' in ids[0], ids
ok(m.login("alice", "secret"))
caps = set(ok(m.capability())[0].decode().split())
for cap in ["IMAP4rev1", "IDLE", "UIDPLUS", "MOVE", "UNSELECT", "CHILDREN", "BINARY", "LITERAL+"]:
    assert cap in caps, (cap, caps)

if "NAMESPACE" in caps:
    data = ok(m.namespace())
    assert data[0].startswith(b"(("), data
condstore = "ENABLE" in caps and "CONDSTORE" in caps
if condstore:
    # imaplib's enable() looks at the capabilities from before login.
    ok(m.xatom("ENABLE", "CONDSTORE"))
    assert untagged(m, "ENABLED") == [b"CONDSTORE"]

# --- Mailboxes: CREATE, LIST, LSUB, SUBSCRIBE, UNSUBSCRIBE, RENAME, DELETE -
for name in ["Work", "Work.Reports", "Entw&APw-rfe", "Old", "Trash"]:
    ok(m.create(name), name)
typ, data = m.create("Work")
assert typ == "NO" and b"ALREADYEXISTS" in data[0], data
listed = ok(m.list('""', "*"))
names = sorted(line.decode().rsplit(" ", 1)[1].strip('"') for line in listed)
assert names == ["Entw&APw-rfe", "INBOX", "Old", "Trash", "Work", "Work.Reports"], names
assert b'(\\HasChildren) "." Work' in b"\n".join(listed), listed
listed = ok(m.list('""', "Work.%"))
assert len(listed) == 1 and listed[0].endswith(b"Work.Reports"), listed
ok(m.subscribe("Work"))
ok(m.subscribe("Old"))
ok(m.unsubscribe("Old"))
lsub = ok(m.lsub('""', "*"))
assert [line.rsplit(b" ", 1)[1] for line in lsub] == [b"Work"], lsub
ok(m.rename("Old", "Older"))
ok(m.delete("Older"))
typ, data = m.select("Older")
assert typ == "NO" and b"NONEXISTENT" in data[0], data

# --- APPEND and STATUS ------------------------------------------------------
uids = []
for n in range(5):
    flags = "(\\Seen)" if n % 2 else ""
    date = f'"0{n + 1}-Jan-2024 10:00:00 +0000"'
    data = ok(m.append("INBOX", flags, date, message(n, f"Message {n}", "x" * (100 * n))))
    code = re.match(rb"\[APPENDUID (\d+) (\d+)\]", data[0])
    assert code, data
    uids.append(int(code.group(2)))
uidvalidity = int(code.group(1))
assert uids == [1, 2, 3, 4, 5], uids
utf8 = "Grüße aus Köln\r\n".encode()
ok(m.append("INBOX", "($Important)", None, message(5, "=?utf-8?q?Gr=C3=BC=C3=9Fe?=", "", "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n") + utf8))
multipart = (
    b"From: Sender 6 <sender6@example.org>\r\nSubject: With attachment\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n"
    b"--XX\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n"
    b"--XX\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    b"AAECAw==\r\n--XX--\r\n"
)
ok(m.append("INBOX", "", None, multipart))
status = ok(m.status("INBOX", "(MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN SIZE)"))[0].decode()
assert f"UIDVALIDITY {uidvalidity}" in status and "MESSAGES 7" in status, status
assert "UIDNEXT 8" in status and "UNSEEN 5" in status, status
assert re.search(r"SIZE \d+", status), status

# --- EXAMINE, SELECT, FETCH --------------------------------------------------
typ, data = m.select("INBOX", readonly=True)
assert typ == "OK" and data == [b"7"], data
assert "READ-ONLY" in m.untagged_responses
data = ok(m.fetch("1", "(FLAGS)"))
assert data[0].replace(b"\\Recent", b"") == b"1 (FLAGS ())", data
ok(m.close())
ok(m.select("INBOX"))
assert untagged(m, "UIDVALIDITY") == [str(uidvalidity).encode()]
flags_resp = untagged(m, "FLAGS")
assert b"\\Seen" in flags_resp[0] and b"$Important" in flags_resp[0], flags_resp

data = ok(m.fetch("1:7", "(UID FLAGS RFC822.SIZE INTERNALDATE)"))
assert len(data) == 7, data
assert b"INTERNALDATE \"01-Jan-2024" in data[0], data[0]
assert re.search(rb"FLAGS \([^)]*\\Seen", data[1]), data
assert re.search(rb"FLAGS \([^)]*\$Important", data[5]), data
data = ok(m.fetch("2", "(ENVELOPE)"))
assert b'"Message 1"' in data[0] and b'(("Sender 1" NIL "sender1" "example.org"))' in data[0], data
data = ok(m.fetch("7", "(BODYSTRUCTURE)"))
assert b'"mixed" ("boundary" "XX")' in data[0] and b'"application" "octet-stream"' in data[0], data
data = ok(m.fetch("3", "(BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)])"))
assert data[0][1] == b"From: Sender 2 <sender2@example.org>\r\nSubject: Message 2\r\n\r\n", data
data = ok(m.fetch("3", "(BODY.PEEK[TEXT]<0.10>)"))
assert data[0][1] == b"Body of me", data
data = ok(m.fetch("7", "(BINARY.PEEK[2] BINARY.SIZE[2])"))
assert data[0][1] == b"\x00\x01\x02\x03" and b"BINARY.SIZE[2] 4" in data[1], data
data = ok(m.fetch("6", "(BODY[])"))
assert data[0][1].endswith(utf8), data
data = ok(m.fetch("6", "(FLAGS)"))
assert b"\\Seen" in data[0], data
data = ok(m.uid("FETCH", "4:5", "(FLAGS RFC822.HEADER)"))
assert b"UID 4" in data[0][0] and b"Subject: Message 3" in data[0][1], data
data = ok(m.fetch("2", "(RFC822.TEXT)"))
assert data[0][1].startswith(b"Body of message 1."), data

# --- STORE --------------------------------------------------------------------
data = ok(m.store("1", "+FLAGS", "(\\Flagged $Label1)"))
assert b"\\Flagged" in data[0] and b"$Label1" in data[0], data
data = ok(m.store("1", "-FLAGS", "($Label1)"))
assert b"$Label1" not in data[0], data
data = ok(m.store("2", "+FLAGS.SILENT", "(\\Answered)"))
if condstore:
    # RFC 7162 §3.2: the new MODSEQ is reported even for .SILENT.
    assert re.fullmatch(rb"2 \((UID 2 )?MODSEQ \(\d+\)\)", data[0]), data
else:
    assert data == [None], data
data = ok(m.uid("STORE", "3", "+FLAGS", "(\\Seen)"))
assert b"UID 3" in data[0], data

# --- SEARCH -------------------------------------------------------------------
def search(*criteria, uid=False, charset=None):
    if uid:
        data = ok(m.uid("SEARCH", *((("CHARSET", charset) if charset else ()) + criteria)))
    else:
        data = ok(m.search(charset, *criteria))
    return [int(x) for x in data[0].split()]

assert search("ALL") == [1, 2, 3, 4, 5, 6, 7]
assert search("FLAGGED") == [1]
assert search("ANSWERED") == [2]
assert search("UNSEEN") == [1, 5, 7], search("UNSEEN")
assert search("FROM", "sender3") == [4]
assert search("SUBJECT", '"Message 4"') == [5]
assert search("LARGER", "300") == [3, 4, 5], search("LARGER", "300")
assert search("OR", "FLAGGED", "ANSWERED") == [1, 2]
assert search("NOT", "SEEN", "BEFORE", "3-Jan-2024") == [1]
assert search("KEYWORD", "$Important") == [6]
assert search("BODY", "attached") == [7]
assert search("UID", "2:4") == [2, 3, 4]
assert search("ALL", uid=True) == [1, 2, 3, 4, 5, 6, 7]
m.literal = "Grüße".encode()
assert search("SUBJECT", uid=True, charset="UTF-8") == [6]
m.literal = "Köln".encode()
assert search("TEXT", charset="UTF-8") == [6]
typ, data = m.search("X-UNKNOWN", "ALL")
assert typ == "NO" and b"BADCHARSET" in data[0], data

# --- COPY, MOVE, EXPUNGE --------------------------------------------------------
data = ok(m.copy("1:2", "Work"))
assert re.match(rb"\[COPYUID \d+ 1:2 1:2\]", data[0]), data
# imaplib files codes from tagged replies under their names.
untagged(m, "COPYUID")
ok(m.uid("COPY", "3", "Work.Reports"))
copyuid = untagged(m, "COPYUID")
assert len(copyuid) == 1 and re.fullmatch(rb"\d+ 3 1", copyuid[0]), copyuid
typ, data = m.copy("1", "Nowhere")
assert typ == "NO" and b"TRYCREATE" in data[0], data
data = ok(m.uid("MOVE", "7", "Trash"))
assert untagged(m, "EXPUNGE") == [b"7"]
data = ok(m.xatom("MOVE", "6", "Trash"))
assert untagged(m, "EXPUNGE") == [b"6"]
status = ok(m.status("Trash", "(MESSAGES)"))[0]
assert b"MESSAGES 2" in status, status
ok(m.store("1", "+FLAGS", "(\\Deleted)"))
ok(m.store("3", "+FLAGS", "(\\Deleted)"))
data = ok(m.uid("EXPUNGE", "3"))
assert untagged(m, "EXPUNGE") == [b"3"]
data = ok(m.expunge())
assert data == [b"1"], data
ok(m.check())
assert search("ALL", uid=True) == [2, 4, 5]

# --- IDLE: another session appends, this one hears of it -------------------
other = imaplib.IMAP4_SSL(HOST, TLS_PORT, ssl_context=CTX)
other.sock.settimeout(20)
ok(other.authenticate("PLAIN", lambda _: b"\0alice\0secret"))
m.send(b"idle1 IDLE\r\n")
assert m.readline().startswith(b"+ "), "no continuation for IDLE"
ok(other.append("INBOX", "", None, message(9, "While idling")))
pushed = []
while not pushed or not pushed[-1].endswith(b"EXISTS\r\n"):
    pushed.append(m.readline())
    assert len(pushed) < 10, pushed
assert pushed[-1] == b"* 4 EXISTS\r\n", pushed
m.send(b"DONE\r\n")
line = m.readline()
while not line.startswith(b"idle1 "):
    line = m.readline()
assert line.startswith(b"idle1 OK"), line
other.logout()

# --- UNSELECT, bad commands, LOGOUT --------------------------------------------
ok(m.unselect())
# imaplib checks states itself, so these go out raw.
m.send(b"bad1 FETCH 1 (FLAGS)\r\n")
line = m.readline()
assert line.startswith(b"bad1 BAD"), line
m.send(b"bad2 FROBNICATE\r\n")
line = m.readline()
assert line.startswith(b"bad2 BAD"), line
typ, data = m.logout()
assert typ == "BYE", (typ, data)

# --- Implicit TLS, AUTHENTICATE PLAIN, wrong password ---------------------------
m = imaplib.IMAP4_SSL(HOST, TLS_PORT, ssl_context=CTX)
ok(m.authenticate("PLAIN", lambda _: b"\0alice\0secret"))
ok(m.select("Work"))
assert search("ALL") == [1, 2]
m.logout()
try:
    imaplib.IMAP4_SSL(HOST, TLS_PORT, ssl_context=CTX).login("alice", "wrong")
    raise AssertionError("wrong password accepted")
except imaplib.IMAP4.error as e:
    assert "AUTHENTICATIONFAILED" in str(e), e

print("scenario ok")
