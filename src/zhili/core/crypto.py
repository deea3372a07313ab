"""Field-level encryption of personal data and keyed blind indexes.

Ciphertext layout (bytes): ``b"Z1" ‖ len(key_id) ‖ key_id ‖ nonce(12) ‖ AEAD ciphertext+tag``.
The associated data binds a ciphertext to ``table|column|row id``, so a value copied into another row (or
column) fails to decrypt. Suites: ``aes`` = AES-256-GCM + HMAC-SHA256 (default); ``sm`` = SM4-GCM + HMAC-SM3
(国密, for deployments that need the GM/T assessment). Both come from ``cryptography`` (OpenSSL), not
hand-written primitives. The key id stored in each ciphertext lets keys rotate: old ciphertexts stay readable
while new ones use the active key, and ``zhili keys rotate`` re-encrypts.

A model declares each column that holds ciphertext with ``info=encrypted(table, column)`` (the table and column
its values are bound to); key rotation finds the columns from those declarations, never from a list of its own.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import uuid
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from zhili.core.errors import DomainError
from zhili.core.settings import Settings, get_settings, load_key_material

MAGIC = b"Z1"
NONCE_LEN = 12
TAG_LEN = 16

ENCRYPTED = "zhili_encrypted"  # Column.info key: the column holds FieldCipher ciphertext (value: EncryptedField)
NOT_ENCRYPTED = "zhili_not_encrypted"  # Column.info key: a binary column that holds no ciphertext (value: why)


@dataclass(frozen=True)
class EncryptedField:
    """What a column's ciphertexts are bound to: the ``table`` and ``column`` given to :meth:`FieldCipher.encrypt`
    (the row id is the row's primary key)."""

    table: str
    column: str


def encrypted(table: str, column: str) -> dict[str, Any]:
    """``Column.info`` declaring that the column holds ciphertext made with ``encrypt(…, table=table,
    column=column, row_id=<the row's primary key>)``: ``mapped_column(LargeBinary, info=encrypted("person",
    "phone"))``. Key rotation re-encrypts exactly the columns declared so."""
    return {ENCRYPTED: EncryptedField(table, column)}


class DecryptionFailed(DomainError):
    status = 500
    code = "decryption_failed"
    default_message = "数据解密失败（密钥不匹配或数据被篡改）"


@lru_cache(maxsize=64)
def _sm4_key(key: bytes) -> bytes:
    return HKDF(algorithm=hashes.SM3(), length=16, salt=None, info=b"zhili-sm4-gcm").derive(key)


@dataclass(frozen=True)
class FieldCipher:
    """Encrypts and decrypts single field values, and computes blind indexes."""

    suite: Literal["aes", "sm"]
    active_key_id: str
    keys: dict[str, bytes]
    index_key: bytes

    @classmethod
    def from_material(cls, material: dict[str, object], suite: Literal["aes", "sm"] = "aes") -> FieldCipher:
        keys_raw = material["keys"]
        assert isinstance(keys_raw, dict)
        keys = {str(k): base64.b64decode(str(v)) for k, v in keys_raw.items()}
        for kid, key in keys.items():
            if len(key) != 32:
                raise ValueError(f"key {kid} must be 32 bytes")
        index_key = base64.b64decode(str(material["index_key"]))
        return cls(suite=suite, active_key_id=str(material["active"]), keys=keys, index_key=index_key)

    # -- encryption -------------------------------------------------------------------------------------
    @staticmethod
    def aad(table: str, column: str, row_id: uuid.UUID | str) -> bytes:
        return f"{table}|{column}|{row_id}".encode()

    def _seal(self, key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
        if self.suite == "aes":
            return AESGCM(key).encrypt(nonce, plaintext, aad)
        enc = Cipher(algorithms.SM4(_sm4_key(key)), modes.GCM(nonce)).encryptor()
        enc.authenticate_additional_data(aad)
        body = enc.update(plaintext) + enc.finalize()
        return body + enc.tag

    def _open(self, key: bytes, nonce: bytes, sealed: bytes, aad: bytes) -> bytes:
        if self.suite == "aes":
            return AESGCM(key).decrypt(nonce, sealed, aad)
        body, tag = sealed[:-TAG_LEN], sealed[-TAG_LEN:]
        dec = Cipher(algorithms.SM4(_sm4_key(key)), modes.GCM(nonce, tag)).decryptor()
        dec.authenticate_additional_data(aad)
        return dec.update(body) + dec.finalize()

    def encrypt(self, value: str, *, table: str, column: str, row_id: uuid.UUID | str) -> bytes:
        """Encrypt ``value`` bound to one row's column."""
        kid = self.active_key_id.encode()
        nonce = os.urandom(NONCE_LEN)
        sealed = self._seal(self.keys[self.active_key_id], nonce, value.encode(), self.aad(table, column, row_id))
        return MAGIC + bytes([len(kid)]) + kid + nonce + sealed

    def decrypt(self, blob: bytes, *, table: str, column: str, row_id: uuid.UUID | str) -> str:
        """Decrypt a value encrypted for exactly this row and column; anything else raises."""
        blob = bytes(blob)
        if len(blob) < 3 or blob[:2] != MAGIC:
            raise DecryptionFailed(details={"reason": "bad header"})
        klen = blob[2]
        if len(blob) < 3 + klen + NONCE_LEN + TAG_LEN:
            raise DecryptionFailed(details={"reason": "truncated"})
        try:
            kid = blob[3 : 3 + klen].decode()
        except UnicodeDecodeError as exc:
            raise DecryptionFailed(details={"reason": "bad key id"}) from exc
        nonce = blob[3 + klen : 3 + klen + NONCE_LEN]
        sealed = blob[3 + klen + NONCE_LEN :]
        key = self.keys.get(kid)
        if key is None:
            raise DecryptionFailed(details={"reason": f"unknown key id {kid}"})
        try:
            return self._open(key, nonce, sealed, self.aad(table, column, row_id)).decode()
        except InvalidTag as exc:
            raise DecryptionFailed() from exc

    @staticmethod
    def key_id_of(blob: bytes) -> str:
        """The key id a ciphertext was made with (for rotation)."""
        blob = bytes(blob)
        return blob[3 : 3 + blob[2]].decode()

    # -- blind index -------------------------------------------------------------------------------------
    def blind_index(self, value: str, *, purpose: str) -> str:
        """Keyed HMAC of a normalised value (hex), for exact-match search and uniqueness without decrypting."""
        msg = f"{purpose}:{value.strip().upper()}".encode()
        if self.suite == "aes":
            # the keyed state is made once and copied: the same HMAC as hmac.new(key, msg, sha256), without
            # hashing the key's two pads again for every value (an import computes millions)
            keyed = self.__dict__.get("_hmac_keyed")
            if keyed is None or keyed[0] is not self.index_key:
                keyed = self.__dict__["_hmac_keyed"] = (self.index_key, hmac.new(self.index_key, None,
                                                                                 hashlib.sha256))
            h = keyed[1].copy()
            h.update(msg)
            return h.hexdigest()
        from cryptography.hazmat.primitives.hmac import HMAC

        h = HMAC(self.index_key, hashes.SM3())
        h.update(msg)
        return h.finalize().hex()


@lru_cache(maxsize=32)
def _cipher_for(settings_id: int, key_file: tuple[int, int, int] | None) -> FieldCipher:
    # keyed by id(settings) so tests can swap settings, and by the key file's identity so a rotation is seen
    settings = _SETTINGS_BY_ID[settings_id]
    return FieldCipher.from_material(load_key_material(settings), settings.crypto_suite)


_SETTINGS_BY_ID: dict[int, Settings] = {}


_KEY_FILE_PATHS: dict[int, str] = {}


def _key_file_stamp(settings: Settings) -> tuple[int, int, int] | None:
    """Identifies the key file's current version (replaced atomically by a rotation: a new inode). One ``stat`` per
    call (the path is worked out once per settings object: intake encrypts on every report)."""
    if settings.keys:
        return None
    path = _KEY_FILE_PATHS.get(id(settings))
    if path is None:
        path = _KEY_FILE_PATHS[id(settings)] = str(settings.effective_key_file)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def get_cipher(settings: Settings | None = None) -> FieldCipher:
    """The cipher for the configured key material and suite. Key material from a key file is read again when
    the file changes, so running processes learn a rotation's pending key (to read values already re-encrypted)
    and then its activation (to write with it) without a restart."""
    settings = settings or get_settings()
    _SETTINGS_BY_ID[id(settings)] = settings
    return _cipher_for(id(settings), _key_file_stamp(settings))


def reset_cipher_cache() -> None:
    """Forget loaded key material (after rotation or in tests)."""
    _cipher_for.cache_clear()
    _SETTINGS_BY_ID.clear()
    _KEY_FILE_PATHS.clear()
