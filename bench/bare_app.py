"""Baseline for bench/webhook.py: parse the same form, return fixed TwiML, nothing else."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response

app = FastAPI()
TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response><Message>ok</Message></Response>'


@app.post("/webhooks/twilio/messages")
async def messages(request: Request) -> Response:
    """Parse the form and answer with fixed TwiML."""
    form = await request.form()
    assert form.get("MessageSid")
    return Response(TWIML, media_type="text/xml")
