/* Numbered checkpoints (--keep-last K): after each save of CKPT, CKPT.step-N (N the step, zero
 * padded to 9 digits) names the same file, and only the K newest numbered ones are kept. */
#ifndef SPDF_CLI_CHECKPOINT_SERIES_H
#define SPDF_CLI_CHECKPOINT_SERIES_H

#include <stdint.h>

/* Links path as path.step-N (a hard link: no copy, and the next save of path, a rename over it,
 * leaves it alone), then removes the older numbered ones past `keep`.  keep 0 does nothing.
 * Rank 0 only.  Returns an exit code (one error line printed on failure). */
int checkpoint_series_add(const char *path, int64_t step, int32_t keep);

#endif /* SPDF_CLI_CHECKPOINT_SERIES_H */
