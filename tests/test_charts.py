"""Charts are SVG drawn on the server: numbers in tooltips, texts escaped, nothing inline to allow."""

from __future__ import annotations

import datetime as dt
import re

from accounts.charts import Bar, Series, daily_columns, horizontal_bars, progress_ring


def test_given_a_bar_below_the_target_then_it_is_drawn_in_the_warning_class_and_the_target_line_is_at_100_percent():
    svg = horizontal_bars(
        [Bar(label="屯里村", value=0.5), Bar(label="尧都区", value=1.0)], label="参保率", target=1.0
    )

    assert 'class="bar below-target"' in svg
    assert svg.count('class="bar"') == 1
    # Plot width is 760 - 170 - 190 = 400; the target (1.0) is the whole scale.
    assert '<line class="target" x1="570.0"' in svg
    assert "<title>屯里村: 50.0%</title>" in svg


def test_given_a_value_written_near_the_target_then_it_is_drawn_over_the_target_line():
    svg = horizontal_bars([Bar(label="屯里镇", value=0.794)], label="参保率", target=1.0)

    assert svg.index('<line class="target"') < svg.index('<text class="value"')


def test_given_a_label_with_markup_then_it_is_escaped():
    svg = horizontal_bars([Bar(label='<script>x</script>"', value=0.2)], label="a<b")

    assert "<script>" not in svg
    assert "&lt;script&gt;x&lt;/script&gt;" in svg
    assert 'aria-label="a&lt;b"' in svg


def test_given_any_chart_then_it_carries_no_style_attribute_or_script():
    charts = [
        horizontal_bars([Bar(label="a", value=3)], label="x", value_format=str),
        daily_columns([dt.date(2026, 11, 1)], [Series(label="柜台", values=[5])], label="y"),
        progress_ring(0.42, label="z"),
    ]

    for svg in charts:
        assert not re.search(r"\sstyle=|<script|\son\w+=", svg)


def test_given_two_channels_on_a_day_then_their_columns_stack_to_the_days_total():
    svg = daily_columns(
        [dt.date(2026, 11, 1), dt.date(2026, 11, 2)],
        [Series(label="counter", values=[30, 0]), Series(label="bank", values=[10, 40])],
        label="collection",
    )

    heights = [
        float(value)
        for value in re.findall(
            r'<rect class="series-\d" x="[\d.]+" y="[\d.]+" width="[\d.]+" height="([\d.]+)"><title>', svg
        )
    ]
    # Plot height 240 - 34 - 30 = 176 for the largest day (40); day one stacks 30 + 10 = 40 too.
    assert heights == [132.0, 44.0, 176.0]
    assert "<title>11-01 counter: 30</title>" in svg


def test_given_a_unit_then_the_value_axis_is_titled_with_it_and_each_tooltip_says_it():
    svg = daily_columns(
        [dt.date(2026, 12, 1)], [Series(label="尧都区", values=[70])], label="拨款", unit="元"
    )

    assert '<text class="tick axis-unit" x="58" y="22" text-anchor="end">元</text>' in svg
    assert "<title>12-01 尧都区: 70 元</title>" in svg


def test_given_no_unit_then_no_axis_title_is_drawn():
    svg = daily_columns([dt.date(2026, 12, 1)], [Series(label="a", values=[70])], label="x")

    assert "axis-unit" not in svg


def test_given_a_largest_column_of_70_then_the_axis_climbs_in_round_steps_to_80():
    svg = daily_columns([dt.date(2026, 12, 1)], [Series(label="a", values=[70])], label="x")

    ticks = re.findall(r'<text class="tick" x="58" y="[\d.]+" text-anchor="end">([^<]*)</text>', svg)
    assert ticks == ["0", "20", "40", "60", "80"]


def test_given_a_fraction_above_one_then_the_ring_is_full_and_says_the_true_percentage():
    svg = progress_ring(1.25, label="ring")

    assert "125.0%" in svg
    assert "below-target" not in svg
