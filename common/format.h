/*
 * format.h - text built into a fixed buffer, piece by piece.
 *
 * format_append writes at *used like snprintf and, like snprintf, keeps
 * counting past size: *used is then the length the whole text needs, and
 * out holds as much of it as fits, always terminated when size > 0.
 */
#ifndef OPLOGKIT_FORMAT_H
#define OPLOGKIT_FORMAT_H

#include <stddef.h>

void format_append(char *out, size_t size, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
