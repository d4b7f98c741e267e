"""Credentials, public ids and the secret box."""

import base64
import hashlib
import re
from types import SimpleNamespace

import pytest
from cryptography.fernet import Fernet

from hookyard.core import credentials
from hookyard.core.config import Config
from hookyard.core.credentials import (
    SecretBox,
    SecretBoxError,
    credential_matches,
    derived_public_id,
    display_prefix,
    generate_key,
    hash_credential,
    new_credential,
    new_public_id,
    ready_to_start,
)

CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
PUBLIC_ID = re.compile(r"^evt_[0-9a-hjkmnp-tv-z]{26}$")
KEY_OLD = Fernet.generate_key().decode()
KEY_NEW = Fernet.generate_key().decode()


def decode_public_id(public_id: str, prefix: str = "evt_") -> int:
    """Return the number a public id spells in lower-case Crockford base32."""
    value = 0
    for char in public_id.removeprefix(prefix):
        value = value * 32 + CROCKFORD.index(char)
    return value


def frozen_public_id(monkeypatch, milliseconds: int, random_bytes: bytes) -> str:
    """Return a public id made at `milliseconds` with `random_bytes` as its random part."""
    monkeypatch.setattr(credentials, "time", SimpleNamespace(time=lambda: milliseconds / 1000))
    monkeypatch.setattr(credentials, "os", SimpleNamespace(urandom=lambda n: random_bytes[:n]))
    return new_public_id("evt_")


def test_a_new_credential_starts_with_its_prefix():
    assert new_credential("hy_live_").startswith("hy_live_")


def test_a_new_credential_carries_192_random_bits_as_32_url_safe_characters():
    body = new_credential("hy_live_").removeprefix("hy_live_")
    assert re.fullmatch(r"[A-Za-z0-9_-]{32}", body)


def test_a_new_credential_decodes_to_24_bytes():
    body = new_credential("hy_mgmt_").removeprefix("hy_mgmt_")
    assert len(base64.urlsafe_b64decode(body)) == 24


def test_two_new_credentials_differ():
    assert new_credential("hy_live_") != new_credential("hy_live_")


def test_a_credential_is_stored_as_its_hex_sha256():
    assert hash_credential("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_a_credential_matches_its_own_hash():
    credential = new_credential("hy_live_")
    assert credential_matches(credential, hash_credential(credential)) is True


def test_a_credential_does_not_match_another_credentials_hash():
    assert credential_matches(new_credential("hy_live_"), hash_credential(new_credential("hy_live_"))) is False


def test_a_credential_does_not_match_its_own_text_as_a_hash():
    credential = new_credential("hy_live_")
    assert credential_matches(credential, credential) is False


@pytest.mark.parametrize("credential", [None, ""])
def test_a_missing_credential_matches_nothing(credential):
    assert credential_matches(credential, hash_credential("")) is False


@pytest.mark.parametrize("stored_hash", [None, ""])
def test_a_missing_stored_hash_matches_nothing(stored_hash):
    assert credential_matches("hy_live_abc", stored_hash) is False


def test_the_display_prefix_is_the_first_twelve_characters():
    assert display_prefix("hy_live_abcdefghijkl") == "hy_live_abcd"


def test_the_display_prefix_can_be_shorter():
    assert display_prefix("hy_live_abcdefghijkl", length=8) == "hy_live_"


def test_the_display_prefix_of_a_short_credential_is_the_whole_credential():
    assert display_prefix("hy_") == "hy_"


def test_a_new_public_id_is_its_prefix_and_26_lower_case_crockford_characters():
    assert PUBLIC_ID.fullmatch(new_public_id("evt_"))


def test_two_new_public_ids_differ():
    assert new_public_id("evt_") != new_public_id("evt_")


def test_a_new_public_id_carries_the_creation_millisecond_in_its_top_48_bits(monkeypatch):
    public_id = frozen_public_id(monkeypatch, 1_700_000_000_123, b"\x00" * 10)
    assert decode_public_id(public_id) >> 80 == 1_700_000_000_123


def test_a_new_public_id_carries_80_random_bits_below_the_time(monkeypatch):
    public_id = frozen_public_id(monkeypatch, 1_700_000_000_123, bytes(range(1, 11)))
    assert decode_public_id(public_id) & (2**80 - 1) == int.from_bytes(bytes(range(1, 11)), "big")


def test_an_earlier_public_id_sorts_first_whatever_its_random_bits(monkeypatch):
    earlier = frozen_public_id(monkeypatch, 1_700_000_000_000, b"\xff" * 10)
    later = frozen_public_id(monkeypatch, 1_700_000_000_001, b"\x00" * 10)
    assert earlier < later


def test_derived_public_ids_of_the_same_parts_are_the_same():
    assert derived_public_id("act_", "cwh_1", "order-42") == derived_public_id("act_", "cwh_1", "order-42")


def test_derived_public_ids_of_different_parts_differ():
    assert derived_public_id("act_", "cwh_1", "order-42") != derived_public_id("act_", "cwh_1", "order-43")


def test_derived_public_ids_depend_on_the_order_of_the_parts():
    assert derived_public_id("act_", "a", "b") != derived_public_id("act_", "b", "a")


def test_derived_public_ids_do_not_run_two_parts_together():
    assert derived_public_id("act_", "ab", "c") != derived_public_id("act_", "a", "bc")


def test_a_derived_public_id_is_its_prefix_and_26_lower_case_crockford_characters():
    assert re.fullmatch(r"act_[0-9a-hjkmnp-tv-z]{26}", derived_public_id("act_", "cwh_1", "order-42"))


def test_a_derived_public_id_spells_the_first_128_bits_of_the_sha256_of_its_parts():
    expected = int.from_bytes(hashlib.sha256(b"cwh_1\x00order-42").digest()[:16], "big")
    assert decode_public_id(derived_public_id("act_", "cwh_1", "order-42"), "act_") >> 2 == expected


def test_a_sealed_secret_opens_to_itself():
    box = SecretBox(KEY_NEW)
    assert box.open(box.seal("whsec_abc")) == "whsec_abc"


def test_a_sealed_secret_is_not_stored_in_the_clear():
    assert "whsec_abc" not in SecretBox(KEY_NEW).seal("whsec_abc")


def test_sealing_twice_gives_two_different_ciphertexts():
    box = SecretBox(KEY_NEW)
    assert box.seal("whsec_abc") != box.seal("whsec_abc")


def test_a_secret_sealed_with_the_old_key_opens_after_rotation():
    sealed = SecretBox(KEY_OLD).seal("whsec_abc")
    assert SecretBox(f"{KEY_NEW},{KEY_OLD}").open(sealed) == "whsec_abc"


def test_a_rotated_box_seals_with_the_newest_key():
    sealed = SecretBox(f"{KEY_NEW},{KEY_OLD}").seal("whsec_abc")
    assert SecretBox(KEY_NEW).open(sealed) == "whsec_abc"


def test_a_rotated_box_does_not_seal_with_the_old_key():
    sealed = SecretBox(f"{KEY_NEW},{KEY_OLD}").seal("whsec_abc")
    with pytest.raises(SecretBoxError):
        SecretBox(KEY_OLD).open(sealed)


def test_spaces_around_the_keys_of_a_list_are_ignored():
    sealed = SecretBox(KEY_OLD).seal("whsec_abc")
    assert SecretBox(f" {KEY_NEW} , {KEY_OLD} ,").open(sealed) == "whsec_abc"


def test_a_secret_sealed_with_another_key_does_not_open():
    sealed = SecretBox(KEY_OLD).seal("whsec_abc")
    with pytest.raises(SecretBoxError):
        SecretBox(KEY_NEW).open(sealed)


def test_a_tampered_sealed_secret_does_not_open():
    box = SecretBox(KEY_NEW)
    sealed = box.seal("whsec_abc")
    tampered = sealed[:-5] + ("A" if sealed[-5] != "A" else "B") + sealed[-4:]
    with pytest.raises(SecretBoxError):
        box.open(tampered)


def test_a_sealed_secret_that_is_not_a_token_does_not_open():
    with pytest.raises(SecretBoxError):
        SecretBox(KEY_NEW).open("not a token")


@pytest.mark.parametrize("keys", ["", None])
def test_a_missing_key_raises(keys):
    with pytest.raises(SecretBoxError, match="not set"):
        SecretBox(keys)


@pytest.mark.parametrize("keys", ["not-a-fernet-key", KEY_NEW[:-4], f"{KEY_NEW},short", " , "])
def test_a_bad_key_raises(keys):
    with pytest.raises(SecretBoxError, match="not a Fernet key"):
        SecretBox(keys)


def test_a_generated_key_is_a_fernet_key():
    Fernet(generate_key())


def test_a_generated_key_opens_what_it_seals():
    box = SecretBox(generate_key())
    assert box.open(box.seal("whsec_abc")) == "whsec_abc"


def test_two_generated_keys_differ():
    assert generate_key() != generate_key()


def test_a_process_starts_with_its_key_or_this_checkouts_local_one_and_not_without(tmp_path):
    key = generate_key()
    assert ready_to_start(Config(encryption_key=key), str(tmp_path / "none")).encryption_key == key
    local = tmp_path / "encryption.key"
    local.write_text(key + "\n")
    assert ready_to_start(Config(), str(local)).encryption_key == key
    with pytest.raises(SystemExit, match="HOOKYARD_ENCRYPTION_KEY is not set: generate one with"):
        ready_to_start(Config(), str(tmp_path / "none"))
    with pytest.raises(SystemExit, match="not a Fernet key"):
        ready_to_start(Config(encryption_key="not-a-key"), str(local))
