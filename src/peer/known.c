/* Known peers: the remembered list, its file (STATE/peers.json), and the
 * dial targets that bring the peers back after a restart (known.h). */
#include "known.h"

#include "lanspread/error.h"
#include "lanspread/fsutil.h"
#include "lanspread/log.h"
#include "lanspread/workq.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* --- the list -------------------------------------------------------------- */

static bool is_peer_id(const char *s)
{
    if (!s || strlen(s) != LS_PEER_ID_HEX_LEN)
        return false;
    return strspn(s, "0123456789abcdef") == LS_PEER_ID_HEX_LEN;
}

bool ls_peer_address_is_valid(const char *text)
{
    struct sockaddr_storage ss;
    return text && strlen(text) < LS_ADDRESS_MAX && ls__parse_address(text, false, &ss) == 0;
}

/* "ADDR:PORT" -> whether its ADDR part is `host` ("[v6]" compared bracketed). */
static bool host_is(const char *address, const char *host)
{
    const char *colon = strrchr(address, ':');
    size_t n = strlen(host);
    return colon && (size_t)(colon - address) == n && strncmp(address, host, n) == 0;
}

bool ls_known_peer_matches(const ls_known_peer_t *peer, const char *what)
{
    size_t n = strlen(what);
    if (!*what)
        return false;
    if (strcmp(peer->address, what) == 0 || host_is(peer->address, what))
        return true;
    return peer->peer_id[0] && n >= LS_KNOWN_ID_PREFIX_MIN && n <= LS_PEER_ID_HEX_LEN &&
           strncmp(peer->peer_id, what, n) == 0;
}

ls_known_peer_t *ls__known_list_find(ls__known_list_t *list, const char *peer_id)
{
    for (size_t i = 0; i < list->count; i++)
        if (strcmp(list->peers[i].peer_id, peer_id) == 0)
            return &list->peers[i];
    return NULL;
}

static void list_remove(ls__known_list_t *list, size_t i)
{
    list->peers[i] = list->peers[--list->count];
}

static size_t oldest(const ls__known_list_t *list)
{
    size_t at = 0;
    for (size_t i = 1; i < list->count; i++)
        if (list->peers[i].last_seen < list->peers[at].last_seen)
            at = i;
    return at;
}

/* A slot for a new entry seen at `when`: a free one, or the least recently
 * seen one when that is older; NULL when the new one is the oldest. */
static ls_known_peer_t *make_room(ls__known_list_t *list, int64_t when)
{
    if (list->count < LS_KNOWN_PEERS_MAX)
        return &list->peers[list->count++];
    size_t at = oldest(list);
    if (list->peers[at].last_seen > when)
        return NULL;
    return &list->peers[at];
}

static void fill(ls_known_peer_t *p, const char *peer_id, const char *address, const char *name,
                 int64_t when)
{
    bool is_connected = p->is_connected && strcmp(p->peer_id, peer_id) == 0;
    *p = (ls_known_peer_t){.last_seen = when, .is_connected = is_connected};
    snprintf(p->peer_id, sizeof p->peer_id, "%s", peer_id);
    snprintf(p->address, sizeof p->address, "%s", address);
    snprintf(p->name, sizeof p->name, "%s", name ? name : "");
}

ls_known_peer_t *ls__known_list_seen(ls__known_list_t *list, const char *peer_id,
                                     const char *address, const char *name, int64_t now)
{
    for (size_t i = 0; i < list->count;) {
        bool is_stale = strcmp(list->peers[i].address, address) == 0 &&
                        strcmp(list->peers[i].peer_id, peer_id) != 0;
        if (is_stale)
            list_remove(list, i);
        else
            i++;
    }
    ls_known_peer_t *p = ls__known_list_find(list, peer_id);
    if (!p)
        p = make_room(list, now);
    if (p)
        fill(p, peer_id, address, name, now);
    return p;
}

size_t ls__known_list_forget(ls__known_list_t *list, const char *what)
{
    size_t n = 0;
    for (size_t i = 0; i < list->count;) {
        if (ls_known_peer_matches(&list->peers[i], what)) {
            list_remove(list, i);
            n++;
        } else {
            i++;
        }
    }
    return n;
}

/* One entry of the file; false when it is not well formed (then skipped). */
static bool parse_entry(const json_t *e, ls_known_peer_t *out)
{
    const char *id = json_string_value(json_object_get(e, "peer_id"));
    const char *address = json_string_value(json_object_get(e, "address"));
    const char *name = json_string_value(json_object_get(e, "name"));
    json_t *seen = json_object_get(e, "last_seen");
    if (!is_peer_id(id) || !ls_peer_address_is_valid(address) || !json_is_integer(seen) ||
        json_integer_value(seen) < 0)
        return false;
    if (name && (strlen(name) > LS_NAME_MAX || ls_text_has_control(name)))
        return false;
    fill(out, id, address, name, (int64_t)json_integer_value(seen));
    return true;
}

int ls__known_parse(const char *text, size_t len, ls__known_list_t *out)
{
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    json_t *peers = json_object_get(doc, "peers");
    json_t *version = json_object_get(doc, "version");
    int rc = 0;
    size_t i;
    json_t *e;
    out->count = 0;
    if (!json_is_array(peers) || !json_is_integer(version) ||
        json_integer_value(version) != LS_KNOWN_FILE_VERSION) {
        rc = LS_ECORRUPT;
        goto out;
    }
    json_array_foreach(peers, i, e)
    {
        ls_known_peer_t entry;
        if (!parse_entry(e, &entry) || ls__known_list_find(out, entry.peer_id))
            continue;
        ls_known_peer_t *slot = make_room(out, entry.last_seen);
        if (slot)
            *slot = entry;
    }
out:
    json_decref(doc);
    return rc;
}

static int by_last_seen(const void *a, const void *b)
{
    const ls_known_peer_t *x = a, *y = b;
    if (x->last_seen != y->last_seen)
        return x->last_seen > y->last_seen ? -1 : 1;
    return strcmp(x->peer_id, y->peer_id);
}

char *ls__known_format(const ls__known_list_t *list)
{
    ls_known_peer_t *sorted = malloc(sizeof *sorted * (list->count ? list->count : 1));
    json_t *peers = json_array();
    json_t *doc = json_pack("{s:i,s:o}", "version", LS_KNOWN_FILE_VERSION, "peers", peers);
    char *text = NULL;
    if (!sorted || !doc)
        goto out;
    memcpy(sorted, list->peers, sizeof *sorted * list->count);
    qsort(sorted, list->count, sizeof *sorted, by_last_seen);
    for (size_t i = 0; i < list->count; i++)
        if (json_array_append_new(peers,
                                  json_pack("{s:s,s:s,s:s,s:I}", "peer_id", sorted[i].peer_id,
                                            "address", sorted[i].address, "name", sorted[i].name,
                                            "last_seen", (json_int_t)sorted[i].last_seen)) != 0)
            goto out;
    text = json_dumps(doc, JSON_INDENT(1));
out:
    json_decref(doc);
    free(sorted);
    return text;
}

void ls__known_load(const char *state_dir, ls__known_list_t *out)
{
    char *path = ls_path_join(state_dir, LS_KNOWN_PEERS_FILE);
    char *text = NULL;
    size_t len = 0;
    int rc = path ? ls_fs_read_file(path, LS_KNOWN_FILE_MAX, &text, &len) : LS_ENOMEM;
    out->count = 0;
    if (rc == 0)
        rc = ls__known_parse(text, len, out);
    if (rc != 0 && rc != LS_ENOENT)
        ls_warn("peer", "%s: %s; starting with no remembered peers", path ? path : "peers file",
                ls_strerror(rc));
    free(text);
    free(path);
}

int ls__known_save(const char *state_dir, const ls__known_list_t *list)
{
    char *path = ls_path_join(state_dir, LS_KNOWN_PEERS_FILE);
    char *text = ls__known_format(list);
    int rc = path && text ? ls_fs_write_atomic(path, text, strlen(text)) : LS_ENOMEM;
    free(text);
    free(path);
    return rc;
}

/* --- the runtime's object -------------------------------------------------- */

typedef struct ls__known_save_job {
    uv_work_t req;
    struct ls__known *known;
    char *path;
    char *text;
    int rc;
} ls__known_save_job_t;

struct ls__known {
    ls__known_config_t config;
    char *state_dir;
    ls__known_list_t list;
    /* targets[i] dials the entry whose peer id it carries (is_used) */
    ls__dial_target_t targets[LS_KNOWN_PEERS_MAX];
    bool is_used[LS_KNOWN_PEERS_MAX];
    uv_timer_t save_timer;
    uv_timer_t dial_timer; /* the next target's dial time (ls__known_dial_due) */
    bool is_dirty;         /* the list changed since the last save was queued */
    bool is_saving;        /* a save job runs */
    bool is_stopped;       /* the timer is closed: saves are queued at once */
    /* the published list, for other threads */
    uv_mutex_t view_lock;
    ls_known_peer_t view[LS_KNOWN_PEERS_MAX + LS_STATIC_PEERS_MAX];
    size_t view_count;
    /* the peers remembered at start, and which of them linked since
     * (ls__known_sizes_party); cleared once the party is sized */
    char (*start_ids)[LS_PEER_ID_HEX_LEN + 1];
    bool *is_start_linked;
    size_t start_count, start_linked;
};

static int64_t now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec;
}

static ls__dial_target_t *target_for(ls__known_t *k, const char *peer_id)
{
    for (size_t i = 0; i < LS_KNOWN_PEERS_MAX; i++)
        if (k->is_used[i] && strcmp(k->targets[i].peer_id, peer_id) == 0)
            return &k->targets[i];
    return NULL;
}

static void release_target(ls__known_t *k, size_t i)
{
    ls__links_detach_target(k->config.links, &k->targets[i]);
    k->is_used[i] = false;
    memset(&k->targets[i], 0, sizeof k->targets[i]);
}

/* The entry's target follows its address; a new address is dialled afresh
 * (it may answer where the old one was ignored). */
static void aim_target(ls__known_t *k, const ls_known_peer_t *p, uint64_t first_dial_ms)
{
    ls__dial_target_t *t = target_for(k, p->peer_id);
    for (size_t i = 0; !t && i < LS_KNOWN_PEERS_MAX; i++)
        if (!k->is_used[i]) {
            k->is_used[i] = true;
            t = &k->targets[i];
            *t = (ls__dial_target_t){.is_id_advertised = true,
                                     .backoff_max_ms = LS_KNOWN_REDIAL_MAX_MS,
                                     .next_dial_ms = first_dial_ms};
            snprintf(t->peer_id, sizeof t->peer_id, "%s", p->peer_id);
        }
    if (!t || strcmp(t->address, p->address) == 0)
        return;
    if (ls__parse_address(p->address, false, &t->sockaddr) != 0) {
        release_target(k, (size_t)(t - k->targets));
        return;
    }
    snprintf(t->address, sizeof t->address, "%s", p->address);
    t->is_ignored = false;
    t->backoff_ms = 0;
    t->next_dial_ms = first_dial_ms;
}

/* Targets whose entry is gone (dropped for room, forgotten, replaced) go. */
static void release_orphans(ls__known_t *k)
{
    for (size_t i = 0; i < LS_KNOWN_PEERS_MAX; i++)
        if (k->is_used[i] && !ls__known_list_find(&k->list, k->targets[i].peer_id))
            release_target(k, i);
}

void ls__known_publish(ls__known_t *k)
{
    uv_mutex_lock(&k->view_lock);
    memcpy(k->view, k->list.peers, sizeof k->view[0] * k->list.count);
    size_t n = k->list.count;
    qsort(k->view, n, sizeof k->view[0], by_last_seen);
    for (size_t i = 0; i < *k->config.added_count; i++) {
        const ls__dial_target_t *t = &k->config.added[i];
        ls_known_peer_t *same = NULL;
        for (size_t j = 0; j < n && !same; j++)
            if ((t->peer_id[0] && strcmp(k->view[j].peer_id, t->peer_id) == 0) ||
                strcmp(k->view[j].address, t->address) == 0)
                same = &k->view[j];
        if (!same) {
            same = &k->view[n++];
            *same = (ls_known_peer_t){.is_connected = false};
            snprintf(same->address, sizeof same->address, "%s", t->address);
            snprintf(same->peer_id, sizeof same->peer_id, "%s", t->peer_id);
        }
        same->is_added = true;
    }
    k->view_count = n;
    uv_mutex_unlock(&k->view_lock);
}

size_t ls__known_copy(ls__known_t *k, ls_known_peer_t *out, size_t max)
{
    uv_mutex_lock(&k->view_lock);
    size_t n = k->view_count;
    memcpy(out, k->view, sizeof *out * (n < max ? n : max));
    uv_mutex_unlock(&k->view_lock);
    return n;
}

static void queue_save(ls__known_t *k);
static void save_timer_cb(uv_timer_t *timer);

static void save_work_cb(uv_work_t *req)
{
    ls__known_save_job_t *job = req->data;
    job->rc = ls_fs_write_atomic(job->path, job->text, strlen(job->text));
}

static void save_done_cb(uv_work_t *req, int status)
{
    ls__known_save_job_t *job = req->data;
    ls__known_t *k = job->known;
    (void)status;
    if (job->rc != 0)
        ls_warn("peer", "cannot save the remembered peers in %s: %s", job->path,
                ls_strerror(job->rc));
    free(job->path);
    free(job->text);
    free(job);
    k->is_saving = false;
    if (!k->is_dirty)
        return;
    if (k->is_stopped)
        queue_save(k);
    else
        uv_timer_start(&k->save_timer, save_timer_cb, LS_KNOWN_SAVE_DELAY_MS, 0);
}

/* The text is made here, on the loop thread; the write (and its fsyncs)
 * runs on the pool. One save at a time, so they land in order. */
static void queue_save(ls__known_t *k)
{
    ls__known_save_job_t *job = calloc(1, sizeof *job);
    if (job) {
        job->known = k;
        job->path = ls_path_join(k->state_dir, LS_KNOWN_PEERS_FILE);
        job->text = ls__known_format(&k->list);
        job->req.data = job;
    }
    if (!job || !job->path || !job->text ||
        ls_workq_queue(k->config.loop, &job->req, LS_WORKQ_LATENCY, save_work_cb, save_done_cb) !=
            0) {
        ls_warn("peer", "cannot save the remembered peers: out of memory");
        if (job) {
            free(job->path);
            free(job->text);
        }
        free(job);
        return;
    }
    k->is_dirty = false;
    k->is_saving = true;
}

static void save_timer_cb(uv_timer_t *timer)
{
    queue_save(timer->data);
}

static void schedule_save(ls__known_t *k)
{
    k->is_dirty = true;
    if (k->is_saving)
        return; /* the running save reschedules when it ends */
    if (k->is_stopped)
        queue_save(k);
    else if (!uv_is_active((uv_handle_t *)&k->save_timer))
        uv_timer_start(&k->save_timer, save_timer_cb, LS_KNOWN_SAVE_DELAY_MS, 0);
}

static void dial_timer_cb(uv_timer_t *timer)
{
    ls__known_dial_due(timer->data);
}

/* The timer wakes for the next target's dial time: the start's first dials
 * (LS_KNOWN_FIRST_DIAL_MS on, spread) waited for the runtime's reconnect
 * tick (reconnect_ms, 2 s), so a restarted peer without mDNS met its party
 * only then. */
void ls__known_dial_due(ls__known_t *k)
{
    uint64_t now = ls__links_now(k->config.links), next = 0;
    for (size_t i = 0; i < LS_KNOWN_PEERS_MAX; i++) {
        if (!k->is_used[i])
            continue;
        ls__links_dial_if_due(k->config.links, &k->targets[i]);
        uint64_t at = k->targets[i].next_dial_ms;
        if (at > now && (next == 0 || at < next))
            next = at;
    }
    if (next != 0 && !k->is_stopped)
        uv_timer_start(&k->dial_timer, dial_timer_cb, next - now, 0);
}

bool ls__known_sizes_party(size_t remembered, size_t remembered_linked)
{
    size_t enough = remembered < LS_PEER_LINKS_TARGET_AUTO ? remembered : LS_PEER_LINKS_TARGET_AUTO;
    return remembered > 0 && remembered <= LS_PEER_FULL_MESH_MAX && remembered_linked >= enough;
}

static void forget_start(ls__known_t *k)
{
    free(k->start_ids);
    free(k->is_start_linked);
    k->start_ids = NULL;
    k->is_start_linked = NULL;
    k->start_count = 0;
}

/* One pass over the start list (at most LS_KNOWN_PEERS_MAX) per new link,
 * until the party is sized. */
static void note_start_linked(ls__known_t *k, const char *peer_id)
{
    for (size_t i = 0; i < k->start_count; i++) {
        if (k->is_start_linked[i] || strcmp(k->start_ids[i], peer_id) != 0)
            continue;
        k->is_start_linked[i] = true;
        k->start_linked++;
        if (ls__known_sizes_party(k->start_count, k->start_linked)) {
            ls_info("peer", "%zu of the %zu peers remembered are back: the party is sized",
                    k->start_linked, k->start_count);
            ls__links_party_sizing(k->config.links, true);
            forget_start(k);
        }
        return;
    }
}

void ls__known_seen(ls__known_t *k, const char *peer_id, const char *address, const char *name)
{
    note_start_linked(k, peer_id);
    if (!ls_peer_address_is_valid(address))
        return; /* nothing to dial it back at */
    ls_known_peer_t *p = ls__known_list_seen(&k->list, peer_id, address, name, now_s());
    if (!p)
        return;
    p->is_connected = true;
    release_orphans(k);
    aim_target(k, p, ls__links_now(k->config.links));
    schedule_save(k);
    ls__known_publish(k);
}

void ls__known_lost(ls__known_t *k, const char *peer_id)
{
    ls_known_peer_t *p = ls__known_list_find(&k->list, peer_id);
    if (!p)
        return;
    p->is_connected = false;
    p->last_seen = now_s();
    schedule_save(k);
    ls__known_publish(k);
}

size_t ls__known_forget(ls__known_t *k, const char *what)
{
    size_t n = ls__known_list_forget(&k->list, what);
    if (n > 0) {
        release_orphans(k);
        schedule_save(k);
    }
    ls__known_publish(k);
    return n;
}

int ls__known_new(const ls__known_config_t *config, ls__known_t **out)
{
    ls__known_t *k = calloc(1, sizeof *k);
    *out = NULL;
    if (!k)
        return LS_ENOMEM;
    k->config = *config;
    k->state_dir = strdup(config->state_dir);
    if (!k->state_dir) {
        free(k);
        return LS_ENOMEM;
    }
    uv_mutex_init(&k->view_lock);
    uv_timer_init(config->loop, &k->save_timer);
    k->save_timer.data = k;
    uv_timer_init(config->loop, &k->dial_timer);
    k->dial_timer.data = k;
    ls__known_load(k->state_dir, &k->list);
    /* the most recently seen are dialled first, the rest spread out */
    ls_known_peer_t *sorted = k->view; /* scratch until the first publish */
    memcpy(sorted, k->list.peers, sizeof *sorted * k->list.count);
    qsort(sorted, k->list.count, sizeof *sorted, by_last_seen);
    uint64_t now = ls__links_now(config->links);
    for (size_t i = 0; i < k->list.count; i++)
        aim_target(k, &sorted[i], now + LS_KNOWN_FIRST_DIAL_MS + i * LS_KNOWN_DIAL_SPREAD_MS);
    if (k->list.count > 0)
        ls_info("peer", "%zu remembered peers to dial", k->list.count);
    /* Without memory for it, the party is sized as without remembered
     * peers: by mDNS. */
    k->start_ids = k->list.count ? calloc(k->list.count, sizeof *k->start_ids) : NULL;
    k->is_start_linked = k->list.count ? calloc(k->list.count, sizeof *k->is_start_linked) : NULL;
    if (k->start_ids && k->is_start_linked) {
        for (size_t i = 0; i < k->list.count; i++)
            memcpy(k->start_ids[i], k->list.peers[i].peer_id, sizeof k->start_ids[i]);
        k->start_count = k->list.count;
    } else {
        forget_start(k);
    }
    ls__known_publish(k);
    *out = k;
    return 0;
}

void ls__known_stop(ls__known_t *k)
{
    if (!k || k->is_stopped)
        return;
    int64_t now = now_s();
    for (size_t i = 0; i < k->list.count; i++)
        if (k->list.peers[i].is_connected) {
            k->list.peers[i].last_seen = now;
            k->is_dirty = true;
        }
    k->is_stopped = true;
    uv_timer_stop(&k->save_timer);
    uv_close((uv_handle_t *)&k->save_timer, NULL);
    uv_timer_stop(&k->dial_timer);
    uv_close((uv_handle_t *)&k->dial_timer, NULL);
    if (k->is_dirty && !k->is_saving)
        queue_save(k);
}

void ls__known_free(ls__known_t *k)
{
    if (!k)
        return;
    uv_mutex_destroy(&k->view_lock);
    forget_start(k);
    free(k->state_dir);
    free(k);
}
