/* husk: --init, a minimal pid 1 inside husk itself (as tini or
   catatonit, without a binary to bind into the container).

   The kernel gives pid 1 no default signal actions, and orphans are
   re-parented to it: a command that is not written to be an init ignores
   SIGTERM and leaves zombies.  So pid 1 stays this small loop: it forwards
   every signal it can catch to the command, reaps whatever dies, and exits
   with the command's status once the command is gone (the kernel then
   kills the rest of the pid namespace).

   It runs after husk_security_apply, with the container's ids, caps and
   seccomp filter, and is non-dumpable, so the container cannot open the
   husk binary through /proc/1/exe without CAP_SYS_PTRACE (see runtime.h).  */
#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime-internal.h"

static int
status_to_code (int status)
{
  if (WIFEXITED (status))
    return WEXITSTATUS (status);
  if (WIFSIGNALED (status))
    return 128 + WTERMSIG (status);
  return 255;
}

void
runtime_init_main (pid_t child)
{
  sigset_t all;

  prctl (PR_SET_DUMPABLE, 0, 0, 0, 0);
  sigfillset (&all);
  for (;;)
    {
      siginfo_t info;
      int sig = sigwaitinfo (&all, &info);

      if (sig < 0)
        {
          if (errno == EINTR)
            continue;
          _exit (255);
        }
      if (sig != SIGCHLD)
        {
          kill (child, sig);
          continue;
        }
      for (;;)
        {
          int status;
          pid_t p = waitpid (-1, &status, WNOHANG);
          if (p <= 0)
            break;
          if (p == child)
            _exit (status_to_code (status));
        }
    }
}
