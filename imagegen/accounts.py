"""Who a person is: an account from the identity provider's claims, keyed by its issuer and subject.

An account's user name (what quotas, the log and the gallery key rows by) is chosen once, at its first
sign-in: its verified email, when the provider says it is verified and no other account holds that name,
else `issuer-host:subject`. Rows written before accounts existed were keyed by email, so the first account
that signs in with that verified email takes them over; nobody can claim a name with an unverified email
or a display name. Admin rights come from the claims at each sign-in (a verified email listed in
IMAGEGEN_ADMINS, or the configured group or role claim), never from a name.
"""

from __future__ import annotations

import hashlib
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from imagegen.checks import MAX_USER_LENGTH, clean_text, is_user_name
from imagegen.db import Database
from imagegen.errors import Forbidden
from imagegen.settings import Settings

MAX_DISPLAY = 200


@dataclass(frozen=True)
class Identity:
    #: the name the ledger, the jobs and the gallery key rows by
    user: str
    #: what to show: the provider's display name, never trusted for anything
    display: str
    is_admin: bool
    #: "issuer#subject": what the account is keyed by
    account: str


class Accounts:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    def sign_in(self, claims: Mapping[str, Any]) -> Identity:
        """The identity these claims prove, recording the account (and its admin right) for the engine's
        own checks. Raises Forbidden when the claims name no subject."""
        subject, issuer = claims.get("sub"), claims.get("iss")
        if not isinstance(subject, str) or not subject.strip() or not isinstance(issuer, str) or not issuer:
            raise Forbidden("The identity provider did not say who you are (no subject). Ask an admin.")
        account = f"{issuer}#{subject}"
        email = verified_email(claims)
        is_admin = self._admin_by_claims(email, claims)
        display = _short(claims.get("name")) or email or _short(subject)
        with self.db.write() as conn:
            row = conn.execute(
                'SELECT "user" FROM accounts WHERE account = :account' + conn.dialect.lock_row, {"account": account}
            ).fetchone()
            if row is not None:
                user = row[0]
                conn.execute(
                    "UPDATE accounts SET display = :display, email = :email, is_admin = :admin, seen_at = :now "
                    "WHERE account = :account",
                    {
                        "display": display,
                        "email": email,
                        "admin": int(is_admin),
                        "now": time.time(),
                        "account": account,
                    },
                )
            else:
                user = self._free_name(conn, email, issuer, subject)
                conn.execute(
                    'INSERT INTO accounts (account, "user", display, email, is_admin, seen_at) '
                    "VALUES (:account, :user, :display, :email, :admin, :now)",
                    {
                        "account": account,
                        "user": user,
                        "display": display,
                        "email": email,
                        "admin": int(is_admin),
                        "now": time.time(),
                    },
                )
        return Identity(user, display, is_admin, account)

    def is_admin(self, user: str) -> bool:
        """Whether this user's account was an admin at its latest sign-in."""
        rows = self.db.query('SELECT is_admin FROM accounts WHERE "user" = :user', {"user": user})
        return bool(rows and rows[0][0])

    def known_users(self) -> list[str]:
        return [r[0] for r in self.db.query('SELECT "user" FROM accounts ORDER BY "user"')]

    def _admin_by_claims(self, email: str | None, claims: Mapping[str, Any]) -> bool:
        admins = {a.lower() for a in self.settings.admins}
        if email and email.lower() in admins:
            return True
        claim, wanted = self.settings.admin_claim, self.settings.admin_claim_value
        return bool(claim and wanted and wanted in _values(claims.get(claim)))

    @staticmethod
    def _free_name(conn: Any, email: str | None, issuer: str, subject: str) -> str:
        def taken(name: str) -> bool:
            return conn.execute('SELECT 1 FROM accounts WHERE "user" = :name', {"name": name}).fetchone() is not None

        if email and is_user_name(email) and not taken(email):
            return email
        name, suffix = subject_name(issuer, subject), 2
        while taken(name):
            name, suffix = subject_name(issuer, subject, f"~{suffix}"), suffix + 1
        return name


def subject_name(issuer: str, subject: str, suffix: str = "") -> str:
    """`issuer-host:subject`, a valid user name for any subject the provider may send (up to 255 characters
    by the standard, or longer, with any characters): a subject that does not fit the name rule is named by
    its visible start and a digest of the whole, so two long subjects that start alike stay two names."""
    try:
        host = urllib.parse.urlsplit(issuer).hostname or ""
    except ValueError:  # an issuer that is no URL
        host = ""
    host = "".join(c for c in host if c.isprintable() and not c.isspace())[:60] or "idp"
    name = f"{host}:{subject}{suffix}"
    if is_user_name(name):
        return name
    digest = hashlib.sha256(subject.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    printable = "".join(c for c in subject if c.isprintable()).strip() or "user"
    room = MAX_USER_LENGTH - len(host) - len(digest) - len(suffix) - 2
    return f"{host}:{printable[:room].strip()}~{digest}{suffix}"


def check_proxy_headers(
    headers: Mapping[str, list[str]], identity_headers: list[str], secret_header: str, email_header: str = ""
) -> None:
    """Refuse a request whose identity or secret header came more than once, or whose email header holds a
    list: a proxy that appends its header to the client's own leaves the client's value first, so the
    client would choose who it is. Raises Forbidden. Header names are matched case-insensitively."""
    by_name = {name.lower(): values for name, values in headers.items()}
    for name in [*identity_headers, secret_header]:
        if len(by_name.get(name.lower(), [])) > 1:
            raise Forbidden(
                f"The sign-in proxy sent {name} more than once. It must replace that header, never append to "
                "it; ask an admin to fix the proxy."
            )
    emails = by_name.get(email_header.lower(), [])
    if any("," in value for value in emails):
        raise Forbidden(f"The sign-in proxy sent a list in {email_header}. Ask an admin to fix the proxy.")


def verified_email(claims: Mapping[str, Any]) -> str | None:
    """The email, only when the provider says it is verified."""
    email = claims.get("email")
    verified = claims.get("email_verified")
    if isinstance(verified, str):
        verified = verified.strip().lower() == "true"
    if verified is True and isinstance(email, str) and "@" in email:
        return email.strip().lower()
    return None


def _values(raw: Any) -> set[str]:
    if isinstance(raw, str):
        return {part for part in raw.replace(",", " ").split() if part}
    if isinstance(raw, list | tuple | set):
        return {str(part) for part in raw}
    return set()


def _short(value: Any) -> str:
    if not isinstance(value, str):
        return ""
    return clean_text(value)[0].strip()[:MAX_DISPLAY]
