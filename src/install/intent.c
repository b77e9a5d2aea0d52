/* The intent log .lanspread.json: a strict, bounded codec and its atomic
 * read and write. Recovery trusts what it decodes, so anything unexpected
 * is refused rather than guessed at. */
#include "lanspread/install.h"

#include "lanspread/error.h"
#include "lanspread/fsutil.h"
#include "lanspread/path.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    ls_install_op_t op;
    const char *name;
} op_names[] = {
    {LS_INSTALL_OP_INSTALL, "install"},
    {LS_INSTALL_OP_UPDATE, "update"},
    {LS_INSTALL_OP_UNINSTALL, "uninstall"},
};

/* `may_own`: the folders an operation may have created by that phase; an
 * intent claiming more is refused, since recovery deletes what it owns. */
static const struct {
    ls_install_phase_t phase;
    ls_install_op_t op;
    const char *name;
    unsigned may_own;
} phase_names[] = {
    {LS_PHASE_UNPACKING, LS_INSTALL_OP_INSTALL, "unpacking", LS_OWNS_INSTALLING},
    {LS_PHASE_COMMITTING, LS_INSTALL_OP_INSTALL, "committing", LS_OWNS_INSTALLING},
    {LS_PHASE_UNPACKING, LS_INSTALL_OP_UPDATE, "unpacking", LS_OWNS_INSTALLING},
    {LS_PHASE_SWAPPING, LS_INSTALL_OP_UPDATE, "swapping", LS_OWNS_INSTALLING | LS_OWNS_BACKUP},
    {LS_PHASE_CLEANUP, LS_INSTALL_OP_UPDATE, "cleanup", LS_OWNS_BACKUP},
    {LS_PHASE_MOVING, LS_INSTALL_OP_UNINSTALL, "moving", LS_OWNS_BACKUP},
    {LS_PHASE_REMOVING, LS_INSTALL_OP_UNINSTALL, "removing", LS_OWNS_BACKUP},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

const char *ls_install_op_name(ls_install_op_t op)
{
    for (size_t i = 0; i < COUNT(op_names); i++)
        if (op_names[i].op == op)
            return op_names[i].name;
    return "unknown";
}

const char *ls_install_phase_name(ls_install_phase_t phase)
{
    for (size_t i = 0; i < COUNT(phase_names); i++)
        if (phase_names[i].phase == phase)
            return phase_names[i].name;
    return "unknown";
}

/* The folders `phase` of `op` may own, or 0 when the phase is not one of op's. */
static unsigned phase_may_own(ls_install_phase_t phase, ls_install_op_t op)
{
    for (size_t i = 0; i < COUNT(phase_names); i++)
        if (phase_names[i].phase == phase && phase_names[i].op == op)
            return phase_names[i].may_own;
    return 0;
}

static int refuse(char *detail, size_t detail_len, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int refuse(char *detail, size_t detail_len, int code, const char *fmt, ...)
{
    if (detail && detail_len > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(detail, detail_len, fmt, ap);
        va_end(ap);
    }
    return code;
}

static int decode_owns(json_t *owns, unsigned *out, char *detail, size_t detail_len)
{
    size_t i;
    json_t *v;
    *out = 0;
    if (!json_is_array(owns) || json_array_size(owns) > 2)
        return refuse(detail, detail_len, LS_EINTENT, "owns: not an array of at most 2 names");
    json_array_foreach(owns, i, v)
    {
        const char *s = json_string_value(v);
        unsigned bit = 0;
        if (s && strcmp(s, LS_INSTALLING_DIR) == 0)
            bit = LS_OWNS_INSTALLING;
        else if (s && strcmp(s, LS_BACKUP_DIR) == 0)
            bit = LS_OWNS_BACKUP;
        if (bit == 0 || (*out & bit))
            return refuse(detail, detail_len, LS_EINTENT, "owns[%zu]: unknown or repeated", i);
        *out |= bit;
    }
    return 0;
}

static int decode_object(json_t *root, ls_intent_t *out, char *detail, size_t detail_len)
{
    const char *key;
    json_t *v;
    json_t *format = NULL, *op = NULL, *phase = NULL, *owns = NULL;
    if (!json_is_object(root))
        return refuse(detail, detail_len, LS_EINTENT, "not a JSON object");
    json_object_foreach(root, key, v)
    {
        if (strcmp(key, "format") == 0)
            format = v;
        else if (strcmp(key, "op") == 0)
            op = v;
        else if (strcmp(key, "phase") == 0)
            phase = v;
        else if (strcmp(key, "owns") == 0)
            owns = v;
        else
            return refuse(detail, detail_len, LS_EINTENT, "unknown field");
    }
    if (!format || !op || !phase || !owns)
        return refuse(detail, detail_len, LS_EINTENT, "missing field");
    if (!json_is_integer(format))
        return refuse(detail, detail_len, LS_EINTENT, "format: not an integer");
    if (json_integer_value(format) != LS_INTENT_FORMAT)
        return refuse(detail, detail_len, LS_EVERSION, "format %lld is not supported",
                      (long long)json_integer_value(format));
    const char *op_s = json_string_value(op);
    const char *phase_s = json_string_value(phase);
    out->op = 0;
    for (size_t i = 0; op_s && i < COUNT(op_names); i++)
        if (strcmp(op_s, op_names[i].name) == 0)
            out->op = op_names[i].op;
    if (out->op == 0)
        return refuse(detail, detail_len, LS_EINTENT, "op: unknown");
    out->phase = 0;
    for (size_t i = 0; phase_s && i < COUNT(phase_names); i++)
        if (phase_names[i].op == out->op && strcmp(phase_s, phase_names[i].name) == 0)
            out->phase = phase_names[i].phase;
    if (out->phase == 0)
        return refuse(detail, detail_len, LS_EINTENT, "phase: unknown for this op");
    int rc = decode_owns(owns, &out->owns, detail, detail_len);
    if (rc == 0 && (out->owns & ~phase_may_own(out->phase, out->op)))
        return refuse(detail, detail_len, LS_EINTENT, "owns a folder this phase never creates");
    return rc;
}

int ls_intent_decode(const char *buf, size_t len, ls_intent_t *out, char *detail, size_t detail_len)
{
    json_error_t err;
    json_t *root;
    int rc;
    memset(out, 0, sizeof *out);
    if (!buf || len == 0)
        return refuse(detail, detail_len, LS_EINTENT, "empty");
    if (len > LS_INTENT_MAX)
        return refuse(detail, detail_len, LS_EINTENT, "larger than %d bytes", LS_INTENT_MAX);
    root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &err);
    if (!root)
        return refuse(detail, detail_len, LS_EINTENT, "JSON: %s", err.text);
    rc = decode_object(root, out, detail, detail_len);
    json_decref(root);
    if (rc != 0)
        memset(out, 0, sizeof *out);
    return rc;
}

int ls_intent_encode(const ls_intent_t *intent, char **out, size_t *out_len)
{
    json_t *root = NULL;
    json_t *owns = NULL;
    int rc = LS_ENOMEM;
    *out = NULL;
    unsigned may_own = phase_may_own(intent->phase, intent->op);
    if (may_own == 0 || (intent->owns & ~may_own))
        return LS_EINVAL;
    owns = json_array();
    if (!owns)
        goto out;
    if ((intent->owns & LS_OWNS_INSTALLING) &&
        json_array_append_new(owns, json_string(LS_INSTALLING_DIR)) != 0)
        goto out;
    if ((intent->owns & LS_OWNS_BACKUP) &&
        json_array_append_new(owns, json_string(LS_BACKUP_DIR)) != 0)
        goto out;
    root = json_pack("{s:i, s:s, s:s, s:O}", "format", LS_INTENT_FORMAT, "op",
                     ls_install_op_name(intent->op), "phase", ls_install_phase_name(intent->phase),
                     "owns", owns);
    if (!root)
        goto out;
    *out = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!*out)
        goto out;
    if (out_len)
        *out_len = strlen(*out);
    rc = 0;
out:
    json_decref(owns);
    json_decref(root);
    return rc;
}

int ls_intent_read(const char *game_root, ls_intent_t *out, char *detail, size_t detail_len)
{
    char *path = ls_path_join(game_root, LS_INTENT_FILE);
    char *buf = NULL;
    size_t len = 0;
    int rc;
    memset(out, 0, sizeof *out);
    if (!path)
        return LS_ENOMEM;
    rc = ls_fs_read_file(path, LS_INTENT_MAX, &buf, &len);
    if (rc == LS_ETOOBIG)
        rc = refuse(detail, detail_len, LS_EINTENT, "larger than %d bytes", LS_INTENT_MAX);
    else if (rc == LS_EINVAL)
        rc = refuse(detail, detail_len, LS_EINTENT, "not a regular file");
    else if (rc == 0)
        rc = ls_intent_decode(buf, len, out, detail, detail_len);
    free(buf);
    free(path);
    return rc;
}

int ls_intent_write(const char *game_root, const ls_intent_t *intent)
{
    char *path = ls_path_join(game_root, LS_INTENT_FILE);
    char *json = NULL;
    size_t len = 0;
    int rc = path ? ls_intent_encode(intent, &json, &len) : LS_ENOMEM;
    if (rc == 0)
        rc = ls_fs_write_atomic(path, json, len);
    free(json);
    free(path);
    return rc;
}
