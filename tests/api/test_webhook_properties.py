"""Property-based requests to both Twilio webhooks, signed as Twilio signs them.

Whatever the fields hold, a webhook answers 4xx or 2xx, never 5xx; an inbound message is
stored exactly when it is answered; every answer is TwiML that parses, and each reply
keeps to its channel's limits. Derandomised and kept short, so CI sees the same cases
every run; these found a C0 control character breaking the TwiML, a NUL byte failing on
PostgreSQL, a superscript digit in NumMedia and an out-of-range `outbox` id.
"""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from bot import sms
from bot.db import session_scope, utcnow
from bot.domain.messages.models import InboundMessage
from bot.domain.settlements.models import Settlement
from tests.api.test_status import PATH as STATUS_PATH
from tests.api.test_webhooks import count, messages_of, post
from tests.factories import make_meeting, make_milestone, make_settlement
from tests.twilio_payloads import new_sid, signed

# fmt: off
INBOUND_FIELDS = [
    "Body", "To", "NumMedia", "MediaUrl0", "MediaContentType0", "MediaUrl1", "Latitude",
    "Longitude", "Address", "Label", "ProfileName", "WaId", "ButtonPayload", "ButtonText",
    "ListId", "SmsStatus", "NumSegments", "ReferralNumMedia", "OriginalRepliedMessageSid",
]
STATUS_FIELDS = [
    "MessageSid", "SmsSid", "MessageStatus", "SmsStatus", "ErrorCode", "ErrorMessage", "To",
    "From", "AccountSid", "ChannelStatusMessage",
]
# Any text a form can carry: every Unicode scalar value but lone surrogates.
text = st.text(st.characters(codec="utf-8"), max_size=200)
awkward = st.sampled_from(
    ["", "0", "1", "10", "11", "-1", "\u00b9", "\u0663", "nan", "inf", "1e400", "-33.9",
     "18.4", "95", "https://api.twilio.com/x", "image/jpeg", "\x00", "\x1f", "\ufffe"]
)
phones = st.sampled_from(
    ["+27821234567", "whatsapp:+27821234567", "0821234567", "whatsapp:0821234567", "+1",
     "whatsapp:", "27821234567", "+4420 7946 0958", "whatsapp:+999999999999999999"]
) | text  # fmt: skip
# Menu numbers, keywords and answers in several languages, beside arbitrary text.
words = st.sampled_from(
    ["hi", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "12", "menu", "help", "STOP",
     "START", "LANGUAGE", "MY DATA", "DELETE", "yes", "no", "MORE", "Ubuhle", "Masiphumelele",
     "ATTEND", "NDIZA", "molo", "\U0001f44d\U0001f3fd", "\u2463", "\u1369", "  4  ",
     "My tap has been broken for three weeks near block C", "x" * 1500]
) | text  # fmt: skip
CASES = examples(
    max_examples=120,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def _seed(engine: Engine) -> None:
    with session_scope(engine) as session:
        ubuhle = make_settlement(session, aliases=["Ubuhle"], category="B1")
        make_settlement(session, name="Masiphumelele")
        make_settlement(session, name="Masiphumelele North")
        session.flush()
        make_milestone(session, ubuhle)
        make_meeting(session, utcnow() + dt.timedelta(days=3), settlement_id=ubuhle.id)


@CASES
@given(fields=st.dictionaries(st.sampled_from(INBOUND_FIELDS) | text, awkward | text, max_size=10))
def test_any_signed_inbound_form_is_answered_or_refused_never_a_server_error(
    client, settings, clean_db, fields
) -> None:
    form = {**fields, "MessageSid": new_sid(), "From": fields.get("From", "+27821234567")}
    before = count(clean_db, InboundMessage)
    response = post(client, settings, form)
    stored = count(clean_db, InboundMessage) - before
    if response.status_code == 200:
        assert stored == 1
        assert messages_of(response)
    else:
        assert response.status_code == 400, response.text
        assert stored == 0


@CASES
@given(sender=phones, body=text)
def test_any_sender_is_answered_or_refused_never_a_server_error(
    client, settings, clean_db, sender, body
) -> None:
    form = {"MessageSid": new_sid(), "From": sender, "Body": body, "To": "+27870000001"}
    response = post(client, settings, form)
    assert response.status_code in (200, 400), response.text
    if response.status_code == 200:
        assert messages_of(response)


@examples(CASES, max_examples=60)
@given(
    turns=st.lists(
        st.tuples(words, st.booleans(), st.sampled_from(["+27821111111", "+27822222222"])),
        min_size=1,
        max_size=20,
    )
)
def test_any_conversation_gets_readable_replies_within_the_channel_limits(
    client, settings, clean_db, turns
) -> None:
    if not count(clean_db, Settlement):
        _seed(clean_db)
    for body, on_whatsapp, phone in turns:
        sender = f"whatsapp:{phone}" if on_whatsapp else phone
        form = {"MessageSid": new_sid(), "From": sender, "To": "+27870000001", "Body": body}
        response = post(client, settings, form)
        assert response.status_code == 200, response.text
        replies = messages_of(response)
        assert replies and all(reply.strip() for reply in replies)
        for reply in replies:
            assert "went wrong" not in reply, (body, reply)
            if on_whatsapp:
                assert len(reply) <= 1600
            else:
                assert sms.segments(reply) <= 3, (body, reply)


@CASES
@given(
    fields=st.dictionaries(
        st.sampled_from(STATUS_FIELDS) | text,
        awkward | st.sampled_from(["delivered", "failed", "63016", "SM" + "1" * 32]) | text,
        max_size=8,
    ),
    query=st.sampled_from(["", "?outbox=1", "?outbox=abc", "?outbox=99999999999", "?outbox=-1"]),
)
def test_any_signed_status_callback_is_taken_or_refused_never_a_server_error(
    client, settings, clean_db, fields, query
) -> None:
    # Not test_status.post: it sends an empty form without a Content-Type; Twilio never does.
    url = STATUS_PATH + query
    response = client.post(
        url, **signed(settings.public_url + url, fields, settings.twilio_auth_token)
    )
    assert response.status_code == (200 if query in ("", "?outbox=1") else 422), response.text
