"""pyramid_retry replays a request with the same WSGI environ: an order placed by the first
attempt must be answered again, not placed (and charged) a second time."""

from sqlalchemy import text
from transaction.interfaces import TransientError


def test_a_replayed_order_request_answers_the_first_order_without_a_second_one(
        app, testapp, auth, in_transaction, monkeypatch):
    staff, shopper = auth("staff"), auth("customer")
    item = testapp.post_json("/api/v1/items", {"name": "Jam", "price": 300, "stock": 5},
                             headers=staff).json
    services_seen = []
    real_services = app.registry.container.services

    def flaky_services(manager, **kwargs):
        """The first request's transaction fails after the order is placed and paid."""
        services = real_services(manager, **kwargs)
        services_seen.append(services)
        if len(services_seen) == 1:
            place = services.orders.place_order

            def place_then_conflict(*args, **kwargs):
                place(*args, **kwargs)
                raise TransientError("simulated serialization failure")

            services.orders.place_order = place_then_conflict
        return services

    monkeypatch.setattr(app.registry.container, "services", flaky_services)
    response = testapp.post_json(
        "/api/v1/orders",
        {"lines": [{"item_id": item["id"], "quantity": 2}], "payment_method": "pm_card_visa"},
        headers=shopper, status=201)

    assert len(services_seen) == 2  # pyramid_retry did replay the request
    assert response.json["status"] == "paid"
    with app.registry.container.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM orders")).scalar_one() == 1
    assert testapp.get(f"/api/v1/items/{item['id']}").json["stock"] == 3
    assert len(app.registry.container.adapters.payments.intents) == 1  # the same intent, one charge
