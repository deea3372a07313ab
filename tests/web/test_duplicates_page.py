"""The console case page lists the suspected duplicates (疑似重复件) with their likelihood and why, each with the
merge (合并重复件) into it — the same workflow action as the form below it."""

from __future__ import annotations

from typing import Any

from pagekit import page, sign_in

from zhili.cases.models import CaseState


def test_the_case_page_lists_duplicates_with_score_and_explanation_and_merges_into_one(client: Any, site: Any
                                                                                       ) -> None:
    master = site.report("wangge_a", description="幸福花园门口垃圾桶满溢，臭味很大")
    dup = site.report("wangge_a", description="幸福花园门口的垃圾桶满溢好几天了", lon=119.1003)
    sign_in(client, site.token("zhihui"))
    p = page(client.get(f"/console/cases/{dup.id}"))
    box = p.find("section", class_="card duplicates")
    assert "疑似重复件" in box.text and "重复可能性" in box.text
    assert "同一小区（幸福花园），相距30米" in box.text and "共同词：垃圾桶满溢" in box.text
    assert p.find_all("a", href=f"/console/cases/{master.id}") and p.find_all("meter")
    assert p.unlabelled_controls() == []
    assert [i.attrs["value"] for i in p.find_all("input", name="master_number", type="hidden")] == [master.number]
    client.post(f"/console/cases/{dup.id}/act", data={"csrf_token": p.csrf(), "action": "merge",
                                                      "version": str(dup.version), "master_number": master.number})
    site.db.refresh(dup)
    assert (dup.state, dup.master_case_id) == (CaseState.merged, master.id)
    assert page(client.get(f"/console/cases/{dup.id}")).find_all("section", class_="card duplicates") == []
