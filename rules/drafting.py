"""What a planned action says: its reason, subject or title, and the template context.

Reasons are for people ("no reply from Priya Raman since 17 Nov 2026 (5 business days)").
Dates in them are the owner's local dates, with English month names that do not depend on
the machine's locale. The context is described in `rules.plan`'s docstring; every value
in it is a str, int, None or a dict of those, so it can be dumped as JSON as it is.
"""

from __future__ import annotations

from datetime import date, datetime

from rules.model import ContactSnap, DraftPlan, HoldPlan, MeetingSnap, PlannedAction, SentMail
from rules.timeutil import business_days_between
from rules.triggers import Candidate, Env, Occurrence, cadence_due_date

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_REPLY_PREFIXES = ("re:", "aw:")
DATE_SUBJECTS = {"birthday": "Happy birthday!", "anniversary": "Happy anniversary!"}


def day_month(d: date) -> str:
    return f"{d.day} {_MONTHS[d.month - 1]}"


def day_month_year(d: date) -> str:
    return f"{d.day} {_MONTHS[d.month - 1]} {d.year}"


def display_name(c: ContactSnap) -> str:
    name = (c.name or "").strip()
    return name or c.email


def first_name(name: str | None) -> str | None:
    """'Priya Raman' → 'Priya'; 'Raman, Priya' → 'Priya'; None when there is no name."""
    if not name or not name.strip():
        return None
    family, comma, given = name.partition(",")
    words = (given if comma and given.strip() else family).split()
    return words[0] if words else None


def reply_subject(subject: str | None) -> str:
    text = (subject or "").strip()
    if not text:
        return "Following up"
    if text[:3].lower() in _REPLY_PREFIXES:
        return text
    return f"Re: {text}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _iso(dt: datetime | None, env: Env) -> str | None:
    return None if dt is None else env.local(dt).isoformat()


# -- reasons -----------------------------------------------------------------------------


def _cadence_phrase(c: ContactSnap) -> str:
    days = _plural(c.cadence_days or 0, "day")
    return f"cadence for tier {c.tier} is {days}" if c.tier else f"cadence is {days}"


def _days_since(dt: datetime, env: Env) -> int:
    return env.today.toordinal() - env.ordinal(dt)


def cadence_reason(c: ContactSnap, env: Env) -> str:
    if c.last_interaction_at is None:
        return f"no interaction with {display_name(c)} yet; {_cadence_phrase(c)}"
    ago = _plural(_days_since(c.last_interaction_at, env), "day")
    became = cadence_due_date(c, env)
    overdue = ""
    if became is not None and became < env.today:
        overdue = f" (due since {day_month(became)})"
    return f"last interaction {ago} ago; {_cadence_phrase(c)}{overdue}"


def no_reply_reason(c: ContactSnap, mail: SentMail, env: Env) -> str:
    sent = env.local(mail.sent_at).date()
    waited = business_days_between(sent, env.today, env.work, env.quiet)
    return (
        f"no reply from {display_name(c)} since {day_month_year(sent)}"
        f" ({_plural(waited, 'business day')})"
    )


def after_meeting_reason(c: ContactSnap, m: MeetingSnap, env: Env) -> str:
    what = f" ({m.subject.strip()})" if m.subject and m.subject.strip() else ""
    met = day_month_year(env.local(m.end).date())
    return f"met {display_name(c)} on {met}{what}; no email to them since"


def dormant_reason(c: ContactSnap, rule_days: int, env: Env) -> str:
    assert c.last_interaction_at is not None
    ago = _plural(_days_since(c.last_interaction_at, env), "day")
    return (
        f"last interaction {ago} ago (more than {_plural(rule_days, 'day')});"
        " you have been in touch both ways before"
    )


def date_reason(c: ContactSnap, occ: Occurrence, env: Env) -> str:
    name, kind, years = display_name(c), occ.spec.kind, occ.years
    left = occ.on.toordinal() - env.today_in(env.contact_zone(c)).toordinal()
    when = f"{day_month_year(occ.on)}, " + ("today" if left <= 0 else f"in {_plural(left, 'day')}")
    if kind == "birthday":
        return f"{name}'s birthday is on {when}" + (f" (turning {years})" if years else "")
    if kind == "anniversary":
        suffix = f" ({_plural(years, 'year')})" if years else ""
        return f"{name}'s anniversary is on {when}{suffix}"
    return f"{occ.spec.label or 'a date'} for {name} is on {when}"


def reason_for(cand: Candidate, env: Env) -> str:
    c, about, kind = cand.contact, cand.about, cand.rule.kind
    if kind == "no_reply" and isinstance(about, SentMail):
        return no_reply_reason(c, about, env)
    if kind == "after_meeting" and isinstance(about, MeetingSnap):
        return after_meeting_reason(c, about, env)
    if kind == "date" and isinstance(about, Occurrence):
        return date_reason(c, about, env)
    if kind == "dormant":
        return dormant_reason(c, cand.rule.after_days, env)
    return cadence_reason(c, env)


# -- subjects, titles, context -----------------------------------------------------------


def draft_subject(cand: Candidate) -> str:
    about = cand.about
    if isinstance(about, SentMail):
        return reply_subject(about.subject)
    if isinstance(about, MeetingSnap):
        subject = (about.subject or "").strip()
        return f"Thank you — {subject}" if subject else "Thank you"
    if isinstance(about, Occurrence):
        if about.spec.kind == "custom":
            return (about.spec.label or "").strip() or "Thinking of you"
        return DATE_SUBJECTS[about.spec.kind]
    return "It has been a while" if cand.rule.kind == "dormant" else "Catching up"


def hold_title(cand: Candidate) -> str:
    name = display_name(cand.contact)
    about = cand.about
    if isinstance(about, SentMail):
        return f"Follow up with {name}"
    if isinstance(about, MeetingSnap):
        subject = (about.subject or "").strip()
        return f"Follow up with {name} on {subject}" if subject else f"Follow up with {name}"
    if isinstance(about, Occurrence):
        label = {"birthday": "Birthday", "anniversary": "Anniversary"}.get(about.spec.kind)
        return f"{label or (about.spec.label or 'Date').strip()}: {name}"
    return f"Reconnect with {name}" if cand.rule.kind == "dormant" else f"Catch up with {name}"


def _last_interaction(cand: Candidate, env: Env) -> dict[str, object]:
    about, last = cand.about, cand.contact.last_interaction_at
    subject: str | None = None
    # The subject is only known when the last interaction is the mail or meeting at hand.
    if isinstance(about, SentMail | MeetingSnap):
        at = about.sent_at if isinstance(about, SentMail) else about.end
        if last is None or at >= last:
            subject = about.subject
    return {"at": _iso(last, env), "subject": subject}


def context_for(cand: Candidate, env: Env, reason: str, due: datetime) -> dict[str, object]:
    c, about, owner = cand.contact, cand.about, env.owner
    meeting: dict[str, object] | None = None
    if isinstance(about, MeetingSnap):
        meeting = {
            "subject": about.subject,
            "start": _iso(about.start, env),
            "end": _iso(about.end, env),
        }
    date_info: dict[str, object] | None = None
    if isinstance(about, Occurrence):
        date_info = {
            "kind": about.spec.kind,
            "label": about.spec.label,
            "date": about.on.isoformat(),
            "years": about.years,
        }
    return {
        "rule": {"name": cand.rule.name, "kind": cand.rule.kind},
        "reason": reason,
        "due_at": _iso(due, env),
        "contact": {
            "id": c.id,
            "name": c.name,
            "first_name": first_name(c.name),
            "email": c.email,
            "tier": c.tier,
            "timezone": c.timezone,
        },
        "owner": {"name": owner.name, "address": owner.address},
        "last_interaction": _last_interaction(cand, env),
        "thread_subject": about.subject if isinstance(about, SentMail) else None,
        "meeting": meeting,
        "date": date_info,
    }


def _account(cand: Candidate, env: Env) -> str | None:
    about, rule = cand.about, cand.rule
    default = env.snapshot.default_account
    if isinstance(about, SentMail):  # a reply belongs in the mailbox that holds the thread
        return about.account or rule.account or default
    if isinstance(about, MeetingSnap):
        return rule.account or about.account or default
    return rule.account or default


def build(cand: Candidate, due: datetime, env: Env, note: str = "") -> PlannedAction:
    """The action for a candidate that will be planned at `due`; `note` is appended to the
    reason (a snooze or a cap that moved it)."""
    c, rule = cand.contact, cand.rule
    reason = reason_for(cand, env) + note
    context = context_for(cand, env, reason, due)
    draft = hold = None
    if rule.action == "hold":
        hold = HoldPlan(hold_title(cand), rule.duration_minutes, env.now, context)
    else:
        about = cand.about
        mail = about if isinstance(about, SentMail) else None
        references: tuple[str, ...] = ()
        if mail is not None and mail.message_id:
            references = tuple(r for r in mail.references if r != mail.message_id)
            references += (mail.message_id,)
        draft = DraftPlan(
            subject=draft_subject(cand),
            to_name=(c.name or "").strip() or None,
            to_address=(mail.address if mail is not None and mail.address else c.email),
            in_reply_to=mail.message_id if mail else None,
            references=references,
            thread_id=mail.thread_id if mail else None,
            context=context,
        )
    return PlannedAction(
        key=cand.key,
        rule=rule.name,
        kind=rule.action,
        contact_id=c.id,
        account=_account(cand, env),
        due_at=due,
        reason=reason,
        template=rule.template,
        draft=draft,
        hold=hold,
    )
