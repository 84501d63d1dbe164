/* Error reporting for file operations and malformed files, and the atomic replacement of a file. */
#include "io/file_io.h"
#include "core/core.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* strerror is not required to be thread-safe; strerror_r comes in a GNU and an XSI flavour. */
static const char *error_text(int err, char *buf, size_t size)
{
#if defined(__GLIBC__) && defined(_GNU_SOURCE)
    return strerror_r(err, buf, size);
#else
    if (strerror_r(err, buf, size) != 0) snprintf(buf, size, "error %d", err);
    return buf;
#endif
}

spdf_status io_fail(int err, const char *what, const char *kind, const char *path)
{
    char buf[128];
    return spdf_fail(SPDF_EIO, "cannot %s %s%s'%s': %s", what, kind, *kind ? " " : "", path,
                     error_text(err, buf, sizeof buf));
}

spdf_status file_format_fail(const char *kind, const char *path, const char *fmt, ...)
{
    char problem[400];
    va_list args;
    va_start(args, fmt);
    vsnprintf(problem, sizeof problem, fmt, args);
    va_end(args);
    return spdf_fail(SPDF_EFORMAT, "%s '%s': %s", kind, path, problem);
}

spdf_status file_syntax_fail(const char *path, int64_t line, const char *fmt, ...)
{
    char problem[400];
    va_list args;
    va_start(args, fmt);
    vsnprintf(problem, sizeof problem, fmt, args);
    va_end(args);
    return spdf_fail(SPDF_EFORMAT, "%s:%lld: %s", path, (long long)line, problem);
}

/* The counter keeps two threads of one process writing the same path apart. */
static spdf_status create_temporary(const char *path, const char *kind, char **tmp_path, int *fd)
{
    static atomic_uint counter;
    const size_t size = strlen(path) + 64;
    char *name = malloc(size);
    if (!name) return spdf_fail(SPDF_ENOMEM, "out of memory for a file name");
    for (int attempt = 0; attempt < 100; attempt++) {
        snprintf(name, size, "%s.tmp.%ld.%u", path, (long)getpid(), atomic_fetch_add(&counter, 1u));
        *fd = open(name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (*fd >= 0) {
            *tmp_path = name;
            return SPDF_OK;
        }
        if (errno != EEXIST) break;
    }
    const spdf_status status = io_fail(errno, "create the temporary file for", kind, path);
    free(name);
    return status;
}

/* Makes the rename durable.  Best effort: some file systems refuse fsync on directories, and
 * the new file is already complete under its final name. */
static void sync_directory_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!dir) return;
    const int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

/* Whether `name` is "<base>.tmp.<pid>.<n>" of a process other than this one that no longer
 * exists: what a save killed mid-way leaves behind. */
static int is_stale_temporary(const char *name, const char *base)
{
    const size_t length = strlen(base);
    if (strncmp(name, base, length) != 0 || strncmp(name + length, ".tmp.", 5) != 0) return 0;
    const char *at = name + length + 5;
    char *end = NULL;
    errno = 0;
    const long pid = strtol(at, &end, 10);
    if (errno != 0 || end == at || *end != '.' || pid <= 0 || pid == (long)getpid()) return 0;
    at = end + 1;
    strtoul(at, &end, 10);
    if (end == at || *end != '\0') return 0;
    return kill((pid_t)pid, 0) != 0 && errno == ESRCH; /* alive, or not ours to ask: keep it */
}

/* Removes the temporary files of `path` whose writers are gone.  Files of live processes, of
 * this one, and anything not named like a temporary of `path` are left alone; a process on
 * another machine sharing the directory is not seen, so its files only go when it ends them. */
static void remove_stale_temporaries(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    const char *base = slash ? slash + 1 : path;
    DIR *d = dir ? opendir(dir) : NULL;
    if (d) {
        const struct dirent *entry;
        while ((entry = readdir(d)) != NULL) {
            if (!is_stale_temporary(entry->d_name, base)) continue;
            char *stale = malloc(strlen(dir) + strlen(entry->d_name) + 2);
            if (!stale) break;
            sprintf(stale, "%s/%s", dir, entry->d_name);
            unlink(stale);
            free(stale);
        }
        closedir(d);
    }
    free(dir);
}

spdf_status write_file_atomically(const char *path, const char *kind, file_writer write,
                                  void *context)
{
    remove_stale_temporaries(path);
    char *tmp_path = NULL;
    int fd = -1;
    SPDF_TRY(create_temporary(path, kind, &tmp_path, &fd));
    spdf_status status;
    FILE *file = fdopen(fd, "wb");
    if (!file) {
        status = io_fail(errno, "open", "", tmp_path);
        close(fd);
    } else {
        status = write(file, tmp_path, context);
        if (status == SPDF_OK && fflush(file) != 0) status = io_fail(errno, "write", "", tmp_path);
        if (status == SPDF_OK && fsync(fileno(file)) != 0) status = io_fail(errno, "sync", "", tmp_path);
        if (fclose(file) != 0 && status == SPDF_OK) status = io_fail(errno, "close", "", tmp_path);
    }
    if (status == SPDF_OK && rename(tmp_path, path) != 0)
        status = io_fail(errno, "rename the temporary file onto", kind, path);
    if (status == SPDF_OK)
        sync_directory_of(path);
    else
        unlink(tmp_path);
    free(tmp_path);
    return status;
}
