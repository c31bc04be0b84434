"""Render a drift check: a self-contained HTML report, and Model Monitor's violations file.

Standard library only (no numpy, no templating, no plotting): the monitoring Lambda renders the
report right after the check, and its cold start and package size matter.

``render_html(result, context)``
    One HTML5 page, inline CSS, no scripts and no external resources, so it can be stored in S3 and
    opened anywhere. Every piece of text that comes from data (feature names, category and bin labels,
    model ids, URIs, method names) goes through ``html.escape``. The output depends only on its
    arguments (the only timestamp is ``context.generated_at``), so the same input renders the same
    bytes.

    Layout: a header (model, version, environment, window, rows, run, baseline, calibration); the
    verdict box (share of checked features that drifted against the configured ``drift_share``, the
    features that could not be checked, the extra columns, a link to the data-quality findings, and
    the decision rule); a summary table of every feature, drifted features first (see
    ``feature_order``), with each method's score, threshold and threshold source; the data-quality
    findings (the non-drift violations); then a section per feature with its methods, an inline SVG
    chart of the reference and current shares per bin or category, and its quality checks.

``violations(result)``
    SageMaker Model Monitor's ``constraint_violations.json`` document,
    ``{"violations": [{"feature_name", "constraint_check_type", "description"}]}``, with Model
    Monitor's check types:

    ``missing_column_check``
        the feature has no present value in the window (status ``"missing"``);
    ``data_type_check``
        most present values of a numeric feature are not numbers (status ``"type_mismatch"``), or
        some are (a non-zero ``non_numeric_share``);
    ``completeness_check``
        the missing share exceeds the reference's by more than ``COMPLETENESS_MARGIN``;
    ``categorical_values_check``
        the window holds categories the reference never saw;
    ``baseline_drift_check``
        the feature drifted (the description names the methods that flagged it, their scores and
        thresholds);
    ``extra_column_check``
        a column of the window the baseline does not know (``result.extra_columns``).

    Order: the features in ``result.features`` order, and for each the checks in the order above;
    then one ``extra_column_check`` per extra column, in ``result.extra_columns`` order. Out-of-range
    shares have no Model Monitor check type; the HTML report shows them.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from cirrus_science.drift.config import TEST_METHODS, DriftConfig, DriftConfigError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from cirrus_science.drift.results import DriftResult, FeatureResult, Histogram, MethodResult

__all__ = [
    "COMPLETENESS_MARGIN",
    "ReportContext",
    "feature_order",
    "render_html",
    "violations",
]

COMPLETENESS_MARGIN: Final = 0.05
"""How far (absolute share of the window's rows) the missing share may exceed the reference's before
``completeness_check`` fires: 0.05 means five percentage points, e.g. 1% missing in the reference and
more than 6% in the window. Sampling noise on a missing share is at most about 0.016 (two standard
errors) at 1,000 rows, so a breach is a real change in how the feature is filled, not chance."""

_FLOAT_SLACK: Final = 1e-12  # so that 0.07 - 0.02 (0.05000000000000001) is not "more than" 0.05

_METHOD_LABELS: Final[dict[str, str]] = {"ks": "KS", "chi_square": "Chi-square", "psi": "PSI", "js": "JS"}
_STATUS_LABELS: Final[dict[str, str]] = {
    "checked": "checked",
    "missing": "missing",
    "type_mismatch": "type mismatch",
}
_CHECK_LABELS: Final[dict[str, str]] = {
    "missing_column_check": "missing column",
    "data_type_check": "data type",
    "completeness_check": "completeness",
    "categorical_values_check": "unseen categories",
    "baseline_drift_check": "baseline drift",
    "extra_column_check": "extra column",
}
_MAX_MARGIN: Final = 1e9  # a p-value of 0 or a zero threshold: past the bar by "infinitely" much
_LABEL_CHARS: Final = 18  # chart labels longer than this are shortened (the tooltip has them whole)


@dataclass(frozen=True)
class ReportContext:
    """Where a drift result comes from: the model version, the window and the run."""

    model_id: str
    version: int
    environment: str
    run_id: str
    window_start: str  # ISO-8601
    window_end: str  # ISO-8601
    baseline_uri: str
    generated_at: str  # ISO-8601; the only timestamp in the report


# --- formatting -----------------------------------------------------------------------------------


def _e(value: object) -> str:
    """Escape any text for HTML content and attribute values."""
    return html.escape(str(value), quote=True)


def _num(x: float) -> str:
    """Three significant digits: ``0.213``, ``0.0123``, ``1.5e-7``; ``n/a`` for a non-finite number."""
    if not math.isfinite(x):
        return "n/a"
    if x == 0:
        return "0"
    text = f"{x:.3g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}e{int(exponent)}"
    return text


def _pct(x: float) -> str:
    """A share as a percentage with one decimal; tiny non-zero shares are not rounded to 0%."""
    if not math.isfinite(x):
        return "n/a"
    if x == 0:
        return "0%"
    if 0 < x < 0.001:
        return "<0.1%"
    if 0.999 < x < 1:
        return ">99.9%"
    return f"{x * 100:.1f}%"


def _method_label(method: str) -> str:
    return _METHOD_LABELS.get(method, method)


def _is_test(method: MethodResult) -> bool:
    return method.method in TEST_METHODS


def _comparison(method: MethodResult) -> str:
    """``p=0.0004 ≤ 0.0123`` for a test, ``0.213 ≥ 0.031`` for a distance (the numbers' relation)."""
    score, threshold = method.score, method.threshold
    if _is_test(method):
        op = "≤" if score <= threshold else ">"
        return f"p={_num(score)} {op} {_num(threshold)}"
    op = "≥" if score >= threshold else "<"
    return f"{_num(score)} {op} {_num(threshold)}"


def _source(method: MethodResult, config: DriftConfig, calibration_n: int) -> str:
    source = method.threshold_source
    if source == "benjamini_hochberg":
        return f"Benjamini-Hochberg cut-off at FDR {_num(config.fdr)}"
    if source == "calibrated":
        return f"calibrated at n={calibration_n:,}"
    fixed = {
        "floor": "configured floor",
        "feature": "fixed for this feature",
        "model": "fixed for this model",
    }
    return fixed.get(source, str(source))


def _describe_method(method: MethodResult, config: DriftConfig, calibration_n: int) -> str:
    """``PSI 0.213 ≥ 0.031 (calibrated at n=2,000)``."""
    return f"{_method_label(method.method)} {_comparison(method)} ({_source(method, config, calibration_n)})"


def _config(result: DriftResult) -> DriftConfig:
    """The config the check ran with; the defaults if the stored one cannot be read."""
    try:
        return DriftConfig.from_dict(result.config)
    except (DriftConfigError, KeyError, TypeError, ValueError):
        return DriftConfig()


# --- ordering -------------------------------------------------------------------------------------


def _margin(method: MethodResult) -> float:
    """How far past its threshold a score is, as a ratio: above 1 means past it.

    A distance: ``score / threshold``. A test: ``ln(p) / ln(cut-off)`` (p below the cut-off gives a
    ratio above 1, and a p-value ten times smaller adds as much as the cut-off's own decade).
    """
    score, threshold = method.score, method.threshold
    if not (math.isfinite(score) and math.isfinite(threshold)):
        return 0.0
    if _is_test(method):
        if score <= 0:
            return _MAX_MARGIN
        if not 0 < threshold < 1 or score >= 1:
            return 0.0
        return min(math.log(score) / math.log(threshold), _MAX_MARGIN)
    if threshold <= 0:
        return _MAX_MARGIN if score > 0 else 0.0
    return min(max(score, 0.0) / threshold, _MAX_MARGIN)


def _severity(feature: FeatureResult) -> float:
    return max((_margin(m) for m in feature.methods), default=0.0)


def feature_order(result: DriftResult) -> tuple[FeatureResult, ...]:
    """The report's order: drifted features, then features that could not be checked (missing, type
    mismatch), then the rest; within each group by severity (the largest margin past a threshold,
    see ``_margin``), most severe first, then by name."""

    def key(item: tuple[int, FeatureResult]) -> tuple[int, float, str, int]:
        index, feature = item
        group = 0 if feature.drifted else (1 if feature.status != "checked" else 2)
        return (group, -_severity(feature), feature.name, index)

    return tuple(f for _, f in sorted(enumerate(result.features), key=key))


# --- violations -----------------------------------------------------------------------------------


def _violation(feature: str, check: str, description: str) -> dict[str, str]:
    return {"feature_name": feature, "constraint_check_type": check, "description": description}


def _feature_violations(
    feature: FeatureResult, config: DriftConfig, calibration_n: int
) -> list[dict[str, str]]:
    quality = feature.quality
    name = feature.name
    if feature.status == "missing":
        return [
            _violation(
                name,
                "missing_column_check",
                f"No present value in the window ({_pct(quality.missing_share)} missing; "
                f"reference {_pct(quality.reference_missing_share)}).",
            )
        ]
    found: list[dict[str, str]] = []
    if feature.status == "type_mismatch":
        found.append(
            _violation(
                name,
                "data_type_check",
                f"Numeric in the baseline, but most present values in the window are not numbers "
                f"({_pct(quality.non_numeric_share)} of the window's rows are non-numeric).",
            )
        )
    elif quality.non_numeric_share > 0:
        found.append(
            _violation(
                name,
                "data_type_check",
                f"{_pct(quality.non_numeric_share)} of the window's rows hold non-numeric values "
                f"in a numeric feature.",
            )
        )
    excess = quality.missing_share - quality.reference_missing_share
    if excess > COMPLETENESS_MARGIN + _FLOAT_SLACK:
        found.append(
            _violation(
                name,
                "completeness_check",
                f"Missing share {_pct(quality.missing_share)} exceeds the reference's "
                f"{_pct(quality.reference_missing_share)} by more than "
                f"{COMPLETENESS_MARGIN * 100:g} percentage points.",
            )
        )
    if quality.unseen_share > 0 or quality.unseen_categories:
        listed = ", ".join(repr(c) for c in quality.unseen_categories)
        more = " (first 20 listed)" if len(quality.unseen_categories) >= 20 else ""
        found.append(
            _violation(
                name,
                "categorical_values_check",
                f"{_pct(quality.unseen_share)} of the window's rows hold categories the reference "
                f"never saw" + (f": {listed}{more}." if listed else "."),
            )
        )
    if feature.drifted:
        flagged = [m for m in feature.methods if m.drifted] or list(feature.methods)
        found.append(
            _violation(
                name,
                "baseline_drift_check",
                "Drift detected by "
                + "; ".join(_describe_method(m, config, calibration_n) for m in flagged)
                + ".",
            )
        )
    return found


def violations(result: DriftResult) -> dict[str, Any]:
    """The window's Model Monitor ``constraint_violations.json`` document (see the module docstring)."""
    config = _config(result)
    found: list[dict[str, str]] = []
    for feature in result.features:
        found.extend(_feature_violations(feature, config, result.calibration_window_size))
    found.extend(
        _violation(column, "extra_column_check", "Column present in the window but not in the baseline.")
        for column in result.extra_columns
    )
    return {"violations": found}


# --- chart ----------------------------------------------------------------------------------------

_CHART_W: Final = 720.0
_CHART_LEFT: Final = 56.0
_CHART_RIGHT: Final = 12.0
_CHART_TOP: Final = 30.0
_CHART_PLOT_H: Final = 170.0
_CHAR_W: Final = 5.6  # average glyph width of the 10-unit label font
_LINE_H: Final = 13.0


def _f(x: float) -> str:
    """An SVG coordinate: at most one decimal (``56``, ``143.3``), never ``-0``."""
    text = f"{x:.1f}".removesuffix(".0")
    return "0" if text == "-0" else text


def _nice_step(raw: float) -> float:
    exponent = math.floor(math.log10(raw))
    scale = 10.0**exponent
    fraction = raw / scale
    for nice in (1.0, 2.0, 2.5, 5.0):
        if fraction <= nice + 1e-9:
            return nice * scale
    return 10.0 ** (exponent + 1)


def _shorten(label: str) -> str:
    return label if len(label) <= _LABEL_CHARS else label[: _LABEL_CHARS - 1] + "…"


def _clean(values: Sequence[float], n: int) -> list[float]:
    out = [v if math.isfinite(v) and v > 0 else 0.0 for v in values[:n]]
    return out + [0.0] * (n - len(out))


def _chart(feature: FeatureResult, histogram: Histogram) -> str:
    """Grouped bars (reference, current) per bin or category, with axes, ticks and a legend."""
    n = len(histogram.labels)
    reference = _clean(histogram.reference, n)
    current = _clean(histogram.current, n)
    left, top, plot_h = _CHART_LEFT, _CHART_TOP, _CHART_PLOT_H
    plot_w = _CHART_W - left - _CHART_RIGHT
    group_w = plot_w / n
    shown = [_shorten(label) for label in histogram.labels]
    longest = max(len(s) for s in shown)
    rotate = longest * _CHAR_W > group_w * 0.9
    every = max(1, math.ceil(_LINE_H / group_w)) if rotate else 1
    label_h = (longest * _CHAR_W * 0.71 + 10) if rotate else 16
    height = top + plot_h + label_h + 24
    peak = max([*reference, *current, 1e-4])
    step = _nice_step(peak / 4)
    y_top = math.ceil(peak / step - 1e-9) * step
    base = top + plot_h

    def y_of(v: float) -> float:
        return base - v / y_top * plot_h

    axis = "bin" if feature.kind == "numeric" else "category"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_f(_CHART_W)} {_f(height)}" role="img" '
        f'aria-label="{_e(f"Reference and current share per {axis} of {feature.name}")}">'
    ]
    values = [k * step for k in range(round(y_top / step) + 1)]
    grid = "".join(f"M{_f(left)} {_f(y_of(v))}H{_f(left + plot_w)}" for v in values)
    parts.append(f'<path class="gr" d="{grid}"/><g text-anchor="end">')
    parts.extend(
        f'<text x="{_f(left - 4)}" y="{_f(y_of(v) + 3)}">{round(v * 100, 6):g}%</text>' for v in values
    )
    parts.append("</g>")
    bar_w = group_w * 0.4
    for i, (label, ref, cur) in enumerate(zip(histogram.labels, reference, current, strict=False)):
        x = left + i * group_w + group_w * 0.1
        tip = f"{label}: reference {_pct(ref)}, current {_pct(cur)}"
        parts.append(
            f"<g><title>{_e(tip)}</title>"
            f'<rect class="r" x="{_f(x)}" y="{_f(y_of(ref))}" width="{_f(bar_w)}" '
            f'height="{_f(base - y_of(ref))}"/>'
            f'<rect class="c" x="{_f(x + bar_w)}" y="{_f(y_of(cur))}" width="{_f(bar_w)}" '
            f'height="{_f(base - y_of(cur))}"/></g>'
        )
    parts.append(f'<path class="ax" d="M{_f(left)} {_f(top)}V{_f(base)}H{_f(left + plot_w)}"/>')
    label_y = _f(base + 12)
    parts.append(f'<g text-anchor="{"end" if rotate else "middle"}">')
    for i, label in enumerate(shown):
        if i % every:
            continue
        cx = _f(left + (i + 0.5) * group_w)
        turn = f' transform="rotate(-45 {cx} {label_y})"' if rotate else ""
        parts.append(f'<text x="{cx}" y="{label_y}"{turn}>{_e(label)}</text>')
    parts.append("</g>")
    parts.append(
        f'<text class="at" x="{_f(left + plot_w / 2)}" y="{_f(height - 6)}" text-anchor="middle">'
        f"{'Bin' if feature.kind == 'numeric' else 'Category'}"
        + (f" (one label in {every} shown)" if every > 1 else "")
        + "</text>"
    )
    parts.append(
        f'<text class="at" transform="rotate(-90)" x="{_f(-(top + plot_h / 2))}" y="14" '
        'text-anchor="middle">Share of rows</text>'
    )
    legend_x = _CHART_W - _CHART_RIGHT - 160
    parts.append(
        f'<rect class="r" x="{_f(legend_x)}" y="9" width="10" height="10"/>'
        f'<text x="{_f(legend_x + 14)}" y="18">Reference</text>'
        f'<rect class="c" x="{_f(legend_x + 84)}" y="9" width="10" height="10"/>'
        f'<text x="{_f(legend_x + 98)}" y="18">Current</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


# --- page -----------------------------------------------------------------------------------------

_CSS: Final = """
body{margin:0;background:#f8fafc;color:#1f2937;font:14px/1.45 system-ui,-apple-system,"Segoe UI",\
Roboto,Helvetica,Arial,sans-serif}
main{max-width:1120px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 8px}
h2{font-size:18px;margin:28px 0 10px;padding-bottom:4px;border-bottom:1px solid #e5e7eb}
h3{font-size:16px;margin:0 0 6px;overflow-wrap:anywhere}
h4{font-size:14px;margin:14px 0 6px}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:0}
dl.meta dt{color:#6b7280}
dl.meta dd{margin:0;overflow-wrap:anywhere}
.verdict{margin-top:18px;padding:12px 16px;border-radius:6px;border-left:6px solid}
.verdict p{margin:4px 0}
.verdict.drift{background:#fef2f2;border-color:#dc2626}
.verdict.ok{background:#f0fdf4;border-color:#16a34a}
table{border-collapse:collapse;width:100%;background:#fff;font-size:13px}
th,td{border:1px solid #e5e7eb;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f1f5f9;font-weight:600}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.hit{background:#fef2f2}
td a{overflow-wrap:anywhere}
small,.muted{color:#6b7280}
.nw{white-space:nowrap}
.badge{display:inline-block;padding:0 7px;border-radius:10px;font-size:12px;font-weight:600;\
white-space:nowrap}
.b-drift{background:#fee2e2;color:#991b1b}
.b-ok{background:#dcfce7;color:#166534}
.b-warn{background:#fef3c7;color:#92400e}
.b-info{background:#e0e7ff;color:#3730a3}
article{background:#fff;border:1px solid #e5e7eb;border-radius:6px;padding:14px 16px;margin:14px 0}
article.drift{border-left:5px solid #dc2626}
article.warn{border-left:5px solid #d97706}
svg{display:block;width:100%;max-width:860px;height:auto;margin:8px 0}
svg text{font:10px system-ui,sans-serif;fill:#374151}
svg text.at{font-size:11px;fill:#4b5563}
svg .r{fill:#9ca3af}
svg .c{fill:#2563eb}
svg .ax{stroke:#6b7280;fill:none}
svg .gr{stroke:#e5e7eb;fill:none}
footer{margin-top:32px;color:#6b7280;font-size:12px}
@media print{body{background:#fff}article{break-inside:avoid}}
""".strip()


def _badge(text: str, kind: str) -> str:
    return f'<span class="badge b-{kind}">{_e(text)}</span>'


def _verdict_badge(feature: FeatureResult) -> str:
    if feature.status != "checked":
        return _badge("not checked", "warn")
    return _badge("drift", "drift") if feature.drifted else _badge("no drift", "ok")


def _status_badge(feature: FeatureResult) -> str:
    label = _STATUS_LABELS.get(feature.status, feature.status)
    return _badge(label, "info" if feature.status == "checked" else "warn")


def _columns(result: DriftResult) -> list[str]:
    """Summary columns: ``test`` (KS or chi-square), ``psi``, ``js``, then other methods by name."""
    names = {m.method for f in result.features for m in f.methods}
    columns = ["test"] if names & TEST_METHODS else []
    columns += [m for m in ("psi", "js") if m in names]
    columns += sorted(names - TEST_METHODS - {"psi", "js"})
    return columns


def _column_title(column: str) -> str:
    return "Test" if column == "test" else _method_label(column)


def _method_cell(method: MethodResult | None, config: DriftConfig, n: int) -> str:
    if method is None:
        return '<td class="muted">—</td>'
    label = f"{_e(_method_label(method.method))} " if _is_test(method) else ""
    cls = ' class="hit"' if method.drifted else ""
    return (
        f'<td{cls}><span class="nw">{label}{_e(_comparison(method))}</span><br>'
        f"<small>{_e(_source(method, config, n))}</small></td>"
    )


def _header(result: DriftResult, context: ReportContext, config: DriftConfig) -> str:
    calibration = f"thresholds calibrated at n={result.calibration_window_size:,}"
    if result.calibration_reused:
        calibration += " (stored calibration reused)"
    rows = [
        ("Model", context.model_id),
        ("Version", str(context.version)),
        ("Environment", context.environment),
        ("Window", f"{context.window_start} → {context.window_end}"),
        ("Rows", f"{result.rows:,}"),
        ("Run", context.run_id),
        ("Baseline", context.baseline_uri),
        ("Calibration", calibration),
        ("Generated", context.generated_at),
    ]
    meta = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in rows)
    return (
        f"<header><h1>Drift report: {_e(context.model_id)} v{context.version} "
        f'<span class="muted">({_e(context.environment)})</span></h1>'
        f'<dl class="meta">{meta}</dl></header>'
    )


def _decision_text(config: DriftConfig) -> str:
    groups = {
        "test": "the test (KS for numeric, chi-square for categorical features) is significant",
        "psi": "PSI reaches its threshold",
        "js": "Jensen-Shannon divergence reaches its threshold",
    }
    parts = [groups.get(g, g) for g in config.decision]
    rule = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return (
        f"A feature drifts when {rule}. Tests are judged after Benjamini-Hochberg at FDR "
        f"{_num(config.fdr)} unless a fixed significance level is configured; distance thresholds are "
        f"fixed values where configured, else the {_num(config.quantile)} quantile of the no-drift "
        f"distribution at the window's size, never below the configured floor."
    )


def _verdict(result: DriftResult, config: DriftConfig, findings: int) -> str:
    checked = sum(1 for f in result.features if f.status == "checked")
    drifted = len(result.drifted_features)
    unchecked = len(result.features) - checked
    relation = "at or above" if result.dataset_drift else "below"
    cls, answer = ("drift", "Yes") if result.dataset_drift else ("ok", "No")
    lines = [
        f"<p><strong>Dataset drift: {answer}.</strong> {drifted} of {checked} checked features drifted "
        f"({_pct(result.drift_share)}), {relation} the configured drift share of "
        f"{_pct(config.drift_share)}.</p>"
    ]
    if unchecked:
        lines.append(
            f"<p>{unchecked} feature{'s' if unchecked != 1 else ''} could not be checked "
            "(missing from the window, or not numeric).</p>"
        )
    if result.extra_columns:
        listed = ", ".join(f"<code>{_e(c)}</code>" for c in result.extra_columns)
        lines.append(f"<p>Extra columns in the window, unknown to the baseline: {listed}.</p>")
    if findings:
        lines.append(
            f'<p><a href="#quality">{findings} data-quality finding{"s" if findings != 1 else ""}</a> '
            "(missing columns, data types, completeness, unseen categories, extra columns).</p>"
        )
    lines.append(f"<p><small>{_e(_decision_text(config))}</small></p>")
    return f'<section class="verdict {cls}" id="verdict">{"".join(lines)}</section>'


def _quality_section(found: list[dict[str, str]], anchors: dict[str, str]) -> str:
    issues = [v for v in found if v["constraint_check_type"] != "baseline_drift_check"]
    head = '<section id="quality"><h2>Data quality</h2>'
    if not issues:
        return (
            head + "<p>No data-quality findings: every baseline column is present and numeric where "
            "expected, completeness holds, no unseen categories, no extra columns.</p></section>"
        )
    rows = []
    for v in issues:
        name = v["feature_name"]
        anchor = anchors.get(name)
        cell = f'<a href="#{anchor}">{_e(name)}</a>' if anchor else _e(name)
        check = v["constraint_check_type"]
        rows.append(
            f"<tr><td>{cell}</td><td>{_e(_CHECK_LABELS.get(check, check))}<br><small>{_e(check)}</small>"
            f"</td><td>{_e(v['description'])}</td></tr>"
        )
    return (
        head + f"<p>{len(issues)} finding{'s' if len(issues) != 1 else ''} "
        f"(completeness margin: {COMPLETENESS_MARGIN * 100:g} percentage points over the reference's "
        "missing share).</p><table><thead><tr><th>Feature / column</th><th>Check</th>"
        f"<th>Finding</th></tr></thead><tbody>{''.join(rows)}</tbody></table></section>"
    )


def _feature_method(feature: FeatureResult, column: str) -> MethodResult | None:
    if column == "test":
        return next((m for m in feature.methods if _is_test(m)), None)
    return feature.method(column)


def _quality_flags(feature: FeatureResult, found: list[dict[str, str]]) -> str:
    checks = [
        _CHECK_LABELS.get(v["constraint_check_type"], v["constraint_check_type"])
        for v in found
        if v["constraint_check_type"] != "baseline_drift_check"
    ]
    q = feature.quality
    missing = f"missing {_pct(q.missing_share)} <small>(ref {_pct(q.reference_missing_share)})</small>"
    flags = "".join(f" {_badge(c, 'warn')}" for c in checks)
    return f"<td>{missing}{flags}</td>"


def _summary(
    ordered: Sequence[FeatureResult],
    result: DriftResult,
    config: DriftConfig,
    anchors: list[str],
    per_feature: list[list[dict[str, str]]],
) -> str:
    columns = _columns(result)
    n = result.calibration_window_size
    head = "".join(f"<th>{_e(_column_title(c))}</th>" for c in columns)
    rows = []
    for index, (feature, anchor, found) in enumerate(zip(ordered, anchors, per_feature, strict=True), 1):
        cells = "".join(_method_cell(_feature_method(feature, c), config, n) for c in columns)
        rows.append(
            f'<tr><td class="n">{index}</td><td><a href="#{anchor}">{_e(feature.name)}</a></td>'
            f"<td>{_e(feature.kind)}</td><td>{_status_badge(feature)}</td>"
            f"<td>{_verdict_badge(feature)}</td>{cells}{_quality_flags(feature, found)}</tr>"
        )
    return (
        '<section id="summary"><h2>Features</h2>'
        f"<p>{len(ordered)} features: drifted first, then those that could not be checked, then the "
        "rest, each group by how far its scores went past their thresholds.</p>"
        f"<table><thead><tr><th>#</th><th>Feature</th><th>Kind</th><th>Status</th><th>Verdict</th>{head}"
        f"<th>Data quality</th></tr></thead><tbody>{''.join(rows)}</tbody></table></section>"
    )


def _methods_table(feature: FeatureResult, config: DriftConfig, n: int) -> str:
    if not feature.methods:
        return '<p class="muted">No method ran on this feature.</p>'
    rows = []
    for m in feature.methods:
        kind = "test (p-value)" if _is_test(m) else "distance"
        statistic = "—" if m.statistic is None else _num(m.statistic)
        result = _badge("flags drift", "drift") if m.drifted else _badge("no drift", "ok")
        rows.append(
            f"<tr><td>{_e(_method_label(m.method))}<br><small>{kind}</small></td>"
            f'<td class="n">{_e(_num(m.score))}</td><td class="n">{_e(statistic)}</td>'
            f'<td class="n">{_e(_num(m.threshold))}</td><td>{_e(_comparison(m))}</td>'
            f"<td>{_e(_source(m, config, n))}</td><td>{result}</td></tr>"
        )
    return (
        "<table><thead><tr><th>Method</th><th>Score</th><th>Statistic</th><th>Threshold</th>"
        f"<th>Comparison</th><th>Threshold source</th><th>Result</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _quality_table(feature: FeatureResult) -> str:
    q = feature.quality
    excess = q.missing_share - q.reference_missing_share > COMPLETENESS_MARGIN + _FLOAT_SLACK
    rows = [
        ("Missing", _pct(q.missing_share), _pct(q.reference_missing_share), excess),
    ]
    if feature.kind == "numeric":
        rows.append(("Non-numeric", _pct(q.non_numeric_share), "—", q.non_numeric_share > 0))
        rows.append(("Outside the reference's [min, max]", _pct(q.out_of_range_share), "—", False))
    else:
        rows.append(("Unseen categories", _pct(q.unseen_share), "0%", q.unseen_share > 0))
    body = "".join(
        f'<tr><td>{_e(label)}</td><td class="n{" hit" if flag else ""}">{_e(cur)}</td>'
        f'<td class="n">{_e(ref)}</td></tr>'
        for label, cur, ref, flag in rows
    )
    table = (
        "<table><thead><tr><th>Check (share of the window's rows)</th><th>Window</th>"
        f"<th>Reference</th></tr></thead><tbody>{body}</tbody></table>"
    )
    if q.unseen_categories:
        listed = ", ".join(f"<code>{_e(c)}</code>" for c in q.unseen_categories)
        more = " (first 20)" if len(q.unseen_categories) >= 20 else ""
        table += f"<p><small>Unseen categories{more}:</small> {listed}</p>"
    return table


def _feature_section(feature: FeatureResult, anchor: str, config: DriftConfig, n: int, rows: int) -> str:
    if feature.drifted:
        cls = ' class="drift"'
    elif feature.status != "checked":
        cls = ' class="warn"'
    else:
        cls = ""
    parts = [
        f'<article id="{anchor}"{cls}><h3>{_e(feature.name)}</h3>',
        f"<p>{_badge(feature.kind, 'info')} {_status_badge(feature)} {_verdict_badge(feature)} "
        f'<span class="muted">{feature.present_rows:,} present of {rows:,} rows</span></p>',
    ]
    if feature.status == "missing":
        parts.append("<p>The window has no present value of this feature, so no method could run.</p>")
    elif feature.status == "type_mismatch":
        parts.append(
            "<p>Most present values of this numeric feature are not numbers, so it was not compared "
            "with the reference.</p>"
        )
    parts.append("<h4>Methods</h4>")
    parts.append(_methods_table(feature, config, n))
    histogram = feature.histogram
    if histogram is not None and histogram.labels:
        parts.append("<h4>Distribution</h4>")
        parts.append(_chart(feature, histogram))
    parts.append("<h4>Quality checks</h4>")
    parts.append(_quality_table(feature))
    parts.append('<p><small><a href="#summary">Back to the feature table</a></small></p></article>')
    return "".join(parts)


def render_html(result: DriftResult, context: ReportContext) -> str:
    """The drift report as one self-contained HTML5 page (see the module docstring)."""
    config = _config(result)
    n = result.calibration_window_size
    ordered = feature_order(result)
    anchors = [f"f{i}" for i in range(1, len(ordered) + 1)]
    anchor_of: dict[str, str] = {}
    for feature, anchor in zip(ordered, anchors, strict=True):
        anchor_of.setdefault(feature.name, anchor)
    per_feature = [_feature_violations(f, config, n) for f in ordered]
    found = violations(result)["violations"]
    findings = sum(1 for v in found if v["constraint_check_type"] != "baseline_drift_check")
    title = f"Drift report: {context.model_id} v{context.version} ({context.environment})"
    sections = "".join(
        _feature_section(f, a, config, n, result.rows) for f, a in zip(ordered, anchors, strict=True)
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body><main>"
        f"{_header(result, context, config)}{_verdict(result, config, findings)}"
        f"{_summary(ordered, result, config, anchors, per_feature)}"
        f"{_quality_section(found, anchor_of)}"
        f'<section id="details"><h2>Feature details</h2>{sections}</section>'
        "<footer><p>Scores: KS and chi-square give p-values (smaller is stronger evidence of change); "
        "PSI and Jensen-Shannon divergence measure how far the shares moved (larger is further). "
        "Charts show each bin's or category's share of the reference and of the window's present "
        f"rows.</p><p>Generated {_e(context.generated_at)} for run {_e(context.run_id)}.</p>"
        "</footer></main></body></html>\n"
    )
