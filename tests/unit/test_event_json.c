/* The JSON edge of the event API: every event kind, filled as the runtime
 * fills it, gives the object docs/API.md lists (every key, null where text
 * is missing, optional keys left out), so a field dropped from a payload or
 * from ls_peer_event_json shows here. */
#include "testutil.h"

#include "lanspread/peer.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    ls_peer_event_t event;
    const char *json; /* compact, keys sorted: as the CLI prints it */
} ls_event_case_t;

static const ls_local_game_t local_games[] = {
    {.id = "alpha",
     .name = "Alpha",
     .description = "First",
     .genre = "",
     .max_players = 8,
     .release_year = 2004,
     .version = "1.0",
     .is_downloaded = true,
     .is_installed = true,
     .size = 10,
     .file_count = 2,
     .cover = "c0"},
    {.id = "bravo", .name = "Bravo"},
};
static const char *const seeders[] = {"p1", "p2"};
static const ls_peer_ev_remote_game_t remote_games[] = {
    {.id = "alpha",
     .name = "Alpha",
     .latest_version = "1.10",
     .size = 11,
     .peer_count = 2,
     .peers = seeders,
     .peer_id_count = 2,
     .description = "First",
     .genre = "RTS",
     .cover = "c1"},
    {.id = "bravo", .name = "Bravo", .latest_version = "2.0", .size = 20, .peer_count = 0},
};
static const ls_peer_ev_source_t sources[] = {
    {.peer_id = "p1",
     .bytes = 100,
     .rate_bps = 50,
     .is_active = true,
     .window = 4,
     .latency_ms = 12},
    {.peer_id = "p2", .bytes = 7, .is_partial = true, .window = 2, .latency_ms = 30},
};
static const ls_peer_ev_upload_game_t uploads[] = {
    {.game_id = "alpha", .bytes = 4096, .rate_bps = 1024, .peers = 2},
};

#define EV(k, field, ...)                                                                          \
    {                                                                                              \
        .kind = k, .u.field = __VA_ARGS__                                                          \
    }

static const ls_event_case_t cases[] = {
    {EV(LS_EVENT_LOCAL_LIBRARY, local_library,
        {.rev = 3, .digest = "d1", .games = local_games, .game_count = 2}),
     "{\"digest\":\"d1\",\"games\":[{\"cover\":\"c0\",\"description\":\"First\",\"downloaded\":"
     "true,"
     "\"file_count\":2,\"genre\":null,\"id\":\"alpha\",\"installed\":true,\"max_players\":8,"
     "\"name\":\"Alpha\",\"release_year\":2004,\"size\":10,\"version\":\"1.0\"},"
     "{\"description\":null,\"downloaded\":false,\"file_count\":0,\"genre\":null,\"id\":"
     "\"bravo\",\"installed\":false,\"max_players\":0,\"name\":\"Bravo\",\"release_year\":0,"
     "\"size\":0,\"version\":null}],\"rev\":3}"},
    {EV(LS_EVENT_LIST_GAMES, list_games, {.games = remote_games, .game_count = 2}),
     "{\"games\":[{\"cover\":\"c1\",\"description\":\"First\",\"genre\":\"RTS\",\"id\":\"alpha\","
     "\"latest_version\":\"1.10\",\"name\":\"Alpha\",\"peer_count\":2,\"peers\":[\"p1\",\"p2\"],"
     "\"size\":11},{\"description\":null,\"genre\":null,\"id\":\"bravo\",\"latest_version\":"
     "\"2.0\",\"name\":\"Bravo\",\"peer_count\":0,\"peers\":[],\"size\":20}]}"},
    {EV(LS_EVENT_PEER_DISCOVERED, peer,
        {.peer_id = "p1", .name = "One", .address = "198.18.0.1:7400", .game_count = 5}),
     "{\"address\":\"198.18.0.1:7400\",\"game_count\":5,\"name\":\"One\",\"peer_id\":\"p1\","
     "\"relayed\":false}"},
    {EV(LS_EVENT_PEER_LOST, peer, {.peer_id = "p1", .name = "One", .reason = "ping timeout"}),
     "{\"name\":\"One\",\"peer_id\":\"p1\",\"reason\":\"ping timeout\"}"},
    {EV(LS_EVENT_PEER_COUNT, peer_count, {.count = 2}), "{\"count\":2}"},
    {EV(LS_EVENT_GOT_GAME_FILES, game_files,
        {.game_id = "alpha",
         .version = "1.10",
         .file_count = 3,
         .size = 30,
         .peers = seeders,
         .peer_count = 2}),
     "{\"file_count\":3,\"game_id\":\"alpha\",\"peers\":[\"p1\",\"p2\"],\"size\":30,"
     "\"version\":\"1.10\"}"},
    {EV(LS_EVENT_DOWNLOAD_BEGIN, download_begin,
        {.game_id = "alpha",
         .version = "1.10",
         .bytes_total = 30,
         .bytes_done = 5,
         .peer_count = 2}),
     "{\"bytes_done\":5,\"bytes_total\":30,\"game_id\":\"alpha\",\"peers\":2,\"version\":"
     "\"1.10\"}"},
    {EV(LS_EVENT_DOWNLOAD_PROGRESS, download_progress,
        {.game_id = "alpha",
         .bytes_done = 107,
         .bytes_total = 300,
         .rate_bps = 50,
         .from_seeders = 100,
         .from_downloaders = 7,
         .peers = sources,
         .peer_count = 2}),
     "{\"bytes_done\":107,\"bytes_total\":300,\"from_downloaders\":7,\"from_seeders\":100,"
     "\"game_id\":\"alpha\",\"peers\":[{\"active\":true,\"bytes\":100,\"latency_ms\":12,"
     "\"partial\":false,\"peer_id\":\"p1\",\"rate_bps\":50,\"window\":4},{\"active\":false,"
     "\"bytes\":7,\"latency_ms\":30,\"partial\":true,\"peer_id\":\"p2\",\"rate_bps\":0,"
     "\"window\":2}],\"rate_bps\":50}"},
    {EV(LS_EVENT_DOWNLOAD_FINISHED, download_finished, {.game_id = "alpha", .version = "1.10"}),
     "{\"game_id\":\"alpha\",\"version\":\"1.10\"}"},
    {EV(LS_EVENT_DOWNLOAD_FAILED, download_failed,
        {.game_id = "alpha", .reason = "canceled", .has_canceled = true, .is_canceled = true}),
     "{\"canceled\":true,\"game_id\":\"alpha\",\"reason\":\"canceled\"}"},
    {EV(LS_EVENT_INSTALL_BEGIN, install, {.game_id = "alpha", .op = LS_INSTALL_OP_UPDATE}),
     "{\"game_id\":\"alpha\",\"op\":\"update\",\"reason\":null}"},
    {EV(LS_EVENT_INSTALL_PROGRESS, install_progress,
        {.game_id = "alpha", .op = LS_INSTALL_OP_INSTALL, .done = 1, .total = 4}),
     "{\"done\":1,\"game_id\":\"alpha\",\"op\":\"install\",\"total\":4}"},
    {EV(LS_EVENT_INSTALL_FINISHED, install, {.game_id = "alpha", .op = LS_INSTALL_OP_INSTALL}),
     "{\"game_id\":\"alpha\",\"op\":\"install\",\"reason\":null}"},
    {EV(LS_EVENT_INSTALL_FAILED, install,
        {.game_id = "alpha", .op = LS_INSTALL_OP_INSTALL, .reason = "disk full"}),
     "{\"game_id\":\"alpha\",\"op\":\"install\",\"reason\":\"disk full\"}"},
    {EV(LS_EVENT_UNINSTALL_BEGIN, install, {.game_id = "alpha", .op = LS_INSTALL_OP_UNINSTALL}),
     "{\"game_id\":\"alpha\",\"op\":\"uninstall\",\"reason\":null}"},
    {EV(LS_EVENT_UNINSTALL_FINISHED, install, {.game_id = "alpha", .op = LS_INSTALL_OP_UNINSTALL}),
     "{\"game_id\":\"alpha\",\"op\":\"uninstall\",\"reason\":null}"},
    {EV(LS_EVENT_UNINSTALL_FAILED, install,
        {.game_id = "alpha", .op = LS_INSTALL_OP_UNINSTALL, .reason = "busy"}),
     "{\"game_id\":\"alpha\",\"op\":\"uninstall\",\"reason\":\"busy\"}"},
    {EV(LS_EVENT_RUNTIME_FAILURE, failure, {.what = "library scan", .reason = "I/O error"}),
     "{\"reason\":\"I/O error\",\"what\":\"library scan\"}"},
    {EV(LS_EVENT_READY, ready, {.peer_id = "p0", .port = 7400, .rev = 9, .has_mdns = true}),
     "{\"mdns\":true,\"peer_id\":\"p0\",\"port\":7400,\"rev\":9}"},
    {EV(LS_EVENT_GAME_DIR_CHANGED, game_dir, {.game_dir = "/games"}), "{\"game_dir\":\"/games\"}"},
    {EV(LS_EVENT_UPLOAD_PROGRESS, upload, {.rate_bps = 1024, .games = uploads, .game_count = 1}),
     "{\"games\":[{\"bytes\":4096,\"game_id\":\"alpha\",\"peers\":2,\"rate_bps\":1024}],"
     "\"rate_bps\":1024}"},
};

typedef struct {
    char text[4096];
    size_t len;
} ls_dump_buf_t;

static int dump_cb(const char *buffer, size_t size, void *data)
{
    ls_dump_buf_t *buf = data;
    if (buf->len + size >= sizeof buf->text)
        return -1;
    memcpy(buf->text + buf->len, buffer, size);
    buf->len += size;
    buf->text[buf->len] = '\0';
    return 0;
}

/* The tree and the streamed text (games encoded one at a time) agree. */
static void assert_json(const ls_peer_event_t *event, const char *want)
{
    json_t *data = ls_peer_event_json(event);
    assert_non_null(data);
    char *text = json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS);
    assert_non_null(text);
    if (strcmp(text, want) != 0)
        fail_msg("%s:\n got  %s\n want %s", ls_peer_event_name(event->kind), text, want);
    free(text);
    json_decref(data);
    ls_dump_buf_t buf = {.text = "", .len = 0};
    assert_int_equal(ls_peer_event_json_dump(event, dump_cb, &buf), 0);
    if (strcmp(buf.text, want) != 0)
        fail_msg("%s dumped:\n got  %s\n want %s", ls_peer_event_name(event->kind), buf.text, want);
}

static void every_event_kind_gives_the_documented_json(void **state)
{
    (void)state;
    for (int k = LS_EVENT_LOCAL_LIBRARY; k <= LS_EVENT_UPLOAD_PROGRESS; k++) {
        const ls_event_case_t *found = NULL;
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            if ((int)cases[i].event.kind == k)
                found = &cases[i];
        if (!found)
            fail_msg("no case for event %s", ls_peer_event_name((ls_peer_event_kind_t)k));
        assert_string_not_equal(ls_peer_event_name((ls_peer_event_kind_t)k), "unknown");
        assert_json(&found->event, found->json);
    }
}

static void optional_keys_are_left_out_when_absent(void **state)
{
    (void)state;
    /* A download that never started says nothing of canceling. */
    ls_peer_event_t failed = EV(LS_EVENT_DOWNLOAD_FAILED, download_failed,
                                {.game_id = "alpha", .reason = "no peer has this game"});
    assert_json(&failed, "{\"game_id\":\"alpha\",\"reason\":\"no peer has this game\"}");
    /* An install refused before any operation ran names none. */
    ls_peer_event_t refused =
        EV(LS_EVENT_INSTALL_FAILED, install,
           {.game_id = "alpha", .reason = "a download of this game is running"});
    assert_json(&refused,
                "{\"game_id\":\"alpha\",\"reason\":\"a download of this game is running\"}");
    /* A refused game directory names it. */
    ls_peer_event_t dir =
        EV(LS_EVENT_RUNTIME_FAILURE, failure,
           {.what = "set game directory", .reason = "not writable", .game_dir = "/ro"});
    assert_json(
        &dir, "{\"game_dir\":\"/ro\",\"reason\":\"not writable\",\"what\":\"set game directory\"}");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_event_kind_gives_the_documented_json),
        cmocka_unit_test(optional_keys_are_left_out_when_absent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
