"""Encrypting secrets that must be read back (webhook signing secrets) with a key from the environment.

HOOKYARD_ENCRYPTION_KEY holds one or more Fernet keys, comma-separated, newest first: old keys still
decrypt, so the key can be rotated. `make run` and the tests provide one; production must set it.
"""

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class SecretBoxError(Exception):
    """The encryption key is missing, or does not open a stored secret."""


class SecretBox:
    def __init__(self, keys: str):
        if not keys:
            raise SecretBoxError("HOOKYARD_ENCRYPTION_KEY is not set: generate one with "
                                 "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key()"
                                 ".decode())'`")
        try:
            self.fernet = MultiFernet([Fernet(key.strip()) for key in keys.split(",") if key.strip()])
        except ValueError as error:
            raise SecretBoxError(f"HOOKYARD_ENCRYPTION_KEY is not a Fernet key: {error}") from None

    def seal(self, secret: str) -> str:
        """Return the secret encrypted for storage."""
        return self.fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        """Return a stored secret in the clear."""
        try:
            return self.fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise SecretBoxError("a stored secret does not open with HOOKYARD_ENCRYPTION_KEY") from None


def generate_key() -> str:
    """Return a new Fernet key."""
    return Fernet.generate_key().decode()
