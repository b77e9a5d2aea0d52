/* The control API's state: runtime events folded into the game states the
 * web UI and CLI show, the peers document, and the event ring that feeds
 * Server-Sent Events clients. */
#include "testutil.h"

#include "app/api_state.h"

#include "lanspread/error.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

typedef struct {
    ls_api_state_t *st;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    assert_int_equal(ls_api_state_new("/games", &f->st), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    ls_api_state_free(f->st);
    free(f);
    return 0;
}

static ls_peer_event_kind_t kind_named(const char *name)
{
    for (int k = LS_EVENT_LOCAL_LIBRARY; k <= LS_EVENT_UPLOAD_PROGRESS; k++)
        if (strcmp(ls_peer_event_name((ls_peer_event_kind_t)k), name) == 0)
            return (ls_peer_event_kind_t)k;
    fail_msg("no event named %s", name);
    return LS_EVENT_LOCAL_LIBRARY;
}

/* Applies one event, named as on the wire, given as JSON text. */
static void apply_none(fixture_t *f, const char *event, const char *json)
{
    json_t *data = json_loads(json, 0, NULL);
    assert_non_null(data);
    ls_api_state_apply_json(f->st, kind_named(event), data);
    json_decref(data);
}

static void assert_state(fixture_t *f, const char *id, const char *want)
{
    json_t *game = ls_api_state_game(f->st, id);
    assert_non_null(game);
    assert_string_equal(json_string_value(json_object_get(game, "state")), want);
    json_decref(game);
}

static void two_libraries(fixture_t *f)
{
    apply_none(f, "local-library",
               "{\"rev\":1,\"digest\":\"d\",\"games\":[{\"id\":\"alpha\",\"name\":\"Alpha\","
               "\"description\":\"First\",\"genre\":null,\"max_players\":0,"
               "\"release_year\":0,\"version\":\"1.0\",\"downloaded\":true,"
               "\"installed\":true,\"size\":10,\"file_count\":1}]}");
    apply_none(f, "peer-discovered",
               "{\"peer_id\":\"p1\",\"name\":\"Peer One\",\"address\":\"198.18.0.1:7400\","
               "\"game_count\":2}");
    apply_none(f, "list-games",
               "{\"games\":[{\"id\":\"bravo\",\"name\":\"Bravo\",\"latest_version\":\"2.0\","
               "\"size\":20,\"peer_count\":1,\"peers\":[\"p1\"]},{\"id\":\"alpha\",\"name\":"
               "\"Alpha\",\"latest_version\":\"1.10\",\"size\":11,\"peer_count\":1,\"peers\":"
               "[\"p1\"]}]}");
}

static void games_show_where_they_are_and_updates(void **state)
{
    fixture_t *f = *state;
    two_libraries(f);
    assert_state(f, "bravo", "remote");
    /* 1.10 is newer than 1.0 (version order, not string order) */
    assert_state(f, "alpha", "update-available");
    json_t *game = ls_api_state_game(f->st, "bravo");
    assert_string_equal(json_string_value(json_array_get(json_object_get(game, "peers"), 0)),
                        "Peer One");
    assert_int_equal(json_integer_value(json_object_get(game, "peer_count")), 1);
    json_decref(game);
    game = ls_api_state_game(f->st, "alpha");
    assert_string_equal(json_string_value(json_object_get(game, "description")), "First");
    assert_string_equal(json_string_value(json_object_get(game, "version")), "1.0");
    json_decref(game);
    assert_null(ls_api_state_game(f->st, "charlie"));

    json_t *peers = ls_api_state_peers(f->st);
    json_t *p = json_array_get(json_object_get(peers, "peers"), 0);
    assert_int_equal(json_integer_value(json_object_get(peers, "count")), 1);
    assert_int_equal(json_integer_value(json_object_get(p, "game_count")), 2);
    json_decref(peers);
    apply_none(f, "peer-lost", "{\"peer_id\":\"p1\",\"name\":\"Peer One\",\"reason\":\"gone\"}");
    peers = ls_api_state_peers(f->st);
    assert_int_equal(json_integer_value(json_object_get(peers, "count")), 0);
    json_decref(peers);
}

/* GET /api/games's text, encoded one game at a time, is the document the
 * tree gave (compact, keys sorted): local games first, then remote ones,
 * each with its peers' names, its operation and its state. */
static void the_games_document_text_is_pinned(void **state)
{
    fixture_t *f = *state;
    const char *running;
    two_libraries(f);
    assert_int_equal(ls_api_state_request(f->st, "bravo", "download", &running), 0);
    char *text = ls_api_state_games_text(f->st, "{\"games\":", "}");
    assert_non_null(text);
    assert_string_equal(
        text,
        "{\"games\":[{\"cover\":null,\"description\":\"First\",\"downloaded\":true,\"genre\":null,"
        "\"id\":"
        "\"alpha\",\"installed\":true,\"latest_version\":\"1.10\",\"name\":\"Alpha\","
        "\"operation\":null,\"peer_count\":1,\"peer_ids\":[\"p1\"],\"peers\":[\"Peer One\"],"
        "\"reason\":null,\"size\":10,\"state\":\"update-available\",\"version\":\"1.0\"},"
        "{\"cover\":null,\"description\":null,\"downloaded\":false,\"genre\":null,\"id\":\"bravo\","
        "\"installed\":false,\"latest_version\":\"2.0\",\"name\":\"Bravo\",\"operation\":"
        "{\"op\":\"download\",\"phase\":\"requested\",\"progress\":null,\"reason\":null},"
        "\"peer_count\":1,\"peer_ids\":[\"p1\"],\"peers\":[\"Peer One\"],\"reason\":null,"
        "\"size\":20,\"state\":\"requested\",\"version\":null}]}");
    free(text);
    text = ls_api_state_games_text(f->st, "<", ">");
    assert_non_null(text);
    assert_true(text[0] == '<' && text[1] == '[' && strcmp(text + strlen(text) - 2, "]>") == 0);
    free(text);
}

/* Names and catalog text come with the events: a catalog reload in the
 * runtime shows at once, and a remote title gets what this peer's catalog
 * says of it. */
static void catalog_text_follows_the_events(void **state)
{
    fixture_t *f = *state;
    two_libraries(f);
    apply_none(f, "list-games",
               "{\"games\":[{\"id\":\"bravo\",\"name\":\"Bravo\",\"latest_version\":\"2.0\","
               "\"size\":20,\"peer_count\":1,\"peers\":[\"p1\"],\"description\":\"Remote\","
               "\"genre\":\"RTS\"}]}");
    json_t *game = ls_api_state_game(f->st, "bravo");
    assert_string_equal(json_string_value(json_object_get(game, "description")), "Remote");
    assert_string_equal(json_string_value(json_object_get(game, "genre")), "RTS");
    json_decref(game);
    game = ls_api_state_game(f->st, "alpha");
    assert_true(json_is_null(json_object_get(game, "genre")));
    json_decref(game);

    apply_none(f, "local-library",
               "{\"rev\":2,\"digest\":\"d\",\"games\":[{\"id\":\"alpha\",\"name\":"
               "\"Alpha II\",\"description\":\"Reloaded\",\"genre\":\"FPS\",\"max_players\":8,"
               "\"release_year\":1999,\"version\":\"1.0\",\"downloaded\":true,"
               "\"installed\":true,\"size\":10,\"file_count\":1}]}");
    game = ls_api_state_game(f->st, "alpha");
    assert_string_equal(json_string_value(json_object_get(game, "name")), "Alpha II");
    assert_string_equal(json_string_value(json_object_get(game, "description")), "Reloaded");
    assert_string_equal(json_string_value(json_object_get(game, "genre")), "FPS");
    json_decref(game);
}

static void a_download_goes_requested_downloading_installing_installed(void **state)
{
    fixture_t *f = *state;
    two_libraries(f);
    const char *running;
    assert_false(ls_api_state_is_busy(f->st));
    assert_int_equal(ls_api_state_request(f->st, "bravo", "download", &running), 0);
    assert_state(f, "bravo", "requested");
    assert_true(ls_api_state_is_busy(f->st));
    /* a second request while the first is pending is refused, not noted */
    assert_int_equal(ls_api_state_request(f->st, "bravo", "download", &running), LS_EBUSY);
    assert_string_equal(running, "download");
    /* the runtime owns the whole download: file lists change nothing here */
    apply_none(f, "got-game-files", "{\"game_id\":\"bravo\",\"version\":\"2.0\"}");
    assert_state(f, "bravo", "requested");
    apply_none(f, "download-begin", "{\"game_id\":\"bravo\",\"bytes_total\":20}");
    assert_state(f, "bravo", "downloading");
    apply_none(f, "download-progress",
               "{\"game_id\":\"bravo\",\"bytes_done\":5,\"bytes_total\":20,\"rate_bps\":100}");
    json_t *game = ls_api_state_game(f->st, "bravo");
    json_t *progress = json_object_get(json_object_get(game, "operation"), "progress");
    assert_int_equal(json_integer_value(json_object_get(progress, "bytes_done")), 5);
    json_decref(game);
    assert_int_equal(ls_api_state_request(f->st, "bravo", "update", &running), LS_EBUSY);
    apply_none(f, "download-finished", "{\"game_id\":\"bravo\",\"version\":\"2.0\"}");
    apply_none(f, "install-begin", "{\"game_id\":\"bravo\",\"op\":\"install\"}");
    assert_state(f, "bravo", "installing");
    apply_none(f, "install-finished", "{\"game_id\":\"bravo\",\"op\":\"install\"}");
    apply_none(f, "local-library",
               "{\"rev\":2,\"digest\":\"d\",\"games\":[{\"id\":\"bravo\",\"name\":\"Bravo\","
               "\"version\":\"2.0\",\"downloaded\":true,\"installed\":true,\"size\":20,"
               "\"file_count\":1}]}");
    assert_state(f, "bravo", "installed");
    assert_false(ls_api_state_is_busy(f->st));
}

/* Every seeder leaves during a download: the game stays listed, from what
 * the network last said of it, while the operation lasts (the page shows
 * "waiting for peers", then the failure with its kept bytes); a cancel or
 * a finish lets it go. */
static void a_download_whose_seeders_left_stays_listed(void **state)
{
    fixture_t *f = *state;
    const char *running;
    two_libraries(f);
    assert_int_equal(ls_api_state_request(f->st, "bravo", "download", &running), 0);
    apply_none(f, "download-begin", "{\"game_id\":\"bravo\",\"bytes_total\":20}");
    apply_none(f, "list-games", "{\"games\":[]}"); /* p1 left */
    assert_state(f, "bravo", "downloading");
    json_t *game = ls_api_state_game(f->st, "bravo");
    assert_string_equal(json_string_value(json_object_get(game, "name")), "Bravo");
    assert_int_equal(json_integer_value(json_object_get(game, "size")), 20);
    assert_int_equal(json_integer_value(json_object_get(game, "peer_count")), 0);
    json_decref(game);
    json_t *doc = ls_api_state_games(f->st);
    assert_int_equal(json_array_size(json_object_get(doc, "games")), 2); /* alpha, bravo */
    json_decref(doc);
    apply_none(f, "download-failed",
               "{\"game_id\":\"bravo\",\"reason\":\"every serving peer was lost or dropped\","
               "\"canceled\":false}");
    assert_state(f, "bravo", "failed");
    /* its kept files make a folder, not downloaded: the size stays the game's */
    apply_none(f, "local-library",
               "{\"rev\":2,\"digest\":\"e\",\"games\":[{\"id\":\"bravo\",\"name\":\"Bravo\","
               "\"version\":null,\"downloaded\":false,\"installed\":false,\"size\":5,"
               "\"file_count\":1}]}");
    game = ls_api_state_game(f->st, "bravo");
    assert_int_equal(json_integer_value(json_object_get(game, "size")), 20);
    json_decref(game);
    assert_int_equal(ls_api_state_request(f->st, "bravo", "download", &running), 0);
    apply_none(f, "download-failed",
               "{\"game_id\":\"bravo\",\"reason\":\"canceled\",\"canceled\":true}");
    apply_none(f, "local-library", "{\"rev\":3,\"digest\":\"f\",\"games\":[]}");
    assert_null(ls_api_state_game(f->st, "bravo"));
}

static void failures_keep_their_reason_and_cancel_is_not_one(void **state)
{
    fixture_t *f = *state;
    const char *running;
    two_libraries(f);
    assert_int_equal(ls_api_state_request(f->st, "bravo", "download", &running), 0);
    apply_none(f, "download-begin", "{\"game_id\":\"bravo\",\"bytes_total\":20}");
    apply_none(f, "download-failed",
               "{\"game_id\":\"bravo\",\"reason\":\"canceled\",\"canceled\":true}");
    assert_state(f, "bravo", "remote");
    /* a canceled download leaves the game free for another request */
    assert_int_equal(ls_api_state_request(f->st, "bravo", "download", &running), 0);
    apply_none(f, "download-failed",
               "{\"game_id\":\"bravo\",\"reason\":\"no peer left\",\"canceled\":false}");
    assert_state(f, "bravo", "failed");
    json_t *game = ls_api_state_game(f->st, "bravo");
    assert_string_equal(json_string_value(json_object_get(game, "reason")), "no peer left");
    json_decref(game);
    /* a failed operation does not block a game directory change */
    assert_false(ls_api_state_is_busy(f->st));
    /* runtime failures go to the status, and a new directory is shown */
    apply_none(f, "runtime-failure", "{\"what\":\"library scan\",\"reason\":\"I/O error\"}");
    apply_none(f, "game-dir-changed", "{\"game_dir\":\"/other\"}");
    json_t *status = ls_api_state_status(f->st);
    assert_string_equal(json_string_value(json_object_get(status, "game_dir")), "/other");
    assert_int_equal(json_array_size(json_object_get(status, "failures")), 1);
    json_decref(status);
}

static void event_stream_is_ordered_and_a_slow_client_resyncs(void **state)
{
    fixture_t *f = *state;
    char *text = NULL;
    uint64_t cursor = ls_api_state_cursor(f->st);
    assert_int_equal(ls_api_state_next_event(f->st, &cursor, 10, &text), 0); /* nothing yet */
    apply_none(f, "peer-count", "{\"count\":1}");
    apply_none(f, "peer-count", "{\"count\":2}");
    assert_int_equal(ls_api_state_next_event(f->st, &cursor, 10, &text), 1);
    assert_string_equal(text, "event: peer-count\ndata: {\"count\":1}\n\n");
    free(text);
    assert_int_equal(ls_api_state_next_event(f->st, &cursor, 10, &text), 1);
    assert_string_equal(text, "event: peer-count\ndata: {\"count\":2}\n\n");
    free(text);

    uint64_t slow = ls_api_state_cursor(f->st);
    for (int i = 0; i < LS_API_EVENT_RING + 10; i++)
        apply_none(f, "peer-count", "{\"count\":3}");
    assert_int_equal(ls_api_state_next_event(f->st, &slow, 10, &text), 1);
    assert_string_equal(text, "event: resync\ndata: {}\n\n");
    free(text);
    assert_int_equal(slow, ls_api_state_cursor(f->st));

    ls_api_state_close(f->st);
    assert_int_equal(ls_api_state_next_event(f->st, &slow, 1000, &text), -1);
}

/* A list-games event of n remote titles "gNNNNN", each seeded by p1. */
static json_t *big_list(int n)
{
    json_t *games = json_array();
    char id[16];
    for (int i = 0; i < n; i++) {
        snprintf(id, sizeof id, "g%05d", i);
        json_array_append_new(games,
                              json_pack("{s:s,s:s,s:s,s:i,s:i,s:[s],s:n,s:n}", "id", id, "name", id,
                                        "latest_version", "1.0", "size", 100, "peer_count", 1,
                                        "peers", "p1", "description", "genre"));
    }
    return json_pack("{s:o}", "games", games);
}

/* CPU seconds of this thread. */
static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The least CPU time, of a few tries, that GET /api/games and /api/peers
 * take for `n` remote games (load on the machine only adds to a try). */
static double documents_cpu_s(fixture_t *f, int n)
{
    enum { TRIES = 3 };
    json_t *data = big_list(n);
    double best = 1e9;
    ls_api_state_apply_json(f->st, LS_EVENT_LIST_GAMES, data);
    json_decref(data);
    for (int i = 0; i < TRIES; i++) {
        double start = thread_cpu_s();
        char *games = ls_api_state_games_text(f->st, "{\"games\":", "}");
        json_t *peers = ls_api_state_peers(f->st);
        double spent = thread_cpu_s() - start;
        assert_non_null(games);
        free(games);
        json_decref(peers);
        best = spent < best ? spent : best;
    }
    return best;
}

/* The documents cost O(games): ten times the games, not a hundred times
 * the CPU (GET /api/games was O(G^2) and took 3.9 s under the lock for
 * 10,000 games). Compared within the run, so a slow build (ASan) or a
 * loaded machine does not decide it. */
static void the_documents_cost_grows_linearly_with_the_games(void **state)
{
    enum { FEW = 1000, MANY = 10000, RATIO_MAX = 30 };
    fixture_t *f = *state;
    apply_none(f, "peer-discovered",
               "{\"peer_id\":\"p1\",\"name\":\"One\",\"address\":\"a\",\"game_count\":1}");
    double few = documents_cpu_s(f, FEW);
    double many = documents_cpu_s(f, MANY);
    print_message("documents: %d games %.4f s, %d games %.4f s CPU\n", FEW, few, MANY, many);
    assert_true(many < few * RATIO_MAX);
}

/* A peer announcing 10,000 games: the stream gets one small games-changed
 * event, not the list (which filled the ring with megabytes per announce),
 * and the documents still list every game. */
static void a_big_game_list_is_streamed_as_games_changed(void **state)
{
    enum { GAMES = 10000 };
    fixture_t *f = *state;
    char *text = NULL;
    uint64_t cursor = ls_api_state_cursor(f->st);
    json_t *data = big_list(GAMES);
    apply_none(f, "peer-discovered",
               "{\"peer_id\":\"p1\",\"name\":\"One\",\"address\":\"a\",\"game_count\":1}");
    ls_api_state_apply_json(f->st, LS_EVENT_LIST_GAMES, data);
    json_decref(data);
    assert_int_equal(ls_api_state_next_event(f->st, &cursor, 10, &text), 1);
    free(text); /* peer-discovered */
    assert_int_equal(ls_api_state_next_event(f->st, &cursor, 10, &text), 1);
    assert_string_equal(
        text, "event: games-changed\ndata: {\"local_games\":0,\"remote_games\":10000}\n\n");
    free(text);
    assert_true(ls_api_state_ring_bytes(f->st) < 1024);

    json_t *doc = ls_api_state_games(f->st);
    json_t *peers = ls_api_state_peers(f->st);
    assert_int_equal(json_array_size(json_object_get(doc, "games")), GAMES);
    json_t *last = json_array_get(json_object_get(doc, "games"), GAMES - 1);
    assert_string_equal(json_string_value(json_object_get(last, "id")), "g09999");
    assert_string_equal(json_string_value(json_object_get(last, "state")), "remote");
    json_t *p = json_array_get(json_object_get(peers, "peers"), 0);
    assert_int_equal(json_integer_value(json_object_get(p, "game_count")), GAMES);
    json_decref(doc);
    json_decref(peers);
}

/* Heap bytes in use (glibc's count of allocated chunks). */
static size_t heap_in_use(void)
{
    struct mallinfo2 info = mallinfo2();
    return info.uordblks + info.hblkhd;
}

/* A peer announcing LS_SNAPSHOT_GAMES_MAX games costs the daemon the list
 * in a compact form, not a JSON tree (about 1.7 KiB a game, 17 MiB, which
 * kept an attacked seeder over its RSS goal): each game here has a 64-char
 * peer id and catalog text, and the state keeps under 400 bytes a game. */
static void a_big_game_list_is_kept_compact(void **state)
{
    enum { GAMES = LS_SNAPSHOT_GAMES_MAX, BYTES_PER_GAME_MAX = 400 };
    fixture_t *f = *state;
    static const char *const seeders[] = {
        "f40a9f6014aa68d5dd4a94aa9dca1c28985cc7b190ceda92705854d74620b248"};
    ls_peer_ev_remote_game_t *games = calloc(GAMES, sizeof *games);
    char(*ids)[16] = calloc(GAMES, sizeof *ids);
    assert_non_null(games);
    assert_non_null(ids);
    for (int i = 0; i < GAMES; i++) {
        snprintf(ids[i], sizeof ids[i], "g%05d", i);
        games[i] = (ls_peer_ev_remote_game_t){.id = ids[i],
                                              .name = ids[i],
                                              .latest_version = "1.0",
                                              .size = 100,
                                              .peer_count = 1,
                                              .peers = seeders,
                                              .peer_id_count = 1,
                                              .description = "A game",
                                              .genre = "RTS"};
    }
    ls_peer_event_t event = {.kind = LS_EVENT_LIST_GAMES,
                             .u.list_games = {.games = games, .game_count = GAMES}};
    size_t before = heap_in_use();
    static void *volatile probe; /* volatile: the compiler keeps the allocation */
    probe = malloc(1 << 20);
    bool is_counted = probe && heap_in_use() - before >= (1 << 20);
    free(probe);
    before = heap_in_use();
    if (!is_counted) {
        free(games);
        free(ids);
        skip(); /* an allocator glibc does not count (ASan's) */
    }
    ls_api_state_apply(f->st, &event);
    ls_api_state_apply(f->st, &event); /* the second replaces the first */
    size_t kept = heap_in_use() - before;
    print_message("%zu games keep %zu bytes\n", (size_t)GAMES, kept);
    if (kept > (size_t)GAMES * BYTES_PER_GAME_MAX)
        fail_msg("%zu games keep %zu bytes (%zu a game)", (size_t)GAMES, kept, kept / GAMES);
    json_t *game = ls_api_state_game(f->st, "g09999");
    assert_non_null(game);
    assert_string_equal(json_string_value(json_object_get(game, "genre")), "RTS");
    assert_string_equal(json_string_value(json_array_get(json_object_get(game, "peer_ids"), 0)),
                        seeders[0]);
    json_decref(game);
    free(games);
    free(ids);
}

/* The ring holds at most LS_API_EVENT_RING_BYTES of text, however few the
 * events: a client left behind by big events resyncs; an event bigger than
 * LS_API_EVENT_BYTES_MAX is streamed as a resync. */
static void the_event_ring_is_bounded_in_bytes(void **state)
{
    fixture_t *f = *state;
    char *text = NULL;
    size_t reason_len = LS_API_EVENT_BYTES_MAX / 2;
    char *reason = malloc(reason_len + 1);
    memset(reason, 'x', reason_len);
    reason[reason_len] = '\0';
    uint64_t slow = ls_api_state_cursor(f->st);
    int events = (int)(4 * LS_API_EVENT_RING_BYTES / reason_len); /* far below LS_API_EVENT_RING */
    assert_true(events < LS_API_EVENT_RING);
    for (int i = 0; i < events; i++) {
        json_t *data = json_pack("{s:s,s:s}", "what", "test", "reason", reason);
        ls_api_state_apply_json(f->st, LS_EVENT_RUNTIME_FAILURE, data);
        json_decref(data);
        assert_true(ls_api_state_ring_bytes(f->st) <= LS_API_EVENT_RING_BYTES);
    }
    assert_true(ls_api_state_ring_bytes(f->st) > LS_API_EVENT_RING_BYTES / 2);
    assert_int_equal(ls_api_state_next_event(f->st, &slow, 10, &text), 1);
    assert_string_equal(text, "event: resync\ndata: {}\n\n");
    free(text);

    free(reason);
    reason_len = LS_API_EVENT_BYTES_MAX;
    reason = malloc(reason_len + 1);
    memset(reason, 'y', reason_len);
    reason[reason_len] = '\0';
    json_t *data = json_pack("{s:s,s:s}", "what", "test", "reason", reason);
    ls_api_state_apply_json(f->st, LS_EVENT_RUNTIME_FAILURE, data);
    json_decref(data);
    assert_int_equal(ls_api_state_next_event(f->st, &slow, 10, &text), 1);
    assert_string_equal(text, "event: resync\ndata: {}\n\n");
    free(text);
    free(reason);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(games_show_where_they_are_and_updates, setup, teardown),
        cmocka_unit_test_setup_teardown(the_games_document_text_is_pinned, setup, teardown),
        cmocka_unit_test_setup_teardown(catalog_text_follows_the_events, setup, teardown),
        cmocka_unit_test_setup_teardown(a_download_whose_seeders_left_stays_listed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_download_goes_requested_downloading_installing_installed,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(failures_keep_their_reason_and_cancel_is_not_one, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_big_game_list_is_streamed_as_games_changed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_big_game_list_is_kept_compact, setup, teardown),
        cmocka_unit_test_setup_teardown(the_documents_cost_grows_linearly_with_the_games, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(the_event_ring_is_bounded_in_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(event_stream_is_ordered_and_a_slow_client_resyncs, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
