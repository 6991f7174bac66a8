"""API payloads -> the activity outputs recorded in workflow history.

Why a separate step: the client's models carry everything the server sends (and may grow); the views
carry only what a workflow decides on, so history stays small and holds no secret by construction.
"""

from __future__ import annotations

from activities.models import (
    BalanceView,
    DeliveriesView,
    DeliveryView,
    GeneratedPostView,
    MediaView,
    SourceView,
    SyncJobView,
)
from reelmirror.models import Balance, GeneratedPost, OutgoingPost, Source, SyncJob

__all__ = ["balance_view", "deliveries_view", "post_view", "source_view", "sync_job_view"]

#: Generated-post statuses after which media will not change any more (besides "ready").
POST_SETTLED = frozenset({"failed", "publishing", "published", "rejected", "composing"})


def balance_view(balance: Balance) -> BalanceView:
    return BalanceView(
        balance_cents=balance.balance_cents or 0,
        auto_reload=bool(balance.auto_reload),
        reload_threshold_cents=balance.reload_threshold_cents,
        reload_amount_cents=balance.reload_amount_cents,
        has_payment_method=bool(balance.has_payment_method),
    )


def source_view(source: Source, *, created: bool = False, mode_changed: bool = False) -> SourceView:
    return SourceView(
        id=source.id,
        platform=source.platform or "",
        username=source.username or "",
        automation_mode=source.automation_mode or "",
        created=created,
        mode_changed=mode_changed,
    )


def sync_job_view(job: SyncJob) -> SyncJobView:
    return SyncJobView(
        id=job.id or "", status=job.status, source_id=job.source_id, new_posts=job.new_posts, error=job.error
    )


def post_view(post: GeneratedPost) -> GeneratedPostView:
    """`failed` is set when the post can never become ready: a media item failed, or the server says so."""
    return GeneratedPostView(
        id=post.id or "",
        status=post.status or "unknown",
        source_post_id=post.source_post_id,
        caption=post.caption,
        media=[MediaView(id=m.id or "", type=m.type or "", status=m.status, url=m.url) for m in post.media_items],
        outgoing_post_id=post.outgoing_post_id,
        failed=post.any_media_failed or post.status == "failed",
    )


def deliveries_view(post: OutgoingPost) -> DeliveriesView:
    return DeliveriesView(
        outgoing_post_id=post.id or "",
        deliveries=[
            DeliveryView(
                id=d.id or "",
                connected_account_id=d.connected_account_id,
                platform=d.platform,
                status=d.status,
                error=d.error,
            )
            for d in post.deliveries
        ],
    )
