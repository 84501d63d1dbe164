/* A small cache of scratch buffers shared by every kernel: a few slots, the smallest fitting
 * buffer is handed out, and a released buffer replaces the smallest cached one if it is larger. */
#include "backend/scratch.h"
#include "core/core.h"

#include <pthread.h>

enum { SLOTS = 4 };

static struct {
    pthread_mutex_t lock;
    float *buffer[SLOTS];
    size_t floats[SLOTS];
} cache = {.lock = PTHREAD_MUTEX_INITIALIZER};

float *scratch_acquire(size_t floats, size_t *capacity)
{
    float *buffer = NULL;
    pthread_mutex_lock(&cache.lock);
    int best = -1;
    for (int s = 0; s < SLOTS; s++)
        if (cache.buffer[s] && cache.floats[s] >= floats &&
            (best < 0 || cache.floats[s] < cache.floats[best]))
            best = s;
    if (best >= 0) {
        buffer = cache.buffer[best];
        *capacity = cache.floats[best];
        cache.buffer[best] = NULL;
        cache.floats[best] = 0;
    }
    pthread_mutex_unlock(&cache.lock);
    if (!buffer) {
        buffer = spdf_aligned_alloc(sizeof(float) * (floats ? floats : 1));
        *capacity = floats;
    }
    return buffer;
}

void scratch_release(float *buffer, size_t capacity)
{
    if (!buffer) return;
    pthread_mutex_lock(&cache.lock);
    int smallest = 0;
    for (int s = 1; s < SLOTS; s++)
        if (!cache.buffer[s] || (cache.buffer[smallest] && cache.floats[s] < cache.floats[smallest]))
            smallest = s;
    if (!cache.buffer[smallest] || cache.floats[smallest] < capacity) {
        float *old = cache.buffer[smallest];
        cache.buffer[smallest] = buffer;
        cache.floats[smallest] = capacity;
        buffer = old;
    }
    pthread_mutex_unlock(&cache.lock);
    spdf_aligned_free(buffer);
}
