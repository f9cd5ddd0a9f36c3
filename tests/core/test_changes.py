"""Change records merge, say whether they hold anything, and say which shots they touch."""

from studio.core.changes import NOTHING, Changes


def test_records_merge_and_an_empty_one_is_false():
    assert not NOTHING and not Changes.of()
    merged = Changes.of(shots=["a"], frames=["f1"]) | Changes.of(shots=["b"]) | None
    assert merged.shots == {"a", "b"} and merged.frames == {"f1"}
    assert Changes(order=True) and (NOTHING | Changes(order=True)).order
    assert (Changes(everything=True) | NOTHING).everything


def test_a_record_touches_its_shots_and_those_seen_with_its_personas():
    record = Changes.of(shots=["a"], personas=["ada"])
    assert record.touches("a")
    assert record.touches("b", ["nova", "ada"]) and not record.touches("b", ["nova"])
    assert not Changes(order=True).touches("a")  # a move reads no shot again
    assert Changes(everything=True).touches("z")
