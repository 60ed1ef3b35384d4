#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the seed corpus and dictionary of tests/fuzz/fuzz_ari_event.c.

    scripts/gen_ari_fuzz_corpus.py [SHARED_ARI_DIR]   (default ../shared/ari)

Seeds (tests/fuzz/corpus/ari_event/): the first captured message of every
event type in captures-asterisk-22 (compact, key order kept), the 2014
documentation events, the voipbin production messages byte for byte, one
REST Channel body, and a few hand-written messages for types and shapes the
captures lack (transfers, endpoint and peer events, MissingParams, an
unknown type, null and missing optional keys). Dictionary
(tests/fuzz/fuzz_ari_event.dict): every event type, JSON key and enumerated
string of the swagger.
"""
import glob
import hashlib
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus", "ari_event")
DICT = os.path.join(ROOT, "tests", "fuzz", "fuzz_ari_event.dict")

CH = {"id": "c1", "name": "PJSIP/t-1", "state": "Up", "protocol_id": "",
      "caller": {"name": "", "number": "1"}, "connected": {"name": "", "number": ""},
      "accountcode": "", "dialplan": {"context": "c", "exten": "s", "priority": 1,
                                      "app_name": "Stasis", "app_data": "d"},
      "creationtime": "2026-01-01T12:00:00.000+0000", "language": "en"}
BR = {"id": "b1", "technology": "simple_bridge", "bridge_type": "mixing",
      "bridge_class": "stasis", "creator": "Stasis", "name": "", "channels": ["c1"],
      "creationtime": "2026-01-01T12:00:00.000+0000", "video_mode": "talker"}
EP = {"technology": "PJSIP", "resource": "1000", "state": "online", "channel_ids": []}
HEAD = {"application": "dialer", "timestamp": "2026-01-01T12:00:00.000+0000",
        "asterisk_id": "02:fc:00:00:00:01"}

EXTRA = [
    dict(type="ChannelTransfer", **HEAD, state="channel_answered",
         refer_to={"requested_destination": {"protocol_id": "x", "destination": "1000",
                                             "additional_protocol_params": [
                                                 {"parameter_name": "a", "parameter_value": "b"}]},
                   "destination_channel": CH, "bridge": BR},
         referred_by={"source_channel": CH, "connected_channel": CH}),
    dict(type="BridgeAttendedTransfer", **HEAD, transferer_first_leg=CH,
         transferer_second_leg=CH, transferee=CH, result="Success", is_external=False,
         destination_type="bridge", destination_bridge="b1", transferer_first_leg_bridge=BR),
    dict(type="BridgeBlindTransfer", **HEAD, channel=CH, exten="1000", context="c",
         result="Success", is_external=True, bridge=BR),
    dict(type="BridgeMerged", **HEAD, bridge=BR, bridge_from=BR),
    dict(type="EndpointStateChange", **HEAD, endpoint=EP),
    dict(type="PeerStatusChange", **HEAD, endpoint=EP,
         peer={"peer_status": "Reachable", "address": "10.0.0.1", "port": "5060"}),
    dict(type="ContactStatusChange", **HEAD, endpoint=EP,
         contact_info={"uri": "sip:1000@h", "contact_status": "Reachable", "aor": "1000",
                       "roundtrip_usec": "1200"}),
    dict(type="TextMessageReceived", **HEAD,
         message={"from": "a", "to": "b", "body": "hi", "variables": {"k": "v"}}, endpoint=EP),
    dict(type="ChannelTalkingFinished", duration=1500, **HEAD, channel=CH),
    dict(type="ChannelHold", **HEAD, musicclass="default", channel=CH),
    dict(type="ChannelToneDetected", **HEAD, channel=CH),
    dict(type="RecordingFailed", **HEAD,
         recording={"name": "r", "format": "wav", "state": "failed",
                    "target_uri": "bridge:b1", "cause": "x"}),
    dict(type="RESTResponse", **HEAD, transaction_id="t", request_id="r", status_code=204,
         reason_phrase="No Content", uri="channels/c1/answer"),
    dict(type="ApplicationMoveFailed", **HEAD, channel=CH, destination="other", args=["a"]),
    dict(type="CallBroadcast", **HEAD, channel=CH, caller="1", called="2"),
    dict(type="ChannelDestroyed", cause=17, cause_txt="User busy", tech_cause=486, **HEAD,
         channel=dict(CH, channelvars={"A": "1", "N": 2, "O": {"x": [True, None]}},
                      caller_rdnis="5", tenantid="t")),
    dict(type="ChannelHangupRequest", cause=None, soft=True, **HEAD,
         channel=dict(CH, dialplan=dict(CH["dialplan"], priority=None))),
    {"type": "MissingParams", "params": ["app"]},
    dict(type="SomethingNew", **HEAD, payload={"a": [1, 2.5, "x"]}),
]
BAD = [
    "", "{", "[]", "{\"type\":5}", "{\"type\":\"Dial\",\"application\":\"a\"}",
    "{\"type\":\"StasisStart\",\"application\":\"a\",\"args\":[1],\"channel\":{}}",
]


def compact(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def write(seeds, name, text):
    seeds[name] = text


def main(argv):
    shared = argv[1] if len(argv) > 1 else os.path.join(os.path.dirname(ROOT), "shared", "ari")
    seeds = {}
    seen = set()
    for f in sorted(glob.glob(os.path.join(shared, "captures-asterisk-22", "*.json"))):
        doc = json.load(open(f))
        for item in doc["sequence"] + doc["subscribe_all_events"]:
            if item["kind"] != "event":
                continue
            t = item["event"]["type"]
            if t in seen:
                continue
            seen.add(t)
            write(seeds, "cap-%s.json" % t, compact(item["event"]))
    hello = json.load(open(os.path.join(shared, "examples", "asterisk-docs-hello-world.json")))
    for i, item in enumerate(hello["sequence"]):
        if item["direction"] == "event":
            write(seeds, "docs2014-%d.json" % i, compact(item["message"]))
    vb = json.load(open(os.path.join(shared, "examples", "captured-events-voipbin.json")))
    for i, item in enumerate(vb["examples"]):
        write(seeds, "voipbin-%02d.json" % i, item["raw"])
    for m in EXTRA:
        write(seeds, "extra-%s.json" % m["type"], compact(m))
    for i, b in enumerate(BAD):
        write(seeds, "bad-%d.json" % i, b)

    os.makedirs(CORPUS, exist_ok=True)
    for old in glob.glob(os.path.join(CORPUS, "*")):
        os.remove(old)
    for name, text in sorted(seeds.items()):
        with open(os.path.join(CORPUS, name), "w") as out:
            out.write(text)

    # Dictionary: names from the swagger.
    tokens = set(['"type"', '"application"', '"timestamp"', '"asterisk_id"', "null", "true",
                  "false", '"2026-01-01T12:00:00.000+0000"', '"channel:"', '"bridge:"'])
    docs = os.path.join(shared, "api-docs")
    for f in glob.glob(os.path.join(docs, "*.json")):
        for name, model in json.load(open(f)).get("models", {}).items():
            tokens.add('"%s"' % name)
            for key, prop in model.get("properties", {}).items():
                tokens.add('"%s"' % key)
                for v in prop.get("allowableValues", {}).get("values", []):
                    tokens.add('"%s"' % v)
    for s in ["Down", "Rsrvd", "Ring", "Ringing", "Up", "Busy", "Dialing Offhook", "Pre-ring",
              "Mute", "RINGING", "ANSWER", "BUSY", "NOANSWER", "CONGESTION", "CHANUNAVAIL",
              "CANCEL", "PROGRESS", "queued", "playing", "done", "failed", "recording"]:
        tokens.add('"%s"' % s)
    with open(DICT, "w") as out:
        out.write("# Generated by scripts/gen_ari_fuzz_corpus.py from the ARI swagger.\n")
        for t in sorted(tokens):
            out.write("kw_%s=%s\n" % (hashlib.sha1(t.encode()).hexdigest()[:10],
                                      json.dumps(t)))
    print("wrote %d seeds to %s and %d tokens to %s" % (len(seeds), os.path.relpath(CORPUS, ROOT),
                                                         len(tokens), os.path.relpath(DICT, ROOT)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
