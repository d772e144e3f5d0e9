"""What the review page (rb-mcp ui) asks of a bank, as a mixin of `Bank`: each method hands over to
rb_mcp.loop.review (or rb_mcp.loop.effect for the effect of memory)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rb_mcp.loop import effect, review
from rb_mcp.models import EffectReport, Kind, Outcome, RecallResult, RecordResult, Trajectory

if TYPE_CHECKING:
    from rb_mcp.store import Store


class ReviewApi:
    """The review page's Bank methods (mixed into `rb_mcp.loop.bank.Bank`)."""

    store: Store

    # ---- the review page (rb-mcp ui; rb_mcp.loop.review) and the effect of memory (rb_mcp.loop.effect) ----
    def browse(
        self,
        text: str = "",
        project: str | None = None,
        kind: Kind | None = None,
        status: review.Status = "active",
        sort: review.Sort = "recent",
        page: int = 1,
    ) -> review.Listing:
        """A page of items found by their words, filtered by project, kind and status, sorted."""
        return review.browse(self, text, project, kind, status, sort, page)

    def preview_recall(
        self, task: str, project: str | None = None, k: int | None = None, kinds: Sequence[Kind] | None = None
    ) -> RecallResult:
        """The recall an agent would get for `task`, with scores and why each matched; not logged."""
        return review.preview(self, task, project, k, kinds)

    def scopes(self) -> list[tuple[str, int]]:
        """(scope, items) of every scope the caller may see, the fullest first."""
        return self.store.item_scopes()

    def item_page(self, item_id: int) -> review.ItemPage | None:
        """An item with its history, merges, source trajectories and recalls; None when not visible."""
        return review.item_page(self, item_id)

    def edit_item(
        self, item_id: int, title: str, description: str, content: str, kind: Kind, seen: str
    ) -> bool:
        """A person's wording for an item (redacted, gated, re-embedded; old wording kept in history)."""
        return review.edit(self, item_id, title, description, content, kind, seen)

    def restore_item(self, item_id: int) -> None:
        """Make an archived or merged item active again (refused with the reason when it is active;
        `restore` takes many ids and returns those it could not restore)."""
        review.restore(self, item_id)

    def merge_items(self, gone: int, keep: int) -> None:
        """Merge item `gone` into item `keep` (a person's consolidation)."""
        review.merge(self, gone, keep)

    def inbox(self, page: int = 1) -> review.Listing:
        """Items added or changed since a person last reviewed them (held ones first)."""
        return review.inbox(self, page)

    def review_counts(self) -> dict[str, int]:
        """How many items wait in the review inbox, and how many trajectories for a verdict or items."""
        return {"inbox": self.store.inbox_count(), "pending": self.store.pending_count()}

    def approve(self, seen: Sequence[tuple[int, str]]) -> list[int]:
        """Approve items as shown, (id, updated_at) each; held ones enter recall. The ids approved."""
        return review.approve(self, seen)

    def pending(self, page: int = 1) -> tuple[list[Trajectory], int]:
        """Trajectories waiting for a verdict or for items, oldest first, and how many wait."""
        return review.pending(self, page)

    def trajectory_page(self, trajectory_id: int) -> review.TrajectoryPage | None:
        """A trajectory the caller may see, with the items distilled from it; or None."""
        return review.trajectory(self, trajectory_id)

    def judge(
        self,
        trajectory_id: int,
        outcome: Outcome | None,
        rationale: str = "",
        items: Sequence[dict[str, Any]] = (),
        none_learned: bool = False,
    ) -> RecordResult:
        """A person's verdict and lessons for a pending trajectory (all gated first, then `record`)."""
        return review.judge(self, trajectory_id, outcome, rationale, items, none_learned)

    def dismiss(self, trajectory_id: int) -> None:
        """Take a pending trajectory out of the queue without a verdict or lessons."""
        review.dismiss(self, trajectory_id)

    def effect(self, project: str | None = None) -> EffectReport:
        """Success rates after memory, under control and without, with intervals (`loop.effect`)."""
        return effect.effect_stats(self, project)
