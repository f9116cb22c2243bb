#!/usr/bin/python3
"""The admin browser session: `?token=T` on any admin URL answers 303 to the same URL
without the token and sets a cookie holding a random session id (not the token) with
HttpOnly, SameSite=Strict, Path=/ and Max-Age = [admin] session_ttl; the session works in
place of the token until it expires on the server; the token itself as a cookie does not;
every admin answer carries Referrer-Policy: no-referrer; bearer tokens keep working.
The ttl is the smallest the config accepts (60 s): the test waits it out once.
"""

import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import adminlib as al  # noqa: E402

st = al.st
TTL = 60


def main(t):
    s = al.start(tmp_extra="[checks]\ninterval = off\n[admin]\nsession_ttl = %ds\n" % TTL,
                 ingest=False)
    answers = []  # every admin answer, for the Referrer-Policy check

    def get(path, **kw):
        status, h, body = al.get(s, path, **kw)
        answers.append((path, status, h))
        return status, h, body

    # --- login: 303 without the token, a session cookie --------------------------------
    status, h, body = get("/?since=7d&token=%s&until=1d" % s.token)
    t.is_(status, 303, "/?token=T: 303")
    t.is_(h.get("location"), "/?since=7d&until=1d", "Location: the same URL without the token")
    cookie = h.get("set-cookie", "")
    m = re.match(r"stsd_session=([0-9a-f]+); (.*)$", cookie)
    t.ok(m is not None, "Set-Cookie: stsd_session=<hex>", cookie)
    sid, attrs = (m.group(1), m.group(2)) if m else ("", "")
    t.ok(len(sid) >= 32, "the session id has 128 bits or more (%d hex digits)" % len(sid))
    t.ok(s.token not in cookie and sid != s.token, "the cookie does not hold the token")
    attrs = {a.split("=")[0]: (a.split("=", 1) + [None])[1] for a in attrs.split("; ")}
    t.is_(attrs, {"Path": "/", "Max-Age": str(TTL), "HttpOnly": None, "SameSite": "Strict"},
          "cookie attributes: Path=/, Max-Age=session_ttl, HttpOnly, SameSite=Strict")
    t.ok(b"token" not in body and s.token.encode() not in body, "the 303 body has no token")

    status, h, body = get("/api/v1/domains?token=" + s.token)
    t.is_((status, h.get("location")), (303, "/api/v1/domains"),
          "an API URL with only ?token=: 303 to the bare path")
    sid2 = h.get("set-cookie", "").split(";")[0].split("=", 1)[-1]
    t.ok(sid2 and sid2 != sid, "each login gets a new session id")
    status, h, body = get("//evil.example/x?token=" + s.token)
    t.is_((status, h.get("location")), (303, "/"), "a //host path is never a redirect target")

    # --- the cookie works, the token as a cookie does not ------------------------------
    ck = {"Cookie": "stsd_session=" + sid}
    status, h, body = get("/?since=7d&until=1d", headers=ck)
    t.ok(status == 200 and b"<html" in body, "the session cookie opens the dashboard",
         (status, body[:100]))
    status, h, body = get("/api/v1/domains", headers={"Cookie": "a=b; stsd_session=%s; c=d" % sid})
    t.is_(status, 200, "and the API, among other cookies")
    for name in ("stsd_session", "stsd_token"):
        status, h, body = get("/api/v1/domains", headers={"Cookie": "%s=%s" % (name, s.token)})
        t.is_(status, 401, "the token itself as a %s cookie: 401" % name)
    status, h, body = get("/api/v1/domains", headers={"Cookie": "stsd_session=" + "0" * len(sid)})
    t.is_(status, 401, "a made-up session id: 401")
    wrong = s.token[:-1] + ("1" if s.token.endswith("0") else "0")  # never the token itself
    status, h, body = get("/?token=" + wrong, headers=ck)
    t.is_((status, h.get("set-cookie")), (401, None), "a wrong ?token= with a good cookie: 401")

    # --- bearer tokens as before -------------------------------------------------------
    status, h, body = get("/api/v1/domains", token=s.token)
    t.is_((status, h.get("set-cookie")), (200, None), "Authorization: Bearer still works")
    status, h, body = get("/metrics", token=s.token)
    t.is_(status, 200, "/metrics with a bearer token")
    status, h, body = get("/api/v1/domains", token=s.token, method="POST", body=b"x")
    t.is_(status, 405, "POST: 405")
    status, h, body = get("/api/v1/nothing", token=s.token)
    t.is_(status, 404, "unknown path: 404")
    status, h, body = get("/api/v1/reports?limit=x", token=s.token)
    t.is_(status, 400, "bad parameter: 400")

    # --- expiry on the server (the browser's Max-Age aside) ----------------------------
    login_at = time.monotonic()
    status, h, body = get("/?token=" + s.token)
    sid3 = h.get("set-cookie", "").split(";")[0].split("=", 1)[-1]
    status, h, body = get("/api/v1/domains", headers={"Cookie": "stsd_session=" + sid3})
    t.is_(status, 200, "a fresh session works")
    time.sleep(max(0.0, TTL + 1.5 - (time.monotonic() - login_at)))
    status, h, body = get("/api/v1/domains", headers={"Cookie": "stsd_session=" + sid3})
    t.is_(status, 401, "after session_ttl the session is refused (401)")
    t.ok(b"expired" in body and h.get("www-authenticate") == 'Bearer realm="stsd"',
         "saying the session expired, with WWW-Authenticate", (body, h))
    status, h, body = get("/api/v1/domains", headers={"Cookie": "stsd_session=" + sid})
    t.is_(status, 401, "the first session too")
    status, h, body = get("/?token=" + s.token, headers={"Cookie": "stsd_session=" + sid})
    t.is_(status, 303, "?token= logs in again over an expired cookie")

    # --- Referrer-Policy on every answer -----------------------------------------------
    statuses = sorted({a[1] for a in answers})
    t.is_(statuses, [200, 303, 400, 401, 404, 405], "answers of every kind were seen")
    bad = [(p, st_) for p, st_, h in answers if h.get("referrer-policy") != "no-referrer"]
    t.is_(bad, [], "Referrer-Policy: no-referrer on all %d admin answers" % len(answers))
    t.ok("token=" not in s.log() or s.token not in s.log(), "the token is not logged")
    t.is_(s.stop(), 0, "stsd stops cleanly")


st.Tap().run(main)
