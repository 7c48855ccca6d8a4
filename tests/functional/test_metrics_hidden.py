"""GET /metrics in production without a metrics token: 404, as if there were no route."""

from __future__ import annotations

from dataclasses import replace

from webtest import TestApp

from tests.functional.envelope import assert_error


def test_metrics_in_production_without_a_token_answer_404(app):
    container = app.registry.container
    container.settings = replace(container.settings, environment="production")
    assert container.settings.is_production and container.settings.metrics_token is None
    response = TestApp(app).get("/metrics", status=404)
    assert_error(response, 404, "not_found")
    assert "Allow" not in response.headers
