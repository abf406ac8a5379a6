/*
 * switch.h - entry-switch's parts: the engine and the report (run.c), the
 * lag gate, the drain and --verify-cmd (gate.c), the fence (fence.c), the
 * entry-proxy client (proxy.c), the entry (entry.c), --metrics
 * (metrics.c). filters/entry-switch.c is the command line.
 *
 * Every part takes the struct cutover: the configuration (read only) and
 * what the cutover did so far, which is what an exit must undo.
 */
#ifndef OPLOGKIT_SWITCH_H
#define OPLOGKIT_SWITCH_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <time.h>

#include <mongoc/mongoc.h>

#include "entry.h"
#include "options.h"

#define POLL_MS 100
#define PROXY_ANSWER_MS 60000	/* a pause answers within the proxy's --pause-timeout */
#define DRAIN_POLL_MS 20	/* the drain is inside the window: look often (a point read) */
#define ENTRY_FILE_MAX (1024 * 1024)	/* an entry is a URI or a config, not data */

enum fence_method { FENCE_AUTO, FENCE_WRITE_BLOCK, FENCE_FSYNC_LOCK, FENCE_COMMAND, FENCE_PROXY,
    FENCE_NONE };

/* The --fence names, indexed by enum fence_method. */
extern const char *const fence_names[FENCE_NONE + 1];

/* What the command line asks for. */
struct switch_config {
	const char *source, *target, *name;
	struct conn_options conn;
	long lag_ms, timeout_ms, drain_timeout_ms;
	const char *fence_cmd, *unfence_cmd, *switch_cmd, *verify_cmd;
	const char *entry_file, *entry_value, *entry_link, *entry_target;
	const char *proxy, *proxy_upstream;	/* entry-proxy's control socket, the target's HOST:PORT */
	enum fence_method fence;
	bool fence_given, keep_fenced;
	const char *metrics, *metrics_log;	/* --metrics, --metrics-log */
};

/* One step of the report: when it ended, and what it says. */
struct step {
	bool done;
	struct timespec wall, mono;
	char detail[512];
};

enum { STEP_LAG, STEP_FENCE, STEP_DRAIN, STEP_VERIFY, STEP_SWITCH, STEP_UNFENCE, STEP_COUNT };

/* The applier's lag as --metrics last saw it (metrics.c). */
struct cutover_lag {
	bool measured, caught_up, entries_known;
	timestamp_t checkpoint, first_pending;
	uint64_t entries;
};

/* The cutover's state: what an exit must undo. */
struct cutover {
	const struct switch_config *config;	/* &own_config */
	struct switch_config own_config;	/* the atexit handler reads it after main returns */
	mongoc_client_t *source, *target;
	enum fence_method fence;	/* the one raised */
	bool fenced;			/* the fence is up now */
	bool file_replaced, link_replaced, committed;
	char *old_content;		/* the entry file before the switch */
	size_t old_size;
	struct stat old_stat;
	char old_link[PATH_MAX];
	char proxy_upstream[300];	/* where --proxy's switch points it */
	char proxy_old_upstream[300];	/* where the proxy pointed before our switch */
	bool proxy_switched;
	timestamp_t switch_ts;
	bool has_switch_ts;
	struct step steps[STEP_COUNT];
	struct timespec started, fence_started;
	const char *phase;		/* for --metrics */
	struct cutover_lag lag;
	struct timespec lag_noted;
};

/* A fence method's try. */
enum attempt { RAISED, MISSING, FAILED };

/* run.c: the whole cutover; the exit status of die.h's rule. */
int switch_run(const struct switch_config *config, const char *source_uri,
    const char *target_uri);
void step_done(struct cutover *x, int step, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
bool poll_pause_ms(long ms);	/* false when a signal asked us to stop */
bool poll_pause(void);
void report(struct cutover *x, const char *result);

/* gate.c */
bool lag_wait(struct cutover *x, char *why, size_t size);
bool drain(struct cutover *x, char *why, size_t size);
bool verify(struct cutover *x, char *why, size_t size);

/* fence.c: false with why set ("; why" for fence_down) */
bool fence_up(struct cutover *x, char *why, size_t size);
bool fence_down(struct cutover *x, char *why, size_t size);

/* proxy.c */
void proxy_prepare(struct cutover *x, const char *target_uri);
enum attempt try_proxy(struct cutover *x, char *why, size_t size);
bool proxy_resume(struct cutover *x, char *why, size_t size);
bool proxy_switch(struct cutover *x, char *detail, size_t detail_size, char *why, size_t size);
void proxy_switch_back(struct cutover *x);

/* metrics.c: --metrics (each does nothing without it but note the phase) */
struct lag;
void switch_metrics(struct cutover *x, const char *phase);	/* NULL: the same phase */
void switch_metrics_step(struct cutover *x, int step);	/* a step is done: the next phase */
void switch_metrics_result(struct cutover *x, const char *result);	/* the last write */
void switch_metrics_lag(struct cutover *x, const struct lag *lag);	/* the gate measured it */

/* entry.c */
void entry_prepare(struct cutover *x);	/* read what a failure must put back */
bool entry_switch(struct cutover *x, char *why, size_t size);
void entry_restore(struct cutover *x);
void emergency_at_exit(struct cutover *x);

#endif
