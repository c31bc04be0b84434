"""Point-in-time correct training sets: as-of joins that never use a value from after the label's time."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cirrus_frames.point_in_time import (
    FeatureSource,
    _sorted_by_key,
    as_of_join,
    point_in_time_training_set,
)


def ts(text: str, tz: str | None = None) -> pd.Timestamp:
    return pd.Timestamp(text, tz=tz)


def join(labels: pd.DataFrame, features: pd.DataFrame, **options: Any) -> pd.DataFrame:
    """as_of_join with this file's usual column names."""
    arguments: dict[str, Any] = {"entity_key": "user_id", "label_time": "ts", "feature_time": "event_time"}
    return as_of_join(labels, features, **(arguments | options))


def spend_at(feature_rows: list[tuple[str, str, float]], label_rows: list[tuple[str, str]]) -> list[float]:
    """The `spend` joined onto each label row (NaN where none is known)."""
    features = pd.DataFrame(feature_rows, columns=["user_id", "event_time", "spend"])
    features["event_time"] = pd.to_datetime(features["event_time"])
    labels = pd.DataFrame(label_rows, columns=["user_id", "ts"])
    labels["ts"] = pd.to_datetime(labels["ts"])
    return list(join(labels, features)["spend"])


# The hand-checked example -------------------------------------------------------------------------


def test_a_hand_checked_example_returns_exactly_the_expected_rows_with_no_leakage() -> None:
    # GIVEN feature rows for u1 (three, one out of time order in the input) and u2 (one)
    features = pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u2", "u1"],
            "event_time": [
                ts("2024-01-01 10:00"),
                ts("2024-01-03 10:00"),
                ts("2024-01-02 00:00"),
                ts("2024-01-02 12:00"),
            ],
            "spend": [10.0, 30.0, 5.0, 20.0],
            "country": ["FR", "FR", "DE", "ES"],
        }
    )
    # AND labels before, exactly at, between and after those rows, and one for an unknown user
    labels = pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u1", "u2", "u3", "u1", "u2"],
            "ts": [
                ts("2024-01-01 09:00"),  # before u1's first row
                ts("2024-01-01 10:00"),  # exactly at u1's first row
                ts("2024-01-02 23:00"),  # after the 12:00 row, before the 3rd's
                ts("2024-01-05 00:00"),  # after u2's only row
                ts("2024-01-05 00:00"),  # u3 has no features at all
                ts("2024-01-10 00:00"),  # after u1's last row
                ts("2024-01-01 23:59"),  # one minute before u2's only row
            ],
            "label": [0, 1, 0, 1, 1, 0, 1],
        }
    )

    # WHEN joining
    result = join(labels, features)

    # THEN each label row carries the latest values known at its time, and nothing later
    expected = pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u1", "u2", "u3", "u1", "u2"],
            "ts": labels["ts"],
            "label": [0, 1, 0, 1, 1, 0, 1],
            "spend": [np.nan, 10.0, 20.0, 5.0, np.nan, 30.0, np.nan],
            "country": [None, "FR", "ES", "DE", None, "FR", None],
        }
    )
    expected["country"] = expected["country"].astype(features["country"].dtype)
    pd.testing.assert_frame_equal(result, expected)


def test_no_joined_value_comes_from_after_its_label_time() -> None:
    # GIVEN random labels and features, the feature time carried along as a feature column
    labels, features = random_frames(seed=7, rows=3000)

    # WHEN joining, keeping the feature row's own time under a prefix
    result = as_of_join(
        labels,
        features,
        entity_key="entity",
        label_time="label_time",
        feature_time="event_time",
        feature_columns=["event_time", "x"],
        prefix="f_",
    )

    # THEN every matched row's time is at or before its label's time
    matched = result["f_event_time"].notna()
    assert matched.sum() > 1000
    assert (result.loc[matched, "f_event_time"] <= result.loc[matched, "label_time"]).all()


# Semantics ------------------------------------------------------------------------------------------


def test_a_feature_row_stamped_exactly_at_the_label_time_counts_as_known() -> None:
    spend = spend_at([("u1", "2024-01-01 10:00", 1.0)], [("u1", "2024-01-01 10:00")])

    assert spend == [1.0]


def test_a_feature_row_one_nanosecond_after_the_label_time_is_not_used() -> None:
    features = pd.DataFrame(
        {"user_id": ["u1"], "event_time": [ts("2024-01-01 10:00") + pd.Timedelta(1, "ns")], "spend": [1.0]}
    )
    labels = pd.DataFrame({"user_id": ["u1"], "ts": [ts("2024-01-01 10:00")]})

    assert join(labels, features)["spend"].isna().all()


def test_feature_rows_with_the_same_timestamp_resolve_to_the_last_one_in_input_order() -> None:
    spend = spend_at(
        [
            ("u1", "2024-01-01", 1.0),
            ("u1", "2024-01-02", 2.0),
            ("u1", "2024-01-02", 3.0),
            ("u2", "2024-01-02", 9.0),
        ],
        [("u1", "2024-01-03"), ("u1", "2024-01-02")],
    )

    assert spend == [3.0, 3.0]


def test_a_missing_value_in_the_latest_row_stays_missing_rather_than_falling_back() -> None:
    spend = spend_at([("u1", "2024-01-01", 1.0), ("u1", "2024-01-02", np.nan)], [("u1", "2024-01-03")])

    assert np.isnan(spend[0])


def test_max_age_keeps_a_row_exactly_that_old_and_drops_an_older_one() -> None:
    features = pd.DataFrame(
        {"user_id": ["u1", "u2"], "event_time": [ts("2024-01-01"), ts("2024-01-01")], "spend": [1.0, 2.0]}
    )
    labels = pd.DataFrame(
        {"user_id": ["u1", "u2"], "ts": [ts("2024-01-08"), ts("2024-01-08") + pd.Timedelta(1, "us")]}
    )

    result = join(labels, features, max_age=timedelta(days=7))

    assert result["spend"].tolist()[0] == 1.0
    assert np.isnan(result["spend"].tolist()[1])


def test_max_age_does_not_fall_back_to_an_even_older_row() -> None:
    features = pd.DataFrame(
        {"user_id": ["u1", "u1"], "event_time": [ts("2024-01-01"), ts("2024-01-05")], "spend": [1.0, 2.0]}
    )
    labels = pd.DataFrame({"user_id": ["u1"], "ts": [ts("2024-01-10")]})

    assert join(labels, features, max_age=pd.Timedelta(days=2))["spend"].isna().all()


def test_an_unknown_entity_gets_missing_features_and_keeps_its_row() -> None:
    spend = spend_at([("u1", "2024-01-01", 1.0)], [("nobody", "2024-01-02"), ("u1", "2024-01-02")])

    assert np.isnan(spend[0])
    assert spend[1] == 1.0


def test_labels_keep_their_order_index_columns_and_dtypes() -> None:
    # GIVEN labels in no particular time order, with their own index and dtypes
    labels = pd.DataFrame(
        {
            "user_id": ["b", "a", "b", "a"],
            "ts": pd.to_datetime(["2024-03-01", "2024-01-01", "2024-01-15", "2024-02-01"]),
            "weight": np.array([1, 2, 3, 4], dtype=np.int16),
        },
        index=pd.Index([40, 10, 30, 20], name="row"),
    )
    before = labels.copy()
    features = pd.DataFrame(
        {"user_id": ["a", "b"], "event_time": pd.to_datetime(["2024-01-10", "2024-01-10"]), "v": [1.0, 2.0]}
    )

    # WHEN joining
    result = join(labels, features)

    # THEN the label part is the labels as they were, and the input was not modified
    pd.testing.assert_frame_equal(result[list(labels.columns)], before)
    pd.testing.assert_frame_equal(labels, before)
    # AND each row got its own features: b 2024-03-01, a 2024-01-01 (before a's row), b, a
    v = result["v"].tolist()
    assert [v[0], v[2], v[3]] == [2.0, 2.0, 1.0]
    assert np.isnan(v[1])


def test_integer_features_keep_their_dtype_when_every_label_matches_and_become_float_otherwise() -> None:
    features = pd.DataFrame({"user_id": ["u1"], "event_time": [ts("2024-01-01")], "n": [7]})

    all_matched = join(pd.DataFrame({"user_id": ["u1"], "ts": [ts("2024-01-02")]}), features)
    one_missing = join(pd.DataFrame({"user_id": ["u1", "u2"], "ts": [ts("2024-01-02")] * 2}), features)

    assert all_matched["n"].dtype == np.int64
    assert one_missing["n"].dtype == np.float64


def test_feature_rows_without_an_entity_or_a_time_are_ignored() -> None:
    features = pd.DataFrame(
        {
            "user_id": ["u1", None, "u1"],
            "event_time": [ts("2024-01-01"), ts("2024-01-02"), pd.NaT],
            "spend": [1.0, 2.0, 3.0],
        }
    )
    labels = pd.DataFrame({"user_id": ["u1", None, "u1"], "ts": [ts("2024-01-03"), ts("2024-01-03"), pd.NaT]})

    spend = join(labels, features)["spend"].tolist()

    assert spend[0] == 1.0
    assert np.isnan(spend[1])
    assert np.isnan(spend[2])


def test_no_feature_rows_at_all_gives_missing_features() -> None:
    features = pd.DataFrame({"user_id": pd.Series([], dtype=str), "event_time": pd.to_datetime([]), "v": []})
    labels = pd.DataFrame({"user_id": ["u1"], "ts": [ts("2024-01-01")]})

    assert join(labels, features)["v"].isna().all()


def test_a_composite_entity_key_matches_on_every_column() -> None:
    features = pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u2"],
            "merchant": [1, 2, 1],
            "event_time": [ts("2024-01-01")] * 3,
            "v": [11.0, 12.0, 21.0],
        }
    )
    labels = pd.DataFrame(
        {"user_id": ["u2", "u1", "u1", "u2"], "merchant": [1, 2, 1, 2], "ts": [ts("2024-01-02")] * 4}
    )

    result = join(labels, features, entity_key=["user_id", "merchant"])

    assert result["v"].tolist()[:3] == [21.0, 12.0, 11.0]
    assert np.isnan(result["v"].tolist()[3])


# Times ------------------------------------------------------------------------------------------------


def test_timezone_aware_times_in_different_zones_compare_as_instants() -> None:
    # GIVEN a feature at 10:00 in Paris (09:00 UTC)
    features = pd.DataFrame(
        {"user_id": ["u1"], "event_time": [ts("2024-01-01 10:00", "Europe/Paris")], "spend": [1.0]}
    )
    # AND labels at 08:59 and 09:00 UTC
    labels = pd.DataFrame(
        {"user_id": ["u1", "u1"], "ts": [ts("2024-01-01 08:59", "UTC"), ts("2024-01-01 09:00", "UTC")]}
    )

    spend = join(labels, features)["spend"].tolist()

    assert np.isnan(spend[0])
    assert spend[1] == 1.0


def test_datetimes_in_different_units_are_compared_exactly() -> None:
    features = pd.DataFrame(
        {
            "user_id": ["u1"],
            "event_time": pd.Series([ts("2024-01-01 10:00:00")]).astype("datetime64[s]"),
            "v": [1.0],
        }
    )
    labels = pd.DataFrame(
        {
            "user_id": ["u1", "u1"],
            "ts": pd.Series([ts("2024-01-01 09:59:59.999999999"), ts("2024-01-01 10:00")]).astype(
                "datetime64[ns]"
            ),
        }
    )

    v = join(labels, features)["v"].tolist()

    assert np.isnan(v[0])
    assert v[1] == 1.0


def test_integer_epoch_times_join_with_an_integer_max_age() -> None:
    features = pd.DataFrame({"user_id": ["u1", "u1"], "event_time": [100, 200], "v": [1.0, 2.0]})
    labels = pd.DataFrame({"user_id": ["u1", "u1", "u1", "u1"], "ts": [99, 150, 250, 251]})

    v = join(labels, features, max_age=50)["v"].tolist()

    assert np.isnan(v[0])
    assert v[1:3] == [1.0, 2.0]
    assert np.isnan(v[3])


def test_nullable_integer_times_treat_missing_as_unknown() -> None:
    features = pd.DataFrame(
        {"user_id": ["u1", "u1"], "event_time": pd.array([100, None], dtype="Int64"), "v": [1.0, 2.0]}
    )
    labels = pd.DataFrame({"user_id": ["u1", "u1"], "ts": pd.array([300, None], dtype="Int64")})

    v = join(labels, features)["v"].tolist()

    assert v[0] == 1.0
    assert np.isnan(v[1])


# Several feature groups ---------------------------------------------------------------------------------


def test_two_feature_groups_join_on_their_own_keys_and_times_under_their_prefixes() -> None:
    # GIVEN transactions labelled by user and merchant, both groups with a feature called "score"
    labels = pd.DataFrame(
        {
            "user_id": ["u1", "u2"],
            "merchant_id": ["m1", "m1"],
            "ts": [ts("2024-01-05"), ts("2024-01-02")],
        }
    )
    users = pd.DataFrame(
        {
            "user": ["u1", "u2", "u2"],
            "updated": [ts("2024-01-01"), ts("2024-01-01"), ts("2024-01-03")],
            "score": [1.0, 2.0, 3.0],
        }
    )
    merchants = pd.DataFrame(
        {
            "merchant_id": ["m1", "m1"],
            "as_of": [ts("2024-01-01"), ts("2024-01-04")],
            "score": [0.1, 0.4],
            "tier": ["a", "b"],
        }
    )

    # WHEN building the training set from both groups
    result = point_in_time_training_set(
        labels,
        [
            FeatureSource(
                users, entity_key="user", event_time="updated", prefix="user__", label_key="user_id"
            ),
            FeatureSource(merchants, entity_key="merchant_id", event_time="as_of", prefix="merchant__"),
        ],
        label_time="ts",
    )

    # THEN each group contributes its own point-in-time values under its prefix
    assert list(result.columns) == [
        "user_id",
        "merchant_id",
        "ts",
        "user__score",
        "merchant__score",
        "merchant__tier",
    ]
    assert result["user__score"].tolist() == [1.0, 2.0]
    assert result["merchant__score"].tolist() == [0.4, 0.1]
    assert result["merchant__tier"].tolist() == ["b", "a"]


def test_each_group_applies_its_own_max_age() -> None:
    labels = pd.DataFrame({"user_id": ["u1"], "ts": [ts("2024-01-10")]})
    fresh = pd.DataFrame({"user_id": ["u1"], "event_time": [ts("2024-01-01")], "a": [1.0]})
    stale = pd.DataFrame({"user_id": ["u1"], "event_time": [ts("2024-01-01")], "b": [2.0]})

    result = point_in_time_training_set(
        labels,
        [
            FeatureSource(fresh, "user_id", "event_time"),
            FeatureSource(stale, "user_id", "event_time", max_age=timedelta(days=1)),
        ],
        label_time="ts",
    )

    assert result["a"].tolist() == [1.0]
    assert result["b"].isna().all()


# Refusals -----------------------------------------------------------------------------------------------


def test_missing_label_columns_are_refused_by_name() -> None:
    labels = pd.DataFrame({"user": ["u1"], "ts": [ts("2024-01-01")]})
    features = pd.DataFrame({"user_id": ["u1"], "event_time": [ts("2024-01-01")], "v": [1.0]})

    with pytest.raises(ValueError, match=r"labels: missing column\(s\) 'user_id'$"):
        join(labels, features)


def test_missing_feature_columns_are_refused_by_name() -> None:
    labels = pd.DataFrame({"user_id": ["u1"], "ts": [ts("2024-01-01")]})
    features = pd.DataFrame({"user_id": ["u1"], "v": [1.0]})

    with pytest.raises(ValueError, match=r"feature source 1: missing column\(s\) 'event_time', 'w'$"):
        join(labels, features, feature_columns=["v", "w"])


def test_a_missing_label_time_column_is_refused_by_name() -> None:
    labels = pd.DataFrame({"user_id": ["u1"]})
    features = pd.DataFrame({"user_id": ["u1"], "event_time": [ts("2024-01-01")], "v": [1.0]})

    with pytest.raises(ValueError, match=r"labels: missing column\(s\) 'ts'$"):
        join(labels, features)


@pytest.mark.parametrize(("label_tz", "feature_tz"), [("UTC", None), (None, "UTC")])
def test_mixing_timezone_aware_and_naive_times_is_refused(
    label_tz: str | None, feature_tz: str | None
) -> None:
    labels = pd.DataFrame({"user_id": ["u1"], "ts": [ts("2024-01-02", label_tz)]})
    features = pd.DataFrame({"user_id": ["u1"], "event_time": [ts("2024-01-01", feature_tz)], "v": [1.0]})

    with pytest.raises(ValueError, match=r"(?=.*timezone-aware)(?=.*timezone-naive)"):
        join(labels, features)


def test_mixing_datetimes_and_integer_epochs_is_refused() -> None:
    labels = pd.DataFrame({"user_id": ["u1"], "ts": [1_704_153_600]})
    features = pd.DataFrame({"user_id": ["u1"], "event_time": [ts("2024-01-01")], "v": [1.0]})

    with pytest.raises(ValueError, match="integer times but feature_time 'event_time' holds timezone-naive"):
        join(labels, features)


def test_a_time_column_of_strings_is_refused() -> None:
    labels = pd.DataFrame({"user_id": ["u1"], "ts": ["2024-01-02"]})
    features = pd.DataFrame({"user_id": ["u1"], "event_time": [ts("2024-01-01")], "v": [1.0]})

    with pytest.raises(ValueError, match=r"label_time 'ts' has dtype .*pandas\.to_datetime"):
        join(labels, features)


@pytest.mark.parametrize(
    ("times", "max_age", "message"),
    [
        ([ts("2024-01-01")], 5, "must be a timedelta"),
        ([100], timedelta(seconds=5), "must be an integer"),
        ([100], -1, "must not be negative"),
        ([ts("2024-01-01")], timedelta(days=-1), "must not be negative"),
    ],
)
def test_a_bad_max_age_is_refused(times: list[Any], max_age: Any, message: str) -> None:
    labels = pd.DataFrame({"user_id": ["u1"], "ts": times})
    features = pd.DataFrame({"user_id": ["u1"], "event_time": times, "v": [1.0]})

    with pytest.raises(ValueError, match=message):
        join(labels, features, max_age=max_age)


def test_a_feature_column_clashing_with_a_label_column_is_refused_until_prefixed() -> None:
    labels = pd.DataFrame({"user_id": ["u1"], "ts": [ts("2024-01-02")], "v": [0]})
    features = pd.DataFrame({"user_id": ["u1"], "event_time": [ts("2024-01-01")], "v": [1.0]})

    with pytest.raises(ValueError, match=r"feature column\(s\) 'v' clash .* give the source a prefix"):
        join(labels, features)
    assert join(labels, features, prefix="f_")["f_v"].tolist() == [1.0]


def test_two_groups_with_the_same_feature_name_and_no_prefix_are_refused() -> None:
    labels = pd.DataFrame({"user_id": ["u1"], "ts": [ts("2024-01-02")]})
    features = pd.DataFrame({"user_id": ["u1"], "event_time": [ts("2024-01-01")], "v": [1.0]})
    source = FeatureSource(features, "user_id", "event_time")

    with pytest.raises(ValueError, match=r"feature source 2: feature column\(s\) 'v' clash"):
        point_in_time_training_set(labels, [source, source], label_time="ts")


def test_a_training_set_without_feature_sources_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one feature source"):
        point_in_time_training_set(pd.DataFrame({"ts": [ts("2024-01-01")]}), [], label_time="ts")


# Agreement with pandas.merge_asof ---------------------------------------------------------------------------


def random_frames(seed: int, rows: int, *, integer_times: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Labels and features over a few hundred entities, some only in the labels, with many equal
    times (so exact matches and ties occur) and NaNs in the feature values."""
    rng = np.random.default_rng(seed)
    seconds = 5_000

    def times(count: int) -> Any:
        values = rng.integers(0, seconds, count)
        return values if integer_times else pd.to_datetime("2024-01-01") + pd.to_timedelta(values, unit="s")

    labels = pd.DataFrame(
        {
            "entity": rng.integers(0, 330, rows),
            "label_time": times(rows),
            "y": rng.integers(0, 2, rows),
        },
        index=rng.permutation(rows) + 1_000,
    )
    x = rng.normal(size=rows)
    x[rng.random(rows) < 0.2] = np.nan
    features = pd.DataFrame(
        {
            "entity": rng.integers(0, 300, rows),
            "event_time": times(rows),
            "x": x,
            "k": rng.integers(0, 1_000, rows),
            "tag": rng.choice(["a", "b", "c"], rows),
        }
    )
    return labels, features


def merge_asof_reference(labels: pd.DataFrame, features: pd.DataFrame, tolerance: Any = None) -> pd.DataFrame:
    """The same join by pandas: both sides sorted by time (stably, so ties keep input order), and the
    result put back in the labels' order."""
    left = labels.sort_values("label_time", kind="stable")
    right = features.sort_values("event_time", kind="stable")
    merged = pd.merge_asof(
        left,
        right,
        left_on="label_time",
        right_on="event_time",
        by="entity",
        direction="backward",
        allow_exact_matches=True,
        tolerance=tolerance,
    )
    return merged.set_axis(left.index).loc[labels.index]


@pytest.mark.parametrize(
    ("seed", "integer_times", "max_age"),
    [
        (1, False, None),
        (2, True, None),
        (3, False, timedelta(seconds=300)),
        (4, True, 300),
    ],
)
def test_agrees_with_pandas_merge_asof_on_random_data(seed: int, integer_times: bool, max_age: Any) -> None:
    labels, features = random_frames(seed, rows=4000, integer_times=integer_times)

    ours = as_of_join(
        labels,
        features,
        entity_key="entity",
        label_time="label_time",
        feature_time="event_time",
        max_age=max_age,
    )
    theirs = merge_asof_reference(labels, features, tolerance=max_age)

    assert ours.index.equals(labels.index)
    for column in ["x", "k", "tag"]:
        left = ours[column].to_numpy(dtype=object)
        right = theirs[column].to_numpy(dtype=object)
        assert pd.isna(left).tolist() == pd.isna(right).tolist(), column
        known = ~pd.isna(left)
        assert left[known].tolist() == right[known].tolist(), column
    assert ours["x"].notna().sum() > 1000


def test_extension_dtypes_are_filled_with_their_own_missing_value() -> None:
    features = pd.DataFrame(
        {
            "user_id": ["u1"],
            "event_time": [ts("2024-01-01")],
            "n": pd.array([3], dtype="Int64"),
            "seen": [ts("2023-12-31", "UTC")],
        }
    )
    labels = pd.DataFrame({"user_id": ["u1", "u2"], "ts": [ts("2024-01-02")] * 2})

    result = join(labels, features)

    assert result["n"].dtype == "Int64"
    assert result["n"].tolist() == [3, pd.NA]
    assert result["seen"].dtype == features["seen"].dtype
    assert result["seen"].isna().tolist() == [False, True]


def test_keys_too_wide_to_pack_with_their_positions_fall_back_to_a_stable_sort() -> None:
    narrow = np.array([5, 3, 5, 1, 3, 0], dtype=np.int64)
    wide = narrow * 2**59

    for keys in (narrow, wide):
        order, ordered = _sorted_by_key(keys)
        assert order.tolist() == [5, 3, 1, 4, 0, 2]
        assert ordered.tolist() == sorted(keys.tolist())
