"""What a hold-out version's metadata records about its conditions (``hold_out``)."""

from __future__ import annotations

from typing import Any

__all__ = ["hold_out_metadata"]


def hold_out_metadata(plan: Any, merged: Any) -> dict[str, Any]:
    """The ``hold_out`` entry of a version's metadata ({} for a plan without conditions).

    ``merged``: the task records added up (`gridstore.write.reduce.Merged`).
    The realised shares are those of the tasks this run generated (a grown
    version's copied tasks drew nothing): ``removed_share``, of the routed
    draws that were looked at (a unique version's repeats are not), the ones
    passed over as matching; ``heldout_acceptance``, of the heldout stream's
    draws, the ones that matched. Both estimate the share of the generator's
    images that match a condition; ``forecast_share`` is the plan's forecast.
    ``unconditioned``: the statistics the generator would have given each split
    without the conditions (`gridstore.holdout_forecast.unconditioned_statistics`),
    beside the metadata's ``statistics``, those of the images kept.
    """
    from gridstore.holdout_forecast import forecast_hold_out, unconditioned_statistics

    if not plan.hold_out:
        return {}
    looked = merged.draws - merged.skipped
    return {
        "hold_out": {
            "conditions": list(plan.hold_out),
            "heldout_images": plan.heldout_count,
            "removed_share": merged.held / looked if looked else None,
            "heldout_acceptance": (
                plan.heldout_count / merged.heldout_draws if merged.heldout_draws else None
            ),
            "draws": {
                "routed": merged.draws,
                "passed_over": merged.held,
                "heldout": merged.heldout_draws,
            },
            "forecast_share": forecast_hold_out(plan.config, plan.hold_out).share,
            "unconditioned": unconditioned_statistics(plan),
        }
    }
