"""What other apps (billing, roaming) hear about charging sessions.

Sent by stations.services.sessions: ``session_started`` inside the transaction that
creates the session (a receiver's writes commit or roll back with it), ``session_completed``
after the completing transaction committed (a receiver may queue work for other processes).
"""

from django.dispatch import Signal

session_started = Signal()  # kwargs: session
session_completed = Signal()  # kwargs: session_id
