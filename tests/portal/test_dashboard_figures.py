"""The dashboard's figures: energy per day and utilisation, over the user's stations only."""

from datetime import UTC, date, datetime

import pytest

from portal.charts import bar_chart, line_chart
from portal.selectors import energy_per_day, utilisation_per_day
from stations.models import Connector

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 3, 12, tzinfo=UTC)


def test_energy_per_day_counts_the_owners_sessions_by_start_day(network):
    # session_a: 5 kWh on 2 Nov at CP-A (org A); session_b: 5 kWh at CP-B (org B)
    figures = dict(energy_per_day(network.owner_a, days=3, today=date(2026, 11, 3)))
    assert figures == {date(2026, 11, 1): 0.0, date(2026, 11, 2): 5.0, date(2026, 11, 3): 0.0}
    operator = dict(energy_per_day(network.operator, days=3, today=date(2026, 11, 3)))
    assert operator[date(2026, 11, 2)] == 10.0


def test_utilisation_is_session_time_over_connector_time(network):
    Connector.objects.create(evse=network.session_a.evse, connector_id=1)
    # one connector; session_a charged 10:00-11:00 on 2 Nov: 1 h of 24 h
    figures = dict(utilisation_per_day(network.owner_a, days=2, now=NOW))
    assert figures[date(2026, 11, 2)] == pytest.approx(1 / 24)
    assert figures[date(2026, 11, 3)] == 0.0


def test_a_session_across_midnight_counts_on_both_days(network):
    Connector.objects.create(evse=network.session_a.evse, connector_id=1)
    session = network.session_a
    session.started_at = datetime(2026, 11, 1, 21, tzinfo=UTC)
    session.stopped_at = datetime(2026, 11, 2, 3, tzinfo=UTC)
    session.save()
    figures = dict(utilisation_per_day(network.owner_a, days=3, now=NOW))
    assert figures[date(2026, 11, 1)] == pytest.approx(3 / 24)
    assert figures[date(2026, 11, 2)] == pytest.approx(3 / 24)


def test_charts_are_svg_with_a_title_and_one_bar_per_day():
    svg = bar_chart(title="Energy <per> day", labels=["01.11", "02.11"], values=[0.0, 5.0], unit="kWh")
    assert svg.startswith("<svg") and svg.count('class="bar"') == 2
    assert "<title>Energy &lt;per&gt; day</title>" in svg  # escaped
    empty = line_chart(title="Power", points=[], unit="W")
    assert "no meter values yet" in empty and "<polyline" not in empty
