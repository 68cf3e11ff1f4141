"""A labelled evaluation set for the mail classifier, kept apart from the unit tests.

Every message follows the header shapes of a real kind of sender (providers' notification
systems, ESPs, e-signature and document services, carriers, shops, monitors, cron,
mailing-list software, mail clients' auto-replies, spam and phishing, and people writing
from every sort of client, including broken ones). Each `Sample` carries the label a careful
reader gives it (kind, is_interaction, counterparts) and a note saying why.

The labels follow docs/classify.md: counterparts are the people on the other side (the
sender of incoming human, list, auto-reply and calendar mail; the recipients of outgoing
mail), never an address no person reads, and machine mail (newsletter, marketing,
notification, bounce, spam) has none.

The set is written from how senders behave, not from what the classifier reads: several
samples carry headers the classifier ignores, and some carry misleading ones, as real mail
does. Build it with `samples()`; `python bench/classify_eval.py --write DIR` writes it as
.eml files with a labels.jsonl, for `syncd explain`.
"""

from __future__ import annotations

from .common import Sample
from .machines import machine_samples
from .people import people_samples
from .services import service_samples


def samples() -> list[Sample]:
    found = [*people_samples(), *service_samples(), *machine_samples()]
    names = [s.name for s in found]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise ValueError(f"duplicate sample names: {sorted(dupes)}")
    return found


__all__ = ["Sample", "samples"]
