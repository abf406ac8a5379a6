/*
 * files.c - a path under a directory, a small file read whole. Written
 * once: snap-export's manifest and snap-import's directory readers each
 * had a copy.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "die.h"
#include "files.h"

#define READ_STEP 65536

char *
path_join(const char *dir, const char *name)
{
	size_t length = strlen(dir) + strlen(name) + 2;
	char *path = xmalloc(length);

	snprintf(path, length, "%s/%s", dir, name);
	return path;
}

char *
file_read_all(const char *path, size_t *length)
{
	FILE *file = fopen(path, "r");
	char *data = NULL;
	size_t used = 0, capacity = 0, got;
	int saved;

	if (file == NULL)
		return NULL;
	do {
		if (used + READ_STEP + 1 > capacity) {
			capacity = (used + READ_STEP + 1) * 2;
			data = xrealloc(data, capacity);
		}
		got = fread(data + used, 1, READ_STEP, file);
		used += got;
	} while (got > 0);
	if (ferror(file)) {
		saved = errno;
		fclose(file);
		free(data);
		errno = saved;
		return NULL;
	}
	fclose(file);
	data[used] = '\0';
	*length = used;
	return data;
}
