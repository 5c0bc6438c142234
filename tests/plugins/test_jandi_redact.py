"""Redaction: which parts of a webhook URL are secret, and the log filter's scope."""

from __future__ import annotations

import logging

from r2p_jandi.hook import _retry_after
from r2p_jandi.redact import redact, redacting, secret_parts

JANDI_URL = "https://wh.jandi.com/connect-api/webhook/15292345/a76ad35760d264ff84ddc964e35efa2f"
TOKEN = "a76ad35760d264ff84ddc964e35efa2f"


def test_secret_parts_cover_url_path_and_long_segments():
    parts = secret_parts(JANDI_URL)
    assert JANDI_URL in parts and TOKEN in parts and "15292345" in parts
    assert "/connect-api/webhook/15292345/" + TOKEN in parts
    assert "webhook" not in parts  # short, generic segments stay readable
    assert parts == sorted(parts, key=len, reverse=True)


def test_redact_removes_every_part():
    text = f"POST {JANDI_URL} failed; path /connect-api/webhook/15292345/{TOKEN}; id {TOKEN}"
    out = redact(text, secret_parts(JANDI_URL))
    assert TOKEN not in out and "15292345" not in out and "wh.jandi.com/connect" not in out
    assert out.startswith("POST *** failed")


def test_urllib3_records_are_redacted_only_while_sending(caplog):
    caplog.set_level(logging.DEBUG)
    urllib3_log = logging.getLogger("urllib3.connectionpool")
    with redacting(JANDI_URL):
        urllib3_log.debug('%s "POST %s HTTP/1.1" 200', "https://wh.jandi.com:443", "/x/" + TOKEN)
        try:
            raise OSError(f"cannot reach {JANDI_URL}")
        except OSError:
            urllib3_log.warning("Retrying", exc_info=True)
    urllib3_log.debug("after: %s", TOKEN)

    inside, with_traceback, after = (r.getMessage() for r in caplog.records)
    assert inside == 'https://wh.jandi.com:443 "POST /x/*** HTTP/1.1" 200'
    assert TOKEN not in with_traceback and "cannot reach ***" in with_traceback
    assert caplog.records[1].exc_info is None
    assert after == f"after: {TOKEN}"  # outside a send, records are left alone


def test_retry_after_reads_seconds_and_http_dates():
    import datetime as dt
    import email.utils

    soon = email.utils.format_datetime(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=3), True)
    assert _retry_after("2") == 2.0
    assert _retry_after("0.5") == 0.5
    assert 1.0 < _retry_after(soon) <= 3.0
    assert _retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert _retry_after("soon") is None
    assert _retry_after(None) is None
