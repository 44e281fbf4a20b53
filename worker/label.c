/* IRCv3 labeled-response.
 *
 * A client that negotiated `labeled-response` (and `batch`) may tag a
 * command with `label=X`; everything the server sends in response comes back
 * with that label: one line tagged, several lines in a `labeled-response`
 * batch, nothing as `ACK`.
 *
 * When a response is complete is decided by worker/order.c, which holds
 * every command's later input until the paths it used (a room's owner, a
 * nick's route, the store) have answered its fences.  Meanwhile the labeled
 * command's responses are collected here; lines that are not responses
 * (other people's messages, W.unsolicited) are delivered as usual. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "worker/worker_int.h"

static uint32_t next_batch;

bool label_capturing(const struct client *c)
{
    return c->label[0] != '\0';
}

void label_begin(struct client *c, const char *label)
{
    snprintf(c->label, sizeof c->label, "%s", label);
    buf_clear(&c->label_out);
    c->label_batch = ++next_batch;
}

/* Add `tag` to a line that may already have tags. */
static void append_tagged(struct buf *out, const char *tag, const char *line, size_t len)
{
    if (len && line[0] == '@') {
        buf_append_byte(out, '@');
        buf_append_str(out, tag);
        buf_append_byte(out, ';');
        buf_append(out, line + 1, len - 1);
    } else {
        buf_appendf(out, "@%s ", tag);
        buf_append(out, line, len);
    }
}

/* The command is complete (worker/order.c): send what was collected. */
void label_finish(struct client *c)
{
    char tag[128];
    snprintf(tag, sizeof tag, "label=%s", c->label);
    struct buf out = BUF_INIT;
    const char *p = c->label_out.data;
    size_t left = c->label_out.len;
    int lines = 0;
    for (size_t i = 0; i < left; i++)
        lines += p[i] == '\n';
    if (lines == 0) {
        buf_appendf(&out, "@%s :%s ACK\r\n", tag, W.cfg->server_name);
    } else if (lines == 1) {
        append_tagged(&out, tag, p, left);
    } else {
        char ref[16], btag[32];
        snprintf(ref, sizeof ref, "L%u", c->label_batch);
        snprintf(btag, sizeof btag, "batch=%s", ref);
        buf_appendf(&out, "@%s :%s BATCH +%s labeled-response\r\n", tag, W.cfg->server_name, ref);
        while (left) {
            const char *nl = memchr(p, '\n', left);
            size_t n = nl ? (size_t)(nl - p) + 1 : left;
            /* Lines inside a nested batch (chathistory) keep their own batch
             * tag: only the nested batch's opening line joins ours. */
            const char *sp = n && p[0] == '@' ? memchr(p, ' ', n) : NULL;
            bool nested = false;
            for (const char *t = p + 1; sp && t < sp; t++)
                if ((t == p + 1 || t[-1] == ';') && strncmp(t, "batch=", 6) == 0)
                    nested = true;
            if (nested)
                buf_append(&out, p, n);
            else
                append_tagged(&out, btag, p, n);
            p += n;
            left -= n;
        }
        buf_appendf(&out, ":%s BATCH -%s\r\n", W.cfg->server_name, ref);
    }
    c->label[0] = '\0';
    buf_clear(&c->label_out);
    buf_shrink(&c->label_out, 0);
    client_send(c, out.data, out.len);
    buf_free(&out);
}
