/*
 * files.h - small whole-file helpers: a path under a directory, a file
 * read whole (a manifest, a metadata.json: small, never a stream).
 */
#ifndef OPLOGKIT_FILES_H
#define OPLOGKIT_FILES_H

#include <stddef.h>

/* "dir/name", allocated. */
char *path_join(const char *dir, const char *name);

/*
 * The whole content of path, NUL-terminated, its length in *length; NULL
 * with errno set when it cannot be opened or read. The caller frees it.
 */
char *file_read_all(const char *path, size_t *length);

#endif
