/*
 * run.c - oplog-filter's streams: each input read entry by entry, the
 * headers copied, the entries in the --since/--until window put through
 * the rules, and each trailer rewritten when what it closes changed; the
 * output flushed whenever the input pauses, and finished whole.
 *
 * An entry that passes unchanged is copied as its original bytes, so
 * with no rules the output is the input, validated.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "die.h"
#include "filter.h"

#define IDLE_FLUSH_MS 50	/* flush the output once input pauses this long */

bool
filter_select_op(struct filter_config *config, char op)
{
	const char *at = op != '\0' ? strchr(FILTER_OPS, op) : NULL;

	if (at == NULL)
		return false;
	config->op_given = true;
	config->ops[at - FILTER_OPS] = true;
	return true;
}

void
filter_init(struct filter *x, const struct filter_config *config, stream_writer *out)
{
	memset(x, 0, sizeof(*x));
	x->config = config;
	x->selecting = ns_filter_is_set(config->filter);
	x->renaming = ns_has_renames(config->filter);
	x->out = out;
}

int
filter_run(const struct filter_config *config, char *const files[], int count)
{
	struct filter x;
	stream_writer *out;
	int k;

	stream_refuse_tty(config->output);
	/* SIGINT/SIGTERM end the input early, the output whole: zstd frame closed. */
	cli_catch_signals();
	out = stream_create(config->output, config->zstd_level, false);
	if (out == NULL)
		return EXIT_LOCAL;
	filter_init(&x, config, out);
	for (k = 0; (k < count || k == 0) && !cli_stop; k++) {
		stream_reader *reader = stream_open(k < count ? files[k] : NULL);

		if (reader == NULL) {
			(void)stream_finish(out);
			return EXIT_NO_INPUT;
		}
		filter_stream(&x, reader);
		stream_close(reader);
	}
	if (!stream_finish(out))
		return EXIT_LOCAL;
	return EXIT_DONE;
}

void
lossy(struct filter *x, const char *fmt, ...)
{
	char message[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	warnmsg("%s: entry %" PRIu64 ": %s", x->name, x->entry, message);
	x->warnings++;
}

void
too_large(const struct filter *x)
{
	die(EXIT_BAD_STREAM, "%s: entry %" PRIu64 ": the rewritten entry is too large",
	    x->name, x->entry);
}

void
sink_put(struct filter *x, struct sink *sink, const bson_t *doc)
{
	char key[16];
	const char *key_text;
	size_t key_length;

	if (sink->array == NULL) {
		if (!stream_write(x->out, doc))
			exit(EXIT_LOCAL);
		x->written++;
		return;
	}
	key_length = bson_uint32_to_string(sink->next_index++, &key_text, key, sizeof(key));
	if (!bson_append_document(sink->array, key_text, (int)key_length, doc))
		too_large(x);
}

static bool
in_time(const struct filter_config *config, const bson_t *entry)
{
	timestamp_t ts = entry_ts(entry);

	if (config->have_since && ts_compare(ts, config->since) <= 0)
		return false;
	if (config->have_until && ts_compare(ts, config->until) > 0)
		return false;
	return true;
}

static void
write_frame(struct filter *x, const stream_reader *reader)
{
	uint32_t length;
	const uint8_t *frame = stream_frame(reader, &length);

	if (!stream_write_raw(x->out, frame, length))
		exit(EXIT_LOCAL);
}

/*
 * A trailer closes what came since the header: unchanged when every
 * entry passed as it was, else a new one with the count written and the
 * input's last ts (what the stream covers), clipped to --until.
 */
static void
write_trailer(struct filter *x, const stream_reader *reader, const bson_t *entry)
{
	const struct filter_config *config = x->config;
	bson_t o, trailer;
	bson_iter_t iter;
	timestamp_t last = entry_ts(entry);

	if (!x->modified) {
		write_frame(x, reader);
		return;
	}
	if (entry_object(entry, "o", &o) && bson_iter_init_find(&iter, &o, "last") &&
	    BSON_ITER_HOLDS_TIMESTAMP(&iter))
		bson_iter_timestamp(&iter, &last.t, &last.i);
	if (config->have_until && ts_compare(last, config->until) > 0)
		last = config->until;
	marker_trailer(&trailer, x->written, last);
	if (!stream_write(x->out, &trailer))
		exit(EXIT_LOCAL);
	bson_destroy(&trailer);
}

void
filter_stream(struct filter *x, stream_reader *reader)
{
	struct sink out = { NULL, 0 };
	const bson_t *entry;
	int status = STREAM_END;

	x->name = stream_name(reader);
	x->written = 0;
	x->modified = false;
	/* In a live pipeline (oplog-read | oplog-filter | oplog-apply) the next
	 * stage must see each entry when it comes, not when a buffer fills. */
	stream_set_wait(reader, IDLE_FLUSH_MS, false);
	while (!cli_stop) {
		status = stream_next(reader, &entry);
		if (status == STREAM_AGAIN && cli_stop)
			break;
		if (status == STREAM_AGAIN) {
			if (!stream_flush(x->out))
				exit(EXIT_LOCAL);
			continue;
		}
		if (status != STREAM_ENTRY)
			break;
		x->entry = stream_count(reader);
		if (entry_is_header(entry)) {
			write_frame(x, reader);
			x->written = 0;
			x->modified = false;
		} else if (entry_is_trailer(entry)) {
			write_trailer(x, reader, entry);
			x->written = 0;
			x->modified = false;
		} else if (in_time(x->config, entry) && filter_entry(x, entry, &out)) {
			write_frame(x, reader);
			x->written++;
		} else {
			x->modified = true;
		}
	}
	if (status == STREAM_ERROR) {
		(void)stream_finish(x->out);	/* what passed so far stays readable */
		stream_die(reader);
	}
}
