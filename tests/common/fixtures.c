/* Fixtures the test programs share (fixtures.h). */
#include "fixtures.h"

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

spdf_context *test_context(const char *backend, int threads)
{
    spdf_context_config config;
    spdf_context_config_init(&config);
    config.backend = backend;
    config.num_threads = threads;
    spdf_context *ctx = NULL;
    const spdf_status status = spdf_context_create(&config, &ctx);
    /* Check's passing assertions talk to the test runner: a child process started without one
     * (the checkpoint tests' resume and crash roles) may only call it on failure. */
    if (status != SPDF_OK)
        ck_abort_msg("spdf_context_create(%s, %d): %s", backend ? backend : "default", threads,
                     spdf_last_error());
    return ctx;
}

char scratch_dir[4096];

void scratch_create(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(scratch_dir, sizeof scratch_dir, "%s/spdf-test-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(scratch_dir)) {
        perror("mkdtemp");
        abort();
    }
}

static void remove_tree(const char *path)
{
    DIR *dir = opendir(path);
    if (!dir) {
        unlink(path);
        return;
    }
    struct dirent *entry;
    char child[8192];
    while ((entry = readdir(dir)) != NULL) {
        if (!strcmp(entry->d_name, ".") || !strcmp(entry->d_name, "..")) continue;
        snprintf(child, sizeof child, "%s/%s", path, entry->d_name);
        remove_tree(child);
    }
    closedir(dir);
    rmdir(path);
}

void scratch_remove(void) { remove_tree(scratch_dir); }

const char *scratch_path(const char *name)
{
    static char paths[8][8192];
    static int next;
    char *path = paths[next++ % 8];
    snprintf(path, sizeof paths[0], "%s/%.255s", scratch_dir, name);
    return path;
}

int scratch_count(const char *needle)
{
    DIR *dir = opendir(scratch_dir);
    if (!dir) ck_abort_msg("cannot list the scratch directory %s", scratch_dir);
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL)
        if (entry->d_name[0] != '.' && strstr(entry->d_name, needle)) count++;
    closedir(dir);
    return count;
}

spdf_model *test_model_create(spdf_context *ctx, int32_t vocab, int32_t max_seq_len, int32_t layers,
                              int32_t heads, int32_t channels, uint64_t seed)
{
    spdf_model_config mc;
    spdf_model_config_init(&mc);
    mc.vocab_size = vocab;
    mc.max_seq_len = max_seq_len;
    mc.num_layers = layers;
    mc.num_heads = heads;
    mc.channels = channels;
    mc.seed = seed;
    spdf_model *model = NULL;
    ck_assert_int_eq(spdf_model_create(ctx, &mc, &model), SPDF_OK);
    return model;
}

void test_random_batch(int32_t *tokens, int32_t *targets, int n, int32_t vocab, unsigned seed)
{
    for (int i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        tokens[i] = (int32_t)((seed >> 16) % (unsigned)vocab);
        seed = seed * 1103515245u + 12345u;
        targets[i] = (int32_t)((seed >> 16) % (unsigned)vocab);
    }
}
