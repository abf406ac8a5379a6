/*
 * shell.h - run an operator's shell command (--fence-cmd, --stop-cmd):
 * /bin/sh -c, stdin/stdout/stderr inherited, the caller waits.
 */
#ifndef OPLOGKIT_SHELL_H
#define OPLOGKIT_SHELL_H

/*
 * Run command with /bin/sh -c and wait for it. The child starts with
 * SIGPIPE, SIGINT and SIGTERM at their defaults and no signal blocked,
 * whatever this process set for itself. A signal to this process
 * interrupts nothing: the command finishes its job. Returns the
 * command's exit status, or -1 with a message naming what when it could
 * not run or was killed by a signal.
 */
int shell_run(const char *what, const char *command);

#endif
