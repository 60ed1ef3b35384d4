#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Generates the ARI model and event layer's types and descriptor tables.

    scripts/gen_ari_models.py [API_DOCS_DIR]      (default ../shared/ari/api-docs)
    scripts/gen_ari_models.py --check [DIR]       exit 1 if the committed output is stale

Reads the Asterisk REST Interface swagger (events.json plus the model files
listed in MODEL_SOURCES) and writes two files:

  ari/ari_types.h  enums and C structs for every event type and every model
                   an event references (types only; included by ari/ari.h)
  ari/ari_desc.c   descriptor tables the table-driven codec in ari/codec.c
                   walks: field name, kind, offsets, required flag, the order
                   Asterisk emits keys in, and the routing steps that find
                   the channel and bridge ids an event concerns

The swagger is the contract, but real servers differ from it in a few
places; those differences are the override tables below (RELAXED, ENUMS,
EMIT_ORDER, PRE_FIELDS, LAYOUT, ROUTE_ORDER), each entry with the reason.
The C mapping of swagger types:

  string -> const char *            int  -> int (+ bool has_x when optional)
  long   -> int64_t (+ has_x)       boolean -> bool (+ has_x)
  Date   -> const char *x + int64_t x_us (epoch microseconds)
  object -> struct ari_var *x + size_t n_x (name/value pairs)
  List[string] -> const char **x + size_t n_x
  Model  -> struct ari_model *x     List[Model] -> struct ari_model *x + n_x
  enumerated strings (ENUMS) -> const char *x + enum ari_... x_code
"""
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_H = os.path.join(ROOT, "ari", "ari_types.h")
OUT_C = os.path.join(ROOT, "ari", "ari_desc.c")

# Models taken from the REST resource files (events.json's own helper models
# are added automatically). StoredRecording is not referenced by any event
# but is the body of GET /recordings/stored/{name}.
MODEL_SOURCES = {
    "CallerID": "channels.json",
    "DialplanCEP": "channels.json",
    "Channel": "channels.json",
    "Bridge": "bridges.json",
    "Playback": "playbacks.json",
    "LiveRecording": "recordings.json",
    "StoredRecording": "recordings.json",
    "Endpoint": "endpoints.json",
    "TextMessage": "endpoints.json",
    "DeviceState": "deviceStates.json",
}

# Fields the swagger marks required that real servers omit (NOTES.md section 9
# and the 2014 documentation capture): they are parsed as optional.
RELAXED = {
    ("Channel", "protocol_id"): "added in 18.14/20.0",
    ("Channel", "language"): "absent from Asterisk 12 output",
    ("DialplanCEP", "priority"): "may be null",
    ("DialplanCEP", "app_name"): "absent from Asterisk 12 output",
    ("DialplanCEP", "app_data"): "absent from Asterisk 12 output",
    ("Bridge", "creationtime"): "added after the first ARI releases",
}

# Enumerated strings. The strings are what Asterisk actually emits (the
# swagger's Channel.state enum misspells Rsrvd and lacks Mute); ALIASES are
# accepted on input too. Unrecognised strings are kept, with code UNKNOWN.
ENUMS = {
    "channel_state": [
        ("DOWN", "Down"), ("RSRVD", "Rsrvd"), ("OFFHOOK", "OffHook"), ("DIALING", "Dialing"),
        ("RING", "Ring"), ("RINGING", "Ringing"), ("UP", "Up"), ("BUSY", "Busy"),
        ("DIALING_OFFHOOK", "Dialing Offhook"), ("PRERING", "Pre-ring"), ("MUTE", "Mute"),
    ],
    "dialstatus": [
        ("STARTED", ""), ("RINGING", "RINGING"), ("PROGRESS", "PROGRESS"),
        ("PROCEEDING", "PROCEEDING"), ("ANSWER", "ANSWER"), ("BUSY", "BUSY"),
        ("CONGESTION", "CONGESTION"), ("CHANUNAVAIL", "CHANUNAVAIL"), ("NOANSWER", "NOANSWER"),
        ("CANCEL", "CANCEL"),
    ],
    "playback_state": [
        ("QUEUED", "queued"), ("PLAYING", "playing"), ("PAUSED", "paused"),
        ("CONTINUING", "continuing"), ("DONE", "done"), ("FAILED", "failed"),
    ],
    "recording_state": [
        ("QUEUED", "queued"), ("RECORDING", "recording"), ("PAUSED", "paused"),
        ("DONE", "done"), ("FAILED", "failed"), ("CANCELED", "canceled"),
    ],
}
ENUM_ALIASES = {"channel_state": [("RSRVD", "Rsrved")]}
ENUM_FIELDS = {
    ("Channel", "state"): "channel_state",
    ("Dial", "dialstatus"): "dialstatus",
    ("Playback", "state"): "playback_state",
    ("LiveRecording", "state"): "recording_state",
}

# Key order of real output where it differs from the swagger's property
# order (captures-asterisk-22 and NOTES.md section 4; the order of keys never
# seen in a capture, such as tech_cause, follows how Asterisk builds them).
EMIT_ORDER = {
    "Channel": ["id", "name", "state", "protocol_id", "caller", "connected", "accountcode",
                "dialplan", "creationtime", "language", "caller_rdnis", "channelvars",
                "tenantid"],
    "Bridge": ["id", "technology", "bridge_type", "bridge_class", "creator", "name", "channels",
               "creationtime", "video_mode", "video_source_id", "bridgevars"],
    "LiveRecording": ["name", "format", "state", "target_uri", "duration", "talking_duration",
                      "silence_duration", "cause"],
    "Dial": ["dialstatus", "forward", "dialstring", "caller", "peer", "forwarded"],
    "ChannelDialplan": ["dialplan_app", "dialplan_app_data", "channel"],
    "ChannelUserevent": ["eventname", "userevent", "channel", "bridge", "endpoint"],
    "ChannelHangupRequest": ["cause", "soft", "tech_cause", "channel"],
    "ChannelVarset": ["variable", "value", "channel"],
    "ChannelTalkingFinished": ["duration", "channel"],
    "ChannelDestroyed": ["cause", "cause_txt", "tech_cause", "channel"],
    "ChannelHold": ["musicclass", "channel"],
}
# Events Asterisk builds by merging a blob: the blob's keys come before "type".
PRE_FIELDS = {
    "ChannelHangupRequest": ["cause", "soft", "tech_cause"],
    "ChannelVarset": ["variable", "value"],
    "ChannelTalkingFinished": ["duration"],
}
# Where "application" sits. Default: after the payload and asterisk_id.
LAYOUT = {
    "DeviceStateChanged": "ARI__LAYOUT_APP_SECOND",
    "ApplicationReplaced": "ARI__LAYOUT_APP_BEFORE_ID",
    "ApplicationRegistered": "ARI__LAYOUT_APP_BEFORE_ID",
    "ApplicationUnregistered": "ARI__LAYOUT_APP_BEFORE_ID",
}
# Routing: the order channel-typed fields are reported in (the first is the
# event's primary channel). Default: emission order.
ROUTE_ORDER = {
    "Dial": ["peer", "caller", "forwarded"],
    "ChannelTransfer": ["referred_by", "refer_to"],
}

TYPE_MAP = {"string": "STR", "int": "INT", "long": "LONG", "boolean": "BOOL", "Date": "DATE",
            "object": "VARS", "List[string]": "STRLIST"}


def snake(name):
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", s)
    return s.lower()


def load(docs, name):
    with open(os.path.join(docs, name)) as f:
        return json.load(f)


class Field:
    def __init__(self, model, name, spec):
        self.model = model
        self.name = name
        self.swagger_type = spec["type"]
        self.required = bool(spec.get("required", False)) and (model, name) not in RELAXED
        self.enum = ENUM_FIELDS.get((model, name))
        self.sub = None
        t = spec["type"]
        if self.enum:
            self.kind = "ENUM"
        elif t in TYPE_MAP:
            self.kind = TYPE_MAP[t]
        elif t.startswith("List[") and t.endswith("]"):
            self.kind = "MODELLIST"
            self.sub = t[5:-1]
        else:
            self.kind = "MODEL"
            self.sub = t


class Model:
    def __init__(self, name, spec, is_event=False):
        self.name = name
        self.is_event = is_event
        self.description = spec.get("description", "").strip().split("\n")[0]
        props = spec.get("properties", {})
        order = EMIT_ORDER.get(name, list(props.keys()))
        if sorted(order) != sorted(props.keys()):
            sys.exit("EMIT_ORDER for %s does not match the swagger properties %s"
                     % (name, sorted(props.keys())))
        self.fields = [Field(name, k, props[k]) for k in order]
        self.pre = PRE_FIELDS.get(name, [])
        if is_event:
            self.cname = "ari_ev_" + snake(name)
        else:
            self.cname = "ari_" + snake(name)

    @property
    def desc_name(self):
        return "ari__model_" + self.cname[4:]


def collect(docs):
    ev = load(docs, "events.json")
    models = {}
    for name, src in MODEL_SOURCES.items():
        spec = load(docs, src)["models"][name]
        models[name] = Model(name, spec)
    event_names = [n for n in ev["models"]["Message"]["subTypes"] if n != "Event"]
    event_names += ev["models"]["Event"]["subTypes"]
    events = {}
    for name, spec in ev["models"].items():
        if name in ("Message", "Event"):
            continue
        if name in event_names:
            events[name] = Model(name, spec, is_event=True)
        else:
            models[name] = Model(name, spec)
    for name in event_names:
        if name not in events:
            sys.exit("event %s is listed as a subtype but has no model" % name)
    # Every referenced model must be known.
    for m in list(models.values()) + list(events.values()):
        for f in m.fields:
            if f.sub is not None and f.sub not in models:
                sys.exit("%s.%s references unknown model %s" % (m.name, f.name, f.sub))
    return models, events, ev.get("apiVersion", "?")


def model_order(models):
    """Models in dependency order (a model after the models it embeds)."""
    done, out = set(), []

    def visit(n):
        if n in done:
            return
        done.add(n)
        for f in models[n].fields:
            if f.sub is not None:
                visit(f.sub)
        out.append(models[n])

    for n in sorted(models):
        visit(n)
    return out


def c_decl(f, models):
    """Struct member lines for field f."""
    n = f.name
    req = f.required
    if f.kind == "STR":
        return ["const char *%s;" % n]
    if f.kind == "INT":
        return (["int %s;" % n] if req else ["bool has_%s;" % n, "int %s;" % n])
    if f.kind == "LONG":
        return (["int64_t %s;" % n] if req else ["bool has_%s;" % n, "int64_t %s;" % n])
    if f.kind == "BOOL":
        return (["bool %s;" % n] if req else ["bool has_%s;" % n, "bool %s;" % n])
    if f.kind == "DATE":
        return ["const char *%s;" % n, "int64_t %s_us;" % n]
    if f.kind == "ENUM":
        return ["const char *%s;" % n, "enum ari_%s %s_code;" % (f.enum, n)]
    if f.kind == "VARS":
        return ["struct ari_var *%s;" % n, "size_t n_%s;" % n]
    if f.kind == "STRLIST":
        return ["const char **%s;" % n, "size_t n_%s;" % n]
    if f.kind == "MODEL":
        return ["struct %s *%s;" % (models[f.sub].cname, n)]
    if f.kind == "MODELLIST":
        return ["struct %s *%s;" % (models[f.sub].cname, n), "size_t n_%s;" % n]
    raise ValueError(f.kind)


def first_decl(f, decls):
    """Index of the member that carries the comment: the value, not its has_ flag."""
    return 1 if decls[0].startswith("bool has_") else 0


def comment_for(f):
    bits = []
    if f.kind == "DATE":
        bits.append("Date; %s_us in epoch microseconds" % f.name)
    if f.kind == "ENUM":
        bits.append("as received; _code parsed")
    if f.kind == "VARS":
        bits.append("JSON object as name/value pairs")
    if f.kind in ("INT", "LONG", "BOOL") and not f.required:
        bits.append("valid when has_%s" % f.name)
    if f.required:
        bits.append("required")
    elif f.kind in ("STR", "DATE", "ENUM", "MODEL", "VARS", "STRLIST", "MODELLIST"):
        bits.append("NULL when absent")
    if (f.model, f.name) in RELAXED:
        bits.append("swagger: required; " + RELAXED[(f.model, f.name)])
    return "; ".join(bits)


HEADER_NOTE = """\
/*
 * GENERATED by scripts/gen_ari_models.py from the Asterisk REST Interface
 * swagger (api-docs/events.json, apiVersion %s, and the model files
 * channels.json, bridges.json, playbacks.json, recordings.json,
 * endpoints.json, deviceStates.json; see shared/ari/SOURCE.md for the
 * Asterisk commit). Do not edit; change the generator and rerun it.
 */
"""


def gen_header(models, events, api_version):
    L = []
    w = L.append
    w("/* SPDX-License-Identifier: MIT */")
    w(HEADER_NOTE % api_version)
    w("""/*
 * ari_types: the C types of the ARI event and model layer (types only; the
 * functions are in ari/ari.h, which includes this file).
 *
 * Every JSON key of a model is a struct member of the same name. Strings are
 * NUL-terminated and never NULL when the key is required; an optional key
 * that is absent (or JSON null) leaves its pointer NULL, its count 0 and its
 * has_ flag false. Objects that ari_event_parse() returns live in the arena
 * given to it, strings included (see ari/ari.h for ownership).
 */
#ifndef ARI_ARI_TYPES_H
#define ARI_ARI_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * One name/value pair of a JSON object such as Channel.channelvars or
 * ChannelUserevent.userevent. A string value is stored as is; any other
 * value (number, boolean, null, object, array) is stored as its compact
 * JSON text with json set, so nothing is lost.
 */
struct ari_var {
    const char *name;  /* the key */
    const char *value; /* the string value, or JSON text when json is set */
    bool json;         /* value is JSON text, not a string */
};
""")
    # Value enums.
    for en, vals in ENUMS.items():
        w("/* %s strings; UNKNOWN for anything else (the string is kept). */" % en)
        w("enum ari_%s {" % en)
        w("    ARI_%s_UNKNOWN = 0," % en.upper())
        for sym, s in vals:
            w("    ARI_%s_%s, /* \"%s\" */" % (en.upper(), sym, s))
        w("    ARI_%s_COUNT_" % en.upper())
        w("};")
        w("")
    # Event types, sorted by name so the name table can be binary searched.
    names = sorted(events)
    w("/* Event types, in the byte order of their names (\"type\" values). */")
    w("enum ari_event_type {")
    w("    ARI_EVENT_UNKNOWN = 0, /* a type this build does not know; see ari_event.raw */")
    for n in names:
        w("    ARI_EVENT_%s, /* %s */" % (snake(n).upper(), n))
    w("    ARI_EVENT_COUNT_")
    w("};")
    w("")
    # Model ids.
    order = model_order(models)
    w("/* Models, for ari_model_from_json() and friends. */")
    w("enum ari_model_type {")
    for m in sorted(models):
        w("    ARI_MODEL_%s, /* %s */" % (snake(m).upper(), m))
    w("    ARI_MODEL_COUNT_")
    w("};")
    w("")
    for m in order:
        w("/* %s%s */" % (m.name, (": " + m.description) if m.description else ""))
        w("struct %s {" % m.cname)
        for f in m.fields:
            decls = c_decl(f, models)
            c = comment_for(f)
            for i, d in enumerate(decls):
                if i == first_decl(f, decls) and c:
                    w("    %s /* %s */" % (d, c))
                else:
                    w("    %s" % d)
        w("};")
        w("")
    for n in names:
        m = events[n]
        if not m.fields:
            continue
        w("/* %s%s */" % (n, (": " + m.description) if m.description else ""))
        w("struct %s {" % m.cname)
        for f in m.fields:
            decls = c_decl(f, models)
            c = comment_for(f)
            for i, d in enumerate(decls):
                if i == first_decl(f, decls) and c:
                    w("    %s /* %s */" % (d, c))
                else:
                    w("    %s" % d)
        w("};")
        w("")
    w("""/*
 * One message of the events WebSocket. The common keys are members here; the
 * payload is the union member named after the type in snake case
 * (ev->channel_destroyed.cause for a ChannelDestroyed). Types without payload
 * keys (ApplicationReplaced, ApplicationRegistered, ApplicationUnregistered)
 * have no member.
 */
struct ari_event {
    enum ari_event_type type; /* ARI_EVENT_UNKNOWN for a type this build does not know */
    const char *type_name;    /* the "type" string; never NULL */
    const char *timestamp;    /* as received; NULL when absent (Asterisk 12 playback events) */
    int64_t timestamp_us;     /* timestamp as epoch microseconds; 0 when absent */
    const char *application;  /* NULL only for MissingParams (a Message, not an Event) */
    const char *asterisk_id;  /* NULL when absent (older servers) */
    const char *raw;          /* ARI_EVENT_UNKNOWN only: the message text, NUL-terminated */
    size_t raw_len;           /* length of raw */
    union {
        max_align_t _payload; /* private: start of the payload */""")
    for n in names:
        m = events[n]
        if m.fields:
            w("        struct %s %s;" % (m.cname, snake(n)))
    w("    };")
    w("};")
    w("")
    w("#endif")
    return "\n".join(L) + "\n"


KIND_C = {"STR": "ARI__K_STR", "INT": "ARI__K_INT", "LONG": "ARI__K_LONG", "BOOL": "ARI__K_BOOL",
          "DATE": "ARI__K_DATE", "ENUM": "ARI__K_ENUM", "VARS": "ARI__K_VARS",
          "STRLIST": "ARI__K_STRLIST", "MODEL": "ARI__K_MODEL", "MODELLIST": "ARI__K_MODELLIST"}


def field_entry(m, f, models):
    flags = []
    if f.required:
        flags.append("ARI__F_REQUIRED")
    if f.name in m.pre:
        flags.append("ARI__F_PRE")
    flags = " | ".join(flags) or "0"
    s = m.cname
    off2 = "ARI__NO_OFF"
    if f.kind in ("INT", "LONG", "BOOL") and not f.required:
        off2 = "offsetof(struct %s, has_%s)" % (s, f.name)
    elif f.kind == "DATE":
        off2 = "offsetof(struct %s, %s_us)" % (s, f.name)
    elif f.kind == "ENUM":
        off2 = "offsetof(struct %s, %s_code)" % (s, f.name)
    elif f.kind in ("VARS", "STRLIST", "MODELLIST"):
        off2 = "offsetof(struct %s, n_%s)" % (s, f.name)
    aux = "ARI__ENUM_%s" % f.enum.upper() if f.kind == "ENUM" else "0"
    sub = "&%s" % models[f.sub].desc_name if f.sub else "NULL"
    return ("    { \"%s\", %s, %s, %s, offsetof(struct %s, %s), %s, %s },"
            % (f.name, KIND_C[f.kind], flags, aux, s, f.name, off2, sub))


def routes_for(m, models, target_model_kind):
    """Routing steps for event m: (off1, off2, off_id, is_target) tuples as C text.

    target_model_kind is "Channel" or "Bridge"."""
    prefix = "channel:" if target_model_kind == "Channel" else "bridge:"
    order = ROUTE_ORDER.get(m.name)
    fields = m.fields
    if order:
        byname = {f.name: f for f in fields}
        fields = [byname[n] for n in order] + [f for f in fields if f.name not in order]
    out = []
    cid = models[target_model_kind].cname
    for f in fields:
        if f.kind != "MODEL":
            continue
        off1 = "offsetof(struct %s, %s)" % (m.cname, f.name)
        if f.sub == target_model_kind:
            out.append((off1, "ARI__NO_OFF", "offsetof(struct %s, id)" % cid, "NULL"))
        elif f.sub in ("Playback", "LiveRecording"):
            sc = models[f.sub].cname
            out.append((off1, "ARI__NO_OFF", "offsetof(struct %s, target_uri)" % sc,
                        '"%s"' % prefix))
        else:
            sub = models[f.sub]
            for g in sub.fields:
                if g.kind == "MODEL" and g.sub == target_model_kind:
                    out.append((off1, "offsetof(struct %s, %s)" % (sub.cname, g.name),
                                "offsetof(struct %s, id)" % cid, "NULL"))
    return out


def gen_source(models, events, api_version):
    L = []
    w = L.append
    w("/* SPDX-License-Identifier: MIT */")
    w(HEADER_NOTE % api_version)
    w("""/*
 * ari_desc: descriptor tables of every ARI model and event (see
 * ari/ari_int.h for the descriptor types and ari/codec.c for the engine that
 * walks them).
 */
#include "ari/ari_int.h"

#include <stddef.h>
""")
    # Enum name tables.
    for en, vals in ENUMS.items():
        w("static const struct ari__enum_name enum_%s[] = {" % en)
        for sym, s in vals:
            w("    { \"%s\", %d, ARI_%s_%s }," % (s, len(s), en.upper(), sym))
        for sym, s in ENUM_ALIASES.get(en, []):
            w("    { \"%s\", %d, ARI_%s_%s }, /* alias */" % (s, len(s), en.upper(), sym))
        w("};")
        w("")
    w("const struct ari__enum_table ari__enums[ARI__ENUM_COUNT_] = {")
    for en, vals in ENUMS.items():
        w("    [ARI__ENUM_%s] = { enum_%s, sizeof(enum_%s) / sizeof(enum_%s[0]), "
          "ARI_%s_COUNT_ }," % (en.upper(), en, en, en, en.upper()))
    w("};")
    w("")
    order = model_order(models)
    # Forward declarations so field tables can point at any model.
    for m in order:
        w("static const struct ari__model %s;" % m.desc_name)
    for n in sorted(events):
        m = events[n]
        w("static const struct ari__model %s;" % m.desc_name)
    w("")
    for m in order + [events[n] for n in sorted(events)]:
        static = "static "
        if m.fields:
            w("static const struct ari__field fields_%s[] = {" % m.cname[4:])
            for f in m.fields:
                w(field_entry(m, f, models))
            w("};")
            w("%sconst struct ari__model %s = {" % (static, m.desc_name))
            w("    \"%s\", sizeof(struct %s), %d, fields_%s," % (m.name, m.cname, len(m.fields),
                                                             m.cname[4:]))
        else:
            w("%sconst struct ari__model %s = {" % (static, m.desc_name))
            w("    \"%s\", 0, 0, NULL," % m.name)
        w("};")
        w("")
    # Routing steps.
    for n in sorted(events):
        m = events[n]
        for kind, tag in (("Channel", "chan"), ("Bridge", "bridge")):
            rs = routes_for(m, models, kind)
            if rs:
                w("static const struct ari__route routes_%s_%s[] = {" % (tag, m.cname[7:]))
                for r in rs:
                    w("    { %s, %s, %s, %s }," % r)
                w("};")
    w("")
    w("const struct ari__event_desc ari__events[ARI_EVENT_COUNT_] = {")
    w("    [ARI_EVENT_UNKNOWN] = { \"\", 0, ARI__LAYOUT_DEFAULT, true, NULL, NULL, 0, NULL, 0 },")
    for n in sorted(events):
        m = events[n]
        is_ev = "false" if n == "MissingParams" else "true"
        layout = LAYOUT.get(n, "ARI__LAYOUT_DEFAULT")
        rc = routes_for(m, models, "Channel")
        rb = routes_for(m, models, "Bridge")
        rcs = ("routes_chan_%s, %d" % (m.cname[7:], len(rc))) if rc else "NULL, 0"
        rbs = ("routes_bridge_%s, %d" % (m.cname[7:], len(rb))) if rb else "NULL, 0"
        w("    [ARI_EVENT_%s] = { \"%s\", %d, %s, %s, &%s, %s, %s }," %
          (snake(n).upper(), n, len(n), layout, is_ev, m.desc_name, rcs, rbs))
    w("};")
    w("")
    w("const struct ari__model *const ari__models[ARI_MODEL_COUNT_] = {")
    for n in sorted(models):
        w("    [ARI_MODEL_%s] = &%s," % (snake(n).upper(), models[n].desc_name))
    w("};")
    return "\n".join(L) + "\n"


def clang_format(path, text):
    """text as clang-format (the repository's .clang-format) would leave it."""
    import shutil
    import subprocess
    exe = shutil.which("clang-format")
    if exe is None:
        print("warning: clang-format not found; output left unformatted", file=sys.stderr)
        return text
    r = subprocess.run([exe, "--assume-filename=" + path], input=text, cwd=ROOT,
                       capture_output=True, text=True, check=True)
    return r.stdout


def main(argv):
    check = False
    args = [a for a in argv[1:]]
    if args and args[0] == "--check":
        check = True
        args = args[1:]
    docs = args[0] if args else os.path.join(os.path.dirname(ROOT), "shared", "ari", "api-docs")
    models, events, api_version = collect(docs)
    outputs = {OUT_H: clang_format(OUT_H, gen_header(models, events, api_version)),
               OUT_C: clang_format(OUT_C, gen_source(models, events, api_version))}
    stale = False
    for path, text in outputs.items():
        old = None
        if os.path.exists(path):
            with open(path) as f:
                old = f.read()
        if check:
            if old != text:
                print("stale: %s" % os.path.relpath(path, ROOT))
                stale = True
            continue
        if old != text:
            with open(path, "w") as f:
                f.write(text)
            print("wrote %s" % os.path.relpath(path, ROOT))
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
