/*
 * operators.h - the $set/$unset form of an update entry (MongoDB before
 * 5.0 logged every update so, with $v: 1 or no $v), applied in C exactly
 * as mongod's update applier does, for the paths another server's own
 * $set/$unset may apply otherwise.
 *
 * mongod (src/mongo/db/update/: update_object_node, set_node, unset_node,
 * path_support) applies the paths of one update in one order, each level
 * sorted with field names that are numbers by their value ("9" before
 * "10"), the others byte by byte; a path that exists is changed in place,
 * a missing one is created at the end of its object (missing parents as
 * objects, a numeric part included); a numeric part of an array is an
 * index: $set past the end pads with null, $unset of an element sets it
 * to null (it never shortens the array), $unset of a path that is not
 * there changes nothing. A $set through a value that is neither object
 * nor array, or through an array by a name that is no index, fails.
 *
 * FerretDB, for one, sorts new numeric names as text and removes an
 * array element on $unset, so a path with a numeric part is applied here.
 */
#ifndef OPLOGKIT_OPERATORS_H
#define OPLOGKIT_OPERATORS_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stddef.h>

/*
 * Whether o, an update entry's o, is made of $set and $unset only (and
 * $v) and one of its paths has a part that starts with a digit: the
 * paths whose result only operators_apply promises.
 */
bool operators_apply_here(const bson_t *o);

/*
 * Apply o's $set and $unset to doc into out (always initialized, empty on
 * failure; the caller destroys it), as mongod does. False with a message
 * when o is not that form, its paths conflict or are not valid update
 * paths, a $set cannot be made on doc (mongod fails the entry too), or
 * the result passes 16 MiB.
 */
bool operators_apply(const bson_t *doc, const bson_t *o, bson_t *out, char *errbuf,
    size_t errsize);

#endif
