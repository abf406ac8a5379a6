/*
 * metrics.c - entry-proxy --metrics: its state (forwarding, paused,
 * switched: forwarding to an upstream a switch chose; stopping), its
 * connections, requests and bytes, for common/metrics.c to write each
 * second. The loop calls proxy_metrics after each round of events; a
 * round counts held and in-flight requests over every session, so it is
 * done at most every METRICS_EVERY_MS, and the loop wakes at least that
 * often while --metrics is on (see entry-proxy.c's loop_timeout).
 */
#include <string.h>

#include "clock.h"
#include "metrics.h"
#include "proxy.h"

static const char *
proxy_state(void)
{
	if (px.stopping)
		return "stopping";
	if (px.paused)
		return "paused";
	return px.generation > 0 ? "switched" : "forwarding";
}

#define ADD(metric, type, help, value) \
	metrics_extra_add(&sample, metric, type, help, (double)(value))

void
proxy_metrics(bool now)
{
	struct metrics_sample sample;

	if (!px.metrics)
		return;
	if (!now && px.metrics_sampled && clock_ms_since(&px.metrics_at) < METRICS_EVERY_MS)
		return;
	px.metrics_sampled = true;
	clock_gettime(CLOCK_MONOTONIC, &px.metrics_at);
	memset(&sample, 0, sizeof(sample));
	sample.no_stream = sample.no_lag = true;
	sample.phase = proxy_state();
	/* What a client saw fail: a message we could not frame, a cursor left behind. */
	sample.errors = px.bad_messages + px.refused_cursors;
	ADD("oplogkit_proxy_connections", "gauge", "Client connections open now.", px.session_count);
	ADD("oplogkit_proxy_connections_accepted_total", "counter", "Client connections accepted.",
	    px.accepted);
	ADD("oplogkit_proxy_requests_total", "counter", "Requests forwarded to an upstream.",
	    px.requests);
	ADD("oplogkit_proxy_bytes_up_total", "counter", "Bytes forwarded from clients to upstreams.",
	    px.bytes_up);
	ADD("oplogkit_proxy_bytes_down_total", "counter", "Bytes forwarded from upstreams to clients.",
	    px.bytes_down);
	ADD("oplogkit_proxy_requests_held", "gauge", "Connections with a request held by a pause.",
	    sessions_held());
	ADD("oplogkit_proxy_requests_in_flight", "gauge",
	    "Connections with a request an upstream has and has not answered.", sessions_in_flight());
	ADD("oplogkit_proxy_switches_total", "counter", "Switches to another upstream.",
	    px.generation);
	ADD("oplogkit_proxy_connections_moved_total", "counter",
	    "Connections moved to a new upstream at a boundary.", px.moved);
	ADD("oplogkit_proxy_connections_closed_at_switch_total", "counter",
	    "Connections a switch closed between messages (authenticated, exhaust).",
	    px.closed_at_switch);
	metrics_update(&sample);
}
