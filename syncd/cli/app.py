"""What every command module of the CLI shares: the per-invocation `App`, `pass_app`,
JSON output, the progress bar, date options, and `LazyGroup`.

Nothing here imports SQLAlchemy, pydantic, rich or a connector at import time: `syncd --help`
and light commands load only what they use (tests/test_cli_imports.py holds that).
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, date, datetime, time
from functools import cached_property
from typing import TYPE_CHECKING, Any

import click

from syncd.errors import SyncdError
from syncd.gcpause import importing, no_cyclic_gc

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from syncd.config import Config
    from syncd.contacts.listing import Tiers
    from syncd.store.db import Store
    from syncd.sync.connect import Connectors
    from syncd.sync.passes import Syncer

NOW_ENV = "SYNCD_NOW"


class App:
    """Lazily loaded config and store for one CLI invocation."""

    def __init__(self, config_path: str | None, owner: str | None = None) -> None:
        self._config_path = config_path
        self._owner = owner

    @cached_property
    def out(self) -> Console:
        from rich.console import Console

        # Piped output is read by people in files and pagers: don't squeeze it to 80 columns.
        out = Console(soft_wrap=False)
        if not out.is_terminal and "COLUMNS" not in os.environ:
            out = Console(soft_wrap=False, width=160)
        return out

    @cached_property
    def err(self) -> Console:
        from rich.console import Console

        return Console(stderr=True)

    @cached_property
    def config(self) -> Config:
        # The config's modules (pydantic) live as long as the process: imported with the
        # collector paused and frozen (syncd/gcpause.py), as a command's modules are.
        with importing("syncd.config"):
            from syncd.config import find_config_path, load_config

            return load_config(find_config_path(self._config_path), self._owner)

    @cached_property
    def store(self) -> Store:
        from syncd.store.db import Store

        store = Store(self.config.store_url)
        store.check_ready()
        return store

    @cached_property
    def owner_id(self) -> int:
        return self.store.ensure_owner(self.config.owner_key, self.now())

    def now(self) -> datetime:
        """The clock; `SYNCD_NOW` (ISO 8601) pins it, for demos and reproducible checks."""
        pinned = os.environ.get(NOW_ENV)
        if pinned:
            try:
                value = datetime.fromisoformat(pinned.replace("Z", "+00:00"))
            except ValueError:
                raise SyncdError(f"{NOW_ENV}={pinned!r} is not an ISO 8601 time") from None
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        return datetime.now(UTC)

    def tiers(self) -> Tiers:
        from syncd.contacts.listing import Tiers

        return Tiers({k: t.cadence_days for k, t in self.config.settings.tiers.items()})

    @cached_property
    def connectors(self) -> Connectors:
        """One set of connector objects (and connections) for the whole command."""
        from syncd.sync.connect import Connectors

        return Connectors(self.config)

    def close(self) -> None:
        """Close the connectors' connections and the store's pool, if any were opened."""
        if "connectors" in self.__dict__:
            self.connectors.close()
        if "store" in self.__dict__:
            self.store.dispose()

    def syncer(self) -> Syncer:
        from syncd.sync.passes import Syncer

        return Syncer(self.store, self.config, self.owner_id, self.connectors)

    def progress(self, enabled: bool) -> AbstractContextManager[RichProgress | None]:
        return _progress(self.err if enabled and self.err.is_terminal else None)


pass_app = click.make_pass_decorator(App)


def emit_json(doc: Any) -> None:
    click.echo(json.dumps(doc, ensure_ascii=False, indent=2, default=str))


def parse_date(value: str, option: str) -> datetime:
    """A YYYY-MM-DD option value as midnight UTC."""
    try:
        d = date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a date (YYYY-MM-DD)", param_hint=option
        ) from None
    return datetime.combine(d, time(0, 0), tzinfo=UTC)


# --- progress ---


class RichProgress:
    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: TaskID | None = None

    def start_stream(self, label: str, total: int | None) -> None:
        from syncd.cli.text import escaped

        self.task = self.progress.add_task(escaped(label), total=total)

    def advance(self, n: int) -> None:
        if self.task is not None:
            self.progress.advance(self.task, n)

    def end_stream(self) -> None:
        if self.task is not None:
            task = self.progress.tasks[self.task]
            self.progress.update(self.task, total=task.completed)
        self.task = None


@contextmanager
def _progress(console: Console | None) -> Iterator[RichProgress | None]:
    if console is None:
        yield None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        yield RichProgress(progress)


# --- lazily loaded subcommands ---


class LazyGroup(click.Group):
    """A group whose subcommands live in modules imported only when one of them runs.

    `lazy` maps a command name to ``("module:attribute", short help)``. `--help` lists the
    short help given here, so listing commands imports nothing; tests/test_cli_imports.py
    holds each equal to the command's own. The command modules import this module, never
    the group's, so there is no import cycle.
    """

    def __init__(
        self, *args: Any, lazy: dict[str, tuple[str, str]] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy and cmd_name not in self.commands:
            self.add_command(self.load(cmd_name), cmd_name)
        return super().get_command(ctx, cmd_name)

    def load(self, name: str) -> click.Command:
        module, _, attr = self.lazy[name][0].partition(":")
        # A command's modules (SQLAlchemy, pydantic, the models) are some 200,000 objects
        # that live as long as the process: collecting while they are made costs a sixth
        # of importing them, and walking them all once afterwards another 60 ms.
        with no_cyclic_gc(keep=True):
            cmd = getattr(importlib.import_module(module), attr)
        if not isinstance(cmd, click.Command):
            raise TypeError(f"{self.lazy[name][0]} is not a click command")
        return cmd

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(n) for n in names)
        rows = []
        for name in names:
            if name in self.lazy and name not in self.commands:
                # a stand-in with the same help is shortened the same way, importing nothing
                text = click.Command(name, help=self.lazy[name][1]).get_short_help_str(limit)
            else:
                cmd = self.get_command(ctx, name)
                if cmd is None or cmd.hidden:
                    continue
                text = cmd.get_short_help_str(limit)
            rows.append((name, text))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
