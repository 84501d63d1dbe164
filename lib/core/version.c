/* Runtime version of the loaded library, to compare with the SPDF_VERSION_* macros. */
#include "core.h"

unsigned spdf_version_number(void) { return SPDF_VERSION_NUMBER; }

const char *spdf_version_string(void) { return SPDF_VERSION_STRING; }
