"""A local stand-in for Twilio's 2010-04-01 Messages API, for tests and benchmarks.

A real threaded HTTP server on 127.0.0.1 (random port) that the real `twilio` client
talks to once SIYAKHA_TWILIO_API_URL points at `standin.url`. It answers:

- POST /2010-04-01/Accounts/{AccountSid}/Messages.json (create; To, From or
  MessagingServiceSid, Body or ContentSid + ContentVariables, StatusCallback),
- GET  /2010-04-01/Accounts/{AccountSid}/Messages.json (list; To, From, DateSent>,
  DateSent< (by day, as Twilio: sent on or before that UTC date), PageSize, PageToken;
  newest first, in pages with next_page_uri),
- GET  /2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json (fetch),
- DELETE /2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json (delete, with its media),
- GET  /_standin/messages and POST /_standin/reset, for a process that only has the URL,

with HTTP basic auth and Twilio-shaped JSON errors. Faults are scriptable: the next
N creates (optionally only to one number) answer 429/20429, 400 + 21610/21211/21614/
63016/63014, 500, or accept the message and then answer 500 anyway (the response is
lost but the message exists); the next N deletes (optionally of one sid) can fail too.
Every accepted message is recorded, so a test can count exactly-once delivery.

Run it alone (benchmarks): `python -m tests.twilio_standin --port 0` prints its URL.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import email.utils
import itertools
import json
import random
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "standin-auth-token"

ERROR_MESSAGES = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    21211: "Invalid 'To' Phone Number",
    21610: "Attempt to send to unsubscribed recipient",
    21614: "'To' number is not a valid mobile number",
    63014: "This message could not be delivered because the recipient has blocked the sender",
    63016: "Failed to send freeform message because you are outside the allowed window. "
    "Please use a Template.",
    20500: "Internal Server Error",
}


@dataclass
class Fault:
    """One scripted answer to the next matching create request(s)."""

    status: int
    code: int
    times: int = 1
    to: str | None = None
    accept: bool = False  # store the message, then fail anyway (lost response)
    delay: float = 0.0

    def matches(self, to: str) -> bool:
        """Return whether this fault applies to a message to `to`."""
        return self.times > 0 and (self.to is None or self.to == to)


@dataclass
class StandInState:
    """Everything the stand-in remembers; guarded by `lock`."""

    account_sid: str
    auth_token: str
    latency: float = 0.0
    messages: list[dict[str, Any]] = field(default_factory=list)
    by_sid: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_to: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    delete_faults: list[Fault] = field(default_factory=list)  # `to` holds the sid here
    media: dict[str, list[str]] = field(default_factory=dict)  # message sid -> media sids
    permanent: dict[str, tuple[int, int]] = field(default_factory=dict)
    closed_windows: set[str] = field(default_factory=set)
    # Numbers whose messages stay in Twilio's queue: status queued, no date_sent yet.
    held: set[str] = field(default_factory=set)
    random_faults: list[tuple[float, int, int]] = field(default_factory=list)
    requests: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _rfc2822(when: dt.datetime) -> str:
    return email.utils.format_datetime(when.astimezone(dt.UTC), usegmt=False).replace(
        "-0000", "+0000"
    )


def _parse_when(value: str) -> dt.datetime | None:
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def render_template(content_sid: str, variables: dict[str, Any]) -> str:
    """Return the text the stand-in 'renders' for a template: its sid and the values."""
    values = " | ".join(str(variables[k]) for k in sorted(variables, key=str))
    return f"[{content_sid}] {values}".strip()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # One write per response, sent at once: split writes meet delayed ACKs (40 ms each).
    wbufsize = 1 << 16
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet."""

    # -- plumbing --------------------------------------------------------------------
    def _send_json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, code: int, message: str | None = None) -> None:
        self._send_json(
            status,
            {
                "code": code,
                "message": message or ERROR_MESSAGES.get(code, "Error"),
                "more_info": f"https://www.twilio.com/docs/errors/{code}",
                "status": status,
            },
        )

    def _authorised(self, account: str) -> bool:
        state = self.server.state
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return user == state.account_sid == account and password == state.auth_token

    def _route(self) -> tuple[str, list[str], dict[str, list[str]]]:
        parts = urlsplit(self.path)
        return parts.path, parts.path.strip("/").split("/"), parse_qs(parts.query)

    # -- verbs -----------------------------------------------------------------------
    def do_POST(self) -> None:
        """Create a message, or reset the stand-in."""
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        path, parts, _ = self._route()
        if path == "/_standin/reset":
            self.server.reset()
            self._send_json(200, {"ok": True})
            return
        if len(parts) != 4 or parts[0] != "2010-04-01" or parts[3] != "Messages.json":
            self._error(404, 20404)
            return
        if not self._authorised(parts[2]):
            self._error(401, 20003)
            return
        form = {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        status, payload = self.server.create(form)
        if status >= 400:
            self._error(status, payload["code"])
        else:
            self._send_json(status, payload)

    def do_GET(self) -> None:
        """List or fetch messages, or dump every recorded message."""
        path, parts, query = self._route()
        if path == "/_standin/messages":
            with self.server.state.lock:
                messages = list(self.server.state.messages)
            self._send_json(200, {"messages": messages})
            return
        if len(parts) not in (4, 5) or parts[0] != "2010-04-01" or parts[3] == "":
            self._error(404, 20404)
            return
        if not self._authorised(parts[2]):
            self._error(401, 20003)
            return
        if len(parts) == 4 and parts[3] == "Messages.json":
            self._send_json(200, self.server.list(query))
            return
        if len(parts) == 5 and parts[3] == "Messages" and parts[4].endswith(".json"):
            message = self.server.state.by_sid.get(parts[4][: -len(".json")])
            if message is None:
                self._error(404, 20404)
            else:
                self._send_json(200, self.server.public(message))
            return
        self._error(404, 20404)

    def do_DELETE(self) -> None:
        """Delete a message (and with it its media)."""
        _, parts, _ = self._route()
        if len(parts) != 5 or parts[0] != "2010-04-01" or parts[3] != "Messages":
            self._error(404, 20404)
            return
        if not self._authorised(parts[2]):
            self._error(401, 20003)
            return
        sid = parts[4].removesuffix(".json")
        fault = self.server.delete_fault(sid)
        if fault is not None:
            self._error(fault.status, fault.code)
        elif self.server.remove(sid):
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self._error(404, 20404)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], state: StandInState) -> None:
        super().__init__(address, _Handler)
        self.state = state
        self._serial = itertools.count(1)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore clients that vanish (a killed worker); report anything else."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def reset(self) -> None:
        with self.state.lock:
            self.state.messages.clear()
            self.state.by_sid.clear()
            self.state.by_to.clear()
            self.state.faults.clear()
            self.state.delete_faults.clear()
            self.state.media.clear()
            self.state.permanent.clear()
            self.state.closed_windows.clear()
            self.state.held.clear()
            self.state.random_faults.clear()
            self.state.requests.clear()

    def public(self, message: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in message.items() if not k.startswith("_")}

    def _fault_for(self, to: str, is_freeform_whatsapp: bool) -> Fault | None:
        state = self.state
        if to in state.permanent:
            status, code = state.permanent[to]
            return Fault(status, code)
        if is_freeform_whatsapp and to in state.closed_windows:
            return Fault(400, 63016)
        for fault in state.faults:
            if fault.matches(to):
                fault.times -= 1
                if fault.times <= 0:
                    state.faults.remove(fault)
                return fault
        for probability, status, code in state.random_faults:
            if random.random() < probability:
                return Fault(status, code)
        return None

    def create(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        state = self.state
        if state.latency:
            time.sleep(state.latency)
        to = form.get("To", "")
        content_sid = form.get("ContentSid")
        body = form.get("Body")
        if not to:
            return 400, {"code": 21604}
        if not body and not content_sid:
            return 400, {"code": 21602}
        if not form.get("From") and not form.get("MessagingServiceSid"):
            return 400, {"code": 21603}
        with state.lock:
            state.requests["create"] += 1
            fault = self._fault_for(to, to.startswith("whatsapp:") and not content_sid)
            if fault is not None:
                state.requests[f"fault:{fault.code}"] += 1
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        if fault is not None and not fault.accept:
            return fault.status, {"code": fault.code}
        variables: dict[str, Any] = {}
        if content_sid:
            try:
                variables = json.loads(form.get("ContentVariables") or "{}")
            except ValueError:
                return 400, {"code": 21656}
            text = render_template(content_sid, variables)
        else:
            text = body or ""
        now = dt.datetime.now(dt.UTC)
        sid = "SM" + uuid.uuid4().hex
        message = {
            "sid": sid,
            "account_sid": state.account_sid,
            "to": to,
            "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "body": text,
            "status": "queued",
            "num_segments": "1",
            "num_media": "0",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "price": None,
            "price_unit": "USD",
            "error_code": None,
            "error_message": None,
            "date_created": _rfc2822(now),
            "date_updated": _rfc2822(now),
            "date_sent": None if to in state.held else _rfc2822(now),
            "uri": f"/2010-04-01/Accounts/{state.account_sid}/Messages/{sid}.json",
            "subresource_uris": {},
            "_created": now.isoformat(),
            "_serial": next(self._serial),
            "_content_sid": content_sid,
            "_content_variables": variables,
            "_status_callback": form.get("StatusCallback"),
        }
        with state.lock:
            state.messages.append(message)
            state.by_sid[sid] = message
            state.by_to.setdefault(to, []).append(message)
        if fault is not None:  # accepted, but the caller never learns it
            return fault.status, {"code": fault.code}
        return 201, self.public(message)

    def delete_fault(self, sid: str) -> Fault | None:
        """Return the scripted failure for deleting `sid`, if one is due (and use it up)."""
        with self.state.lock:
            for fault in self.state.delete_faults:
                if fault.matches(sid):
                    fault.times -= 1
                    if fault.times <= 0:
                        self.state.delete_faults.remove(fault)
                    self.state.requests[f"delete_fault:{fault.code}"] += 1
                    return fault
        return None

    def remove(self, sid: str) -> bool:
        """Delete one message and its media (as Twilio has since October 2020); return
        whether there was one."""
        with self.state.lock:
            self.state.requests["delete"] += 1
            message = self.state.by_sid.pop(sid, None)
            if message is None:
                return False
            self.state.messages.remove(message)
            self.state.by_to[message["to"]].remove(message)
            self.state.media.pop(sid, None)
            return True

    def list(self, query: dict[str, list[str]]) -> dict[str, Any]:
        to = (query.get("To") or [None])[-1]
        with self.state.lock:
            self.state.requests["list"] += 1
            messages = list(self.state.by_to.get(to, []) if to else self.state.messages)
        sender = (query.get("From") or [None])[-1]
        after = _parse_when((query.get("DateSent>") or [""])[-1])
        # Twilio reads DateSent< as a day (YYYY-MM-DD; "<=YYYY-MM-DD" in its docs: on and
        # before it), whatever time follows: the whole day named is included.
        before_day = (query.get("DateSent<") or [""])[-1][:10]
        before = dt.date.fromisoformat(before_day) if before_day else None
        page_size = max(int((query.get("PageSize") or ["50"])[-1]), 1)
        token = (query.get("PageToken") or [""])[-1]
        below = int(token.removeprefix("PA")) if token else None
        found = []
        for message in reversed(messages):  # newest first
            # Twilio filters on when it sent a message: one still queued has no date_sent
            # and no DateSent filter matches it.
            sent = dt.datetime.fromisoformat(message["_created"]) if message["date_sent"] else None
            if below is not None and message["_serial"] >= below:
                continue
            if to and message["to"] != to:
                continue
            if sender and message["from"] != sender:
                continue
            if after and (sent is None or sent < after):
                continue
            if before and (sent is None or sent.astimezone(dt.UTC).date() > before):
                continue
            found.append(message)
        page = found[:page_size]
        next_page_uri = None
        if len(found) > page_size:  # the next page starts below the last one given
            parts = {k: v[-1] for k, v in query.items() if k != "PageToken"}
            parts["PageToken"] = f"PA{page[-1]['_serial']}"
            next_page_uri = f"{self.path_of_list}?{urlencode(parts)}"
        return {
            "messages": [self.public(message) for message in page],
            "end": len(page),
            "first_page_uri": "",
            "next_page_uri": next_page_uri,
            "page": 0,
            "page_size": page_size,
            "previous_page_uri": None,
            "start": 0,
            "uri": "",
        }

    @property
    def path_of_list(self) -> str:
        return f"/2010-04-01/Accounts/{self.state.account_sid}/Messages.json"


class TwilioStandIn:
    """Start, script and inspect a stand-in Messages API server."""

    def __init__(
        self,
        account_sid: str = ACCOUNT_SID,
        auth_token: str = AUTH_TOKEN,
        *,
        latency: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.state = StandInState(account_sid=account_sid, auth_token=auth_token, latency=latency)
        self._server = _Server((host, port), self.state)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Return the base URL to put in SIYAKHA_TWILIO_API_URL."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def account_sid(self) -> str:
        """Return the account sid the stand-in accepts."""
        return self.state.account_sid

    @property
    def auth_token(self) -> str:
        """Return the auth token the stand-in accepts."""
        return self.state.auth_token

    def start(self) -> TwilioStandIn:
        """Serve in a background thread; return self."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> TwilioStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- scripting -------------------------------------------------------------------
    def fail_next(
        self,
        status: int,
        code: int,
        *,
        times: int = 1,
        to: str | None = None,
        accept: bool = False,
        delay: float = 0.0,
    ) -> None:
        """Answer the next `times` creates (to `to`, if given) with this error."""
        with self.state.lock:
            self.state.faults.append(Fault(status, code, times, to, accept, delay))

    def fail_always(self, to: str, status: int, code: int) -> None:
        """Answer every create to `to` with this error (an opted-out or bad number)."""
        with self.state.lock:
            self.state.permanent[to] = (status, code)

    def close_window(self, to: str) -> None:
        """Refuse free-form WhatsApp messages to `to` with 63016 (window closed)."""
        with self.state.lock:
            self.state.closed_windows.add(to)

    def hold(self, to: str) -> None:
        """Keep messages to `to` queued at the stand-in, as Twilio does when a sender's
        queue is long: status queued and no date_sent, so DateSent filters miss them."""
        with self.state.lock:
            self.state.held.add(to)

    def fail_randomly(self, probability: float, status: int, code: int) -> None:
        """Answer a random share of creates with this error."""
        with self.state.lock:
            self.state.random_faults.append((probability, status, code))

    def set_latency(self, seconds: float) -> None:
        """Delay every create by `seconds`."""
        self.state.latency = seconds

    def received(self, sender: str, body: str, to: str = "+27870000001", *, media: int = 0) -> str:
        """Record a message a resident sent us (as Twilio keeps it), with `media` photos or
        voice notes; return its sid."""
        status, created = self._server.create({"To": to, "From": sender, "Body": body})
        assert status == 201, created
        sid = str(created["sid"])
        with self.state.lock:
            message = self.state.by_sid[sid]
            message["direction"], message["status"] = "inbound", "received"
            message["num_media"] = str(media)
            if media:
                self.state.media[sid] = ["ME" + uuid.uuid4().hex for _ in range(media)]
            self.state.requests["create"] -= 1  # not one of ours
        return sid

    def backdate(self, sid: str, when: dt.datetime) -> None:
        """Make a message look created and sent at `when` (keeping the list's order by age:
        backdate in the order the messages were made)."""
        with self.state.lock:
            message = self.state.by_sid[sid]
            message["_created"] = when.isoformat()
            message["date_created"] = _rfc2822(when)
            if message["date_sent"] is not None:
                message["date_sent"] = _rfc2822(when)

    def fail_delete(
        self, status: int = 500, code: int = 20500, *, times: int = 1, sid: str | None = None
    ) -> None:
        """Answer the next `times` deletes (of `sid`, if given) with this error."""
        with self.state.lock:
            self.state.delete_faults.append(Fault(status, code, times, sid))

    # -- inspection ------------------------------------------------------------------
    @property
    def messages(self) -> list[dict[str, Any]]:
        """Return every accepted message, oldest first."""
        with self.state.lock:
            return list(self.state.messages)

    def bodies(self) -> Counter[str]:
        """Count accepted messages by rendered body."""
        return Counter(m["body"] for m in self.messages)

    @property
    def media(self) -> dict[str, list[str]]:
        """Return the media Twilio keeps, by message sid."""
        with self.state.lock:
            return {sid: list(found) for sid, found in self.state.media.items()}

    def to(self, number: str) -> list[dict[str, Any]]:
        """Return the messages accepted for `number`."""
        return [m for m in self.messages if m["to"] == number]

    def callback_form(
        self, sid: str, status: str, *, error_code: int | None = None
    ) -> dict[str, str]:
        """Return the form Twilio would post to the status callback for `sid`."""
        message = self.state.by_sid[sid]
        form = {
            "MessageSid": sid,
            "SmsSid": sid,
            "MessageStatus": status,
            "SmsStatus": status,
            "AccountSid": self.state.account_sid,
            "To": message["to"],
            "From": message["from"] or "",
            "ApiVersion": "2010-04-01",
        }
        if error_code is not None:
            form["ErrorCode"] = str(error_code)
        return form


def standin_settings(standin: TwilioStandIn, database_url: str, **overrides: Any) -> Any:
    """Return Siyakha settings that send through `standin` (imported late: no app at import)."""
    from bot.config import Settings
    from tests import TEST_SECRET_KEY

    values: dict[str, Any] = {
        "SIYAKHA_ENV": "test",
        "SIYAKHA_SECRET_KEY": TEST_SECRET_KEY,
        "DATABASE_URL": database_url,
        "SIYAKHA_OUTBOUND": "twilio",
        "TWILIO_ACCOUNT_SID": standin.account_sid,
        "TWILIO_AUTH_TOKEN": standin.auth_token,
        "SIYAKHA_TWILIO_API_URL": standin.url,
        "SIYAKHA_SMS_FROM": "+27870000001",
        "SIYAKHA_WHATSAPP_FROM": "+27870000002",
        "SIYAKHA_PUBLIC_URL": "https://siyakha.example.org",
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def _main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args()
    standin = TwilioStandIn(latency=args.latency, host=args.host, port=args.port)
    print(standin.url, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        standin._server.serve_forever(poll_interval=0.1)


if __name__ == "__main__":
    _main()
