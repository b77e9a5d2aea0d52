/* Remembered peers (src/peer/known.c): the list is bounded and drops the
 * least recently seen; a peer seen again moves (address, name) instead of
 * doubling; a new peer at a remembered address replaces the old record;
 * the file round-trips, is written atomically (no temp file left beside
 * it), and a corrupt or hostile file gives an empty or filtered list, never
 * a crash. Also the config's repeated `peer =` lines (add, remove). */
#include "testutil.h"

#include "app/config.h"
#include "peer/known.h"

#include "lanspread/error.h"
#include "lanspread/fsutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void make_id(unsigned n, char *out)
{
    snprintf(out, LS_PEER_ID_HEX_LEN + 1, "%064x", n);
}

static void make_addr(unsigned n, char *out)
{
    snprintf(out, LS_ADDRESS_MAX, "198.18.%u.%u:7400", n / 250, n % 250 + 1);
}

static ls__known_list_t *new_list(void)
{
    ls__known_list_t *list = calloc(1, sizeof *list);
    assert_non_null(list);
    return list;
}

static void bounded_and_oldest_dropped(void **state)
{
    ls__known_list_t *list = new_list();
    char id[LS_PEER_ID_HEX_LEN + 1], addr[LS_ADDRESS_MAX];
    for (unsigned i = 0; i < LS_KNOWN_PEERS_MAX + 10; i++) {
        make_id(i + 1, id);
        make_addr(i, addr);
        assert_non_null(ls__known_list_seen(list, id, addr, "pc", 1000 + i));
    }
    assert_int_equal(list->count, LS_KNOWN_PEERS_MAX);
    for (unsigned i = 0; i < 10; i++) { /* the ten seen first went */
        make_id(i + 1, id);
        assert_null(ls__known_list_find(list, id));
    }
    make_id(11, id);
    assert_non_null(ls__known_list_find(list, id));
    /* an entry older than every remembered one gets no room */
    make_id(999999, id);
    assert_null(ls__known_list_seen(list, id, "198.18.99.1:7400", "old", 5));
    assert_int_equal(list->count, LS_KNOWN_PEERS_MAX);
    free(list);
}

static void seen_again_moves_and_address_reuse_replaces(void **state)
{
    ls__known_list_t *list = new_list();
    char a[LS_PEER_ID_HEX_LEN + 1], b[LS_PEER_ID_HEX_LEN + 1];
    make_id(1, a);
    make_id(2, b);
    ls__known_list_seen(list, a, "198.18.0.1:7400", "alpha", 10);
    ls__known_list_seen(list, a, "198.18.0.9:7401", "alpha2", 20);
    assert_int_equal(list->count, 1);
    assert_string_equal(list->peers[0].address, "198.18.0.9:7401");
    assert_string_equal(list->peers[0].name, "alpha2");
    assert_int_equal(list->peers[0].last_seen, 20);
    /* another peer now answers at alpha's address: alpha's record is stale */
    ls__known_list_seen(list, b, "198.18.0.9:7401", "bravo", 30);
    assert_int_equal(list->count, 1);
    assert_string_equal(list->peers[0].peer_id, b);
    free(list);
}

static void forget_by_address_host_or_id_prefix(void **state)
{
    ls__known_list_t *list = new_list();
    char id[LS_PEER_ID_HEX_LEN + 1];
    make_id(0xabcdef12, id);
    ls__known_list_seen(list, id, "198.18.0.1:7400", "a", 1);
    make_id(2, id);
    ls__known_list_seen(list, id, "198.18.0.1:7401", "b", 1);
    make_id(3, id);
    ls__known_list_seen(list, id, "198.18.0.3:7400", "c", 1);
    assert_int_equal(ls__known_list_forget(list, "198.18.0.3:7401"), 0); /* another port */
    assert_int_equal(ls__known_list_forget(list, "0000"), 0);            /* a prefix too short */
    assert_int_equal(ls__known_list_forget(list, "198.18.0.3:7400"), 1);
    assert_int_equal(ls__known_list_forget(list, "198.18.0.1"), 2); /* every port of a host */
    assert_int_equal(list->count, 0);
    make_id(0xabcdef12, id);
    ls__known_list_seen(list, id, "198.18.0.1:7400", "a", 1);
    assert_int_equal(ls__known_list_forget(list, "0000000000000000"), 1); /* id prefix */
    free(list);
}

static bool has_temp_file(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    bool found = false;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, "tmp"))
            found = true;
    if (d)
        closedir(d);
    return found;
}

static void file_round_trips_atomically(void **state)
{
    char *dir = ls_test_mkdtemp("known");
    ls__known_list_t *list = new_list(), *back = new_list();
    char id[LS_PEER_ID_HEX_LEN + 1], addr[LS_ADDRESS_MAX];
    for (unsigned i = 0; i < 40; i++) {
        make_id(i + 1, id);
        make_addr(i, addr);
        ls__known_list_seen(list, id, addr, i == 3 ? "odd \"name\" \\ é" : "pc", 500 + i);
    }
    assert_int_equal(ls__known_save(dir, list), 0);
    assert_false(has_temp_file(dir));
    ls__known_load(dir, back);
    assert_int_equal(back->count, 40);
    make_id(4, id);
    ls_known_peer_t *p = ls__known_list_find(back, id);
    assert_non_null(p);
    assert_string_equal(p->name, "odd \"name\" \\ é");
    assert_int_equal(p->last_seen, 503);
    assert_false(p->is_connected); /* a start knows of no connection */
    ls_test_rmtree(dir);
    free(dir);
    free(list);
    free(back);
}

static void corrupt_file_is_an_empty_list(void **state)
{
    static const char *bad[] = {
        "",
        "not json",
        "{\"version\":1}",
        "{\"version\":2,\"peers\":[]}",
        "[1,2,3]",
        "{\"version\":1,\"peers\":{}}",
        "{\"version\":1,\"peers\":[]}{",
    };
    char *dir = ls_test_mkdtemp("known-bad");
    ls__known_list_t *list = new_list();
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        list->count = 7;
        assert_int_equal(ls__known_parse(bad[i], strlen(bad[i]), list), LS_ECORRUPT);
        assert_int_equal(list->count, 0);
        ls_test_write_text(dir, LS_KNOWN_PEERS_FILE, bad[i]);
        list->count = 7;
        ls__known_load(dir, list); /* warns, never fails */
        assert_int_equal(list->count, 0);
    }
    /* random bytes: no crash, nothing remembered */
    char noise[4096];
    for (uint32_t seed = 1; seed < 200; seed++) {
        ls_test_fill(noise, sizeof noise, seed);
        assert_int_equal(ls__known_parse(noise, sizeof noise, list), LS_ECORRUPT);
        assert_int_equal(list->count, 0);
    }
    ls_test_rmtree(dir);
    free(dir);
    free(list);
}

static void malformed_entries_are_skipped(void **state)
{
    char id[LS_PEER_ID_HEX_LEN + 1], text[4096];
    make_id(7, id);
    snprintf(
        text, sizeof text,
        "{\"version\":1,\"peers\":["
        "{\"peer_id\":\"%s\",\"address\":\"198.18.0.7:7400\",\"name\":\"ok\",\"last_seen\":9},"
        "{\"peer_id\":\"%s\",\"address\":\"198.18.0.8:7400\",\"name\":\"dup\",\"last_seen\":9},"
        "{\"peer_id\":\"XYZ\",\"address\":\"198.18.0.1:7400\",\"name\":\"a\",\"last_seen\":1},"
        "{\"peer_id\":\"%.63s1\",\"address\":\"host:7400\",\"name\":\"b\",\"last_seen\":1},"
        "{\"peer_id\":\"%.63s2\",\"address\":\"198.18.0.2:0\",\"name\":\"c\",\"last_seen\":1},"
        "{\"peer_id\":\"%.63s3\",\"address\":\"198.18.0.3:7400\",\"name\":\"\\n\",\"last_seen\":1},"
        "{\"peer_id\":\"%.63s4\",\"address\":\"198.18.0.4:7400\",\"name\":\"d\",\"last_seen\":-1},"
        "5,null]}",
        id, id, id, id, id, id);
    ls__known_list_t *list = new_list();
    assert_int_equal(ls__known_parse(text, strlen(text), list), 0);
    assert_int_equal(list->count, 1);
    assert_string_equal(list->peers[0].name, "ok");
    free(list);
}

static void config_peer_lines_add_and_remove(void **state)
{
    char *dir = ls_test_mkdtemp("known-config");
    char *path = ls_path_join(dir, "config");
    ls_test_write_text(dir, "config", "games = /srv/games\npeer = 198.18.0.1:7400\n");
    assert_int_equal(ls_config_add(path, "peer", "198.18.0.1:7400"), 0); /* already there */
    assert_int_equal(ls_config_add(path, "peer", "198.18.0.2:7400"), 0);
    char **args = NULL;
    int count = 0;
    assert_int_equal(ls_config_load_args(path, true, &args, &count), 0);
    assert_int_equal(count, 3);
    assert_string_equal(args[1], "--peer=198.18.0.1:7400");
    assert_string_equal(args[2], "--peer=198.18.0.2:7400");
    ls_config_free_args(args, count);
    assert_int_equal(ls_config_remove(path, "peer", "198.18.0.1:7400"), 0);
    assert_int_equal(ls_config_load_args(path, true, &args, &count), 0);
    assert_int_equal(count, 2);
    assert_string_equal(args[0], "--games=/srv/games");
    assert_string_equal(args[1], "--peer=198.18.0.2:7400");
    ls_config_free_args(args, count);
    free(path);
    ls_test_rmtree(dir);
    free(dir);
}

/* A restarted peer sizes its party from memory once its first links went
 * to remembered peers: all of a small party, or as many as an unsized
 * party may link; never from a memory of a big party or of peers that do
 * not answer. */
static void a_small_remembered_party_that_is_back_sizes_the_party(void **state)
{
    (void)state;
    assert_false(ls__known_sizes_party(0, 0)); /* no memory: mDNS sizes it */
    assert_false(ls__known_sizes_party(2, 1));
    assert_true(ls__known_sizes_party(2, 2));
    assert_false(ls__known_sizes_party(9, LS_PEER_LINKS_TARGET_AUTO - 1));
    assert_true(ls__known_sizes_party(9, LS_PEER_LINKS_TARGET_AUTO));
    assert_true(ls__known_sizes_party(LS_PEER_FULL_MESH_MAX, LS_PEER_LINKS_TARGET_AUTO));
    assert_false(ls__known_sizes_party(LS_PEER_FULL_MESH_MAX + 1, LS_PEER_FULL_MESH_MAX + 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bounded_and_oldest_dropped),
        cmocka_unit_test(seen_again_moves_and_address_reuse_replaces),
        cmocka_unit_test(forget_by_address_host_or_id_prefix),
        cmocka_unit_test(file_round_trips_atomically),
        cmocka_unit_test(corrupt_file_is_an_empty_list),
        cmocka_unit_test(malformed_entries_are_skipped),
        cmocka_unit_test(config_peer_lines_add_and_remove),
        cmocka_unit_test(a_small_remembered_party_that_is_back_sizes_the_party),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
