"""Fetch a resident's photo or voice note from Twilio for staff (the media URLs need the
account's credentials, so the dashboard proxies them instead of linking to them)."""

from __future__ import annotations

import httpx

from bot.config import Settings

TWILIO_API = "https://api.twilio.com/"
MAX_BYTES = 20 * 1024 * 1024
# What the dashboard will show inline; anything else is offered as a download, so a
# hostile file can never run as a page of this site.
INLINE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp", "audio/", "video/")


class MediaUnavailable(Exception):
    """The media cannot be fetched (not Twilio's, too large, or the provider refused)."""


def source_url(url: str, settings: Settings) -> str:
    """Return where to fetch a Twilio media URL (the local stand-in's host when configured)."""
    if url.startswith(TWILIO_API):
        if settings.twilio_api_url:
            return settings.twilio_api_url.rstrip("/") + "/" + url[len(TWILIO_API) :]
        return url
    raise MediaUnavailable("not a Twilio media URL")


def is_inline(content_type: str) -> bool:
    """Return whether a content type may be shown in the page."""
    return content_type.lower().startswith(INLINE_TYPES)


def fetch(url: str, settings: Settings) -> tuple[bytes, str]:
    """Return a media file's bytes and content type, fetched with the Twilio credentials."""
    if not settings.twilio_account_sid or not settings.twilio_auth_token:
        raise MediaUnavailable("Twilio credentials are not configured")
    target = source_url(url, settings)
    auth = (settings.twilio_account_sid, settings.twilio_auth_token)
    try:
        with (
            httpx.Client(
                auth=auth, follow_redirects=True, timeout=settings.twilio_timeout_seconds
            ) as client,
            client.stream("GET", target) as response,
        ):
            if response.status_code != 200:
                raise MediaUnavailable(f"the provider answered {response.status_code}")
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > MAX_BYTES:
                    raise MediaUnavailable("the file is too large")
                chunks.append(chunk)
            content_type = response.headers.get("content-type", "application/octet-stream")
    except httpx.HTTPError as exc:
        raise MediaUnavailable(f"could not fetch the file: {type(exc).__name__}") from None
    return b"".join(chunks), content_type.split(";")[0].strip().lower()
