"""The schema, as SQLAlchemy Core tables. Alembic migrations create it; tests compare the two."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB

from minimart.adapters.sqlalchemy.types import UtcDateTime, sort_key_string

metadata = MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})

JsonDocument = JSON().with_variant(JSONB(), "postgresql")

items = Table(
    "items", metadata,
    Column("id", String(32), primary_key=True),
    Column("sku", String(64), unique=True),
    Column("name", String(120), nullable=False),
    Column("name_key", sort_key_string(120), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("price", BigInteger, nullable=False),
    Column("stock", Integer, nullable=False),
    Column("available", Boolean, nullable=False, default=True),
    Column("featured", Boolean, nullable=False, default=False),
    Column("archived", Boolean, nullable=False, default=False),
    Column("version", Integer, nullable=False, default=1),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("category_id", String(32), ForeignKey("categories.id")),
    Column("image_key", String(128)),
    CheckConstraint("stock >= 0", name="stock_not_negative"),
    CheckConstraint("price >= 0", name="price_not_negative"),
    Index(None, "name_key", "id"),
    Index(None, "price", "id"),
    Index(None, "created_at", "id"),
    Index(None, "category_id"),
)

categories = Table(
    "categories", metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(120), nullable=False),
    # name.strip().casefold(): names are unique whatever their case (409 name_taken)
    Column("name_key", String(120), nullable=False, unique=True),
    Column("description", Text, nullable=False),
    Column("position", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index(None, "position", "id"),
)

store_settings = Table(
    "store_settings", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(120), nullable=False),
    Column("tax_rate_bps", Integer, nullable=False),
    Column("delivery_fee", BigInteger, nullable=False),
    Column("minimum_order", BigInteger, nullable=False),
    Column("open", Boolean, nullable=False),
    Column("opening_hours", JsonDocument, nullable=False),
    Column("time_zone", String(64), nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    CheckConstraint("id = 1", name="single_row"),
)

accounts = Table(
    "accounts", metadata,
    Column("id", String(32), primary_key=True),
    Column("email", String(254), nullable=False, unique=True),
    Column("name", String(120), nullable=False),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("payment_customer_id", String(255), unique=True),
    Column("token_generation", Integer, nullable=False, default=0),
    Column("totp_secret", String(64)),
    Column("totp_enabled", Boolean, nullable=False, default=False),
    Column("recovery_codes", JsonDocument, nullable=False, default=list),
    Column("totp_last_step", BigInteger),
    Column("phone", String(16)),  # E.164: "+" and at most 15 digits
)

ended_sign_ins = Table(
    "ended_sign_ins", metadata,
    Column("id", String(64), primary_key=True),
    Column("until", UtcDateTime, nullable=False, index=True),
)

login_failures = Table(
    "login_failures", metadata,
    Column("key", String(300), primary_key=True),
    Column("count", Integer, nullable=False),
    Column("window_started_at", UtcDateTime, nullable=False),
)

registration_attempts = Table(
    "registration_attempts", metadata,
    Column("key", String(300), primary_key=True),
    Column("count", Integer, nullable=False),
    Column("window_started_at", UtcDateTime, nullable=False),
)

audit_events = Table(
    "audit_events", metadata,
    Column("id", String(32), primary_key=True),
    Column("at", UtcDateTime, nullable=False),
    Column("actor_id", String(32)),
    Column("action", String(64), nullable=False),
    Column("entity_type", String(32), nullable=False),
    Column("entity_id", String(64), nullable=False),
    Column("changes", JsonDocument, nullable=False),
    Column("request_id", String(128)),
    Index(None, "entity_type", "entity_id", "at"),
    Index(None, "at", "id"),
)

orders = Table(
    "orders", metadata,
    Column("id", String(32), primary_key=True),
    Column("customer_id", String(32), ForeignKey("accounts.id"), nullable=False),
    Column("status", String(24), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("subtotal", BigInteger, nullable=False),
    Column("tax", BigInteger, nullable=False),
    Column("delivery_fee", BigInteger, nullable=False),
    Column("tip", BigInteger, nullable=False),
    Column("total", BigInteger, nullable=False),
    Column("fulfilment_type", String(16), nullable=False),
    Column("delivery_address", Text),
    Column("note", Text),
    Column("payment_provider", String(32), nullable=False),
    Column("payment_status", String(32), nullable=False),
    Column("payment_intent_id", String(255)),
    Column("payment_client_secret", String(255)),
    Column("amount_captured", BigInteger, nullable=False),
    Column("amount_refunded", BigInteger, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    # refunds claimed (sent or not yet) or reported by the provider: the guard of every claim
    Column("amount_refund_claimed", BigInteger, nullable=False),
    CheckConstraint("total = subtotal + tax + delivery_fee + tip", name="total_adds_up"),
    CheckConstraint("amount_refunded <= amount_captured", name="refund_within_capture"),
    CheckConstraint("amount_refunded <= amount_refund_claimed "
                    "AND amount_refund_claimed <= amount_captured", name="claims_within_capture"),
    Index(None, "created_at", "id"),
    Index(None, "customer_id", "created_at", "id"),
    Index(None, "status", "created_at"),
    Index(None, "payment_intent_id"),
)

order_lines = Table(
    "order_lines", metadata,
    Column("order_id", String(32), ForeignKey("orders.id"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("item_id", String(32), ForeignKey("items.id"), nullable=False),
    Column("sku", String(64)),
    Column("name", String(120), nullable=False),
    Column("unit_price", BigInteger, nullable=False),
    Column("quantity", Integer, nullable=False),
    CheckConstraint("quantity > 0", name="quantity_positive"),
)

refunds = Table(
    "refunds", metadata,
    Column("id", String(32), primary_key=True),
    Column("order_id", String(32), ForeignKey("orders.id"), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("state", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("attempted_at", UtcDateTime),
    Column("sent_at", UtcDateTime),
    CheckConstraint("amount > 0", name="amount_positive"),
    Index(None, "order_id", "created_at"),
    Index(None, "state", "attempted_at"),  # reconcile finds the unsent ones
)

idempotency_keys = Table(
    "idempotency_keys", metadata,
    Column("account_id", String(32), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("order_id", String(32), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index(None, "created_at"),
)

payment_events = Table(
    "payment_events", metadata,
    Column("id", String(255), primary_key=True),
    Column("type", String(64), nullable=False),
    Column("payment_intent_id", String(255)),
    Column("received_at", UtcDateTime, nullable=False),
)
