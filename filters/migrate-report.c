/*
 * migrate-report - a self-contained HTML report of a migration, drawn
 * from the --metrics-log timelines of its programs (oplog-read,
 * oplog-apply): the phases, lag and throughput over time, the
 * write-unavailable window (from entry-switch's report), and the counts.
 *
 * The page is one file: inline SVG and CSS, no script, nothing fetched,
 * so it can be attached to a change ticket and opened anywhere. Each
 * drawn series also carries its numbers (data-times, data-values), so a
 * test can check the drawing against the log without a browser.
 *
 * This file is the command line; filters/report/ is the engine.
 */
#include "die.h"
#include "options.h"
#include "report/report.h"

static int read_command_line(struct report_config *config, int argc, char **argv);

int
main(int argc, char **argv)
{
	struct report_config config = { .title = "oplogkit migration report" };
	int first;

	die_init(argv[0]);
	first = read_command_line(&config, argc, argv);
	return report_run(&config, argv + first, argc - first);
}

/* The command line into config; returns the index of the first LOG. */
static int
read_command_line(struct report_config *config, int argc, char **argv)
{
	static const struct program program = {
		.name = "migrate-report",
		.synopsis = "[options] [LOG ...]",
		.summary =
		    "Write a self-contained HTML report (inline SVG, nothing fetched) of a migration\n"
		    "from the --metrics-log files of its programs (stdin without LOG).",
		.min_operands = 0, .max_operands = -1,
	};
	const struct option_def table[] = {
		OPT_OUTPUT(&config->output, "write the report to FILE instead of stdout"),
		OPT_STRING(0, "switch-report", "FILE", &config->switch_report,
		    "entry-switch's report: the write-unavailable window"),
		OPT_STRING(0, "title", "TEXT", &config->title, "the report's title"),
		OPT_END(),
	};

	return options_parse(&program, table, argc, argv);
}
