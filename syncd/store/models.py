"""The store's tables, as SQLAlchemy 2 typed models. Alembic migrations mirror them exactly.

Every table carries `owner_id` from the first migration on, so that one deployment can
serve several people without a schema change. Datetimes are stored as naive UTC (SQLite
has no time zones) and come back aware through `UTCDateTime`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from syncd.isotime import naive_utc

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, naive UTC in the database, aware UTC out."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} reached the store")
        return naive_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _owner_fk() -> Mapped[int]:
    return mapped_column(ForeignKey("owners.id", ondelete="CASCADE"), index=True)


class Owner(Base):
    __tablename__ = "owners"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Account(Base):
    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("owner_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = _owner_fk()
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    # ok | failing | needs_reauth
    state: Mapped[str] = mapped_column(String(16), default="ok")
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Stream(Base):
    """What one cursor covers: a mail folder or a calendar of an account."""

    __tablename__ = "streams"
    __table_args__ = (UniqueConstraint("account_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = _owner_fk()
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(16))
    cursor: Mapped[str | None] = mapped_column(Text)
    cursor_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    items: Mapped[int] = mapped_column(Integer, default=0)


class Contact(Base):
    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = _owner_fk()
    name: Mapped[str | None] = mapped_column(String(300))
    tier: Mapped[str | None] = mapped_column(String(64))
    cadence_days: Mapped[int | None] = mapped_column(Integer)
    timezone: Mapped[str | None] = mapped_column(String(64))
    do_not_contact: Mapped[bool] = mapped_column(Boolean, default=False)
    snoozed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    organisation: Mapped[str | None] = mapped_column(String(300))
    notes: Mapped[str | None] = mapped_column(Text)
    # HH:MM-HH:MM in the contact's time zone, when known
    working_hours: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ContactDate(Base):
    """Birthdays, anniversaries and custom dates; the year is optional."""

    __tablename__ = "contact_dates"
    __table_args__ = (UniqueConstraint("contact_id", "kind", "label"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = _owner_fk()
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # birthday | anniversary | custom
    label: Mapped[str] = mapped_column(String(200), default="")
    year: Mapped[int | None] = mapped_column(Integer)
    month: Mapped[int] = mapped_column(Integer)
    day: Mapped[int] = mapped_column(Integer)


class ContactAddress(Base):
    __tablename__ = "contact_addresses"
    __table_args__ = (UniqueConstraint("owner_id", "address"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = _owner_fk()
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    address: Mapped[str] = mapped_column(String(320))


class Interaction(Base):
    """One email or meeting, however many accounts it was seen in.

    `message_key` dedupes across accounts: the normalised Message-ID for mail, the
    iCalendar UID and instance for meetings. Noise mail is kept too (`is_interaction` is
    false) so that a resync recognises it and `category` records why it is not a contact
    event.
    """

    __tablename__ = "interactions"
    __table_args__ = (
        UniqueConstraint("owner_id", "message_key"),
        Index("ix_interactions_owner_id_occurred_at", "owner_id", "occurred_at"),
        # A thread's messages with what says whether one answers another, so that the
        # report's response times and two-way test read the index alone (0004; it
        # replaced the plain (owner_id, thread_key) index, a prefix of it).
        Index(
            "ix_interactions_thread_replies",
            "owner_id",
            "thread_key",
            "direction",
            "occurred_at",
            "kind",
            "is_interaction",
        ),
        # Partial: only mail that names the message it answers, so that the report finds
        # the period's In-Reply-To answers without reading every interaction of the
        # period from the table (0006).
        Index(
            "ix_interactions_replies",
            "owner_id",
            "occurred_at",
            sqlite_where=text("in_reply_to IS NOT NULL"),
            postgresql_where=text("in_reply_to IS NOT NULL"),
        ),
        # The replies naming a message, for its first answer in interaction_facts (0007).
        Index(
            "ix_interactions_in_reply_to",
            "owner_id",
            "in_reply_to",
            sqlite_where=text("in_reply_to IS NOT NULL"),
            postgresql_where=text("in_reply_to IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # email | meeting
    category: Mapped[str] = mapped_column(String(16))  # the classifier's kind
    is_interaction: Mapped[bool] = mapped_column(Boolean)
    direction: Mapped[str | None] = mapped_column(String(8))  # in | out | mutual
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    subject: Mapped[str | None] = mapped_column(String(1000))
    thread_key: Mapped[str | None] = mapped_column(String(1000))
    message_key: Mapped[str] = mapped_column(String(1000))
    in_reply_to: Mapped[str | None] = mapped_column(String(1000))
    reasons: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class InteractionSource(Base):
    """Where an interaction was seen: an account's provider id for it."""

    __tablename__ = "interaction_sources"
    __table_args__ = (UniqueConstraint("account_id", "provider_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = _owner_fk()
    interaction_id: Mapped[int] = mapped_column(
        ForeignKey("interactions.id", ondelete="CASCADE"), index=True
    )
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    stream_id: Mapped[int] = mapped_column(ForeignKey("streams.id", ondelete="CASCADE"), index=True)
    provider_id: Mapped[str] = mapped_column(String(1000))
    folder: Mapped[str | None] = mapped_column(String(300))
    thread_id: Mapped[str | None] = mapped_column(String(300))


class Participant(Base):
    """A person in an interaction.

    The interaction's kind, direction, times and `is_interaction` are copied here (they
    never change for mail; a moved event rewrites its participants), so that per-contact
    aggregates read one covering index instead of joining millions of interactions.
    """

    __tablename__ = "participants"
    __table_args__ = (
        UniqueConstraint("interaction_id", "address", "role"),
        Index("ix_participants_owner_id_address", "owner_id", "address"),
        # An interaction's participants, and which are contacts: every column the report
        # reads for an interaction's contact (syncd/store/report_stage.py), so that it
        # never reads a participant's row. In place of (interaction_id) alone (migration
        # 0008): as many entries, so ingest writes no more.
        Index(
            "ix_participants_interaction_contacts",
            "interaction_id",
            "is_counterpart",
            "contact_id",
        ),
        # Partial: only counterparts that are contacts (a fraction of all rows, so ingest
        # pays little for it), covering every column the per-contact aggregates read.
        Index(
            "ix_participants_contact_stats",
            "contact_id",
            "is_interaction",
            "occurred_at",
            "direction",
            "kind",
            "ends_at",
            sqlite_where=text("contact_id IS NOT NULL AND is_counterpart = 1"),
            postgresql_where=text("contact_id IS NOT NULL AND is_counterpart = true"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.id", ondelete="CASCADE"))
    interaction_id: Mapped[int] = mapped_column(ForeignKey("interactions.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(300))
    # from | to | cc | bcc | organizer | attendee
    role: Mapped[str] = mapped_column(String(16))
    is_owner: Mapped[bool] = mapped_column(Boolean, default=False)
    is_counterpart: Mapped[bool] = mapped_column(Boolean, default=False)
    response: Mapped[str | None] = mapped_column(String(16))
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL"), index=True
    )
    kind: Mapped[str | None] = mapped_column(String(16))
    direction: Mapped[str | None] = mapped_column(String(8))
    is_interaction: Mapped[bool | None] = mapped_column(Boolean)
    occurred_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ContactStats(Base):
    """Per contact, what the planner and the lists read instead of the participations.

    Maintained at ingest in the batch's transaction, and by every path that adds, moves or
    removes participations (syncd/store/stats.py recomputes the contacts they touch, with
    one grouped INSERT … SELECT). Over the contact's real counterpart participations, at
    any time: the last one, the last each way, the last meeting (direction `mutual`), how
    many interactions. `horizon_at` is the latest instant any of their participations
    (real or not) starts or ends: for a `now` at or after it, every value here is what an
    aggregate "as of now" would give; readers recompute the others (upcoming meetings).
    A row exists when the contact has any counterpart participation at all.
    """

    __tablename__ = "contact_stats"

    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    owner_id: Mapped[int] = _owner_fk()
    last_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_meeting_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    interactions: Mapped[int] = mapped_column(Integer, default=0)
    horizon_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Action(Base):
    """The outbox: a draft or hold the rules want, with its idempotency key."""

    __tablename__ = "actions"
    __table_args__ = (
        UniqueConstraint("owner_id", "key"),
        Index("ix_actions_owner_id_state", "owner_id", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.id", ondelete="CASCADE"))
    rule: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))  # draft | hold
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    key: Mapped[str] = mapped_column(String(300))
    # planned | executing | created | failed | dismissed | skipped
    state: Mapped[str] = mapped_column(String(16))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[str | None] = mapped_column(Text)
    provider_ref: Mapped[str | None] = mapped_column(String(1000))
    # what the draft or hold looked like when created, to tell later if the user touched it
    fingerprint: Mapped[str | None] = mapped_column(String(128))
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Lease(Base):
    """Who works on a resource (an account's sync, an owner's rules) until when.

    Several `syncd run` processes on one PostgreSQL store share the work through these rows
    (syncd/sync/leases.py). `generation` grows on every change of holder, so a worker can tell
    that the lease it had is no longer the one in the row, even if it came back to it.
    """

    __tablename__ = "leases"
    __table_args__ = (UniqueConstraint("owner_id", "resource"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.id", ondelete="CASCADE"))
    # account:NAME | rules
    resource: Mapped[str] = mapped_column(String(100))
    # host:pid:random of the worker holding it; null when released
    holder: Mapped[str | None] = mapped_column(String(200))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    generation: Mapped[int] = mapped_column(Integer, default=0)
    acquired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Forgotten(Base):
    """People the owner asked syncd to forget, kept only as a hash of the address."""

    __tablename__ = "forgotten"
    __table_args__ = (UniqueConstraint("owner_id", "address_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = _owner_fk()
    address_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ContactBucket(Base):
    """Per contact, UTC month and thread: when their real mail each way and their meetings
    last happened there (the monthly rollup `syncd report` reads for the active network
    and the contacts reached; syncd/store/rollups.py).

    Maintained beside `contact_stats`, by the same paths and in the same transactions,
    over the same participations (real counterpart ones): `month` is the month a
    participation ended (a meeting) or happened; mail without a thread and meetings fall in
    the bucket without a thread, which has no mail times. Readers trust a contact's buckets
    when they trust its statistics row (its `horizon_at` is at or before their `now`).
    """

    __tablename__ = "contact_buckets"
    __table_args__ = (Index("ix_contact_buckets_owner_id_month", "owner_id", "month"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.id", ondelete="CASCADE"))
    month: Mapped[str] = mapped_column(String(7))
    thread_key: Mapped[str | None] = mapped_column(String(1000))
    last_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_meeting_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class InteractionFacts(Base):
    """Per real interaction: what `syncd report` would otherwise find by reading its thread
    and its replies (syncd/store/facts.py): the earliest real email the other way in its
    thread, its first answer there and by In-Reply-To, and `horizon_at`, the latest end of
    a real email of its thread that ended after it started (a reader trusts the answer
    times at a `now` at or after it, or when it is null).

    Maintained by every path that adds, moves or removes interactions, in the same
    transaction, for the threads and the reply targets it touched. The interaction's own
    kind, direction and times are copied in, so that the report's period reads this table
    alone.
    """

    __tablename__ = "interaction_facts"
    # No index on the period: the report reads the whole table in its key's order (a
    # sequential scan, which fills its staged table in key order: three times faster than
    # an (owner_id, occurred_at) range read row by row at 2,000,000 interactions).
    __table_args__ = (
        Index(
            "ix_interaction_facts_horizon",
            "owner_id",
            "horizon_at",
            sqlite_where=text("horizon_at IS NOT NULL"),
            postgresql_where=text("horizon_at IS NOT NULL"),
        ),
    )

    interaction_id: Mapped[int] = mapped_column(
        ForeignKey("interactions.id", ondelete="CASCADE"), primary_key=True
    )
    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    direction: Mapped[str | None] = mapped_column(String(8))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    other_way_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    thread_answer_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reference_answer_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    horizon_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
