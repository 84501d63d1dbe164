/* A program built the way a user of the installed library builds one: `pkg-config --cflags --libs
 * spdf`.  Prints the runtime version and fails if it differs from the installed header's. */
#include <spdf.h>

#include <stdio.h>
#include <string.h>

int main(void)
{
    const char *version = spdf_version_string();
    printf("libspdf %s\n", version);
    if (strcmp(version, SPDF_VERSION_STRING) != 0 || spdf_version_number() != SPDF_VERSION_NUMBER) {
        fprintf(stderr, "header %s and library %s disagree\n", SPDF_VERSION_STRING, version);
        return 1;
    }
    spdf_context *ctx = NULL;
    const char *backend = NULL;
    if (spdf_context_create(NULL, &ctx) != SPDF_OK || spdf_context_backend(ctx, &backend) != SPDF_OK) {
        fprintf(stderr, "context: %s\n", spdf_last_error());
        return 1;
    }
    printf("backend %s\n", backend);
    spdf_context_free(ctx);
    return 0;
}
