/* husk: entry point.  Global flags, then dispatch through the one command
   table below, which also drives --help, the man page checks and the shell
   completions.  */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src/cli/cli.h"
#include "src/cli/container.h"
#include "husk/util.h"

#define FORMAT_OPT(what)                                                                                     \
  {                                                                                                          \
    "format", 'f', CLI_OPT_STRING, "FORMAT", "Format the output using a Go template or json: " what, NULL,   \
        "format"                                                                                             \
  }

static const struct cli_opt opts_help[] = { { NULL } };

static const struct cli_opt opts_version[] = {
  { "format", 'f', CLI_OPT_STRING, "FORMAT", "Format the output using a Go template or json", NULL,
    "format" },
  { NULL },
};

static const struct cli_opt opts_info[] = {
  { "format", 'f', CLI_OPT_STRING, "FORMAT", "Format the output using a Go template or json", NULL,
    "format" },
  { NULL },
};

const struct cli_opt cli_opts_images[] = {
  { "all", 'a', CLI_OPT_BOOL, NULL, "Show all images (default hides intermediate images)", NULL, NULL },
  { "digests", 0, CLI_OPT_BOOL, NULL, "Show digests", NULL, NULL },
  { "filter", 'f', CLI_OPT_STRV, "FILTER",
    "Filter output based on conditions (dangling=, reference=, label=, before=, since=)", NULL,
    "dangling=true dangling=false reference= label= before= since=" },
  { "format", 0, CLI_OPT_STRING, "FORMAT", "Pretty-print images using a Go template or json", NULL,
    "format" },
  { "noheading", 'n', CLI_OPT_BOOL, NULL, "Do not print column headings", NULL, NULL },
  { "no-trunc", 0, CLI_OPT_BOOL, NULL, "Do not truncate output", NULL, NULL },
  { "quiet", 'q', CLI_OPT_BOOL, NULL, "Display only image IDs", NULL, NULL },
  { NULL },
};

static const struct cli_opt opts_import[] = {
  { "change", 'c', CLI_OPT_STRV, "INSTRUCTION",
    "Apply a Dockerfile instruction (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, "
    "WORKDIR)",
    NULL, "CMD ENTRYPOINT ENV EXPOSE LABEL ONBUILD STOPSIGNAL USER VOLUME WORKDIR" },
  { "message", 'm', CLI_OPT_STRING, "MESSAGE", "Set the commit message for the imported image", NULL, NULL },
  { "quiet", 'q', CLI_OPT_BOOL, NULL, "Suppress progress output (the image id is still printed)", NULL,
    NULL },
  { NULL },
};

static const struct cli_opt opts_none[] = { { NULL } };

static const struct cli_opt opts_rmi[] = {
  { "all", 'a', CLI_OPT_BOOL, NULL, "Remove all images", NULL, NULL },
  { "force", 'f', CLI_OPT_BOOL, NULL, "Force removal of the image and of containers using it", NULL, NULL },
  { NULL },
};

const struct cli_opt cli_opts_inspect[] = {
  { "format", 'f', CLI_OPT_STRING, "FORMAT", "Format the output using a Go template", NULL, "format" },
  { "type", 't', CLI_OPT_STRING, "TYPE", "Only inspect objects of this type (image, container, all)", "all",
    "image container all" },
  { "size", 's', CLI_OPT_BOOL, NULL, "Display total file size (containers)", NULL, NULL },
  { NULL },
};

static const struct cli_opt opts_image_inspect[] = {
  { "format", 'f', CLI_OPT_STRING, "FORMAT", "Format the output using a Go template", NULL, "format" },
  { NULL },
};

static const struct cli_opt opts_history[] = {
  { "format", 0, CLI_OPT_STRING, "FORMAT", "Pretty-print history using a Go template or json", NULL,
    "format" },
  { "human", 'H', CLI_OPT_BOOL, NULL, "Display sizes and dates in human readable format", "true", NULL },
  { "no-trunc", 0, CLI_OPT_BOOL, NULL, "Do not truncate the output", NULL, NULL },
  { "noheading", 'n', CLI_OPT_BOOL, NULL, "Do not print column headings", NULL, NULL },
  { "quiet", 'q', CLI_OPT_BOOL, NULL, "Display only layer IDs", NULL, NULL },
  { NULL },
};

static const struct cli_opt opts_save[] = {
  { "format", 0, CLI_OPT_STRING, "FORMAT", "Archive format (docker-archive, oci-archive)", "docker-archive",
    "docker-archive oci-archive" },
  { "output", 'o', CLI_OPT_STRING, "FILE", "Write to a file instead of standard output", NULL, "files" },
  { "quiet", 'q', CLI_OPT_BOOL, NULL, "Suppress output", NULL, NULL },
  { NULL },
};

static const struct cli_opt opts_load[] = {
  { "input", 'i', CLI_OPT_STRING, "FILE", "Read from an archive file instead of standard input", NULL,
    "files" },
  { "quiet", 'q', CLI_OPT_BOOL, NULL, "Suppress progress output (\"Loaded image\" lines are still printed)",
    NULL, NULL },
  { NULL },
};

static const struct cli_opt opts_prune[] = {
  { "all", 'a', CLI_OPT_BOOL, NULL, "Remove all unused images, not just dangling ones", NULL, NULL },
  { "force", 'f', CLI_OPT_BOOL, NULL, "Do not prompt for confirmation", NULL, NULL },
  { NULL },
};

static const struct cli_opt opts_df[] = {
  { "format", 0, CLI_OPT_STRING, "FORMAT", "Pretty-print disk usage using a Go template or json", NULL,
    "format" },
  { "verbose", 'v', CLI_OPT_BOOL, NULL, "Show detailed information on disk usage", NULL, NULL },
  { NULL },
};

static const struct cli_opt opts_exists[] = { { NULL } };

#define REGISTRY_OPTS                                                                                        \
  { "authfile",                                                                                              \
    0,                                                                                                       \
    CLI_OPT_STRING,                                                                                          \
    "PATH",                                                                                                  \
    "Path of the authentication file (default: podman's auth.json)",                                         \
    NULL,                                                                                                    \
    "files" },                                                                                               \
      { "cert-dir", 0,     CLI_OPT_STRING, "DIR", "Directory with the registry's CA certificate (*.crt)",    \
        NULL,       "dirs" },                                                                                \
      { "creds", 0, CLI_OPT_STRING, "USER[:PASSWORD]", "Credentials to use with the registry", NULL, NULL }, \
  {                                                                                                          \
    "tls-verify", 0, CLI_OPT_BOOL, NULL, "Require HTTPS and verify certificates", "true", NULL               \
  }

static const struct cli_opt opts_pull[] = {
  { "all-tags", 'a', CLI_OPT_BOOL, NULL, "Pull every tagged image of the repository", NULL, NULL },
  { "arch", 0, CLI_OPT_STRING, "ARCH", "Use ARCH instead of the host's architecture", NULL, NULL },
  { "os", 0, CLI_OPT_STRING, "OS", "Use OS instead of the host's operating system", NULL, NULL },
  { "platform", 0, CLI_OPT_STRING, "OS/ARCH[/VARIANT]", "Choose the image for this platform", NULL, NULL },
  { "quiet", 'q', CLI_OPT_BOOL, NULL, "Print only the image id, no progress", NULL, NULL },
  { "retry", 0, CLI_OPT_STRING, "N", "Retries on transient errors", "3", NULL },
  { "retry-delay", 0, CLI_OPT_STRING, "DURATION", "First delay between retries (doubles each time)", "2s",
    NULL },
  { "variant", 0, CLI_OPT_STRING, "VARIANT", "Use VARIANT instead of the host's architecture variant", NULL,
    NULL },
  REGISTRY_OPTS,
  { NULL },
};

static const struct cli_opt opts_push[] = {
  { "compression-format", 0, CLI_OPT_STRING, "FORMAT", "Compression of the pushed layers (gzip, zstd)",
    "gzip", "gzip zstd" },
  { "digestfile", 0, CLI_OPT_STRING, "FILE", "Write the digest of the pushed manifest to FILE", NULL,
    "files" },
  { "format", 'f', CLI_OPT_STRING, "FORMAT", "Manifest type (oci, v2s2; default: the image's own)", NULL,
    "oci v2s2" },
  { "quiet", 'q', CLI_OPT_BOOL, NULL, "Do not print progress", NULL, NULL },
  { "retry", 0, CLI_OPT_STRING, "N", "Retries on transient errors", "3", NULL },
  { "retry-delay", 0, CLI_OPT_STRING, "DURATION", "First delay between retries (doubles each time)", "2s",
    NULL },
  REGISTRY_OPTS,
  { NULL },
};

static const struct cli_opt opts_login[] = {
  { "authfile", 0, CLI_OPT_STRING, "PATH", "Path of the authentication file (default: podman's auth.json)",
    NULL, "files" },
  { "cert-dir", 0, CLI_OPT_STRING, "DIR", "Directory with the registry's CA certificate (*.crt)", NULL,
    "dirs" },
  { "get-login", 0, CLI_OPT_BOOL, NULL, "Print the user name stored for the registry", NULL, NULL },
  { "password", 'p', CLI_OPT_STRING, "PASSWORD", "Password for the registry", NULL, NULL },
  { "password-stdin", 0, CLI_OPT_BOOL, NULL, "Read the password from standard input", NULL, NULL },
  { "tls-verify", 0, CLI_OPT_BOOL, NULL, "Require HTTPS and verify certificates", "true", NULL },
  { "username", 'u', CLI_OPT_STRING, "USER", "User name for the registry", NULL, NULL },
  { NULL },
};

static const struct cli_opt opts_logout[] = {
  { "all", 'a', CLI_OPT_BOOL, NULL, "Remove the credentials of every registry", NULL, NULL },
  { "authfile", 0, CLI_OPT_STRING, "PATH", "Path of the authentication file (default: podman's auth.json)",
    NULL, "files" },
  { NULL },
};

static const struct cli_opt opts_search[] = {
  { "filter", 'f', CLI_OPT_STRV, "FILTER", "Filter results (stars=N, is-official=BOOL, is-automated=BOOL)",
    NULL, "stars= is-official= is-automated=" },
  { "format", 0, CLI_OPT_STRING, "FORMAT", "Pretty-print results using a Go template or json", NULL,
    "format" },
  { "limit", 0, CLI_OPT_STRING, "N", "Maximum number of results", "25", NULL },
  { "list-tags", 0, CLI_OPT_BOOL, NULL, "List the tags of the given repository", NULL, NULL },
  { "no-trunc", 0, CLI_OPT_BOOL, NULL, "Do not truncate the output", NULL, NULL },
  REGISTRY_OPTS,
  { NULL },
};

#define IMAGES_CMD(name, aliases)                                                                            \
  {                                                                                                          \
    name, aliases, "List images in local storage", "[OPTIONS] [IMAGE]", cli_opts_images, cmd_images, NULL,   \
        0, 1, "images"                                                                                       \
  }

#define IMPORT_CMD                                                                                           \
  {                                                                                                          \
    "import", NULL, "Import a tarball to create a filesystem image", "[OPTIONS] FILE|- [REFERENCE]",         \
        opts_import, cmd_import, NULL, 1, 2, "files"                                                         \
  }
#define TAG_CMD                                                                                              \
  {                                                                                                          \
    "tag", NULL, "Add an additional name to a local image", "IMAGE TARGET_NAME [TARGET_NAME...]", opts_none, \
        cmd_tag, NULL, 2, -1, "images"                                                                       \
  }
#define UNTAG_CMD                                                                                            \
  {                                                                                                          \
    "untag", NULL, "Remove a name from a local image", "IMAGE [IMAGE...]", opts_none, cmd_untag, NULL, 1,    \
        -1, "images"                                                                                         \
  }
#define HISTORY_CMD                                                                                          \
  {                                                                                                          \
    "history", NULL, "Show history of a specified image", "[OPTIONS] IMAGE", opts_history, cmd_history,      \
        NULL, 1, 1, "images"                                                                                 \
  }
#define SAVE_CMD                                                                                             \
  {                                                                                                          \
    "save", NULL, "Save image(s) to an archive", "[OPTIONS] IMAGE [IMAGE...]", opts_save, cmd_save, NULL, 1, \
        -1, "images"                                                                                         \
  }
#define PULL_CMD                                                                                             \
  {                                                                                                          \
    "pull", NULL, "Pull an image from a registry", "[OPTIONS] IMAGE", opts_pull, cmd_pull, NULL, 1, 1,       \
        "images"                                                                                             \
  }
#define PUSH_CMD                                                                                             \
  {                                                                                                          \
    "push", NULL, "Push an image to a registry", "[OPTIONS] IMAGE [DESTINATION]", opts_push, cmd_push, NULL, \
        1, 2, "images"                                                                                       \
  }
#define LOAD_CMD                                                                                             \
  {                                                                                                          \
    "load", NULL, "Load image(s) from a tar archive", "[OPTIONS]", opts_load, cmd_load, NULL, 0, 0, NULL     \
  }

/* ---- containers ---- */

const struct cli_opt cli_opts_ps[] = {
  { "all", 'a', CLI_OPT_BOOL, NULL, "Show all the containers (default shows just running)", NULL, NULL },
  { "filter", 'f', CLI_OPT_STRV, "FILTER",
    "Filter output based on conditions (status=, name=, id=, label=, ancestor=, exited=)", NULL,
    "status=created status=running status=exited name= id= label= ancestor= exited=" },
  { "format", 0, CLI_OPT_STRING, "FORMAT", "Pretty-print containers using a Go template or json", NULL,
    "format" },
  { "last", 'n', CLI_OPT_STRING, "N", "Show the N most recently created containers (all states)", NULL,
    NULL },
  { "latest", 'l', CLI_OPT_BOOL, NULL, "Show the latest created container (all states)", NULL, NULL },
  { "no-trunc", 0, CLI_OPT_BOOL, NULL, "Do not truncate output", NULL, NULL },
  { "noheading", 0, CLI_OPT_BOOL, NULL, "Do not print column headings", NULL, NULL },
  { "quiet", 'q', CLI_OPT_BOOL, NULL, "Display only container IDs", NULL, NULL },
  { "size", 's', CLI_OPT_BOOL, NULL, "Display the total file sizes", NULL, NULL },
  { NULL },
};
static const struct cli_opt opts_start[] = {
  { "attach", 'a', CLI_OPT_BOOL, NULL, "Attach STDOUT/STDERR and forward signals", NULL, NULL },
  { "detach-keys", 0, CLI_OPT_STRING, "KEYS", "Key sequence for detaching a container", "ctrl-p,ctrl-q",
    NULL },
  { "interactive", 'i', CLI_OPT_BOOL, NULL, "Attach the container's STDIN", NULL, NULL },
  { "sig-proxy", 0, CLI_OPT_BOOL, NULL, "Proxy received signals to the container (with --attach)", "true",
    NULL },
  { NULL },
};
static const struct cli_opt opts_stop[] = {
  { "all", 'a', CLI_OPT_BOOL, NULL, "Stop all running containers", NULL, NULL },
  { "time", 't', CLI_OPT_STRING, "SECONDS", "Seconds to wait before killing the container", "10", NULL },
  { NULL },
};
static const struct cli_opt opts_restart[] = {
  { "time", 't', CLI_OPT_STRING, "SECONDS", "Seconds to wait before killing the container", "10", NULL },
  { NULL },
};
static const struct cli_opt opts_kill[] = {
  { "signal", 's', CLI_OPT_STRING, "SIGNAL", "Signal to send to the container", "SIGKILL", NULL },
  { NULL },
};
static const struct cli_opt opts_rm[] = {
  { "all", 'a', CLI_OPT_BOOL, NULL, "Remove all containers", NULL, NULL },
  { "force", 'f', CLI_OPT_BOOL, NULL, "Force the removal of a running container (uses SIGKILL)", NULL, NULL },
  { "volumes", 'v', CLI_OPT_BOOL, NULL, "Remove anonymous volumes associated with the container", NULL,
    NULL },
  { NULL },
};
static const struct cli_opt opts_logs[] = {
  { "follow", 'f', CLI_OPT_BOOL, NULL, "Follow log output", NULL, NULL },
  { "since", 0, CLI_OPT_STRING, "TIME", "Show logs since TIME (RFC 3339 timestamp or relative, e.g. 10m)",
    NULL, NULL },
  { "tail", 'n', CLI_OPT_STRING, "N", "Number of lines to show from the end of the logs", "all", NULL },
  { "timestamps", 't', CLI_OPT_BOOL, NULL, "Show timestamps", NULL, NULL },
  { "until", 0, CLI_OPT_STRING, "TIME", "Show logs before TIME (RFC 3339 timestamp or relative, e.g. 10m)",
    NULL, NULL },
  { NULL },
};
static const struct cli_opt opts_container_prune[] = {
  { "force", 'f', CLI_OPT_BOOL, NULL, "Do not prompt for confirmation", NULL, NULL },
  { NULL },
};
static const struct cli_opt opts_container_inspect[] = {
  { "format", 'f', CLI_OPT_STRING, "FORMAT", "Format the output using a Go template", NULL, "format" },
  { "size", 's', CLI_OPT_BOOL, NULL, "Display the total file size", NULL, NULL },
  { NULL },
};

#define RUN_CMD                                                                                              \
  {                                                                                                          \
    "run", NULL, "Run a command in a new container", "[OPTIONS] IMAGE [COMMAND [ARG...]]", cli_opts_run,     \
        cmd_run, NULL, 1, -1, "images", false, true                                                          \
  }
#define CREATE_CMD                                                                                           \
  {                                                                                                          \
    "create", NULL, "Create but do not start a container", "[OPTIONS] IMAGE [COMMAND [ARG...]]",             \
        cli_opts_create, cmd_create, NULL, 1, -1, "images", false, true                                      \
  }
#define START_CMD                                                                                            \
  {                                                                                                          \
    "start", NULL, "Start one or more containers", "[OPTIONS] CONTAINER [CONTAINER...]", opts_start,         \
        cmd_start, NULL, 1, -1, "containers"                                                                 \
  }
#define STOP_CMD                                                                                             \
  {                                                                                                          \
    "stop", NULL, "Stop one or more running containers", "[OPTIONS] CONTAINER [CONTAINER...]", opts_stop,    \
        cmd_stop, NULL, 0, -1, "containers"                                                                  \
  }
#define RESTART_CMD                                                                                          \
  {                                                                                                          \
    "restart", NULL, "Restart one or more containers", "[OPTIONS] CONTAINER [CONTAINER...]", opts_restart,   \
        cmd_restart, NULL, 1, -1, "containers"                                                               \
  }
#define KILL_CMD                                                                                             \
  {                                                                                                          \
    "kill", NULL, "Kill one or more running containers with a signal", "[OPTIONS] CONTAINER [CONTAINER...]", \
        opts_kill, cmd_kill, NULL, 1, -1, "containers"                                                       \
  }
#define RM_CMD                                                                                               \
  {                                                                                                          \
    "rm", NULL, "Remove one or more containers", "[OPTIONS] CONTAINER [CONTAINER...]", opts_rm, cmd_rm,      \
        NULL, 0, -1, "containers"                                                                            \
  }
#define WAIT_CMD                                                                                             \
  {                                                                                                          \
    "wait", NULL, "Block until one or more containers stop, then print their exit codes",                    \
        "CONTAINER [CONTAINER...]", opts_none, cmd_wait, NULL, 1, -1, "containers"                           \
  }
#define LOGS_CMD                                                                                             \
  {                                                                                                          \
    "logs", NULL, "Fetch the logs of one or more containers", "[OPTIONS] CONTAINER [CONTAINER...]",          \
        opts_logs, cmd_logs, NULL, 1, -1, "containers"                                                       \
  }

/* ---- working with containers (issue 4) ---- */

static const struct cli_opt opts_exec[] = {
  { "detach", 'd', CLI_OPT_BOOL, NULL, "Run the command in the background", NULL, NULL },
  { "detach-keys", 0, CLI_OPT_STRING, "KEYS", "Key sequence for detaching", "ctrl-p,ctrl-q", NULL },
  { "env", 'e', CLI_OPT_STRV, "KEY=VALUE", "Set environment variables", NULL, NULL },
  { "env-file", 0, CLI_OPT_STRV, "FILE", "Read in a file of environment variables", NULL, "files" },
  { "interactive", 'i', CLI_OPT_BOOL, NULL, "Keep STDIN open even if not attached", NULL, NULL },
  { "privileged", 0, CLI_OPT_BOOL, NULL, "Give extended privileges to the command", NULL, NULL },
  { "tty", 't', CLI_OPT_BOOL, NULL, "Allocate a pseudo-TTY", NULL, NULL },
  { "user", 'u', CLI_OPT_STRING, "USER[:GROUP]", "Username or UID (format: <name|uid>[:<group|gid>])", NULL,
    NULL },
  { "workdir", 'w', CLI_OPT_STRING, "DIR", "Working directory inside the container", NULL, NULL },
  { NULL },
};
static const struct cli_opt opts_attach[] = {
  { "detach-keys", 0, CLI_OPT_STRING, "KEYS", "Key sequence for detaching", "ctrl-p,ctrl-q", NULL },
  { "no-stdin", 0, CLI_OPT_BOOL, NULL, "Do not attach STDIN", NULL, NULL },
  { "sig-proxy", 0, CLI_OPT_BOOL, NULL, "Proxy received signals to the container (not with a tty)", "true",
    NULL },
  { NULL },
};
static const struct cli_opt opts_pause[] = {
  { "all", 'a', CLI_OPT_BOOL, NULL, "Act on all running containers", NULL, NULL },
  { NULL },
};
static const struct cli_opt opts_stats[] = {
  { "all", 'a', CLI_OPT_BOOL, NULL, "Show all containers (default shows just running)", NULL, NULL },
  { "format", 0, CLI_OPT_STRING, "FORMAT", "Pretty-print stats using a Go template or json", NULL, "format" },
  { "no-stream", 0, CLI_OPT_BOOL, NULL, "Print the first result only and exit", NULL, NULL },
  { "no-trunc", 0, CLI_OPT_BOOL, NULL, "Do not truncate output", NULL, NULL },
  { NULL },
};
static const struct cli_opt opts_update[] = {
  { "blkio-weight", 0, CLI_OPT_STRING, "WEIGHT", "Block IO weight (relative weight, 10 to 1000)", NULL,
    NULL },
  { "cpu-period", 0, CLI_OPT_STRING, "US", "Limit the CPU CFS period (microseconds)", NULL, NULL },
  { "cpu-quota", 0, CLI_OPT_STRING, "US", "Limit the CPU CFS quota (microseconds)", NULL, NULL },
  { "cpu-shares", 'c', CLI_OPT_STRING, "SHARES", "CPU shares (relative weight)", NULL, NULL },
  { "cpus", 0, CLI_OPT_STRING, "NUMBER", "Number of CPUs", NULL, NULL },
  { "cpuset-cpus", 0, CLI_OPT_STRING, "CPUS", "CPUs in which to allow execution (0-3, 0,1)", NULL, NULL },
  { "memory", 'm', CLI_OPT_STRING, "BYTES", "Memory limit (format: <number>[<unit>], b, k, m or g)", NULL,
    NULL },
  { "memory-swap", 0, CLI_OPT_STRING, "BYTES", "Swap limit equal to memory plus swap: -1 for unlimited swap",
    NULL, NULL },
  { "pids-limit", 0, CLI_OPT_STRING, "N", "Tune the container's pids limit (-1 for unlimited)", NULL, NULL },
  { "restart", 0, CLI_OPT_STRING, "POLICY", "Restart policy (no, on-failure[:N], always, unless-stopped)",
    NULL, "no on-failure always unless-stopped" },
  { NULL },
};
static const struct cli_opt opts_cp[] = {
  { "archive", 'a', CLI_OPT_BOOL, NULL, "Archive mode (copy all uid/gid information)", NULL, NULL },
  { "follow-link", 'L', CLI_OPT_BOOL, NULL, "Always follow symbolic links in SRC_PATH", NULL, NULL },
  { NULL },
};
static const struct cli_opt opts_diff[] = {
  { "format", 0, CLI_OPT_STRING, "FORMAT", "Change the output format (json)", NULL, "json" },
  { NULL },
};
static const struct cli_opt opts_commit[] = {
  { "author", 'a', CLI_OPT_STRING, "AUTHOR", "Author of the image (e.g. \"Jane <jane@example.com>\")", NULL,
    NULL },
  { "change", 'c', CLI_OPT_STRV, "INSTRUCTION",
    "Apply a Dockerfile instruction (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, "
    "WORKDIR)",
    NULL, "CMD ENTRYPOINT ENV EXPOSE LABEL ONBUILD STOPSIGNAL USER VOLUME WORKDIR" },
  { "message", 'm', CLI_OPT_STRING, "MESSAGE", "Commit message", NULL, NULL },
  { "pause", 'p', CLI_OPT_BOOL, NULL, "Pause the container during the commit", "true", NULL },
  { "quiet", 'q', CLI_OPT_BOOL, NULL, "Print only the image id", NULL, NULL },
  { "squash", 0, CLI_OPT_BOOL, NULL, "Squash the image's layers and the new one into one layer", NULL, NULL },
  { NULL },
};
static const struct cli_opt opts_export[] = {
  { "output", 'o', CLI_OPT_STRING, "FILE", "Write to a file instead of standard output", NULL, "files" },
  { NULL },
};

/* A command still being written stays hidden (no help, page or
   completion is asked of it) until it is done: HUSK_WIP.  */
#define HUSK_WIP true

static const struct cli_opt opts_build[] = {
  { "build-arg", 0, CLI_OPT_STRV, "KEY[=VALUE]",
    "Set a build-time variable (KEY alone takes the value from the environment)", NULL, NULL },
  { "file", 'f', CLI_OPT_STRING, "FILE", "Name of the Dockerfile (\"-\" reads it from standard input)",
    "CONTEXT/Dockerfile", "files" },
  { "force-rm", 0, CLI_OPT_BOOL, NULL, "Always remove intermediate containers (husk always does)", "true",
    NULL },
  { "format", 0, CLI_OPT_STRING, "FORMAT", "Manifest type of the built image (oci, docker)", "oci",
    "oci docker" },
  { "iidfile", 0, CLI_OPT_STRING, "FILE", "Write the image ID to the file", NULL, "files" },
  { "label", 0, CLI_OPT_STRV, "KEY=VALUE", "Set metadata on the image", NULL, NULL },
  { "layers", 0, CLI_OPT_BOOL, NULL, "Cache intermediate steps (--layers=false: no cache)", "true", NULL },
  { "network", 0, CLI_OPT_STRING, "MODE", "Network of the RUN steps (none, host)", "none", "none host" },
  { "no-cache", 0, CLI_OPT_BOOL, NULL, "Do not use cached steps", NULL, NULL },
  { "platform", 0, CLI_OPT_STRING, "OS/ARCH", "Platform of the base images", NULL, NULL },
  { "pull", 0, CLI_OPT_OPTVAL, "POLICY",
    "Pull base images: missing, always, never (--pull alone: always, --pull=false: missing)", "missing",
    "always missing never true false" },
  { "quiet", 'q', CLI_OPT_BOOL, NULL, "Print only the image ID", NULL, NULL },
  { "rm", 0, CLI_OPT_BOOL, NULL, "Remove intermediate containers after a successful build", "true", NULL },
  { "squash", 0, CLI_OPT_BOOL, NULL, "Squash the image into a single layer", NULL, NULL },
  { "tag", 't', CLI_OPT_STRV, "NAME", "Name (and tag) of the resulting image", NULL, NULL },
  { "target", 0, CLI_OPT_STRING, "STAGE", "Build the named stage and stop", NULL, NULL },
  { "timestamp", 0, CLI_OPT_STRING, "SECONDS",
    "Set the created time of the image and its files (reproducible builds; also SOURCE_DATE_EPOCH)", NULL,
    NULL },
  { NULL },
};
#define BUILD_CMD                                                                                            \
  {                                                                                                          \
    "build", NULL, "Build an image from a Dockerfile", "[OPTIONS] [CONTEXT]", opts_build, cmd_build, NULL,   \
        0, 1, "files", false                                                                                 \
  }

static const struct cli_opt opts_healthcheck_run[] = { { NULL } };
static const struct cli_cmd healthcheck_cmds[] = {
  { "run", NULL, "Run a container's healthcheck once", "CONTAINER", opts_healthcheck_run, cmd_healthcheck_run,
    NULL, 1, 1, "containers" },
  { NULL },
};

#define EXEC_CMD                                                                                             \
  {                                                                                                          \
    "exec", NULL, "Run a process in a running container", "[OPTIONS] CONTAINER COMMAND [ARG...]", opts_exec, \
        cmd_exec, NULL, 2, -1, "containers", false, true                                                     \
  }
#define ATTACH_CMD                                                                                           \
  {                                                                                                          \
    "attach", NULL, "Attach to a running container", "[OPTIONS] CONTAINER", opts_attach, cmd_attach, NULL,   \
        1, 1, "containers", false                                                                            \
  }
#define TOP_CMD                                                                                              \
  {                                                                                                          \
    "top", NULL, "Display the running processes of a container",                                             \
        "CONTAINER [FORMAT-DESCRIPTORS|ps OPTIONS]", opts_none, cmd_top, NULL, 1, -1, "containers", false,   \
        true                                                                                                 \
  }
#define RENAME_CMD                                                                                           \
  {                                                                                                          \
    "rename", NULL, "Rename an existing container", "CONTAINER NAME", opts_none, cmd_rename, NULL, 2, 2,     \
        "containers", false                                                                                  \
  }
#define PAUSE_CMD                                                                                            \
  {                                                                                                          \
    "pause", NULL, "Pause all the processes in one or more containers",                                      \
        "[OPTIONS] CONTAINER [CONTAINER...]", opts_pause, cmd_pause, NULL, 0, -1, "containers", false        \
  }
#define UNPAUSE_CMD                                                                                          \
  {                                                                                                          \
    "unpause", NULL, "Unpause the processes in one or more containers",                                      \
        "[OPTIONS] CONTAINER [CONTAINER...]", opts_pause, cmd_unpause, NULL, 0, -1, "containers", false      \
  }
#define STATS_CMD                                                                                            \
  {                                                                                                          \
    "stats", NULL, "Display a live stream of container resource usage", "[OPTIONS] [CONTAINER...]",          \
        opts_stats, cmd_stats, NULL, 0, -1, "containers", false                                              \
  }
#define UPDATE_CMD                                                                                           \
  {                                                                                                          \
    "update", NULL, "Update the resource limits of one or more containers",                                  \
        "[OPTIONS] CONTAINER [CONTAINER...]", opts_update, cmd_update, NULL, 1, -1, "containers", false      \
  }
#define CP_CMD                                                                                               \
  {                                                                                                          \
    "cp", NULL, "Copy files between a container and the local filesystem",                                   \
        "[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-  or  SRC_PATH|- CONTAINER:DEST_PATH", opts_cp, cmd_cp,     \
        NULL, 2, 2, "files", false                                                                           \
  }
#define DIFF_CMD                                                                                             \
  {                                                                                                          \
    "diff", NULL, "Inspect changes to a container's or image's filesystem", "[OPTIONS] CONTAINER|IMAGE",     \
        opts_diff, cmd_diff, NULL, 1, 1, "containers", false                                                 \
  }
#define COMMIT_CMD                                                                                           \
  {                                                                                                          \
    "commit", NULL, "Create a new image from a container's changes", "[OPTIONS] CONTAINER [IMAGE]",          \
        opts_commit, cmd_commit, NULL, 1, 2, "containers", false                                             \
  }
#define EXPORT_CMD                                                                                           \
  {                                                                                                          \
    "export", NULL, "Export a container's filesystem as a tar archive", "[OPTIONS] CONTAINER", opts_export,  \
        cmd_export, NULL, 1, 1, "containers", false                                                          \
  }
static const struct cli_opt opts_events[] = {
  { "filter", 'f', CLI_OPT_STRV, "FILTER",
    "Filter events (type=, event=, container=, image=, label=): one key's values are ORed, keys ANDed", NULL,
    "type=container type=image event= container= image= label=" },
  { "format", 0, CLI_OPT_STRING, "FORMAT", "Format the output using a Go template or json", NULL, "format" },
  { "no-trunc", 0, CLI_OPT_BOOL, NULL, "Do not truncate IDs", "true", NULL },
  { "since", 0, CLI_OPT_STRING, "TIME", "Show events since TIME (RFC 3339, Unix time or a duration like 10m)",
    NULL, NULL },
  { "stream", 0, CLI_OPT_BOOL, NULL, "Follow new events until interrupted (--stream=false: print and exit)",
    "true", NULL },
  { "until", 0, CLI_OPT_STRING, "TIME", "Show events until TIME (RFC 3339, Unix time or a duration like 10m)",
    NULL, NULL },
  { NULL },
};
#define EVENTS_CMD                                                                                           \
  {                                                                                                          \
    "events", NULL, "Show husk events", "[OPTIONS]", opts_events, cmd_events, NULL, 0, 0, NULL, false        \
  }

static const struct cli_opt opts_port[] = {
  { "all", 'a', CLI_OPT_BOOL, NULL, "Display the port mappings of every running container", NULL, NULL },
  { NULL },
};
#define PORT_CMD                                                                                             \
  {                                                                                                          \
    "port", NULL, "List port mappings or a specific mapping for the container",                              \
        "[OPTIONS] CONTAINER [PRIVATE_PORT[/PROTO]]", opts_port, cmd_port, NULL, 0, 2, "containers", false   \
  }

static const struct cli_cmd container_cmds[] = {
  ATTACH_CMD,
  COMMIT_CMD,
  CP_CMD,
  CREATE_CMD,
  DIFF_CMD,
  EXEC_CMD,
  { "exists", NULL, "Check if a container exists in local storage", "CONTAINER", opts_none,
    cmd_container_exists, NULL, 1, 1, "containers" },
  { "inspect", NULL, "Display the configuration of a container", "[OPTIONS] CONTAINER [CONTAINER...]",
    opts_container_inspect, cmd_container_inspect, NULL, 1, -1, "containers" },
  EXPORT_CMD,
  KILL_CMD,
  { "ls", "list ps", "List containers", "[OPTIONS]", cli_opts_ps, cmd_ps, NULL, 0, 0, NULL },
  LOGS_CMD,
  PAUSE_CMD,
  PORT_CMD,
  { "prune", NULL, "Remove all stopped containers", "[OPTIONS]", opts_container_prune, cmd_container_prune,
    NULL, 0, 0, NULL },
  RENAME_CMD,
  RESTART_CMD,
  RM_CMD,
  RUN_CMD,
  START_CMD,
  STATS_CMD,
  STOP_CMD,
  TOP_CMD,
  UNPAUSE_CMD,
  UPDATE_CMD,
  WAIT_CMD,
  { NULL },
};

static const struct cli_cmd image_cmds[] = {
  BUILD_CMD,
  { "exists", NULL, "Check if an image exists in local storage", "IMAGE", opts_exists, cmd_image_exists, NULL,
    1, 1, "images" },
  HISTORY_CMD,
  IMPORT_CMD,
  { "inspect", NULL, "Display the configuration of an image", "[OPTIONS] IMAGE [IMAGE...]",
    opts_image_inspect, cmd_image_inspect, NULL, 1, -1, "images" },
  LOAD_CMD,
  IMAGES_CMD ("ls", "list"),
  { "prune", NULL, "Remove unused images", "[OPTIONS]", opts_prune, cmd_image_prune, NULL, 0, 0, NULL },
  PULL_CMD,
  PUSH_CMD,
  { "rm", NULL, "Remove one or more images from local storage", "[OPTIONS] IMAGE [IMAGE...]", opts_rmi,
    cmd_rmi, NULL, 0, -1, "images" },
  SAVE_CMD,
  TAG_CMD,
  UNTAG_CMD,
  { NULL },
};

static const struct cli_opt opts_system_prune[] = {
  { "all", 'a', CLI_OPT_BOOL, NULL, "Remove all unused images, not just dangling ones", NULL, NULL },
  { "force", 'f', CLI_OPT_BOOL, NULL, "Do not prompt for confirmation", NULL, NULL },
  { "volumes", 0, CLI_OPT_BOOL, NULL, "Prune volumes too (husk has none yet: accepted for scripts)", NULL,
    NULL },
  { NULL },
};

static const struct cli_opt opts_system_reset[] = {
  { "force", 'f', CLI_OPT_BOOL, NULL, "Do not prompt for confirmation", NULL, NULL },
  { NULL },
};

static const struct cli_cmd system_cmds[] = {
  { "df", NULL, "Show husk disk usage", "[OPTIONS]", opts_df, cmd_system_df, NULL, 0, 0, NULL },
  { "info", NULL, "Display husk system information", "[OPTIONS]", opts_info, cmd_info, NULL, 0, 0, NULL },
  { "prune", NULL, "Remove stopped containers and unused images", "[OPTIONS]", opts_system_prune,
    cmd_system_prune, NULL, 0, 0, NULL },
  { "reset", NULL, "Remove all containers and images and wipe the store", "[OPTIONS]", opts_system_reset,
    cmd_system_reset, NULL, 0, 0, NULL },
  { NULL },
};

static const struct cli_opt opts_completion[] = { { NULL } };

const struct cli_cmd cli_commands[] = {
  ATTACH_CMD,
  BUILD_CMD,
  COMMIT_CMD,
  { "completion", NULL, "Generate shell autocompletions", "bash|zsh|fish", opts_completion, cmd_completion,
    NULL, 1, 1, "bash zsh fish" },
  { "container", NULL, "Manage containers", NULL, NULL, NULL, container_cmds, 0, 0, NULL },
  CP_CMD,
  CREATE_CMD,
  DIFF_CMD,
  EVENTS_CMD,
  EXEC_CMD,
  EXPORT_CMD,
  { "help", NULL, "Help about any command", "[COMMAND...]", opts_help, cmd_help, NULL, 0, -1, "commands" },
  { "healthcheck", NULL, "Manage container healthchecks", NULL, NULL, NULL, healthcheck_cmds, 0, 0, NULL,
    false },
  HISTORY_CMD,
  { "image", NULL, "Manage images", NULL, NULL, NULL, image_cmds, 0, 0, NULL },
  IMAGES_CMD ("images", NULL),
  IMPORT_CMD,
  { "info", NULL, "Display husk system information", "[OPTIONS]", opts_info, cmd_info, NULL, 0, 0, NULL },
  { "inspect", NULL, "Display the configuration of an object", "[OPTIONS] NAME [NAME...]", cli_opts_inspect,
    cmd_inspect, NULL, 1, -1, "images" },
  KILL_CMD,
  LOAD_CMD,
  { "login", NULL, "Log in to a registry", "[OPTIONS] REGISTRY", opts_login, cmd_login, NULL, 1, 1, NULL },
  { "logout", NULL, "Log out of a registry", "[OPTIONS] [REGISTRY]", opts_logout, cmd_logout, NULL, 0, 1,
    NULL },
  LOGS_CMD,
  PAUSE_CMD,
  PORT_CMD,
  { "ps", NULL, "List containers", "[OPTIONS]", cli_opts_ps, cmd_ps, NULL, 0, 0, NULL },
  PULL_CMD,
  PUSH_CMD,
  RENAME_CMD,
  RESTART_CMD,
  RM_CMD,
  { "rmi", NULL, "Remove one or more images from local storage", "[OPTIONS] IMAGE [IMAGE...]", opts_rmi,
    cmd_rmi, NULL, 0, -1, "images" },
  RUN_CMD,
  SAVE_CMD,
  { "search", NULL, "Search a registry for images", "[OPTIONS] TERM", opts_search, cmd_search, NULL, 1, 1,
    NULL },
  START_CMD,
  STATS_CMD,
  STOP_CMD,
  { "system", NULL, "Manage husk", NULL, NULL, NULL, system_cmds, 0, 0, NULL },
  TAG_CMD,
  TOP_CMD,
  UNPAUSE_CMD,
  { "unshare", NULL, "Run a command in the rootless user namespace", "[COMMAND [ARG...]]", opts_none,
    cmd_unshare, NULL, 0, -1, "files", false, true },
  UNTAG_CMD,
  UPDATE_CMD,
  { "version", NULL, "Display the husk version information", "[OPTIONS]", opts_version, cmd_version, NULL, 0,
    0, NULL },
  WAIT_CMD,
  { "__complete", NULL, "List values for shell completion", "KIND", opts_none, cmd_complete_values, NULL, 1,
    1, NULL, true },
  { NULL },
};

/* The pseudo-command that holds the global flags, for help output.  */
static const struct cli_opt global_opts[] = {
  { "help", 'h', CLI_OPT_BOOL, NULL, "Help for husk", NULL, NULL },
  { "log-level", 0, CLI_OPT_STRING, "LEVEL",
    "Log messages at and above this level (error, warn, info, debug)", "warn", "error warn info debug" },
  { "root", 0, CLI_OPT_STRING, "DIR", "Path to the storage root directory", NULL, "dirs" },
  { "runroot", 0, CLI_OPT_STRING, "DIR", "Path to the directory for state content", NULL, "dirs" },
  { "storage-driver", 0, CLI_OPT_STRING, "DRIVER", "Storage driver (overlay, vfs)", NULL, "overlay vfs" },
  { "tmpdir", 0, CLI_OPT_STRING, "DIR", "Path to the directory for temporary files", NULL, "dirs" },
  { "version", 'v', CLI_OPT_BOOL, NULL, "Version of husk", NULL, NULL },
  { NULL },
};

const struct cli_cmd cli_root
    = { "", NULL, "Manage containers and images, with no daemon", NULL, global_opts, NULL, cli_commands, 0,
        0,  NULL };

static size_t
edit_distance (const char *a, const char *b)
{
  size_t la = strlen (a), lb = strlen (b), i, j;
  cleanup_free size_t *row = xmalloc ((lb + 1) * sizeof (size_t));

  for (j = 0; j <= lb; j++)
    row[j] = j;
  for (i = 1; i <= la; i++)
    {
      size_t prev = row[0];
      row[0] = i;
      for (j = 1; j <= lb; j++)
        {
          size_t cur = row[j];
          size_t best = prev + (a[i - 1] != b[j - 1]);
          if (row[j] + 1 < best)
            best = row[j] + 1;
          if (row[j - 1] + 1 < best)
            best = row[j - 1] + 1;
          row[j] = best;
          prev = cur;
        }
    }
  return row[lb];
}

static int
unknown_command (const struct cli_cmd *group, const char *path, const char *name, husk_error_t *err)
{
  const char *best = NULL;
  size_t i, best_d = 3;

  for (i = 0; group->subs[i].name; i++)
    {
      size_t d = edit_distance (name, group->subs[i].name);
      if (!group->subs[i].hidden
          && (d < best_d || (best == NULL && husk_has_prefix (group->subs[i].name, name))))
        {
          best = group->subs[i].name;
          best_d = d;
        }
    }
  if (best)
    return husk_make_error (err, 0,
                            "unrecognized command `husk %s%s%s`\nDid you mean this?\n\t%s\nTry 'husk "
                            "%s%s--help' for more information",
                            path, *path ? " " : "", name, best, path, *path ? " " : "");
  return husk_make_error (err, 0,
                          "unrecognized command `husk %s%s%s`\nTry 'husk %s%s--help' for more information",
                          path, *path ? " " : "", name, path, *path ? " " : "");
}

/* Global flags come before the command.  Returns the index of the command.  */
static int
parse_global (int argc, char **argv, struct cli_ctx *ctx, bool *help, bool *version, husk_error_t *err)
{
  int i;

  for (i = 1; i < argc && argv[i][0] == '-'; i++)
    {
      static const char *const names[] = { "root", "runroot", "storage-driver", "log-level", "tmpdir" };
      const char *arg = argv[i];
      const char *value = NULL;
      size_t k, len;

      if (strcmp (arg, "--help") == 0 || strcmp (arg, "-h") == 0)
        {
          *help = true;
          continue;
        }
      if (strcmp (arg, "--version") == 0 || strcmp (arg, "-v") == 0)
        {
          *version = true;
          continue;
        }
      if (arg[1] != '-')
        return husk_make_error (err, 0, "unknown shorthand flag: '%c' in %s\nSee 'husk --help'", arg[1], arg);
      arg += 2;
      len = strcspn (arg, "=");
      for (k = 0; k < sizeof (names) / sizeof (names[0]); k++)
        if (strlen (names[k]) == len && strncmp (names[k], arg, len) == 0)
          break;
      if (k == sizeof (names) / sizeof (names[0]))
        return husk_make_error (err, 0, "unknown flag: --%.*s\nSee 'husk --help'", (int)len, arg);
      if (arg[len] == '=')
        value = arg + len + 1;
      else if (i + 1 < argc)
        value = argv[++i];
      else
        return husk_make_error (err, 0, "flag needs an argument: --%s", names[k]);
      switch (k)
        {
        case 0:
          ctx->store_opts.root = value;
          break;
        case 1:
          ctx->store_opts.runroot = value;
          break;
        case 2:
          ctx->store_opts.driver = value;
          break;
        case 3:
          {
            int level = husk_log_parse_level (value);
            if (level < 0)
              return husk_make_error (err, 0, "invalid log level \"%s\": use error, warn, info or debug",
                                      value);
            husk_log_set_level ((enum husk_log_level)level);
            break;
          }
        default:
          ctx->store_opts.tmpdir = value;
          break;
        }
    }
  return i;
}

static int
dispatch (struct cli_ctx *ctx, const struct cli_cmd *group, const char *path, int argc, char **argv,
          husk_error_t *err)
{
  const struct cli_cmd *cmd;
  cleanup_free char *sub_path = NULL;
  struct cli_args a;
  int ret;

  if (argc == 0 || strcmp (argv[0], "--help") == 0 || strcmp (argv[0], "-h") == 0)
    {
      cli_print_help (group, path, stdout);
      if (argc == 0)
        return husk_make_error (err, 0, "missing command 'husk %s%sCOMMAND'", path, *path ? " " : "");
      return 0;
    }
  if (argv[0][0] == '-')
    return husk_make_error (err, 0, "unknown flag: %s\nSee 'husk %s%s--help'", argv[0], path,
                            *path ? " " : "");
  cmd = cli_find_sub (group->subs, argv[0]);
  if (cmd == NULL)
    return unknown_command (group, path, argv[0], err);
  sub_path = *path ? xasprintf ("%s %s", path, cmd->name) : xstrdup (cmd->name);
  if (cmd->subs)
    return dispatch (ctx, cmd, sub_path, argc - 1, argv + 1, err);

  ret = cli_parse_args (cmd, sub_path, argc - 1, argv + 1, &a, err);
  if (a.help)
    {
      /* --help wins over any other mistake on the line.  */
      if (ret < 0)
        husk_error_release (err);
      cli_print_help (cmd, sub_path, stdout);
      cli_args_clear (&a);
      return 0;
    }
  if (ret == 0 && a.argc < cmd->min_args)
    ret = husk_make_error (err, 0, "\"husk %s\" requires at least %d argument%s\nSee 'husk %s --help'",
                           sub_path, cmd->min_args, cmd->min_args == 1 ? "" : "s", sub_path);
  if (ret == 0 && cmd->max_args >= 0 && a.argc > cmd->max_args)
    ret = husk_make_error (err, 0, "\"husk %s\" accepts at most %d argument%s\nSee 'husk %s --help'",
                           sub_path, cmd->max_args, cmd->max_args == 1 ? "" : "s", sub_path);
  if (ret == 0)
    ret = cmd->run (ctx, &a, err);
  cli_args_clear (&a);
  return ret;
}

int
cmd_help (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  const struct cli_cmd *cmd = &cli_root;
  struct husk_buf path = { 0 };
  int i;

  for (i = 0; i < a->argc; i++)
    {
      const struct cli_cmd *sub = cmd->subs ? cli_find_sub (cmd->subs, a->argv[i]) : NULL;
      if (sub == NULL)
        {
          husk_buf_free (&path);
          return husk_make_error (err, 0, "unknown help topic \"%s\"\nRun 'husk --help' for usage",
                                  a->argv[i]);
        }
      if (path.len)
        husk_buf_puts (&path, " ");
      husk_buf_puts (&path, sub->name);
      cmd = sub;
    }
  cli_print_help (cmd, path.data ? path.data : "", stdout);
  husk_buf_free (&path);
  return 0;
}

int
main (int argc, char **argv)
{
  husk_error_t err = NULL;
  struct cli_ctx ctx;
  bool help = false, version = false;
  int first, ret;

  memset (&ctx, 0, sizeof (ctx));
  first = parse_global (argc, argv, &ctx, &help, &version, &err);
  if (first < 0)
    return husk_error_report (&err);
  if (version)
    {
      printf ("husk version %s\n", HUSK_VERSION);
      return 0;
    }
  if (help && first == argc)
    {
      cli_print_help (&cli_root, "", stdout);
      return 0;
    }
  if (help)
    {
      /* "husk --help image ls" behaves as "husk help image ls".  */
      cleanup_free char **hargv = xzalloc ((size_t)(argc - first + 2) * sizeof (char *));
      hargv[0] = (char *)"help";
      memcpy (hargv + 1, argv + first, (size_t)(argc - first) * sizeof (char *));
      ret = dispatch (&ctx, &cli_root, "", argc - first + 1, hargv, &err);
    }
  else
    ret = dispatch (&ctx, &cli_root, "", argc - first, argv + first, &err);
  if (ctx.store)
    husk_store_close (ctx.store);
  if (ret < 0)
    return husk_error_report (&err);
  if (fflush (stdout) != 0)
    {
      perror ("Error: writing output");
      return HUSK_EXIT_FAILURE;
    }
  return ret;
}
