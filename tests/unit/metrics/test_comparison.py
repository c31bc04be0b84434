"""How a prediction is compared with its label (docs/monitoring.md, "The comparison rule")."""

from __future__ import annotations

import math
from typing import Any

import pytest

from cirrus_core.metrics.comparison import NotComparable, compare, prediction_rows, same_class


@pytest.mark.parametrize(
    ("predicted", "label"),
    [(1, 1.0), (1, "1"), ("1.50", 1.5), (True, 1), (False, 0), ("fraud", "fraud"), (0.1 + 0.2, 0.3)],
)
def test_values_that_are_the_same_class(predicted: Any, label: Any) -> None:
    assert same_class(predicted, label)


@pytest.mark.parametrize(("predicted", "label"), [(1, 2), ("Fraud", "fraud"), ("1", "one"), (1, "true")])
def test_values_that_are_different_classes(predicted: Any, label: Any) -> None:
    assert not same_class(predicted, label)


def test_the_recipes_answer_is_read_by_its_predictions() -> None:
    answer = {"predictions": [1, 0], "probabilities": [[0.2, 0.8], [0.9, 0.1]], "classes": [0, 1]}

    assert prediction_rows(answer) == [1, 0]


def test_a_probability_vector_is_read_by_its_arg_max_and_a_label_dict_by_its_best_label() -> None:
    assert prediction_rows([[0.1, 0.7, 0.2]]) == [1]
    assert prediction_rows({"cat": 0.2, "dog": 0.8}) == ["dog"]
    assert prediction_rows([{"cat": 0.9, "dog": 0.1}]) == ["cat"]


def test_csv_answers_are_read_by_the_first_field_of_each_line() -> None:
    assert prediction_rows("1,0.2,0.8\n0,0.9,0.1\n") == [1.0, 0.0]


def test_a_multi_row_prediction_counts_each_row_against_its_label() -> None:
    comparison = compare({"predictions": [1, 0, 1]}, [1, 1, 1])

    assert (comparison.count, comparison.correct) == (3, 2)


def test_numeric_predictions_feed_the_regression_errors() -> None:
    comparison = compare([6.0, 11.5], [5.0, 12.0])

    assert comparison.numeric_count == 2
    assert comparison.abs_error == pytest.approx(1.5)
    assert math.sqrt(comparison.squared_error / 2) == pytest.approx(math.sqrt((1 + 0.25) / 2))


def test_text_labels_do_not_feed_the_regression_errors() -> None:
    assert compare("fraud", "fraud").numeric_count == 0


@pytest.mark.parametrize(
    ("prediction", "label"),
    [([1, 0], 1), ([1, 0], [1, 0, 1]), (1, [1, 0]), ([], 1), ({"a": "x"}, "a"), ([[1, "x"]], 1)],
)
def test_labels_that_do_not_fit_the_predictions_rows_are_not_comparable(prediction: Any, label: Any) -> None:
    with pytest.raises(NotComparable):
        compare(prediction, label)
