/* The context: which backend computes and with how many threads.  Shared by all models made
 * from it. */
#ifndef SPDF_CONTEXT_H
#define SPDF_CONTEXT_H

#include "backend/backend.h"
#include "spdf.h"

struct spdf_context {
    uint32_t tag; /* HANDLE_CONTEXT (core/core.h), first */
    const spdf_backend_ops *ops; /* points at `resolved` */
    spdf_backend_ops resolved;   /* the chosen backend, its NULL entries filled from "ref" */
    int num_threads; /* resolved: always >= 1 */
};

#endif
