/* Helpers shared by the libFuzzer targets in fuzz/ (see FUZZING.md). */
#ifndef PARLOR_FUZZ_H
#define PARLOR_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A property of the code under test that does not hold: a finding, reported
 * like a crash so libFuzzer saves the input. */
#define FUZZ_CHECK(cond) do { if (!(cond)) { \
    fprintf(stderr, "fuzz check failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
    abort(); } } while (0)

/* Split data[0..size) at every `sep` byte into at most `max` NUL-terminated
 * parts (the last part keeps any further separators).  The parts live in one
 * allocation returned in *mem (free it); returns the part count. */
static inline int fuzz_split(const uint8_t *data, size_t size, char sep, char **parts, int max,
                             char **mem)
{
    char *copy = malloc(size + 1);
    if (!copy)
        abort();
    for (size_t i = 0; i < size; i++)
        copy[i] = (char)data[i];
    copy[size] = '\0';
    *mem = copy;
    int n = 0;
    char *p = copy;
    parts[n++] = p;
    for (size_t i = 0; i < size && n < max; i++)
        if (copy[i] == sep) {
            copy[i] = '\0';
            parts[n++] = copy + i + 1;
        }
    return n;
}

#endif
