"""The drift report (HTML) and Model Monitor's violations file, from hand-made drift results."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest
from cirrus_science.drift.config import DriftConfig
from cirrus_science.drift.report import (
    COMPLETENESS_MARGIN,
    ReportContext,
    feature_order,
    render_html,
    violations,
)
from cirrus_science.drift.results import (
    DriftResult,
    FeatureResult,
    Histogram,
    MethodResult,
    QualityChecks,
)

HOSTILE = "<script>alert('x')</script>"
HOSTILE_CATEGORY = '<img src=x onerror="alert(1)">'
VOID = {"meta", "br", "link", "img", "hr", "input", "col", "wbr", "source", "area", "base", "embed"}

CONTEXT = ReportContext(
    model_id="churn-<model>",
    version=7,
    environment="prod",
    run_id="run-0001",
    window_start="2024-05-01T00:00:00Z",
    window_end="2024-05-02T00:00:00Z",
    baseline_uri="s3://bucket/baselines/churn/7/baseline.json",
    generated_at="2024-05-02T00:05:00Z",
)


def _numeric_hist(current_shift: float = 0.0) -> Histogram:
    labels = ("< 10", "[10, 20)", "[20, 30)", "[30, 40)", ">= 40")
    reference = (0.2, 0.2, 0.2, 0.2, 0.2)
    current = (0.2 - current_shift, 0.2, 0.2, 0.2, 0.2 + current_shift)
    return Histogram(labels=labels, reference=reference, current=current)


def _feature(
    name: str,
    *,
    kind: str = "numeric",
    status: str = "checked",
    drifted: bool = False,
    methods: tuple[MethodResult, ...] = (),
    histogram: Histogram | None = None,
    quality: QualityChecks | None = None,
    present_rows: int = 2000,
) -> FeatureResult:
    return FeatureResult(
        name=name,
        kind=kind,  # type: ignore[arg-type]
        status=status,  # type: ignore[arg-type]
        drifted=drifted,
        methods=methods,
        histogram=histogram,
        quality=quality or QualityChecks(missing_share=0.0, reference_missing_share=0.0),
        present_rows=present_rows,
    )


def _result(*, dataset_drift: bool = True) -> DriftResult:
    age = _feature(
        "age",
        drifted=True,
        methods=(
            MethodResult("ks", 0.0004, 0.0123, "benjamini_hochberg", True, statistic=0.081),
            MethodResult("psi", 0.213, 0.031, "calibrated", True),
            MethodResult("js", 0.004, 0.02, "floor", False),
        ),
        histogram=_numeric_hist(0.1),
        quality=QualityChecks(missing_share=0.01, reference_missing_share=0.01, out_of_range_share=0.03),
    )
    region = _feature(
        "region",
        kind="categorical",
        drifted=True,
        methods=(
            MethodResult("chi_square", 1e-9, 0.025, "benjamini_hochberg", True, statistic=61.2),
            MethodResult("psi", 0.9, 0.25, "feature", True),
        ),
        histogram=Histogram(
            labels=("north", "south", "(unseen)"),
            reference=(0.5, 0.5, 0.0),
            current=(0.3, 0.5, 0.2),
        ),
        quality=QualityChecks(
            missing_share=0.0,
            reference_missing_share=0.0,
            unseen_share=0.2,
            unseen_categories=("east", "west"),
        ),
    )
    income = _feature(
        "income",
        methods=(
            MethodResult("ks", 0.4, 0.0123, "benjamini_hochberg", False, statistic=0.02),
            MethodResult("psi", 0.012, 0.031, "calibrated", False),
        ),
        histogram=_numeric_hist(0.01),
        quality=QualityChecks(missing_share=0.12, reference_missing_share=0.01, non_numeric_share=0.002),
        present_rows=1760,
    )
    zip_code = _feature(
        "zip",
        kind="categorical",
        status="missing",
        quality=QualityChecks(missing_share=1.0, reference_missing_share=0.0),
        present_rows=0,
    )
    score = _feature(
        "score",
        status="type_mismatch",
        quality=QualityChecks(missing_share=0.0, reference_missing_share=0.0, non_numeric_share=0.93),
        present_rows=2000,
    )
    hostile = _feature(
        HOSTILE,
        kind="categorical",
        methods=(
            MethodResult("chi_square", 0.3, 0.025, "benjamini_hochberg", False, statistic=1.1),
            MethodResult("psi", 0.02, 0.1, "model", False),
        ),
        histogram=Histogram(
            labels=("a", HOSTILE_CATEGORY, "(unseen)"),
            reference=(0.6, 0.4, 0.0),
            current=(0.58, 0.41, 0.01),
        ),
        quality=QualityChecks(
            missing_share=0.0,
            reference_missing_share=0.0,
            unseen_share=0.01,
            unseen_categories=(HOSTILE_CATEGORY,),
        ),
    )
    config = DriftConfig(feature_thresholds={"region": {"psi": 0.25}}, thresholds={"psi": 0.1}).to_dict()
    return DriftResult(
        rows=2000,
        features=(income, zip_code, age, score, hostile, region),
        drift_share=0.5 if dataset_drift else 0.0,
        dataset_drift=dataset_drift,
        config=config,
        calibration_window_size=2000,
        calibration_reused=False,
        extra_columns=("new_col", "<b>bold</b>"),
    )


class _Checker(HTMLParser):
    """Collects start tags, text and attributes; fails on unbalanced tags."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.errors: list[str] = []
        self.text: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend(attrs)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend(attrs)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(page: str) -> _Checker:
    checker = _Checker()
    checker.feed(page)
    checker.close()
    return checker


@pytest.fixture(scope="module")
def page() -> str:
    return render_html(_result(), CONTEXT)


def test_page_parses_with_balanced_tags(page: str) -> None:
    checker = _parse(page)
    assert checker.errors == []
    assert checker.stack == []
    assert page.startswith("<!DOCTYPE html>")
    assert checker.tags[0] == "html"


def test_page_is_self_contained(page: str) -> None:
    checker = _parse(page)
    assert not {"script", "link", "img", "iframe", "object"} & set(checker.tags)
    assert not any(name in {"src", "onerror", "onload"} for name, _ in checker.attrs)
    hrefs = [value for name, value in checker.attrs if name == "href"]
    assert hrefs
    assert all(value and value.startswith("#") for value in hrefs)
    assert "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_one_chart_per_feature_with_a_histogram(page: str) -> None:
    result = _result()
    checked = [f for f in result.features if f.status == "checked"]
    assert all(f.histogram is not None for f in checked)
    assert page.count("<svg") == len(checked) == 4
    assert page.count("</svg>") == 4
    assert page.count("Reference</text>") == 4  # a legend in every chart
    assert "Share of rows" in page


def test_hostile_text_is_escaped(page: str) -> None:
    checker = _parse(page)
    assert "script" not in checker.tags
    assert "b" not in checker.tags  # the extra column "<b>bold</b>"
    assert "<script>" not in page
    assert HOSTILE_CATEGORY not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page
    assert "churn-&lt;model&gt;" in page
    text = "".join(checker.text)
    assert HOSTILE in text  # shown to the reader as text
    assert HOSTILE_CATEGORY in text


def test_header_and_verdict(page: str) -> None:
    text = " ".join(_parse(page).text)
    for expected in (
        "Drift report: churn-<model> v7",
        "prod",
        "2024-05-01T00:00:00Z → 2024-05-02T00:00:00Z",
        "2,000",
        "run-0001",
        "s3://bucket/baselines/churn/7/baseline.json",
        "Dataset drift: Yes.",
        "2 of 4 checked features drifted (50.0%), at or above the configured drift share of 25.0%",
        "2 features could not be checked",
        "8 data-quality findings",
    ):
        assert expected in text
    assert (
        "Extra columns in the window, unknown to the baseline: <code>new_col</code>, "
        "<code>&lt;b&gt;bold&lt;/b&gt;</code>." in page
    )
    quiet = render_html(_result(dataset_drift=False), CONTEXT)
    assert "Dataset drift: No." in quiet
    assert 'class="verdict ok"' in quiet


def test_thresholds_and_their_sources(page: str) -> None:
    text = " ".join(_parse(page).text)
    assert "0.213 ≥ 0.031" in text
    assert "calibrated at n=2,000" in text
    assert "KS p=0.0004 ≤ 0.0123" in text
    assert "Benjamini-Hochberg cut-off at FDR 0.05" in text
    assert "Chi-square p=1e-9 ≤ 0.025" in text
    assert "0.004 < 0.02" in text
    assert "configured floor" in text
    assert "fixed for this feature" in text
    assert "fixed for this model" in text
    assert "p=0.4 > 0.0123" in text


def test_drifted_features_first_then_unchecked_then_by_severity() -> None:
    names = [f.name for f in feature_order(_result())]
    # age (PSI 6.9x its threshold) before region (chi-square 5.6x); unchecked next; then the rest by margin
    assert names == ["age", "region", "score", "zip", "income", HOSTILE]
    page = render_html(_result(), CONTEXT)
    summary = page[page.index('<section id="summary">') :]
    positions = [summary.index(f'<a href="#f{i}">') for i in range(1, 7)]
    assert positions == sorted(positions)
    assert summary.index('<a href="#f1">age</a>') < summary.index('<a href="#f2">region</a>')
    assert page.index('<article id="f1" class="drift"><h3>age</h3>') < page.index('<article id="f2"')


def test_missing_and_type_mismatch_sections(page: str) -> None:
    text = " ".join(_parse(page).text)
    assert "The window has no present value of this feature" in text
    assert "Most present values of this numeric feature are not numbers" in text
    assert "not checked" in text
    assert "Unseen categories" in text
    assert "east" in text


def test_rendering_is_deterministic_and_survives_a_round_trip(page: str) -> None:
    result = _result()
    again = DriftResult.from_dict(json.loads(json.dumps(result.to_dict())))
    assert render_html(result, CONTEXT) == page
    assert render_html(again, CONTEXT) == page


def test_many_bins_rotate_and_thin_the_labels() -> None:
    labels = tuple(f"[{i}.000, {i + 1}.000)" for i in range(120))
    share = 1 / 120
    feature = _feature(
        "wide",
        methods=(MethodResult("psi", 0.01, 0.03, "calibrated", False),),
        histogram=Histogram(labels=labels, reference=(share,) * 120, current=(share,) * 120),
    )
    result = DriftResult(
        rows=5000,
        features=(feature,),
        drift_share=0.0,
        dataset_drift=False,
        config=DriftConfig().to_dict(),
        calibration_window_size=5000,
        calibration_reused=True,
    )
    page = render_html(result, CONTEXT)
    checker = _parse(page)
    assert checker.errors == []
    assert "rotate(-45" in page
    assert "(one label in 3 shown)" in page
    assert page.count('transform="rotate(-45') == 40
    assert page.count("<title>") == 1 + 120  # the page's title and one tooltip per bin
    assert "stored calibration reused" in page


def test_violations_match_model_monitor_format() -> None:
    document = violations(_result())
    assert set(document) == {"violations"}
    assert document["violations"] == [
        {
            "feature_name": "income",
            "constraint_check_type": "data_type_check",
            "description": "0.2% of the window's rows hold non-numeric values in a numeric feature.",
        },
        {
            "feature_name": "income",
            "constraint_check_type": "completeness_check",
            "description": "Missing share 12.0% exceeds the reference's 1.0% by more than "
            "5 percentage points.",
        },
        {
            "feature_name": "zip",
            "constraint_check_type": "missing_column_check",
            "description": "No present value in the window (100.0% missing; reference 0%).",
        },
        {
            "feature_name": "age",
            "constraint_check_type": "baseline_drift_check",
            "description": "Drift detected by KS p=0.0004 ≤ 0.0123 (Benjamini-Hochberg cut-off at "
            "FDR 0.05); PSI 0.213 ≥ 0.031 (calibrated at n=2,000).",
        },
        {
            "feature_name": "score",
            "constraint_check_type": "data_type_check",
            "description": "Numeric in the baseline, but most present values in the window are not "
            "numbers (93.0% of the window's rows are non-numeric).",
        },
        {
            "feature_name": HOSTILE,
            "constraint_check_type": "categorical_values_check",
            "description": "1.0% of the window's rows hold categories the reference never saw: "
            "'<img src=x onerror=\"alert(1)\">'.",
        },
        {
            "feature_name": "region",
            "constraint_check_type": "categorical_values_check",
            "description": "20.0% of the window's rows hold categories the reference never saw: "
            "'east', 'west'.",
        },
        {
            "feature_name": "region",
            "constraint_check_type": "baseline_drift_check",
            "description": "Drift detected by Chi-square p=1e-9 ≤ 0.025 (Benjamini-Hochberg cut-off "
            "at FDR 0.05); PSI 0.9 ≥ 0.25 (fixed for this feature).",
        },
        {
            "feature_name": "new_col",
            "constraint_check_type": "extra_column_check",
            "description": "Column present in the window but not in the baseline.",
        },
        {
            "feature_name": "<b>bold</b>",
            "constraint_check_type": "extra_column_check",
            "description": "Column present in the window but not in the baseline.",
        },
    ]
    json.dumps(document, allow_nan=False)


@pytest.mark.parametrize(
    ("missing", "reference", "flagged"),
    [
        (0.07, 0.02, False),  # exactly the margin (0.05000000000000001 in floating point)
        (0.0701, 0.02, True),
        (0.30, 0.26, False),
        (0.05, 0.0, False),
    ],
)
def test_completeness_margin(missing: float, reference: float, flagged: bool) -> None:
    assert COMPLETENESS_MARGIN == 0.05
    feature = _feature(
        "f",
        methods=(MethodResult("psi", 0.0, 0.03, "calibrated", False),),
        quality=QualityChecks(missing_share=missing, reference_missing_share=reference),
    )
    result = DriftResult(
        rows=1000,
        features=(feature,),
        drift_share=0.0,
        dataset_drift=False,
        config=DriftConfig().to_dict(),
        calibration_window_size=1000,
        calibration_reused=False,
    )
    checks = [v["constraint_check_type"] for v in violations(result)["violations"]]
    assert checks == (["completeness_check"] if flagged else [])


def test_clean_result_has_no_violations_and_says_so() -> None:
    feature = _feature(
        "clean",
        methods=(MethodResult("ks", 0.8, 0.05, "benjamini_hochberg", False, statistic=0.01),),
        histogram=_numeric_hist(),
    )
    result = DriftResult(
        rows=1000,
        features=(feature,),
        drift_share=0.0,
        dataset_drift=False,
        config=DriftConfig().to_dict(),
        calibration_window_size=1000,
        calibration_reused=False,
    )
    assert violations(result) == {"violations": []}
    assert "No data-quality findings" in render_html(result, CONTEXT)
