#!/usr/bin/python3
"""Oversized report bodies over HTTP/2, against a release build, max_body = 100K:
a body over max_body is answered 413 whatever its size, and the server does not keep it.

- curl --http2 (with Content-Length) and curl --http1.1, just over max_body and 50 x max_body;
- python3-h2 frames without Content-Length: max_body + 1, 2 x max_body, 50 x max_body;
- libh2o 2.2.5 alone would reset an HTTP/2 stream past its max_request_entity_size
  (REFUSED_STREAM); server/h2guard.c keeps what h2o holds just over max_body instead, so the
  handler answers. What the server holds for a connection is bounded by h2o's 16 MiB HTTP/2
  flow-control window (what one read can bring in: the encrypted bytes, the decrypted ones and
  the guard's rewritten copy: three window-sized buffers whose capacity h2o rounds up to a
  power of two), not by the body: after two 200 MB bodies the peak RSS is less than 6 x 16 MiB
  above the server's at start."""
import os
import socket
import ssl
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hostilelib as hl  # noqa: E402

st, il = hl.st, hl.il
MAX_BODY = 100 * 1024


def h2_connect(port):
    """A TLS socket with ALPN h2 and a python3-h2 client connection on it (preface queued)."""
    import h2.config
    import h2.connection
    ctx = ssl.create_default_context(cafile=il.ca().cert)
    ctx.set_alpn_protocols(["h2"])
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), 10),
                        server_hostname=il.HOST)
    h = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    h.initiate_connection()
    return s, h


def h2_post(port, size, chunk=16384):
    """POST `size` bytes without Content-Length over HTTP/2 (python3-h2). Returns
    ('status', N) or ('reset', error_code)."""
    import h2.events
    s, h = h2_connect(port)
    with s:
        h.send_headers(1, [(":method", "POST"), (":scheme", "https"),
                           (":authority", il.HOST), (":path", "/tlsrpt"),
                           ("content-type", "application/tlsrpt+json")])
        s.sendall(h.data_to_send())
        sent = 0
        result = None
        body = b"x" * chunk
        while result is None:
            while sent < size and h.local_flow_control_window(1) > 0:
                n = min(chunk, size - sent, h.local_flow_control_window(1),
                        h.max_outbound_frame_size)
                h.send_data(1, body[:n], end_stream=(sent + n == size))
                sent += n
            s.sendall(h.data_to_send())
            data = s.recv(65536)
            if not data:
                return ("closed", None)
            for ev in h.receive_data(data):
                if isinstance(ev, h2.events.ResponseReceived):
                    result = ("status", int(dict(ev.headers)[b":status"]))
                elif isinstance(ev, h2.events.StreamReset):
                    result = ("reset", int(ev.error_code))
            s.sendall(h.data_to_send())
        return result


def h2_fill(h, sent, size):
    """Queue DATA on every stream of `sent` ({id: bytes sent so far}) up to `size` bytes, as
    far as flow control allows (16 KiB frames)."""
    body = b"x" * 16384
    for sid in sent:
        while sent[sid] < size and h.local_flow_control_window(sid) > 0:
            n = min(16384, size - sent[sid], h.local_flow_control_window(sid))
            h.send_data(sid, body[:n])
            sent[sid] += n


def h2_parallel(port, streams, size):
    """Open `streams` POSTs on one HTTP/2 connection and send `size` bytes on each without
    ending any (as flow control allows). Returns 'closed' when the server closes the
    connection, 'open' when all was sent and it stayed open for 2 s."""
    import h2.events
    s, h = h2_connect(port)
    with s:
        ids = [1 + 2 * k for k in range(streams)]
        for sid in ids:
            h.send_headers(sid, [(":method", "POST"), (":scheme", "https"),
                                 (":authority", il.HOST), (":path", "/tlsrpt")])
        sent = dict.fromkeys(ids, 0)
        s.settimeout(2)
        while True:
            h2_fill(h, sent, size)
            try:
                s.sendall(h.data_to_send())
                data = s.recv(65536)
            except socket.timeout:
                return "open" if all(v == size for v in sent.values()) else "stalled"
            except OSError:
                return "closed"
            if not data:
                return "closed"
            for ev in h.receive_data(data):
                if isinstance(ev, h2.events.ConnectionTerminated):
                    return "closed"


def main(t):
    s = il.server(reports=hl.OPEN_INTAKE + "max_body = %d\n" % MAX_BODY)
    url = "https://%s:%d/tlsrpt" % (il.HOST, s.port)
    resolve = "%s:%d:127.0.0.1" % (il.HOST, s.port)
    hwm0 = hl.vm_hwm_mb(s.proc.pid)
    for size in (MAX_BODY + 1000, 50 * MAX_BODY):
        body = b"{" + b" " * size + b"}"
        for http2 in (True, False):
            r = st.curl(url, method="POST", resolve=resolve, cacert=il.ca().cert, http2=http2,
                        data=body, headers=["Content-Type: application/tlsrpt+json"])
            t.is_((r.status, r.http_version), (413, "2" if http2 else "1.1"),
                  "curl --http%s, %d bytes with Content-Length: 413"
                  % ("2" if http2 else "1.1", len(body)))
    for size in (MAX_BODY + 1, 2 * MAX_BODY, 50 * MAX_BODY):
        t.is_(h2_post(s.port, size), ("status", 413),
              "HTTP/2 without Content-Length, %d bytes: 413" % size)
    t.is_(h2_post(s.port, 600 * MAX_BODY), ("status", 413),
          "HTTP/2 without Content-Length, %d bytes: 413" % (600 * MAX_BODY))
    hwm1 = hl.vm_hwm_mb(s.proc.pid)
    for _ in range(2):
        t.is_(h2_post(s.port, 2000 * MAX_BODY), ("status", 413),
              "HTTP/2 without Content-Length, %d bytes: 413" % (2000 * MAX_BODY))
    hwm2 = hl.vm_hwm_mb(s.proc.pid)
    t.diag("peak RSS: at start %.1f MB, after bodies up to 60 MB %.1f MB, after 2 x 200 MB "
           "%.1f MB" % (hwm0, hwm1, hwm2))
    t.ok(hwm2 - hwm0 < 6 * 16.8, "bodies of 200 MB add %.1f MB of peak RSS in all "
         "(< 100 MB): the body is not kept" % (hwm2 - hwm0))
    t.is_(h2_parallel(s.port, 2, MAX_BODY - 16384), "open",
          "two bodies just under max_body in progress on one connection: kept open")
    t.is_(h2_parallel(s.port, 4, MAX_BODY - 16384), "closed",
          "four of them (over 2 x max_body + 64 KiB in progress): the connection is closed")
    r = st.curl(url, method="POST", resolve=resolve, cacert=il.ca().cert, http2=True,
                data=il.report_bytes("h2-after"),
                headers=["Content-Type: application/tlsrpt+json"])
    t.ok(r.status in (200, 201), "a report of normal size is stored afterwards (%d)" % r.status)
    t.is_(s.stop(), 0, "stops cleanly")


if __name__ == "__main__":
    st.Tap().run(main)
