/*
 * run.c - oplog-read's run, in order: connect, check the source has an
 * oplog (or answer --now), fix the start (--since, the oplog's newest
 * entry, or the spool --resume repairs), write the header and the earlier
 * links of the transactions open there, tail, and end with the trailer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "conn.h"
#include "die.h"
#include "entry.h"
#include "metrics.h"
#include "read.h"
#include "stream.h"

static int
print_newest(mongoc_client_t *client, long retry_for_ms)
{
	char text[32];

	printf("%s\n", ts_format(source_newest(client, retry_for_ms), text, sizeof(text)));
	if (fflush(stdout) != 0 || ferror(stdout))
		die(EXIT_LOCAL, "stdout: write failed");
	return EXIT_DONE;
}

/* Where the stream starts and where it goes; the zstd level to write with. */
static int
session_start(struct session *s, const struct read_config *config)
{
	int level = config->zstd_level < 0 ? 0 : config->zstd_level;
	struct spool spool;

	if (config->resume != NULL) {
		spool_resume(config, config->resume, &spool, &s->recent);
		if (spool.source[0] != '\0' && strcmp(spool.source, conn_masked(s->client)) != 0)
			warnmsg("%s: was read from %s, now resuming from %s", config->resume,
			    spool.source, conn_masked(s->client));
		if (spool.compressed && level == 0)
			level = cli_zstd_level(NULL);
		s->last = spool.last;
		s->start = spool.t0;
		s->total = spool.entries;
		s->start_name = config->resume;
		s->out_name = config->resume;
	} else {
		s->last = config->has_since ? config->since :
		    source_newest(s->client, config->retry_for_ms);
		s->start = s->last;
		s->start_name = "--since";
		s->out_name = config->output != NULL ? config->output : "stdout";
	}
	return level;
}

/* Append marker to the stream; false when the write failed (said already). */
static bool
marker_write(struct session *s, bson_t *marker, bool finish)
{
	bool ok = stream_write(s->out, marker) && (finish ? stream_finish(s->out) : stream_flush(s->out));

	bson_destroy(marker);
	return ok;
}

static void
session_free(struct session *s)
{
	conn_close(s->client);
	free(s->recent.keys);
	while (s->open_txn_count > 0)
		free(s->open_txns[--s->open_txn_count]);
	free(s->open_txns);
}

int
read_run(const struct read_config *config, const char *uri)
{
	struct session session;
	bson_t marker;
	int level, status;

	if (!config->now)
		metrics_start(config->metrics, config->metrics_log, NULL);
	memset(&session, 0, sizeof(session));
	session.config = config;
	cli_catch_signals();	/* a stop while still retrying the first connection is clean too */
	conn_set_retry_for(config->retry_for_ms);	/* first: conn_open fits its timeouts to it */
	session.client = conn_open(uri, config->conn.tls_ca_file);
	source_require_oplog(session.client, config->retry_for_ms);
	if (config->now) {
		status = print_newest(session.client, config->retry_for_ms);
		conn_close(session.client);
		return status;
	}

	level = session_start(&session, config);
	session.await = source_awaits(session.client);
	session.out = stream_create(config->resume != NULL ? config->resume : config->output, level,
	    config->resume != NULL);
	if (session.out == NULL) {
		session_free(&session);
		return EXIT_LOCAL;
	}
	if (config->resume == NULL) {
		marker_header(&marker, "oplog", conn_masked(session.client), session.last);
		if (!marker_write(&session, &marker, false)) {
			(void)stream_finish(session.out);	/* the disk said no: only frees it */
			session_free(&session);
			return EXIT_LOCAL;
		}
		txn_prelude_write(&session);
	}

	tail(&session);

	marker_trailer(&marker, session.total, session.last);
	if (!marker_write(&session, &marker, true)) {	/* stream_finish freed the writer */
		session_free(&session);
		return EXIT_LOCAL;
	}
	progress_report(&session, true);
	metrics_stop(cli_stop ? "stopped" : "done");
	session_free(&session);
	return EXIT_DONE;
}
