"""Sending one delivery: e-mail through the SMTP server of the settings, a webhook as a JSON
POST with an HMAC signature. Each returns nothing, or raises SendError with a reason a person
can act on; neither knows about retries (plant.actions.notifications records the attempt).
"""

from __future__ import annotations

import contextlib
import json
import smtplib
import ssl
import time
import urllib.error
import urllib.request
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.core.mail.backends.smtp import EmailBackend

from plant.models import NotificationDelivery, NotificationRecipient, ShiftReport
from plant.notifications.rules import signature
from plant.report_pdf import filename_of

USER_AGENT = "scada-lite-notify/1"


class SendError(Exception):
    """A delivery that did not get through, with why."""


class Senders:
    """Sends a turn's deliveries, keeping one SMTP connection open for all its mails."""

    def __init__(self) -> None:
        self.smtp: EmailBackend | None = None

    def send(self, delivery: NotificationDelivery) -> None:
        """Send one delivery by its kind; SendError if it did not get through."""
        if delivery.kind == NotificationRecipient.Kind.EMAIL:
            self.send_email(delivery)
        else:
            send_webhook(delivery)

    def send_email(self, delivery: NotificationDelivery) -> None:
        message = EmailMessage(
            subject=delivery.subject, body=delivery.body,
            from_email=settings.DEFAULT_FROM_EMAIL, to=[delivery.address],
            headers={"X-Scada-Delivery": str(delivery.pk), "X-Scada-Event": delivery.reason},
        )  # fmt: skip
        if delivery.report_id is not None:
            attach_report(message, delivery.report_id)
        try:
            if self.smtp is None:
                self.smtp = smtp_backend()
                self.smtp.open()
            self.smtp.send_messages([message])
        except smtplib.SMTPRecipientsRefused as error:
            raise SendError(f"the SMTP server refused {delivery.address}: {_smtp(error)}") from None
        except smtplib.SMTPException as error:
            self.close()  # the connection may be in any state: the next mail opens another
            raise SendError(f"SMTP {settings.EMAIL_HOST}:{settings.EMAIL_PORT}: {error}") from None
        except OSError as error:
            self.close()
            raise SendError(
                f"SMTP {settings.EMAIL_HOST}:{settings.EMAIL_PORT} not reachable: {error}"
            ) from None

    def close(self) -> None:
        if self.smtp is not None:
            smtp, self.smtp = self.smtp, None
            with contextlib.suppress(Exception):  # closing a broken connection may fail too
                smtp.close()


def attach_report(message: EmailMessage, report_id: int) -> None:
    """A shift report's mail carries its PDF."""
    found = ShiftReport.objects.filter(pk=report_id).values_list("pdf", "figures").first()
    if found is None:
        raise SendError(f"shift report {report_id} no longer exists")
    pdf, figures = found
    message.attach(filename_of(figures, "pdf"), bytes(pdf), "application/pdf")


def smtp_backend() -> EmailBackend:
    """The SMTP server of the settings, always: not EMAIL_BACKEND, which a test runner swaps."""
    return EmailBackend(
        host=settings.EMAIL_HOST, port=settings.EMAIL_PORT, username=settings.EMAIL_HOST_USER,
        password=settings.EMAIL_HOST_PASSWORD, use_tls=settings.EMAIL_USE_TLS,
        use_ssl=settings.EMAIL_USE_SSL, timeout=settings.EMAIL_TIMEOUT, fail_silently=False,
    )  # fmt: skip


def _smtp(error: smtplib.SMTPRecipientsRefused) -> str:
    codes = [f"{code} {text.decode(errors='replace')}" for code, text in
             error.recipients.values()]  # fmt: skip
    return "; ".join(codes)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A webhook answers itself: a redirect would drop the POST's body, so it is a failure."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _opener() -> urllib.request.OpenerDirector:
    context = ssl.create_default_context(cafile=settings.NOTIFY_WEBHOOK_CA_FILE or None)
    return urllib.request.build_opener(_NoRedirects(), urllib.request.HTTPSHandler(context=context))


def send_webhook(delivery: NotificationDelivery) -> None:
    recipient = delivery.recipient
    if recipient is None:
        raise SendError("the webhook was removed from its roster")
    body = json.dumps({**delivery.payload, "delivery": delivery.pk}).encode()
    timestamp = str(int(time.time()))
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
               "X-Scada-Delivery": str(delivery.pk), "X-Scada-Timestamp": timestamp}  # fmt: skip
    if recipient.secret:
        headers["X-Scada-Signature"] = signature(recipient.secret, timestamp, body)
    request = urllib.request.Request(delivery.address, data=body, headers=headers, method="POST")
    try:
        with _opener().open(request, timeout=settings.NOTIFY_WEBHOOK_TIMEOUT_S) as response:
            response.read(65536)
    except urllib.error.HTTPError as error:
        raise SendError(f"the webhook answered {error.code} {error.reason}") from None
    except urllib.error.URLError as error:
        raise SendError(f"the webhook is not reachable: {error.reason}") from None
    except (OSError, ValueError) as error:  # a timeout while reading, a malformed URL
        raise SendError(f"the webhook failed: {error}") from None
