/* A main() for the harnesses outside libFuzzer: runs LLVMFuzzerTestOneInput once on every file
 * named on the command line or found directly in a directory named there (in name order).  The
 * normal test suites use it to replay the seed and regression corpora under gcc, with and
 * without the sanitizers; a failing property aborts, and the test fails with it. */
#include "fuzz_support.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int replay_file(const char *path)
{
    FILE *file = fopen(path, "rb");
    if (!file) {
        fprintf(stderr, "cannot open %s\n", path);
        return -1;
    }
    size_t size = 0, capacity = 4096;
    uint8_t *data = malloc(capacity);
    for (size_t n; data && (n = fread(data + size, 1, capacity - size, file)) > 0;) {
        size += n;
        if (size == capacity) {
            uint8_t *grown = realloc(data, capacity *= 2);
            if (!grown) free(data);
            data = grown;
        }
    }
    const int failed = !data || ferror(file);
    fclose(file);
    if (failed) {
        free(data);
        fprintf(stderr, "cannot read %s\n", path);
        return -1;
    }
    LLVMFuzzerTestOneInput(data, size);
    free(data);
    return 0;
}

static int skip_entry(const struct dirent *entry) { return entry->d_name[0] != '.'; }

/* Replays the regular files directly inside dir; returns how many, or -1. */
static int replay_directory(const char *dir)
{
    struct dirent **entries = NULL;
    const int count = scandir(dir, &entries, skip_entry, alphasort);
    if (count < 0) {
        fprintf(stderr, "cannot list %s\n", dir);
        return -1;
    }
    int replayed = 0;
    for (int i = 0; i < count; i++) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, entries[i]->d_name);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            if (replay_file(path) != 0) replayed = -1;
            else if (replayed >= 0) replayed++;
        }
        free(entries[i]);
    }
    free(entries);
    return replayed;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE_OR_DIRECTORY...\n", argv[0]);
        return 2;
    }
    int total = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        const int n = stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode) ? replay_directory(argv[i])
                                                                       : (replay_file(argv[i]) == 0 ? 1 : -1);
        if (n < 0) return 1;
        total += n;
    }
    if (total == 0) {
        fprintf(stderr, "no inputs to replay\n");
        return 1;
    }
    printf("replayed %d inputs\n", total);
    return 0;
}
