"""Ending a child process the tests or the bench started: SIGTERM, then
SIGKILL when it has not exited within the grace period."""
import subprocess


def stop_process(proc, grace=20):
    """Terminates proc (a subprocess.Popen) if it still runs and waits for it;
    kills it after `grace` seconds. Returns its exit status."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode
