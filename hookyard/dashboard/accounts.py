"""Dashboard people: an organization's members with a password (argon2id) and a role (admin or viewer)."""

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from hookyard.core.clock import utcnow
from hookyard.core.credentials import new_public_id
from hookyard.core.db import db
from models import Member

ROLES = ("admin", "viewer")
MIN_PASSWORD = 12
_hasher = PasswordHasher()  # argon2id with the library's current defaults
# Checked when an email has no dashboard user, so a wrong address takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AccountError(ValueError):
    """A password or role that cannot be used, said in a sentence for the person."""


def generate_password() -> str:
    """Return a strong password to print once (about 128 random bits)."""
    return secrets.token_urlsafe(16)


def check_password(password: str) -> None:
    """Refuse a password too short to be one."""
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"A password needs at least {MIN_PASSWORD} characters.")


def create_user(organization_id: int, email: str, role: str, password: str, name: str | None = None) -> Member:
    """Give a member (made if new) a password and a role: a dashboard user of the organization."""
    if role not in ROLES:
        raise AccountError(f"The role is admin or viewer, not {role!r}.")
    check_password(password)
    email = email.strip().lower()
    if "@" not in email:
        raise AccountError(f"{email!r} is not an email address.")
    with db.atomic():
        member = Member.get_or_none((Member.organization == organization_id) & (Member.email == email))
        if member is None:
            member = Member.create(
                id=new_public_id("mem_"), organization=organization_id, email=email, name=name or email.split("@")[0]
            )
        member.role = role
        member.password_hash = _hasher.hash(password)
        member.password_changed_at = utcnow()
        member.save()
    return member


def authenticate(email: str, password: str) -> Member | None:
    """Return the dashboard user with this email and password, or None (in about the same time either way).

    An address can be a member of several organizations: the first whose password matches signs in.
    """
    candidates = list(
        Member.select()
        .where((Member.email == email.strip().lower()) & Member.password_hash.is_null(False) & Member.role.in_(ROLES))
        .order_by(Member.created_at)
    )
    if not candidates:
        _verify(_DUMMY_HASH, password)
        return None
    return next((member for member in candidates if _verify(member.password_hash, password)), None)


def change_password(member: Member, current: str, new: str) -> None:
    """Set a new password after checking the current one."""
    if not _verify(member.password_hash, current):
        raise AccountError("The current password is not right.")
    check_password(new)
    member.password_hash = _hasher.hash(new)
    member.password_changed_at = utcnow()
    member.save(only=[Member.password_hash, Member.password_changed_at])


def _verify(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False
