#!/usr/bin/env python3
"""Writes the seed corpus of `api_bodies` (corpus/api_bodies/seed-*): for each route of
ROUTES in src/node.rs (by index), valid bodies as the desks send them (with the fixture's
record ids as @patient, @visit, @fee, @rx, @charge, @invoice), and near misses. Byte 0 of an
input is the route, byte 1 the operator (1: the route's own desk; 0x00, 0x10, ...: another)."""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "corpus", "api_bodies")

PATIENT = {"name": "王小明", "sex": "male", "birth_date": "2019-05-04",
           "phone": "13800138000", "insurance": "resident"}
SEEDS = {
    0: [("patient", PATIENT),
        ("patient-guardian", {"name": "王小宝", "sex": "male", "birth_date": "2026-05-20",
                              "phone": "13900139000", "insurance": "resident",
                              "guardian": {"name": "王建华", "relationship": "父亲",
                                           "phone": "13900139000"}}),
        ("patient-no-national-id", dict(PATIENT, patient_no="P-0001",
                                        national_id="11010519491231002X")),
        ("patient-bad-date", dict(PATIENT, birth_date="2019-02-30"))],
    1: [("patient-edit", {"name": "王小明明", "phone": "13900139000"}),
        ("patient-edit-empty", {})],
    2: [("visit", {"patient": "@patient", "department": "PED-GEN"}),
        ("visit-unknown-department", {"patient": "@patient", "department": "NOPE"})],
    3: [("visit-call", {})], 4: [("visit-resume", {})], 5: [("visit-seen", {})],
    6: [("visit-cancel", {"reason": "left"})],
    7: [("prescription", {"visit": "@visit", "items": [
            {"drug_code": "DRG-0001", "quantity": 2, "dosage": "0.125g tid"}]}),
        ("prescription-zero", {"visit": "@visit", "items": [
            {"drug_code": "DRG-0001", "quantity": 0, "dosage": "tid"}]})],
    8: [("rx-print", {})], 9: [("rx-dispense", {})], 10: [("rx-cancel", {"reason": "wrong drug"})],
    11: [("charge", {"visit": "@visit", "payment": "insurance", "lines": [
             {"catalog": "drug", "code": "DRG-0001", "quantity": 2},
             {"catalog": "service", "code": "SVC-REG", "quantity": 1}]}),
         ("charge-huge", {"visit": "@visit", "payment": "self_pay", "lines": [
             {"catalog": "service", "code": "SVC-REG", "quantity": 18446744073709551615}]})],
    12: [("settle-paid", {"outcome": "paid"}),
         ("settle-insurance-failed", {"outcome": "insurance_failed"})],
    13: [("resettle", {})], 14: [("refund", {"reason": "patient left"})],
    15: [("shift", {"code": "144031900111", "first_number": 1})],
    16: [("invoice", {"charges": ["@fee"]}), ("invoice-twice", {"charges": ["@charge", "@charge"]})],
    17: [("invoice-void", {"reason": "printer jam"})],
    18: [("void-next", {"reason": "torn slip"})],
    19: [("operator", {"name": "zhang.li", "desk": "registration", "valid_for_s": 3600})],
    20: [("emergency-start", {"reason": "central down"}),
         ("emergency-drill", {"reason": "drill", "drill": True})],
    21: [("emergency-estimate", {"hours": 6, "cause": "network"})],
    22: [("emergency-stop", {})],
    23: [("catalog-import", {"drugs_csv": open(os.path.join(HERE, "..", "..", "data", "drugs.csv")).read()[:400]})],
    24: [("lease", {"series": "invoice", "holder": "W01", "size": 10, "operator": "cash1"})],
    25: [("conflict-resolve", {"choice": "confirm"})],
    26: [("patients-merge", {"survivor": "@patient", "duplicate": "@patient"})],
    27: [("restore-drill", {"at_ms": 1795568400000, "file": "/backups/x.redb", "passed": True, "problems": 0, "operator": "info1"})],
    28: [("revocation", {"proof": "{}"})],
}
# A real revocation proof of the seeds' CA (seeds/ca.pem), from sync_message's roster seed.
_FRAME = open(os.path.join(HERE, "..", "corpus", "sync_message", "seed-roster-revocation"), "rb").read()
SEEDS[28].append(("revocation-real", {"proof": _FRAME[_FRAME.index(b"{"):_FRAME.rindex(b"}") + 1].decode()}))
SEEDS = {**SEEDS
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name in os.listdir(OUT):
        if name.startswith("seed-"):
            os.remove(os.path.join(OUT, name))
    n = 0
    for route, bodies in SEEDS.items():
        for name, body in bodies:
            text = json.dumps(body, ensure_ascii=False).encode()
            with open(os.path.join(OUT, f"seed-{route:02}-{name}"), "wb") as f:
                f.write(bytes([route, 1]) + text)
            n += 1
        # Another desk, and bodies that are not what the route takes.
        with open(os.path.join(OUT, f"seed-{route:02}-other-desk"), "wb") as f:
            f.write(bytes([route, 0x00]) + json.dumps(bodies[0][1], ensure_ascii=False).encode())
        n += 1
    for name, body in [("not-json", b"{\"name\": "), ("array", b"[1, 2, 3]"),
                       ("deep", b"[" * 200 + b"]" * 200), ("utf8-bad", b"{\"name\": \"\xc3\x28\"}"),
                       ("unknown-field", b"{\"extra\": 1}"), ("empty", b"")]:
        for route in (0, 11, 19):
            with open(os.path.join(OUT, f"seed-{route:02}-{name}"), "wb") as f:
                f.write(bytes([route, 1]) + body)
            n += 1
    print(f"wrote {n} seeds", file=sys.stderr)


if __name__ == "__main__":
    main()
