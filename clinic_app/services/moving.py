"""Moving the whole clinic to another database (a laptop's SQLite to a clinic server, or back)."""

from __future__ import annotations

from clinic_app.domain.permissions import Action, Principal, as_principal, require
from clinic_app.persistence import move
from clinic_app.persistence.uow import Database


def move_clinic(
    db: Database, actor: Principal, target_url: str,
    progress: move.MoveProgress | None = None,
) -> move.MoveResult:
    """Copy everything to the empty database at ``target_url``; administrators only.

    The copy is compared table by table before it is committed, and both databases record
    the move in their audit trails; the old one then refuses every write.
    """
    principal = as_principal(actor)
    require(principal, Action.ADMIN)
    with db.unit_of_work(principal, read_only=True):
        pass  # the account must still be an active administrator (re-read, not trusted)
    return move.move_clinic(db, target_url, principal.username, progress)
