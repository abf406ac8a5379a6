/*
 * diff-ctx.c - the state of one call into the $v:2 diff code: its first
 * failure (code and message, the message naming where in the diff), the
 * path that message names, and the first check of what the caller passed.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "diff-internal.h"

void
diff_ctx_init(struct ctx *ctx, char *errbuf, size_t errsize)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->errbuf = errbuf;
	ctx->errsize = errsize;
	if (errbuf != NULL && errsize > 0)
		errbuf[0] = '\0';
}

bool
diff_fail(struct ctx *ctx, int code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (ctx->failed)
		return false;
	ctx->failed = true;
	ctx->code = code;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (ctx->errbuf == NULL || ctx->errsize == 0)
		return false;
	if (ctx->pathlen > 200)
		snprintf(ctx->errbuf, ctx->errsize, "diff at ...%s: %s",
		    ctx->path + ctx->pathlen - 197, msg);
	else if (ctx->pathlen > 0)
		snprintf(ctx->errbuf, ctx->errsize, "diff at %s: %s", ctx->path, msg);
	else
		snprintf(ctx->errbuf, ctx->errsize, "diff: %s", msg);
	return false;
}

/* Append ".key" to the message path; returns the length to pop back to. */
size_t
diff_path_push(struct ctx *ctx, const char *key, uint32_t keylen)
{
	size_t old = ctx->pathlen;
	int n;

	n = snprintf(ctx->path + old, sizeof(ctx->path) - old, "%s%.*s", old > 0 ? "." : "",
	    (int)(keylen > 64 ? 64 : keylen), key);
	if (n > 0)
		ctx->pathlen = old + (size_t)n < sizeof(ctx->path) ? old + (size_t)n : sizeof(ctx->path) - 1;
	return old;
}

void
diff_path_pop(struct ctx *ctx, size_t old)
{
	ctx->pathlen = old;
	ctx->path[old] = '\0';
}

/*
 * Walk a document's structure to a bounded depth before anything recurses
 * through it; libbson's bson_validate does not bound its own recursion,
 * nor check that an embedded document ends with its NUL (then libbson
 * cannot copy it, and the result could not be written).
 */
static bool
check_nesting(bson_iter_t *iter, int depth)
{
	bson_iter_t child;
	const uint8_t *data = NULL;
	uint32_t len = 0;

	if (depth > MAX_BSON_NESTING)
		return false;
	while (bson_iter_next(iter)) {
		if (BSON_ITER_HOLDS_DOCUMENT(iter))
			bson_iter_document(iter, &len, &data);
		else if (BSON_ITER_HOLDS_ARRAY(iter))
			bson_iter_array(iter, &len, &data);
		else
			continue;
		if (data == NULL || len < 5 || data[len - 1] != '\0')
			return false;
		if (!bson_iter_recurse(iter, &child) || !check_nesting(&child, depth + 1))
			return false;
	}
	return iter->err_off == 0;
}

bool
diff_check_bson(struct ctx *ctx, const bson_t *bson, const char *what)
{
	bson_iter_t iter;
	size_t offset;

	if (!bson_iter_init(&iter, bson) || !check_nesting(&iter, 0))
		return fail(ctx, "%s: corrupt (an embedded document without its NUL?) or nested "
		    "deeper than %d levels", what, MAX_BSON_NESTING);
	if (!bson_validate(bson, BSON_VALIDATE_NONE, &offset))
		return fail(ctx, "%s: invalid BSON at byte %zu", what, offset);
	return true;
}
