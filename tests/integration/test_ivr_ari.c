/* SPDX-License-Identifier: MIT */
/*
 * The IVR's ARI adapter against a real ari-sim over the real WebSocket: an
 * inbound call enters Stasis, the test answers it and runs a flow through
 * ivr_ari_ops(); events come back through ivr_ari_dispatch(). Each node type
 * that touches the channel (play, say, collect with the scenario's DTMF
 * script and with digits pressed on demand, branch, set_variable, wait,
 * loop, voicemail, transfer blind and bridged, hangup) and a hang-up by the
 * caller while the flow waits. Time in the simulator is scaled by 0.1.
 */
#include <ev.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <time.h>

#include "ari/ari.h"
#include "core/err.h"
#include "ivr/ivr.h"
#include "sim/simc.h"
#include "tests/support/evloop.h"
#include "tests/support/ivrfix.h"

/* Transfer targets: 100 answers then hangs up, 200 is busy, 300 rings, 400 answers briefly. */
static const char DIALPLAN[] = "[general]\n"
                               "static = yes\n"
                               "[xfer]\n"
                               "exten => 100,1,Ringing()\n"
                               " same => n,Wait(1)\n"
                               " same => n,Answer()\n"
                               " same => n,Wait(5)\n"
                               " same => n,Hangup(16)\n"
                               "exten => 200,1,Busy(5)\n"
                               "exten => 300,1,Ringing()\n"
                               " same => n,Wait(120)\n"
                               " same => n,Hangup(19)\n"
                               "exten => 400,1,Answer()\n"
                               " same => n,Wait(2)\n"
                               " same => n,Hangup(16)\n";

static const char SCENARIO[] =
    "{\"name\":\"ivr-ari\",\"seed\":7,"
    "\"media\":{\"sound:menu\":0.5,\"sound:short\":0.3,\"sound:gone\":{\"missing\":true}},"
    "\"populations\":{\"default\":[{\"weight\":1,\"outcome\":\"answer\",\"talk\":\"forever\"}],"
    "\"silent\":[{\"weight\":1,\"talk\":\"forever\"}],"
    "\"presses2\":[{\"weight\":1,\"talk\":\"forever\",\"dtmf\":[{\"digits\":\"2\",\"from\":"
    "\"playback\",\"playback\":1,\"after\":0.1}]}]}}";

struct fx {
    struct simfix sx; /* ari-sim, its directory and the ARI client */
    struct ev_loop *loop;
    struct ivr_ari *d;
    /* the current call */
    struct ivr_flow *flow;
    struct ivr_ari_call *ac;
    struct ivr_session *s;
    char chan[128];
    int started; /* StasisStart of a call seen */
    int ended;
    enum ivr_end_reason reason;
    char disposition[32];
    int hangup_cause;
    char steps[2048]; /* "node:event_out " ... */
    char actions[2048];
    int unrouted; /* events no call took */
};

static struct fx *F;

static void on_step(void *arg, const struct ivr_step *st)
{
    struct fx *f = arg;
    size_t n = strlen(f->steps);
    size_t i;
    json_t *a;
    snprintf(f->steps + n, sizeof(f->steps) - n, "%s:%s ", st->node,
             st->event_out != NULL ? st->event_out : "-");
    json_array_foreach (st->actions, i, a) {
        n = strlen(f->actions);
        snprintf(f->actions + n, sizeof(f->actions) - n, "%s|", json_string_value(a));
    }
}

static void on_end(void *arg, const struct ivr_end *e)
{
    struct fx *f = arg;
    f->reason = e->reason;
    snprintf(f->disposition, sizeof(f->disposition), "%s",
             e->disposition != NULL ? e->disposition : "");
    f->hangup_cause = e->hangup_cause;
    ivr_ari_call_destroy(f->ac);
    f->ac = NULL;
    f->ended++;
}

static void answered(struct ari_client *c, const struct ari_result *res, void *arg)
{
    struct fx *f = arg;
    struct ivr_session_config cfg = { .ops = ivr_ari_ops(),
                                      .ops_ctx = f->ac,
                                      .loop = f->loop,
                                      .on_step = on_step,
                                      .on_end = on_end,
                                      .cb_arg = f };
    json_t *vars;
    (void)c;
    if (res->error != ARI_OK || f->ac == NULL) {
        return;
    }
    vars = json_pack("{s:{s:s,s:s}}", "call", "caller_id", "+14155550100", "dialed", "2001");
    f->s = ivr_session_create(f->flow, &cfg, vars);
    json_decref(vars);
    assert_non_null(f->s);
    ivr_ari_call_bind(f->ac, f->s);
    ivr_session_start(f->s, "inbound", NULL);
}

static void on_event(struct ari_client *c, const struct ari_event *ev, void *arg)
{
    struct fx *f = arg;
    if (ivr_ari_dispatch(f->d, ev)) {
        return;
    }
    if (ev->type == ARI_EVENT_STASIS_START && f->flow != NULL && f->ac == NULL && f->started == 0) {
        const char *id = ev->stasis_start.channel->id;
        snprintf(f->chan, sizeof(f->chan), "%s", id);
        assert_int_equal(ivr_ari_call_create(f->d, c, id, &f->ac), 0);
        f->started++;
        ari_channel_answer(c, id, answered, f, NULL);
        return;
    }
    f->unrouted++;
}

static int group_setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct simfix_config sc = { .app = "ivr",
                                .scenario = SCENARIO,
                                .dialplan = DIALPLAN,
                                .request_timeout_ms = 3000,
                                .on_event = on_event };

    if (f == NULL || simfix_mkdir(&f->sx, "test_ivr_ari") != 0) {
        free(f);
        return -1;
    }
    f->loop = ev_loop_new(EVFLAG_AUTO);
    sc.arg = f;
    F = f;
    *state = f;
    return simfix_start(&f->sx, f->loop, &sc);
}

static int group_teardown(void **state)
{
    struct fx *f = *state;
    int rc = simfix_stop(&f->sx);
    ev_loop_destroy(f->loop);
    free(f);
    return rc;
}

/* Loads a flow written with ' for " (the unit tests' convention). */
static struct ivr_flow *load(const char *src)
{
    char *s = strdup(src);
    struct ivr_flow *fl = NULL;
    struct ivr_report *rep = NULL;
    struct ivr_load_options opt = { 0 };
    for (char *p = s; *p != '\0'; p++) {
        if (*p == '\'') {
            *p = '"';
        }
    }
    if (ivr_flow_load(s, strlen(s), &opt, &fl, &rep) != 0) {
        json_t *j = ivr_report_to_json(rep);
        char *t = json_dumps(j, JSON_COMPACT);
        fprintf(stderr, "flow refused: %s\n", t != NULL ? t : "?");
        free(t);
        json_decref(j);
    }
    free(s);
    ivr_report_free(rep);
    assert_non_null(fl);
    return fl;
}

#define FLOW(nodes)                                                                        \
    "{'format':'ivrflow/1','start':'s','nodes':{"                                          \
    "'s':{'type':'start','props':{'triggers':['inbound']},'next':{'next':'a'}}," nodes "," \
    "'ok':{'type':'hangup','props':{'disposition':'ok'}},"                                 \
    "'no':{'type':'hangup','props':{'disposition':'no'}},"                                 \
    "'bad':{'type':'hangup','props':{'disposition':'bad'}}}}"

/* Starts one inbound call running src; population is the caller's behaviour. */
static void begin(struct fx *f, const char *src, const char *population,
                  const struct ivr_ari_config *cfg)
{
    char path[256];
    struct simc_resp r;
    struct ivr_ari_config def = { 0 };
    f->flow = load(src);
    f->ac = NULL;
    f->s = NULL;
    f->started = f->ended = f->unrouted = 0;
    f->steps[0] = f->actions[0] = f->disposition[0] = '\0';
    f->hangup_cause = -1;
    assert_int_equal(ivr_ari_create(f->loop, cfg != NULL ? cfg : &def, &f->d), 0);
    snprintf(path, sizeof(path),
             "/_sim/inbound?extension=2001&app=ivr&context=from-trunk&caller=%%2B14155550100"
             "&population=%s",
             population);
    assert_int_equal(simc_http(f->sx.sim.port, "POST", path, NULL, NULL, NULL, &r), 0);
    assert_true(r.status >= 200 && r.status < 300);
    simc_resp_free(&r);
    assert_true(evloop_run_until(f->loop, &f->started, 1, 5.0));
}

static void finish(struct fx *f)
{
    ivr_session_destroy(f->s);
    f->s = NULL;
    ivr_flow_unref(f->flow);
    f->flow = NULL;
    /* Let the last requests (hang-up, bridge destroy) complete. */
    evloop_run_for(f->loop, 0.2);
    assert_int_equal(ivr_ari_count(f->d), 0);
    ivr_ari_destroy(f->d);
    f->d = NULL;
}

static void sim_post(struct fx *f, const char *what, const char *chan, const char *arg)
{
    char path[256];
    struct simc_resp r;
    snprintf(path, sizeof(path), "/_sim/channels/%s/%s%s", chan, what, arg);
    assert_int_equal(simc_http(f->sx.sim.port, "POST", path, NULL, NULL, NULL, &r), 0);
    assert_true(r.status >= 200 && r.status < 300);
    simc_resp_free(&r);
}

/* ---------------------------------------------------------------- tests */

/* A menu: the scenario's caller presses 2 during the prompt; branch, set_variable, play, end. */
static void test_menu_flow_end_to_end(void **state)
{
    struct fx *f = *state;
    begin(f,
          FLOW("'a':{'type':'collect','props':{'prompt':[{'play':'sound:menu'}],'choices':['1','2"
               "']},'next':{'choice:1':'no','choice:2':'v','noinput':'bad',"
               "'nomatch':'bad'}},"
               "'v':{'type':'set_variable','props':{'assign':[{'name':'picked','value':'{{nodes.a."
               "digits}}'}]},'next':{'next':'br'}},"
               "'br':{'type':'branch','props':{'routes':[{'id':'two','when':{'left':'{{flow."
               "picked}}','op':'eq','right':'2'}}]},'next':{'route:two':'p','default':'bad'}},"
               "'p':{'type':'play','props':{'media':['sound:short','digits:42']},'next':{'done':"
               "'w'}},"
               "'w':{'type':'wait','props':{'duration_ms':100},'next':{'next':'ok'}}"),
          "presses2", NULL);
    assert_true(evloop_run_until(f->loop, &f->ended, 1, 10.0));
    assert_int_equal(f->reason, IVR_END_COMPLETED);
    assert_string_equal(f->disposition, "ok");
    assert_non_null(strstr(f->steps, "a:choice:2 v:next br:route:two p:done w:next"));
    finish(f);
}

/* Digits pressed on demand complete a collect; a wrong key goes to nomatch. */
static void test_collect_digits_on_demand(void **state)
{
    struct fx *f = *state;
    begin(f,
          FLOW("'a':{'type':'collect','props':{'prompt':[{'play':'sound:short'}],'max_digits':4}"
               ",'next':{'input':'ok','noinput':'no','nomatch':"
               "'bad'}}"),
          "silent", NULL);
    evloop_run_for(f->loop, 0.3);
    sim_post(f, "dtmf?digits=", f->chan, "12%23");
    assert_true(evloop_run_until(f->loop, &f->ended, 1, 10.0));
    assert_string_equal(f->disposition, "ok");
    assert_non_null(strstr(f->steps, "a:input"));
    finish(f);
}

/* say renders with espeak-ng on the worker, is cached, and plays as sound:. */
static void test_say_renders_and_caches(void **state)
{
    struct fx *f = *state;
    struct ivr_ari_config cfg = { .sounds_dir = f->sx.dir };
    int files = 0;
    DIR *dir;
    struct dirent *de;
    begin(f,
          FLOW("'a':{'type':'say','props':{'text':'Hello caller'},'next':{'done':'b'}},"
               "'b':{'type':'say','props':{'text':'Hello caller'},'next':{'done':'ok'}}"),
          "silent", &cfg);
    assert_true(evloop_run_until(f->loop, &f->ended, 1, 20.0));
    assert_string_equal(f->disposition, "ok");
    assert_non_null(strstr(f->steps, "a:done b:done"));
    /* Both says share one rendering; it holds a wav header and some audio. */
    dir = opendir(f->sx.dir);
    assert_non_null(dir);
    while ((de = readdir(dir)) != NULL) {
        if (strncmp(de->d_name, "tts-", 4) == 0) {
            char path[512];
            struct stat sb;
            size_t n = strlen(de->d_name);
            assert_true(n > 4 && strcmp(de->d_name + n - 4, ".wav") == 0);
            snprintf(path, sizeof(path), "%s/%s", f->sx.dir, de->d_name);
            assert_int_equal(stat(path, &sb), 0);
            assert_true(sb.st_size > 1000);
            files++;
        }
    }
    closedir(dir);
    assert_int_equal(files, 1);
    finish(f);
}

/* Writes a fake cache file of size bytes last used age_s seconds ago. */
static void fake_tts(const char *dir, const char *name, size_t size, long age_s)
{
    char path[512], buf[256] = { 0 };
    struct timespec ts[2];
    FILE *fp;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fp = fopen(path, "w");
    assert_non_null(fp);
    for (size_t n = 0; n < size; n += sizeof(buf)) {
        fwrite(buf, 1, size - n < sizeof(buf) ? size - n : sizeof(buf), fp);
    }
    fclose(fp);
    clock_gettime(CLOCK_REALTIME, &ts[0]);
    ts[0].tv_sec -= age_s;
    ts[1] = ts[0];
    assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static bool file_exists(const char *dir, const char *name)
{
    char path[512];
    struct stat sb;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return stat(path, &sb) == 0;
}

/* Runs the loop until the worker has done n sweeps (bounded); the figures in *st. */
static void wait_sweeps(struct fx *f, struct ivr_ari *d, uint64_t n, struct ivr_ari_tts_stats *st)
{
    for (int i = 0; i < 250; i++) {
        ivr_ari_tts_stats(d, st);
        if (st->sweeps >= n) {
            return;
        }
        evloop_run_for(f->loop, 0.02);
    }
    fail_msg("the TTS worker did %llu sweeps, want %llu", (unsigned long long)st->sweeps,
             (unsigned long long)n);
}

#define HEX_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HEX_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define HEX_C "cccccccccccccccccccccccccccccccc"

/* Age bound: files unused for longer go at start-up, recent ones and foreign files stay. */
static void test_tts_cache_age(void **state)
{
    struct fx *f = *state;
    char dir[200];
    struct ivr_ari *d;
    struct ivr_ari_tts_stats st;
    struct ivr_ari_config cfg = { .sounds_dir = dir,
                                  .tts_cache_max_bytes = -1,
                                  .tts_cache_max_age_ms = 3600 * 1000,
                                  .tts_sweep_interval_ms = -1 };
    snprintf(dir, sizeof(dir), "%s/age", f->sx.dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    fake_tts(dir, "tts-" HEX_A ".wav", 100, 7200);          /* unused for two hours */
    fake_tts(dir, "tts-" HEX_B ".wav", 100, 60);            /* used a minute ago */
    fake_tts(dir, "tts-" HEX_C ".wav.4242.tmp", 100, 7200); /* an interrupted render */
    fake_tts(dir, "greeting.wav", 100, 7200);               /* not the cache's */
    assert_int_equal(ivr_ari_create(f->loop, &cfg, &d), 0);
    wait_sweeps(f, d, 1, &st);
    assert_false(file_exists(dir, "tts-" HEX_A ".wav"));
    assert_true(file_exists(dir, "tts-" HEX_B ".wav"));
    assert_false(file_exists(dir, "tts-" HEX_C ".wav.4242.tmp"));
    assert_true(file_exists(dir, "greeting.wav"));
    assert_int_equal(st.deleted, 2);
    assert_int_equal(st.files, 1);
    assert_int_equal(st.bytes, 100);
    ivr_ari_destroy(d);
}

/*
 * Size bound (1 byte, so every file is over it) with a call using its
 * prompt: the least recently used files go, the prompt of the live call
 * stays until the call ends, then goes too.
 */
static void test_tts_cache_size_keeps_files_in_use(void **state)
{
    struct fx *f = *state;
    char dir[200];
    struct ivr_ari_tts_stats st;
    struct ivr_ari_config cfg = { .sounds_dir = dir,
                                  .tts_cache_max_bytes = 1,
                                  .tts_cache_max_age_ms = -1,
                                  .tts_sweep_interval_ms = -1 };
    DIR *dp;
    struct dirent *de;
    char mine[300] = "";
    snprintf(dir, sizeof(dir), "%s/size", f->sx.dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    begin(f,
          FLOW("'a':{'type':'say','props':{'text':'Your prompt stays while you listen'},"
               "'next':{'done':'w'}},'w':{'type':'wait','props':{'duration_ms':1500},"
               "'next':{'next':'ok'}}"),
          "silent", &cfg);
    wait_sweeps(f, f->d, 1, &st); /* the start-up pass, on an empty directory */
    for (int i = 0; i < 500 && strstr(f->steps, "a:done") == NULL; i++) {
        evloop_run_for(f->loop, 0.02);
    }
    assert_non_null(strstr(f->steps, "a:done"));
    assert_int_equal(f->ended, 0); /* waiting in w: the call still uses its prompt */
    fake_tts(dir, "tts-" HEX_A ".wav", 5000, 7200);
    fake_tts(dir, "tts-" HEX_B ".wav", 5000, 3600);
    ivr_ari_tts_stats(f->d, &st);
    ivr_ari_tts_sweep(f->d);
    wait_sweeps(f, f->d, st.sweeps + 1, &st);
    assert_false(file_exists(dir, "tts-" HEX_A ".wav"));
    assert_false(file_exists(dir, "tts-" HEX_B ".wav"));
    assert_int_equal(st.pinned, 1);
    assert_int_equal(st.files, 1); /* the live call's prompt */
    dp = opendir(dir);
    assert_non_null(dp);
    while ((de = readdir(dp)) != NULL) {
        if (strncmp(de->d_name, "tts-", 4) == 0) {
            snprintf(mine, sizeof(mine), "%s", de->d_name);
        }
    }
    closedir(dp);
    assert_true(mine[0] != '\0');
    assert_true(evloop_run_until(f->loop, &f->ended, 1, 20.0));
    assert_string_equal(f->disposition, "ok");
    ivr_ari_tts_stats(f->d, &st);
    assert_int_equal(st.pinned, 0);
    ivr_ari_tts_sweep(f->d);
    wait_sweeps(f, f->d, st.sweeps + 1, &st);
    assert_false(file_exists(dir, mine));
    assert_int_equal(st.files, 0);
    finish(f);
}

/* A missing sound file: PlaybackFinished(failed) takes the play's error outcome. */
static void test_play_missing_media_fails(void **state)
{
    struct fx *f = *state;
    begin(f,
          FLOW("'a':{'type':'play','props':{'media':['sound:gone']},'next':{'done':'ok','error':"
               "'bad'}}"),
          "silent", NULL);
    assert_true(evloop_run_until(f->loop, &f->ended, 1, 10.0));
    assert_string_equal(f->disposition, "bad");
    finish(f);
}

/* Without a sounds directory say takes its error outcome. */
static void test_say_without_tts_fails(void **state)
{
    struct fx *f = *state;
    begin(f, FLOW("'a':{'type':'say','props':{'text':'Hi'},'next':{'done':'ok','error':'bad'}}"),
          "silent", NULL);
    assert_true(evloop_run_until(f->loop, &f->ended, 1, 10.0));
    assert_string_equal(f->disposition, "bad");
    finish(f);
}

/* A loop node around a play: continue twice, then exhausted. */
static void test_loop_play(void **state)
{
    struct fx *f = *state;
    begin(f,
          FLOW("'a':{'type':'loop','props':{'max':2},'next':{'continue':'p','exhausted':'ok'}},"
               "'p':{'type':'play','props':{'media':['sound:short']},'next':{'done':'a'}}"),
          "silent", NULL);
    assert_true(evloop_run_until(f->loop, &f->ended, 1, 10.0));
    assert_string_equal(f->disposition, "ok");
    assert_non_null(strstr(f->steps, "a:continue p:done a:continue p:done a:exhausted"));
    finish(f);
}

/* The caller hangs up while a play waits, then while a collect waits. */
static void test_hangup_while_waiting(void **state)
{
    struct fx *f = *state;
    static const char *const flows[] = {
        FLOW("'a':{'type':'play','props':{'media':['tone:ring']},'next':{'done':'ok'}}"),
        FLOW("'a':{'type':'collect','props':{'max_digits':4},'next':{'input':"
             "'ok','noinput':'no','nomatch':'bad'}}"),
        FLOW("'a':{'type':'wait','props':{'duration_ms':30000},'next':{'next':'ok'}}"),
        FLOW("'a':{'type':'voicemail','props':{'max_length_s':60},'next':{'recorded':'ok','no_"
             "audio':'no'}}"),
    };
    for (size_t i = 0; i < sizeof(flows) / sizeof(flows[0]); i++) {
        begin(f, flows[i], "silent", NULL);
        evloop_run_for(f->loop, 0.3);
        assert_int_equal(f->ended, 0);
        sim_post(f, "hangup?cause=", f->chan, "16");
        assert_true(evloop_run_until(f->loop, &f->ended, 1, 5.0));
        assert_int_equal(f->reason, IVR_END_HANGUP);
        assert_int_equal(f->hangup_cause, 16);
        finish(f);
    }
}

/* voicemail: greeting, record until max length; RecordingFinished completes it. */
static void test_voicemail_records(void **state)
{
    struct fx *f = *state;
    begin(f,
          FLOW("'a':{'type':'voicemail','props':{'greeting':[{'play':'sound:short'}],'max_length_"
               "s':5},'next':{'recorded':'ok','no_audio':'no'}}"),
          "silent", NULL);
    assert_true(evloop_run_until(f->loop, &f->ended, 1, 10.0));
    assert_int_equal(f->reason, IVR_END_COMPLETED);
    /* The caller was silent: Asterisk keeps no audio. */
    assert_string_equal(f->disposition, "no");
    finish(f);
}

static void sim_disk(struct fx *f, const char *mode)
{
    char path[128];
    struct simc_resp r;
    if (mode != NULL) {
        snprintf(path, sizeof(path), "/_sim/fault?action=disk_full&mode=%s", mode);
    } else {
        snprintf(path, sizeof(path), "/_sim/fault?action=clear");
    }
    assert_int_equal(simc_http(f->sx.sim.port, "POST", path, NULL, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    simc_resp_free(&r);
}

/*
 * Asterisk's recordings disk is full. Either the record request is accepted
 * and the recording ends at once, done with duration 0 (the frames could not
 * be written): the voicemail takes no_audio, well before its maximum length;
 * or the request answers 500 (the directory could not be made): the
 * voicemail takes error. In both cases the call ends through the flow (no
 * session left, the step record names the outcome), and once the disk is
 * clear the same flow records again.
 */
static void test_voicemail_disk_full(void **state)
{
    struct fx *f = *state;
    const char *vm = FLOW("'a':{'type':'voicemail','props':{'max_length_s':60},"
                          "'next':{'recorded':'ok','no_audio':'no','error':'bad'}}");
    ev_tstamp t0;

    sim_disk(f, "write");
    begin(f, vm, "silent", NULL);
    t0 = ev_time();
    assert_true(evloop_run_until(f->loop, &f->ended, 1, 5.0));
    assert_true(ev_time() - t0 < 3.0); /* 60 s at time scale 0.1 is 6 s */
    assert_int_equal(f->reason, IVR_END_COMPLETED);
    assert_string_equal(f->disposition, "no");
    assert_non_null(strstr(f->steps, "a:no_audio "));
    finish(f);

    sim_disk(f, "mkdir");
    begin(f, vm, "silent", NULL);
    assert_true(evloop_run_until(f->loop, &f->ended, 1, 5.0));
    assert_int_equal(f->reason, IVR_END_COMPLETED);
    assert_string_equal(f->disposition, "bad");
    assert_non_null(strstr(f->steps, "a:error "));
    finish(f);

    /* Space is back: the caller hangs up mid-recording and it is kept. */
    sim_disk(f, NULL);
    begin(f,
          FLOW("'a':{'type':'voicemail','props':{'max_length_s':60},"
               "'next':{'recorded':'ok','no_audio':'no','error':'bad','hangup':'ok'}}"),
          "silent", NULL);
    evloop_run_for(f->loop, 1.0);
    assert_int_equal(f->ended, 0); /* recording, not ended at once */
    sim_post(f, "hangup?cause=", f->chan, "16");
    assert_true(evloop_run_until(f->loop, &f->ended, 1, 5.0));
    assert_string_equal(f->disposition, "ok");
    assert_non_null(strstr(f->steps, "a:hangup "));
    finish(f);
}

/* A hangup node with a cause: the channel is hung up by us. */
static void test_hangup_node(void **state)
{
    struct fx *f = *state;
    begin(f, FLOW("'a':{'type':'hangup','props':{'cause':'busy','disposition':'busy'}}"), "silent",
          NULL);
    assert_true(evloop_run_until(f->loop, &f->ended, 1, 5.0));
    assert_string_equal(f->disposition, "busy");
    /* The channel goes away: its StasisEnd reaches nobody. */
    assert_true(evloop_run_until(f->loop, &f->unrouted, 1, 5.0));
    finish(f);
}

/* Blind transfer continues in the dialplan; the flow ends as transferred. */
static void test_transfer_blind(void **state)
{
    struct fx *f = *state;
    struct ivr_ari_config cfg = { .transfer_context = "xfer" };
    begin(f,
          FLOW("'a':{'type':'transfer','props':{'target':{'type':'extension','value':'400'},"
               "'mode':'blind'},'next':{'failed':'bad'}}"),
          "silent", &cfg);
    assert_true(evloop_run_until(f->loop, &f->ended, 1, 5.0));
    assert_int_equal(f->reason, IVR_END_TRANSFERRED);
    finish(f);
}

/* Bridged transfer: answered then the callee hangs up (completed), busy, no answer. */
static void test_transfer_bridged(void **state)
{
    struct fx *f = *state;

    static const struct {
        const char *ctx;
        const char *want;
    } cases[] = {
        { "100", "a:completed" },
        { "200", "a:busy" },
        { "300", "a:no_answer" },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ivr_ari_config cfg = { .transfer_context = "xfer", .app = "ivr" };
        char src[1024];
        snprintf(src, sizeof(src),
                 FLOW("'a':{'type':'transfer','props':{'target':{'type':'extension','value':'%s'},"
                      "'mode':'bridge','ring_timeout_s':5},"
                      "'next':{'completed':'ok','busy':'no','no_answer':'no','failed':'bad'}}"),
                 cases[i].ctx);
        begin(f, src, "silent", &cfg);
        assert_true(evloop_run_until(f->loop, &f->ended, 1, 15.0));
        if (strstr(f->steps, cases[i].want) == NULL) {
            fail_msg("%s: steps %s", cases[i].ctx, f->steps);
        }
        finish(f);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_menu_flow_end_to_end),
        cmocka_unit_test(test_collect_digits_on_demand),
        cmocka_unit_test(test_say_renders_and_caches),
        cmocka_unit_test(test_say_without_tts_fails),
        cmocka_unit_test(test_tts_cache_age),
        cmocka_unit_test(test_tts_cache_size_keeps_files_in_use),
        cmocka_unit_test(test_play_missing_media_fails),
        cmocka_unit_test(test_loop_play),
        cmocka_unit_test(test_hangup_while_waiting),
        cmocka_unit_test(test_voicemail_records),
        cmocka_unit_test(test_voicemail_disk_full),
        cmocka_unit_test(test_hangup_node),
        cmocka_unit_test(test_transfer_blind),
        cmocka_unit_test(test_transfer_bridged),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
