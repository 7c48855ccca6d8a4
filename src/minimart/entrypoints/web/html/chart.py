"""The dashboard's 30-day chart as plain geometry for an inline SVG: revenue as bars on the
left axis, orders as a line on the right. Server-side, so the page needs no JavaScript."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from minimart.domain.money import Money
from minimart.domain.orders import DailySales
from minimart.entrypoints.web.html.money import format_money

WIDTH, HEIGHT = 760, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 40, 16, 30
TICKS = 4


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str


@dataclass(frozen=True, slots=True)
class Point:
    x: float
    y: float
    title: str


@dataclass(frozen=True, slots=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True, slots=True)
class SalesChart:
    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    bars: list[Bar]
    points: list[Point]
    revenue_ticks: list[Tick]
    order_ticks: list[Tick]
    day_labels: list[Tick]
    empty: bool

    @property
    def polyline(self) -> str:
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)


def nice_step(maximum: int, ticks: int = TICKS) -> int:
    """The smallest 1, 2 or 5 times a power of ten that covers maximum in `ticks` steps."""
    if maximum <= 0:
        return 1
    raw = maximum / ticks
    power = 10 ** math.floor(math.log10(raw))
    step = next(f * power for f in (1, 2, 5, 10) if f * power >= raw)
    return max(1, math.ceil(step))


def sales_chart(days: Sequence[DailySales], currency: str) -> SalesChart:
    """Scale the days into the plot area; the axes end on round numbers."""
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    bottom = TOP + plot_height
    revenue_step = nice_step(max((d.revenue.amount for d in days), default=0))
    order_step = nice_step(max((d.orders for d in days), default=0))
    revenue_top = revenue_step * TICKS
    orders_top = order_step * TICKS
    slot = plot_width / max(1, len(days))
    bars: list[Bar] = []
    points: list[Point] = []
    for index, day in enumerate(days):
        label = f"{day.day:%a %d %b}"
        height = plot_height * max(0, day.revenue.amount) / revenue_top
        bars.append(Bar(x=LEFT + index * slot + slot * 0.15, y=bottom - height,
                        width=slot * 0.7, height=height,
                        title=f"{label}: {format_money(day.revenue)}"))
        points.append(Point(x=LEFT + index * slot + slot / 2,
                            y=bottom - plot_height * day.orders / orders_top,
                            title=f"{label}: {day.orders} "
                                  f"order{'' if day.orders == 1 else 's'}"))
    revenue_ticks = [Tick(bottom - plot_height * n / TICKS,
                          format_money(Money(revenue_step * n, currency), whole=True))
                     for n in range(TICKS + 1)]
    order_ticks = [Tick(bottom - plot_height * n / TICKS, str(order_step * n))
                   for n in range(TICKS + 1)]
    day_labels = [Tick(LEFT + index * slot + slot / 2,
                       "Today" if index == len(days) - 1 else f"{day.day:%d %b}")
                  for index, day in enumerate(days)
                  if (len(days) - 1 - index) % 7 == 0]
    empty = all(d.orders == 0 and d.revenue.amount == 0 for d in days)
    return SalesChart(WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM, bars, points, revenue_ticks,
                      order_ticks, day_labels, empty)
