/* common/config.c: the configuration file parser (config_load_file), one
 * setting at a time (config_set), and the command line (config_parse_args).
 * The input is the file; its lines are also tried as "name value" settings
 * and, split at spaces, as an argument vector. */
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/config.h"
#include "fuzz/fuzz.h"

#define MAX_ARGS 32

static void check_config(const struct parlor_config *c)
{
    FUZZ_CHECK(c->nlisten >= 0 && c->nlisten <= CONFIG_MAX_LISTEN);
    for (int i = 0; i < c->nlisten; i++) {
        FUZZ_CHECK(memchr(c->listen[i].host, '\0', sizeof c->listen[i].host));
        FUZZ_CHECK(c->listen[i].port >= 1 && c->listen[i].port <= 65535);
    }
    FUZZ_CHECK(c->workers >= 1 && c->workers <= 64);
    FUZZ_CHECK(c->line_length >= 512 && c->line_length <= 4096);
    FUZZ_CHECK(memchr(c->server_name, '\0', sizeof c->server_name) && c->server_name[0]);
    FUZZ_CHECK(memchr(c->motd, '\0', sizeof c->motd));
    FUZZ_CHECK(memchr(c->database, '\0', sizeof c->database));
}

/* getopt_long takes abbreviations: "--conf" is --config.  Options that read
 * another file or print and return are not for this target. */
static bool harmless(const char *arg)
{
    static const char *const skip[] = { "config", "check-config", "help", "version" };
    if (strncmp(arg, "--", 2) != 0)
        return true;
    size_t n = strcspn(arg + 2, "=");
    for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++)
        if (strncmp(arg + 2, skip[i], n) == 0)
            return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct parlor_config c;
    char err[512];

    /* 1. As a file. */
    int fd = memfd_create("parlord.conf", 0);
    FUZZ_CHECK(fd >= 0);
    FUZZ_CHECK(write(fd, data, size) == (ssize_t)size);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    config_defaults(&c);
    if (config_load_file(&c, path, err, sizeof err) == 0)
        check_config(&c);
    else
        FUZZ_CHECK(memchr(err, '\0', sizeof err));
    close(fd);

    /* 2. Each line as "name value". */
    char *mem, *lines[64];
    int n = fuzz_split(data, size, '\n', lines, 64, &mem);
    config_defaults(&c);
    for (int i = 0; i < n; i++) {
        char *sp = strchr(lines[i], ' ');
        if (!sp)
            continue;
        *sp = '\0';
        if (config_set(&c, lines[i], sp + 1, err, sizeof err) < 0)
            FUZZ_CHECK(memchr(err, '\0', sizeof err));
        *sp = ' ';
    }
    check_config(&c);
    free(mem);

    /* 3. As arguments. */
    char *args[MAX_ARGS + 1], *argv[MAX_ARGS + 2];
    n = fuzz_split(data, size, ' ', args, MAX_ARGS, &mem);
    int argc = 0;
    argv[argc++] = "parlord";
    for (int i = 0; i < n; i++)
        if (harmless(args[i]))
            argv[argc++] = args[i];
    argv[argc] = NULL;
    config_defaults(&c);
    if (config_parse_args(&c, argc, argv, err, sizeof err) == 0)
        check_config(&c);
    free(mem);
    return 0;
}
