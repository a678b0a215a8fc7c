"""The privacy portal's steps over the privacy desk: a customer's request received, its code
checked, its export downloaded. Each step commits (through the ``commit`` it is given) before
its answer leaves: the message goes out within the answer's time floor, a failed code counts
even though the answer is an error, a download link is spent before a byte of the export
leaves. What must follow a commit (the message, an erasure's traces) is handed to the unit of
work through ``follow_up``."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from functools import cached_property
from typing import Any

from sqlalchemy.orm import Session

from vault.customers.service import CustomerStore
from vault.errors import or_not_found
from vault.events.notices import Notices, erasure_notices
from vault.governance.models import PrivacyRequest
from vault.privacy.desk import PrivacyDesk
from vault.privacy.export import Export
from vault.privacy.outcomes import LinkGone, Outgoing, Verification

FollowUp = Callable[[PrivacyDesk, Outgoing | None, str], None]


class PrivacyPortal:
    """Over ``session``, the request's unit of work: ``open_desk`` gives the privacy desk
    (acting for the data subject) that does the work, when a step needs it; ``export_store``
    opens a customer store on a session of its own for an export that streams after the
    commit (it is closed when the stream ends, read to the end or not)."""

    def __init__(
        self, session: Session, *, open_desk: Callable[[], PrivacyDesk],
        commit: Callable[[], None], follow_up: FollowUp,
        export_store: Callable[[], CustomerStore],
    ) -> None:  # fmt: skip
        self.session, self.open_desk, self.commit = session, open_desk, commit
        self.follow_up, self.export_store = follow_up, export_store

    @cached_property
    def desk(self) -> PrivacyDesk:
        return self.open_desk()

    def request(self, request_id: str) -> PrivacyRequest:
        """The request with this id; raises ``NotFound``."""
        return or_not_found(self.session.get(PrivacyRequest, request_id), "no such privacy request")

    def certificate(self, request: PrivacyRequest) -> dict[str, Any] | None:
        """An erasure's deletion certificate as of now: with the systems told of it and when
        each acknowledged (``PrivacyDesk.certificate_as_of``)."""
        if not request.certificate:
            return None
        notices = erasure_notices(self.session, [request.customer_id or ""])
        found = notices.get(request.customer_id or "", Notices([], settled=True))
        return self.desk.certificate_as_of(request.certificate, found)

    def submit(self, email: str, kind: str, purposes: Sequence[str] = ()) -> PrivacyRequest:
        """Receive a request (``PrivacyDesk.submit``) and commit it; its code goes out after
        the commit (to a customer's address only)."""
        request, outgoing = self.desk.submit(email, kind, purposes)
        self.follow_up(self.desk, outgoing, request.id)
        self.commit()
        return request

    def verify(self, request_id: str, code: str) -> Verification:
        """Check a code (``PrivacyDesk.verify``) and commit, whether it was accepted or not;
        an erasure's traces go after the commit."""
        result = self.desk.verify(request_id, code)
        self.follow_up(self.desk, None, result.request.id)
        self.commit()
        return result

    def download(self, token: str) -> tuple[str, Iterator[bytes]]:
        """Spend a download link (``PrivacyDesk.open_download``) and commit; then the request's
        id and its export's ZIP, chunk by chunk. Raises ``NotFound`` (no such link) and, once
        the refusal is committed, ``LinkGone``."""
        request = self.desk.open_download(token)
        self.commit()  # spent (or its refusal recorded) before a byte leaves
        if request is None:
            raise LinkGone("this download link has been used or has expired")
        assert request.customer_id is not None
        store = self.export_store()
        export = Export(store, request.id, request.customer_id)

        def body() -> Iterator[bytes]:
            try:
                yield from export.stream()
            finally:  # the stream's own session, whether the client read it all or went away
                store.session.close()

        return request.id, body()
