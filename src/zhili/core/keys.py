"""Key rotation: add a new data-encryption key, make it active, re-encrypt stored ciphertexts."""

from __future__ import annotations

import base64
import json
import os
import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.core.crypto import FieldCipher, get_cipher, reset_cipher_cache
from zhili.core.errors import ValidationFailed
from zhili.core.settings import Settings, load_key_material


def encrypted_columns() -> list[tuple[Any, str, str]]:
    """Every encrypted column as (model, table name, column name without the ``_enc`` suffix)."""
    from zhili.registry.models import Organisation, Person
    from zhili.users.models import User

    return [(Person, "person", "id_number"), (Person, "person", "phone"),
            (Organisation, "organisation", "contact_phone"), (User, "app_user", "phone")]


def rotate_key_file(settings: Settings) -> str:
    """Add a fresh key to the key file and make it active; returns its id (old keys stay for decryption)."""
    if settings.keys:
        raise ValidationFailed("密钥来自环境变量 ZHILI_KEYS，请在密钥管理系统中轮换", code="keys_from_env")
    material = load_key_material(settings)
    raw = material["keys"]
    assert isinstance(raw, dict)
    keys: dict[str, str] = {str(k): str(v) for k, v in raw.items()}
    kid = f"k{max(int(k[1:]) for k in keys if k[1:].isdigit()) + 1}"
    keys[kid] = base64.b64encode(secrets.token_bytes(32)).decode()
    material["keys"], material["active"] = keys, kid
    path = settings.effective_key_file
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(material, fh, indent=2)
    os.replace(tmp, path)
    reset_cipher_cache()
    return kid


def reencrypt_all(session: Session, *, cipher: FieldCipher | None = None, batch: int = 2000) -> int:
    """Re-encrypt every ciphertext not made with the active key; returns how many values changed."""
    cipher = cipher or get_cipher()
    changed = 0
    for model, table, column in encrypted_columns():
        attr = getattr(model, f"{column}_enc")
        last = None
        while True:
            stmt = select(model).where(attr.is_not(None)).order_by(model.id).limit(batch)
            if last is not None:
                stmt = stmt.where(model.id > last)
            rows = session.scalars(stmt).all()
            if not rows:
                break
            for obj in rows:
                blob = getattr(obj, f"{column}_enc")
                if FieldCipher.key_id_of(blob) != cipher.active_key_id:
                    plain = cipher.decrypt(blob, table=table, column=column, row_id=obj.id)
                    setattr(obj, f"{column}_enc", cipher.encrypt(plain, table=table, column=column, row_id=obj.id))
                    changed += 1
                last = obj.id
            session.flush()
    return changed
