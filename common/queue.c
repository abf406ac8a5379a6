/*
 * queue.c - a bounded FIFO of work items: a ring of pointers under one
 * mutex, one condition for every change (few threads wait on it).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "clock.h"
#include "die.h"
#include "queue.h"

struct work_queue {
	pthread_mutex_t mutex;
	pthread_cond_t changed;
	void **items;
	size_t limit, head, length;
	size_t busy;		/* taken, not yet done */
	bool closed;
};

work_queue *
work_queue_new(size_t limit)
{
	work_queue *queue = xcalloc(1, sizeof(*queue));
	pthread_condattr_t attr;

	queue->limit = limit > 0 ? limit : 1;
	queue->items = xcalloc(queue->limit, sizeof(*queue->items));
	if (pthread_mutex_init(&queue->mutex, NULL) != 0 || pthread_condattr_init(&attr) != 0 ||
	    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&queue->changed, &attr) != 0)
		die(EXIT_LOCAL, "work queue: pthread init failed");
	pthread_condattr_destroy(&attr);
	return queue;
}

void
work_queue_free(work_queue *queue)
{
	if (queue == NULL)
		return;
	pthread_cond_destroy(&queue->changed);
	pthread_mutex_destroy(&queue->mutex);
	free(queue->items);
	free(queue);
}

static void
lock(work_queue *queue)
{
	if (pthread_mutex_lock(&queue->mutex) != 0)
		die(EXIT_LOCAL, "work queue: pthread_mutex_lock failed");
}

static void
unlock_changed(work_queue *queue)
{
	pthread_cond_broadcast(&queue->changed);
	pthread_mutex_unlock(&queue->mutex);
}

/* Wait for a change until deadline (NULL: for ever); false once it passed. */
static bool
wait_change(work_queue *queue, const struct timespec *deadline)
{
	if (deadline == NULL)
		return pthread_cond_wait(&queue->changed, &queue->mutex) == 0;
	return pthread_cond_timedwait(&queue->changed, &queue->mutex, deadline) != ETIMEDOUT;
}

void
work_queue_put(work_queue *queue, void *item)
{
	lock(queue);
	while (queue->length >= queue->limit)
		wait_change(queue, NULL);
	queue->items[(queue->head + queue->length) % queue->limit] = item;
	queue->length++;
	unlock_changed(queue);
}

enum work_queue_take
work_queue_take(work_queue *queue, long wait_ms, void **item)
{
	struct timespec deadline = clock_deadline(CLOCK_MONOTONIC, wait_ms > 0 ? wait_ms : 0);
	enum work_queue_take result = WORK_TIMEOUT;

	*item = NULL;
	lock(queue);
	while (queue->length == 0 && !queue->closed)
		if (!wait_change(queue, wait_ms < 0 ? NULL : &deadline))
			break;
	if (queue->length > 0) {
		*item = queue->items[queue->head];
		queue->head = (queue->head + 1) % queue->limit;
		queue->length--;
		queue->busy++;
		result = WORK_ITEM;
	} else if (queue->closed) {
		result = WORK_CLOSED;
	}
	unlock_changed(queue);
	return result;
}

void
work_queue_done(work_queue *queue)
{
	lock(queue);
	if (queue->busy > 0)
		queue->busy--;
	unlock_changed(queue);
}

void
work_queue_close(work_queue *queue)
{
	lock(queue);
	queue->closed = true;
	unlock_changed(queue);
}

bool
work_queue_wait_idle(work_queue *queue, long wait_ms)
{
	struct timespec deadline = clock_deadline(CLOCK_MONOTONIC, wait_ms > 0 ? wait_ms : 0);
	bool idle;

	lock(queue);
	while (queue->length > 0 || queue->busy > 0)
		if (!wait_change(queue, wait_ms < 0 ? NULL : &deadline))
			break;
	idle = queue->length == 0 && queue->busy == 0;
	pthread_mutex_unlock(&queue->mutex);
	return idle;
}
