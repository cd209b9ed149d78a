/* husk: file helpers.  Paths that come from images, archives, containers or
   users are resolved inside a root directory fd and never leave it
   (DESIGN.md section 7).  */
#ifndef HUSK_FS_H
#define HUSK_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "husk/error.h"

/* Write a whole file: temp name, fsync, rename over name, fsync of dirfd.  */
int husk_write_file_atomic (int dirfd, const char *name, const void *data, size_t len, mode_t mode,
                            husk_error_t *err);
/* The same without the fsyncs: readers still see the old or the new
   content, but after a power loss the file may be empty.  For records that
   do not outlive the boot (run --rm).  */
int husk_write_file_atomic_nosync (int dirfd, const char *name, const void *data, size_t len, mode_t mode,
                                   husk_error_t *err);
/* Read a whole file (NUL-terminated); fail if it is larger than max bytes
   (0: no limit).  */
int husk_read_file_at (int dirfd, const char *path, size_t max, char **out, size_t *len, husk_error_t *err);
/* Read all of fd (NUL-terminated) up to max bytes (0: no limit).  */
int husk_read_all_fd (int fd, size_t max, char **out, size_t *len, husk_error_t *err);
int husk_write_all (int fd, const void *data, size_t len, husk_error_t *err);

/* mkdir -p of an absolute or cwd-relative host path (trusted input).  */
int husk_mkdir_p (const char *path, mode_t mode, husk_error_t *err);
/* rm -rf of dirfd/name without following symlinks; ENOENT is success.  */
int husk_rm_rf_at (int dirfd, const char *name, husk_error_t *err);
int husk_fsync_dir (int dirfd, husk_error_t *err);

/* Open path inside rootfd with openat2 (RESOLVE_IN_ROOT |
   RESOLVE_NO_MAGICLINKS), falling back to a component-by-component walk that
   treats symlinks as if rootfd were "/".  Returns an fd or a negative value.  */
int husk_open_in_root (int rootfd, const char *path, int flags, mode_t mode, husk_error_t *err);
/* Create every missing directory of path inside rootfd (same resolution
   rules) and return an O_DIRECTORY fd to the last one.  */
int husk_mkdir_in_root (int rootfd, const char *path, mode_t mode, husk_error_t *err);
/* Make a unique directory "<prefix>XXXXXX" under dirfd; returns its name.  */
char *husk_mkdtemp_at (int dirfd, const char *prefix, husk_error_t *err);
/* An anonymous read-write file in dir (O_TMPFILE, or a name unlinked at
   once where the filesystem lacks it): gone when the fd is closed.  */
int husk_open_tmpfile (const char *dir, husk_error_t *err);
/* Total bytes of regular files under dirfd/name (no symlinks followed).  */
int husk_du_at (int dirfd, const char *name, unsigned long long *bytes, husk_error_t *err);
/* The names in the directory dirfd (open for reading) but "." and "..",
   sorted bytewise (the same order on every machine): a NULL-terminated
   vector for strv_free, and their number in *n when n is not NULL.  The
   listing starts at the first entry whatever dirfd's offset (and leaves
   it at the end).  On error *names is NULL.  */
int husk_list_dir_sorted (int dirfd, char ***names, size_t *n, husk_error_t *err);
/* Whether the directory dirfd (open for reading) holds no entry but ones
   named in skip (NULL: none); false too when it cannot be read.  */
bool husk_dir_is_empty (int dirfd, char *const *skip);

#endif
