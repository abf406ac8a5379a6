/*
 * test_ns - namespace selection and renaming (common/ns.c): the cases a
 * shell test cannot pick apart, database-wide questions above all.
 */
#include <stdio.h>
#include <string.h>

#include "die.h"
#include "ns.h"

static int failures;

static void
expect(bool got, bool want, const char *what)
{
	if (got != want) {
		fprintf(stderr, "test_ns: %s: got %s, want %s\n", what,
		    got ? "true" : "false", want ? "true" : "false");
		failures++;
	}
}

static void
expect_rename(const ns_filter *filter, const char *ns, const char *want)
{
	char out[256];
	bool renamed = ns_rename(filter, ns, out, sizeof(out));

	if (strcmp(out, want) != 0 || renamed != (strcmp(ns, want) != 0)) {
		fprintf(stderr, "test_ns: rename %s: got %s, want %s\n", ns, out, want);
		failures++;
	}
}

static void
test_everything_by_default(void)
{
	ns_filter *filter = ns_filter_new();

	expect(ns_match(filter, "admin.system.users"), true, "new filter keeps admin");
	expect(ns_match(filter, "a.b"), true, "new filter keeps a.b");
	expect(ns_match_whole_database(filter, "local"), true, "new filter: all of local");
	expect(ns_filter_is_set(filter), false, "new filter is not set");
	ns_filter_use_defaults(filter);
	expect(ns_match(filter, "admin.system.users"), false, "defaults drop admin");
	expect(ns_match(filter, "config.cache.test"), false, "defaults drop config");
	expect(ns_match(filter, "oplogkit.checkpoints"), false, "defaults drop oplogkit");
	expect(ns_match(filter, "shop.system.profile"), false, "defaults drop system.profile");
	expect(ns_match(filter, "shop.system.buckets.w"), true, "defaults keep time series");
	expect(ns_match(filter, "adminx.c"), true, "defaults keep adminx");
	expect(ns_match_database(filter, "local"), false, "defaults: nothing of local");
	expect(ns_match_whole_database(filter, "shop"), true, "defaults: all of shop");
	ns_filter_include(filter, "admin.x");
	expect(ns_match(filter, "admin.x"), true, "an include lifts the defaults");
	ns_filter_free(filter);
}

static void
test_globs(void)
{
	ns_filter *filter = ns_filter_new();

	ns_filter_include(filter, "shop.*");
	ns_filter_include(filter, "crm.users");
	ns_filter_include(filter, "l[ao]g.ev?");
	ns_filter_exclude(filter, "shop.tmp_*");
	expect(ns_match(filter, "shop.orders"), true, "shop.* keeps shop.orders");
	expect(ns_match(filter, "shop.a.b"), true, "'*' crosses dots");
	expect(ns_match(filter, "shop.tmp_1"), false, "exclude wins");
	expect(ns_match(filter, "crm.users"), true, "literal include");
	expect(ns_match(filter, "crm.leads"), false, "literal include only");
	expect(ns_match(filter, "log.evt"), true, "bracket glob");
	expect(ns_match_database(filter, "crm"), true, "crm could be selected");
	expect(ns_match_database(filter, "lag"), true, "bracket db could be selected");
	expect(ns_match_database(filter, "lug"), false, "bracket db mismatch");
	expect(ns_match_database(filter, "other"), false, "other cannot be selected");
	expect(ns_match_whole_database(filter, "crm"), false, "crm is not whole");
	expect(ns_match_whole_database(filter, "shop"), false, "shop has an exclusion");
	expect(ns_literal_include(filter, 0) != NULL &&
	    strcmp(ns_literal_include(filter, 0), "crm.users") == 0, true, "first literal");
	expect(ns_literal_include(filter, 1) == NULL, true, "one literal only");
	ns_filter_free(filter);

	filter = ns_filter_new();
	ns_filter_include(filter, "a*");
	expect(ns_match_whole_database(filter, "ab"), true, "a* covers all of ab");
	expect(ns_match_whole_database(filter, "b"), false, "a* does not cover b");
	ns_filter_exclude(filter, "*.secret");
	expect(ns_match_whole_database(filter, "ab"), false, "*.secret may touch ab");
	expect(ns_match_database(filter, "ab"), true, "ab still partly selected");
	ns_filter_free(filter);
}

static void
test_regex(void)
{
	ns_filter *filter = ns_filter_new();

	expect(ns_filter_include_regex(filter, "^shop\\.(orders|items)$"), true, "regex compiles");
	expect(ns_match(filter, "shop.orders"), true, "regex keeps");
	expect(ns_match(filter, "shop.ordersx"), false, "regex anchored by $");
	expect(ns_match(filter, "x.shop.items"), false, "regex anchored by ^");
	expect(ns_match_database(filter, "zzz"), true, "regex: unsure means could");
	expect(ns_match_whole_database(filter, "shop"), false, "regex: unsure means not whole");
	expect(ns_filter_include_regex(filter, "(unclosed"), false, "bad regex refused");
	ns_filter_free(filter);
}

static void
test_renames(void)
{
	ns_filter *filter = ns_filter_new();

	expect(ns_filter_rename(filter, "a.*=b.*"), true, "a.*=b.*");
	expect(ns_filter_rename(filter, "x.old=y.new"), true, "literal rule");
	expect(ns_filter_rename(filter, "c.*_v1=c.*_v2"), true, "star in the middle");
	expect(ns_filter_rename(filter, "a.*=b.c"), false, "star on one side only");
	expect(ns_filter_rename(filter, "a.**=b.*"), false, "two stars");
	expect(ns_filter_rename(filter, "noequals"), false, "no '='");
	expect(ns_filter_rename(filter, "=b"), false, "empty FROM");
	expect(ns_has_renames(filter), true, "has renames");
	expect_rename(filter, "a.coll.sub", "b.coll.sub");
	expect_rename(filter, "a.$cmd", "b.$cmd");
	expect_rename(filter, "x.old", "y.new");
	expect_rename(filter, "x.older", "x.older");
	expect_rename(filter, "c.users_v1", "c.users_v2");
	expect_rename(filter, "ab.c", "ab.c");
	ns_filter_free(filter);
}

static void
test_split(void)
{
	const char *collection = NULL;
	char db[8];

	expect(ns_split("shop.orders", db, sizeof(db), &collection), true, "split shop.orders");
	expect(strcmp(db, "shop") == 0 && strcmp(collection, "orders") == 0, true,
	    "shop.orders is shop and orders");
	expect(ns_split("a.b.c", db, sizeof(db), &collection), true, "split a.b.c");
	expect(strcmp(db, "a") == 0 && strcmp(collection, "b.c") == 0, true,
	    "a.b.c splits at the first dot");
	expect(ns_split("nodot", db, sizeof(db), &collection), false, "no dot is no namespace");
	expect(ns_split(".c", db, sizeof(db), &collection), false, "an empty db is no namespace");
	expect(ns_split("db.", db, sizeof(db), &collection), false, "an empty collection is none");
	expect(ns_split("database.c", db, sizeof(db), &collection), false,
	    "a db longer than the buffer is refused, not cut");
}

int
main(int argc, char *argv[])
{
	die_init(argc > 0 ? argv[0] : "test_ns");
	test_everything_by_default();
	test_globs();
	test_regex();
	test_renames();
	test_split();
	if (failures > 0) {
		fprintf(stderr, "test_ns: %d failures\n", failures);
		return 1;
	}
	return 0;
}
