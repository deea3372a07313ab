"""Time-ordered ids (UUIDv7)."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import threading
import uuid

from zhili.core.ids import derived_id, id_at, new_id


def _ms(u: uuid.UUID) -> int:
    return u.int >> 80


def test_new_ids_are_version_7_rfc_variant_and_strictly_increasing_in_a_tight_loop():
    ids = [new_id() for _ in range(50_000)]
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in ids)
    assert all(a < b for a, b in itertools.pairwise(ids))
    assert len({u.int & ((1 << 62) - 1) for u in ids}) == len(ids)  # the random parts differ too


def test_new_ids_carry_the_clocks_millisecond_even_at_a_high_rate():
    before = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
    ids = [new_id() for _ in range(100_000)]  # the uuid6 package's uuid7 would be ~100 s ahead by now
    after = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
    assert before - 1 <= _ms(ids[0]) and _ms(ids[-1]) <= after + 1


def test_ids_made_on_many_threads_are_all_distinct():
    out: list[list[uuid.UUID]] = [[] for _ in range(8)]

    def make(i: int) -> None:
        out[i].extend(new_id() for _ in range(5_000))

    threads = [threading.Thread(target=make, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({u for ids in out for u in ids}) == 40_000


def test_a_forked_child_does_not_repeat_its_parents_random_bits():
    new_id()  # the parent's buffer is filled
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report its next id's random part
        os.close(r)
        os.write(w, str(new_id().int & ((1 << 62) - 1)).encode())
        os._exit(0)
    os.close(w)
    child = int(os.read(r, 100).decode())
    os.close(r)
    os.waitpid(pid, 0)
    assert child != new_id().int & ((1 << 62) - 1)


def test_a_back_dated_id_carries_the_given_moment():
    moment = dt.datetime(2025, 2, 3, 4, 5, 6, 789000, tzinfo=dt.UTC)
    u = id_at(moment)
    assert u.version == 7 and _ms(u) == int(moment.timestamp() * 1000)


def test_an_id_derived_from_a_token_is_the_same_every_time_and_keeps_the_tokens_time():
    token = str(new_id())
    a = derived_id(token, "visit:worker-1")
    assert a == derived_id(token, "visit:worker-1")  # the same submission: the same record
    assert a.version == 7 and a.variant == uuid.RFC_4122 and _ms(a) == _ms(uuid.UUID(token))  # still sorts by time
    others = {derived_id(token, "visit:worker-2"), derived_id(str(new_id()), "visit:worker-1"), a, uuid.UUID(token)}
    assert len(others) == 4  # another recorder, another token — and never the token itself
    assert derived_id("not-a-uuid", "x") == derived_id("not-a-uuid", "x") != derived_id("not-a-uuid", "y")
