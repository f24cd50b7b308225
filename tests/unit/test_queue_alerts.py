"""The shared alert rules (motip.alerts): regression, forgetting, non-finite."""

from __future__ import annotations

import math

from motip.alerts import forgetting_alerts, nonfinite_alerts, regression_alerts, stage_alerts


def metrics(hota: float, idf1: float, ped: float | None = None, veh: float | None = None) -> dict:
    per_class = {}
    if ped is not None:
        per_class["pedestrian"] = {"HOTA": ped}
    if veh is not None:
        per_class["vehicle"] = {"HOTA": veh}
    return {"HOTA": hota, "IDF1": idf1, "per_class": per_class}


def test_no_previous_stage_means_no_regression() -> None:
    assert regression_alerts(metrics(20.0, 20.0), None) == []


def test_drop_into_the_40s_is_a_regression() -> None:
    alerts = regression_alerts(metrics(48.0, 56.0), metrics(55.0, 57.0))
    assert [a.metric for a in alerts] == ["HOTA"]
    assert "48.0" in alerts[0].message and alerts[0].kind == "regression"


def test_drop_by_more_than_margin_is_a_regression_and_within_margin_is_not() -> None:
    assert regression_alerts(metrics(30.0, 30.0), metrics(31.5, 31.0), margin=2.0) == []
    alerts = regression_alerts(metrics(30.0, 30.0), metrics(33.0, 30.0), margin=2.0)
    assert [a.metric for a in alerts] == ["HOTA"]
    assert alerts[0].reference == 33.0


def test_staying_below_floor_without_dropping_is_not_a_regression() -> None:
    # Both stages in the 40s and no drop beyond the margin: nothing new went wrong.
    assert regression_alerts(metrics(45.0, 45.0), metrics(44.0, 44.0)) == []


def test_forgetting_per_class() -> None:
    before = metrics(50.0, 50.0, ped=60.0, veh=40.0)
    now = metrics(51.0, 51.0, ped=52.0, veh=50.0)  # overall up, pedestrian down 8 points
    alerts = forgetting_alerts(now, before, margin=2.0)
    assert [a.metric for a in alerts] == ["pedestrian.HOTA"]
    assert "pedestrian" in alerts[0].message
    assert forgetting_alerts(now, None) == []


def test_nonfinite_loss_and_grad_streaks() -> None:
    rows = [{"epoch": 1, "step": i, "loss": 1.0, "grad_norm": 2.0} for i in range(5)]
    assert nonfinite_alerts(rows) == []
    one_inf = rows[:2] + [{"epoch": 1, "step": 2, "loss": 1.0, "grad_norm": math.inf}] + rows[3:]
    assert nonfinite_alerts(one_inf) == []  # a single skipped AMP step is not a divergence
    streak = [{"epoch": 1, "step": i, "loss": 1.0, "grad_norm": math.nan} for i in range(3)]
    assert [a.metric for a in nonfinite_alerts(rows + streak)] == ["grad_norm"]
    nan_loss = rows + [{"epoch": 2, "step": 1, "loss": math.nan, "grad_norm": 1.0}]
    assert [a.metric for a in nonfinite_alerts(nan_loss)] == ["loss"]


def test_stage_alerts_combines_rules() -> None:
    before = metrics(60.0, 60.0, ped=60.0)
    now = metrics(45.0, 58.5, ped=45.0)
    kinds = sorted(a.kind for a in stage_alerts(now, before))
    assert kinds == ["forgetting", "regression"]
    assert all(isinstance(a.to_dict()["message"], str) for a in stage_alerts(now, before))
