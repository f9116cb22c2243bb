#!/usr/bin/env python3
"""Write the crafted TLS-RPT test cases and the .expect files of every valid case.

Run from anywhere: python3 tests/data/tlsrpt/gen_cases.py. The valid .expect files are
computed here from the parsing rules (RFC 8460 §4 and the quirks below) with Python's own json module, independently of the C parser,
so that tests/unit/reports/test_report.c compares two implementations. Files copied from
other projects (see SOURCES.md) are never rewritten, only their .expect files.
"""
import copy
import datetime
import gzip
import json
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
VALID = os.path.join(HERE, "valid")
INVALID = os.path.join(HERE, "invalid")
GZIP = os.path.join(HERE, "gzip")

BASE = {
    "organization-name": "Example Sender",
    "date-range": {"start-datetime": "2026-11-01T00:00:00Z", "end-datetime": "2026-11-01T23:59:59Z"},
    "contact-info": "tlsrpt@sender.example",
    "report-id": "2026-11-01_example.org",
    "policies": [{
        "policy": {
            "policy-type": "sts",
            "policy-string": ["version: STSv1", "mode: enforce", "mx: mx1.example.org", "max_age: 86400"],
            "policy-domain": "example.org",
            "mx-host": ["mx1.example.org"],
        },
        "summary": {"total-successful-session-count": 100, "total-failure-session-count": 2},
        "failure-details": [{
            "result-type": "certificate-expired",
            "sending-mta-ip": "192.0.2.10",
            "receiving-mx-hostname": "mx1.example.org",
            "receiving-ip": "198.51.100.25",
            "failed-session-count": 2,
        }],
    }],
}


def base():
    return copy.deepcopy(BASE)


def write(path, data):
    if isinstance(data, str):
        data = data.encode()
    with open(path, "wb") as f:
        f.write(data)


def gz(data, mtime=0):
    return gzip.compress(data if isinstance(data, bytes) else data.encode(), mtime=mtime)


# ---------------------------------------------------------------------------------------
# Valid quirk cases (real senders' deviations, see SOURCES.md).
def valid_cases():
    c = {}
    r = base()
    r["policies"][0]["policy"]["mx-host"] = ["mx: mx1.example.org", "mx:mx2.example.org", "MX: mx3.example.org"]
    c["quirk-mx-prefix"] = r
    r = base()
    r["policies"][0]["policy"]["mx-host"] = "mx: mx1.example.org"
    c["quirk-mx-host-string-prefix"] = r
    r = base()
    r["policies"][0]["policy"] = {
        "policy-type": "tlsa",
        "policy-string": json.dumps(["3 1 1 0c72ac70b745ac19998811b131d662c9ac69dbdbe7cb23e5b514b56664c5d3d6",
                                     "3 1 1 aa11bb22cc33dd44ee55ff6600112233445566778899aabbccddeeff00112233"]),
        "policy-domain": "example.org",
        "mx-host": ["mx1.example.org"],
    }
    c["quirk-tlsa-string-array"] = r
    r = base()
    r["policies"][0]["policy"] = {
        "policy-type": "tlsa",
        "policy-string": [json.dumps(["3 1 1 0c72ac70b745ac19998811b131d662c9ac69dbdbe7cb23e5b514b56664c5d3d6"])],
        "policy-domain": "example.org",
    }
    c["quirk-tlsa-array-of-one-json-string"] = r
    r = base()
    r["contact-info"] = None
    c["quirk-null-contact"] = r
    r = base()
    del r["contact-info"]
    c["quirk-no-contact"] = r
    r = base()
    r["policies"][0]["failure-details"][0]["sending-mta-ip"] = ""
    c["quirk-empty-sending-mta-ip"] = r
    for name, start, end in [
            ("quirk-no-zone", "2026-11-01T00:00:00", "2026-11-01T23:59:59"),
            ("quirk-offsets-fractions", "2026-11-01T02:00:00+02:00", "2026-11-01T20:59:59.999-03:00"),
            ("quirk-long-range", "2026-11-01T00:00:00Z", "2026-11-08T00:00:00Z"),
            ("quirk-empty-range", "2026-11-01T00:00:00Z", "2026-11-01T00:00:00Z")]:
        r = base()
        r["date-range"] = {"start-datetime": start, "end-datetime": end}
        c[name] = r
    r = base()
    r["policies"][0]["failure-details"][0]["result-type"] = "some-future-result-type"
    c["quirk-unknown-result-type"] = r
    r = base()
    r["policies"][0]["failure-details"] = [
        {"result-type": "sts-policy-fetch-error", "failed-session-count": 3, "failure-reason-code": "bad https response code: 404"},
        {"result-type": "sts-webpki-invalid", "failed-session-count": 4},
    ]
    c["quirk-details-exceed-total-no-ips"] = r
    r = base()
    r["x-extension"] = "ignored"
    r["x-object"] = {"a": {"b": {"c": [1, 2]}}}
    r["date-range"]["x-note"] = [1, 2, 3]
    r["policies"][0]["x-vendor"] = {"k": [True, None]}
    r["policies"][0]["policy"]["x-unknown"] = ["a"]
    r["policies"][0]["summary"]["total-neutral-session-count"] = 7
    r["policies"][0]["failure-details"][0]["x-extra"] = "kept out"
    c["quirk-unknown-fields"] = r
    r = base()
    r["policies"] = []
    c["quirk-empty-policies"] = r
    r = base()
    r["policies"][0]["policy"]["policy-domain"] = "Example.ORG."
    c["quirk-domain-case-trailing-dot"] = r
    r = base()
    r["policies"][0]["failure-details"] = None
    r["policies"][0]["summary"]["total-failure-session-count"] = 0
    c["quirk-null-failure-details"] = r
    r = base()
    r["policies"][0]["summary"] = {"total-successful-session-count": 2 ** 53, "total-failure-session-count": 0}
    del r["policies"][0]["failure-details"]
    c["quirk-max-count"] = r
    r = base()
    fd = r["policies"][0]["failure-details"][0]
    fd.update({"receiving-mx-helo": "mx1-helo.example.org", "additional-information": "https://sender.example/info?id=1",
               "failure-reason-code": "X509_V_ERR_CERT_HAS_EXPIRED", "receiving-ip": None})
    c["all-failure-fields"] = r
    r = base()
    r["policies"].append({
        "policy": {"policy-type": "no-policy-found", "policy-domain": "xn--bcher-kva.example"},
        "summary": {"total-successful-session-count": 5, "total-failure-session-count": 1},
        "failure-details": [{"result-type": "starttls-not-supported", "receiving-mx-hostname": "mx.xn--bcher-kva.example",
                             "failed-session-count": 1}],
    })
    r["policies"].append({
        "policy": {"policy-type": "tlsa", "policy-string": ["3 1 1 00ff"], "policy-domain": "a-b.example.org"},
        "summary": {"total-successful-session-count": 0, "total-failure-session-count": 9},
        "failure-details": [{"result-type": t, "failed-session-count": 1} for t in
                            ["tlsa-invalid", "dnssec-invalid", "dane-required", "validation-failure",
                             "certificate-host-mismatch", "certificate-not-trusted", "sts-policy-invalid"]],
    })
    c["multi-policy"] = r
    r = base()
    r["organization-name"] = "Pöstbote GmbH ✉"
    r["report-id"] = "<2026.11.01T00.00.00Z+example.org@sender.example>"
    c["utf8-names"] = r
    r = base()
    r["report-id"] = "2026-11-01_no-policy-found"
    r["policies"][0]["policy"] = {"policy-type": "no-policy-found", "policy-domain": None}
    r["policies"][0]["failure-details"] = []
    r["policies"][0]["summary"]["total-failure-session-count"] = 0
    c["quirk-no-policy-found-null-domain"] = r
    # A policy whose summary is all zeros (no session of the day touched it).
    r = base()
    r["report-id"] = "2026-11-01_zero-summary"
    r["policies"][0]["summary"] = {"total-successful-session-count": 0, "total-failure-session-count": 0}
    del r["policies"][0]["failure-details"]
    c["quirk-zero-summary"] = r
    for name, rep in c.items():
        write(os.path.join(VALID, name + ".json"), json.dumps(rep, indent=1, ensure_ascii=False) + "\n")
    for name, data in layout_cases().items():
        write(os.path.join(VALID, name + ".json"), data)
    # A UTF-8 byte order mark before the JSON text (RFC 8259 §8.1 lets parsers ignore it).
    write(os.path.join(VALID, "quirk-bom.json"), b"\xef\xbb\xbf" + json.dumps(base()).encode())


# ---------------------------------------------------------------------------------------
# Reconstructions of real senders' reports, byte layout included (see SOURCES.md).
def layout_cases():
    c = {}
    # Postfix 3.10 with libtlsrpt 0.5.0 and tlsrpt-reporter 0.5.0 (sys4/tlsrpt-reporter issue
    # 51): tlsrpt-reportd builds the report as a dict (organization-name, date-range,
    # contact-info, policies, then report-id), each policy as summary, policy, failure-details
    # (always present, [] when empty), the policy being what libtlsrpt sent without its "t"
    # and "f" counters: for TLSRPT_NO_POLICY_FOUND with a NULL domain only "policy-type".
    # json.dumps with the default separators, then gzip.
    day = "2025-09-21"
    c["quirk-postfix-no-policy-domain"] = json.dumps({
        "organization-name": "mail.sender.example",
        "date-range": {"start-datetime": day + "T00:00:00Z", "end-datetime": day + "T23:59:59Z"},
        "contact-info": "tlsrpt-noreply@sender.example",
        "policies": [{
            "summary": {"total-failure-session-count": 0, "total-successful-session-count": 4},
            "policy": {"policy-type": "no-policy-found"},
            "failure-details": [],
        }],
        "report-id": day + "T00:00:00Z_idx1_example.test",
    })
    # The same reporter reports the delivery of its own report of the day before
    # (sys4/tlsrpt-reporter issue 50, "reports cause reports"): the only policy is for the
    # domain of the rua mailbox, one session.
    c["quirk-report-delivery-only"] = json.dumps({
        "organization-name": "mail.sender.example",
        "date-range": {"start-datetime": "2025-09-22T00:00:00Z", "end-datetime": "2025-09-22T23:59:59Z"},
        "contact-info": "tlsrpt-noreply@sender.example",
        "policies": [{
            "summary": {"total-failure-session-count": 0, "total-successful-session-count": 1},
            "policy": {"policy-type": "sts", "policy-domain": "reports.example.net",
                       "policy-string": ["version: STSv1", "mode: enforce", "mx: mx.reports.example.net",
                                         "max_age: 604800"],
                       "mx-host": ["mx.reports.example.net"]},
            "failure-details": [],
        }],
        "report-id": "2025-09-22T00:00:00Z_idx1_reports.example.net",
    })
    # mx.egressif.io (domainaware/parsedmarc issue 575): compact JSON, contact-info null,
    # empty policy-string, mx-host and failure-details arrays, a range ending at midnight.
    c["quirk-empty-arrays"] = json.dumps({
        "organization-name": "mx.egressif.io",
        "date-range": {"start-datetime": "2024-10-31T00:00:00Z", "end-datetime": "2024-11-01T00:00:00Z"},
        "contact-info": None, "report-id": "1730332800_11732957880687192466",
        "policies": [{"policy": {"policy-type": "no-policy-found", "policy-string": [],
                                 "policy-domain": "example.com", "mx-host": []},
                      "summary": {"total-successful-session-count": 1, "total-failure-session-count": 0},
                      "failure-details": []}]}, separators=(",", ":"))
    # Microsoft's own failure-reason-code values (a report quoted on r/email, 2025-12):
    # members sorted by name, " : " separators, validation-failure with MX_HOSTS_MISMATCH (no
    # host, no IP at all) and VALIDATION_FAILURE (receiving host and IP, no sending-mta-ip).
    ms = {
        "contact-info": "tlsrpt-noreply@microsoft.com",
        "date-range": {"end-datetime": "2025-12-13T23:59:59Z", "start-datetime": "2025-12-13T00:00:00Z"},
        "organization-name": "Microsoft Corporation",
        "policies": [{
            "failure-details": [
                {"failed-session-count": 1, "failure-reason-code": "MX_HOSTS_MISMATCH",
                 "result-type": "validation-failure"},
                {"failed-session-count": 1, "failure-reason-code": "VALIDATION_FAILURE",
                 "receiving-ip": "192.0.2.25", "receiving-mx-hostname": "mail.example.com",
                 "result-type": "validation-failure"}],
            "policy": {"policy-domain": "example.com",
                       "policy-string": ["version: STSv1", "mode: testing", "mx: example.com",
                                         "max_age: 604800"],
                       "policy-type": "sts"},
            "summary": {"total-failure-session-count": 2, "total-successful-session-count": 5}}],
        "report-id": "134101152000000000+example.com",
    }
    c["quirk-ms-failure-reason-codes"] = json.dumps(ms, indent=2, sort_keys=True,
                                                     separators=(",", " : ")) + "\n"
    return c


# ---------------------------------------------------------------------------------------
# Invalid cases: (name, bytes, status, error substring[, cap])
def invalid_cases():
    cases = []

    def add(name, data, err, status=400, cap=None, ext=".json"):
        if isinstance(data, dict) or isinstance(data, list):
            data = json.dumps(data)
        cases.append((name + ext, data, status, err, cap))

    def mod(fn):
        r = base()
        fn(r)
        return r

    P0 = "policies[0]"
    add("not-json", "hello, world\n", "$: invalid JSON at line 1")
    add("empty", "", "$: invalid JSON")
    add("top-level-array", [base()], "$: must be a JSON object")
    add("top-level-number", "42", "$: invalid JSON")
    add("trailing-garbage", json.dumps(base()) + " x", "$: invalid JSON")
    add("org-missing", mod(lambda r: r.pop("organization-name")), "organization-name: required")
    add("org-number", mod(lambda r: r.update({"organization-name": 7})), "organization-name: must be a string")
    add("org-empty", mod(lambda r: r.update({"organization-name": ""})), "organization-name: must not be empty")
    add("report-id-missing", mod(lambda r: r.pop("report-id")), "report-id: required")
    add("report-id-empty", mod(lambda r: r.update({"report-id": ""})), "report-id: must not be empty")
    add("report-id-array", mod(lambda r: r.update({"report-id": ["a"]})), "report-id: must be a string")
    add("contact-info-number", mod(lambda r: r.update({"contact-info": 1})), "contact-info: must be a string")
    add("date-range-missing", mod(lambda r: r.pop("date-range")), "date-range: required")
    add("date-range-string", mod(lambda r: r.update({"date-range": "2026-11-01"})), "date-range: must be an object")
    add("start-missing", mod(lambda r: r["date-range"].pop("start-datetime")), "date-range.start-datetime: required")
    add("start-date-only", mod(lambda r: r["date-range"].update({"start-datetime": "2026-11-01"})),
        "date-range.start-datetime: not an RFC 3339 date-time")
    add("start-bad-month", mod(lambda r: r["date-range"].update({"start-datetime": "2026-13-01T00:00:00Z"})),
        "date-range.start-datetime: not an RFC 3339 date-time")
    add("end-epoch-number", mod(lambda r: r["date-range"].update({"end-datetime": 1790000000})),
        "date-range.end-datetime: must be a string")
    add("end-bad-zone", mod(lambda r: r["date-range"].update({"end-datetime": "2026-11-01T23:59:59 UTC"})),
        "date-range.end-datetime: not an RFC 3339 date-time")
    add("end-before-start", mod(lambda r: r["date-range"].update({"end-datetime": "2026-10-31T23:59:59Z"})),
        "date-range.end-datetime: ends before start-datetime")
    add("policies-missing", mod(lambda r: r.pop("policies")), "policies: required")
    add("policies-object", mod(lambda r: r.update({"policies": r["policies"][0]})), "policies: must be an array")
    add("policies-null", mod(lambda r: r.update({"policies": None})), "policies: must be an array")
    add("policy-entry-string", mod(lambda r: r.update({"policies": ["sts"]})), "policies[0]: must be an object")
    add("policy-missing", mod(lambda r: r["policies"][0].pop("policy")), P0 + ".policy: required")
    add("policy-type-unknown", mod(lambda r: r["policies"][0]["policy"].update({"policy-type": "dane"})),
        P0 + ".policy.policy-type: must be sts, tlsa or no-policy-found")
    add("policy-type-uppercase", mod(lambda r: r["policies"][0]["policy"].update({"policy-type": "STS"})),
        P0 + ".policy.policy-type: must be sts, tlsa or no-policy-found")
    add("policy-type-missing", mod(lambda r: r["policies"][0]["policy"].pop("policy-type")),
        P0 + ".policy.policy-type: required")
    add("policy-domain-missing", mod(lambda r: r["policies"][0]["policy"].pop("policy-domain")),
        P0 + ".policy.policy-domain: required")
    add("policy-domain-missing-tlsa", mod(lambda r: r["policies"][0].update(
        {"policy": {"policy-type": "tlsa", "policy-string": ["3 1 1 00ff"]}})),
        P0 + ".policy.policy-domain: required")
    add("policy-domain-null-sts", mod(lambda r: r["policies"][0]["policy"].update({"policy-domain": None})),
        P0 + ".policy.policy-domain: must be a string")
    # no-policy-found may leave policy-domain out, but one it names must be a domain name.
    add("policy-domain-empty-no-policy", mod(lambda r: r["policies"][0].update(
        {"policy": {"policy-type": "no-policy-found", "policy-domain": ""}})),
        P0 + ".policy.policy-domain: not a domain name")
    add("policy-domain-number-no-policy", mod(lambda r: r["policies"][0].update(
        {"policy": {"policy-type": "no-policy-found", "policy-domain": 7}})),
        P0 + ".policy.policy-domain: must be a string")
    add("policy-domain-ipv4", mod(lambda r: r["policies"][0]["policy"].update({"policy-domain": "192.0.2.1"})),
        P0 + ".policy.policy-domain: not a domain name")
    add("policy-domain-space", mod(lambda r: r["policies"][0]["policy"].update({"policy-domain": "exa mple.org"})),
        P0 + ".policy.policy-domain: not a domain name")
    add("policy-domain-empty-label", mod(lambda r: r["policies"][0]["policy"].update({"policy-domain": "example..org"})),
        P0 + ".policy.policy-domain: not a domain name")
    add("policy-domain-hyphen", mod(lambda r: r["policies"][0]["policy"].update({"policy-domain": "-example.org"})),
        P0 + ".policy.policy-domain: not a domain name")
    add("policy-domain-email", mod(lambda r: r["policies"][0]["policy"].update({"policy-domain": "postmaster@example.org"})),
        P0 + ".policy.policy-domain: not a domain name")
    add("policy-domain-long-label", mod(lambda r: r["policies"][0]["policy"].update({"policy-domain": "a" * 64 + ".org"})),
        P0 + ".policy.policy-domain: not a domain name")
    add("policy-string-number", mod(lambda r: r["policies"][0]["policy"].update({"policy-string": 5})),
        P0 + ".policy.policy-string: must be an array of strings")
    add("policy-string-entry-number", mod(lambda r: r["policies"][0]["policy"]["policy-string"].insert(1, 5)),
        P0 + ".policy.policy-string[1]: must be a string")
    add("policy-string-too-many", mod(lambda r: r["policies"][0]["policy"].update({"policy-string": ["mx: a.example"] * 1001})),
        P0 + ".policy.policy-string: more than 1000 entries")
    add("mx-host-object", mod(lambda r: r["policies"][0]["policy"].update({"mx-host": {"mx": "a"}})),
        P0 + ".policy.mx-host: must be an array of strings")
    add("summary-missing", mod(lambda r: r["policies"][0].pop("summary")), P0 + ".summary: required")
    add("summary-array", mod(lambda r: r["policies"][0].update({"summary": [1, 2]})), P0 + ".summary: must be an object")
    add("count-missing", mod(lambda r: r["policies"][0]["summary"].pop("total-failure-session-count")),
        P0 + ".summary.total-failure-session-count: required")
    add("count-negative", mod(lambda r: r["policies"][0]["summary"].update({"total-successful-session-count": -1})),
        P0 + ".summary.total-successful-session-count: must be a non-negative integer")
    add("count-fraction", mod(lambda r: r["policies"][0]["summary"].update({"total-successful-session-count": 1.5})),
        P0 + ".summary.total-successful-session-count: must be a non-negative integer")
    add("count-real-integral", json.dumps(base()).replace('"total-successful-session-count": 100',
                                                          '"total-successful-session-count": 100.0'),
        P0 + ".summary.total-successful-session-count: must be a non-negative integer")
    add("count-exponent", json.dumps(base()).replace('"total-successful-session-count": 100',
                                                     '"total-successful-session-count": 1e2'),
        P0 + ".summary.total-successful-session-count: must be a non-negative integer")
    add("count-string", mod(lambda r: r["policies"][0]["summary"].update({"total-failure-session-count": "2"})),
        P0 + ".summary.total-failure-session-count: must be a non-negative integer")
    add("count-boolean", mod(lambda r: r["policies"][0]["summary"].update({"total-failure-session-count": True})),
        P0 + ".summary.total-failure-session-count: must be a non-negative integer")
    add("count-over-2p53", mod(lambda r: r["policies"][0]["summary"].update({"total-successful-session-count": 2 ** 53 + 1})),
        P0 + ".summary.total-successful-session-count: must not exceed 2^53")
    add("count-over-int64", mod(lambda r: r["policies"][0]["summary"].update({"total-successful-session-count": 2 ** 64})),
        "$: invalid JSON at line 1")
    add("failure-details-object", mod(lambda r: r["policies"][0].update({"failure-details": {"a": 1}})),
        P0 + ".failure-details: must be an array")
    add("failure-entry-number", mod(lambda r: r["policies"][0].update({"failure-details": [3]})),
        P0 + ".failure-details[0]: must be an object")

    def second_policy_bad_count(r):
        p = copy.deepcopy(r["policies"][0])
        p["failure-details"].insert(0, {"result-type": "validation-failure", "failed-session-count": 1})
        p["failure-details"][1]["failed-session-count"] = -5
        r["policies"].append(p)
    add("failure-count-negative-second-policy", mod(second_policy_bad_count),
        "policies[1].failure-details[1].failed-session-count: must be a non-negative integer")
    add("failure-count-missing", mod(lambda r: r["policies"][0]["failure-details"][0].pop("failed-session-count")),
        P0 + ".failure-details[0].failed-session-count: required")
    add("result-type-missing", mod(lambda r: r["policies"][0]["failure-details"][0].pop("result-type")),
        P0 + ".failure-details[0].result-type: required")
    add("result-type-number", mod(lambda r: r["policies"][0]["failure-details"][0].update({"result-type": 1})),
        P0 + ".failure-details[0].result-type: must be a string")
    add("result-type-empty", mod(lambda r: r["policies"][0]["failure-details"][0].update({"result-type": ""})),
        P0 + ".failure-details[0].result-type: must not be empty")
    add("sending-ip-number", mod(lambda r: r["policies"][0]["failure-details"][0].update({"sending-mta-ip": 3221225994})),
        P0 + ".failure-details[0].sending-mta-ip: must be a string")
    add("nesting-unknown-root", mod(lambda r: r.update({"x": [[[[[1]]]]]})), "x: nested deeper than the report schema")
    add("nesting-unknown-in-failure", mod(lambda r: r["policies"][0]["failure-details"][0].update({"x": {"a": 1}})),
        P0 + ".failure-details[0].x: nested deeper than the report schema")
    add("nesting-3000", "[" * 3000 + "]" * 3000, "$: invalid JSON")
    add("string-too-long", mod(lambda r: r.update({"organization-name": "x" * 4097})),
        "organization-name: longer than 4096 bytes")
    add("invalid-utf8", json.dumps(base()).encode().replace(b"Example Sender", b"Example \xc3\x28Sender"),
        "$: invalid JSON")
    add("overlong-utf8", json.dumps(base()).encode().replace(b"Example Sender", b"Example \xc0\xafSender"),
        "$: invalid JSON")
    add("nul-escape", json.dumps(base()).replace("Example Sender", "Example\\u0000Sender"), "$: invalid JSON")
    add("duplicate-key", json.dumps(base())[:-1] + ', "report-id": "other"}', "duplicate object key")
    # gzip failures (the body is gzip, so the intake inflates it first)
    body = json.dumps(base()).encode()
    add("gzip-truncated", gz(body)[:-9], "body: gzip: corrupt", ext=".json.gz")
    add("gzip-bad-crc", gz(body)[:-8] + b"\0\0\0\0" + gz(body)[-4:], "body: gzip: corrupt", ext=".json.gz")
    add("gzip-trailing-garbage", gz(body) + b"garbage", "body: gzip: corrupt", ext=".json.gz")
    add("gzip-not-json", gz(b"not json at all"), "$: invalid JSON", ext=".json.gz")
    add("gzip-inside-gzip", gz(gz(body)), "$: invalid JSON", ext=".json.gz")
    # 21 MiB of spaces around a report: past the default max_json of 20M.
    big = b" " * (21 * 1024 * 1024) + body
    add("gzip-past-max-json", gz(big), "body: gzip: inflates past the size limit", status=413, ext=".json.gz")
    add("gzip-past-cap-1k", gz(b" " * 1024 + b"{}"), "body: gzip: inflates past the size limit", status=413,
        cap=1025, ext=".json.gz")
    add("plain-past-cap", body, "body: larger than the size limit", status=413, cap=100)

    for name, data, status, err, cap in cases:
        write(os.path.join(INVALID, name), data)
        stem = name[: -len(".json.gz")] if name.endswith(".json.gz") else name[: -len(".json")]
        exp = "status: %d\nerror: %s\n" % (status, err)
        if cap is not None:
            exp += "cap: %d\n" % cap
        write(os.path.join(INVALID, stem + ".expect"), exp)
    return len(cases)


# ---------------------------------------------------------------------------------------
# The oracle: the parsing rules in Python, for the .expect files of valid cases.
def utc(s):
    s2 = s.replace("z", "Z").replace("Z", "+00:00")
    d = datetime.datetime.fromisoformat(s2)
    if d.tzinfo is None:
        d = d.replace(tzinfo=datetime.timezone.utc)
    return d.astimezone(datetime.timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def strings(v):
    if v is None:
        return []
    if isinstance(v, str):
        v = [v]
    if len(v) == 1 and v[0].startswith("["):
        try:
            a = json.loads(v[0])
            if isinstance(a, list) and a and all(isinstance(x, str) for x in a):
                return a
        except ValueError:
            pass
    return v


def expect(rep):
    out = []
    out.append("organization-name: " + rep["organization-name"])
    out.append("report-id: " + rep["report-id"])
    ci = rep.get("contact-info")
    out.append("contact-info: " + (ci if ci is not None else "-"))
    out.append("start: " + utc(rep["date-range"]["start-datetime"]))
    out.append("end: " + utc(rep["date-range"]["end-datetime"]))
    out.append("policies: %d" % len(rep["policies"]))
    for i, p in enumerate(rep["policies"]):
        pol = p["policy"]
        fds = p.get("failure-details") or []
        # Absent (or null) only in no-policy-found policies (Postfix 3.10): "-".
        dom = (pol.get("policy-domain") or "-").lower()
        if dom.endswith("."):
            dom = dom[:-1]
        out.append("policy[%d]: type=%s domain=%s successful=%d failed=%d failure-details=%d failed-sum=%d" % (
            i, pol["policy-type"], dom, p["summary"]["total-successful-session-count"],
            p["summary"]["total-failure-session-count"], len(fds), sum(f["failed-session-count"] for f in fds)))
        for j, s in enumerate(strings(pol.get("policy-string"))):
            out.append("policy[%d].policy-string[%d]: %s" % (i, j, s))
        mx = pol.get("mx-host")
        for j, s in enumerate([] if mx is None else [mx] if isinstance(mx, str) else mx):
            out.append("policy[%d].mx-host[%d]: %s" % (i, j, re.sub(r"^[mM][xX]:[ \t]*", "", s)))
        for j, f in enumerate(fds):
            line = "policy[%d].failure-details[%d]: result-type=%s count=%d" % (
                i, j, f["result-type"], f["failed-session-count"])
            for k in ("sending-mta-ip", "receiving-mx-hostname", "receiving-mx-helo", "receiving-ip",
                      "additional-information", "failure-reason-code"):
                if f.get(k) is not None:
                    line += " %s=%s" % (k, f[k])
            out.append(line)
    return "\n".join(out) + "\n"


def write_expects():
    n = 0
    for name in sorted(os.listdir(VALID)):
        if not name.endswith(".json"):
            continue
        raw = open(os.path.join(VALID, name), "rb").read()
        if raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        rep = json.loads(raw)
        write(os.path.join(VALID, name[:-5] + ".expect"), expect(rep))
        n += 1
    return n


def write_gzip_seeds():
    """Seeds for fuzz_gunzip: real reports gzipped, in one and in several members."""
    a = open(os.path.join(VALID, "phi-google.json"), "rb").read()
    b = open(os.path.join(VALID, "parsedmarc-rfc8460.json"), "rb").read()
    write(os.path.join(GZIP, "one-member.json.gz"), gz(a))
    write(os.path.join(GZIP, "two-members.json.gz"), gz(a[:300]) + gz(a[300:]))
    write(os.path.join(GZIP, "rfc8460.json.gz"), gz(b))
    write(os.path.join(GZIP, "empty-member.json.gz"), gz(b"") + gz(b))


def write_email_expects():
    """email/<name>.expect: the report parts Python's email package finds, then each part's
    report in the valid .expect format."""
    import email
    import email.policy
    d = os.path.join(HERE, "email")
    for name in sorted(os.listdir(d)):
        if not name.endswith(".eml"):
            continue
        msg = email.message_from_binary_file(open(os.path.join(d, name), "rb"), policy=email.policy.default)
        out = []
        parts = [p for p in msg.walk() if p.get_content_type() in ("application/tlsrpt+gzip", "application/tlsrpt+json")]
        out.append("parts: %d\n" % len(parts))
        for i, p in enumerate(parts):
            data = p.get_payload(decode=True)
            isgz = data[:2] == b"\x1f\x8b"
            out.append("part[%d]: gzip=%d filename=%s\n" % (i, isgz, p.get_filename()))
            if isgz:
                data = gzip.decompress(data)
            out.append(expect(json.loads(data)))
        write(os.path.join(d, name[:-4] + ".expect"), "".join(out))


if __name__ == "__main__":
    for d in (VALID, INVALID, GZIP):
        os.makedirs(d, exist_ok=True)
    valid_cases()
    n_inv = invalid_cases()
    n_val = write_expects()
    write_gzip_seeds()
    write_email_expects()
    print("valid: %d, invalid: %d" % (n_val, n_inv))
