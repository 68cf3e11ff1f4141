"""A fork server for `tests.util.run_cli`: each `syncd` command still runs in a process of
its own, forked from an interpreter that has already imported syncd.

A fresh `python -m syncd ...` spends about a second of CPU importing SQLAlchemy, pydantic,
Alembic and syncd before it does anything, and the tests run the command a few hundred
times. Here one interpreter per pytest worker imports all of that once; each call forks
it, and the child sets the caller's environment, working directory and umask, puts
/dev/null on stdin and files on stdout and stderr, and runs ``syncd.__main__`` as
``python -m syncd`` does. Exit codes, the split of stdout and stderr, tracebacks on
uncaught exceptions (``sys.excepthook``), atexit handlers and signals are those of a real
process.

What it does not show is a fresh interpreter's start-up: which modules a command imports
and how long that takes. tests/test_cli_imports.py checks that, and the tests about
start-up, signals and daemons start ``python -m syncd`` themselves. SYNCD_TEST_FORK=0
makes `run_cli` start a fresh interpreter each time, as it did before.

Protocol (over the server's stdin and stdout): one JSON request per line with argv, env,
cwd, umask and the stdout/stderr file paths; the server answers the child's pid on one
line, then its wait status on another.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import pkgutil
import runpy
import sys
import traceback
from importlib import import_module


def _preload() -> None:
    """Import every module of the product, as the commands would on their first call."""
    import connectors
    import rules
    import syncd

    for package in (syncd, connectors, rules):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if info.name.endswith("__main__") or ".migrations" in info.name:
                continue
            import_module(info.name)


def _child(request: dict[str, object]) -> None:
    """In the forked child: become `python -m syncd ARGS` and never return."""
    code = 1
    try:
        env = request["env"]
        assert isinstance(env, dict)
        os.environ.clear()
        os.environ.update(env)
        cwd = str(request["cwd"])
        os.chdir(cwd)
        os.umask(int(str(request["umask"])))
        devnull = os.open(os.devnull, os.O_RDONLY)
        out = os.open(str(request["stdout"]), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        err = os.open(str(request["stderr"]), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        for fd, target in ((devnull, 0), (out, 1), (err, 2)):
            os.dup2(fd, target)
            os.close(fd)
        sys.path[0] = cwd  # as `python -m` puts the working directory first
        argv = request["argv"]
        assert isinstance(argv, list)
        sys.argv = ["-m", *map(str, argv)]
        try:
            runpy.run_module("syncd", run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as exc:
            if exc.code is None:
                code = 0
            elif isinstance(exc.code, int):
                code = exc.code
            else:  # sys.exit("message"): printed to stderr, status 1, as Python does
                print(exc.code, file=sys.stderr)
                code = 1
        except BaseException:
            sys.excepthook(*sys.exc_info())
            code = 1
        atexit._run_exitfuncs()
    except BaseException:
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            # a closed stream: main() closes stderr after a BrokenPipeError
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code & 0xFF)


def serve() -> None:
    requests = os.fdopen(os.dup(0), "r", encoding="utf-8")
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)  # the children's output goes to their own files, never to the protocol
    os.close(null)
    _preload()
    answers.write("ready\n")
    answers.flush()
    for line in requests:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            requests.close()
            answers.close()
            _child(request)
        answers.write(f"{pid}\n")
        answers.flush()
        _, status = os.waitpid(pid, 0)
        answers.write(f"{os.waitstatus_to_exitcode(status)}\n")
        answers.flush()


if __name__ == "__main__":
    serve()
