"""Fixtures for the Open311 GeoReport v2 tests: departments, a small taxonomy and a live API key.

Everything is created directly as ORM rows (no shipped fixtures) so each test knows exactly which services
exist. The rows are committed (a savepoint inside the per-test transaction) so that a failing POST, which
rolls the shared session back, does not take them with it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from o311helpers import COUNT_ATTR, GOODS_ATTR, SIZE_ATTR, Open311World
from sqlalchemy.orm import Session

# The public-visibility rule (``zhili.cases.public``) for this taxonomy: 市容秩序 and 水务 are public with their exact
# location, 安全生产 (SG-03) is public with a coarsened one, and everything else (矛盾纠纷 SG-01 …) is private.
PUBLIC_PREFIXES = ["SR-01", "0101", "SG-03"]
EXACT_PREFIXES = ["SR-", "0101"]


@pytest.fixture
def o311(db: Session, world: Any, public_rule: Callable[..., None]) -> Open311World:
    from zhili.cases.models import Category
    from zhili.open311.service import create_api_key

    public_rule(PUBLIC_PREFIXES, exact=EXACT_PREFIXES)
    from zhili.org.models import Department

    depts = {
        "CG": Department(code="CG", name="县综合行政执法局", short_name="综合执法"),
        "SL": Department(code="SL", name="县水利局", short_name="水利"),
    }
    db.add_all(depts.values())

    def cat(code: str, name: str, parent: str | None, *, leaf: bool = True, **kw: Any) -> Category:
        c = Category(code=code, version=1, is_current=True, name=name, kind=kw.pop("kind", "event"),
                     parent_code=parent, is_leaf=leaf, created_by="test", **kw)
        db.add(c)
        return c

    cats = {
        # 市容秩序 (top) → 街面秩序 (middle) → leaves
        "SR": cat("SR", "市容秩序", None, leaf=False),
        "SR-01": cat("SR-01", "街面秩序", "SR", leaf=False),
        "SR-0101": cat("SR-0101", "占道经营", "SR-01", default_department="CG", accept_hours=2, handle_hours=24,
                       keywords=["流动摊贩", "马路市场"], description="流动摊贩或店外占道经营。",
                       attributes=[SIZE_ATTR, GOODS_ATTR, COUNT_ATTR]),
        "SR-0102": cat("SR-0102", "乱堆物料", "SR-01", default_department="CG", handle_hours=24,
                       keywords=["堆物", "杂物"], description="道路两侧乱堆乱放物料。", attributes=[]),
        "SR-0199": cat("SR-0199", "已停用的类别", "SR-01", is_active=False, keywords=[], attributes=[]),
        # 水务 (top) → a leaf whose code looks like a number, to prove codes stay strings
        "SW": cat("SW", "水务管理", None, leaf=False),
        "0101": cat("0101", "河道漂浮物", "SW", default_department="SL", handle_hours=48,
                    keywords=["漂浮物", "河面垃圾"], attributes=[]),
    }
    db.flush()
    key, token = create_api_key(db, principal=None, name="测试客户端")
    db.commit()
    return Open311World(api_key=token, key_prefix=key.prefix, world=world, services=cats, departments=depts)
