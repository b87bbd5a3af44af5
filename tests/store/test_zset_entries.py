"""The sorted set's chunked entries against a plain sorted list, over random adds, removals, slices and deletions.

CHUNK is made small so that the chunks split and merge many times in every run.
"""
from __future__ import annotations

import bisect
import math
import random

import pytest

from inferd.commands._fastpath import zset_add, zset_pop  # built by make test
from inferd.store import zset
from inferd.store.zset import TOP, Entries, ZSet


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(zset, "CHUNK", 16)


def _check(entries: Entries, model: list[tuple[float, bytes]], rng: random.Random) -> None:
    assert len(entries) == len(model)
    assert list(entries) == model
    assert all(chunk for chunk in entries.chunks)
    assert entries.lasts == [chunk[-1] for chunk in entries.chunks]
    assert [list(scores) for scores in entries.chunk_scores] == [[e[0] for e in chunk] for chunk in entries.chunks]
    assert all(len(chunk) <= 2 * zset.CHUNK for chunk in entries.chunks)
    assert len(entries.chunks) < 2 or all(len(chunk) >= zset.CHUNK // 4 for chunk in entries.chunks)
    n = len(model)
    for _ in range(5):
        start, stop = rng.randint(-2, n + 2), rng.randint(-2, n + 2)
        assert entries[start:stop] == model[start:stop]
        if n:
            i = rng.randrange(-n, n)
            assert entries[i] == model[i]
            assert entries.bisect_left(model[i]) == i % n and entries.bisect_right(model[i]) == i % n + 1
        probe = (float(rng.randint(0, 20)), rng.choice([b"", b"m3", b"m30", TOP]))
        if probe[1] is TOP:
            expected = bisect.bisect_left(model, (probe[0] + 0.5,))   # (s, TOP) sorts after every entry of score s
            assert entries.bisect_left(probe) == entries.bisect_right(probe) == expected
        else:
            assert entries.bisect_left(probe) == bisect.bisect_left(model, probe)
            assert entries.bisect_right(probe) == bisect.bisect_right(model, probe)
            assert entries.bisect_left(probe[:1]) == bisect.bisect_left(model, probe[:1])
    with pytest.raises(IndexError):
        entries[n]


@pytest.mark.parametrize("seed", range(6))
def test_entries_behave_as_a_sorted_list(small_chunks, seed):
    rng = random.Random(seed)
    entries, model = Entries(), []
    present: set[tuple[float, bytes]] = set()
    for step in range(1500):
        roll = rng.random()
        if roll < 0.55 or not model:
            entry = (float(rng.randint(0, 20)), b"m%d" % rng.randint(0, 300))
            if entry in present:
                continue
            entries.add(entry)
            bisect.insort(model, entry)
            present.add(entry)
        elif roll < 0.8:
            entry = rng.choice(model)
            entries.remove(entry)
            model.remove(entry)
            present.discard(entry)
        elif roll < 0.9:
            count, last = rng.randint(0, 40), rng.random() < 0.5
            expected = model[::-1][:count] if last else model[:count]
            assert entries.take(count, last) == expected
            for entry in expected:
                model.remove(entry)
                present.discard(entry)
        else:
            start = rng.randint(-3, len(model))
            stop = start + rng.randint(0, 40)
            del entries[start:stop]
            for entry in model[start:stop]:
                present.discard(entry)
            del model[start:stop]
        if step % 25 == 0:
            _check(entries, model, rng)
    _check(entries, model, rng)
    copy = entries.copy()
    if model:
        copy.remove(model[0])
    assert list(entries) == model   # the copy shares no chunk


def test_entries_built_from_sorted_entries(small_chunks):
    model = sorted((float(i % 7), b"m%d" % i) for i in range(97))
    entries = Entries(model)
    assert len(entries.chunks) == 6   # the last chunk of 1 joined to the one before
    _check(entries, model, random.Random(1))


def test_a_large_zset_ranks_ranges_and_pops_in_order():
    rng = random.Random(7)
    zs = ZSet()
    scores = {}
    for _ in range(5000):
        member, score = b"e%d" % rng.randrange(4000), float(rng.randrange(1000))
        zs.add(member, score)
        scores[member] = score
    order = sorted((score, member) for member, score in scores.items())
    assert list(zs) == order and len(zs.items.chunks) > 2
    for member in rng.sample(sorted(scores), 50):
        assert zs.rank(member) == order.index((scores[member], member))
    low, high = 100.0, 250.0
    start, stop = zs.score_bounds(low, True, high, False)
    assert zs.items[start:stop] == [e for e in order if low < e[0] <= high]
    assert zs.pop(10, highest=True) == order[::-1][:10]
    assert zs.pop(10, highest=False) == order[:10]
    assert list(zs) == order[10:-10]


def test_deleting_a_span_joins_the_small_chunks_it_leaves(small_chunks):
    model = [(float(i), b"m") for i in range(48)]
    for start, stop in ((10, 47), (1, 40), (3, 29), (0, 47), (16, 48)):
        entries = Entries(model)
        assert [len(chunk) for chunk in entries.chunks] == [16, 16, 16]
        del entries[start:stop]
        _check(entries, model[:start] + model[stop:], random.Random(start))


def test_taking_from_either_end_joins_the_small_chunk_it_leaves(small_chunks):
    model = [(float(i), b"m") for i in range(48)]
    for count, last in ((14, False), (14, True), (16, False), (33, True), (48, False), (60, True)):
        entries = Entries(model)
        taken = entries.take(count, last)
        assert taken == (model[::-1][:count] if last else model[:count])
        rest = model[:-count] if last and count < 48 else model[count:] if not last else []
        _check(entries, rest, random.Random(count))


@pytest.mark.parametrize("seed", range(4))
def test_compiled_zadd_changes_the_entries_as_zset_add_does(small_chunks, seed):
    """ZADD's compiled insertion (the fast path's) against ZSet.add, the chunks compared after every change."""
    rng = random.Random(seed)
    compiled, python = ZSet(), ZSet()
    scores = [-0.0, 0.0, 1.5, -2.0, 1e300, -1e-300] + [float(i) for i in range(12)]
    for step in range(2500):
        roll = rng.random()
        member = b"m%d" % rng.randint(0, 250) + b"\x00" * rng.randint(0, 1)   # members that are prefixes of others
        if roll < 0.7:
            score = rng.choice(scores)
            assert zset_add(compiled, member, score) is python.add(member, score)
        elif roll < 0.9:
            assert compiled.remove(member) == python.remove(member)
        elif roll < 0.95 or not python.scores:
            count, highest = rng.randint(0, 30), rng.random() < 0.5
            assert compiled.pop(count, highest) == python.pop(count, highest)
        else:   # ZPOPMIN's and ZPOPMAX's compiled take of one entry
            highest = rng.random() < 0.5
            assert [zset_pop(compiled, highest)] == python.pop(1, highest)
        assert compiled.scores == python.scores
        assert math.copysign(1, compiled.scores.get(member, 1)) == math.copysign(1, python.scores.get(member, 1))
        assert compiled.items.chunks == python.items.chunks and compiled.items.lasts == python.items.lasts
        assert compiled.items.chunk_scores == python.items.chunk_scores
        assert compiled.items.length == python.items.length
        if step % 50 == 0:
            _check(compiled.items, list(python.items), rng)
            assert compiled.rank(member) == python.rank(member)   # the positions summed again after a change


def test_compiled_zadd_moving_members_out_of_a_chunk_joins_it(small_chunks):
    compiled, python = ZSet(), ZSet()
    model = [(float(i), b"m%02d" % i) for i in range(48)]
    for zs in (compiled, python):
        zs.items, zs.scores = Entries(model), {member: score for score, member in model}
    assert [len(chunk) for chunk in compiled.items.chunks] == [16, 16, 16]
    for i in range(16, 32):   # the middle chunk's members moved past the end, one by one
        zset_add(compiled, b"m%02d" % i, 100.0 + i)
        python.add(b"m%02d" % i, 100.0 + i)
        assert compiled.items.chunks == python.items.chunks and compiled.items.lasts == python.items.lasts
        _check(compiled.items, list(python.items), random.Random(i))
    assert [len(chunk) for chunk in compiled.items.chunks] == [16, 32]   # the middle one joined the last at 3


@pytest.mark.parametrize("highest", [False, True])
def test_compiled_pops_empty_a_set_of_many_chunks_as_zset_pop_does(small_chunks, highest):
    """One entry at a time from one end (the end chunk joins its neighbour below a quarter of CHUNK), then from both
    ends in turn, until the set is empty: the chunks compared with ZSet.pop's after every take."""
    compiled, python = ZSet(), ZSet()
    for i in range(100):
        for zs in (compiled, python):
            zs.add(b"m%03d" % i, float(i % 7))
    assert len(compiled.items.chunks) > 4
    for step in range(100):
        end = highest if step < 50 else step % 2 == 1
        assert [zset_pop(compiled, end)] == python.pop(1, end)
        assert compiled.items.chunks == python.items.chunks and compiled.items.lasts == python.items.lasts
        assert compiled.scores == python.scores and compiled.items.length == python.items.length
        _check(compiled.items, list(python.items), random.Random(step))
    assert not compiled.scores and not compiled.items.chunks
    with pytest.raises(ValueError, match="empty"):
        zset_pop(compiled, highest)


def test_compiled_zadd_refuses_what_it_cannot_read():
    zs = ZSet()
    for bad in ((zs, "m", 1.0), (zs, b"m", 1), (zs, b"m")):
        with pytest.raises(TypeError):
            zset_add(*bad)
    assert not zs.scores and not zs.items.chunks
    for bad in ((zs,), (zs, 1), (zs, None)):
        with pytest.raises(TypeError):
            zset_pop(*bad)


def test_compiled_zadd_refuses_chunk_scores_that_disagree_with_the_chunks(small_chunks):
    zs = ZSet()
    for i in range(40):
        zset_add(zs, b"m%02d" % i, float(i))
    del zs.items.chunk_scores[1][0]   # one score short: the bisection cannot trust them
    with pytest.raises(SystemError, match="chunk scores"):
        zset_add(zs, b"m20", 100.0)
    zs.items.chunk_scores.pop()       # one chunk's scores missing
    with pytest.raises(SystemError, match="not lists of chunks"):
        zset_add(zs, b"m01", 100.0)
    with pytest.raises(SystemError, match="not lists of chunks"):
        zset_pop(zs, True)

