"""The floor of a keyword-only recall (the prompt hook's): three shared informative words."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from rb_mcp.loop.bank import Bank
from rb_mcp.loop.wording import shares_enough
from tests.conftest import good_item


def test_shared_words_decide() -> None:
    lesson = "Guard the CSV dialect sniffer against empty samples: sniffing an empty upload raises."
    assert shares_enough("The CSV importer crashes when the uploaded sample is empty", lesson)
    assert not shares_enough("How do I refund one item of an order that was returned?", lesson)
    assert not shares_enough("the and of", lesson)  # nothing informative asked, nothing shared
    # A task of fewer informative words than the floor needs all of them.
    assert shares_enough("sniffer crashes", "the sniffer crashes on empty input")


@given(st.text(max_size=300), st.lists(st.text(max_size=300), max_size=3))
def test_never_fails_on_any_text(task: str, texts: list[str]) -> None:
    assert shares_enough(task, *texts) in (True, False)


def test_keyword_recall_adds_nothing_that_only_shares_a_word(bank: Bank) -> None:
    bank.record(
        task="CSV import crashes on an empty upload", summary="s", outcome="success", project="acme/app",
        items=[good_item(1, title="Guard the CSV dialect sniffer against empty samples",
                         description="Sniffing the delimiter of an empty sample raises an error.",
                         content="Check for an empty sample before calling the dialect sniffer and fall back "
                                 "to the default comma dialect, so an empty CSV upload imports nothing.")],
    )  # fmt: skip
    related = bank.recall("The CSV upload crashes when the file is empty", "acme/app", vectors=False)
    foreign = bank.recall("Which shipping carrier handles an empty parcel return?", "acme/app", vectors=False)
    assert [h.title for h in related.items] == ["Guard the CSV dialect sniffer against empty samples"]
    assert foreign.items == [] and foreign.episodes == []
    # The hybrid recall keeps its cosine floor and is not changed by this one.
    assert bank.recall("The CSV upload crashes when the file is empty", "acme/app").items
