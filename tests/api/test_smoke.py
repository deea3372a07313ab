from __future__ import annotations


def test_health_answers_ok(client):
    r = client.get("/api/v1/health")
    assert r.status_code == 200 and r.json()["status"] == "ok"


def test_a_request_without_a_token_is_refused_with_a_chinese_error(client):
    r = client.get("/api/v1/regions/units")
    assert r.status_code == 401
    body = r.json()
    assert body["code"] == "unauthenticated" and "登录" in body["message"]


def test_admin_lists_the_units_of_the_district(client, world):
    r = client.get("/api/v1/regions/units", headers=world.headers("admin"))
    assert r.status_code == 200, r.text
    assert r.json()["total"] == 8
