/* The service pseudo-users (NickServ, HistServ, GameServ): one table.
 *
 * What every service shares lives here once: its nick is reserved, WHOIS on
 * it is answered locally, a message to it is echoed to an echo-message client
 * but never routed or stored (passwords go to NickServ), NOTICE and TAGMSG to
 * it are dropped, and a PRIVMSG is split into a verb and its arguments for
 * the service's own handler. */
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "worker/worker_int.h"

#define SERVICES_HOST "services.parlor.local"

struct service {
    const char *nick;
    const char *about;                       /* WHOIS real name */
    void (*command)(struct client *c, const char *verb, char *args);
};

static const struct service services[] = {
    { "NickServ", "Account services (/msg NickServ HELP)", account_service_command },
    { "HistServ", "History by day (/msg HistServ HELP)", history_service_command },
    { "GameServ", "Word-guessing game (/msg GameServ HELP)", game_service_command },
};
#define NSERVICES (sizeof services / sizeof services[0])

static const struct service *find(const char *nick)
{
    for (size_t i = 0; i < NSERVICES; i++)
        if (irc_casecmp(nick, services[i].nick) == 0)
            return &services[i];
    return NULL;
}

bool service_nick_reserved(const char *nick)
{
    return find(nick) != NULL;
}

bool service_message(struct client *c, const char *target, const char *cmd, const char *text)
{
    const struct service *s = find(target);
    if (!s)
        return false;
    bool tagmsg = strcmp(cmd, "TAGMSG") == 0;
    echo_unstored(c, cmd, s->nick, tagmsg ? NULL : text);
    if (strcmp(cmd, "PRIVMSG") != 0)
        return true;
    char line[IRC_LINE_MAX + 1];
    snprintf(line, sizeof line, "%s", text);
    char *save = NULL, *verb = strtok_r(line, " ", &save);
    char *args = save ? save : line + strlen(line);
    s->command(c, verb, args);
    memset(line, 0, sizeof line);            /* may have held a password */
    __asm__ __volatile__("" : : "r"(line) : "memory");
    return true;
}

bool service_whois(struct client *c, const char *nick)
{
    const struct service *s = find(nick);
    if (!s)
        return false;
    reply(c, "311", "%s %s " SERVICES_HOST " * :%s", s->nick, s->nick, s->about);
    reply(c, "312", "%s %s :Parlor services", s->nick, W.cfg->server_name);
    reply(c, "318", "%s :End of WHOIS list", s->nick);
    return true;
}

void service_notice(struct client *c, const char *service, const char *text)
{
    /* Long text continues on further NOTICEs, cut between UTF-8 characters. */
    size_t head = strlen(service) * 2 + strlen(SERVICES_HOST) + strlen(c->nick) + 14;
    size_t room = IRC_LINE_MAX > head ? IRC_LINE_MAX - head : 64;
    size_t len = strlen(text), pos = 0;
    do {
        size_t n = len - pos;
        if (n > room) {
            n = room;
            while (n > 0 && ((unsigned char)text[pos + n] & 0xc0) == 0x80)
                n--;
        }
        client_sendf(c, ":%s!%s@" SERVICES_HOST " NOTICE %s :%.*s\r\n", service, service,
                     c->nick, (int)n, text + pos);
        pos += n;
    } while (pos < len);
}
