/* Status names and the thread-local error detail behind spdf_last_error(). */
#include "core.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char last_error[512];

const char *spdf_status_name(spdf_status status)
{
    switch (status) {
    case SPDF_OK: return "SPDF_OK";
    case SPDF_EINVAL: return "SPDF_EINVAL";
    case SPDF_ENOMEM: return "SPDF_ENOMEM";
    case SPDF_EIO: return "SPDF_EIO";
    case SPDF_EFORMAT: return "SPDF_EFORMAT";
    case SPDF_ESTATE: return "SPDF_ESTATE";
    case SPDF_EUNSUPPORTED: return "SPDF_EUNSUPPORTED";
    case SPDF_ENUMERIC: return "SPDF_ENUMERIC";
    case SPDF_EINTERNAL: return "SPDF_EINTERNAL";
    }
    return "SPDF_UNKNOWN";
}

const char *spdf_last_error(void) { return last_error; }

void spdf_clear_error(void) { last_error[0] = '\0'; }

spdf_status spdf_fail(spdf_status status, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, args);
    va_end(args);
    return status;
}

spdf_status spdf_check_struct_size(size_t struct_size, size_t min_size, const char *type_name)
{
    if (struct_size < min_size)
        return spdf_fail(SPDF_EINVAL,
                         "%s.struct_size is %zu, expected at least %zu: call the matching "
                         "_config_init() first",
                         type_name, struct_size, min_size);
    return SPDF_OK;
}

static const char *handle_kind(uint32_t tag)
{
    switch (tag) {
    case HANDLE_CONTEXT: return "a context";
    case HANDLE_MODEL: return "a model";
    case HANDLE_OPTIMIZER: return "an optimizer";
    case HANDLE_MASK: return "a mask";
    case HANDLE_PHASE: return "a phase";
    case HANDLE_TOKENIZER: return "a tokenizer";
    case HANDLE_DATASET: return "a dataset";
    case HANDLE_SAMPLER: return "a sampler";
    case HANDLE_BLEU: return "a BLEU accumulator";
    case HANDLE_TASK_DATA: return "a task data set";
    case HANDLE_FREED: return "a freed handle";
    }
    return "not a libspdf handle";
}

spdf_status spdf_check_handle(const void *handle, handle_tag tag, const char *function,
                              const char *name)
{
    if (!handle) return spdf_fail(SPDF_EINVAL, "%s: invalid argument: %s is NULL", function, name);
    uint32_t found;
    memcpy(&found, handle, sizeof found);
    if (found == (uint32_t)tag) return SPDF_OK;
    return spdf_fail(SPDF_EINVAL, "%s: %s must be %s handle, but it is %s", function, name,
                     handle_kind(tag), handle_kind(found));
}

int spdf_handle_is(const void *handle, handle_tag tag)
{
    uint32_t found;
    if (!handle) return 0;
    memcpy(&found, handle, sizeof found);
    return found == (uint32_t)tag;
}

void spdf_handle_poison(void *handle)
{
    const uint32_t freed = HANDLE_FREED;
    memcpy(handle, &freed, sizeof freed);
}

static size_t struct_size_of(const void *s)
{
    size_t size;
    memcpy(&size, s, sizeof size);
    return size;
}

spdf_status spdf_struct_read(void *into, size_t size, const void *from, size_t min_size,
                             const char *type_name)
{
    const size_t given = struct_size_of(from);
    SPDF_TRY(spdf_check_struct_size(given, min_size, type_name));
    for (size_t i = size; i < given; i++)
        if (((const unsigned char *)from)[i] != 0)
            return spdf_fail(SPDF_EUNSUPPORTED, "%s.struct_size is %zu, this libspdf knows %zu bytes "
                             "and the caller set members past them (built against a newer "
                             "libspdf?)", type_name, given, size);
    memcpy(into, from, given < size ? given : size);
    memcpy(into, &size, sizeof size);
    return SPDF_OK;
}

spdf_status spdf_struct_write(void *to, const void *result, size_t size, size_t min_size,
                              const char *type_name)
{
    const size_t given = struct_size_of(to);
    SPDF_TRY(spdf_check_struct_size(given, min_size, type_name));
    const size_t written = given < size ? given : size;
    memcpy((char *)to + sizeof given, (const char *)result + sizeof given, written - sizeof given);
    memcpy(to, &written, sizeof written);
    return SPDF_OK;
}
