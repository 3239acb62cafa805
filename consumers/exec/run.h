/* run.h: running one command for hookbus-exec: its own process group, input
 * on stdin, output captured (bounded) and logged, a timeout that kills the
 * whole group. */
#ifndef HOOKBUS_EXEC_RUN_H
#define HOOKBUS_EXEC_RUN_H

#include <stddef.h>

enum exec_outcome {
    EXEC_EXITED,    /* code holds the exit status */
    EXEC_SIGNALED,  /* code holds the signal */
    EXEC_TIMED_OUT, /* killed after timeout_ms */
    EXEC_CANCELLED, /* killed because cancel_fd became readable */
    EXEC_FAILED,    /* could not start: code holds errno, err says why */
};

struct exec_result {
    enum exec_outcome outcome;
    int code;
    char tail[256]; /* the last line of output, for error messages */
};

/* Runs argv (argv[0] is searched in PATH) with environment envp, writes
 * input to its stdin, logs its stdout and stderr (at most 64 KiB, tagged
 * with log_id), waits at most timeout_ms (0: no limit) or until cancel_fd
 * (-1: none) is readable, then SIGTERM and, 2 s later, SIGKILL to its
 * process group. Always reaps the child. */
void exec_run(char *const argv[], char *const envp[], const void *input, size_t inlen,
              long timeout_ms, int cancel_fd, const char *log_id, struct exec_result *res,
              char *err, size_t errlen);

#endif
