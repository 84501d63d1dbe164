/* The smallest libspdf program: prints the library version and the compiled-in backends, and which
 * one a default context picks on this machine (SPDF_BACKEND overrides the choice). */
#include <spdf.h>

#include <stdio.h>

int main(void)
{
    printf("libspdf %s (built against header %s)\n", spdf_version_string(), SPDF_VERSION_STRING);

    int32_t count = 0;
    if (spdf_backend_count(&count) != SPDF_OK) {
        fprintf(stderr, "spdf_backend_count: %s\n", spdf_last_error());
        return 1;
    }
    printf("backends compiled in: %d\n", (int)count);
    for (int32_t i = 0; i < count; i++) {
        const char *name = NULL;
        int32_t available = 0;
        if (spdf_backend_name(i, &name) != SPDF_OK ||
            spdf_backend_available(name, &available) != SPDF_OK) {
            fprintf(stderr, "backend %d: %s\n", (int)i, spdf_last_error());
            return 1;
        }
        printf("  %-6s %s\n", name, available ? "available" : "not available on this machine");
    }

    spdf_context *ctx = NULL;
    const spdf_status status = spdf_context_create(NULL, &ctx);
    if (status != SPDF_OK) {
        fprintf(stderr, "spdf_context_create: %s: %s\n", spdf_status_name(status), spdf_last_error());
        return 1;
    }
    const char *backend = NULL;
    int32_t threads = 0;
    spdf_context_backend(ctx, &backend);
    spdf_context_num_threads(ctx, &threads);
    printf("default context: backend %s, %d threads\n", backend, (int)threads);
    spdf_context_free(ctx);
    return 0;
}
