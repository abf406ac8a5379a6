/*
 * queue.h - a bounded FIFO of work items between threads (snap-export's
 * workers and writer, snap-import's reader and workers).
 *
 * A put waits while the queue is full, so memory stays bounded by a slow
 * consumer. Takers count as busy from take to done, so the producer can
 * wait until everything is not only taken but finished. Closing lets
 * takers drain what is left, then tells them the queue is over.
 * Items belong to whoever holds them; the queue frees none.
 */
#ifndef OPLOGKIT_QUEUE_H
#define OPLOGKIT_QUEUE_H

#include <stdbool.h>
#include <stddef.h>

typedef struct work_queue work_queue;

/* A queue of at most limit items (limit >= 1). Exits when out of memory. */
work_queue *work_queue_new(size_t limit);

/* Free the queue (not the items left in it). */
void work_queue_free(work_queue *queue);

/* Append item, waiting while the queue is full. */
void work_queue_put(work_queue *queue, void *item);

enum work_queue_take {
	WORK_ITEM,	/* *item is the oldest item; call work_queue_done after it */
	WORK_TIMEOUT,	/* nothing within wait_ms */
	WORK_CLOSED,	/* closed and empty: there will be no more */
};

/* Take the oldest item, waiting up to wait_ms (negative: for ever). */
enum work_queue_take work_queue_take(work_queue *queue, long wait_ms, void **item);

/* The item taken last by this taker is finished. */
void work_queue_done(work_queue *queue);

/* No more puts: takers get what is left, then WORK_CLOSED. */
void work_queue_close(work_queue *queue);

/* Wait up to wait_ms (negative: for ever) until nothing is queued or busy. */
bool work_queue_wait_idle(work_queue *queue, long wait_ms);

#endif
