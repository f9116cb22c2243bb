#!/usr/bin/python3
"""Oversized report bodies over HTTP/2 (SPEC §9 TLS), against a release build, max_body = 100K:

- curl --http2 (with Content-Length) and curl --http1.1 with a body over max_body: 413;
- python3-h2 frames without Content-Length, a body over max_body: 413 as well;
- past twice max_body libh2o 2.2.5 itself resets the stream (REFUSED_STREAM) before any
  handler runs: the README's limits table says so. The stream is reset, the connection and
  the server stay usable, and the server's memory does not grow with the body."""
import os
import socket
import ssl
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hostilelib as hl  # noqa: E402

st, il = hl.st, hl.il
MAX_BODY = 100 * 1024


def h2_post(port, size, chunk=16384):
    """POST `size` bytes without Content-Length over HTTP/2 (python3-h2). Returns
    ('status', N) or ('reset', error_code)."""
    import h2.config
    import h2.connection
    import h2.events
    ctx = ssl.create_default_context(cafile=il.ca().cert)
    ctx.set_alpn_protocols(["h2"])
    with socket.create_connection(("127.0.0.1", port), 10) as raw:
        with ctx.wrap_socket(raw, server_hostname=il.HOST) as s:
            h = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
            h.initiate_connection()
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


def main(t):
    s = il.server(reports=hl.OPEN_INTAKE + "max_body = %d\n" % MAX_BODY)
    url = "https://%s:%d/tlsrpt" % (il.HOST, s.port)
    resolve = "%s:%d:127.0.0.1" % (il.HOST, s.port)
    body = b"{" + b" " * (MAX_BODY + 1000) + b"}"
    for http2 in (True, False):
        r = st.curl(url, method="POST", resolve=resolve, cacert=il.ca().cert, http2=http2,
                    data=body, headers=["Content-Type: application/tlsrpt+json"])
        t.is_((r.status, r.http_version), (413, "2" if http2 else "1.1"),
              "curl --http%s, %d bytes with Content-Length: 413" % ("2" if http2 else "1.1",
                                                                   len(body)))
    t.is_(h2_post(s.port, MAX_BODY + 1), ("status", 413),
          "HTTP/2 without Content-Length, max_body + 1 bytes: 413")
    t.is_(h2_post(s.port, 2 * MAX_BODY), ("status", 413),
          "HTTP/2 without Content-Length, 2 x max_body bytes: 413")
    hwm0 = hl.vm_hwm_mb(s.proc.pid)
    got = h2_post(s.port, 50 * MAX_BODY)
    t.is_(got, ("reset", 7), "past 2 x max_body: libh2o 2.2.5 resets the stream (REFUSED_STREAM)")
    hwm1 = hl.vm_hwm_mb(s.proc.pid)
    t.diag("peak RSS before %.1f MB, after a %d KB body: %.1f MB" % (hwm0, 50 * MAX_BODY // 1024,
                                                                      hwm1))
    t.ok(hwm1 - hwm0 < 4.0, "the server did not keep the body (peak RSS +%.1f MB)" % (hwm1 - hwm0))
    r = st.curl(url, method="POST", resolve=resolve, cacert=il.ca().cert, http2=True,
                data=il.report_bytes("h2-after"),
                headers=["Content-Type: application/tlsrpt+json"])
    t.ok(r.status in (200, 201), "a report of normal size is stored afterwards (%d)" % r.status)
    t.is_(s.stop(), 0, "stops cleanly")


if __name__ == "__main__":
    st.Tap().run(main)
