/* SPDX-License-Identifier: MIT */
/*
 * cause: Q.850 hangup causes as Asterisk names and words them, and the dial
 * outcome of an originated channel.
 *
 * The table holds every cause Asterisk defines (include/asterisk/causes.h)
 * with the name and text of its cause table in main/channel.c, so
 * ari_cause_txt() returns byte for byte what ChannelDestroyed.cause_txt
 * carries; a code outside the table is "Unknown", as ast_cause2str() says.
 * The rows are sorted by code, so lookup by code is a binary search of at
 * most six steps; lookups by name or text scan the 49 rows (rare,
 * configuration-time calls).
 *
 * Each row also says what the cause means for an unanswered call (the
 * "dialer outcome" column of NOTES.md section 6). The tracker at the end
 * combines causes with Dial statuses and the answer/cancel facts, because
 * no single event says how an originate ended (see ari/ari.h).
 */
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "ari/ari.h"
#include "core/err.h"

/* clang-format off */
static const struct ari_cause causes[] = {
    { 1,   "UNALLOCATED",                   "Unallocated (unassigned) number",                    ARI_DIAL_UNALLOCATED },
    { 2,   "NO_ROUTE_TRANSIT_NET",          "No route to specified transmit network",             ARI_DIAL_FAILED },
    { 3,   "NO_ROUTE_DESTINATION",          "No route to destination",                            ARI_DIAL_UNAVAILABLE },
    { 5,   "MISDIALLED_TRUNK_PREFIX",       "Misdialed trunk prefix",                             ARI_DIAL_UNALLOCATED },
    { 6,   "CHANNEL_UNACCEPTABLE",          "Channel unacceptable",                               ARI_DIAL_FAILED },
    { 7,   "CALL_AWARDED_DELIVERED",        "Call awarded and being delivered in an established channel", ARI_DIAL_FAILED },
    { 8,   "PRE_EMPTED",                    "Pre-empted",                                         ARI_DIAL_FAILED },
    { 14,  "NUMBER_PORTED_NOT_HERE",        "Number ported elsewhere",                            ARI_DIAL_FAILED },
    { 16,  "NORMAL_CLEARING",               "Normal Clearing",                                    ARI_DIAL_UNKNOWN },
    { 17,  "USER_BUSY",                     "User busy",                                          ARI_DIAL_BUSY },
    { 18,  "NO_USER_RESPONSE",              "No user responding",                                 ARI_DIAL_NO_ANSWER },
    { 19,  "NO_ANSWER",                     "User alerting, no answer",                           ARI_DIAL_NO_ANSWER },
    { 20,  "SUBSCRIBER_ABSENT",             "Subscriber absent",                                  ARI_DIAL_UNAVAILABLE },
    { 21,  "CALL_REJECTED",                 "Call Rejected",                                      ARI_DIAL_REJECTED },
    { 22,  "NUMBER_CHANGED",                "Number changed",                                     ARI_DIAL_UNALLOCATED },
    { 23,  "REDIRECTED_TO_NEW_DESTINATION", "Redirected to new destination",                      ARI_DIAL_FAILED },
    { 26,  "ANSWERED_ELSEWHERE",            "Answered elsewhere",                                 ARI_DIAL_CANCELLED },
    { 27,  "DESTINATION_OUT_OF_ORDER",      "Destination out of order",                           ARI_DIAL_FAILED },
    { 28,  "INVALID_NUMBER_FORMAT",         "Invalid number format",                              ARI_DIAL_UNALLOCATED },
    { 29,  "FACILITY_REJECTED",             "Facility rejected",                                  ARI_DIAL_FAILED },
    { 30,  "RESPONSE_TO_STATUS_ENQUIRY",    "Response to STATus ENQuiry",                         ARI_DIAL_FAILED },
    { 31,  "NORMAL_UNSPECIFIED",            "Normal, unspecified",                                ARI_DIAL_UNKNOWN },
    { 34,  "NORMAL_CIRCUIT_CONGESTION",     "Circuit/channel congestion",                         ARI_DIAL_CONGESTION },
    { 38,  "NETWORK_OUT_OF_ORDER",          "Network out of order",                               ARI_DIAL_FAILED },
    { 41,  "NORMAL_TEMPORARY_FAILURE",      "Temporary failure",                                  ARI_DIAL_FAILED },
    { 42,  "SWITCH_CONGESTION",             "Switching equipment congestion",                     ARI_DIAL_CONGESTION },
    { 43,  "ACCESS_INFO_DISCARDED",         "Access information discarded",                       ARI_DIAL_FAILED },
    { 44,  "REQUESTED_CHAN_UNAVAIL",        "Requested channel not available",                    ARI_DIAL_CONGESTION },
    { 50,  "FACILITY_NOT_SUBSCRIBED",       "Facility not subscribed",                            ARI_DIAL_FAILED },
    { 52,  "OUTGOING_CALL_BARRED",          "Outgoing call barred",                               ARI_DIAL_FAILED },
    { 54,  "INCOMING_CALL_BARRED",          "Incoming call barred",                               ARI_DIAL_FAILED },
    { 57,  "BEARERCAPABILITY_NOTAUTH",      "Bearer capability not authorized",                   ARI_DIAL_FAILED },
    { 58,  "BEARERCAPABILITY_NOTAVAIL",     "Bearer capability not available",                    ARI_DIAL_FAILED },
    { 65,  "BEARERCAPABILITY_NOTIMPL",      "Bearer capability not implemented",                  ARI_DIAL_FAILED },
    { 66,  "CHAN_NOT_IMPLEMENTED",          "Channel not implemented",                            ARI_DIAL_FAILED },
    { 69,  "FACILITY_NOT_IMPLEMENTED",      "Facility not implemented",                           ARI_DIAL_FAILED },
    { 81,  "INVALID_CALL_REFERENCE",        "Invalid call reference value",                       ARI_DIAL_FAILED },
    { 88,  "INCOMPATIBLE_DESTINATION",      "Incompatible destination",                           ARI_DIAL_FAILED },
    { 95,  "INVALID_MSG_UNSPECIFIED",       "Invalid message unspecified",                        ARI_DIAL_FAILED },
    { 96,  "MANDATORY_IE_MISSING",          "Mandatory information element is missing",           ARI_DIAL_FAILED },
    { 97,  "MESSAGE_TYPE_NONEXIST",         "Message type nonexist.",                             ARI_DIAL_FAILED },
    { 98,  "WRONG_MESSAGE",                 "Wrong message",                                      ARI_DIAL_FAILED },
    { 99,  "IE_NONEXIST",                   "Info. element nonexist or not implemented",          ARI_DIAL_FAILED },
    { 100, "INVALID_IE_CONTENTS",           "Invalid information element contents",               ARI_DIAL_FAILED },
    { 101, "WRONG_CALL_STATE",              "Message not compatible with call state",             ARI_DIAL_FAILED },
    { 102, "RECOVERY_ON_TIMER_EXPIRE",      "Recover on timer expiry",                            ARI_DIAL_FAILED },
    { 103, "MANDATORY_IE_LENGTH_ERROR",     "Mandatory IE length error",                          ARI_DIAL_FAILED },
    { 111, "PROTOCOL_ERROR",                "Protocol error, unspecified",                        ARI_DIAL_FAILED },
    { 127, "INTERWORKING",                  "Interworking, unspecified",                          ARI_DIAL_FAILED },
};
/* clang-format on */

#define N_CAUSES (sizeof(causes) / sizeof(causes[0]))

const struct ari_cause *ari_cause_lookup(int code)
{
    size_t lo = 0;
    size_t hi = N_CAUSES;

    /* causes[] is sorted by code. */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (causes[mid].code == code) {
            return &causes[mid];
        }
        if (causes[mid].code < code) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

const char *ari_cause_txt(int code)
{
    const struct ari_cause *c = ari_cause_lookup(code);
    return c != NULL ? c->txt : "Unknown";
}

const char *ari_cause_name(int code)
{
    const struct ari_cause *c;

    if (code == ARI_CAUSE_NOTDEFINED) {
        return "NOTDEFINED";
    }
    c = ari_cause_lookup(code);
    return c != NULL ? c->name : NULL;
}

int ari_cause_from_name(const char *name)
{
    if (name == NULL) {
        return ERR_NOTFOUND;
    }
    if (strncasecmp(name, "AST_CAUSE_", 10) == 0) {
        name += 10;
    }
    if (strcasecmp(name, "NOTDEFINED") == 0) {
        return ARI_CAUSE_NOTDEFINED;
    }
    for (size_t i = 0; i < N_CAUSES; i++) {
        if (strcasecmp(name, causes[i].name) == 0) {
            return causes[i].code;
        }
    }
    return ERR_NOTFOUND;
}

int ari_cause_from_txt(const char *txt)
{
    if (txt == NULL) {
        return ERR_NOTFOUND;
    }
    if (strcmp(txt, "Unknown") == 0) {
        return ARI_CAUSE_NOTDEFINED;
    }
    for (size_t i = 0; i < N_CAUSES; i++) {
        if (strcmp(txt, causes[i].txt) == 0) {
            return causes[i].code;
        }
    }
    return ERR_NOTFOUND;
}

int ari_hangup_reason_cause(const char *reason)
{
    /* DELETE /channels/{id}?reason=..., as res/ari/resource_channels.c maps them. */
    static const struct {
        const char *reason;
        int cause;
    } reasons[] = {
        { "normal", ARI_CAUSE_NORMAL_CLEARING },
        { "busy", ARI_CAUSE_USER_BUSY },
        { "congestion", ARI_CAUSE_NORMAL_CIRCUIT_CONGESTION },
        { "no_answer", ARI_CAUSE_NO_ANSWER },
        { "timeout", ARI_CAUSE_NO_USER_RESPONSE },
        { "rejected", ARI_CAUSE_CALL_REJECTED },
        { "unallocated", ARI_CAUSE_UNALLOCATED },
        { "normal_unspecified", ARI_CAUSE_NORMAL_UNSPECIFIED },
        { "number_incomplete", ARI_CAUSE_INVALID_NUMBER_FORMAT },
        { "codec_mismatch", ARI_CAUSE_BEARERCAPABILITY_NOTAVAIL },
        { "interworking", ARI_CAUSE_INTERWORKING },
        { "failure", ARI_CAUSE_NETWORK_OUT_OF_ORDER },
        { "answered_elsewhere", ARI_CAUSE_ANSWERED_ELSEWHERE },
    };

    if (reason == NULL) {
        return ERR_NOTFOUND;
    }
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
        if (strcmp(reason, reasons[i].reason) == 0) {
            return reasons[i].cause;
        }
    }
    return ERR_NOTFOUND;
}

enum ari_dial_outcome ari_cause_outcome(int cause)
{
    const struct ari_cause *c;

    if (cause == ARI_CAUSE_NOTDEFINED) {
        return ARI_DIAL_UNKNOWN;
    }
    c = ari_cause_lookup(cause);
    return c != NULL ? c->outcome : ARI_DIAL_FAILED;
}

enum ari_dial_outcome ari_dialstatus_outcome(enum ari_dialstatus status)
{
    switch (status) {
    case ARI_DIALSTATUS_ANSWER:
        return ARI_DIAL_ANSWERED;
    case ARI_DIALSTATUS_BUSY:
        return ARI_DIAL_BUSY;
    case ARI_DIALSTATUS_CONGESTION:
        return ARI_DIAL_CONGESTION;
    case ARI_DIALSTATUS_CHANUNAVAIL:
        return ARI_DIAL_UNAVAILABLE;
    case ARI_DIALSTATUS_NOANSWER:
        return ARI_DIAL_NO_ANSWER;
    case ARI_DIALSTATUS_CANCEL:
        return ARI_DIAL_CANCELLED;
    case ARI_DIALSTATUS_UNKNOWN:
    case ARI_DIALSTATUS_STARTED:
    case ARI_DIALSTATUS_RINGING:
    case ARI_DIALSTATUS_PROGRESS:
    case ARI_DIALSTATUS_PROCEEDING:
    case ARI_DIALSTATUS_COUNT_:
        break;
    }
    return ARI_DIAL_UNKNOWN;
}

const char *ari_dial_outcome_name(enum ari_dial_outcome outcome)
{
    static const char *const names[ARI_DIAL_OUTCOME_COUNT_] = {
        [ARI_DIAL_UNKNOWN] = "unknown",
        [ARI_DIAL_ANSWERED] = "answered",
        [ARI_DIAL_BUSY] = "busy",
        [ARI_DIAL_NO_ANSWER] = "no_answer",
        [ARI_DIAL_CONGESTION] = "congestion",
        [ARI_DIAL_REJECTED] = "rejected",
        [ARI_DIAL_UNALLOCATED] = "unallocated",
        [ARI_DIAL_UNAVAILABLE] = "unavailable",
        [ARI_DIAL_CANCELLED] = "cancelled",
        [ARI_DIAL_FAILED] = "failed",
    };
    return (unsigned)outcome < ARI_DIAL_OUTCOME_COUNT_ ? names[outcome] : "unknown";
}

/* ---------------------------------------------------------------------- */
/* Dial tracker                                                            */
/* ---------------------------------------------------------------------- */

void ari_dial_tracker_init(struct ari_dial_tracker *t, const char *channel_id)
{
    memset(t, 0, sizeof(*t));
    t->channel_id = channel_id;
    t->hangup_cause = -1;
    t->destroyed_cause = -1;
    t->dialstatus = ARI_DIALSTATUS_UNKNOWN;
}

static bool is_mine(const struct ari_dial_tracker *t, const struct ari_channel *ch)
{
    return ch != NULL && ch->id != NULL && t->channel_id != NULL &&
           strcmp(ch->id, t->channel_id) == 0;
}

static void note_state(struct ari_dial_tracker *t, const struct ari_channel *ch)
{
    if (ch->state_code == ARI_CHANNEL_STATE_UP) {
        t->answered = true;
    } else if (ch->state_code == ARI_CHANNEL_STATE_RINGING) {
        t->ringing = true;
    }
}

bool ari_dial_tracker_feed(struct ari_dial_tracker *t, const struct ari_event *ev)
{
    const struct ari_channel *ch;

    if (t == NULL || ev == NULL) {
        return false;
    }
    switch (ev->type) {
    case ARI_EVENT_DIAL: {
        enum ari_dialstatus st = ev->dial.dialstatus_code;
        if (!is_mine(t, ev->dial.peer)) {
            return false;
        }
        if (st == ARI_DIALSTATUS_ANSWER) {
            t->answered = true;
        } else if (st == ARI_DIALSTATUS_RINGING || st == ARI_DIALSTATUS_PROGRESS) {
            t->ringing = true;
        }
        if (st != ARI_DIALSTATUS_STARTED && st != ARI_DIALSTATUS_UNKNOWN) {
            t->dialstatus = st;
        }
        return true;
    }
    case ARI_EVENT_CHANNEL_STATE_CHANGE:
        ch = ev->channel_state_change.channel;
        if (!is_mine(t, ch)) {
            return false;
        }
        note_state(t, ch);
        return true;
    case ARI_EVENT_STASIS_START:
        if (!is_mine(t, ev->stasis_start.channel)) {
            return false;
        }
        t->answered = true;
        return true;
    case ARI_EVENT_CHANNEL_HANGUP_REQUEST: {
        const struct ari_ev_channel_hangup_request *h = &ev->channel_hangup_request;
        if (!is_mine(t, h->channel)) {
            return false;
        }
        /* A soft hangup is ours (DELETE /channels); its cause is a flag, not Q.850. */
        if (h->has_soft && h->soft) {
            if (!t->answered) {
                t->soft_hangup = true;
            }
        } else if (h->has_cause) {
            t->hangup_cause = h->cause;
        }
        return true;
    }
    case ARI_EVENT_CHANNEL_DESTROYED:
        ch = ev->channel_destroyed.channel;
        if (!is_mine(t, ch)) {
            return false;
        }
        t->destroyed = true;
        t->destroyed_cause = ev->channel_destroyed.cause;
        if (ch->state_code == ARI_CHANNEL_STATE_RINGING) {
            t->ringing = true;
        }
        return true;
    default:
        return false;
    }
}

enum ari_dial_outcome ari_dial_tracker_outcome(const struct ari_dial_tracker *t)
{
    enum ari_dial_outcome o;

    if (t->answered) {
        return ARI_DIAL_ANSWERED;
    }
    if (!t->destroyed) {
        return ARI_DIAL_UNKNOWN;
    }
    if (t->soft_hangup) {
        return ARI_DIAL_CANCELLED;
    }
    o = t->destroyed_cause >= 0 ? ari_cause_outcome(t->destroyed_cause) : ARI_DIAL_UNKNOWN;
    if (o == ARI_DIAL_UNKNOWN && t->hangup_cause >= 0) {
        o = ari_cause_outcome(t->hangup_cause);
    }
    if (o == ARI_DIAL_UNKNOWN) {
        o = ari_dialstatus_outcome(t->dialstatus);
    }
    if (o == ARI_DIAL_UNKNOWN) {
        o = t->ringing ? ARI_DIAL_NO_ANSWER : ARI_DIAL_FAILED;
    }
    return o;
}
