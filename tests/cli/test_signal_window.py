"""A stop request that arrives before the handlers are installed: spdf runs itself again at start
(GOMP_SPINCOUNT) and holds SIGINT and SIGTERM blocked across that exec, so that a signal there
waits for the training command's handler (save, exit 130) instead of killing the run.  The test
makes that state exact: the signal is already pending and blocked when spdf starts."""
import os
import signal
import subprocess

from clitest import EXIT_INTERRUPTED, TINY_MODEL, check, main, ok_json, spdf_path, tiny_corpus


def run_with_pending_sigterm(args):
    """Runs spdf with SIGTERM blocked and pending, and without GOMP_SPINCOUNT (so it re-executes)."""
    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}

    def pending_sigterm():
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        os.kill(os.getpid(), signal.SIGTERM)

    return subprocess.run([spdf_path()] + [str(a) for a in args], capture_output=True, env=env, timeout=300,
                          preexec_fn=pending_sigterm)


def test(workdir):
    corpus = tiny_corpus(workdir)
    ckpt = os.path.join(workdir, "held.ckpt")
    result = run_with_pending_sigterm(["pretrain", "--data", corpus, "--out", ckpt, "--steps", "200",
                                       "--eval-every", "0"] + TINY_MODEL)
    err = result.stderr.decode("utf-8", "replace")
    check(result.returncode == EXIT_INTERRUPTED,
          "a SIGTERM held from the start: exit %d, expected 130 (stderr %r)" % (result.returncode, err))
    check("interrupted" in err and "saved" in err, "the stop is reported: %r" % err)
    info = ok_json(["info", ckpt])
    check(info["step"] < 200, "the run stopped early: %r" % info)

    # a command without a stop handler ends as SIGTERM ends any process, once it is released
    result = run_with_pending_sigterm(["generate", "--model", ckpt, "--prompt", "To be", "--max-new", "4"])
    check(result.returncode == -signal.SIGTERM,
          "generate with a SIGTERM held from the start: exit %d, expected death by SIGTERM" % result.returncode)


if __name__ == "__main__":
    main(test)
