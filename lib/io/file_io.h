/* File helpers shared by every reader and writer in lib/io: error reporting and the atomic
 * replacement of a file (temporary file, fsync, rename). */
#ifndef SPDF_FILE_IO_H
#define SPDF_FILE_IO_H

#include "spdf.h"

#include <stdint.h>
#include <stdio.h>

/* Records "cannot <what> <kind> '<path>': <strerror(err)>" and returns SPDF_EIO.  kind names
 * the file ("checkpoint", "token file"); it may be "". */
spdf_status io_fail(int err, const char *what, const char *kind, const char *path);

/* Records "<kind> '<path>': <problem>" (kind: "checkpoint", "safetensors file", ...) and
 * returns SPDF_EFORMAT: a binary file that is malformed. */
spdf_status file_format_fail(const char *kind, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Records "<path>:<line>: <problem>" and returns SPDF_EFORMAT: a syntax error in a text file. */
spdf_status file_syntax_fail(const char *path, int64_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Produces a file's content into `file` (the temporary file tmp_path). */
typedef spdf_status (*file_writer)(FILE *file, const char *tmp_path, void *context);

/* Writes through `write` into "<path>.tmp.<pid>.<n>" (created exclusively, mode 0666 less the
 * umask), flushes it to disk and renames it over path, then syncs the directory.  First removes
 * the "<path>.tmp.*" files of processes that no longer exist (saves killed mid-way).  Readers see
 * the old file or the complete new one, never a partial file; on any failure the temporary
 * file is removed and path is untouched. */
spdf_status write_file_atomically(const char *path, const char *kind, file_writer write,
                                  void *context);

#endif
