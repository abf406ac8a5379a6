/*
 * test_shell - common/shell.c: the command runs with the signals a shell
 * expects, whatever the program set for itself. The two copies this
 * replaced drifted: one left SIGPIPE ignored in the child, and every
 * process under the command inherited that.
 */
#include <signal.h>
#include <stdio.h>

#include "die.h"
#include "shell.h"

static int failures;

static void
expect_status(const char *command, int want, const char *what)
{
	int got = shell_run("test", command);

	if (got != want) {
		fprintf(stderr, "test_shell: %s: got status %d, want %d\n", what, got, want);
		failures++;
	}
}

int
main(void)
{
	sigset_t blocked;

	die_init("test_shell");
	/* What the programs do: SIGPIPE ignored, SIGTERM blocked for a signalfd. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&blocked);
	sigaddset(&blocked, SIGTERM);
	sigprocmask(SIG_BLOCK, &blocked, NULL);

	expect_status("exit 7", 7, "exit status");
	/* A child of the command killed by SIGPIPE: the shell reports 128 + 13. */
	expect_status("sh -c 'kill -PIPE $$; exit 0'", 128 + SIGPIPE, "a child sees SIGPIPE default");
	expect_status("sh -c 'kill -TERM $$; exit 0'", 128 + SIGTERM, "a child sees SIGTERM unblocked");
	expect_status("kill -KILL $$", -1, "killed by a signal is -1");
	return failures == 0 ? 0 : 1;
}
