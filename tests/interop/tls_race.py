"""How imaplib2 (offlineimap) uses a TLS socket, many times over.

    python3 tls_race.py PORT CA_FILE ATTEMPTS

Each attempt: STARTTLS, then, like imaplib2, a reader thread that polls
the socket and reads from it while the main thread writes the first
command on the same ssl.SSLSocket, without a lock. When the server sends
records unasked after the handshake (TLS 1.3 session tickets), the reader
is inside OpenSSL handling them while the writer writes, and OpenSSL loses
the command now and then: the reply never comes. The writer starts as the
first bytes arrive, to hit that moment as often as it can.

Stops at the first lost command ("lost at attempt N"), else prints
"none lost in ATTEMPTS attempts". Every wait is bounded.
"""
import select
import socket
import ssl
import sys
import threading

port, ca, attempts = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
context = ssl.create_default_context(cafile=ca)
for attempt in range(1, attempts + 1):
    raw = socket.create_connection(("127.0.0.1", port), timeout=20)
    plain = raw.makefile("rb")
    plain.readline()
    raw.sendall(b"a1 STARTTLS\r\n")
    if not plain.readline().startswith(b"a1 OK"):
        sys.exit("STARTTLS refused")
    # Blocking, as imaplib2 leaves it.
    raw.settimeout(None)
    tls = context.wrap_socket(raw, server_hostname="localhost")
    received = bytearray()
    answered = threading.Event()
    readable = threading.Event()
    stop = threading.Event()

    def reader():
        poll = select.poll()
        poll.register(tls.fileno(), select.POLLIN)
        while not stop.is_set():
            if not poll.poll(50):
                continue
            readable.set()
            try:
                data = tls.recv(65536)
            except OSError:
                return
            if not data:
                return
            received.extend(data)
            if b"a2 OK" in received:
                answered.set()
                return

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    # Tickets, if any, arrive within a millisecond on loopback.
    readable.wait(0.02)
    tls.sendall(b"a2 CAPABILITY\r\n")
    # The reply takes milliseconds; imaplib2 gives up after 60 s.
    lost = not answered.wait(5)
    stop.set()
    try:
        tls.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    tls.close()
    thread.join(5)
    if lost:
        sys.exit(f"lost at attempt {attempt}: no reply to CAPABILITY")
print(f"none lost in {attempts} attempts")
