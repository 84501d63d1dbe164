/* Numbered checkpoints (checkpoint_series.h). */
#include "checkpoint_series.h"

#include "cli.h"
#include "distributed.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STEP_SUFFIX ".step-"

static int by_step(const void *a, const void *b)
{
    const int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The steps of the numbered files of path in its directory, ascending (malloc'd). */
static int64_t *numbered_steps(const char *dir, const char *base, int *count)
{
    *count = 0;
    DIR *d = opendir(dir);
    if (!d) return NULL;
    int64_t *steps = NULL;
    int capacity = 0;
    const size_t prefix = strlen(base) + strlen(STEP_SUFFIX);
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (strncmp(e->d_name, base, strlen(base)) != 0 || strncmp(e->d_name + strlen(base), STEP_SUFFIX,
                                                                    strlen(STEP_SUFFIX)) != 0)
            continue;
        const char *digits = e->d_name + prefix;
        char *end = NULL;
        const long long step = strtoll(digits, &end, 10);
        if (end == digits || *end != '\0' || step < 0 || strlen(digits) != 9) continue;
        if (*count == capacity) {
            capacity = capacity ? 2 * capacity : 16;
            int64_t *grown = realloc(steps, (size_t)capacity * sizeof *steps);
            if (!grown) break;
            steps = grown;
        }
        steps[(*count)++] = step;
    }
    closedir(d);
    if (steps) qsort(steps, (size_t)*count, sizeof *steps, by_step);
    return steps;
}

int checkpoint_series_add(const char *path, int64_t step, int32_t keep)
{
    if (keep <= 0 || !distributed_is_root()) return EXIT_OK;
    const size_t n = strlen(path);
    char *numbered = malloc(n + 32), *dir = strdup(path);
    if (!numbered || !dir) {
        free(numbered);
        free(dir);
        cli_error("out of memory");
        return EXIT_FAILURE_RUNTIME;
    }
    snprintf(numbered, n + 32, "%s" STEP_SUFFIX "%09lld", path, (long long)step);
    int code = EXIT_OK;
    if (unlink(numbered) != 0 && errno != ENOENT) code = EXIT_FAILURE_RUNTIME;
    if (code == EXIT_OK && link(path, numbered) != 0) code = EXIT_FAILURE_RUNTIME;
    if (code != EXIT_OK) cli_error("cannot keep the checkpoint as '%s': %s", numbered, strerror(errno));
    char *slash = strrchr(dir, '/');
    const char *base = slash ? slash + 1 : dir;
    if (slash) *slash = '\0';
    int count = 0;
    int64_t *steps = code == EXIT_OK ? numbered_steps(slash ? (dir[0] ? dir : "/") : ".", base, &count) : NULL;
    for (int i = 0; i + keep < count; i++) { /* the oldest go */
        snprintf(numbered, n + 32, "%s" STEP_SUFFIX "%09lld", path, (long long)steps[i]);
        if (unlink(numbered) != 0 && errno != ENOENT) {
            cli_error("cannot remove the old checkpoint '%s': %s", numbered, strerror(errno));
            code = EXIT_FAILURE_RUNTIME;
        }
    }
    free(steps);
    free(numbered);
    free(dir);
    return code;
}
