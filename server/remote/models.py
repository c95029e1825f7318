"""Request and response shapes of the remote-session routes (join links, the patient's page)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from server.remote.links import MAX_EXPIRES_IN_S, MIN_EXPIRES_IN_S

__all__ = [
    "JoinConsentIn",
    "JoinInfoOut",
    "JoinLinkCreatedOut",
    "JoinLinkIn",
    "JoinLinkOut",
    "JoinPurposeOut",
    "LinkQualityOut",
]


class JoinLinkIn(BaseModel):
    """``POST /api/sessions/{id}/join-links``: whom the link is for and how long it lives."""

    model_config = ConfigDict(extra="forbid")

    participant_id: int = Field(ge=1)
    expires_in_s: float = Field(
        default=4 * 3600.0,
        ge=MIN_EXPIRES_IN_S,
        le=MAX_EXPIRES_IN_S,
        description="lifetime of the link, s",
    )


class JoinLinkCreatedOut(BaseModel):
    """A new join link: the token is shown once here and never stored."""

    id: int
    session_id: int
    participant_id: int
    url: str
    token: str
    expires_at_s: float


class LinkQualityOut(BaseModel):
    """What the server sees of a remote participant's link (all times server clock, s)."""

    connected: int = Field(description="open ingest connections of the link")
    beats_received: int
    last_beat_age_s: float | None = Field(description="server time since the newest beat")
    upload_delay_s: float | None = Field(
        description="receipt time minus the newest beat's time (device clock + offset)"
    )
    clock_offset_s: float | None = Field(description="server clock minus device clock")
    clock_drift_ppm: float | None
    clock_uncertainty_s: float | None = Field(
        default=None,
        description="bound of the offset's error: shortest ping round trip + |drift| x span",
    )
    last_close_code: int | None = None
    client_buffered_beats: int | None = Field(
        default=None, description="beats the client said it holds unacknowledged (last ping)"
    )


class JoinLinkOut(BaseModel):
    """A stored join link (never its token)."""

    id: int
    session_id: int
    participant_id: int
    participant_code: str
    created_at_s: float
    expires_at_s: float
    revoked_at_s: float | None
    created_by: str
    state: Literal["active", "expired", "revoked"]
    quality: LinkQualityOut


class JoinPurposeOut(BaseModel):
    """One consent purpose as the patient's page explains it."""

    purpose: str
    granted: bool
    what: str


class JoinInfoOut(BaseModel):
    """``GET /api/join/{token}``: what the patient's page shows."""

    session_id: int
    participant_code: str
    expires_at_s: float
    session_status: str
    purposes: list[JoinPurposeOut]
    retention: str
    shown: str
    ingest_path: str


class JoinConsentIn(BaseModel):
    """``POST /api/join/{token}/consents``: the participant gives or refuses one purpose."""

    model_config = ConfigDict(extra="forbid")

    purpose: Literal["live_display", "storage", "review", "research_export", "synchrony"]
    granted: bool
