"""Key rotation re-encrypts every ciphertext in the database and is all-or-nothing.

The checks here do not ask the rotation code which columns are encrypted: they read every table and every column
of the database (reflected, not from the models) and pick out ciphertexts by their layout (``b"Z1"`` ‖ key id
length ‖ key id ‖ …). Rotation runs on a scratch database (SQLite file or PostgreSQL schema) with real commits, and
with a key file in a temporary folder; the data in it covers every kind of encrypted value the services write.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import Column, Engine, Integer, LargeBinary, MetaData, String, Table, select, text
from sqlalchemy.orm import Session

import zhili.models  # noqa: F401  (every model, as the CLI loads them)
from testmodules import TESTS, load
from zhili.core import keys
from zhili.core.crypto import MAGIC, NOT_ENCRYPTED, FieldCipher, encrypted, get_cipher, reset_cipher_cache
from zhili.core.db import Base
from zhili.core.errors import DomainError
from zhili.core.security import Role
from zhili.core.settings import Settings
from zhili.core.validators import id_check_digit

casekit = load("casekit", TESTS / "cases" / "casekit.py")
xlsxkit = load("xlsxkit", TESTS / "registry" / "xlsxkit.py")


# -- an independent scan of the database ----------------------------------------------------------------------

Cell = tuple[str, str, str]  # (table, column, row id)


def _row_id(value: Any) -> str:
    try:
        return str(uuid.UUID(str(value)))  # SQLite keeps UUIDs as 32 hex digits; the ciphertext binds the UUID
    except ValueError:
        return str(value)


def _as_ciphertext(value: Any) -> bytes | None:
    if isinstance(value, bytes | bytearray | memoryview):
        blob = bytes(value)
    elif isinstance(value, str) and value.startswith("WjE"):  # base64 of b"Z1…", should one ever be stored as text
        try:
            blob = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return None
    else:
        return None
    return blob if blob[:2] == MAGIC and len(blob) > 3 else None


def key_id(blob: bytes) -> str:
    return blob[3:3 + blob[2]].decode()


def scan(engine: Engine) -> dict[Cell, bytes]:
    """Every ciphertext stored anywhere in the database, by table, column and row id."""
    reflected = MetaData()
    reflected.reflect(bind=engine)
    found: dict[Cell, bytes] = {}
    with engine.connect() as conn:
        for table in reflected.sorted_tables:
            pk = [c.name for c in table.primary_key.columns]
            for row in conn.execute(select(table)).mappings():
                for name, value in row.items():
                    blob = _as_ciphertext(value)
                    if blob is not None:
                        found[(table.name, name, "|".join(_row_id(row[c]) for c in pk))] = blob
    return found


def plaintexts(cipher: FieldCipher, cells: dict[Cell, bytes]) -> dict[Cell, str]:
    """Each ciphertext decrypted as the services bind it: table, column without ``_enc``, row id."""
    return {cell: cipher.decrypt(blob, table=cell[0], column=cell[1].removesuffix("_enc"), row_id=cell[2])
            for cell, blob in cells.items()}


# -- a scratch database with every kind of encrypted value -----------------------------------------------------

@dataclass
class Deployment:
    url: str
    connect_args: dict[str, Any]
    engine: Engine
    var_dir: Path

    @property
    def key_file(self) -> Path:
        return self.var_dir / "keys.json"

    def settings(self) -> Settings:
        return Settings(keys="", var_dir=self.var_dir, database_url=self.url)

    def material(self) -> dict[str, Any]:
        return dict(json.loads(self.key_file.read_text(encoding="utf-8")))

    def cipher(self) -> FieldCipher:
        """What a process started now would decrypt with: the key file on disk."""
        return FieldCipher.from_material(self.material())

    def cli_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "ZHILI_KEYS"}
        url = self.url
        if self.connect_args.get("options"):
            url += f"?options={quote(self.connect_args['options'])}"
        env.update(ZHILI_VAR_DIR=str(self.var_dir), ZHILI_DATABASE_URL=url, COLUMNS="120")
        return env


def _id_number(n: int) -> str:
    first17 = f"33052219{80 + n:02d}0615{n * 2 + 1:03d}"
    return first17 + id_check_digit(first17)


def populate(session: Session) -> None:
    """Two people (one without a phone), an organisation, a user with a phone, a hotline case with the caller's
    name and phone, a resident's case, and an import with a rejected row."""
    from zhili.cases import service as cases
    from zhili.cases.models import Channel
    from zhili.datahub import register_import
    from zhili.registry import service as registry
    from zhili.registry.models import RegisterKind
    from zhili.registry.schemas import OrganisationIn, PersonIn
    from zhili.users.service import create_user, principal_for_user

    world = casekit.root.build_world(session, only={"admin", "zhihui", "jumin"})
    casekit.add_taxonomy(session)
    p = {who: principal_for_user(session, user=u) for who, u in world.users.items()}
    grid = world.units["ga"].id
    for n, phone in ((1, "13812345678"), (2, None)):
        registry.create_person(session, principal=p["admin"], data=PersonIn(
            name=f"居民{n}", id_number=_id_number(n), phone=phone, grid_id=grid).model_dump())
    registry.create_organisation(session, principal=p["admin"], data=OrganisationIn(
        name="金陵超市", address="金陵路8号", grid_id=grid, contact_phone="13900001111").model_dump())
    create_user(session, principal=None, username="shouji", display_name="有手机的人", role=Role.resident,
                password="Zhili-rotation-2026!", phone="13700002222")
    cases.report_case(session, principal=p["zhihui"], channel=Channel.hotline, data={
        "category_code": "T0101", "description": "小区门口垃圾堆放", "lon": 119.1, "lat": 31.1,
        "reporter_name": "王秀英", "reporter_phone": "13957001234"})
    cases.report_case(session, principal=p["jumin"], channel=Channel.resident, data={
        "category_code": "T0101", "description": "路边垃圾没人清", "lon": 119.1, "lat": 31.1})
    _legacy_rejected_row(session, p["admin"])
    imp = register_import.import_register_workbook(
        session, principal=p["admin"], kind=RegisterKind.persons, filename="导入.xlsx",
        data=xlsxkit.xlsx([["姓名", "身份证号", "手机号", "网格"],
                           ["李四", "330522198506150000", "13600003333", "999"]]))
    assert imp.rows_quarantined == 1  # the register's upload: a hub import, its row quarantined (hub_quarantine)
    _hub_rows(session, p["admin"], world.units["c1"].id)
    _rental_rows(session, p["admin"], p["zhihui"], grid)
    session.commit()


def _legacy_rejected_row(session: Session, admin: Any) -> None:
    """A rejected row the register's former importer kept (its table stays, and its cells are rotated with the rest)."""
    from zhili.core.ids import new_id
    from zhili.registry.models import ImportBatch, ImportRejectedRow, RegisterKind

    batch = ImportBatch(id=new_id(), kind=RegisterKind.persons, user_id=admin.user_id, filename="旧导入.xlsx",
                        total_rows=1, created_rows=0, updated_rows=0, rejected_rows=1)
    session.add(batch)
    session.flush()
    row_id = new_id()
    session.add(ImportRejectedRow(id=row_id, batch_id=batch.id, row_number=2, reason="身份证号：校验位错误",
                                  cells_enc=get_cipher().encrypt(json.dumps(["王五", "330522198506150000"]),
                                                                 table="import_rejected_row", column="cells",
                                                                 row_id=row_id)))
    session.flush()


def _hub_rows(session: Session, admin: Any, unit_id: Any) -> None:
    """A data-hub source record (its values encrypted) and a quarantined row (its raw cells encrypted)."""

    from zhili.datahub import records, sources
    from zhili.datahub.models import Connector, Import, QuarantineRow, SourceRecord, Target

    src = sources.create_source(session, principal=admin, data={
        "name": "rotation", "title": "轮换测试", "target": "persons", "unit_id": unit_id})
    imp = Import(id=uuid.uuid4(), source_id=src.id, path=src.path, connector=Connector.csv, filename="人口.csv")
    session.add(imp)
    session.flush()
    rec = SourceRecord(id=uuid.uuid4(), source_id=src.id, natural_key="k1", target_type=Target.persons,
                       path=src.path, first_import_id=imp.id, last_import_id=imp.id, row_number=1)
    records.set_record_values(rec, {"name": "赵六", "id_number": _id_number(3)})
    q = QuarantineRow(id=uuid.uuid4(), import_id=imp.id, source_id=src.id, path=src.path, row_number=2,
                      errors=[{"field": "id_number", "rule": "id_number", "message": "身份证号校验位错误"}],
                      rules="id_number")
    q.raw_enc = records.seal_raw({"姓名": "钱七", "身份证号": "330522198506150000"}, q.id)
    session.add_all([rec, q])
    session.flush()


def _rental_rows(session: Session, admin: Any, zhihui: Any, grid_id: Any) -> None:
    """A rental room with a tenant checked in: the stay's phone and photo are encrypted (rental_stay); the tenant's
    residence-permit application to be mailed: its address is encrypted (rental_permit_application)."""
    import datetime as dt

    from testimages import png
    from zhili.cases.flows import SERVICE_CATEGORIES
    from zhili.cases.models import Category
    from zhili.core.clock import today
    from zhili.registry import service as registry
    from zhili.registry.models import BuildingType
    from zhili.rental import permits, police, rooms, stays

    for spec in SERVICE_CATEGORIES:
        node = dict(spec)
        parent = node.pop("parent")
        session.add(Category(version=1, is_current=True, taxonomy_version="test", created_by="test",
                             parent_code=parent, is_leaf=parent is not None, is_active=True, keywords=[],
                             attributes=[], **node))
    b = registry.create_building(session, principal=admin, data={
        "grid_id": grid_id, "name": "5幢", "address": "金陵路5号", "building_type": BuildingType.residential})
    room = rooms.register_room(session, principal=zhihui, data={
        "landlord": {"name": "房东甲", "id_number": _id_number(4), "phone": "13900004444"}, "building_id": b.id,
        "door": "101", "label": "整套", "capacity": 2}).room
    police.set_dispatcher(lambda ids: None)  # nothing to send from this scratch database
    try:
        stay = stays.check_in(session, principal=zhihui, room_id=room.id, data={
            "name": "租客乙", "id_number": _id_number(5), "phone": "13900005555", "photo": png(),
            "move_in": today(), "expected_move_out": today() + dt.timedelta(days=90)}).stay
        permits.apply(session, principal=zhihui, stay_id=stay.id, override_reason="持有就业证明",
                      delivery=permits.Delivery("mail", "浙江省长兴县金陵路5号101室"))
        session.commit()
    finally:
        police.set_dispatcher(None)


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    var_dir = tmp_path / "var"
    var_dir.mkdir()
    # The key file holds the material the services of this test process encrypt with (ZHILI_KEYS).
    (var_dir / "keys.json").write_text(os.environ["ZHILI_KEYS"], encoding="utf-8")
    os.chmod(var_dir / "keys.json", 0o600)
    with casekit.scratch_database(tmp_path) as scratch:
        engine = scratch.engine()
        try:
            with Session(engine) as s:
                populate(s)
            yield Deployment(scratch.url, scratch.connect_args, engine, var_dir)
        finally:
            engine.dispose()
            reset_cipher_cache()


def _declared(metadata: MetaData | None = None) -> set[tuple[str, str]]:
    return {(c.table.name, c.column.name) for c in keys.encrypted_columns(metadata)}


# -- which columns ------------------------------------------------------------------------------------------

def test_the_models_declare_exactly_the_columns_that_hold_ciphertext(deployment: Deployment) -> None:
    cells = scan(deployment.engine)
    assert {(t, c) for t, c, _ in cells} == _declared() == {
        ("app_user", "phone_enc"), ("person", "id_number_enc"), ("person", "phone_enc"),
        ("organisation", "contact_phone_enc"), ("case", "reporter_name_enc"), ("case", "reporter_phone_enc"),
        ("import_rejected_row", "cells_enc"), ("hub_source_record", "values_enc"), ("hub_quarantine", "raw_enc"),
        ("rental_stay", "phone_enc"), ("rental_stay", "photo_enc"), ("rental_permit_application", "address_enc")}
    assert {key_id(b) for b in cells.values()} == {"k1"}
    assert "王秀英" in plaintexts(deployment.cipher(), cells).values()


def test_every_binary_or_enc_column_of_the_models_says_whether_it_holds_ciphertext() -> None:
    assert keys.undeclared_columns() == []
    for col in keys.encrypted_columns():
        assert isinstance(col.column.type, LargeBinary)
        assert (col.field.table, col.field.column) == (col.table.name, col.column.name.removesuffix("_enc"))


def test_a_column_holding_ciphertext_without_the_declaration_is_caught() -> None:
    md = MetaData()
    Table("gadget", md, Column("id", Integer, primary_key=True), Column("secret_enc", LargeBinary),
          Column("photo", LargeBinary), Column("note_enc", String(100)),
          Column("thumbnail", LargeBinary, info={NOT_ENCRYPTED: "a picture, not personal data"}),
          Column("serial_enc", LargeBinary, info=encrypted("gadget", "serial")))
    assert keys.undeclared_columns(md) == ["gadget.secret_enc", "gadget.photo", "gadget.note_enc"]
    assert _declared(md) == {("gadget", "serial_enc")}


def test_rotation_refuses_before_touching_the_key_file_when_the_models_are_not_all_loaded(
        deployment: Deployment) -> None:
    partial = MetaData()
    for name in ("person", "app_user"):
        Base.metadata.tables[name].to_metadata(partial)
    before = deployment.key_file.read_bytes()
    with pytest.raises(DomainError) as refused:
        keys.rotate(deployment.engine, deployment.settings(), metadata=partial)
    assert refused.value.code == "models_not_loaded" and "case" in refused.value.details["tables"]
    assert deployment.key_file.read_bytes() == before

    undeclared = MetaData()
    for table in Base.metadata.sorted_tables:
        table.to_metadata(undeclared)
    undeclared.tables["case"].c.reporter_name_enc.info.clear()
    with pytest.raises(DomainError) as refused:
        keys.rotate(deployment.engine, deployment.settings(), metadata=undeclared)
    assert refused.value.code == "encrypted_column_undeclared"
    assert refused.value.details["columns"] == ["case.reporter_name_enc"]
    assert deployment.key_file.read_bytes() == before


def test_rotation_refuses_keys_given_in_the_environment(deployment: Deployment) -> None:
    with pytest.raises(DomainError) as refused:
        keys.rotate(deployment.engine, Settings(keys=os.environ["ZHILI_KEYS"], var_dir=deployment.var_dir))
    assert refused.value.code == "keys_from_env"


# -- the command ----------------------------------------------------------------------------------------------

def test_the_rotate_command_re_encrypts_every_ciphertext_in_the_database(deployment: Deployment) -> None:
    before = scan(deployment.engine)
    plain = plaintexts(deployment.cipher(), before)
    r = subprocess.run([sys.executable, "-c", "from zhili.cli import app; app()", "keys", "rotate", "--batch", "2"],
                       env=deployment.cli_env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "新密钥 k2 已启用" in r.stdout

    material = deployment.material()
    assert (material["active"], material["retired"], sorted(material["keys"])) == ("k2", ["k1"], ["k1", "k2"])
    assert "pending" not in material
    assert stat.S_IMODE(deployment.key_file.stat().st_mode) == 0o600
    assert sorted(p.name for p in deployment.var_dir.iterdir() if "keys" in p.name) == ["keys.json"]

    after = scan(deployment.engine)
    assert after.keys() == before.keys()
    assert {cell: key_id(b) for cell, b in after.items() if key_id(b) != "k2"} == {}
    assert plaintexts(deployment.cipher(), after) == plain
    with pytest.raises(DomainError):  # the old key alone reads none of it any more
        plaintexts(FieldCipher.from_material(json.loads(os.environ["ZHILI_KEYS"])), dict([next(iter(after.items()))]))


# -- all or nothing, resumable ----------------------------------------------------------------------------------

class Crash(Exception):
    pass


def test_a_crash_midway_leaves_every_value_readable_and_a_rerun_finishes_the_job(deployment: Deployment) -> None:
    before = scan(deployment.engine)
    plain = plaintexts(deployment.cipher(), before)
    batches = 0

    def crash_after_three_batches(label: str, done: int, total: int) -> None:
        nonlocal batches
        if done:
            batches += 1
            if batches == 3:
                raise Crash

    with pytest.raises(Crash):
        keys.rotate(deployment.engine, deployment.settings(), batch=1, progress=crash_after_three_batches)

    material = deployment.material()
    assert (material["active"], material["pending"]) == ("k1", "k2")  # the new key is kept, not yet active
    midway = scan(deployment.engine)
    assert sorted(key_id(b) for b in midway.values()).count("k2") == 3  # three committed batches of one row
    assert plaintexts(deployment.cipher(), midway) == plain  # the key file on disk reads all of it
    running = get_cipher(deployment.settings())  # a running process reads the file again and writes with k1
    assert running.active_key_id == "k1" and "k2" in running.keys

    seen: list[tuple[str, int, int]] = []
    report = keys.rotate(deployment.engine, deployment.settings(), batch=1,
                         progress=lambda *a: seen.append(a))
    assert (report.key_id, report.resumed, report.changed, report.retired) == ("k2", True, len(before) - 3, ["k1"])
    # progress per column, counting what is left under another key: the re-run skips what the first run did
    # (the hotline caller's and the permit applicant's phones are left of the cases: the first run did not get there)
    assert [a for a in seen if a[0] in ("case.reporter_phone_enc", "import_rejected_row.cells_enc")] == [
        ("case.reporter_phone_enc", 0, 2), ("case.reporter_phone_enc", 1, 2), ("case.reporter_phone_enc", 2, 2),
        ("import_rejected_row.cells_enc", 0, 1), ("import_rejected_row.cells_enc", 1, 1)]
    after = scan(deployment.engine)
    assert after.keys() == before.keys()
    assert {key_id(b) for b in after.values()} == {"k2"}
    assert plaintexts(deployment.cipher(), after) == plain
    material = deployment.material()
    assert (material["active"], material.get("pending"), material["retired"]) == ("k2", None, ["k1"])
    assert get_cipher(deployment.settings()).active_key_id == "k2"


def test_a_crash_before_activation_keeps_the_data_readable_and_a_rerun_activates(
        deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> None:
    before = scan(deployment.engine)
    plain = plaintexts(deployment.cipher(), before)
    real_write = keys.write_key_file

    def crash_on_activation(path: Path, material: dict[str, Any]) -> None:
        if "pending" not in material:
            raise Crash
        real_write(path, material)

    monkeypatch.setattr(keys, "write_key_file", crash_on_activation)
    with pytest.raises(Crash):
        keys.rotate(deployment.engine, deployment.settings())
    monkeypatch.undo()

    assert (deployment.material()["active"], deployment.material()["pending"]) == ("k1", "k2")
    midway = scan(deployment.engine)
    assert {key_id(b) for b in midway.values()} == {"k2"}
    assert plaintexts(deployment.cipher(), midway) == plain

    report = keys.rotate(deployment.engine, deployment.settings())
    assert (report.key_id, report.resumed, report.changed) == ("k2", True, 0)
    assert deployment.material()["active"] == "k2"
    assert plaintexts(deployment.cipher(), scan(deployment.engine)) == plain


def test_a_crash_while_writing_the_key_file_leaves_the_old_file_whole(
        deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> None:
    before = deployment.key_file.read_bytes()
    cells = scan(deployment.engine)

    def crash(*_: Any) -> None:
        raise Crash

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(Crash):
        keys.rotate(deployment.engine, deployment.settings())
    monkeypatch.undo()
    assert deployment.key_file.read_bytes() == before
    assert sorted(p.name for p in deployment.var_dir.iterdir()) == ["keys.json"]  # no temporary file left
    assert scan(deployment.engine) == cells  # nothing re-encrypted under a key that was never saved


def test_a_value_changed_during_rotation_is_not_overwritten_and_is_re_encrypted_on_the_next_pass(
        deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> None:
    """A service writing while a batch runs (with the key it knows) loses nothing: the batch's update only
    replaces the value it read, and the next pass re-encrypts what changed meanwhile. (On SQLite a batch holds
    the write lock from its first read, so nobody can write in between.)"""
    if deployment.engine.dialect.name == "sqlite":
        pytest.skip("SQLite admits one writer: nothing changes between a batch's read and its update")
    from zhili.users.models import User

    with Session(deployment.engine) as s:
        user_id = s.scalar(select(User.id).where(User.username == "shouji"))
    old_cipher = deployment.cipher()
    real_encrypt = FieldCipher.encrypt
    written: list[bool] = []

    def service_writes_meanwhile(self: FieldCipher, value: str, **bound: Any) -> bytes:
        if bound["table"] == "app_user" and not written:
            written.append(True)
            new = real_encrypt(old_cipher, "13700009999", table="app_user", column="phone", row_id=user_id)
            with deployment.engine.begin() as conn:
                conn.execute(text("UPDATE app_user SET phone_enc = :v WHERE id = :id"), {"v": new, "id": user_id})
        return real_encrypt(self, value, **bound)

    monkeypatch.setattr(FieldCipher, "encrypt", service_writes_meanwhile)
    report = keys.rotate(deployment.engine, deployment.settings())
    monkeypatch.undo()
    assert written
    after = scan(deployment.engine)
    assert {key_id(b) for b in after.values()} == {"k2"}
    assert plaintexts(deployment.cipher(), after)[("app_user", "phone_enc", str(user_id))] == "13700009999"
    assert report.changed == len(after)  # the overtaken value once, by the second pass


def test_rotation_leaves_the_rows_version_and_update_time_alone(deployment: Deployment) -> None:
    from zhili.registry.models import Person

    with Session(deployment.engine) as s:
        before = {p.id: (p.version, p.updated_at) for p in s.scalars(select(Person))}
    keys.rotate(deployment.engine, deployment.settings())
    with Session(deployment.engine) as s:
        assert {p.id: (p.version, p.updated_at) for p in s.scalars(select(Person))} == before


def test_a_second_rotation_adds_another_key_and_retires_both_earlier_ones(deployment: Deployment) -> None:
    keys.rotate(deployment.engine, deployment.settings())
    report = keys.rotate(deployment.engine, deployment.settings())
    assert (report.key_id, report.resumed, report.retired) == ("k3", False, ["k1", "k2"])
    assert {key_id(b) for b in scan(deployment.engine).values()} == {"k3"}


def test_a_running_process_reads_the_key_file_again_when_a_rotation_replaces_it(deployment: Deployment) -> None:
    settings = deployment.settings()
    assert (get_cipher(settings).active_key_id, sorted(get_cipher(settings).keys)) == ("k1", ["k1"])
    material = deployment.material()
    # as another process (the rotation command) would change it: no cache reset in this one
    keys.write_key_file(deployment.key_file, {**material, "keys": {**material["keys"], "k2": material["keys"]["k1"]},
                                              "pending": "k2"})
    assert (get_cipher(settings).active_key_id, sorted(get_cipher(settings).keys)) == ("k1", ["k1", "k2"])
    keys.write_key_file(deployment.key_file, {**deployment.material(), "active": "k2"})
    assert get_cipher(settings).active_key_id == "k2"


def test_zhili_models_is_the_one_place_that_loads_every_model() -> None:
    """What the CLI imports before rotating: no module of the package defines a table it leaves out."""
    code = """
import importlib, pkgutil
import zhili, zhili.models
from zhili.core.db import Base
loaded = set(Base.metadata.tables)
for m in pkgutil.walk_packages(zhili.__path__, "zhili."):
    if ".migrations" not in m.name:
        importlib.import_module(m.name)
print(sorted(set(Base.metadata.tables) - loaded))
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_a_value_that_does_not_decrypt_stops_rotation_saying_where_and_the_new_key_stays_pending(
        deployment: Deployment) -> None:
    from zhili.registry.models import Organisation

    with Session(deployment.engine) as s:
        org = s.scalars(select(Organisation)).one()
        good = org.contact_phone_enc
        org.contact_phone_enc = good[:-1] + bytes([good[-1] ^ 1])  # one bit flipped in the tag
        s.commit()
        with pytest.raises(DomainError) as stopped:
            keys.rotate(deployment.engine, deployment.settings())
        assert stopped.value.code == "decryption_failed"
        assert stopped.value.details == {"column": "organisation.contact_phone_enc", "row_id": str(org.id)}
        assert (deployment.material()["active"], deployment.material()["pending"]) == ("k1", "k2")

        org.contact_phone_enc = good
        s.commit()
    assert keys.rotate(deployment.engine, deployment.settings()).resumed
    assert {key_id(b) for b in scan(deployment.engine).values()} == {"k2"}
