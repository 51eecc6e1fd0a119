"""Alarm notifications by e-mail and webhook: who is told what, and the dispatcher that tells them.

`rules` is the pure part (routing, escalation times, retry backoff, following the journal);
`messages` renders a delivery's subject, body and webhook payload; `senders` speaks SMTP and
HTTP; `dispatcher` is the loop of `manage.py notify`. The rows change only through
plant.actions.notifications.
"""
