"""The `syncd` command line.

Every listing command takes ``--json`` and then prints one JSON document on stdout and
nothing else there. Exit status: 0 on success, 1 on a handled error (one line on stderr
with a hint), 2 on bad usage. Progress bars go to stderr, and only on a terminal.
"""

from __future__ import annotations

import logging
import sys
from typing import NoReturn, cast

import click

from syncd import __version__
from syncd.cli.accounts import accounts
from syncd.cli.app import App, LazyGroup
from syncd.cli.contacts import contacts
from syncd.cli.history import explain, history_cmd, import_
from syncd.cli.sync import init, run, sync
from syncd.environ import OWNER_ENV
from syncd.errors import SyncdError

log = logging.getLogger("syncd")

# Commands in other modules, imported only when one of them runs (see LazyGroup).
LAZY_COMMANDS = {
    "actions": (
        "syncd.cli.rules:actions",
        "The outbox: drafts and holds syncd planned or created.",
    ),
    "apply": (
        "syncd.cli.rules:apply",
        "Plan and execute: create the due drafts and holds, withdraw what is no longer needed.",
    ),
    "doctor": (
        "syncd.cli.doctor:doctor",
        "Check the config, secret files, state folder, store and every account; say how to"
        " fix each problem.",
    ),
    "plan": (
        "syncd.cli.rules:plan",
        "Dry run: the actions the rules would create now, with reasons.",
    ),
    "report": (
        "syncd.cli.report:report",
        "Network measures: interaction frequency, response rates both ways, two-way share, the"
        " active network month by month and its growth, overdue and dormant contacts per tier,"
        " and the most neglected relationships (docs/report.md defines each).",
    ),
    "secrets": (
        "syncd.cli.secrets:secrets",
        "Encrypt the token files syncd writes (Google credentials, msal token caches).",
    ),
}


# --- the group ---


@click.group(
    cls=LazyGroup,
    lazy=LAZY_COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--config",
    "config_path",
    metavar="PATH",
    help="Config file (TOML). Default: $SYNCD_CONFIG, ./syncd.toml,"
    " ~/.config/syncd/config.toml, /etc/syncd/config.toml.",
)
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-vv for debug).")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    envvar="SYNCD_LOG_FORMAT",
    help="Log lines on stderr as text (event key=value ...) or JSON objects, one per line.",
)
@click.option(
    "--owner",
    metavar="NAME",
    envvar=OWNER_ENV,
    help="Team deployments: whose accounts, contacts, rules and outbox (an owner under"
    " [team] in the config). Default: $SYNCD_OWNER.",
)
@click.version_option(__version__, prog_name="syncd")
@click.pass_context
def cli(
    ctx: click.Context, config_path: str | None, verbose: int, log_format: str, owner: str | None
) -> None:
    """syncd keeps your relationships alive from your own mail and calendars.

    It reads your mailboxes and calendars, keeps one history per person, and (with rules)
    prepares follow-up drafts and calendar holds for you to review. It never sends mail.

    \b
    First steps:
      syncd --config config.toml init       create the store
      syncd --config config.toml run --once sync every account and show what was found
      syncd contacts list                   who you are in touch with
      syncd history someone@example.org     everything with one person
    """
    from syncd.logs import LogFormat, setup_logging

    level = max(logging.WARNING - 10 * verbose, logging.DEBUG)
    setup_logging(level, cast(LogFormat, log_format))
    ctx.obj = App(config_path, owner)
    ctx.call_on_close(ctx.obj.close)


# The command groups and commands of their own modules; the lazy ones load when they run.
for _command in (init, sync, run, import_, explain, history_cmd, contacts, accounts):
    cli.add_command(_command)


# --- entry point ---


def _fail(message: str, hint: str | None = None) -> NoReturn:
    click.echo(f"syncd: error: {message}", err=True)
    if hint:
        click.echo(f"  hint: {hint}", err=True)
    sys.exit(1)


def main(argv: list[str] | None = None) -> None:
    try:
        rv = cli.main(args=argv, prog_name="syncd", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except SyncdError as exc:
        lines = str(exc).splitlines() or [type(exc).__name__]
        if len(lines) > 1:  # several config errors: one per line, all of them
            for line in lines[:-1]:
                click.echo(f"syncd: error: {line}", err=True)
        _fail(lines[-1], exc.hint)
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        sys.stderr.close()
        sys.exit(1)
    except Exception as exc:  # a path that cannot be written, a store that does not answer
        from syncd.paths import handled_error

        err = handled_error(exc)
        if err is None:
            raise  # a bug: its traceback
        _fail(str(err), err.hint)
    sys.exit(rv if isinstance(rv, int) else 0)
