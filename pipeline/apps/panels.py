"""The dashboard's Bokeh figures, each built empty on its ColumnDataSource(s); the document
(dashboard.py) fills the sources. Probabilities are shown as percentages, burdens in % of GDP
on their own axis, dates on datetime axes; legends sit outside the plotting area.
"""

from __future__ import annotations

from bokeh.models import (
    ColorBar,
    ColumnDataSource,
    CustomJSTickFormatter,
    FactorRange,
    HoverTool,
    LinearAxis,
    LinearColorMapper,
    NumeralTickFormatter,
    Range1d,
    Span,
    Whisker,
)
from bokeh.palettes import Viridis256
from bokeh.plotting import figure

from alliance_risk.pipeline.apps.geo import view_box
from alliance_risk.pipeline.apps.views import HEADS


def percent() -> NumeralTickFormatter:
    """A new formatter of probabilities as percentages (a Bokeh model belongs to one
    document, so every session gets its own)."""
    return NumeralTickFormatter(format="0.[0]%")


def points() -> CustomJSTickFormatter:
    """Differences of probabilities in percentage points, signed."""
    return CustomJSTickFormatter(
        code="return (tick >= 0 ? '+' : '') + (100 * tick).toFixed(1) + ' pp'"
    )


COLORS = {
    "p_intact": "#1f77b4",
    "p_any_withdrawal": "#ff7f0e",
    "p_hegemon_withdrawn": "#9467bd",
    "p_conflict": "#d62728",
}
HEIGHT = 330


def _figure(name: str, title: str, **kwargs):
    kwargs.setdefault("height", HEIGHT)
    fig = figure(
        name=name, title=title, sizing_mode="stretch_width", toolbar_location="above", **kwargs
    )
    fig.toolbar.logo = None
    return fig


def _time_hover(fig, tooltips: list[tuple[str, str]]) -> None:
    """A hover tool on a time axis: the date, then ``tooltips``, for the nearest date."""
    fig.add_tools(
        HoverTool(
            tooltips=[("date", "@date{%F}"), *tooltips],
            formatters={"@date": "datetime"},
            mode="vline",
        )
    )


def _outside_legend(fig) -> None:
    fig.add_layout(fig.legend[0], "right")
    fig.legend.click_policy = "hide"
    fig.legend.label_text_font_size = "9pt"


def headlines_figure(src: ColumnDataSource) -> tuple:
    fig = _figure("headlines", "Headline probabilities (95% bands)", x_axis_type="datetime")
    for h, label in HEADS.items():
        fig.varea(
            "date",
            f"{h}_lo",
            f"{h}_hi",
            source=src,
            color=COLORS[h],
            alpha=0.18,
            legend_label=label,
        )
        fig.line("date", h, source=src, color=COLORS[h], line_width=2, legend_label=label)
    fig.yaxis.formatter = percent()
    fig.yaxis.axis_label = "probability"
    _time_hover(fig, [(lab, f"@{h}{{0.0%}}") for h, lab in HEADS.items()])
    cursor = Span(dimension="height", line_dash="dashed", line_color="black")
    fig.add_layout(cursor)
    _outside_legend(fig)
    return fig, cursor


def map_figure(countries_src: ColumnDataSource, members_src: ColumnDataSource) -> tuple:
    (x0, x1), (y0, y1) = view_box()
    fig = _figure(
        "map",
        "Members",
        x_range=Range1d(start=x0, end=x1),
        y_range=Range1d(start=y0, end=y1),
        match_aspect=True,
        height=HEIGHT + 40,
    )
    fig.axis.visible = False
    fig.grid.visible = False
    fig.patches(
        "x", "y", source=countries_src, fill_color="#e6e6e6", line_color="white", line_width=0.5
    )
    mapper = LinearColorMapper(palette=Viridis256[::-1], low=0, high=1)
    glyph = fig.patches(
        "x",
        "y",
        source=members_src,
        fill_color={"field": "value", "transform": mapper},
        line_color="white",
        line_width=0.6,
    )
    fig.add_tools(
        HoverTool(
            renderers=[glyph],
            tooltips=[("member", "@name (@code)"), ("value", "@text"), ("95% interval", "@band")],
        )
    )
    bar = ColorBar(color_mapper=mapper, width=10, formatter=percent())
    fig.add_layout(bar, "right")
    return fig, mapper, bar


def members_figure(src: ColumnDataSource):
    fig = _figure("members", "Members, sorted", y_range=FactorRange(), height=HEIGHT + 40)
    fig.hbar(y="code", right="value", height=0.7, source=src, color="#4c72b0", alpha=0.8)
    fig.add_layout(
        Whisker(source=src, base="code", lower="lo", upper="hi", dimension="width", line_width=1)
    )
    fig.add_tools(
        HoverTool(tooltips=[("member", "@name"), ("value", "@text"), ("95% interval", "@band")])
    )
    fig.yaxis.major_label_text_font_size = "8pt"
    fig.xaxis.formatter = percent()
    fig.x_range.start = 0
    return fig


def member_figure(src: ColumnDataSource):
    """P(still a member) on the left axis (percent); burden quantiles and the target on their
    own right axis (% of GDP)."""
    fig = _figure("member_plot", "Member", x_axis_type="datetime")
    fig.y_range = Range1d(start=0, end=1.02)
    fig.yaxis.formatter = percent()
    fig.yaxis.axis_label = "P(still a member)"
    fig.varea("date", "p_member_lo", "p_member_hi", source=src, color="#1f77b4", alpha=0.2)
    fig.line("date", "p_member", source=src, line_width=2, legend_label="P(still a member)")
    fig.extra_y_ranges = {"burden": Range1d(start=0, end=6)}
    fig.add_layout(LinearAxis(y_range_name="burden", axis_label="burden (% of GDP)"), "right")
    kw = {"source": src, "y_range_name": "burden"}
    fig.varea("date", "q05", "q95", color="green", alpha=0.12, legend_label="burden 5–95%", **kw)
    fig.varea("date", "q25", "q75", color="green", alpha=0.25, legend_label="burden 25–75%", **kw)
    fig.line("date", "q50", color="green", line_width=2, legend_label="burden median", **kw)
    fig.line("date", "target", color="black", line_dash="dashed", legend_label="target", **kw)
    _time_hover(
        fig,
        [
            ("P(member)", "@p_member{0.0%}"),
            ("burden median", "@q50{0.00} % GDP"),
            ("target", "@target{0.00} % GDP"),
        ],
    )
    _outside_legend(fig)
    return fig


def fan_figure(src: ColumnDataSource):
    fig = _figure("fan", "Fan chart", x_axis_type="datetime")
    fig.varea("date", "q05", "q95", source=src, alpha=0.2, legend_label="5–95%")
    fig.varea("date", "q25", "q75", source=src, alpha=0.4, legend_label="25–75%")
    fig.line("date", "q50", source=src, line_width=2, legend_label="median")
    fig.line("date", "mean", source=src, line_dash="dashed", color="black", legend_label="mean")
    _time_hover(fig, [("median", "@q50{0.000}"), ("5–95%", "@q05{0.000} – @q95{0.000}")])
    _outside_legend(fig)
    return fig


def differences_figure(src: ColumnDataSource):
    fig = _figure("differences", "Difference from this run (95% interval)", y_range=FactorRange())
    fig.add_layout(Whisker(source=src, base="label", lower="lo", upper="hi", dimension="width"))
    fig.scatter("d", "label", source=src, size=9, color="color")
    fig.text(
        "hi",
        "label",
        text="note",
        source=src,
        x_offset=6,
        text_font_size="8pt",
        text_baseline="middle",
    )
    fig.add_layout(Span(location=0, dimension="height", line_color="black"))
    fig.xaxis.formatter = points()
    fig.xaxis.axis_label = "percentage points"
    fig.add_tools(
        HoverTool(
            tooltips=[
                ("", "@label"),
                ("difference", "@d{+0.00%}"),
                ("s.e.", "@se{0.00%} (@errors)"),
            ]
        )
    )
    return fig


def history_figure(src: ColumnDataSource):
    fig = _figure("history", "Across runs", x_axis_type="datetime")
    for h, label in HEADS.items():
        fig.add_layout(
            Whisker(
                source=src, base="created", lower=f"{h}_lo", upper=f"{h}_hi", line_color=COLORS[h]
            )
        )
        fig.line("created", h, source=src, color=COLORS[h], legend_label=label)
        fig.scatter("created", h, source=src, color=COLORS[h], size=6, legend_label=label)
    fig.yaxis.formatter = percent()
    fig.xaxis.axis_label = "run created"
    fig.add_tools(
        HoverTool(
            tooltips=[("run", "@run_id"), ("created", "@created{%F %H:%M}")]
            + [(lab, f"@{h}{{0.0%}}") for h, lab in HEADS.items()],
            formatters={"@created": "datetime"},
        )
    )
    _outside_legend(fig)
    return fig


def drivers_figure(src: ColumnDataSource):
    fig = _figure("drivers", "Drivers: Spearman rank correlation (95%)", y_range=FactorRange())
    fig.hbar(y="parameter", right="spearman", height=0.6, source=src, color="#55a868")
    fig.add_layout(
        Whisker(
            source=src,
            base="parameter",
            lower="spearman_low",
            upper="spearman_high",
            dimension="width",
        )
    )
    fig.add_layout(Span(location=0, dimension="height", line_color="black"))
    fig.yaxis.major_label_text_font_size = "8pt"
    return fig


def sobol_figure(src: ColumnDataSource):
    fig = _figure("sobol", "Sobol' indices (Saltelli runs)", y_range=FactorRange())
    bars = (("sobol_st", 0.6, 0.5, "total ST"), ("sobol_s1", 0.35, 1.0, "first-order S1"))
    for column, height, alpha, label in bars:
        fig.hbar(y="parameter", right=column, height=height, source=src, color="#c44e52",
                 alpha=alpha, legend_label=label)  # fmt: skip
    fig.yaxis.major_label_text_font_size = "8pt"
    _outside_legend(fig)
    return fig
