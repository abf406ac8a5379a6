/*
 * shell.c - run an operator's shell command. Written once: two copies
 * drifted, and one left SIGPIPE ignored in the child, so a `yes | head`
 * in a fence script spun on EPIPE instead of ending.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "die.h"
#include "shell.h"

/* What exec keeps of our dispositions: ignored stays ignored, blocked stays blocked. */
static void
child_signals(void)
{
	sigset_t none;

	signal(SIGPIPE, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

int
shell_run(const char *what, const char *command)
{
	pid_t pid, done;
	int status;

	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) < 0) {
		warnmsg("%s: fork: %s", what, strerror(errno));
		return -1;
	}
	if (pid == 0) {
		child_signals();
		execl("/bin/sh", "sh", "-c", command, (char *)NULL);
		fprintf(stderr, "%s: %s: /bin/sh: %s\n", die_progname(), what, strerror(errno));
		_exit(127);
	}
	while ((done = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
		continue;
	if (done < 0) {
		warnmsg("%s: waitpid: %s", what, strerror(errno));
		return -1;
	}
	if (WIFSIGNALED(status)) {
		warnmsg("%s: killed by signal %d", what, WTERMSIG(status));
		return -1;
	}
	return WEXITSTATUS(status);
}
