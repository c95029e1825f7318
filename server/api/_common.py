"""What every route module shares: the error mapping, the context, visibility checks."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any, Final

from fastapi import HTTPException, Request, Response, status
from fastapi.routing import APIRoute

from dashboard.phases import PhaseError
from hrv.errors import InvalidRRError
from server.auth import Principal, can_view_session
from server.context import AppContext
from server.models import ErrorOut
from server.security import ODD_INPUT_DETAIL, odd_input_errors
from server.storage import (
    DuplicateRecordError,
    InvalidRecordError,
    Participant,
    RecordNotFoundError,
    Session,
    StateConflictError,
)

__all__ = [
    "StorageErrorRoute",
    "context",
    "errors",
    "visible_participant",
    "visible_session",
]

_log = logging.getLogger(__name__)
_ODD_INPUT: Final[tuple[type[Exception], ...]] = odd_input_errors()

_DESCRIPTIONS: Final[dict[int, str]] = {
    401: "Missing, wrong or expired credentials.",
    403: "Needs the admin token.",
    404: "Unknown id or code (or one the caller may not see).",
    409: "The session's state does not allow this (e.g. not live, already stopped).",
    429: "Too many failed attempts (wrong passwords, codes in use): wait `Retry-After` seconds.",
    422: "Invalid values: `detail` says which field and what was expected (for a malformed "
    "request, FastAPI's list of validation errors with `loc`, `msg`, `type`).",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error statuses a route can return (401 and 422 always).

    422 has two shapes: FastAPI's list of validation errors for a malformed request, or a message
    from the store (``InvalidRecordError``); :class:`~server.models.ErrorOut` covers both.
    """
    return {
        code: {"model": ErrorOut, "description": _DESCRIPTIONS[code]}
        for code in sorted({401, 422, *codes})
    }


class StorageErrorRoute(APIRoute):
    """A route whose storage and domain errors become HTTP errors.

    :class:`RecordNotFoundError` -> 404; :class:`DuplicateRecordError`,
    :class:`StateConflictError` and :class:`~dashboard.phases.PhaseError` (a phase command that
    does not fit the running session) -> 409; :class:`InvalidRecordError` and
    :class:`~hrv.errors.InvalidRRError` -> 422. The message of the error is the ``detail``.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def mapped(request: Request) -> Response:
            try:
                return await handler(request)
            except RecordNotFoundError as exc:
                raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
            except (DuplicateRecordError, StateConflictError, PhaseError) as exc:
                raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
            except (InvalidRecordError, InvalidRRError) as exc:
                raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from exc
            except _ODD_INPUT as exc:  # a value the database cannot hold: the client's fault
                _log.info("odd input on %s: %r", request.url.path, exc)
                raise HTTPException(
                    status.HTTP_422_UNPROCESSABLE_CONTENT, detail=ODD_INPUT_DETAIL
                ) from exc

        return mapped


def context(request: Request) -> AppContext:
    """The app's :class:`~server.context.AppContext` (built by the lifespan of ``create_app``)."""
    ctx: AppContext = request.app.state.ctx
    return ctx


def visible_session(ctx: AppContext, principal: Principal, session_id: int) -> Session:
    """The session, if it exists and the caller may see it; else :class:`RecordNotFoundError`."""
    session = ctx.store.get_session(session_id)
    if not can_view_session(principal, session):
        raise RecordNotFoundError("session", session_id)
    return session


def visible_participant(ctx: AppContext, principal: Principal, participant_id: int) -> Participant:
    """The participant, if it exists and the caller may see it; else RecordNotFoundError."""
    participant = ctx.store.get_participant(participant_id)
    if not principal.is_admin and participant.clinician_id != principal.clinician_id:
        raise RecordNotFoundError("participant", participant_id)
    return participant


def require_status(session: Session, allowed: tuple[str, ...], action: str) -> None:
    """Raise :class:`StateConflictError` (409) unless the session's status is allowed."""
    if session.status not in allowed:
        raise StateConflictError(
            f"cannot {action} session {session.id}",
            expected=" or ".join(allowed),
            actual=session.status,
        )
