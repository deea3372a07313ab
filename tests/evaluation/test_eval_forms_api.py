"""The 填报 JSON API: the refusal carries a Chinese message per field and per rule; the steps answer with the form."""

from __future__ import annotations

from typing import Any

from evalformkit import C1, DS, good

API = f"/api/v1/eval/forms/{DS}"


def test_submit_refused_then_accepted_and_approved_over_the_api(client: Any, world: Any) -> None:
    url = f"{API}/2026-10/units/{C1}"
    shequ = world.headers("shequ1")
    r = client.post(f"{url}/submit", json={"values": good(info_staff="五", it_spent=99)}, headers=shequ)
    assert r.status_code == 422 and r.json()["code"] == "form_invalid"
    assert r.json()["details"]["fields"] == {"info_staff": "“信息化专职人员”应填写数字，“五”不是数字"}
    r = client.post(f"{url}/submit", json={"values": good(it_spent=99)}, headers=world.headers("shequ1"))
    assert r.status_code == 422 and r.json()["details"]["rules"] == ["本月信息化支出不能超过本年信息化预算"]
    r = client.put(url, json={"values": good(it_spent=99)}, headers=world.headers("shequ1"))
    assert r.status_code == 200 and r.json()["state"] == "draft" and r.json()["rules"]
    r = client.post(f"{url}/submit", json={"values": good()}, headers=world.headers("shequ1"))
    assert r.status_code == 200 and r.json()["state_name"] == "待审核"
    r = client.post(f"{url}/lock", json={}, headers=world.headers("jiedao1"))
    assert r.status_code == 409 and r.json()["code"] == "submission_state" and "待审核" in r.json()["message"]
    r = client.post(f"{url}/approve", json={}, headers=world.headers("jiedao1"))
    assert r.status_code == 200 and r.json()["state"] == "approved" and r.json()["actions"] == ["return", "lock"]
    r = client.get(f"{API}/2026-10/completeness", headers=world.headers("zhihui"))
    assert r.status_code == 200 and (r.json()["expected"], r.json()["reported"]) == (2, 1)
    r = client.get(f"{API}/2026-13/completeness", headers=world.headers("zhihui"))
    assert r.status_code == 422 and "月份" in r.json()["message"]
