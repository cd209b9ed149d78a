/* husk: libarchive, opened at the first archive_* call (see lazy.h).  */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <archive.h>
#include <archive_entry.h>

#include "husk/util.h"
#include "src/util/lazy-config.h"
#include "src/util/lazy.h"

static struct husk_lazy_lib archive_lib = {
  .soname = HUSK_LIBARCHIVE_SONAME,
  .package = "libarchive13",
};

#define A_FN(ret, name, params, args) HUSK_LAZY_FN (archive_lib, ret, name, params, args)
#define A_VOID_FN(name, params, args) HUSK_LAZY_VOID_FN (archive_lib, name, params, args)

typedef struct archive A;
typedef struct archive_entry E;

/* struct archive: errors, reading, writing.  */
A_FN (int, archive_errno, (A * a), (a))
A_FN (const char *, archive_error_string, (A * a), (a))
A_FN (const char *, archive_format_name, (A * a), (a))

A_FN (A *, archive_read_new, (void), ())
A_FN (int, archive_read_support_filter_all, (A * a), (a))
A_FN (int, archive_read_support_filter_none, (A * a), (a))
A_FN (int, archive_read_support_filter_gzip, (A * a), (a))
A_FN (int, archive_read_support_filter_xz, (A * a), (a))
A_FN (int, archive_read_support_filter_zstd, (A * a), (a))
A_FN (int, archive_read_support_filter_bzip2, (A * a), (a))
A_FN (int, archive_read_support_format_all, (A * a), (a))
A_FN (int, archive_read_support_format_tar, (A * a), (a))
A_FN (int, archive_read_support_format_gnutar, (A * a), (a))
A_FN (int, archive_read_support_format_empty, (A * a), (a))
A_FN (int, archive_read_support_format_raw, (A * a), (a))
A_FN (int, archive_read_open,
      (A * a, void *data, archive_open_callback *o, archive_read_callback *r, archive_close_callback *c),
      (a, data, o, r, c))
A_FN (int, archive_read_open_fd, (A * a, int fd, size_t block_size), (a, fd, block_size))
A_FN (int, archive_read_open_filename, (A * a, const char *filename, size_t block_size),
      (a, filename, block_size))
A_FN (int, archive_read_open_memory, (A * a, const void *buff, size_t size), (a, buff, size))
A_FN (int, archive_read_next_header, (A * a, E **entry), (a, entry))
A_FN (int, archive_read_next_header2, (A * a, E *entry), (a, entry))
A_FN (la_ssize_t, archive_read_data, (A * a, void *buff, size_t size), (a, buff, size))
A_FN (int, archive_read_data_block, (A * a, const void **buff, size_t *size, la_int64_t *offset),
      (a, buff, size, offset))
A_FN (int, archive_read_data_skip, (A * a), (a))
A_FN (int, archive_read_data_into_fd, (A * a, int fd), (a, fd))
A_FN (int, archive_read_close, (A * a), (a))
A_FN (int, archive_read_free, (A * a), (a))

A_FN (A *, archive_write_new, (void), ())
A_FN (int, archive_write_add_filter_none, (A * a), (a))
A_FN (int, archive_write_add_filter_gzip, (A * a), (a))
A_FN (int, archive_write_add_filter_zstd, (A * a), (a))
A_FN (int, archive_write_set_format_pax, (A * a), (a))
A_FN (int, archive_write_set_format_pax_restricted, (A * a), (a))
A_FN (int, archive_write_set_format_ustar, (A * a), (a))
A_FN (int, archive_write_set_format_gnutar, (A * a), (a))
A_FN (int, archive_write_set_bytes_per_block, (A * a, int bytes_per_block), (a, bytes_per_block))
A_FN (int, archive_write_set_bytes_in_last_block, (A * a, int bytes_in_last_block), (a, bytes_in_last_block))
A_FN (int, archive_write_open,
      (A * a, void *data, archive_open_callback *o, archive_write_callback *w, archive_close_callback *c),
      (a, data, o, w, c))
A_FN (int, archive_write_open_fd, (A * a, int fd), (a, fd))
A_FN (int, archive_write_open_filename, (A * a, const char *file), (a, file))
A_FN (int, archive_write_open_memory, (A * a, void *buffer, size_t size, size_t *used),
      (a, buffer, size, used))
A_FN (int, archive_write_header, (A * a, E *entry), (a, entry))
A_FN (la_ssize_t, archive_write_data, (A * a, const void *buff, size_t size), (a, buff, size))
A_FN (la_ssize_t, archive_write_data_block, (A * a, const void *buff, size_t size, la_int64_t offset),
      (a, buff, size, offset))
A_FN (int, archive_write_close, (A * a), (a))
A_FN (int, archive_write_free, (A * a), (a))

/* libarchive formats the message itself; format it here and hand it over
   whole, since a va_list cannot be passed through "...".  */
void
archive_set_error (A *a, int err, const char *fmt, ...)
{
  __typeof__ (archive_set_error) *real = HUSK_LAZY_REAL (archive_lib, archive_set_error);
  char *msg = NULL;
  va_list ap;
  int n;

  va_start (ap, fmt);
  n = vasprintf (&msg, fmt, ap);
  va_end (ap);
  if (n < 0)
    husk_oom ();
  real (a, err, "%s", msg);
  free (msg);
}

/* struct archive_entry.  */
A_FN (E *, archive_entry_new, (void), ())
A_VOID_FN (archive_entry_free, (E * e), (e))
A_FN (E *, archive_entry_clear, (E * e), (e))
A_FN (E *, archive_entry_clone, (E * e), (e))

A_FN (__LA_MODE_T, archive_entry_filetype, (E * e), (e))
A_FN (__LA_MODE_T, archive_entry_mode, (E * e), (e))
A_FN (__LA_MODE_T, archive_entry_perm, (E * e), (e))
A_FN (const char *, archive_entry_pathname, (E * e), (e))
A_FN (const char *, archive_entry_pathname_utf8, (E * e), (e))
A_FN (const char *, archive_entry_hardlink, (E * e), (e))
A_FN (const char *, archive_entry_hardlink_utf8, (E * e), (e))
A_FN (const char *, archive_entry_symlink, (E * e), (e))
A_FN (const char *, archive_entry_symlink_utf8, (E * e), (e))
A_FN (const char *, archive_entry_uname, (E * e), (e))
A_FN (const char *, archive_entry_gname, (E * e), (e))
A_FN (la_int64_t, archive_entry_uid, (E * e), (e))
A_FN (la_int64_t, archive_entry_gid, (E * e), (e))
A_FN (la_int64_t, archive_entry_size, (E * e), (e))
A_FN (int, archive_entry_size_is_set, (E * e), (e))
A_FN (la_int64_t, archive_entry_ino, (E * e), (e))
A_FN (unsigned int, archive_entry_nlink, (E * e), (e))
A_FN (dev_t, archive_entry_dev, (E * e), (e))
A_FN (dev_t, archive_entry_devmajor, (E * e), (e))
A_FN (dev_t, archive_entry_devminor, (E * e), (e))
A_FN (dev_t, archive_entry_rdev, (E * e), (e))
A_FN (dev_t, archive_entry_rdevmajor, (E * e), (e))
A_FN (dev_t, archive_entry_rdevminor, (E * e), (e))
A_FN (time_t, archive_entry_atime, (E * e), (e))
A_FN (long, archive_entry_atime_nsec, (E * e), (e))
A_FN (int, archive_entry_atime_is_set, (E * e), (e))
A_FN (time_t, archive_entry_mtime, (E * e), (e))
A_FN (long, archive_entry_mtime_nsec, (E * e), (e))
A_FN (int, archive_entry_mtime_is_set, (E * e), (e))
A_FN (time_t, archive_entry_ctime, (E * e), (e))
A_FN (long, archive_entry_ctime_nsec, (E * e), (e))
A_FN (int, archive_entry_ctime_is_set, (E * e), (e))
A_FN (const struct stat *, archive_entry_stat, (E * e), (e))

A_VOID_FN (archive_entry_set_filetype, (E * e, unsigned int type), (e, type))
A_VOID_FN (archive_entry_set_mode, (E * e, __LA_MODE_T m), (e, m))
A_VOID_FN (archive_entry_set_perm, (E * e, __LA_MODE_T p), (e, p))
A_VOID_FN (archive_entry_set_pathname, (E * e, const char *s), (e, s))
A_VOID_FN (archive_entry_copy_pathname, (E * e, const char *s), (e, s))
A_FN (int, archive_entry_update_pathname_utf8, (E * e, const char *s), (e, s))
A_VOID_FN (archive_entry_set_hardlink, (E * e, const char *s), (e, s))
A_VOID_FN (archive_entry_copy_hardlink, (E * e, const char *s), (e, s))
A_VOID_FN (archive_entry_set_symlink, (E * e, const char *s), (e, s))
A_VOID_FN (archive_entry_copy_symlink, (E * e, const char *s), (e, s))
A_VOID_FN (archive_entry_set_link, (E * e, const char *s), (e, s))
A_VOID_FN (archive_entry_set_uname, (E * e, const char *s), (e, s))
A_VOID_FN (archive_entry_copy_uname, (E * e, const char *s), (e, s))
A_VOID_FN (archive_entry_set_gname, (E * e, const char *s), (e, s))
A_VOID_FN (archive_entry_copy_gname, (E * e, const char *s), (e, s))
A_VOID_FN (archive_entry_set_uid, (E * e, la_int64_t id), (e, id))
A_VOID_FN (archive_entry_set_gid, (E * e, la_int64_t id), (e, id))
A_VOID_FN (archive_entry_set_size, (E * e, la_int64_t s), (e, s))
A_VOID_FN (archive_entry_unset_size, (E * e), (e))
A_VOID_FN (archive_entry_set_nlink, (E * e, unsigned int n), (e, n))
A_VOID_FN (archive_entry_set_rdev, (E * e, dev_t d), (e, d))
A_VOID_FN (archive_entry_set_rdevmajor, (E * e, dev_t d), (e, d))
A_VOID_FN (archive_entry_set_rdevminor, (E * e, dev_t d), (e, d))
A_VOID_FN (archive_entry_set_atime, (E * e, time_t t, long ns), (e, t, ns))
A_VOID_FN (archive_entry_unset_atime, (E * e), (e))
A_VOID_FN (archive_entry_set_mtime, (E * e, time_t t, long ns), (e, t, ns))
A_VOID_FN (archive_entry_unset_mtime, (E * e), (e))
A_VOID_FN (archive_entry_set_ctime, (E * e, time_t t, long ns), (e, t, ns))
A_VOID_FN (archive_entry_copy_stat, (E * e, const struct stat *st), (e, st))

A_VOID_FN (archive_entry_xattr_clear, (E * e), (e))
A_VOID_FN (archive_entry_xattr_add_entry, (E * e, const char *name, const void *value, size_t size),
           (e, name, value, size))
A_FN (int, archive_entry_xattr_count, (E * e), (e))
A_FN (int, archive_entry_xattr_reset, (E * e), (e))
A_FN (int, archive_entry_xattr_next, (E * e, const char **name, const void **value, size_t *size),
      (e, name, value, size))
