"""The audit log as auditors read it: listing with filters, verifying the chain (itself audited), auditor only —
in the service as well as behind the routes."""

from __future__ import annotations

import pytest

from zhili.audit import service
from zhili.core import audit
from zhili.core.audit import Actor
from zhili.core.errors import Forbidden
from zhili.core.jurisdiction import Principal
from zhili.core.security import Role

API = "/api/v1/audit"


def _principal(world, who: str, role: Role) -> Principal:
    u = world.users[who]
    return Principal(user_id=u.id, username=u.username, display_name=u.display_name, role=role)


@pytest.fixture
def events(db, world):
    """Three events by two actors on two kinds of object, in this order."""
    alice = Actor(id=world.users["admin"].id, name="admin", role="admin")
    bob = Actor(id=world.users["zhihui"].id, name="zhihui", role="command_centre")
    audit.record(db, actor=alice, action="person.reveal", object_type="person", object_id="p1", reason="核查身份")
    audit.record(db, actor=bob, action="case.reveal_reporter", object_type="case", object_id="c1", reason="回访")
    audit.record(db, actor=alice, action="person.update", object_type="person", object_id="p1")
    db.flush()


def test_the_auditor_reads_the_log_newest_first_and_filtered(client, world, events):
    h = world.headers("shenji")
    r = client.get(f"{API}/events", headers=h, params={"object_type": "person", "object_id": "p1"})
    assert r.status_code == 200, r.text
    assert [e["action"] for e in r.json()["items"]] == ["person.update", "person.reveal"]
    reveals = client.get(f"{API}/events", headers=h, params={"action": "person.reveal"}).json()
    assert [(e["actor_name"], e["reason"]) for e in reveals["items"]] == [("admin", "核查身份")]
    by_bob = client.get(f"{API}/events", headers=h, params={"actor": "zhihui"}).json()
    assert [e["object_id"] for e in by_bob["items"]] == ["c1"]
    page = client.get(f"{API}/events", headers=h, params={"page_size": 2}).json()
    assert len(page["items"]) == 2 and page["total"] >= 3
    assert page["items"][0]["seq"] > page["items"][1]["seq"]


def test_verifying_the_chain_is_itself_recorded(client, world, events, db):
    r = client.post(f"{API}/verify", headers=world.headers("shenji"))
    assert r.status_code == 200, r.text
    assert r.json()["ok"] is True and r.json()["checked"] >= 3 and r.json()["problems"] == []
    last = client.get(f"{API}/events", headers=world.headers("shenji"), params={"action": "audit.verify"}).json()
    assert last["items"][0]["actor_name"] == "shenji"
    assert last["items"][0]["after"]["checked"] == r.json()["checked"]


@pytest.mark.parametrize("who", ["admin", "zhihui", "lingdao", "jumin"])
def test_only_the_auditor_reads_or_verifies_the_log(client, world, who):
    for method, path in (("GET", f"{API}/events"), ("POST", f"{API}/verify")):
        r = client.request(method, path, headers=world.headers(who))
        assert (r.status_code, r.json()["code"]) == (403, "permission_denied"), (who, path, r.text)


def test_the_service_checks_the_permission_itself(db, world, events):
    admin = _principal(world, "admin", Role.admin)
    with pytest.raises(Forbidden):
        service.list_events(db, principal=admin)
    with pytest.raises(Forbidden):
        service.verify(db, principal=admin)
    rows, _ = service.list_events(db, principal=_principal(world, "shenji", Role.auditor), object_id="p1")
    assert [r.action for r in rows] == ["person.update", "person.reveal"]
