/* Where parlord and parlorctl meet: the control socket's default path.
 *
 * Both programs call default_control_path(), so `parlorctl status` finds the
 * socket of a parlord started without --control. */
#ifndef PARLOR_PATHS_H
#define PARLOR_PATHS_H

#include <stddef.h>

/* The control socket path to use when none is given:
 *   $PARLOR_CONTROL if set and non-empty, else
 *   /run/parlord/control.sock when running as root (euid 0), else
 *   $XDG_RUNTIME_DIR/parlord/control.sock when XDG_RUNTIME_DIR is an
 *   absolute path, else /tmp/parlord-UID/control.sock.
 * Returns a static buffer, valid until the next call; not thread-safe. */
const char *default_control_path(void);

/* Make sure the directory that will hold path exists: missing directories
 * are created with mode 0700 (all of them, like mkdir -p).  A path without
 * '/' needs nothing.  Returns 0, or a negative errno: -ENOTDIR when the
 * parent exists but is not a directory, -EPERM when it exists but belongs
 * to neither this user nor root (someone else could swap the socket in a
 * shared directory such as /tmp), -ENAMETOOLONG, or mkdir's error. */
int ensure_parent_dir(const char *path);

/* A data directory shipped with Parlor (migrations, words), found next to
 * the running binary: BIN/../NAME in a source tree, BIN/../share/parlor/NAME
 * when installed; "NAME" (relative to the working directory) otherwise. */
void data_dir(const char *name, char *out, size_t cap);

#endif
