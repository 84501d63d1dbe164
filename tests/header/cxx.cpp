/* The public header from C++11: it compiles without warnings under -pedantic, declares the
 * functions with C linkage, and a call links against the shared library. */
#include <spdf.h>

int main()
{
    const char *runtime = spdf_version_string();
    const char *compiled = SPDF_VERSION_STRING;
    if (runtime == nullptr) return 1;
    for (; *runtime != '\0' && *runtime == *compiled; ++runtime, ++compiled) {
    }
    if (*runtime != *compiled) return 2;
    if (spdf_version_number() != SPDF_VERSION_NUMBER) return 3;
    spdf_context_config config;
    if (spdf_context_config_init(&config) != SPDF_OK || config.struct_size != sizeof config) return 4;
    return 0;
}
