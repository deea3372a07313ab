"""Field encryption (AES-256-GCM / SM4-GCM) bound to table|column|row, key rotation and blind indexes."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import os
import uuid

import pytest
from sqlalchemy import select

from zhili.core.crypto import MAGIC, NONCE_LEN, DecryptionFailed, FieldCipher, get_cipher

K1 = b"\x11" * 32
K2 = b"\x22" * 32
INDEX_KEY = b"\x33" * 32
ROW = uuid.UUID("01890a5d-ac96-774b-bcce-b302099a8057")
ID_NUMBER = "330522199003071238"


def material(active: str = "k1", **keys: bytes) -> dict[str, object]:
    keys = keys or {"k1": K1}
    return {"active": active, "keys": {k: base64.b64encode(v).decode() for k, v in keys.items()},
            "index_key": base64.b64encode(INDEX_KEY).decode()}


@pytest.fixture(params=["aes", "sm"])
def cipher(request: pytest.FixtureRequest) -> FieldCipher:
    return FieldCipher.from_material(material(), suite=request.param)


def enc(c: FieldCipher, value: str = ID_NUMBER, *, table: str = "person", column: str = "id_number",
        row_id: uuid.UUID | str = ROW) -> bytes:
    return c.encrypt(value, table=table, column=column, row_id=row_id)


def dec(c: FieldCipher, blob: bytes, *, table: str = "person", column: str = "id_number",
        row_id: uuid.UUID | str = ROW) -> str:
    return c.decrypt(blob, table=table, column=column, row_id=row_id)


# -- round trips --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [ID_NUMBER, "13812345678", "", "张三 · 长兴县雉城街道金陵社区 1号楼"])
def test_a_value_round_trips_through_encrypt_and_decrypt(cipher, value):
    blob = enc(cipher, value)
    assert isinstance(blob, bytes) and blob.startswith(MAGIC)
    assert dec(cipher, blob) == value


def test_the_ciphertext_does_not_contain_the_plaintext(cipher):
    blob = enc(cipher)
    assert ID_NUMBER.encode() not in blob
    assert len(blob) == 2 + 1 + len(b"k1") + NONCE_LEN + len(ID_NUMBER) + 16


def test_a_row_id_given_as_string_or_uuid_binds_the_same_row(cipher):
    assert dec(cipher, enc(cipher, row_id=ROW), row_id=str(ROW)) == ID_NUMBER


def test_the_sm_suite_really_uses_a_different_algorithm_than_aes():
    aes = FieldCipher.from_material(material(), suite="aes")
    sm = FieldCipher.from_material(material(), suite="sm")
    with pytest.raises(DecryptionFailed):
        dec(aes, enc(sm))
    with pytest.raises(DecryptionFailed):
        dec(sm, enc(aes))


def test_two_encryptions_of_the_same_value_use_different_nonces(cipher):
    a, b = enc(cipher), enc(cipher)
    assert a != b
    header = 2 + 1 + len(b"k1")
    assert a[header:header + NONCE_LEN] != b[header:header + NONCE_LEN]
    assert dec(cipher, a) == dec(cipher, b) == ID_NUMBER


# -- binding to table | column | row ------------------------------------------------------------------------

def test_a_ciphertext_copied_to_another_row_fails_to_decrypt(cipher):
    blob = enc(cipher)
    with pytest.raises(DecryptionFailed) as exc:
        dec(cipher, blob, row_id=uuid.UUID(int=ROW.int + 1))
    assert exc.value.code == "decryption_failed" and "解密" in exc.value.message


def test_a_ciphertext_copied_to_another_column_fails_to_decrypt(cipher):
    with pytest.raises(DecryptionFailed):
        dec(cipher, enc(cipher, "13812345678", column="phone"), column="id_number")


def test_a_ciphertext_copied_to_another_table_fails_to_decrypt(cipher):
    with pytest.raises(DecryptionFailed):
        dec(cipher, enc(cipher, "13812345678", table="app_user", column="phone"),
            table="person", column="phone")


def test_flipping_any_single_bit_of_a_ciphertext_makes_decryption_fail(cipher):
    blob = enc(cipher)
    for i in range(len(blob)):
        for bit in (0x01, 0x80):
            tampered = bytearray(blob)
            tampered[i] ^= bit
            with pytest.raises(DecryptionFailed):
                dec(cipher, bytes(tampered))


@pytest.mark.parametrize("cut", [0, 1, 2, 3, 5, 5 + NONCE_LEN, 5 + NONCE_LEN + 15, -1])
def test_a_truncated_ciphertext_makes_decryption_fail(cipher, cut):
    blob = enc(cipher)
    with pytest.raises(DecryptionFailed):
        dec(cipher, blob[:cut])


def test_a_ciphertext_made_with_an_unknown_key_id_fails(cipher):
    other = FieldCipher.from_material(material("k9", k9=K2), suite=cipher.suite)
    with pytest.raises(DecryptionFailed) as exc:
        dec(cipher, enc(other))
    assert "k9" in str(exc.value.details)


def test_a_ciphertext_under_the_same_key_id_but_a_different_key_fails(cipher):
    impostor = FieldCipher.from_material(material("k1", k1=K2), suite=cipher.suite)
    with pytest.raises(DecryptionFailed):
        dec(cipher, enc(impostor))


def test_key_material_with_a_key_that_is_not_32_bytes_is_refused():
    with pytest.raises(ValueError, match="32 bytes"):
        FieldCipher.from_material(material(k1=b"\x01" * 16))


# -- rotation ------------------------------------------------------------------------------------------------

def test_a_rotated_cipher_decrypts_old_ciphertexts_and_encrypts_with_the_active_key(cipher):
    old_blob = enc(cipher)
    rotated = FieldCipher.from_material(material("k2", k1=K1, k2=K2), suite=cipher.suite)
    assert FieldCipher.key_id_of(old_blob) == "k1"
    assert dec(rotated, old_blob) == ID_NUMBER
    new_blob = enc(rotated)
    assert FieldCipher.key_id_of(new_blob) == "k2"
    assert dec(rotated, new_blob) == ID_NUMBER
    # the old cipher does not know k2
    with pytest.raises(DecryptionFailed):
        dec(cipher, new_blob)


def test_reencrypt_moves_stored_person_data_to_the_active_key(db, world):
    from contextlib import nullcontext

    from zhili.core.keys import encrypted_columns, reencrypt
    from zhili.registry.models import Person, ResidentType
    from zhili.registry.service import create_person
    from zhili.users.service import principal_for_user

    current = get_cipher()
    principal = principal_for_user(db, user=world.users["wangge_a"])
    person = create_person(db, principal=principal, data={
        "name": "张三", "id_number": ID_NUMBER, "phone": "13812345678", "grid_id": world.units["ga"].id,
        "resident_type": ResidentType.registered,
    })
    old_id_blob, bidx = person.id_number_enc, person.id_number_bidx
    assert FieldCipher.key_id_of(old_id_blob) == current.active_key_id

    new_kid = current.active_key_id + "_next"
    rotated = dataclasses.replace(current, active_key_id=new_kid,
                                  keys={**current.keys, new_kid: os.urandom(32)})
    columns = encrypted_columns()
    stale = sum(
        1
        for col in columns
        for blob in db.scalars(select(col.column))
        if blob is not None and FieldCipher.key_id_of(blob) != new_kid
    )
    assert stale >= 2  # at least the new person's ID number and phone

    def in_this_transaction():
        return nullcontext(db.connection())

    done = reencrypt(in_this_transaction, rotated, columns, batch=1)
    assert (done.found, done.changed) == (stale, stale)
    again = reencrypt(in_this_transaction, rotated, columns)
    assert (again.found, again.changed) == (0, 0)  # idempotent: nothing left under an old key

    db.expire_all()
    stored = db.get(Person, person.id)
    assert stored is not None
    for column, plain in (("id_number", ID_NUMBER), ("phone", "13812345678")):
        blob = getattr(stored, f"{column}_enc")
        assert FieldCipher.key_id_of(blob) == new_kid
        assert rotated.decrypt(blob, table="person", column=column, row_id=stored.id) == plain
        with pytest.raises(DecryptionFailed):
            current.decrypt(blob, table="person", column=column, row_id=stored.id)
    assert stored.id_number_enc != old_id_blob
    assert stored.id_number_bidx == bidx  # the blind index does not depend on the data key


# -- blind index ---------------------------------------------------------------------------------------------

def test_the_blind_index_is_deterministic(cipher):
    assert cipher.blind_index(ID_NUMBER, purpose="person.id_number") == \
        cipher.blind_index(ID_NUMBER, purpose="person.id_number")


def test_the_blind_index_normalises_case_and_surrounding_whitespace(cipher):
    upper = cipher.blind_index("11010519491231002X", purpose="person.id_number")
    assert cipher.blind_index("  11010519491231002x\t", purpose="person.id_number") == upper
    assert cipher.blind_index("11010519491231002", purpose="person.id_number") != upper


def test_the_blind_index_differs_by_purpose(cipher):
    assert cipher.blind_index("13812345678", purpose="person.phone") != \
        cipher.blind_index("13812345678", purpose="organisation.contact_phone")


def test_the_blind_index_differs_by_suite():
    aes = FieldCipher.from_material(material(), suite="aes")
    sm = FieldCipher.from_material(material(), suite="sm")
    assert aes.blind_index(ID_NUMBER, purpose="p") != sm.blind_index(ID_NUMBER, purpose="p")


def test_the_blind_index_is_keyed_and_does_not_reveal_the_plaintext(cipher):
    bidx = cipher.blind_index(ID_NUMBER, purpose="person.id_number")
    assert len(bidx) == 64 and int(bidx, 16) >= 0
    assert ID_NUMBER not in bidx
    assert bidx != hashlib.sha256(f"person.id_number:{ID_NUMBER}".encode()).hexdigest()
    other_key = dataclasses.replace(cipher, index_key=b"\x44" * 32)
    assert other_key.blind_index(ID_NUMBER, purpose="person.id_number") != bidx


def test_the_blind_index_does_not_depend_on_the_data_key(cipher):
    rotated = FieldCipher.from_material(material("k2", k1=K1, k2=K2), suite=cipher.suite)
    assert rotated.blind_index(ID_NUMBER, purpose="p") == cipher.blind_index(ID_NUMBER, purpose="p")
