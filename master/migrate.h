#ifndef PARLOR_MASTER_MIGRATE_H
#define PARLOR_MASTER_MIGRATE_H

#include <stddef.h>

/* Apply the pending migrations/NNNN_name.sql files of `dir` ("" = found next
 * to the binary) to the database, each once, in order, each in its own
 * transaction, recording them in schema_migrations.  Refuses a database whose
 * schema is newer than the newest file.  Returns 0, or -1 with err filled. */
int migrate_run(const char *conninfo, const char *dir, char *err, size_t errlen);

#endif
