"""Rules the config asks for but no account can carry out, found before anything is planned.

A hold needs an account with a calendar to hold time in; a draft needs a mail account to put
it in (and the rule's own `account`, when set, is where it goes). `syncd doctor` shows each
problem as a WARN with its fix; `plan`, `apply` and `run` say it on stderr (and in the log)
before they plan, so that fifty holds are not planned only to fail when they come due.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from syncd.config import Config

log = logging.getLogger("syncd.rules")


@dataclass(frozen=True)
class RuleProblem:
    rule: str
    detail: str
    fix: str


def rule_problems(config: Config) -> list[RuleProblem]:
    """Every rule whose action no configured account can take."""
    accounts = config.settings.accounts
    calendars = [a.name for a in accounts if a.calendar is not None]
    out = []
    for rule in config.settings.rules:
        if rule.action_kind == "hold" and not calendars:
            out.append(
                RuleProblem(
                    rule.name,
                    "prepares calendar holds, but no account has a calendar to hold time in",
                    f"add a calendar to an account (calendar = {{ kind = ... }}), set"
                    f' action = "draft" on rule {rule.name!r}, or remove the rule',
                )
            )
        elif rule.action_kind == "draft" and not accounts:
            out.append(
                RuleProblem(
                    rule.name,
                    "prepares drafts, but no mail account is configured to put them in",
                    "add an [[accounts]] entry, or remove the rule",
                )
            )
    return out


def warn_rule_problems(config: Config, echo: bool = True) -> list[RuleProblem]:
    """Say each problem: with `echo` on stderr with its hint (the CLI), else in the log
    (`rules.unrunnable`, the daemon)."""
    import click

    problems = rule_problems(config)
    for p in problems:
        if echo:
            click.echo(f"syncd: warning: rule {p.rule}: {p.detail}", err=True)
            click.echo(f"  hint: {p.fix}", err=True)
        else:
            log.warning(
                "rules.unrunnable", extra={"rule": p.rule, "reason": p.detail, "fix": p.fix}
            )
    return problems
