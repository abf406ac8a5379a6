/*
 * test_queue - common/queue.c: items come out in order, a put waits
 * while the queue is full, close lets takers drain then says closed,
 * and wait_idle waits for items taken but not done.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "die.h"
#include "queue.h"

#define ITEMS 1000

static int failures;
static atomic_int put_count;

static void
check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "test_queue: %s\n", what);
		failures++;
	}
}

static void *
producer(void *arg)
{
	work_queue *queue = arg;
	intptr_t k;

	for (k = 1; k <= ITEMS; k++) {
		work_queue_put(queue, (void *)k);
		atomic_fetch_add(&put_count, 1);
	}
	work_queue_close(queue);
	return NULL;
}

static void
test_order_and_bound(void)
{
	work_queue *queue = work_queue_new(2);
	pthread_t thread;
	intptr_t want = 1;
	void *item;

	pthread_create(&thread, NULL, producer, queue);
	while (atomic_load(&put_count) < 2)
		sched_yield();
	/* Nothing taken yet: the producer stops at the bound, the third put waits. */
	check(atomic_load(&put_count) == 2, "a full queue holds the producer back");
	check(work_queue_take(queue, 0, &item) == WORK_ITEM && item == (void *)want++,
	    "the first item comes first");
	work_queue_done(queue);
	while (work_queue_take(queue, -1, &item) == WORK_ITEM) {
		if (item != (void *)want)
			break;
		want++;
		work_queue_done(queue);
	}
	check(want == ITEMS + 1, "every item, in order");
	check(work_queue_take(queue, 10, &item) == WORK_CLOSED, "closed and empty says closed");
	pthread_join(thread, NULL);
	work_queue_free(queue);
}

static void
test_timeout_and_idle(void)
{
	work_queue *queue = work_queue_new(4);
	void *item;

	check(work_queue_take(queue, 10, &item) == WORK_TIMEOUT && item == NULL,
	    "an empty open queue times out");
	check(work_queue_wait_idle(queue, 0), "an empty queue is idle");
	work_queue_put(queue, queue);
	check(!work_queue_wait_idle(queue, 10), "a queued item is not idle");
	check(work_queue_take(queue, 0, &item) == WORK_ITEM, "take the item");
	check(!work_queue_wait_idle(queue, 10), "an item taken but not done is not idle");
	work_queue_done(queue);
	check(work_queue_wait_idle(queue, 0), "done is idle");
	work_queue_put(queue, queue);
	work_queue_close(queue);
	check(work_queue_take(queue, 0, &item) == WORK_ITEM, "close leaves the items to take");
	work_queue_done(queue);
	check(work_queue_take(queue, -1, &item) == WORK_CLOSED, "then says closed");
	work_queue_free(queue);
}

int
main(void)
{
	die_init("test_queue");
	test_order_and_bound();
	test_timeout_and_idle();
	return failures == 0 ? 0 : 1;
}
