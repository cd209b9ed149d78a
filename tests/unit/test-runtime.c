/* Unit tests for runtime-core (container.c, rootfs.c, mounts.c, devices.c,
   passwd.c, init.c): real containers from the fixture's busybox rootfs.

   The passwd parser tests run as anyone; the container tests need root
   and skip otherwise.  The rootfs (tests/fixtures/out/rootfs.tar, made by
   tests/fixtures/mkimage.sh) is extracted once into a temp dir and used as
   the bottom overlay layer; each container gets a fresh upper and work
   dir.  The last test checks that nothing was left mounted on the host.

   Rootless: the test binary re-executes itself as the unprivileged user
   husktest (`--rootless-child MODE DIR`), enters a user namespace (MODE
   "range": husk_userns_enter with husktest's /etc/subuid range; "single":
   a one-id map made by hand, as husk_userns_enter makes it when the user
   has no range) and runs containers from a copy of the rootfs owned by
   husktest.  A fresh process, so nothing cached as root (the cgroup
   backend, the namespace marker) leaks into it.  Skipped when husktest or
   newuidmap is missing, except under CI, where tests/unit/rootless-user.sh
   makes the user first.  */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "husk/cgroup.h"
#include "husk/fs.h"
#include "husk/layer.h"
#include "husk/runtime.h"
#include "husk/security.h"
#include "husk/userns.h"
#include "husk/util.h"

static char *tmpdir; /* everything the tests make lives here */
static char *rootfs; /* the extracted busybox root */
static bool have_rootfs;
static unsigned counter;

static char *const default_env[] = {
  (char *)"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  NULL,
};

static char *
read_mountinfo (void)
{
  husk_error_t err = NULL;
  char *data = NULL;

  if (husk_read_file_at (AT_FDCWD, "/proc/self/mountinfo", 0, &data, NULL, &err) < 0)
    {
      husk_error_release (&err);
      return xstrdup ("");
    }
  return data;
}

static int
run_shell (const char *cmd)
{
  int status = system (cmd);
  return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

static int
group_setup (void **state)
{
  cleanup_free char *tar = xasprintf ("%s/../fixtures/out/rootfs.tar", TEST_SRCDIR);
  cleanup_free char *cmd = NULL;

  tmpdir = xstrdup ("/tmp/husk-test-runtime-XXXXXX");
  if (mkdtemp (tmpdir) == NULL)
    return -1;
  if (geteuid () != 0)
    return 0;
  if (access (tar, R_OK) < 0)
    {
      cmd = xasprintf ("bash %s/../fixtures/mkimage.sh >/dev/null 2>&1", TEST_SRCDIR);
      run_shell (cmd);
      free (cmd);
    }
  rootfs = xasprintf ("%s/rootfs", tmpdir);
  cmd = xasprintf ("mkdir -p %s && tar -xf %s -C %s 2>/dev/null", rootfs, tar, rootfs);
  have_rootfs = run_shell (cmd) == 0;
  return 0;
}

static int
group_teardown (void **state)
{
  cleanup_free char *cmd = xasprintf ("rm -rf %s", tmpdir);

  run_shell (cmd);
  free (tmpdir);
  free (rootfs);
  return 0;
}

#define NEED_ROOT()                                                                                          \
  do                                                                                                         \
    {                                                                                                        \
      if (geteuid () != 0 || !have_rootfs)                                                                   \
        skip ();                                                                                             \
    }                                                                                                        \
  while (0)

/* A container under test: the spec plus the dirs it owns.  */
struct ctr
{
  struct husk_run_spec spec;
  char *lowers[2];
  char *upper, *work;
};

/* ---- the rootless child's checks (no cmocka there) ---- */

static bool rootless_child;
static int child_failures;

/* Like cmocka's assert_true, usable in the rootless child too.  */
#define CHECK(cond)                                                                                          \
  do                                                                                                         \
    {                                                                                                        \
      bool check_ok_ = (cond);                                                                               \
      if (rootless_child && !check_ok_)                                                                      \
        {                                                                                                    \
          fprintf (stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                          \
          _exit (90);                                                                                        \
        }                                                                                                    \
      assert_true (check_ok_);                                                                               \
    }                                                                                                        \
  while (0)

static void
ctr_init (struct ctr *c, char *const *argv)
{
  memset (c, 0, sizeof (*c));
  counter++;
  c->upper = xasprintf ("%s/upper%u", tmpdir, counter);
  c->work = xasprintf ("%s/work%u", tmpdir, counter);
  CHECK (mkdir (c->upper, 0755) == 0);
  CHECK (mkdir (c->work, 0700) == 0);
  c->lowers[0] = rootfs;
  c->spec.argv = argv;
  c->spec.env = default_env;
  c->spec.rootfs.lower_dirs = c->lowers;
  c->spec.rootfs.upper_dir = c->upper;
  c->spec.rootfs.work_dir = c->work;
  c->spec.stdio[0] = -1;
}

static void
ctr_free (struct ctr *c)
{
  free (c->upper);
  free (c->work);
}

static void
ctr_cgroup_free (struct husk_runtime_process *p)
{
  husk_error_t ignored = NULL;

  if (p->cgroup == NULL)
    return;
  if (husk_cgroup_destroy (p->cgroup, &ignored) < 0)
    husk_error_release (&ignored);
  husk_cgroup_free (p->cgroup);
  p->cgroup = NULL;
}

/* Create, start, collect stdout+stderr, wait.  Returns the exit code, or
   -1 with *err set when create or start failed.  */
static int
ctr_run (struct ctr *c, char **output, husk_error_t *err)
{
  struct husk_runtime_process p;
  int fds[2];
  int status;
  char *out = NULL;

  CHECK (pipe2 (fds, O_CLOEXEC) == 0);
  c->spec.stdio[1] = fds[1];
  c->spec.stdio[2] = fds[1];
  if (husk_runtime_create (&c->spec, &p, err) < 0)
    {
      close (fds[0]);
      close (fds[1]);
      return -1;
    }
  close (fds[1]);
  if (husk_runtime_start (&p, err) < 0)
    {
      close (fds[0]);
      waitpid (p.pid, NULL, 0);
      husk_runtime_process_release (&p);
      ctr_cgroup_free (&p);
      return -1;
    }
  {
    husk_error_t rerr = NULL;
    if (husk_read_all_fd (fds[0], 0, &out, NULL, &rerr) < 0)
      husk_error_release (&rerr);
  }
  close (fds[0]);
  CHECK (waitpid (p.pid, &status, 0) == p.pid);
  husk_runtime_process_release (&p);
  ctr_cgroup_free (&p);
  if (output != NULL)
    *output = out != NULL ? out : xstrdup ("");
  else
    free (out);
  return WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
}

/* Run and expect success with exactly EXPECTED as output.  In the
   rootless child a mismatch is printed and counted, and the checks go on.  */
static void
ctr_expect (struct ctr *c, int code, const char *expected)
{
  cleanup_free char *out = NULL;
  husk_error_t err = NULL;
  int ret = ctr_run (c, &out, &err);

  if (rootless_child)
    {
      if (ret < 0)
        fprintf (stderr, "`%s`: container failed: %s\n", c->spec.argv[strv_len (c->spec.argv) - 1], err->msg);
      else if ((expected != NULL && strcmp (out, expected) != 0) || ret != code)
        fprintf (stderr, "`%s`: exit %d (want %d), output:\n%s---- want:\n%s----\n",
                 c->spec.argv[strv_len (c->spec.argv) - 1], ret, code, out, expected ? expected : "(any)");
      else
        return;
      husk_error_release (&err);
      child_failures++;
      return;
    }
  if (ret < 0)
    fail_msg ("container failed: %s", err->msg);
  if (expected != NULL)
    assert_string_equal (out, expected);
  assert_int_equal (ret, code);
}

/* -Wwrite-strings makes literals const; argv vectors are char *const *.  */
#define ARGV(...) ((char *const *)(const char *const[]){ __VA_ARGS__, NULL })

/* ---- passwd.c (no root needed) ---- */

static int
passwd_root (void)
{
  cleanup_free char *dir = xasprintf ("%s/passwd-root", tmpdir);
  cleanup_free char *etc = xasprintf ("%s/etc", dir);
  cleanup_free char *pw = xasprintf ("%s/passwd", etc);
  cleanup_free char *gr = xasprintf ("%s/group", etc);
  FILE *f;

  mkdir (dir, 0755);
  mkdir (etc, 0755);
  f = fopen (pw, "w");
  fputs ("root:x:0:0:root:/root:/bin/sh\n# comment\nbroken line\n"
         "user:x:1000:1000:user:/home/user:/bin/sh\ndaemon:x:1:1::/usr/sbin:/bin/false\n",
         f);
  fclose (f);
  f = fopen (gr, "w");
  fputs ("root:x:0:\nwheel:x:10:root,user\nuser:x:1000:\nstaff:x:50:user\n", f);
  fclose (f);
  return open (dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
}

static void
test_passwd_resolve (void **state)
{
  int rootfd = passwd_root ();
  struct husk_user_ids ids;
  husk_error_t err = NULL;
  char *const add[] = { (char *)"staff", (char *)"4242", NULL };
  char *const bad_add[] = { (char *)"nosuchgroup", NULL };

  assert_true (rootfd >= 0);

  assert_int_equal (husk_passwd_resolve (rootfd, "user", NULL, &ids, &err), 0);
  assert_int_equal (ids.uid, 1000);
  assert_int_equal (ids.gid, 1000);
  assert_string_equal (ids.home, "/home/user");
  assert_int_equal (ids.n_additional_gids, 2); /* wheel and staff list user */
  assert_int_equal (ids.additional_gids[0], 10);
  assert_int_equal (ids.additional_gids[1], 50);
  husk_user_ids_free (&ids);

  /* A uid with an entry gets its name's groups and home.  */
  assert_int_equal (husk_passwd_resolve (rootfd, "1000", NULL, &ids, &err), 0);
  assert_string_equal (ids.home, "/home/user");
  assert_int_equal (ids.n_additional_gids, 2);
  husk_user_ids_free (&ids);

  /* A uid without one: gid 0, home /.  */
  assert_int_equal (husk_passwd_resolve (rootfd, "4000", NULL, &ids, &err), 0);
  assert_int_equal (ids.uid, 4000);
  assert_int_equal (ids.gid, 0);
  assert_string_equal (ids.home, "/");
  husk_user_ids_free (&ids);

  /* An explicit group: no supplementary groups from the file.  */
  assert_int_equal (husk_passwd_resolve (rootfd, "user:wheel", NULL, &ids, &err), 0);
  assert_int_equal (ids.gid, 10);
  assert_int_equal (ids.n_additional_gids, 0);
  husk_user_ids_free (&ids);

  assert_int_equal (husk_passwd_resolve (rootfd, "1:77", add, &ids, &err), 0);
  assert_int_equal (ids.uid, 1);
  assert_int_equal (ids.gid, 77);
  assert_int_equal (ids.n_additional_gids, 2);
  assert_int_equal (ids.additional_gids[0], 50);
  assert_int_equal (ids.additional_gids[1], 4242);
  husk_user_ids_free (&ids);

  assert_int_equal (husk_passwd_resolve (rootfd, NULL, NULL, &ids, &err), 0);
  assert_int_equal (ids.uid, 0);
  assert_string_equal (ids.home, "/root");
  husk_user_ids_free (&ids);

  assert_true (husk_passwd_resolve (rootfd, "nosuchuser", NULL, &ids, &err) < 0);
  assert_string_equal (err->msg, "unable to find user nosuchuser: no matching entries in passwd file");
  husk_error_release (&err);

  assert_true (husk_passwd_resolve (rootfd, "user:nogroup", NULL, &ids, &err) < 0);
  assert_string_equal (err->msg, "unable to find group nogroup: no matching entries in group file");
  husk_error_release (&err);

  assert_true (husk_passwd_resolve (rootfd, "root", bad_add, &ids, &err) < 0);
  assert_string_equal (err->msg, "Unable to find group nosuchgroup: no matching entries in group file");
  husk_error_release (&err);
  close (rootfd);
}

static void
test_passwd_missing_files (void **state)
{
  cleanup_free char *dir = xasprintf ("%s/empty-root", tmpdir);
  struct husk_user_ids ids;
  husk_error_t err = NULL;
  int rootfd;

  mkdir (dir, 0755);
  rootfd = open (dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  assert_int_equal (husk_passwd_resolve (rootfd, "123:456", NULL, &ids, &err), 0);
  assert_int_equal (ids.uid, 123);
  assert_int_equal (ids.gid, 456);
  husk_user_ids_free (&ids);
  assert_true (husk_passwd_resolve (rootfd, "nosuchuser", NULL, &ids, &err) < 0);
  assert_string_equal (err->msg, "unable to find user nosuchuser: no matching entries in passwd file");
  husk_error_release (&err);
  close (rootfd);
}

/* ---- containers ---- */

static void
test_echo_and_exit_codes (void **state)
{
  struct ctr c;

  NEED_ROOT ();
  ctr_init (&c, ARGV ("echo", "hello", "world"));
  ctr_expect (&c, 0, "hello world\n");
  ctr_free (&c);

  ctr_init (&c, ARGV ("sh", "-c", "exit 3"));
  ctr_expect (&c, 3, "");
  ctr_free (&c);

  /* pid 1 ignores even SIGKILL from inside its namespace: a child shell
       is killed instead, and its status passed on.  */
  ctr_init (&c, ARGV ("sh", "-c", "sh -c 'kill -9 $$'; exit $?"));
  ctr_expect (&c, 128 + 9, NULL);
  ctr_free (&c);
}

static void
test_not_found_and_not_executable (void **state)
{
  husk_error_t err = NULL;
  struct ctr c;

  NEED_ROOT ();
  ctr_init (&c, ARGV ("nosuchcommand"));
  assert_int_equal (ctr_run (&c, NULL, &err), -1);
  assert_int_equal (husk_error_exit_code (&err), 127);
  assert_non_null (strstr (err->msg, "executable file not found in $PATH"));
  husk_error_release (&err);
  ctr_free (&c);

  ctr_init (&c, ARGV ("/no/such/file"));
  assert_int_equal (ctr_run (&c, NULL, &err), -1);
  assert_int_equal (husk_error_exit_code (&err), 127);
  husk_error_release (&err);
  ctr_free (&c);

  ctr_init (&c, ARGV ("/etc/passwd"));
  assert_int_equal (ctr_run (&c, NULL, &err), -1);
  assert_int_equal (husk_error_exit_code (&err), 126);
  assert_non_null (strstr (err->msg, "Permission denied"));
  husk_error_release (&err);
  ctr_free (&c);
}

static void
test_hostname_and_pid1 (void **state)
{
  struct ctr c;

  NEED_ROOT ();
  ctr_init (&c, ARGV ("sh", "-c", "hostname; echo $$"));
  c.spec.hostname = "box";
  ctr_expect (&c, 0, "box\n1\n");
  ctr_free (&c);
}

static void
test_security_status (void **state)
{
  struct husk_security_spec sec;
  husk_error_t err = NULL;
  struct ctr c;

  NEED_ROOT ();
  husk_security_spec_init (&sec);
  if (husk_security_prepare (&sec, NULL, &err) < 0)
    fail_msg ("prepare: %s", err->msg);
  ctr_init (&c, ARGV ("sh", "-c", "grep -E '^(CapInh|CapAmb|Seccomp|NoNewPrivs):' /proc/self/status"));
  c.spec.security = &sec;
  ctr_expect (&c, 0, "CapInh:\t0000000000000000\nCapAmb:\t0000000000000000\nNoNewPrivs:\t0\nSeccomp:\t2\n");
  ctr_free (&c);

  /* A non-root user gets no effective capabilities.  */
  ctr_init (&c, ARGV ("sh", "-c", "id -u; grep -E '^CapEff:' /proc/self/status"));
  c.spec.security = &sec;
  c.spec.user = "user";
  ctr_expect (&c, 0, "1000\nCapEff:\t0000000000000000\n");
  ctr_free (&c);
  husk_security_spec_release (&sec);
}

static void
test_no_stray_fds (void **state)
{
  int leak = open ("/dev/null", O_RDONLY); /* not CLOEXEC: must not reach the container */
  struct ctr c;

  NEED_ROOT ();
  ctr_init (&c, ARGV ("ls", "/proc/self/fd"));
  /* 3 is ls's own directory fd.  */
  ctr_expect (&c, 0, "0\n1\n2\n3\n");
  ctr_free (&c);
  close (leak);
}

static void
test_kept_fd (void **state)
{
  int keep = open ("/dev/null", O_RDONLY | O_CLOEXEC);
  cleanup_free char *cmd = xasprintf ("test -e /proc/self/fd/%d && echo kept", keep);
  struct ctr c;

  NEED_ROOT ();
  ctr_init (&c, ARGV ("sh", "-c", cmd));
  c.spec.keep_fds = &keep;
  c.spec.n_keep_fds = 1;
  ctr_expect (&c, 0, "kept\n");
  ctr_free (&c);
  close (keep);
}

static void
test_masked_and_readonly_paths (void **state)
{
  char *const masked[] = { (char *)"/etc/hostname", (char *)"/home", (char *)"/no/such/path", NULL };
  struct ctr c;

  NEED_ROOT ();
  /* Docker's defaults (which of them exist depends on the kernel).  */
  ctr_init (
      &c,
      ARGV (
          "sh", "-c",
          "for f in /proc/keys /proc/timer_list /proc/sched_debug; do "
          "test -e $f && (wc -c < $f); done | sort -u; ls -A /sys/firmware | wc -l; "
          "echo x 2>/dev/null > /proc/sysrq-trigger || echo ro; "
          "echo 1 2>/dev/null > /proc/sys/kernel/shmmni || echo ro2; touch /sys/x 2>/dev/null || echo ro3"));
  ctr_expect (&c, 0, "0\n0\nro\nro2\nro3\n");
  ctr_free (&c);

  /* A caller's list: a file reads empty, a directory lists empty.  */
  ctr_init (&c, ARGV ("sh", "-c",
                      "wc -c < /etc/hostname; ls -A /home | wc -l; touch /home/x 2>/dev/null || echo ro"));
  c.spec.masked_paths = masked;
  ctr_expect (&c, 0, "0\n0\nro\n");
  ctr_free (&c);
}

static void
test_read_only_rootfs (void **state)
{
  struct ctr c;

  NEED_ROOT ();
  ctr_init (&c, ARGV ("sh", "-c", "touch /x 2>/dev/null || echo ro; touch /dev/shm/y && echo shm"));
  c.spec.rootfs.read_only = true;
  ctr_expect (&c, 0, "ro\nshm\n");
  ctr_free (&c);

  /* And writable otherwise, into the upper dir only.  */
  ctr_init (&c, ARGV ("sh", "-c", "echo data > /written && cat /written"));
  ctr_expect (&c, 0, "data\n");
  {
    cleanup_free char *in_upper = xasprintf ("%s/written", c.upper);
    cleanup_free char *in_lower = xasprintf ("%s/written", rootfs);
    assert_int_equal (access (in_upper, F_OK), 0);
    assert_int_equal (access (in_lower, F_OK), -1);
  }
  ctr_free (&c);
}

static void
test_bind_mounts (void **state)
{
  cleanup_free char *rw = xasprintf ("%s/vol-rw", tmpdir);
  cleanup_free char *ro = xasprintf ("%s/vol-ro", tmpdir);
  cleanup_free char *file = xasprintf ("%s/vol-ro/f", tmpdir);
  cleanup_free char *written = xasprintf ("%s/vol-rw/new", tmpdir);
  struct husk_mount mounts[2];
  FILE *f;
  struct ctr c;

  NEED_ROOT ();
  mkdir (rw, 0755);
  mkdir (ro, 0755);
  f = fopen (file, "w");
  fputs ("content\n", f);
  fclose (f);
  memset (mounts, 0, sizeof (mounts));
  mounts[0].source = rw;
  mounts[0].destination = "/data/rw";
  mounts[1].source = ro;
  mounts[1].destination = "/data/ro";
  mounts[1].readonly = true;
  ctr_init (&c,
            ARGV ("sh", "-c",
                  "echo hi > /data/rw/new && cat /data/ro/f && (touch /data/ro/g 2>/dev/null || echo ro)"));
  c.spec.mounts = mounts;
  c.spec.n_mounts = 2;
  ctr_expect (&c, 0, "content\nro\n");
  assert_int_equal (access (written, F_OK), 0);
  ctr_free (&c);
}

static void
test_tmpfs_and_shm (void **state)
{
  struct husk_mount m;
  struct ctr c;

  NEED_ROOT ();
  memset (&m, 0, sizeof (m));
  m.type = HUSK_MOUNT_TMPFS;
  m.destination = "/scratch";
  m.tmpfs_size = 1024 * 1024;
  m.tmpfs_mode = 0700;
  m.noexec = true;
  ctr_init (&c, ARGV ("sh", "-c",
                      "grep -o '/scratch tmpfs [^ ]*' /proc/mounts; stat -c %a /scratch; "
                      "grep -o '/dev/shm tmpfs [^ ]*' /proc/mounts"));
  c.spec.mounts = &m;
  c.spec.n_mounts = 1;
  c.spec.shm_size = 2 * 1024 * 1024;
  ctr_expect (&c, 0,
              "/scratch tmpfs rw,noexec,relatime,size=1024k,mode=700\n700\n"
              "/dev/shm tmpfs rw,nosuid,nodev,noexec,relatime,size=2048k\n");
  ctr_free (&c);
}

static void
test_dev (void **state)
{
  struct ctr c;

  NEED_ROOT ();
  ctr_init (&c, ARGV ("sh", "-c",
                      "ls /dev | tr '\\n' ' '; echo; head -c 4 /dev/zero | wc -c; "
                      "readlink /dev/ptmx; echo ok > /dev/null && echo null"));
  ctr_expect (&c, 0,
              "core fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero "
              "\n4\npts/ptmx\nnull\n");
  ctr_free (&c);

  /* --device /dev/zero:/dev/sub/myzero:  */
  {
    struct husk_device dev = { .host_path = "/dev/zero", .path = "/dev/sub/myzero", .file_mode = 0640 };
    ctr_init (&c, ARGV ("sh", "-c", "head -c 3 /dev/sub/myzero | wc -c; stat -c '%a %t:%T' /dev/sub/myzero"));
    c.spec.devices = &dev;
    c.spec.n_devices = 1;
    ctr_expect (&c, 0, "3\n640 1:5\n");
    ctr_free (&c);
  }
}

static void
test_cwd (void **state)
{
  husk_error_t err = NULL;
  struct ctr c;

  NEED_ROOT ();
  ctr_init (&c, ARGV ("pwd"));
  c.spec.cwd = "/made/for/you";
  ctr_expect (&c, 0, "/made/for/you\n");
  ctr_free (&c);

  ctr_init (&c, ARGV ("pwd"));
  c.spec.cwd = "/proc/self/fd/5";
  assert_int_equal (ctr_run (&c, NULL, &err), -1);
  assert_int_equal (husk_error_exit_code (&err), 125);
  assert_non_null (strstr (err->msg, "workdir `/proc/self/fd/5`"));
  husk_error_release (&err);
  ctr_free (&c);

  /* A symlink leading out of the root stays inside it.  */
  ctr_init (&c, ARGV ("pwd"));
  c.spec.cwd = "/../../../../tmp/../etc";
  ctr_expect (&c, 0, "/etc\n");
  ctr_free (&c);
}

static void
test_user (void **state)
{
  char *const groups[] = { (char *)"wheel", NULL };
  husk_error_t err = NULL;
  struct ctr c;

  NEED_ROOT ();
  ctr_init (&c, ARGV ("sh", "-c", "id -u; id -g; id -G; echo $HOME"));
  c.spec.user = "user";
  c.spec.group_add = groups;
  ctr_expect (&c, 0, "1000\n1000\n1000 10\n/home/user\n");
  ctr_free (&c);

  ctr_init (&c, ARGV ("id", "-u"));
  c.spec.user = "nosuchuser";
  assert_int_equal (ctr_run (&c, NULL, &err), -1);
  assert_string_equal (err->msg, "unable to find user nosuchuser: no matching entries in passwd file");
  husk_error_release (&err);
  ctr_free (&c);
}

static void
test_network_none (void **state)
{
  struct ctr c;

  NEED_ROOT ();
  ctr_init (&c, ARGV ("sh", "-c", "ls /sys/class/net; ip -o link | grep -c UP"));
  ctr_expect (&c, 0, "lo\n1\n");
  ctr_free (&c);
}

static void
test_etc_files_and_sysctl (void **state)
{
  cleanup_free char *hosts = xasprintf ("%s/hosts", tmpdir);
  char *const sysctls[] = { (char *)"net.ipv4.ip_forward=1", NULL };
  char *const bad[] = { (char *)"vm.swappiness=1", NULL };
  husk_error_t err = NULL;
  FILE *f = fopen (hosts, "w");
  struct ctr c;

  NEED_ROOT ();
  fputs ("127.0.0.1 localhost box\n", f);
  fclose (f);
  ctr_init (&c, ARGV ("sh", "-c", "cat /etc/hosts /proc/sys/net/ipv4/ip_forward"));
  c.spec.hosts_file = hosts;
  c.spec.sysctls = sysctls;
  ctr_expect (&c, 0, "127.0.0.1 localhost box\n1\n");
  ctr_free (&c);

  ctr_init (&c, ARGV ("true"));
  c.spec.sysctls = bad;
  assert_int_equal (ctr_run (&c, NULL, &err), -1);
  assert_non_null (strstr (err->msg, "not namespaced"));
  husk_error_release (&err);
  ctr_free (&c);
}

static void
test_init (void **state)
{
  struct ctr c;

  NEED_ROOT ();
  ctr_init (&c, ARGV ("sh", "-c", "echo $$; exit 7"));
  c.spec.init = true;
  ctr_expect (&c, 7, "2\n");
  ctr_free (&c);

  ctr_init (&c, ARGV ("nosuchcommand"));
  c.spec.init = true;
  {
    husk_error_t err = NULL;
    assert_int_equal (ctr_run (&c, NULL, &err), -1);
    assert_int_equal (husk_error_exit_code (&err), 127);
    husk_error_release (&err);
  }
  ctr_free (&c);
}

/* The fixture image's three layer blobs (bottom first), copied to
   DIR/blob1..3 by root so a rootless child can read them.  */
static int
copy_fixture_layers (const char *dir)
{
  cleanup_free char *env = xasprintf ("%s/../fixtures/out/image.env", TEST_SRCDIR);
  cleanup_free char *text = NULL;
  husk_error_t err = NULL;
  char *list, *save = NULL, *tok;
  unsigned n = 0;

  if (husk_read_file_at (AT_FDCWD, env, 0, &text, NULL, &err) < 0)
    {
      husk_error_release (&err);
      return -1;
    }
  list = strstr (text, "FIXTURE_LAYER_DIGESTS=\"");
  if (list == NULL)
    return -1;
  list += strlen ("FIXTURE_LAYER_DIGESTS=\"");
  list[strcspn (list, "\"")] = '\0';
  for (tok = strtok_r (list, " ", &save); tok != NULL; tok = strtok_r (NULL, " ", &save))
    {
      cleanup_free char *cmd = NULL;
      if (!husk_has_prefix (tok, "sha256:"))
        return -1;
      cmd = xasprintf ("cp %s/../fixtures/out/oci/blobs/sha256/%s %s/blob%u", TEST_SRCDIR,
                       tok + strlen ("sha256:"), dir, ++n);
      if (run_shell (cmd) != 0)
        return -1;
    }
  return n == 3 ? 0 : -1;
}

/* Apply BLOBS/blob1..3 into DIR/layer1..3 as the layer store does (USERXATTR
   as a rootless store), and run a container on them: layer 3 whites out
   /etc/removeme and makes /var/cache/old opaque; layer 2 has a file
   owned by 1000.  Returns the number of failures (messages on stderr).  */
static int
check_store_layers (const char *blobs, const char *dir, bool userxattr, bool chown_ok)
{
  struct husk_layer_apply_opts opts = { .userxattr = userxattr, .no_chown = !chown_ok };
  char *lowers[4] = { NULL, NULL, NULL, NULL };
  const char *owner = chown_ok ? "1000\n" : "0\n";
  cleanup_free char *expected = NULL;
  husk_error_t err = NULL;
  unsigned i;
  int failures = 0;
  struct ctr c;

  for (i = 0; i < 3; i++)
    {
      cleanup_free char *blob = xasprintf ("%s/blob%u", blobs, i + 1);
      struct husk_layer_apply_result res;
      cleanup_close int fd = open (blob, O_RDONLY | O_CLOEXEC);
      cleanup_close int dfd = -1;

      memset (&res, 0, sizeof (res));
      lowers[i] = xasprintf ("%s/layer%u", dir, i + 1);
      if (fd < 0 || mkdir (lowers[i], 0755) < 0
          || (dfd = open (lowers[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        {
          fprintf (stderr, "layer %u: %s\n", i + 1, strerror (errno));
          failures++;
          goto out;
        }
      if (husk_layer_apply (husk_read_fd, &fd, dfd, &opts, &res, &err) < 0)
        {
          fprintf (stderr, "apply layer %u: %s\n", i + 1, err->msg);
          husk_error_release (&err);
          failures++;
          goto out;
        }
      husk_layer_apply_result_clear (&res);
    }

  expected = xasprintf ("gone\nfresh\n%s", owner);
  ctr_init (&c, ARGV ("sh", "-c",
                      "test -e /etc/removeme || echo gone; ls /var/cache/old; stat -c %u /home/user/owned"));
  c.spec.rootfs.lower_dirs = lowers;
  {
    cleanup_free char *out = NULL;
    int ret = ctr_run (&c, &out, &err);
    if (ret != 0 || strcmp (out, expected) != 0)
      {
        fprintf (stderr, "store layers: exit %d, %s\n", ret, ret < 0 ? err->msg : out);
        husk_error_release (&err);
        failures++;
      }
  }
  ctr_free (&c);
out:
  for (i = 0; i < 3; i++)
    free (lowers[i]);
  return failures;
}

static void
test_store_layers (void **state)
{
  cleanup_free char *dir = NULL;

  NEED_ROOT ();
  dir = xasprintf ("%s/store-layers", tmpdir);
  assert_int_equal (mkdir (dir, 0755), 0);
  if (copy_fixture_layers (dir) < 0)
    skip ();
  assert_int_equal (check_store_layers (dir, dir, false, true), 0);
}

static void
test_vfs_rootfs (void **state)
{
  struct ctr c;

  NEED_ROOT ();
  ctr_init (&c, ARGV ("cat", "/etc/hostname"));
  c.spec.rootfs.lower_dirs = NULL;
  c.spec.rootfs.upper_dir = NULL;
  c.spec.rootfs.work_dir = NULL;
  c.spec.rootfs.dir = rootfs;
  ctr_expect (&c, 0, "husk-test\n");
  ctr_free (&c);
}

static void
test_200_layers (void **state)
{
  char **lowers = NULL;
  struct ctr c;
  unsigned i;

  NEED_ROOT ();
  strv_append (&lowers, rootfs);
  for (i = 1; i < 200; i++)
    {
      cleanup_free char *dir = xasprintf ("%s/layers/%064u/diff/layers", tmpdir, i);
      cleanup_free char *file = xasprintf ("%s/f%03u", dir, i);
      husk_error_t err = NULL;
      int fd;

      assert_int_equal (husk_mkdir_p (dir, 0755, &err), 0);
      fd = open (file, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
      assert_true (fd >= 0);
      close (fd);
      dir[strlen (dir) - strlen ("/layers")] = '\0';
      strv_append (&lowers, dir);
    }
  ctr_init (&c, ARGV ("sh", "-c", "ls /layers | wc -l; ls /layers | head -n 1; ls /layers | tail -n 1"));
  c.spec.rootfs.lower_dirs = lowers;
  ctr_expect (&c, 0, "199\nf001\nf199\n");
  ctr_free (&c);
  strv_free (lowers);
}

/* As the monitor runs -t: the pty master comes back from create, the
   output is read from it.  Returns the output, or NULL with *err set.  */
static char *
ctr_run_pty (struct ctr *c, husk_error_t *err)
{
  struct husk_runtime_process p;
  struct husk_buf out = { 0 };
  int status;

  c->spec.terminal = true;
  c->spec.stdio[1] = -1;
  c->spec.stdio[2] = -1;
  if (husk_runtime_create (&c->spec, &p, err) < 0)
    return NULL;
  CHECK (p.pty_master >= 0);
  if (husk_runtime_start (&p, err) < 0)
    {
      waitpid (p.pid, NULL, 0);
      husk_runtime_process_release (&p);
      return NULL;
    }
  for (;;)
    {
      char chunk[256];
      ssize_t n = read (p.pty_master, chunk, sizeof (chunk));
      if (n <= 0)
        break; /* EIO once the last slave fd closed */
      husk_buf_append (&out, chunk, (size_t)n);
    }
  CHECK (waitpid (p.pid, &status, 0) == p.pid);
  husk_runtime_process_release (&p);
  if (out.data == NULL)
    husk_buf_puts (&out, "");
  return husk_buf_steal (&out, NULL);
}

static void
test_terminal (void **state)
{
  cleanup_free char *out = NULL;
  husk_error_t err = NULL;
  struct ctr c;

  NEED_ROOT ();
  ctr_init (&c, ARGV ("sh", "-c", "tty; stat -c %u $(tty); test -t 0 && echo in-tty"));
  c.spec.user = "user";
  out = ctr_run_pty (&c, &err);
  if (out == NULL)
    fail_msg ("create: %s", err->msg);
  assert_string_equal (out, "/dev/pts/0\r\n1000\r\nin-tty\r\n");
  ctr_free (&c);
}

/* The monitor (here a forked process) is killed with SIGKILL while the
   container runs: the container must die too (its parent-death signal).
   A subreaper in between collects the orphan.  Returns 0 when it died of
   SIGKILL, else a code naming the step that failed.  */
static int
dies_with_parent (struct ctr *c)
{
  int fds[2];
  pid_t helper;
  int status;

  CHECK (pipe2 (fds, O_CLOEXEC) == 0);
  helper = fork ();
  CHECK (helper >= 0);
  if (helper == 0)
    {
      pid_t monitor, ctr_pid;

      prctl (PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
      monitor = fork ();
      if (monitor == 0)
        {
          struct husk_runtime_process p;
          husk_error_t err = NULL;

          c->spec.stdio[1] = -1;
          c->spec.stdio[2] = -1;
          if (husk_runtime_create (&c->spec, &p, &err) < 0 || husk_runtime_start (&p, &err) < 0)
            {
              fprintf (stderr, "dies_with_parent: %s\n", err->msg);
              _exit (2);
            }
          if (write (fds[1], &p.pid, sizeof (p.pid)) != sizeof (p.pid))
            _exit (2);
          for (;;)
            pause ();
        }
      close (fds[1]);
      if (monitor < 0 || read (fds[0], &ctr_pid, sizeof (ctr_pid)) != sizeof (ctr_pid))
        _exit (3);
      kill (monitor, SIGKILL);
      waitpid (monitor, NULL, 0);
      alarm (20); /* a survivor would keep us here: SIGALRM fails the test */
      if (waitpid (ctr_pid, &status, 0) != ctr_pid)
        _exit (4);
      _exit (WIFSIGNALED (status) && WTERMSIG (status) == SIGKILL ? 0 : 5);
    }
  close (fds[0]);
  close (fds[1]);
  CHECK (waitpid (helper, &status, 0) == helper);
  return WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
}

static void
test_dies_with_parent (void **state)
{
  struct ctr c;

  NEED_ROOT ();
  ctr_init (&c, ARGV ("sleep", "60"));
  assert_int_equal (dies_with_parent (&c), 0);
  ctr_free (&c);

  /* Another user: setresuid cleared the signal, the runtime set it again.  */
  ctr_init (&c, ARGV ("sleep", "60"));
  c.spec.user = "user";
  assert_int_equal (dies_with_parent (&c), 0);
  ctr_free (&c);

  /* --init is pid 1: it dies with the monitor, the command with it.  */
  ctr_init (&c, ARGV ("sleep", "60"));
  c.spec.init = true;
  assert_int_equal (dies_with_parent (&c), 0);
  ctr_free (&c);
}

static void
test_namespace_modes (void **state)
{
  cleanup_free char *expected = NULL;
  struct ctr c;
  char name[256];

  NEED_ROOT ();
  /* Host pid namespace: the shell is not pid 1.  Host uts: the host's
     name.  Joined network namespace (here the host's, by path).  */
  assert_int_equal (gethostname (name, sizeof (name)), 0);
  expected = xasprintf ("%s\nnot1\nyes\n", name);
  ctr_init (&c,
            ARGV ("sh", "-c", "hostname; test $$ != 1 && echo not1; test -e /sys/class/net/lo && echo yes"));
  c.spec.pid_ns.mode = HUSK_NS_HOST;
  c.spec.uts_ns.mode = HUSK_NS_HOST;
  c.spec.ipc_ns.mode = HUSK_NS_HOST;
  c.spec.net_ns.mode = HUSK_NS_JOIN;
  c.spec.net_ns.path = "/proc/self/ns/net";
  ctr_expect (&c, 0, expected);
  ctr_free (&c);
}

static void
test_cgroup (void **state)
{
  struct husk_cgroup_limits limits;
  struct husk_runtime_process p;
  cleanup_free char *id = xasprintf ("rt-test-%d", (int)getpid ());
  cleanup_free char *path = NULL;
  cleanup_free char *cg = NULL;
  husk_error_t err = NULL;
  struct ctr c;
  int status;

  NEED_ROOT ();
  memset (&limits, 0, sizeof (limits));
  limits.pids_limit = 50;
  ctr_init (&c, ARGV ("true"));
  c.spec.id = id;
  c.spec.cgroup = &limits;
  c.spec.stdio[1] = -1;
  c.spec.stdio[2] = -1;
  if (husk_runtime_create (&c.spec, &p, &err) < 0)
    fail_msg ("create: %s", err->msg);
  /* Moved into its cgroup before it ran anything of the user's.  */
  path = xasprintf ("/proc/%d/cgroup", (int)p.pid);
  assert_int_equal (husk_read_file_at (AT_FDCWD, path, 0, &cg, NULL, &err), 0);
  if (husk_cgroup_detect (NULL) != HUSK_CGROUP_NONE)
    assert_non_null (strstr (cg, id));
  assert_int_equal (husk_runtime_start (&p, &err), 0);
  assert_int_equal (waitpid (p.pid, &status, 0), p.pid);
  assert_int_equal (WEXITSTATUS (status), 0);
  assert_int_equal (husk_cgroup_destroy (p.cgroup, &err), 0);
  husk_cgroup_free (p.cgroup);
  husk_runtime_process_release (&p);
  ctr_free (&c);

  /* Inside, its own cgroup is the root of a read-only /sys/fs/cgroup.  */
  if (husk_cgroup_detect (NULL) == HUSK_CGROUP_V1)
    {
      struct husk_runtime_process q;
      int fds[2];
      char *out = NULL;

      ctr_init (&c, ARGV ("sh", "-c",
                          "cat /sys/fs/cgroup/pids/pids.max; ls /sys/fs/cgroup | grep -c memory; "
                          "touch /sys/fs/cgroup/x 2>/dev/null || echo ro"));
      c.spec.id = id;
      c.spec.cgroup = &limits;
      assert_int_equal (pipe2 (fds, O_CLOEXEC), 0);
      c.spec.stdio[1] = fds[1];
      c.spec.stdio[2] = fds[1];
      if (husk_runtime_create (&c.spec, &q, &err) < 0)
        fail_msg ("create: %s", err->msg);
      close (fds[1]);
      assert_int_equal (husk_runtime_start (&q, &err), 0);
      assert_int_equal (husk_read_all_fd (fds[0], 0, &out, NULL, &err), 0);
      close (fds[0]);
      assert_int_equal (waitpid (q.pid, &status, 0), q.pid);
      assert_string_equal (out, "50\n1\nro\n");
      free (out);
      assert_int_equal (husk_cgroup_destroy (q.cgroup, &err), 0);
      husk_cgroup_free (q.cgroup);
      husk_runtime_process_release (&q);
      ctr_free (&c);
    }
}

static int
cmp_int64 (const void *a, const void *b)
{
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

/* Not a pass/fail figure (DESIGN.md 6: bench/ measures): printed for the
   report.  create -> exit of `true`, 100 times, median, with a volatile
   upper as `run --rm` would use.  */
static void
measure (const char *what, const struct husk_security_spec *sec)
{
  int64_t times[100];
  size_t i;

  for (i = 0; i < 100; i++)
    {
      struct husk_runtime_process p;
      husk_error_t err = NULL;
      struct ctr c;
      int64_t t0;

      ctr_init (&c, ARGV ("true"));
      c.spec.security = sec;
      c.spec.rootfs.volatile_upper = true; /* as run --rm */
      c.spec.stdio[1] = -1;
      c.spec.stdio[2] = -1;
      t0 = husk_now_ns ();
      if (husk_runtime_create (&c.spec, &p, &err) < 0 || husk_runtime_start (&p, &err) < 0)
        fail_msg ("run: %s", err->msg);
      waitpid (p.pid, NULL, 0);
      times[i] = husk_now_ns () - t0;
      husk_runtime_process_release (&p);
      ctr_free (&c);
    }
  qsort (times, 100, sizeof (times[0]), cmp_int64);
  print_message ("create -> exit of `true` (%s): median %.2f ms, min %.2f ms, p90 %.2f ms\n", what,
                 (double)times[50] / 1e6, (double)times[0] / 1e6, (double)times[90] / 1e6);
}

/* The same figure for a bare fork + execve of the image's busybox `true`
   (no namespaces, no mounts): what this machine costs right now, to read
   the container figures against (a loaded machine inflates both).  */
static void
measure_baseline (void)
{
  cleanup_free char *busybox = xasprintf ("%s/bin/busybox", rootfs);
  int64_t times[100];
  size_t i;

  for (i = 0; i < 100; i++)
    {
      int64_t t0 = husk_now_ns ();
      pid_t pid = fork ();
      if (pid == 0)
        {
          execl (busybox, "true", (char *)NULL);
          _exit (127);
        }
      waitpid (pid, NULL, 0);
      times[i] = husk_now_ns () - t0;
    }
  qsort (times, 100, sizeof (times[0]), cmp_int64);
  print_message ("fork + execve of `true`, no container (baseline): median %.2f ms, min %.2f ms\n",
                 (double)times[50] / 1e6, (double)times[0] / 1e6);
}

static void
test_latency (void **state)
{
  struct husk_security_spec sec;
  husk_error_t err = NULL;

  NEED_ROOT ();
  measure_baseline ();
  husk_security_spec_init (&sec);
  if (husk_security_prepare (&sec, NULL, &err) < 0)
    fail_msg ("prepare: %s", err->msg);
  measure ("default caps + seccomp", &sec);
  husk_security_spec_release (&sec);
}

/* ---- rootless ---- */

#define ROOTLESS_USER "husktest"

/* The checks, run as uid 0 of the user namespace.  SINGLE: a one-id map
   (no ranges: only uid and gid 0 exist).  Returns the number of failures.  */
static int
rootless_checks (bool single)
{
  cleanup_free char *uid_map = NULL;
  husk_error_t err = NULL;
  struct ctr c;

  /* Who we are, as the container sees it.  */
  if (single)
    uid_map = xasprintf ("0 %lu 1\n", (unsigned long)husk_userns_outer_uid ());
  else
    {
      unsigned long start = 0, count = 0;
      struct passwd *pw = getpwuid (husk_userns_outer_uid ());
      CHECK (husk_subid_range ("/etc/subuid", husk_userns_outer_uid (), pw ? pw->pw_name : NULL, &start,
                               &count, &err)
             == 1);
      uid_map = xasprintf ("0 %lu 1\n1 %lu %lu\n", (unsigned long)husk_userns_outer_uid (), start, count);
    }
  {
    cleanup_free char *expected = xasprintf ("0\n0\n%s", uid_map);
    ctr_init (&c, ARGV ("sh", "-c", "id -u; id -g; awk '{print $1, $2, $3}' /proc/self/uid_map"));
    ctr_expect (&c, 0, expected);
    ctr_free (&c);
  }

  /* /dev: the host's nodes bound on empty files.  */
  ctr_init (
      &c, ARGV ("sh", "-c",
                "ls /dev | tr '\\n' ' '; echo; head -c 4 /dev/zero | wc -c; head -c 4 /dev/urandom | wc -c; "
                "readlink /dev/ptmx; echo ok > /dev/null && echo null"));
  ctr_expect (&c, 0,
              "core fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero "
              "\n4\n4\npts/ptmx\nnull\n");
  ctr_free (&c);

  /* Writes land in the overlay's upper dir (userxattr overlay).  */
  ctr_init (
      &c, ARGV ("sh", "-c",
                "echo data > /written && cat /written && rm /bin/true && test ! -e /bin/true && echo gone"));
  ctr_expect (&c, 0, "data\ngone\n");
  {
    cleanup_free char *in_upper = xasprintf ("%s/written", c.upper);
    cleanup_free char *in_lower = xasprintf ("%s/written", rootfs);
    cleanup_free char *lower_true = xasprintf ("%s/bin/true", rootfs);
    if (access (in_upper, F_OK) < 0 || access (in_lower, F_OK) == 0 || access (lower_true, F_OK) < 0)
      {
        fprintf (stderr, "overlay: the write did not land in the upper dir only\n");
        child_failures++;
      }
  }
  ctr_free (&c);

  /* Private namespaces: proc, sysfs, loopback, hostname, pid 1.  */
  ctr_init (&c, ARGV ("sh", "-c",
                      "hostname; echo $$; ls /sys/class/net; touch /sys/x 2>/dev/null || echo ro; "
                      "grep -c . /proc/self/status >/dev/null && echo proc"));
  c.spec.hostname = "box";
  ctr_expect (&c, 0, "box\n1\nlo\nro\nproc\n");
  ctr_free (&c);

  /* The host's pid, network and ipc namespaces: /proc, /sys and
     /dev/mqueue are the host's, bound (/sys read-only).  */
  ctr_init (&c, ARGV ("sh", "-c",
                      "test $$ != 1 && echo not1; test -e /proc/1/status && echo proc; "
                      "test -e /sys/class/net/lo && echo sys; touch /sys/x 2>/dev/null || echo ro; "
                      "test -d /dev/mqueue && echo mq"));
  c.spec.pid_ns.mode = HUSK_NS_HOST;
  c.spec.net_ns.mode = HUSK_NS_HOST;
  c.spec.ipc_ns.mode = HUSK_NS_HOST;
  ctr_expect (&c, 0, "not1\nproc\nsys\nro\nmq\n");
  ctr_free (&c);

  /* The default security spec: caps and seccomp load in the namespace.  */
  {
    struct husk_security_spec sec;
    husk_security_spec_init (&sec);
    if (husk_security_prepare (&sec, NULL, &err) < 0)
      {
        fprintf (stderr, "security prepare: %s\n", err->msg);
        husk_error_release (&err);
        child_failures++;
      }
    ctr_init (&c, ARGV ("sh", "-c", "grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status"));
    c.spec.security = &sec;
    ctr_expect (&c, 0, "NoNewPrivs:\t0\nSeccomp:\t2\n");
    ctr_free (&c);
    if (!single)
      {
        char *const groups[] = { (char *)"wheel", NULL };
        ctr_init (&c, ARGV ("sh", "-c", "id -u; id -G; grep -E '^CapEff:' /proc/self/status"));
        c.spec.security = &sec;
        c.spec.user = "user";
        c.spec.group_add = groups;
        ctr_expect (&c, 0, "1000\n1000 10\nCapEff:\t0000000000000000\n");
        ctr_free (&c);
      }
    else
      {
        /* setgroups is denied: the groups from /etc/group are skipped.  */
        char *const groups[] = { (char *)"0", NULL };
        ctr_init (&c, ARGV ("id", "-u"));
        c.spec.security = &sec;
        c.spec.group_add = groups;
        ctr_expect (&c, 0, "0\n");
        ctr_free (&c);
      }
    husk_security_spec_release (&sec);
  }

  /* No security spec either: the runtime's own setgroups path.  */
  {
    const gid_t extra[] = { 0 };
    ctr_init (&c, ARGV ("id", "-u"));
    c.spec.additional_gids = extra;
    c.spec.n_additional_gids = 1;
    ctr_expect (&c, 0, "0\n");
    ctr_free (&c);
  }

  /* -t as the monitor runs it: a pty from the container's devpts.  */
  {
    cleanup_free char *out = NULL;
    const char *want = single ? "/dev/pts/0\r\n0\r\nin-tty\r\n" : "/dev/pts/0\r\n1000\r\nin-tty\r\n";
    ctr_init (&c, ARGV ("sh", "-c", "tty; stat -c %u $(tty); test -t 0 && echo in-tty"));
    if (!single)
      c.spec.user = "user";
    out = ctr_run_pty (&c, &err);
    if (out == NULL || strcmp (out, want) != 0)
      {
        fprintf (stderr, "terminal: %s\n", out == NULL ? err->msg : out);
        husk_error_release (&err);
        child_failures++;
      }
    ctr_free (&c);
  }

  /* --device: the host node bound.  */
  {
    struct husk_device dev = { .host_path = "/dev/zero", .path = "/dev/sub/myzero" };
    ctr_init (&c, ARGV ("sh", "-c", "head -c 3 /dev/sub/myzero | wc -c; stat -c '%t:%T' /dev/sub/myzero"));
    c.spec.devices = &dev;
    c.spec.n_devices = 1;
    ctr_expect (&c, 0, "3\n1:5\n");
    ctr_free (&c);
  }

  /* Limits with no delegated cgroup: a no-op (one warning), it runs.  */
  {
    struct husk_cgroup_limits limits;
    memset (&limits, 0, sizeof (limits));
    limits.pids_limit = 50;
    ctr_init (&c, ARGV ("echo", "limited"));
    c.spec.id = "rootless-test";
    c.spec.cgroup = &limits;
    ctr_expect (&c, 0, "limited\n");
    ctr_free (&c);
  }

  /* Volumes, --init, a vfs root.  */
  {
    cleanup_free char *vol = xasprintf ("%s/vol", tmpdir);
    struct husk_mount m;
    CHECK (mkdir (vol, 0755) == 0);
    memset (&m, 0, sizeof (m));
    m.source = vol;
    m.destination = "/data";
    ctr_init (&c, ARGV ("sh", "-c", "echo $$; echo hi > /data/f && cat /data/f"));
    c.spec.mounts = &m;
    c.spec.n_mounts = 1;
    c.spec.init = true;
    ctr_expect (&c, 0, "2\nhi\n");
    ctr_free (&c);
  }
  ctr_init (&c, ARGV ("cat", "/etc/hostname"));
  c.spec.rootfs.lower_dirs = NULL;
  c.spec.rootfs.upper_dir = NULL;
  c.spec.rootfs.work_dir = NULL;
  c.spec.rootfs.dir = rootfs;
  ctr_expect (&c, 0, "husk-test\n");
  ctr_free (&c);

  /* Layers applied as the rootless store applies them (user.overlay.*
     xattrs, chown only with ranges) merge right under "userxattr".  */
  {
    cleanup_free char *blobs = xasprintf ("%s/..", tmpdir);
    child_failures += check_store_layers (blobs, tmpdir, true, !single);
  }

  /* The monitor's death kills the container here too.  */
  ctr_init (&c, ARGV ("sleep", "60"));
  if (!single)
    c.spec.user = "user";
  if (dies_with_parent (&c) != 0)
    {
      fprintf (stderr, "the container outlived its killed parent\n");
      child_failures++;
    }
  ctr_free (&c);
  return child_failures;
}

static int
write_self (const char *file, const char *content)
{
  cleanup_free char *path = xasprintf ("/proc/self/%s", file);
  cleanup_close int fd = open (path, O_WRONLY | O_CLOEXEC);

  return fd >= 0 && write (fd, content, strlen (content)) == (ssize_t)strlen (content) ? 0 : -1;
}

/* What husk_userns_enter does for a user with no subordinate ids, done
   by hand (husktest has a range): map the user alone, deny setgroups,
   and leave the marker husk's own namespace carries.  */
static int
enter_single_map (husk_error_t *err)
{
  uid_t uid = getuid ();
  gid_t gid = getgid ();
  cleanup_free char *umap = xasprintf ("0 %lu 1", (unsigned long)uid);
  cleanup_free char *gmap = xasprintf ("0 %lu 1", (unsigned long)gid);
  cleanup_free char *marker = xasprintf ("%lu:%lu:0", (unsigned long)uid, (unsigned long)gid);

  if (unshare (CLONE_NEWUSER) < 0)
    return husk_make_error (err, errno, "unshare");
  if (write_self ("setgroups", "deny") < 0 || write_self ("uid_map", umap) < 0
      || write_self ("gid_map", gmap) < 0)
    return husk_make_error (err, errno, "write the id maps");
  setenv (HUSK_USERNS_ENV, marker, 1);
  return 0;
}

/* main () of `test-runtime --rootless-child MODE DIR`, as husktest.  */
static int
rootless_child_main (const char *mode, const char *dir)
{
  husk_error_t err = NULL;
  bool single = strcmp (mode, "single") == 0;
  int ret = single ? enter_single_map (&err) : husk_userns_enter (&err);

  rootless_child = true;
  if (ret < 0)
    {
      fprintf (stderr, "entering the user namespace: %s\n", err->msg);
      return 2;
    }
  if (geteuid () != 0 || !husk_userns_is_rootless ())
    {
      fprintf (stderr, "not uid 0 of a rootless namespace\n");
      return 2;
    }
  tmpdir = xasprintf ("%s/%s", dir, mode);
  rootfs = xasprintf ("%s/rootfs", dir);
  if (mkdir (tmpdir, 0700) < 0)
    {
      fprintf (stderr, "mkdir %s: %s\n", tmpdir, strerror (errno));
      return 2;
    }
  ret = rootless_checks (single);
  fprintf (stderr, "rootless (%s map): %d failure(s)\n", mode, ret);
  return ret == 0 ? 0 : 1;
}

/* Run this binary as husktest in MODE on a rootfs copy it owns.  */
static void
run_rootless (const char *mode)
{
  cleanup_free char *dir = NULL;
  cleanup_free char *cmd = NULL;
  cleanup_free char *self = NULL;
  cleanup_free char *exe = NULL;
  struct passwd *pw;
  pid_t pid;
  int status;

  NEED_ROOT ();
  pw = getpwnam (ROOTLESS_USER);
  if (pw == NULL && getenv ("CI") != NULL)
    {
      cmd = xasprintf ("bash %s/rootless-user.sh %s", TEST_SRCDIR, ROOTLESS_USER);
      run_shell (cmd);
      free (cmd);
      cmd = NULL;
      pw = getpwnam (ROOTLESS_USER);
    }
  if (pw == NULL || access ("/usr/bin/newuidmap", X_OK) < 0)
    {
      print_message ("no user " ROOTLESS_USER " or no newuidmap (tests/unit/rootless-user.sh makes them): "
                     "rootless tests skipped\n");
      skip ();
    }
  dir = xasprintf ("/tmp/husk-test-rootless-%s-XXXXXX", mode);
  assert_non_null (mkdtemp (dir));
  /* The binary too: the build dir may be out of husktest's reach.  */
  self = realpath ("/proc/self/exe", NULL);
  assert_non_null (self);
  exe = xasprintf ("%s/test-runtime", dir);
  cmd = xasprintf ("cp -a %s %s/rootfs && cp %s %s && chown -R %lu:%lu %s", rootfs, dir, self, exe,
                   (unsigned long)pw->pw_uid, (unsigned long)pw->pw_gid, dir);
  assert_int_equal (run_shell (cmd), 0);
  if (copy_fixture_layers (dir) < 0)
    fail_msg ("the fixture image's layers are missing (tests/fixtures/mkimage.sh)");
  free (cmd);
  cmd = xasprintf ("chown -R %lu:%lu %s", (unsigned long)pw->pw_uid, (unsigned long)pw->pw_gid, dir);
  assert_int_equal (run_shell (cmd), 0);

  pid = fork ();
  assert_true (pid >= 0);
  if (pid == 0)
    {
      if (setgroups (0, NULL) < 0 || setresgid (pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0
          || setresuid (pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0)
        _exit (126);
      unsetenv (HUSK_USERNS_ENV);
      execl (exe, "test-runtime", "--rootless-child", mode, dir, (char *)NULL);
      _exit (127);
    }
  assert_int_equal (waitpid (pid, &status, 0), pid);
  free (cmd);
  cmd = xasprintf ("rm -rf %s", dir);
  run_shell (cmd);
  assert_true (WIFEXITED (status));
  assert_int_equal (WEXITSTATUS (status), 0);
}

static void
test_rootless_range (void **state)
{
  run_rootless ("range");
}

static void
test_rootless_single_map (void **state)
{
  run_rootless ("single");
}

static void
test_rootless_refused (void **state)
{
  husk_error_t err = NULL;
  pid_t pid;
  int status;

  NEED_ROOT ();
  pid = fork ();
  if (pid == 0)
    {
      struct husk_runtime_process p;
      struct husk_run_spec spec;
      memset (&spec, 0, sizeof (spec));
      spec.argv = ARGV ("true");
      if (setresuid (1000, 1000, 1000) < 0)
        _exit (2);
      if (husk_runtime_create (&spec, &p, &err) == 0)
        _exit (3);
      _exit (strcmp (err->msg, "containers need root or husk's user namespace (husk_userns_enter) to run: "
                               "Operation not permitted")
                     == 0
                 ? 0
                 : 4);
    }
  assert_int_equal (waitpid (pid, &status, 0), pid);
  assert_int_equal (WEXITSTATUS (status), 0);
}

/* What /etc/hosts and /etc/resolv.conf start from: the localhost names in
   a network namespace of its own, the host's files with the host's
   network.  */
static void
test_etc_hosts_resolv_content (void **state)
{
  husk_error_t err = NULL;
  cleanup_free char *hosts = NULL;
  cleanup_free char *host_hosts = NULL;
  cleanup_free char *resolv = NULL;
  cleanup_free char *expected = NULL;
  size_t len = 99, expected_len = 0;

  (void)state;
  hosts = husk_etc_hosts_base (false, &len);
  assert_string_equal (hosts,
                       "127.0.0.1\tlocalhost localhost.localdomain localhost4 localhost4.localdomain4\n"
                       "::1\tlocalhost localhost.localdomain localhost6 localhost6.localdomain6\n");
  assert_int_equal (len, strlen (hosts));

  host_hosts = husk_etc_hosts_base (true, &len);
  if (husk_read_file_at (AT_FDCWD, "/etc/hosts", 0, &expected, &expected_len, &err) < 0)
    {
      husk_error_release (&err);
      assert_string_equal (host_hosts, "");
      assert_int_equal (len, 0);
    }
  else
    {
      assert_int_equal (len, expected_len);
      assert_memory_equal (host_hosts, expected, len);
    }
  free (steal_pointer (&expected));

  /* With the host's network, the host's own resolver list, as it is.  */
  resolv = husk_etc_resolv_conf (true, &len);
  if (husk_read_file_at (AT_FDCWD, "/etc/resolv.conf", 0, &expected, &expected_len, &err) < 0)
    {
      husk_error_release (&err);
      assert_string_equal (resolv, "");
      assert_int_equal (len, 0);
    }
  else
    {
      assert_int_equal (len, expected_len);
      assert_memory_equal (resolv, expected, len);
    }
  free (steal_pointer (&resolv));
  resolv = husk_etc_resolv_conf (false, &len);
  assert_non_null (resolv);
  assert_int_equal (len, strlen (resolv));
}

/* Other programs may mount things on this machine meanwhile: what must
   not appear is any mount under our temp dir (the overlay is attached on
   the rootfs path and everything else under it).  */
static void
test_nothing_left_mounted (void **state)
{
  cleanup_free char *now = read_mountinfo ();
  char *save = NULL;
  char *line;

  for (line = strtok_r (now, "\n", &save); line != NULL; line = strtok_r (NULL, "\n", &save))
    if (strstr (line, tmpdir) != NULL)
      fail_msg ("left mounted on the host: %s", line);
}

int
main (int argc, char **argv)
{
  if (argc == 4 && strcmp (argv[1], "--rootless-child") == 0)
    return rootless_child_main (argv[2], argv[3]);

  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_passwd_resolve),
    cmocka_unit_test (test_passwd_missing_files),
    cmocka_unit_test (test_echo_and_exit_codes),
    cmocka_unit_test (test_not_found_and_not_executable),
    cmocka_unit_test (test_hostname_and_pid1),
    cmocka_unit_test (test_security_status),
    cmocka_unit_test (test_no_stray_fds),
    cmocka_unit_test (test_kept_fd),
    cmocka_unit_test (test_masked_and_readonly_paths),
    cmocka_unit_test (test_read_only_rootfs),
    cmocka_unit_test (test_bind_mounts),
    cmocka_unit_test (test_tmpfs_and_shm),
    cmocka_unit_test (test_dev),
    cmocka_unit_test (test_cwd),
    cmocka_unit_test (test_user),
    cmocka_unit_test (test_network_none),
    cmocka_unit_test (test_etc_files_and_sysctl),
    cmocka_unit_test (test_etc_hosts_resolv_content),
    cmocka_unit_test (test_init),
    cmocka_unit_test (test_vfs_rootfs),
    cmocka_unit_test (test_store_layers),
    cmocka_unit_test (test_200_layers),
    cmocka_unit_test (test_terminal),
    cmocka_unit_test (test_namespace_modes),
    cmocka_unit_test (test_cgroup),
    cmocka_unit_test (test_latency),
    cmocka_unit_test (test_dies_with_parent),
    cmocka_unit_test (test_rootless_range),
    cmocka_unit_test (test_rootless_single_map),
    cmocka_unit_test (test_rootless_refused),
    cmocka_unit_test (test_nothing_left_mounted),
  };

  return cmocka_run_group_tests (tests, group_setup, group_teardown);
}
