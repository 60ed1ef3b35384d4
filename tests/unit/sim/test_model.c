/* SPDX-License-Identifier: MIT */
/* Unit tests for sim/model: cause tables, reason codes, timestamps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sim/sim_int.h"

static void test_cause_txt_exactly_as_asterisk(void **state)
{
    static const struct {
        int code;
        const char *txt;
    } rows[] = {
        { 0, "Unknown" },
        { 1, "Unallocated (unassigned) number" },
        { 3, "No route to destination" },
        { 16, "Normal Clearing" },
        { 17, "User busy" },
        { 18, "No user responding" },
        { 19, "User alerting, no answer" },
        { 20, "Subscriber absent" },
        { 21, "Call Rejected" },
        { 22, "Number changed" },
        { 26, "Answered elsewhere" },
        { 27, "Destination out of order" },
        { 28, "Invalid number format" },
        { 31, "Normal, unspecified" },
        { 34, "Circuit/channel congestion" },
        { 38, "Network out of order" },
        { 41, "Temporary failure" },
        { 42, "Switching equipment congestion" },
        { 44, "Requested channel not available" },
        { 58, "Bearer capability not available" },
        { 66, "Channel not implemented" },
        { 102, "Recover on timer expiry" },
        { 127, "Interworking, unspecified" },
        { 4, "Unknown" },
        { 200, "Unknown" },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        assert_string_equal(sim__cause_txt(rows[i].code), rows[i].txt);
    }
}

static void test_sip_responses_map_like_chan_pjsip(void **state)
{
    static const int map[][2] = {
        { 401, 21 }, { 403, 21 },  { 407, 21 },  { 603, 21 },  { 404, 1 },  { 485, 1 },
        { 604, 1 },  { 408, 18 },  { 480, 19 },  { 483, 19 },  { 484, 28 }, { 486, 17 },
        { 600, 17 }, { 487, 127 }, { 488, 58 },  { 606, 58 },  { 500, 38 }, { 502, 27 },
        { 503, 34 }, { 504, 102 }, { 410, 127 }, { 699, 127 }, { 599, 34 },
    };
    (void)state;
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        assert_int_equal(sim__sip_to_cause(map[i][0]), map[i][1]);
    }
    assert_string_equal(sim__cause_dialstatus(17), "BUSY");
    assert_string_equal(sim__cause_dialstatus(34), "CONGESTION");
    assert_string_equal(sim__cause_dialstatus(3), "CHANUNAVAIL");
    assert_string_equal(sim__cause_dialstatus(20), "CHANUNAVAIL");
    assert_string_equal(sim__cause_dialstatus(21), "NOANSWER");
    assert_string_equal(sim__cause_dialstatus(1), "NOANSWER");
}

static void test_hangup_reasons(void **state)
{
    (void)state;
    assert_int_equal(sim__reason_to_cause("normal"), 16);
    assert_int_equal(sim__reason_to_cause("busy"), 17);
    assert_int_equal(sim__reason_to_cause("congestion"), 34);
    assert_int_equal(sim__reason_to_cause("no_answer"), 19);
    assert_int_equal(sim__reason_to_cause("timeout"), 18);
    assert_int_equal(sim__reason_to_cause("rejected"), 21);
    assert_int_equal(sim__reason_to_cause("unallocated"), 1);
    assert_int_equal(sim__reason_to_cause("normal_unspecified"), 31);
    assert_int_equal(sim__reason_to_cause("number_incomplete"), 28);
    assert_int_equal(sim__reason_to_cause("codec_mismatch"), 58);
    assert_int_equal(sim__reason_to_cause("interworking"), 127);
    assert_int_equal(sim__reason_to_cause("failure"), 38);
    assert_int_equal(sim__reason_to_cause("answered_elsewhere"), 26);
    assert_int_equal(sim__reason_to_cause("nope"), -1);
}

static void test_timestamp_format(void **state)
{
    char buf[40];
    (void)state;
    /* 2020-04-10T01:09:12.924+0000 */
    sim__format_time(1586480952924000LL, buf, sizeof(buf));
    assert_string_equal(buf, "2020-04-10T01:09:12.924+0000");
    assert_string_equal(sim__cstate_name(CS_RINGING), "Ringing");
    assert_string_equal(sim__cstate_name(CS_RSRVD), "Rsrvd");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cause_txt_exactly_as_asterisk),
        cmocka_unit_test(test_sip_responses_map_like_chan_pjsip),
        cmocka_unit_test(test_hangup_reasons),
        cmocka_unit_test(test_timestamp_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
