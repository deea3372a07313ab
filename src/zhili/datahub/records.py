"""A source record's values and a quarantined row's cells: encoded, hashed and encrypted the one way.

Values are the validated standard values of one row (``str``, ``int``, ``float``, ``bool``, dates, datetimes,
uuids, ``None``). They are stored as canonical JSON (sorted keys, dates as ISO strings), encrypted and bound to the
row (table ``hub_source_record``, column ``values``), because they carry ID and phone numbers; the row hash is the
SHA-256 of the same canonical JSON, so an unchanged row is recognised without decrypting anything.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from typing import Any

from zhili.core.crypto import FieldCipher, get_cipher
from zhili.core.ids import new_id
from zhili.datahub.models import QuarantineRow, SourceRecord

RECORD_TABLE, RECORD_COLUMN = "hub_source_record", "values"
QUARANTINE_TABLE, QUARANTINE_COLUMN = "hub_quarantine", "raw"


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def canonical(values: dict[str, Any]) -> str:
    """The canonical JSON of a row's values (sorted keys, no whitespace, ISO dates)."""
    return json.dumps(values, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=_default)


def row_hash(values: dict[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON: equal hashes, equal values."""
    return hashlib.sha256(canonical(values).encode()).hexdigest()


def seal_values(values: dict[str, Any], row_id: uuid.UUID, cipher: FieldCipher | None = None) -> bytes:
    """``values`` encrypted for the source record ``row_id``."""
    return (cipher or get_cipher()).encrypt(canonical(values), table=RECORD_TABLE, column=RECORD_COLUMN,
                                            row_id=row_id)


def set_record_values(rec: SourceRecord, values: dict[str, Any], cipher: FieldCipher | None = None) -> None:
    """Store ``values`` on a source record (encrypted, bound to its id) with their hash."""
    if rec.id is None:
        rec.id = new_id()
    rec.values_enc = seal_values(values, rec.id, cipher)
    rec.row_hash = row_hash(values)


def record_values(rec: SourceRecord, cipher: FieldCipher | None = None) -> dict[str, Any]:
    """The stored values of a source record (dates come back as ISO strings)."""
    raw = (cipher or get_cipher()).decrypt(rec.values_enc, table=RECORD_TABLE, column=RECORD_COLUMN, row_id=rec.id)
    out: dict[str, Any] = json.loads(raw)
    return out


def seal_raw(raw: dict[str, Any], row_id: uuid.UUID, cipher: FieldCipher | None = None) -> bytes:
    """A quarantined row's raw cells encrypted for the quarantine row ``row_id``."""
    return (cipher or get_cipher()).encrypt(canonical(raw), table=QUARANTINE_TABLE, column=QUARANTINE_COLUMN,
                                            row_id=row_id)


def quarantined_cells(row: QuarantineRow, cipher: FieldCipher | None = None) -> dict[str, Any]:
    """The raw cells of a quarantined row, as they came in."""
    raw = (cipher or get_cipher()).decrypt(row.raw_enc, table=QUARANTINE_TABLE, column=QUARANTINE_COLUMN,
                                           row_id=row.id)
    out: dict[str, Any] = json.loads(raw)
    return out


# The blind-index purpose of each target's strong key. Persons use the register's own purpose, so a source record's
# ``key_bidx`` equals ``Person.id_number_bidx`` of the same person: a deterministic match is one indexed lookup.
KEY_PURPOSES: dict[str, str] = {
    "persons": "person.id_number",  # = zhili.registry.service.ID_PURPOSE
    "organisations": "organisation.credit_code",
    "buildings": "building.code",
}


def key_index(target: str, value: str | None, cipher: FieldCipher | None = None) -> str | None:
    """The blind index of a record's strong key (a *valid* ID number, USCC or building code), or None."""
    purpose = KEY_PURPOSES.get(str(target))
    if purpose is None or not value or not str(value).strip():
        return None
    return (cipher or get_cipher()).blind_index(str(value).strip().upper(), purpose=purpose)
