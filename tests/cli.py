"""The ``fangpin`` command for tests, with what it printed and its exit code.

A clerk runs it as a separate process. The suite runs commands some two hundred times, and
each process spends one to three seconds importing before it does anything, so by default a
command runs in the test's own process: the environment, the working folder and standard
input are the ones given, the state a fresh process would not have (the engine, the settings,
the stores, the loaded model, the county's clock, the logging set-up) is dropped before and
put back after, and an uncaught exception or ``SystemExit`` ends it with the code Python's
would. ``FANGPIN_TEST_CLI=process`` runs every command as a separate process (the long run);
tests of what only a process shows (start-up imports, a killed run) start one themselves.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

IN_PROCESS = os.environ.get("FANGPIN_TEST_CLI", "inline") != "process"


@dataclass
class Ran:
    """What :class:`subprocess.CompletedProcess` says of a command run in this process."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str


def fangpin(url: str | None, *args: object, env: dict[str, str] | None = None,
            cwd: str | Path | None = None, input: str | None = None,
            timeout: float = 300) -> Ran | subprocess.CompletedProcess:
    """``fangpin ARGS`` on the database at ``url`` (None: the one ``env`` or the environment
    names), with ``env`` added to the environment (and winning over ``url``)."""
    argv = [str(arg) for arg in args]
    added = {"FANGPIN_LOG_FORMAT": "text"}
    if url is not None:
        added["FANGPIN_DATABASE_URL"] = url
    added.update(env or {})
    if not IN_PROCESS:
        return subprocess.run([sys.executable, "-m", "claims.cli", *argv], cwd=cwd,
                              env={**os.environ, **added}, input=input, capture_output=True,
                              text=True, timeout=timeout)
    out, err = io.StringIO(), io.StringIO()
    with _fresh_process(added, cwd, input), contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(err):
        code = _exit_code(argv)
    return Ran(argv, code, out.getvalue(), err.getvalue())


def _exit_code(argv: list[str]) -> int:
    from claims import cli

    try:
        return cli.main(argv)
    except SystemExit as exc:  # argparse's errors, raise SystemExit("message")
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        print(exc.code, file=sys.stderr)
        return 1
    except Exception:  # the interpreter prints the traceback and exits with 1
        traceback.print_exc()
        return 1


@contextlib.contextmanager
def _fresh_process(env: dict[str, str], cwd: str | Path | None, stdin: str | None):
    from claims import db, intake, nightly
    from claims.documents import storage
    from claims.settings import get_settings
    from policies import history

    saved_env = dict(os.environ)
    saved_dir = os.getcwd()
    saved_clock = history.clock
    saved_stdin = sys.stdin
    root = logging.getLogger()
    saved_logging = {name: (logger.handlers[:], logger.level, logger.propagate,
                            logger.disabled)
                     for name, logger in [("", root), *logging.Logger.manager.loggerDict.items()]
                     if isinstance(logger, logging.Logger)}

    def forget() -> None:
        get_settings.cache_clear()
        if db._engine is not None:
            db._engine.dispose()
            db._engine = None
        storage.use(None)
        intake.forget_known_types()
        nightly._saved.clear()

    forget()
    os.environ.update(env)
    if cwd is not None:
        os.chdir(cwd)
    sys.stdin = io.StringIO(stdin or "")
    try:
        yield
    finally:
        forget()
        sys.stdin = saved_stdin
        os.chdir(saved_dir)
        os.environ.clear()
        os.environ.update(saved_env)
        history.clock = saved_clock
        for name, logger in logging.Logger.manager.loggerDict.items():
            if isinstance(logger, logging.Logger) and name not in saved_logging:
                logger.handlers.clear()
                logger.propagate = True
        for name, (handlers, level, propagate, disabled) in saved_logging.items():
            logger = root if name == "" else logging.getLogger(name)
            logger.handlers[:] = handlers
            logger.level, logger.propagate, logger.disabled = level, propagate, disabled
